"""Ray, started and stopped in one place: a local cluster with a per-cluster token (or the user's cluster),
the run configuration of every Tuner (storage, retries, checkpoints) and the resources of a trial."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import ray
from ray import tune

from experiments import tracking
from experiments.settings import StudySettings


def start_ray(settings: StudySettings) -> None:
    # Ctrl-C must interrupt the driver at once (Tune would otherwise swallow it, end the Tuner "normally"
    # and let the report run on half a grid); the interrupt then closes every open run as KILLED.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter honours verbose=0
    if not settings.ray_address and "RAY_AUTH_MODE" not in os.environ:
        # Ray 2.60's gRPC servers listen on every interface and have no setting to narrow that, so the local
        # cluster requires a token: a fresh one per cluster, held only in the environment of the driver and
        # of the Ray processes it starts (Ray's own default would write ~/.ray/auth_token). Set before Ray
        # reads its configuration; a user's own RAY_AUTH_MODE / RAY_AUTH_TOKEN is kept.
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
        # ray is imported (above): refresh its configuration, as Ray does when it enables tokens
        from ray._raylet import Config  # Ray's own config object; no public API re-reads the environment

        Config.initialize("")
    os.environ.pop("MLFLOW_RUN_ID", None)  # workers must never inherit the entry point's run (NOTES)
    if ray.is_initialized():
        return
    env_vars = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"], "PYTHONWARNINGS": "ignore"}
    for name in ("PAAAN_CACHE", "PAAAN_DATA"):
        if name in os.environ:
            env_vars[name] = os.environ[name]
    if settings.ray_address:
        root = Path(__file__).resolve().parent.parent
        runtime_env = {"env_vars": env_vars,
                       "py_modules": [str(root / "paaan"), str(root / "experiments"), str(root / "registry")]}
        ray.init(address=settings.ray_address, runtime_env=runtime_env, log_to_driver=False)
    else:
        # address="local": always a new cluster. Without it ray.init joins any cluster recorded in
        # /tmp/ray/ray_current_cluster, e.g. one a user left running with `ray start`, and then refuses num_cpus.
        ray.init(address="local", num_cpus=settings.num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": env_vars})
    # ray.init replaces the driver's SIGTERM handler with sys.exit, which would end the open runs FAILED:
    # put back the one that raises Terminated, so a SIGTERM closes them KILLED like Ctrl-C.
    tracking.install_signal_handlers()


def stop_ray() -> None:
    """Shut Ray down if it runs (after an interrupt too: a failure here must not hide the original error)."""
    try:
        if ray.is_initialized():
            ray.shutdown()
    except Exception:
        pass


def run_config(name: str, settings: StudySettings):
    """A Tuner's run configuration: results under $PAAAN_RAY_RESULTS (absolute), retries, checkpoints."""
    storage = Path(os.environ.get("PAAAN_RAY_RESULTS", Path.cwd() / "ray_results")).resolve()
    return tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                          failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                          # 2, not 1: Tune forces an experiment-state snapshot whenever a trial has checkpointed
                          # num_to_keep times since the last one (with 1: at every checkpoint, which it warns
                          # is a bottleneck for short trials); keeping all would cost about 1 MB per checkpoint
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=2))


def resources(settings: StudySettings) -> dict:
    """A trial's share of the cluster: CPUs and (a fraction of) a GPU."""
    resources = {"cpu": settings.cpus_per_trial}
    if settings.gpus_per_trial:
        resources["gpu"] = settings.gpus_per_trial
    return resources
