"""MLflow glue: where runs go, what identifies a step's inputs, and runs that never stay RUNNING.

- Tracking URI: ``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlflow.db``, always made
  absolute (Ray moves each trial into its own folder, where a relative sqlite path would be a new database).
  Artifacts of a local sqlite store go to ``mlartifacts/`` beside the database (never ``./mlruns``, whose mere
  existence switches MLflow's default back to the deprecated file store).
- Caching (the MLflow multistep example's idea, keyed better): a step's cache key hashes its parameters,
  the code version (a hash of the package sources, so an edit invalidates it), the data fingerprint and
  the run ids of the steps it consumed. A FINISHED run with the same key is reused instead of recomputed.
- Lifecycle: ``step_run`` ends its run FINISHED on success, KILLED on Ctrl-C or SIGTERM, FAILED on any other
  exception, so no run is ever left RUNNING by a crash.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path

EXPERIMENT = "paaan"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SOURCE_DIRS = ("paaan", "experiments", "registry")
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


# --- what identifies inputs ----------------------------------------------------------------------------


# The sources each step's results depend on: these roots and every paaan module they import, found by reading
# their imports (so a helper moved to another module cannot fall out of the key). A step's cache key hashes only
# these, so editing, say, the attention analysis does not invalidate the features. Steps not listed depend on
# everything except the demo generator (whose effect reaches them through the data fingerprint) and the analysis.
STEP_SOURCES: dict[str, tuple[str, ...]] = {
    "featurize": ("paaan/data", "paaan/features", "experiments/featurize.py"),
    "shla": ("paaan/shla.py", "experiments/shla.py"),
    "retrieve": ("paaan/retrieval.py", "paaan/shla.py", "paaan/personality.py", "experiments/retrieve.py"),
    "analyze": ("paaan/analysis.py", "experiments/analyze.py"),
}
_NOT_IN_DEFAULT = ("paaan/demo", "paaan/analysis.py", "experiments/analyze.py")


def _paaan_imports(path: Path) -> set[Path]:
    """The files of the paaan modules ``path`` imports (at module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from paaan import analysis`
    found = set()
    for name in names:
        if name == "paaan" or name.startswith("paaan."):
            base = PROJECT_ROOT.joinpath(*name.split("."))
            found.update(f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file())
    return found


def _sources(step: str | None) -> list[Path]:
    if step in STEP_SOURCES:
        files: set[Path] = set()
        for root in (PROJECT_ROOT / p for p in STEP_SOURCES[step]):
            files.update(root.rglob("*.py") if root.is_dir() else [root])
        todo = list(files)
        while todo:
            for imported in _paaan_imports(todo.pop()) - files:
                files.add(imported)
                todo.append(imported)
        return sorted(f for f in files if "__pycache__" not in f.parts)
    files = []
    for root in (PROJECT_ROOT / d for d in _SOURCE_DIRS):
        for path in sorted(root.rglob("*")):
            relative = str(path.relative_to(PROJECT_ROOT))
            if relative.startswith(_NOT_IN_DEFAULT) or "__pycache__" in path.parts:
                continue
            if path.suffix in (".py", ".yaml", ".csv"):
                files.append(path)
    return files


def code_version(step: str | None = None) -> str:
    """Hash of the sources ``step`` depends on (all of paaan/, experiments/, registry/ but the demo generator
    and the analysis when ``step`` has no list): changes with any edit, committed or not."""
    digest = hashlib.sha256()
    for path in _sources(step):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def fingerprint_tree(root: str | Path) -> dict[str, Any]:
    """Fingerprint of a corpus folder: relative path, size and mtime of every file (``._*`` excluded).

    Sizes and mtimes, not content hashes: hashing IEMOCAP's 10k wavs on every call would cost seconds;
    any rewrite of a file changes its mtime.
    """
    root = Path(root)
    digest = hashlib.sha256()
    count = size = 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("._"):
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            count += 1
            size += stat.st_size
    return {"hash": digest.hexdigest()[:16], "files": count, "bytes": size}


def cache_key(step: str, inputs: dict[str, Any]) -> str:
    payload = json.dumps({"step": step, "inputs": inputs, "code": code_version(step)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


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


# --- the corpora as MLflow datasets ---------------------------------------------------------------------

# Columns of the utterance table shown as the dataset's schema (the store's offsets are not the corpus').
_DATASET_COLUMNS = ("utterance_id", "session", "speaker", "label", "transcript", "wav_path", "audio_seconds")


@functools.lru_cache(maxsize=16)
def featurize_corpora(featurize_run_id: str) -> dict[str, tuple[str, str]]:
    """corpus -> (root as logged, data fingerprint hash) of a featurize run (its params and fingerprint tag)."""
    run = MlflowClient().get_run(featurize_run_id)
    prints = json.loads(run.data.tags.get("paaan.data_fingerprint", "{}"))
    params = run.data.params
    return {corpus: (params.get(f"{corpus}_root.resolved", params.get(f"{corpus}_root", "")),
                     prints.get(corpus, {}).get("hash", ""))
            for corpus in ("iemocap", "sspnet")}


def corpus_dataset(name: str, table, root: str, digest: str):
    """An MLflow dataset: the table's schema and size, the corpus root as its source, the fingerprint as digest."""
    import mlflow.data

    return mlflow.data.from_pandas(table, source=root or name, name=name, digest=digest or None)


def _log_input(dataset, context: str, attempts: int = 5) -> None:
    """``mlflow.log_input``, retried: trials started together all create the corpus' dataset (same name and
    digest) in the experiment, and on sqlite all but one insert fail with a UNIQUE constraint; the dataset
    then exists and the next attempt links to it."""
    import random
    import time

    for attempt in range(attempts):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except Exception as exc:  # MLflow wraps the store's IntegrityError differently across versions
            if "UNIQUE constraint" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + random.random() * 0.2)


def log_corpus_inputs(store, upstream, fold=None) -> None:
    """Log the corpora a training run reads as its inputs: IEMOCAP for training (its training and validation
    rows), the fold's test rows for evaluation (a dataset of their own, "iemocap: test <fold>": MLflow keeps one
    context per dataset and run), SSPNet for training when the run's personality is retrieved from it. Each
    digest is the corpus fingerprint; the schema and row count are those of the rows logged."""
    import warnings

    corpora = featurize_corpora(upstream.featurize)
    table = store.utterances[[c for c in _DATASET_COLUMNS if c in store.utterances.columns]]
    test = np.asarray(getattr(fold, "test", ()), dtype=np.int64)
    with warnings.catch_warnings():  # MLflow warns that a local path is not a registered dataset source
        warnings.simplefilter("ignore")
        rows = np.setdiff1d(np.arange(len(table)), test)
        _log_input(corpus_dataset("iemocap", table.iloc[rows], *corpora["iemocap"]), "training")
        if len(test):
            name = f"iemocap: test {getattr(fold, 'name', '')}".strip()
            _log_input(corpus_dataset(name, table.iloc[test], *corpora["iemocap"]), "evaluation")
        if upstream.retrieve:
            clips = store.clips.drop(columns=[c for c in ("wav_path",) if c in store.clips.columns])
            _log_input(corpus_dataset("sspnet", clips, *corpora["sspnet"]), "training")


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
        import time

        from mlflow.entities import Metric

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
    from experiments.corpora import redact

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


def note_reuse(step: str, reused_run_id: str, entry: bool = False) -> None:
    """Record that a step was reused: on the ``mlflow run`` entry run if this is its step, and on stdout."""
    env_run = take_entry_run() if entry else None
    if env_run:
        client = MlflowClient()
        client.set_tag(env_run, TAG_STEP, step)
        client.set_tag(env_run, TAG_REUSED, reused_run_id)
        client.set_terminated(env_run, RunStatus.to_string(RunStatus.FINISHED))
    print(f"{step}: reusing finished run {reused_run_id} (same inputs and code)", flush=True)


def _is_local(uri: str) -> bool:
    """A plain path or a file: URI (not mlflow-artifacts:/..., s3://..., http://...)."""
    from urllib.parse import urlparse

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
    cache = Path(os.environ.get("PAAAN_CACHE", Path.home() / ".cache" / "paaan")) / "artifacts" / run_id
    marker = cache / f".{artifact_path.replace('/', '_')}.complete"
    if not marker.exists():
        cache.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(cache))
        marker.touch()
    return cache / artifact_path
