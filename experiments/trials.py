"""What a Ray Tune trial runs: one k-tuning evaluation, or one (variant, fold, seed) training.

Each trial logs into its own MLflow child run, nested under the run the driver names (``mlflow.parentRunId``),
with the tracking URI passed explicitly (never inherited through MLFLOW_RUN_ID). A trial whose finished run
already exists under the ablation (same trial key: an interrupted ablation being resumed) reports that
run's metrics instead of training again; a RUNNING run left by a killed attempt of the same trial is
closed as KILLED before the new attempt starts.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from experiments import tracking
from experiments.train import Upstream, train_and_log
from paaan.config import Profile
from paaan.variants import get_variant

TAG_TRIAL_KEY = "paaan.trial_key"
METRICS = ("uar", "wa", "recall_ang", "recall_hap", "recall_neu", "recall_sad")


@dataclass
class TrialContext:
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    ablation_key: str
    profile: Profile
    upstream: Upstream
    device: str | None = None


def trial_key(ablation_key: str, job: dict) -> str:
    payload = json.dumps({"ablation": ablation_key, "job": job}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _setup_worker(context: TrialContext) -> None:
    os.environ.pop("MLFLOW_RUN_ID", None)
    os.environ["MLFLOW_TRACKING_URI"] = context.tracking_uri
    mlflow.set_tracking_uri(context.tracking_uri)
    mlflow.set_experiment(experiment_id=context.experiment_id)
    while mlflow.active_run():  # a reused actor never carries a run over from its previous trial
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))


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


def _report(metrics: dict) -> None:
    from ray import tune

    tune.report(metrics)


def k_trial(config: dict, context: TrialContext) -> None:
    """Objective of the k search: UAR on the inner validation session of one outer fold (paaan.tuning)."""
    from experiments.featurize import store_of
    from paaan.tuning import inner_fold

    _setup_worker(context)
    variant, fold, k, seed = get_variant(config["variant"]), int(config["fold"]), int(config["k"]), int(config["seed"])
    job = {"kind": "k", "variant": variant.name, "fold": fold, "k": k, "seed": seed}
    key = trial_key(context.ablation_key, job)
    # The trial key holds the ablation key, so a k evaluated by an interrupted attempt of this same ablation
    # (under its killed tune-k run) is reused and moved here.
    done = finished_run(config["tune_run_id"], key, context.experiment_id, anywhere=True)
    if done is not None:
        _report({"val_uar": done.data.metrics["uar"], "k": k, "run_id": done.info.run_id, "reused": 1})
        return
    store = store_of(context.upstream.featurize)
    with tracking.step_run(f"{variant.name}-fold{fold}-k{k}", "tune_k_trial", parent_run_id=config["tune_run_id"],
                           tags={TAG_TRIAL_KEY: key}) as run:
        result = train_and_log(variant, inner_fold(store.utterances, fold), seed, k, context.profile,
                               context.upstream, device=context.device, want_attention=False,
                               extra_params={"outer_fold": fold})
        run_id = run.info.run_id
    _report({"val_uar": result.metrics["uar"], "k": k, "run_id": run_id, "reused": 0})


def fold_trial(config: dict, context: TrialContext) -> None:
    """One cell of the Table I grid (variant x fold x seed), or a variant's model of all sessions."""
    _setup_worker(context)
    job = dict(config["job"])
    variant = get_variant(job["variant"])
    key = trial_key(context.ablation_key, job)
    done = finished_run(context.parent_run_id, key, context.experiment_id)
    if done is not None:
        _report({m: done.data.metrics.get(m, float("nan")) for m in METRICS}
                | {"run_id": done.info.run_id, "reused": 1, "train_seconds": 0.0})
        return
    name = f"{variant.name}-fold{job['fold']}-seed{job['seed']}" if job["fold"] != "all" else f"{variant.name}-final"
    tags = {TAG_TRIAL_KEY: key, "paaan.variant": variant.name, "paaan.fold": str(job["fold"]),
            "paaan.role": "final" if job["fold"] == "all" else "fold"}
    with tracking.step_run(name, "trial", parent_run_id=context.parent_run_id, tags=tags) as run:
        result = train_and_log(variant, job["fold"], int(job["seed"]), job.get("k"), context.profile,
                               context.upstream, device=context.device, log_model=job["fold"] == "all",
                               want_attention=job["fold"] != "all")
        if job["fold"] == "all":
            from registry.pyfunc import log_pyfunc

            model_uri = log_pyfunc(result, variant, job.get("k"), context.profile, context.upstream)
            mlflow.set_tag("paaan.model_uri", model_uri)
        run_id = run.info.run_id
    _report({m: result.metrics.get(m, float("nan")) for m in METRICS}
            | {"run_id": run_id, "reused": 0, "train_seconds": result.seconds})
