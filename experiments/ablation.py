"""The ``ablation`` step: paper Table I on Ray Tune, with Optuna-tuned k, logged and registered in MLflow.

1. featurize -> shla -> retrieve (PP and NA neighbour lists), reused when already done;
2. k tuning: for every retrieval variant and outer fold, an Optuna (TPE) study over k on the fold's held-out
   training speakers, all studies in one Tuner (``experiments.search.PerProblemOptuna``), hopeless trials
   stopped early by ASHA, one bracket per study (``PerProblemASHA``; the profile's ``tune`` section);
3. the grid: every variant x fold x seed as a Ray Tune trial in a nested MLflow run (per-epoch reports and
   checkpoints; a retried trial continues from its checkpoint), under the chosen protocol's folds;
4. the final models: one per variant trained on every utterance for the median of the epochs its fold
   trials chose, with the median of its per-fold k (in the grid's Tuner, each as soon as its variant's
   fold trials are done: ``experiments.search.GridThenFinals``);
5. one summary run per variant (select them and press Compare in the MLflow UI: that is Table I) with its
   pooled confusion matrix, and on the parent run ``table1.md``, ``table1.csv``, ``table1.png``,
   ``comparisons.csv`` (every personality variant against its same-score baseline, Holm-corrected) and
   ``paired_test.json`` (PAaAN_PP vs IA+T, the paper's comparison);
6. the final models registered as ``paaan-<variant>`` (see ``registry.register``).

``run_study`` is steps 2-5 inside any parent run: the testbed runs it once per scenario.

Resume: the parent run's cache key hashes every input. A rerun with the same inputs adopts the finished
trials of earlier interrupted runs with that key (their ``mlflow.parentRunId`` moves to the new parent)
and trains only what is missing; a FINISHED ablation with the same key is reported, not rerun. Every run
left RUNNING by an interruption or a killed worker is closed as KILLED.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
from experiments.trials import TAG_STOPPED_BY, TAG_TRIAL_KEY, TrialContext, fold_trial, k_trial, trial_key
from paaan.config import Profile
from paaan.data.folds import make_folds
from paaan.report import (SYNTHETIC_NOTE, baseline_comparisons, confusion_frame, paired_comparison, plot_confusion,
                          pooled_confusion, summarize, table1_chart, table1_markdown)
from paaan.variants import VARIANTS, Variant, select

STEP = "ablation"
ADOPTABLE_STEPS = ("trial", "tune_k", "featurize", "shla", "retrieve", "summary")
RESULT_COLUMNS = ("uar", "wa", "f1_macro", "recall_ang", "recall_hap", "recall_neu", "recall_sad", "train_seconds",
                  "reused", "best_epoch", "epochs_run")


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
    protocol: str = "session"  # "session", "speaker" or "file" (with folds_file)
    folds_file: str | None = None


def choose_variants(names: str | None, corpora: Corpora) -> list[Variant]:
    """The variant subset; rows fed the true personality are dropped (with a note) on corpora without ground
    truth, unless named."""
    explicit = names not in (None, "", "all", "table1")
    variants = select(names)
    if not corpora.ground_truth:
        needs = [v.name for v in variants if v.uses_ground_truth]
        if explicit and needs:
            raise ValueError(f"{', '.join(needs)} need the demo corpus' ground_truth.json (the true personalities); "
                             f"{corpora.iemocap} has none")
        if needs:
            print(f"note: {', '.join(needs)} skipped (no ground_truth.json: real corpora have no true personality)")
        variants = [v for v in variants if not v.uses_ground_truth]
    return variants


def folds_fingerprint(folds_file: str | None) -> str | None:
    """A fold file's (or EmoBox folder's) content hash: the folds are an input of every split."""
    if not folds_file:
        return None
    path = Path(folds_file)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def ablation_key(corpora: Corpora, profile: Profile, settings: AblationSettings, step: str = STEP) -> str:
    data_key, _ = featurize_key(corpora, profile.features)
    return tracking.cache_key(step, {
        "data": data_key, "profile": profile.to_dict(), "variants": [v.name for v in settings.variants],
        "seeds": settings.seeds, "k_tuning": settings.k_tuning, "k_trials": settings.k_trials,
        "protocol": settings.protocol, "folds": folds_fingerprint(settings.folds_file), "register": settings.register,
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
                          failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                          # 2, not 1: Tune forces an experiment-state snapshot whenever a trial has checkpointed
                          # num_to_keep times since the last one (with 1: at every checkpoint, which it warns
                          # is a bottleneck for short trials); keeping all would cost about 1 MB per checkpoint
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=2))


def _resources(settings: AblationSettings) -> dict:
    resources = {"cpu": settings.cpus_per_trial}
    if settings.gpus_per_trial:
        resources["gpu"] = settings.gpus_per_trial
    return resources


# --- resume --------------------------------------------------------------------------------------------


def find_previous(key: str, experiment_id: str, step: str = STEP) -> list:
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


# --- phases --------------------------------------------------------------------------------------------


def k_owners(settings: AblationSettings) -> dict[str, list[str]]:
    """Study owner -> the retrieval variants that use its k (per_source: PAaAN_<source> decides for its source)."""
    retrieval = [v for v in settings.variants if v.uses_retrieval]
    studied: dict[str, list[str]] = {}
    for v in retrieval:
        owner = v.name
        if settings.k_tuning == "per_source":
            owner = f"PAaAN_{v.personality}" if any(u.name == f"PAaAN_{v.personality}" for u in retrieval) else v.name
        studied.setdefault(owner, []).append(v.name)
    return studied


def tune_k(context: TrialContext, settings: AblationSettings, folds: list[int], n_clips: int) -> dict[tuple[str, int], int]:
    """Optuna-tuned k per (retrieval variant, outer fold), early-stopped by ASHA; returns {(variant, fold): k}."""
    import optuna
    from ray import tune

    from experiments.search import PerProblemASHA, PerProblemOptuna
    from paaan.tuning import k_search_space

    profile = context.profile
    retrieval = [v for v in settings.variants if v.uses_retrieval]
    if not retrieval:
        return {}
    if settings.k_tuning == "off":
        return {(v.name, f): profile.retrieval.k for v in retrieval for f in folds}
    studied = k_owners(settings)
    metric = profile.tune.metric
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
            client.log_batch(run.info.run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in {
                "variant": owner, "outer_fold": fold, "k_low": low, "k_high": high, "trials": settings.k_trials,
                "shared_with": ",".join(studied[owner]), "scheduler": profile.tune.scheduler, "metric": metric,
                "grace_period": profile.tune.grace_period, "reduction_factor": profile.tune.reduction_factor,
                "protocol": context.protocol}.items()])
            tune_runs[problem] = run.info.run_id
            problems[problem] = {"variant": owner, "fold": fold, "seed": 0, "tune_run_id": run.info.run_id}
    if problems:
        print(f"tuning k in [{low}, {high}] for {len(problems)} (variant, fold) problems, "
              f"{settings.k_trials} Optuna trials each, scheduler {profile.tune.scheduler}", flush=True)
        searcher = PerProblemOptuna(problems, {"k": optuna.distributions.IntDistribution(low, high)},
                                    metric=metric, mode="max", trials_per_problem=settings.k_trials, seed=0)
        scheduler = None
        if profile.tune.scheduler == "asha":
            scheduler = PerProblemASHA(metric, "max", max_t=profile.train.epochs,
                                       grace_period=profile.tune.grace_period,
                                       reduction_factor=profile.tune.reduction_factor)
        elif profile.tune.scheduler != "none":
            raise ValueError(f"unknown tune.scheduler {profile.tune.scheduler!r}; known: asha, none")
        trainable = tune.with_resources(tune.with_parameters(k_trial, context=context), _resources(settings))
        # max_concurrent_trials: with a custom searcher Tune keeps one trial pending at a time unless told
        # how many may run at once, and then starts trials one by one (1.9 s of idle core per trial on the
        # demo, BENCHMARKS.md). One trial per problem at a time is the searcher's own limit.
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=len(problems) * settings.k_trials,
            reuse_actors=True, max_concurrent_trials=len(problems) * searcher.concurrent_per_problem,
            trial_name_creator=lambda t: f"k_{t.trial_id}", trial_dirname_creator=lambda t: f"k_{t.trial_id}"),
            run_config=_run_config(f"tune-k-{context.parent_run_id}", settings))
        grid = tuner.fit()
        results = grid.get_dataframe()
        stopped = scheduler.stopped if scheduler else set()
        _close_pruned(results, stopped)
        for problem, run_id in tune_runs.items():
            mine = results[results["config/problem"] == problem] if "config/problem" in results else results.iloc[:0]
            mine = mine[np.isfinite(mine.get(metric, pd.Series(dtype=float)))]
            if mine.empty:
                client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
                raise RuntimeError(f"k tuning failed for {problem}: no trial finished (see the Ray logs)")
            best = mine.sort_values([metric, "config/k"], ascending=[False, True]).iloc[0]
            k = int(best["config/k"])
            epochs = mine["epoch"].fillna(0).astype(int) if "epoch" in mine else pd.Series(0, index=mine.index)
            if "reused" in mine:  # a reused trial (a k suggested twice, or a resumed ablation) trained nothing here
                epochs = epochs.where(mine["reused"].fillna(0) != 1, 0)
            pruned = mine["trial_id"].isin(stopped) if "trial_id" in mine else pd.Series(False, index=mine.index)
            client.log_param(run_id, "chosen_k", k)
            client.log_metric(run_id, f"best_{metric}", float(best[metric]))
            client.log_metric(run_id, "trials_stopped_early", int(pruned.sum()))
            client.log_metric(run_id, "epochs_trained", int(epochs.sum()))
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[
                metric_ for step, (k_, value, ep) in enumerate(zip(mine["config/k"], mine[metric], epochs))
                for metric_ in (mlflow.entities.Metric("trial_k", float(k_), now, step),
                                mlflow.entities.Metric(f"trial_{metric}", float(value), now, step),
                                mlflow.entities.Metric("trial_epochs", float(ep), now, step))])
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
            chosen[(problems[problem]["variant"], problems[problem]["fold"])] = k
    return {(name, fold): chosen[(owner, fold)] for owner, names in studied.items() for name in names for fold in folds}


def _close_pruned(results: pd.DataFrame, stopped: set[str]) -> None:
    """End FINISHED (tagged) any run of a trial the scheduler stopped whose thread could not end it itself."""
    if results.empty or "run_id" not in results:
        return
    client = MlflowClient()
    for row in results.itertuples():
        run_id = getattr(row, "run_id", None)
        if not isinstance(run_id, str) or getattr(row, "trial_id", None) not in stopped:
            continue
        run = client.get_run(run_id)
        if run.info.status == "RUNNING":
            client.set_tag(run_id, TAG_STOPPED_BY, "scheduler")
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))


def run_trials(context: TrialContext, settings: AblationSettings, jobs: list[dict], name: str,
               finals: list[dict] | None = None) -> pd.DataFrame:
    """Every job as a Ray Tune trial (``fold_trial``) in one Tuner, and with ``finals`` each variant's model of
    every utterance as soon as its grid jobs are done (``GridThenFinals``); the last result of each trial."""
    from ray import tune

    from experiments.search import GridThenFinals

    if not jobs and not finals:
        return pd.DataFrame()
    trainable = tune.with_resources(tune.with_parameters(fold_trial, context=context), _resources(settings))
    names = dict(trial_name_creator=lambda t: _job_name(t.config["job"]),
                 trial_dirname_creator=lambda t: f"{_job_name(t.config['job'])}_{t.trial_id}")
    if finals:
        searcher = GridThenFinals(jobs, finals, epochs_of=median_epochs, default_epochs=context.profile.train.epochs)
        count = len(jobs) + len(finals)
        # a custom searcher gets one pending trial at a time unless told how many may run (see tune_k)
        config = tune.TuneConfig(search_alg=searcher, num_samples=count, max_concurrent_trials=count,
                                 reuse_actors=True, **names)
        tuner = tune.Tuner(trainable, tune_config=config, run_config=_run_config(f"{name}-{context.parent_run_id}", settings))
    else:
        tuner = tune.Tuner(trainable, param_space={"job": tune.grid_search(jobs)},
                           tune_config=tune.TuneConfig(reuse_actors=True, **names),
                           run_config=_run_config(f"{name}-{context.parent_run_id}", settings))
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


def log_summaries(context: TrialContext, summary: pd.DataFrame, k_chosen: dict,
                  predictions: pd.DataFrame | None = None, results: pd.DataFrame | None = None) -> dict[str, str]:
    """One nested summary run per variant whose metrics are its Table I row, with its pooled confusion matrix."""
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
                  "integration": variant.integration, "description": variant.description[:400],
                  "attention_score": variant.attention_score or context.profile.model.attention_score,
                  "baseline": variant.baseline or "", "protocol": context.protocol}
        ks = [k for (v, _), k in sorted(k_chosen.items()) if v == name]
        if ks:
            params["k_per_fold"] = ",".join(str(k) for k in ks)
        if results is not None and len(results):
            mine = results[results["variant"] == name]
            params["best_epoch_per_fold"] = ",".join(
                str(int(e)) for e in mine.sort_values(["fold", "seed"])["best_epoch"] if np.isfinite(e))[:500]
        metrics = {key: float(value) for key, value in row.items()
                   if key not in ("variant",) and isinstance(value, (int, float)) and math.isfinite(float(value))}
        client.log_batch(run.info.run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items() if v != ""],
                         metrics=[mlflow.entities.Metric(k, v, int(time.time() * 1000), 0) for k, v in metrics.items()])
        if predictions is not None and len(predictions):
            matrix = pooled_confusion(predictions[predictions["variant"] == name])
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                confusion_frame(matrix).astype(int).to_csv(tmp / "confusion_matrix_pooled.csv")
                confusion_frame(matrix, normalise=True).round(4).to_csv(tmp / "confusion_matrix_pooled_normalised.csv")
                plot_confusion(matrix, f"{name}: all folds and seeds", tmp / "confusion_matrix_pooled.png")
                client.log_artifacts(run.info.run_id, str(tmp))
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
        runs[name] = run.info.run_id
    return runs


def report(summary: pd.DataFrame, results: pd.DataFrame, synthetic: bool) -> pd.DataFrame:
    """Table I and the comparisons as artifacts and metrics of the active (parent) run; returns the comparisons."""
    comparisons = baseline_comparisons(results)
    paper = paired_comparison(results, "PAaAN_PP", "IA+T")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "table1.md").write_text(table1_markdown(summary, synthetic, comparisons))
        summary.to_csv(tmp / "table1.csv", index=False)
        table1_chart(summary, tmp / "table1.png", synthetic)
        results.to_csv(tmp / "fold_results.csv", index=False)
        comparisons.to_csv(tmp / "comparisons.csv", index=False)
        if paper:
            (tmp / "paired_test.json").write_text(json.dumps(paper, indent=2))
        mlflow.log_artifacts(str(tmp))
    metrics = {f"uar_{row.variant}": row.uar_mean for row in summary.itertuples() if math.isfinite(row.uar_mean)}
    for c in comparisons.itertuples():
        metrics[f"diff_{c.a}_vs_{c.b}"] = c.mean_difference
    if paper:
        metrics |= {"pp_vs_iat_mean_difference": paper["mean_difference"], "pp_vs_iat_t_test_p": paper["t_test_p"]}
    mlflow.log_metrics({k.replace("+", "p"): v for k, v in metrics.items() if math.isfinite(v)})
    return comparisons


@dataclass
class StudyResult:
    summary: pd.DataFrame
    results: pd.DataFrame  # one row per (variant, fold, seed) trial
    finals: dict[str, str]  # variant -> run id of its model of every utterance
    k_chosen: dict
    comparisons: pd.DataFrame
    missing: int
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)


def median_epochs(best_epochs) -> int:
    """The epochs of a model of every utterance: the median (rounded down, at least 1) of the epochs the
    variant's fold trials chose."""
    chosen = np.asarray([e for e in best_epochs if np.isfinite(e)], dtype=float)
    return max(1, int(np.median(chosen))) if len(chosen) else 1


