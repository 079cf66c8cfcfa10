"""The ``ablation`` step: paper Table I on Ray Tune, with Optuna-tuned k, logged and registered in MLflow.

1. featurize -> shla -> retrieve (PP and NA neighbour lists), reused when already done;
2. k tuning: for every retrieval variant and outer fold, an Optuna (TPE) study over k on the fold's inner
   validation session, all studies in one Tuner (``experiments.search.PerProblemOptuna``);
3. the grid: every variant x fold x seed as a Ray Tune trial, plus one model per variant trained on all five
   sessions (with the median of its per-fold k), each in a nested MLflow run;
4. one summary run per variant (select them and press Compare in the MLflow UI: that is Table I), and on
   the parent run ``table1.md``, ``table1.csv``, ``table1.png`` and the paired test PAaAN_PP vs IA+T;
5. the all-session models registered as ``paaan-<variant>`` (see ``registry.register``).

Resume: the parent run's cache key hashes every input. A rerun with the same inputs adopts the finished
trials of earlier interrupted runs with that key (their ``mlflow.parentRunId`` moves to the new parent)
and trains only what is missing; a FINISHED ablation with the same key is reported, not rerun. Every run
left RUNNING by an interruption or a killed worker is closed as KILLED.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from experiments import tracking
from experiments.corpora import Corpora
from experiments.featurize import featurize_key, store_of
from experiments.train import Upstream, prepare_upstream
from experiments.trials import TAG_TRIAL_KEY, TrialContext, fold_trial, k_trial, trial_key
from paaan.config import Profile
from paaan.report import SYNTHETIC_NOTE, paired_comparison, summarize, table1_chart, table1_markdown
from paaan.variants import VARIANTS, Variant, select

STEP = "ablation"
ADOPTABLE_STEPS = ("trial", "tune_k", "featurize", "shla", "retrieve")


@dataclass
class AblationSettings:
    variants: list[Variant]
    seeds: int = 1
    k_tuning: str = "per_variant"  # "per_variant", "per_source" (PP/NA studies shared by P-D, P-T) or "off"
    k_trials: int = 8
    ray_address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    num_cpus: int | None = None  # local Ray cluster size (None: every core)
    force: bool = False
    workers: int = 0  # featurize processes
    register: bool = True


def choose_variants(names: str | None, corpora: Corpora) -> list[Variant]:
    """The variant subset; the oracle row is dropped (with a note) on corpora without ground truth, unless named."""
    explicit = names not in (None, "", "all")
    variants = select(names)
    if not corpora.ground_truth:
        if explicit and any(v.personality == "oracle" for v in variants):
            raise ValueError("PAaAN_oracle needs the demo corpus' ground_truth.json (the true personalities); "
                             f"{corpora.iemocap} has none")
        if any(v.personality == "oracle" for v in variants):
            print("note: PAaAN_oracle skipped (no ground_truth.json: real corpora have no true personality)")
        variants = [v for v in variants if v.personality != "oracle"]
    return variants


def ablation_key(corpora: Corpora, profile: Profile, settings: AblationSettings) -> str:
    data_key, _ = featurize_key(corpora, profile.features)
    return tracking.cache_key(STEP, {
        "data": data_key, "profile": profile.to_dict(), "variants": [v.name for v in settings.variants],
        "seeds": settings.seeds, "k_tuning": settings.k_tuning, "k_trials": settings.k_trials,
    })


# --- Ray -----------------------------------------------------------------------------------------------


def start_ray(settings: AblationSettings) -> None:
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
        if "ray" in sys.modules:  # imported before: refresh its configuration, as Ray does when it enables tokens
            from ray._raylet import Config

            Config.initialize("")
    import ray

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


def _run_config(name: str, settings: AblationSettings):
    from ray import tune

    storage = Path(os.environ.get("PAAAN_RAY_RESULTS", Path.cwd() / "ray_results")).resolve()
    return tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                          failure_config=tune.FailureConfig(max_failures=settings.max_failures))


def _resources(settings: AblationSettings) -> dict:
    resources = {"cpu": settings.cpus_per_trial}
    if settings.gpus_per_trial:
        resources["gpu"] = settings.gpus_per_trial
    return resources


# --- resume --------------------------------------------------------------------------------------------


def find_previous(key: str, experiment_id: str) -> list:
    """Earlier ablation runs with this key, newest first."""
    return MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{tracking.TAG_STEP}` = '{STEP}' and tags.`{tracking.TAG_KEY}` = '{key}'",
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


# --- phases --------------------------------------------------------------------------------------------


def tune_k(context: TrialContext, settings: AblationSettings, folds: list[int], n_clips: int) -> dict[tuple[str, int], int]:
    """Optuna-tuned k per (retrieval variant, outer fold); returns {(variant, fold): k}."""
    import optuna
    from ray import tune

    from experiments.search import PerProblemOptuna
    from paaan.tuning import OBJECTIVE, k_search_space

    profile = context.profile
    retrieval = [v for v in settings.variants if v.uses_retrieval]
    if not retrieval:
        return {}
    if settings.k_tuning == "off":
        return {(v.name, f): profile.retrieval.k for v in retrieval for f in folds}
    # per_source: one study per personality source, shared by the variants using it (PAaAN_<source> decides)
    studied = {}
    for v in retrieval:
        owner = v.name
        if settings.k_tuning == "per_source":
            owner = f"PAaAN_{v.personality}" if any(u.name == f"PAaAN_{v.personality}" for u in retrieval) else v.name
        studied.setdefault(owner, []).append(v.name)
    low, high = k_search_space(n_clips, profile.tune.k_max)
    client = MlflowClient()
    problems, tune_runs, chosen = {}, {}, {}
    for owner in studied:
        for fold in folds:
            problem = f"{owner}|fold{fold}"
            key = trial_key(context.ablation_key, {"kind": "tune_k", "variant": owner, "fold": fold})
            done = [r for r in children(context.parent_run_id, context.experiment_id, "tune_k")
                    if r.data.tags.get(TAG_TRIAL_KEY) == key and r.info.status == "FINISHED"]
            if done:
                chosen[(owner, fold)] = int(done[0].data.params["chosen_k"])
                continue
            run = client.create_run(context.experiment_id, run_name=f"tune-k-{owner}-fold{fold}", tags={
                "mlflow.parentRunId": context.parent_run_id, tracking.TAG_STEP: "tune_k", TAG_TRIAL_KEY: key,
                "paaan.variant": owner, "paaan.fold": str(fold)})
            client.log_batch(run.info.run_id, params=[
                mlflow.entities.Param("variant", owner), mlflow.entities.Param("outer_fold", str(fold)),
                mlflow.entities.Param("k_low", str(low)), mlflow.entities.Param("k_high", str(high)),
                mlflow.entities.Param("trials", str(settings.k_trials)),
                mlflow.entities.Param("shared_with", ",".join(studied[owner]))])
            tune_runs[problem] = run.info.run_id
            problems[problem] = {"variant": owner, "fold": fold, "seed": 0, "tune_run_id": run.info.run_id}
    if problems:
        print(f"tuning k in [{low}, {high}] for {len(problems)} (variant, fold) problems, "
              f"{settings.k_trials} Optuna trials each", flush=True)
        searcher = PerProblemOptuna(problems, {"k": optuna.distributions.IntDistribution(low, high)},
                                    metric=OBJECTIVE, mode="max", trials_per_problem=settings.k_trials, seed=0)
        trainable = tune.with_resources(tune.with_parameters(k_trial, context=context), _resources(settings))
        # max_concurrent_trials: with a custom searcher Tune keeps one trial pending at a time unless told
        # how many may run at once, and then starts trials one by one (1.9 s of idle core per trial on the
        # demo, BENCHMARKS.md). One trial per problem at a time is the searcher's own limit.
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=len(problems) * settings.k_trials, reuse_actors=True,
            max_concurrent_trials=len(problems) * searcher.concurrent_per_problem,
            trial_name_creator=lambda t: f"k_{t.trial_id}", trial_dirname_creator=lambda t: f"k_{t.trial_id}"),
            run_config=_run_config(f"tune-k-{context.parent_run_id}", settings))
        grid = tuner.fit()
        results = grid.get_dataframe()
        for problem, run_id in tune_runs.items():
            mine = results[results["config/problem"] == problem] if "config/problem" in results else results.iloc[:0]
            mine = mine[np.isfinite(mine.get(OBJECTIVE, pd.Series(dtype=float)))]
            if mine.empty:
                client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
                raise RuntimeError(f"k tuning failed for {problem}: no trial finished (see the Ray logs)")
            best = mine.sort_values([OBJECTIVE, "config/k"], ascending=[False, True]).iloc[0]
            k = int(best["config/k"])
            client.log_param(run_id, "chosen_k", k)
            client.log_metric(run_id, f"best_{OBJECTIVE}", float(best[OBJECTIVE]))
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[
                metric for step, (k_, value) in enumerate(zip(mine["config/k"], mine[OBJECTIVE]))
                for metric in (mlflow.entities.Metric("trial_k", float(k_), now, step),
                               mlflow.entities.Metric(f"trial_{OBJECTIVE}", float(value), now, step))])
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
            chosen[(problems[problem]["variant"], problems[problem]["fold"])] = k
    return {(name, fold): chosen[(owner, fold)] for owner, names in studied.items() for name in names for fold in folds}


def run_grid(context: TrialContext, settings: AblationSettings, jobs: list[dict]) -> pd.DataFrame:
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(fold_trial, context=context), _resources(settings))
    tuner = tune.Tuner(trainable, param_space={"job": tune.grid_search(jobs)}, tune_config=tune.TuneConfig(
        reuse_actors=True,
        trial_name_creator=lambda t: _job_name(t.config["job"]),
        trial_dirname_creator=lambda t: f"{_job_name(t.config['job'])}_{t.trial_id}"),
        run_config=_run_config(f"grid-{context.parent_run_id}", settings))
    grid = tuner.fit()
    frame = grid.get_dataframe()
    errors = [str(e) for e in grid.errors]
    if errors:
        print(f"warning: {len(errors)} trials failed after retries; first: {errors[0][:500]}", flush=True)
    return frame


def _job_name(job: dict) -> str:
    return f"{job['variant']}_f{job['fold']}_s{job['seed']}".replace("+", "p")


def _predictions(run_ids: dict[tuple, str]) -> pd.DataFrame:
    frames = []
    for (variant, fold, seed), run_id in run_ids.items():
        path = tracking.local_artifact_dir(run_id, "predictions.csv")
        frames.append(pd.read_csv(path).assign(variant=variant, fold=fold, seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def log_summaries(context: TrialContext, summary: pd.DataFrame, k_chosen: dict) -> dict[str, str]:
    """One nested summary run per variant whose metrics are its Table I row."""
    client = MlflowClient()
    existing = {r.data.tags.get("paaan.variant"): r for r in children(context.parent_run_id, context.experiment_id, "summary")}
    runs = {}
    for row in summary.to_dict("records"):
        name = row["variant"]
        variant = next(v for v in VARIANTS if v.name == name)
        if name in existing:
            client.delete_run(existing[name].info.run_id)  # a rerun of the report replaces it
        run = client.create_run(context.experiment_id, run_name=f"Table I: {name}", tags={
            "mlflow.parentRunId": context.parent_run_id, tracking.TAG_STEP: "summary", "paaan.variant": name,
            "mlflow.note.content": variant.description})
        params = {"variant": name, "family": variant.family, "personality": variant.personality,
                  "integration": variant.integration, "description": variant.description[:400]}
        ks = [k for (v, _), k in sorted(k_chosen.items()) if v == name]
        if ks:
            params["k_per_fold"] = ",".join(str(k) for k in ks)
        metrics = {key: float(value) for key, value in row.items()
                   if key not in ("variant",) and isinstance(value, (int, float)) and math.isfinite(float(value))}
        client.log_batch(run.info.run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()],
                         metrics=[mlflow.entities.Metric(k, v, int(time.time() * 1000), 0) for k, v in metrics.items()])
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
        runs[name] = run.info.run_id
    return runs


def report(summary: pd.DataFrame, results: pd.DataFrame, synthetic: bool) -> dict:
    comparison = paired_comparison(results, "PAaAN_PP", "IA+T")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "table1.md").write_text(table1_markdown(summary, synthetic, comparison))
        summary.to_csv(tmp / "table1.csv", index=False)
        table1_chart(summary, tmp / "table1.png", synthetic)
        results.to_csv(tmp / "fold_results.csv", index=False)
        if comparison:
            (tmp / "paired_test.json").write_text(json.dumps(comparison, indent=2))
        mlflow.log_artifacts(str(tmp))
    metrics = {f"uar_{row.variant}": row.uar_mean for row in summary.itertuples() if math.isfinite(row.uar_mean)}
    if comparison:
        metrics |= {"pp_vs_iat_mean_difference": comparison["mean_difference"], "pp_vs_iat_t_test_p": comparison["t_test_p"]}
    mlflow.log_metrics({k.replace("+", "p"): v for k, v in metrics.items()})
    return comparison or {}


def run_ablation(corpora: Corpora, profile: Profile, settings: AblationSettings) -> str:
    """Body of ``mlflow run . -e ablation`` / ``paaan ablation``; returns the parent run id."""
    started = time.perf_counter()
    experiment_id = tracking.experiment_id()
    key = ablation_key(corpora, profile, settings)
    previous = find_previous(key, experiment_id)
    finished = [r for r in previous if r.info.status == "FINISHED"]
    if finished and not settings.force:
        run_id = finished[0].info.run_id
        tracking.note_reuse(STEP, run_id, entry=True)
        _print_where(run_id)
        return run_id
    tags = {tracking.TAG_KEY: key, "paaan.demo_corpus": str(corpora.demo)}
    with tracking.step_run("ablation", STEP, tags=tags, entry=True) as parent:
        parent_id = parent.info.run_id
        try:
            adopted = adopt_finished_children(previous, parent_id, experiment_id)
            if adopted:
                print(f"resuming: {adopted} finished runs of an interrupted ablation adopted", flush=True)
            tracking.log_params({
                "variants": ",".join(v.name for v in settings.variants), "seeds": settings.seeds,
                "k_tuning": settings.k_tuning, "k_trials": settings.k_trials,
                "ray_address": settings.ray_address or "local", "cpus_per_trial": settings.cpus_per_trial,
                "gpus_per_trial": settings.gpus_per_trial, "iemocap_root": corpora.iemocap,
                "sspnet_root": corpora.sspnet, **profile.flat()})
            spaces = {v.personality for v in settings.variants} & {"PP", "NA"}
            upstream = prepare_upstream(corpora, profile, spaces, workers=settings.workers, parent_run_id=parent_id)
            tracking.log_params(upstream.as_params())
            store = store_of(upstream.featurize)
            folds = sorted(int(s) for s in store.utterances["session"].unique())
            folds = list(range(1, len(folds) + 1))
            context = TrialContext(tracking_uri=mlflow.get_tracking_uri(), experiment_id=experiment_id,
                                   parent_run_id=parent_id, ablation_key=key, profile=profile, upstream=upstream)
            start_ray(settings)
            k_chosen = tune_k(context, settings, folds, len(store.clips))
            if k_chosen:
                mlflow.log_dict({f"{v}|fold{f}": k for (v, f), k in sorted(k_chosen.items())}, "k_per_fold.json")
                print("k per (variant, fold): " + ", ".join(f"{v} f{f}={k}" for (v, f), k in sorted(k_chosen.items())),
                      flush=True)
            jobs = [{"variant": v.name, "fold": f, "seed": s, "k": k_chosen.get((v.name, f))}
                    for v in settings.variants for f in folds for s in range(settings.seeds)]
            finals = [{"variant": v.name, "fold": "all", "seed": 0, "k": _median_k(k_chosen, v.name)}
                      for v in settings.variants] if settings.register else []
            frame = run_grid(context, settings, jobs + finals)
            results = _results_table(frame)
            fold_rows = results[results["fold"] != "all"].copy()
            fold_rows["fold"] = fold_rows["fold"].astype(int)
            run_ids = {(r.variant, r.fold, r.seed): r.run_id for r in fold_rows.itertuples()}
            if fold_rows.empty:
                raise RuntimeError("no trial of the grid finished; see the Ray logs in ./ray_results")
            summary = summarize(fold_rows, _predictions(run_ids))
            log_summaries(context, summary, k_chosen)
            comparison = report(summary, fold_rows, synthetic=corpora.demo)
            if settings.register:
                from registry.register import register_final_models

                final_runs = {r.variant: r.run_id for r in results[results["fold"] == "all"].itertuples()}
                register_final_models(final_runs, summary)
            mlflow.log_metric("wall_seconds", time.perf_counter() - started)
            _print_table(summary, comparison, corpora.demo)
            missing = len(jobs) + len(finals) - len(results)
            if missing:
                raise RuntimeError(f"{missing} trials did not finish (after {settings.max_failures} retries each); "
                                   "rerun the same command to finish them")
        finally:
            closed = close_running(parent_id, experiment_id)
            if closed:
                print(f"closed {closed} runs left RUNNING as KILLED", flush=True)
            try:
                import ray

                if ray.is_initialized():
                    ray.shutdown()
            except Exception:  # shutting down after an interrupt must not hide the original error
                pass
    _print_where(parent_id)
    return parent_id


def _median_k(k_chosen: dict, variant: str) -> int | None:
    ks = [k for (v, _), k in k_chosen.items() if v == variant]
    return int(np.median(ks)) if ks else None


def _results_table(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or "run_id" not in frame:
        return pd.DataFrame(columns=["variant", "fold", "seed", "run_id", "uar"])
    frame = frame[frame["run_id"].notna()]
    jobs = frame["config/job"].apply(pd.Series) if "config/job" in frame else frame.filter(like="config/job/")
    jobs.columns = [c.split("/")[-1] for c in jobs.columns]
    out = pd.concat([jobs[["variant", "fold", "seed"]].reset_index(drop=True),
                     frame[["run_id", "uar", "wa", "recall_ang", "recall_hap", "recall_neu", "recall_sad",
                            "train_seconds", "reused"]].reset_index(drop=True)], axis=1)
    out["fold"] = out["fold"].astype(str)
    return out


def _print_table(summary: pd.DataFrame, comparison: dict, synthetic: bool) -> None:
    print("\nTable I (UAR, mean ± std over folds; paper in brackets):")
    for row in summary.itertuples():
        paper = f"[{row.paper_uar:.3f}]" if math.isfinite(row.paper_uar) else "[ -  ]"
        print(f"  {row.variant:<13} {row.uar_mean:.3f} ± {row.uar_std:.3f}  {paper}")
    if comparison:
        print(f"  PAaAN_PP - IA+T: {comparison['mean_difference']:+.3f} UAR over {comparison['pairs']} pairs "
              f"(paired t-test p = {comparison['t_test_p']:.3g})")
    if synthetic:
        print(f"  ({SYNTHETIC_NOTE})")


def _print_where(parent_run_id: str) -> None:
    uri = mlflow.get_tracking_uri()
    print(f"\nablation parent run: {parent_run_id}\nsee it in the MLflow UI:\n"
          f"  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri {uri} --workers 1 --host 127.0.0.1\n"
          f"  then open the 'paaan' experiment, expand run {parent_run_id[:8]}, select the 'Table I: ...' runs, "
          "press Compare.", flush=True)
