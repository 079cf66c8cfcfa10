"""What a Ray Tune trial runs: one k-tuning evaluation, or one (variant, fold, seed) training.

Each trial logs into its own MLflow child run, nested under the run the driver names (``mlflow.parentRunId``),
with the tracking URI passed explicitly (never inherited through MLFLOW_RUN_ID). A trial whose finished run
already exists under the ablation (same trial key: an interrupted ablation being resumed) reports that
run's metrics instead of training again; a RUNNING run left by a killed attempt of the same trial is
closed as KILLED before the new attempt starts.

Per epoch, a training trial reports its validation score (UAR, or the dimensional task's mean CCC) to Tune (``tune.report`` with the epoch, so a
scheduler such as ASHA can stop a hopeless k trial between epochs) and every ``train.checkpoint_every``
epochs attaches a checkpoint (weights, optimizer, early-stopping state, random states; ``paaan.train.fit``'s
snapshot). A retried attempt (a killed worker) continues from the last checkpoint in a new MLflow run that
carries the epochs before it (tag ``paaan.resumed_from_epoch``). When the scheduler stops a trial, Ray ends
its thread with SystemExit inside ``tune.report``: the trial's run is then ended FINISHED with the tag
``paaan.stopped_by = scheduler`` and the epoch it reached (the driver also reconciles any it could not end).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from experiments import tracking
from experiments.runs import TAG_TRIAL_KEY, finished_run
from experiments.featurize import store_of
from experiments.train import Upstream, train_and_log
from paaan.config import Profile
from paaan.tasks import TASKS, get_task
from paaan.variants import get_variant
from registry.package import log_pyfunc

TAG_STOPPED_BY = "paaan.stopped_by"
EPOCH_REPORTED = ("epoch", "train_loss", *(m for t in TASKS for m in (t.val_metric, t.best_metric)))
CHECKPOINT_FILE = "state.pt"


@dataclass
class TrialContext:
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    study_key: str  # the cache key of the study the trial belongs to
    profile: Profile
    upstream: Upstream
    device: str | None = None
    protocol: str = "session"
    folds_file: str | None = None


def trial_key(study_key: str, job: dict) -> str:
    payload = json.dumps({"ablation": study_key, "job": job}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _setup_worker(context: TrialContext) -> None:
    os.environ.pop("MLFLOW_RUN_ID", None)
    os.environ["MLFLOW_TRACKING_URI"] = context.tracking_uri
    mlflow.set_tracking_uri(context.tracking_uri)
    mlflow.set_experiment(experiment_id=context.experiment_id)
    while mlflow.active_run():  # a reused actor never carries a run over from its previous trial
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))


class StoppedByScheduler(Exception):
    """Tune's scheduler stopped this trial (Ray raised SystemExit inside ``tune.report``)."""

    def __init__(self, epoch: int):
        super().__init__(f"stopped by the scheduler after epoch {epoch}")
        self.epoch = epoch