def run_study(context: TrialContext, settings: AblationSettings, n_folds: int, n_clips: int,
              synthetic: bool) -> StudyResult:
    """k tuning, the grid, the final models and the report, inside the active (parent) run."""
    folds = list(range(1, n_folds + 1))
    k_chosen = tune_k(context, settings, folds, n_clips)
    if k_chosen:
        mlflow.log_dict({f"{v}|fold{f}": k for (v, f), k in sorted(k_chosen.items())}, "k_per_fold.json")
        print("k per (variant, fold): " + ", ".join(f"{v} f{f}={k}" for (v, f), k in sorted(k_chosen.items())),
              flush=True)
    jobs = [{"variant": v.name, "fold": f, "seed": s, "k": k_chosen.get((v.name, f))}
            for v in settings.variants for f in folds for s in range(settings.seeds)]
    final_jobs = ([{"variant": v.name, "fold": "all", "seed": 0, "k": _median_k(k_chosen, v.name)}
                   for v in settings.variants] if settings.register else [])
    rows = _results_table(run_trials(context, settings, jobs, "grid", finals=final_jobs))
    fold_rows = rows[rows["fold"] != "all"].copy()
    if fold_rows.empty:
        raise RuntimeError("no trial of the grid finished; see the Ray logs in ./ray_results")
    fold_rows["fold"] = fold_rows["fold"].astype(int)
    finals = {r.variant: r.run_id for r in rows[rows["fold"] == "all"].itertuples()}
    run_ids = {(r.variant, r.fold, r.seed): r.run_id for r in fold_rows.itertuples()}
    predictions = _predictions(run_ids)
    summary = summarize(fold_rows, predictions)
    log_summaries(context, summary, k_chosen, predictions, fold_rows)
    comparisons = report(summary, fold_rows, synthetic=synthetic)
    missing = len(jobs) + len(final_jobs) - len(fold_rows) - len(finals)
    return StudyResult(summary, fold_rows, finals, k_chosen, comparisons, missing, predictions)


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
    with tracking.step_run("ablation", STEP, tags=tags, entry=True, system_metrics=True) as parent:
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
                "sspnet_root": corpora.sspnet, "protocol": settings.protocol,
                "folds_file": settings.folds_file or "", **profile.flat()})
            spaces = {v.personality for v in settings.variants} & {"PP", "NA"}
            upstream = prepare_upstream(corpora, profile, spaces, workers=settings.workers, parent_run_id=parent_id)
            tracking.log_params(upstream.as_params())
            store = store_of(upstream.featurize)
            n_folds = len(make_folds(store.utterances, settings.protocol, settings.folds_file))
            context = TrialContext(tracking_uri=mlflow.get_tracking_uri(), experiment_id=experiment_id,
                                   parent_run_id=parent_id, ablation_key=key, profile=profile, upstream=upstream,
                                   protocol=settings.protocol, folds_file=settings.folds_file)
            start_ray(settings)
            study = run_study(context, settings, n_folds, len(store.clips), synthetic=corpora.demo)
            if settings.register and study.finals:
                from registry.register import register_final_models

                register_final_models(study.finals, study.summary, study.results)
            mlflow.log_metric("wall_seconds", time.perf_counter() - started)
            _print_table(study.summary, study.comparisons, corpora.demo)
            if study.missing:
                raise RuntimeError(f"{study.missing} trials did not finish (after {settings.max_failures} retries "
                                   "each); rerun the same command to finish them")
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
        return pd.DataFrame(columns=["variant", "fold", "seed", "run_id", *RESULT_COLUMNS])
    frame = frame[frame["run_id"].notna()]
    jobs = frame["config/job"].apply(pd.Series) if "config/job" in frame else frame.filter(like="config/job/")
    jobs.columns = [c.split("/")[-1] for c in jobs.columns]
    columns = [c for c in RESULT_COLUMNS if c in frame.columns]
    out = pd.concat([jobs[["variant", "fold", "seed"]].reset_index(drop=True),
                     frame[["run_id", *columns]].reset_index(drop=True)], axis=1)
    out["fold"] = out["fold"].astype(str)
    return out


