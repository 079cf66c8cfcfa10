"""MLflow glue: where runs go, steps reused by their cache key, and runs that never stay RUNNING.

- Tracking URI: ``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlflow.db``, always made
  absolute (Ray moves each trial into its own folder, where a relative sqlite path would be a new database).
  Artifacts of a local sqlite store go to ``mlartifacts/`` beside the database (never ``./mlruns``, whose mere
  existence switches MLflow's default back to the deprecated file store).
- Reuse: ``cached_step`` finds the FINISHED run of a step with the same cache key (``experiments.cache``) and
  reports it; a step runs only when there is none.
- Lifecycle: ``step_run`` ends its run FINISHED on success, KILLED on Ctrl-C or SIGTERM, FAILED on any other
  exception, so no run is ever left RUNNING by a crash.
- Artifacts: ``local_artifact_dir`` gives a local folder of a run's artifacts (the store itself, or a
  download cached once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow.entities import Metric, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path

from experiments.cache import code_version, git_commit
from experiments.corpora import redact
from paaan.config import cache_root


EXPERIMENT = "paaan"
TAG_STEP = "paaan.step"
TAG_KEY = "paaan.cache_key"
TAG_REUSED = "paaan.reused_run_id"
TAG_HOST = "paaan.host"  # the machine and process that hold a run open: a later step can tell whether a
TAG_PID = "paaan.pid"  # RUNNING run's process still exists (a SIGKILL gives a step no chance to end its run)
SYSTEM_METRICS_INTERVAL = 5.0  # seconds between MLflow's system-metric samples on a parent run
_EXPERIMENT_ID: str | None = None
_ENTRY_RUN: dict[str, str | None] = {}  # the run `mlflow run` made for this process, until a step takes it


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so runs end KILLED exactly as on Ctrl-C."""


