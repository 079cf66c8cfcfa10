"""The run tree of a study: earlier attempts with the same inputs, their finished runs adopted by a new
attempt, and every run left RUNNING under it closed.

A rerun with the same inputs (the same cache key) finds the earlier attempts (``find_previous``), moves their
FINISHED children under its own run (``adopt_finished_children``) and trains only what is missing; a trial
whose FINISHED run already exists is reported, not trained (``finished_run``); at the end, every run left
RUNNING under the study (a killed worker's) is closed KILLED (``close_running``).
"""

from __future__ import annotations

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from experiments import tracking

ADOPTABLE_STEPS = ("trial", "tune_k", "featurize", "shla", "retrieve", "summary")
TAG_TRIAL_KEY = "paaan.trial_key"


def find_previous(key: str, experiment_id: str, step: str) -> list:
    """Earlier runs of ``step`` (an ablation, a testbed scenario, a testbed) with this key, newest first."""
    return MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{tracking.TAG_STEP}` = '{step}' and tags.`{tracking.TAG_KEY}` = '{key}'",
        order_by=["attributes.start_time DESC"], max_results=100)


def children(parent_run_id: str, experiment_id: str, step: str | None = None) -> list:
    query = f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    if step:
        query += f" and tags.`{tracking.TAG_STEP}` = '{step}'"
    return MlflowClient().search_runs([experiment_id], filter_string=query, max_results=5000)


def adopt_finished_children(previous: list, parent_run_id: str, experiment_id: str) -> int:
    """Move the finished runs of interrupted earlier attempts under the new parent run."""
    client = MlflowClient()
    adopted = 0
    for old in previous:
        if old.info.run_id == parent_run_id or old.info.status == "FINISHED":
            continue
        for run in children(old.info.run_id, experiment_id):
            if run.info.status == "FINISHED" and run.data.tags.get(tracking.TAG_STEP) in ADOPTABLE_STEPS:
                client.set_tag(run.info.run_id, "mlflow.parentRunId", parent_run_id)
                adopted += 1
        client.set_tag(old.info.run_id, "paaan.resumed_by", parent_run_id)
        if client.get_run(old.info.run_id).info.status != "RUNNING":
            # Ended (its own interrupt handler, or step_run found its process gone: SIGKILL, OOM killer):
            # whatever it left RUNNING has no process either.
            close_running(old.info.run_id, experiment_id)
    return adopted


def close_running(parent_run_id: str, experiment_id: str) -> int:
    """Mark every RUNNING descendant of the ablation KILLED (a worker died, or the driver was interrupted)."""
    client = MlflowClient()
    closed = 0
    frontier = [parent_run_id]
    while frontier:
        parent = frontier.pop()
        for run in children(parent, experiment_id):
            frontier.append(run.info.run_id)
            if run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
                closed += 1
    return closed


def finished_run(parent_run_id: str, key: str, experiment_id: str, anywhere: bool = False):
    """The FINISHED run of this trial, if an earlier attempt completed it (under ``parent_run_id``, or with
    ``anywhere`` under any parent: it is then moved under ``parent_run_id``)."""
    query = f"tags.`{TAG_TRIAL_KEY}` = '{key}'"
    if not anywhere:
        query += f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"
    runs = MlflowClient().search_runs([experiment_id], filter_string=query, max_results=50)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished and finished[0].data.tags.get("mlflow.parentRunId") != parent_run_id:
        MlflowClient().set_tag(finished[0].info.run_id, "mlflow.parentRunId", parent_run_id)
    for stale in (r for r in runs if r.info.status == "RUNNING"):
        # An earlier attempt of this very trial was killed mid-way (no process can still own the run:
        # Ray runs one attempt of a trial at a time).
        MlflowClient().set_terminated(stale.info.run_id, RunStatus.to_string(RunStatus.KILLED))
    return finished[0] if finished else None
