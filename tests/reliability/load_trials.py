"""N concurrent Ray Tune trials that log to one MLflow tracking URI the way paaan's trials do.

Run by tests/reliability/test_concurrent_load.py: ``python load_trials.py URI N EPOCHS OUT.json``. Each trial
opens a nested run with ``experiments.tracking.step_run``, logs params with ``tracking.log_params``, one
batch of six metrics per epoch through ``tracking.MetricBuffer`` flushed every epoch (the most writes the
real trials ever make), one single-metric call per epoch, a tag and a JSON artifact, and ends FINISHED.
A trial records every exception it meets (and re-raises it); OUT.json lists them with the run ids.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

METRICS = ("train_loss", "val_loss", "val_uar", "val_wa", "lr", "seconds")
PARAMS = 20


def trial(config: dict, context: dict) -> None:
    import mlflow
    from ray import tune

    from experiments import tracking

    os.environ["MLFLOW_TRACKING_URI"] = context["uri"]
    mlflow.set_tracking_uri(context["uri"])
    mlflow.set_experiment(experiment_id=context["experiment_id"])
    index, errors, run_id = config["index"], [], None
    try:
        with tracking.step_run(f"load-{index}", "load_trial", parent_run_id=context["parent"],
                               tags={"paaan.trial_key": f"load-{index}"}) as run:
            run_id = run.info.run_id
            tracking.log_params({f"param_{p}": f"{index}-{p}" for p in range(PARAMS)})
            curves = tracking.MetricBuffer(run_id, every=0.0)  # flush at every epoch
            for epoch in range(context["epochs"]):
                curves.log({name: index + epoch / 100 for name in METRICS}, step=epoch)
                mlflow.log_metric("epoch_single", epoch, step=epoch)
            curves.flush()
            mlflow.set_tag("paaan.load_trial", "done")
            mlflow.log_dict({"index": index, "epochs": context["epochs"]}, "trial.json")
    except Exception as exc:  # recorded for the test, then the trial fails
        errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}")
        tune.report({"run_id": run_id or "", "errors": json.dumps(errors)})
        raise
    tune.report({"run_id": run_id, "errors": json.dumps(errors)})


def main(uri: str, n: int, epochs: int, out: str) -> None:
    from ray import tune

    from experiments import tracking
    from experiments.cluster import start_ray
    from experiments.settings import StudySettings

    started = time.perf_counter()
    experiment_id = tracking.setup_tracking(uri)
    with tracking.step_run("load", "load_test") as parent:
        import ray

        start_ray(StudySettings(num_cpus=n))  # the project's own local cluster: n trials at once
        try:
            context = {"uri": uri, "experiment_id": experiment_id, "parent": parent.info.run_id, "epochs": epochs}
            tuner = tune.Tuner(
                tune.with_resources(tune.with_parameters(trial, context=context), {"cpu": 1}),
                param_space={"index": tune.grid_search(list(range(n)))},
                tune_config=tune.TuneConfig(max_concurrent_trials=n, reuse_actors=False),
                run_config=tune.RunConfig(name="load", storage_path=os.path.abspath("ray_results"), verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=0)))
            grid = tuner.fit()
            frame = grid.get_dataframe()
        finally:
            ray.shutdown()
    result = {
        "parent": parent.info.run_id, "seconds": round(time.perf_counter() - started, 1),
        "run_ids": [r for r in frame.get("run_id", []) if r],
        "trial_errors": [e for cell in frame.get("errors", []) for e in json.loads(cell or "[]")],
        "tune_errors": [str(e)[-1500:] for e in grid.errors],
    }
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