def _print_table(summary: pd.DataFrame, comparisons: pd.DataFrame, synthetic: bool) -> None:
    print("\nTable I (mean ± std over folds; paper's UAR in brackets):")
    print(f"  {'variant':<15} {'UAR':>14} {'WA':>14} {'macro-F1':>14}")
    for row in summary.itertuples():
        paper = f"[{row.paper_uar:.3f}]" if math.isfinite(row.paper_uar) else "[ -  ]"
        print(f"  {row.variant:<15} {row.uar_mean:.3f} ± {row.uar_std:.3f}  {row.wa_mean:.3f} ± {row.wa_std:.3f}  "
              f"{row.f1_macro_mean:.3f} ± {row.f1_macro_std:.3f}  {paper}")
    for c in comparisons.itertuples():
        print(f"  {c.a} - {c.b}: {c.mean_difference:+.3f} UAR (95% CI {c.ci_low:+.3f} to {c.ci_high:+.3f}, "
              f"p = {c.t_test_p:.3g}, Holm {c.p_holm:.3g}; {c.folds} folds x {c.seeds} seeds)")
    if synthetic:
        print(f"  ({SYNTHETIC_NOTE})")


def _print_where(parent_run_id: str) -> None:
    uri = mlflow.get_tracking_uri()
    print(f"\nablation parent run: {parent_run_id}\nsee it in the MLflow UI:\n"
          f"  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri {uri} --workers 1 --host 127.0.0.1\n"
          f"  then open the 'paaan' experiment, expand run {parent_run_id[:8]}, select the 'Table I: ...' runs, "
          "press Compare.", flush=True)
