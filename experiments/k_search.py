"""The k search: Optuna over k for every (retrieval variant, outer fold) on the fold's held-out training
speakers, all studies in one Tuner (``experiments.search.PerProblemOptuna``), hopeless trials stopped by ASHA,
one bracket per study (``PerProblemASHA``; the profile's ``tune`` section). Each study is a ``tune-k-...`` run
with one nested run per k trial; a study finished by an earlier attempt of the same study is reused."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import optuna
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from ray import tune

from experiments import tracking
from experiments.cluster import resources, run_config
from experiments.runs import TAG_TRIAL_KEY, children
from experiments.search import PerProblemASHA, PerProblemOptuna
from experiments.settings import StudySettings
from experiments.trials import TAG_STOPPED_BY, TrialContext, k_trial, trial_key
from paaan.tasks import get_task
from paaan.tuning import k_search_space


def k_owners(settings: StudySettings) -> dict[str, list[str]]:
    """Study owner -> the retrieval variants that use its k (per_source: PAaAN_<source> decides for its source)."""
    retrieval = [v for v in settings.variants if v.uses_retrieval]
    studied: dict[str, list[str]] = {}
    for v in retrieval:
        owner = v.name
        if settings.k_tuning == "per_source":
            owner = f"PAaAN_{v.personality}" if any(u.name == f"PAaAN_{v.personality}" for u in retrieval) else v.name
        studied.setdefault(owner, []).append(v.name)
    return studied


def tune_k(context: TrialContext, settings: StudySettings, folds: list[int], n_clips: int) -> dict[tuple[str, int], int]:
    """Optuna-tuned k per (retrieval variant, outer fold), early-stopped by ASHA; returns {(variant, fold): k}."""
    profile = context.profile
    retrieval = [v for v in settings.variants if v.uses_retrieval]
    if not retrieval:
        return {}
    if settings.k_tuning == "off":
        return {(v.name, f): profile.retrieval.k for v in retrieval for f in folds}
    studied = k_owners(settings)
    metric = get_task(profile.train.task).tune_metric(profile.tune.metric)  # best_val_ccc for the dimensional task
    low, high = k_search_space(n_clips, profile.tune.k_max)
    client = MlflowClient()
    problems, tune_runs, chosen = {}, {}, {}
    for owner in studied:
        for fold in folds:
            problem = f"{owner}|fold{fold}"
            key = trial_key(context.study_key, {"kind": "tune_k", "variant": owner, "fold": fold})
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
        trainable = tune.with_resources(tune.with_parameters(k_trial, context=context), resources(settings))
        # max_concurrent_trials: with a custom searcher Tune keeps one trial pending at a time unless told
        # how many may run at once, and then starts trials one by one (1.9 s of idle core per trial on the
        # demo, BENCHMARKS.md). One trial per problem at a time is the searcher's own limit.
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=len(problems) * settings.k_trials,
            reuse_actors=True, max_concurrent_trials=len(problems) * searcher.concurrent_per_problem,
            trial_name_creator=lambda t: f"k_{t.trial_id}", trial_dirname_creator=lambda t: f"k_{t.trial_id}"),
            run_config=run_config(f"tune-k-{context.parent_run_id}", settings))
        grid = tuner.fit()
        results = grid.get_dataframe()
        stopped = scheduler.stopped if scheduler else set()
        close_pruned(results, stopped)
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


def close_pruned(results: pd.DataFrame, stopped: set[str]) -> None:
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


def median_k(k_chosen: dict, variant: str) -> int | None:
    """The median (rounded down) of a variant's per-fold k: the k of its model of every utterance."""
    ks = [k for (v, _), k in k_chosen.items() if v == variant]
    return int(np.median(ks)) if ks else None