def _report(metrics: dict, state: dict | None = None) -> None:
    """``tune.report``, with ``state`` saved as the trial's checkpoint when given."""
    from ray import tune

    try:
        if state is None:
            tune.report(metrics)
            return
        import torch

        with tempfile.TemporaryDirectory(prefix="paaan-ckpt-") as folder:
            torch.save(state, Path(folder) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
    except SystemExit:
        raise StoppedByScheduler(int(metrics.get("epoch", 0))) from None


def resume_state() -> dict | None:
    """The snapshot of this trial's last checkpoint (a retried attempt), else None."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    import torch

    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)


def _epoch_reporter(every: int, extra: dict | None = None):
    """``on_epoch`` for ``train_and_log``: the epoch's validation scores to Tune, a checkpoint every ``every``."""

    def on_epoch(record: dict, snapshot) -> None:
        metrics = {k: v for k, v in record.items() if k in EPOCH_REPORTED}
        checkpoint = snapshot() if every and record["epoch"] % every == 0 else None
        _report(metrics | (extra or {}), checkpoint)

    return on_epoch


def _stopped(run_id: str, stop: StoppedByScheduler) -> None:
    """End a run the scheduler stopped: FINISHED (a pruned trial is a result, not a failure), tagged."""
    client = MlflowClient()
    client.set_tag(run_id, TAG_STOPPED_BY, "scheduler")
    client.log_metric(run_id, "epochs_run", stop.epoch)
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def k_trial(config: dict, context: TrialContext) -> None:
    """Objective of the k search: UAR on the held-out training speakers of one outer fold (paaan.tuning).

    Early stopping and the best epoch also read those speakers (``train.validation = speakers`` whatever the
    profile says), so what the trial reports every epoch is its objective so far and ASHA prunes on it.
    """
    from paaan.tuning import inner_fold

    _setup_worker(context)
    task = get_task(context.profile.train.task)
    score, val, best = task.selection, task.val_metric, task.best_metric
    variant, fold, k, seed = get_variant(config["variant"]), int(config["fold"]), int(config["k"]), int(config["seed"])
    job = {"kind": "k", "variant": variant.name, "fold": fold, "k": k, "seed": seed}
    key = trial_key(context.study_key, job)
    # The trial key holds the ablation key, so a k evaluated by an interrupted attempt of this same ablation
    # (under its killed tune-k run) is reused and moved here.
    done = finished_run(config["tune_run_id"], key, context.experiment_id, anywhere=True)
    if done is not None:
        value = done.data.metrics.get(score, done.data.metrics.get(best, float("nan")))
        _report({val: value, best: value, "k": k, "run_id": done.info.run_id, "reused": 1,
                 "epoch": int(done.data.metrics.get("epochs_run", 0))})
        return
    store = store_of(context.upstream.featurize)
    profile = context.profile.replace(train={"validation": "speakers"})
    resume = resume_state()
    with tracking.step_run(f"{variant.name}-fold{fold}-k{k}", "tune_k_trial", parent_run_id=config["tune_run_id"],
                           tags={TAG_TRIAL_KEY: key}) as run:
        run_id = run.info.run_id
        try:
            result = train_and_log(variant, inner_fold(store.utterances, fold, context.protocol, context.folds_file),
                                   seed, k, profile, context.upstream, device=context.device, want_attention=False,
                                   extra_params={"outer_fold": fold}, protocol=context.protocol,
                                   folds_file=context.folds_file, resume=resume,
                                   on_epoch=_epoch_reporter(profile.train.checkpoint_every,
                                                            {"k": k, "run_id": run_id}))
        except StoppedByScheduler as stop:
            _stopped(run_id, stop)
            raise SystemExit(0) from None  # Ray's own way to end the stopped thread
    try:
        _report({val: result.metrics[score], best: result.metrics[score], "k": k, "run_id": run_id,
                 "reused": 0, "epoch": result.epochs_run, "best_epoch": result.best_epoch})
    except StoppedByScheduler:
        # The stop decision came on the last epoch's report, after training ended by itself: the run is
        # complete and FINISHED, and Tune holds that epoch's result (run id included).
        raise SystemExit(0) from None


def fold_trial(config: dict, context: TrialContext) -> None:
    """One cell of the grid (variant x fold x seed), or a variant's model of every utterance (fold "all",
    trained for ``job["epochs"]`` epochs: the folds' chosen epochs, set by the driver)."""
    _setup_worker(context)
    job = dict(config["job"])
    variant = get_variant(job["variant"])
    key = trial_key(context.study_key, job)
    done = finished_run(context.parent_run_id, key, context.experiment_id)
    if done is not None:
        _report({m: done.data.metrics.get(m, float("nan")) for m in get_task(context.profile.train.task).metrics}
                | {"run_id": done.info.run_id, "reused": 1, "train_seconds": 0.0,
                   "best_epoch": done.data.metrics.get("best_epoch", float("nan")),
                   "epochs_run": done.data.metrics.get("epochs_run", float("nan"))})
        return
    final = job["fold"] == "all"
    profile = context.profile
    if final:  # every utterance trains, for the epochs the folds chose; nothing validates
        profile = profile.replace(train={"epochs": int(job["epochs"]), "patience": 0})
    name = f"{variant.name}-final" if final else f"{variant.name}-fold{job['fold']}-seed{job['seed']}"
    tags = {TAG_TRIAL_KEY: key, "paaan.variant": variant.name, "paaan.fold": str(job["fold"]),
            "paaan.seed": str(job["seed"]), "paaan.role": "final" if final else "fold"}
    resume = resume_state()
    with tracking.step_run(name, "trial", parent_run_id=context.parent_run_id, tags=tags) as run:
        result = train_and_log(variant, job["fold"], int(job["seed"]), job.get("k"), profile, context.upstream,
                               device=context.device, log_model=final, want_attention=not final,
                               protocol=context.protocol, folds_file=context.folds_file, resume=resume,
                               on_epoch=_epoch_reporter(profile.train.checkpoint_every))
        if final:
            model_uri = log_pyfunc(result, variant, job.get("k"), profile, store_of(context.upstream.featurize),
                                   context.upstream.featurize)
            mlflow.set_tag("paaan.model_uri", model_uri)
        run_id = run.info.run_id
    _report({m: result.metrics.get(m, float("nan")) for m in get_task(context.profile.train.task).metrics}
            | {"run_id": run_id, "reused": 0, "train_seconds": result.seconds, "best_epoch": result.best_epoch,
               "epochs_run": result.epochs_run, "epoch": result.epochs_run})