def install_signal_handlers() -> None:
    """Turn SIGTERM into ``Terminated`` (a KeyboardInterrupt) in the main thread; idempotent."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _handler(signum, frame):
        raise Terminated(f"received signal {signum}")

    signal.signal(signal.SIGTERM, _handler)


# --- where runs go -------------------------------------------------------------------------------------


def resolve_tracking_uri(uri: str | None = None) -> str:
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{(Path.cwd() / uri[len('sqlite:///'):]).resolve()}"
    elif "://" not in uri:  # a bare path
        uri = f"sqlite:///{Path(uri).resolve()}"
    return uri


def setup_tracking(uri: str | None = None, experiment: str | None = None) -> str:
    """Point MLflow at ``uri`` (absolute) and the experiment; create it once; return its id.

    The experiment: ``experiment`` if given, else the one of the run ``mlflow run`` made for this process
    (so the entry point's own run and ours live together), else ``paaan``. Call this on the driver only
    (concurrent experiment creation on sqlite races; NOTES).
    """
    global _EXPERIMENT_ID
    if "id" not in _ENTRY_RUN:  # before any start_run: MLflow itself would otherwise adopt MLFLOW_RUN_ID
        _ENTRY_RUN["id"] = os.environ.pop("MLFLOW_RUN_ID", None)
    uri = resolve_tracking_uri(uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri  # Ray workers and child processes inherit the absolute URI
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    entry_run = _ENTRY_RUN.get("id")
    if experiment is None and entry_run:
        experiment_id = client.get_run(entry_run).info.experiment_id
    else:
        name = experiment or EXPERIMENT
        found = client.get_experiment_by_name(name)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            location = None
            if uri.startswith("sqlite:///"):
                location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
            try:
                experiment_id = client.create_experiment(name, artifact_location=location)
            except mlflow.exceptions.MlflowException:  # created meanwhile by another process
                experiment_id = client.get_experiment_by_name(name).experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    _EXPERIMENT_ID = experiment_id
    return experiment_id


def experiment_id() -> str:
    """The experiment chosen by ``setup_tracking`` (or the active one)."""
    if _EXPERIMENT_ID is not None:
        return _EXPERIMENT_ID
    return mlflow.get_experiment_by_name(EXPERIMENT).experiment_id


# --- reuse ---------------------------------------------------------------------------------------------


def find_cached_run(step: str, key: str, in_experiment: str | None = None):
    """The newest FINISHED run of ``step`` with this cache key that holds its own results, or None."""
    client = MlflowClient()
    runs = client.search_runs(
        [in_experiment or experiment_id()],
        filter_string=f"tags.`{TAG_STEP}` = '{step}' and tags.`{TAG_KEY}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    for run in runs:
        if TAG_REUSED not in run.data.tags:
            return run
    return None


def cached_step(step: str, key: str, entry: bool = False) -> str | None:
    """The run id of the FINISHED run of ``step`` with this key (reported as reused), or None: run the step."""
    cached = find_cached_run(step, key)
    if cached is None:
        return None
    note_reuse(step, cached.info.run_id, entry)
    return cached.info.run_id


def note_reuse(step: str, reused_run_id: str, entry: bool = False) -> None:
    """Record that a step was reused: on the ``mlflow run`` entry run if this is its step, and on stdout."""
    env_run = take_entry_run() if entry else None
    if env_run:
        client = MlflowClient()
        client.set_tag(env_run, TAG_STEP, step)
        client.set_tag(env_run, TAG_REUSED, reused_run_id)
        client.set_terminated(env_run, RunStatus.to_string(RunStatus.FINISHED))
    print(f"{step}: reusing finished run {reused_run_id} (same inputs and code)", flush=True)


# --- runs that never stay RUNNING ----------------------------------------------------------------------


def owner_tags() -> dict[str, str]:
    """This machine and process, as tags of a run it opens."""
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def close_orphaned_runs(step: str, key: str) -> int:
    """Close as KILLED the RUNNING runs of ``step`` with cache key ``key`` whose process no longer exists.

    A process killed with SIGKILL (or a machine that lost power) cannot end its run; the next attempt at the
    same step and inputs does. Only runs opened on this machine by a process that is gone are closed: a run
    of a live process, or of another machine, is left as it is.
    """
    client = MlflowClient()
    runs = client.search_runs(
        [experiment_id()],
        filter_string=f"tags.`{TAG_STEP}` = '{step}' and tags.`{TAG_KEY}` = '{key}' and attributes.status = 'RUNNING'",
        max_results=100)
    host, closed = socket.gethostname(), 0
    for run in runs:
        pid = run.data.tags.get(TAG_PID, "")
        if run.data.tags.get(TAG_HOST) == host and pid.isdigit() and not process_exists(int(pid)):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            closed += 1
    if closed:
        print(f"{step}: closed {closed} run(s) left RUNNING by a process that no longer exists", flush=True)
    return closed


@contextlib.contextmanager
def step_run(run_name: str, step: str, *, parent_run_id: str | None = None, tags: dict[str, str] | None = None,
             entry: bool = False, system_metrics: bool = False) -> Iterator[mlflow.ActiveRun]:
    """Start (or, under ``mlflow run``, adopt) a run and end it FINISHED / KILLED / FAILED.

    ``entry``: this is the step the command was run for; under ``mlflow run`` it runs inside the run that
    ``mlflow run`` created (once). Upstream steps get runs of their own, nested under ``parent_run_id``.
    ``system_metrics``: MLflow samples CPU, memory (and, with nvidia-ml-py, GPU) use of this machine into the
    run every ``SYSTEM_METRICS_INTERVAL`` seconds while it is open (the ablation, testbed and featurize
    parents: a trial's own share is not separable on a shared machine).
    """
    install_signal_handlers()
    all_tags = {TAG_STEP: step, "paaan.code_version": code_version(step), **owner_tags(), **(tags or {})}
    if all_tags.get(TAG_KEY):
        close_orphaned_runs(step, all_tags[TAG_KEY])
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    env_run = take_entry_run() if entry else None
    if system_metrics:
        mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL)
    if env_run:
        active = mlflow.start_run(run_id=env_run, tags=all_tags, log_system_metrics=system_metrics or None)
    else:
        active = mlflow.start_run(run_name=run_name, tags=all_tags, nested=bool(mlflow.active_run()),
                                  log_system_metrics=system_metrics or None)
    try:
        yield active
    except KeyboardInterrupt:
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


class MetricBuffer:
    """Per-epoch metrics written in batches (one transaction every ``every`` seconds and at ``flush``).

    Fewer, larger writes keep parallel trials from queueing on the sqlite lock; curves still appear live.
    """

    def __init__(self, run_id: str, every: float = 10.0):
        self._time, self._metric = time, Metric
        self.run_id, self.every = run_id, every
        self.pending: list = []
        self.last = time.time()

    def log(self, metrics: dict[str, float], step: int) -> None:
        now = int(self._time.time() * 1000)
        self.pending += [self._metric(k, float(v), now, step) for k, v in metrics.items()]
        if self._time.time() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            MlflowClient().log_batch(self.run_id, metrics=self.pending)
            self.pending = []
        self.last = self._time.time()


def take_entry_run() -> str | None:
    """The run ``mlflow run`` created for this process (MLFLOW_RUN_ID), handed out once, else None.

    The variable is removed from the environment at the first call so no child process (Ray workers
    above all) ever logs into the entry point's run (NOTES).
    """
    if "id" not in _ENTRY_RUN:
        _ENTRY_RUN["id"] = os.environ.pop("MLFLOW_RUN_ID", None)
    run_id, _ENTRY_RUN["id"] = _ENTRY_RUN["id"], None
    return run_id


def log_params(params: dict[str, Any]) -> None:
    """Log params on the active run; a key already logged with another value (``mlflow run`` logs the
    entry point's raw parameters, e.g. an empty corpus root) is logged as ``<key>.resolved``. A value under
    the home folder (a corpus root, a GloVe file) is logged with the home folder written ``~``."""
    run = mlflow.active_run()
    existing = MlflowClient().get_run(run.info.run_id).data.params if run else {}
    out = {}
    for key, value in params.items():
        text = redact(str(value))[:6000]
        if key in existing and existing[key] != text:
            key = f"{key}.resolved"
            if existing.get(key) == text:
                continue
        elif key in existing:
            continue
        out[key] = text
    if out:
        mlflow.log_params(out)


# --- artifacts -----------------------------------------------------------------------------------------


def _is_local(uri: str) -> bool:
    """A plain path or a file: URI (not mlflow-artifacts:/..., s3://..., http://...)."""
    return urlparse(uri).scheme in ("", "file")


def local_artifact_target(run_id: str, artifact_path: str) -> Path | None:
    """Where to write an artifact folder directly (no copy) when the run's artifact store is local."""
    root = MlflowClient().get_run(run_id).info.artifact_uri
    if _is_local(root):
        target = Path(local_file_uri_to_path(root)) / artifact_path
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
    return None


def local_artifact_dir(run_id: str, artifact_path: str) -> Path:
    """A local folder holding a run's artifacts: the store itself when it is local, else a download.

    Downloads go to ``$PAAAN_CACHE/artifacts/<run_id>/`` once (a completed marker guards against a
    half-finished download being reused).
    """
    run = MlflowClient().get_run(run_id)
    root = run.info.artifact_uri
    if _is_local(root):
        local = Path(local_file_uri_to_path(root)) / artifact_path
        if not local.exists():
            raise FileNotFoundError(f"run {run_id} has no artifact {artifact_path!r} (looked in {local})")
        return local
    cache = cache_root() / "artifacts" / run_id
    marker = cache / f".{artifact_path.replace('/', '_')}.complete"
    if not marker.exists():
        cache.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(cache))
        marker.touch()
    return cache / artifact_path
