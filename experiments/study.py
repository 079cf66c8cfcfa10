"""A study: k tuning, the grid of variants x folds x seeds, the final models and the report, inside a parent run.

``run_study`` is what the ablation runs once and the testbed once per scenario and corpus draw:

1. the k search (``experiments.k_search``) for the retrieval variants;
2. the grid: every variant x fold x seed as a Ray Tune trial in a nested MLflow run (per-epoch reports and
   checkpoints; a retried trial continues from its checkpoint), under the chosen protocol's folds;
3. the final models: one per variant trained on every utterance for the median of the epochs its fold
   trials chose, with the median of its per-fold k (in the grid's Tuner, each as soon as its variant's fold
   trials are done: ``experiments.search.GridThenFinals``);
4. one summary run per variant (select them and press Compare in the MLflow UI: that is Table I) with its
   pooled confusion matrix, and on the parent run ``table1.md``, ``table1.csv``, ``table1.png``,
   ``fold_results.csv``, ``comparisons.csv`` (every personality variant against its same-score baseline,
   Holm-corrected) and ``paired_test.json`` (PAaAN_PP vs IA+T, the paper's comparison); under the
   dimensional task (``train.task``) ``table1_dimensional.md`` / ``.csv`` / ``.png`` instead, scored by CCC.

``study_key`` hashes every input of a study: a rerun with the same key resumes it (``experiments.runs``).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from ray import tune

from experiments import tracking
from experiments.cache import cache_key, folds_fingerprint
from experiments.cluster import resources, run_config
from experiments.corpora import Corpora
from experiments.featurize import featurize_key
from experiments.k_search import median_k, tune_k
from experiments.runs import children
from experiments.search import GridThenFinals
from experiments.settings import StudySettings
from experiments.trials import TrialContext, fold_trial
from paaan.config import Profile
from paaan.data.folds import describe_protocol
from paaan.report import (baseline_comparisons, confusion_frame, dimensional_comparisons, paired_comparison,
                          plot_confusion, pooled_confusion, summarize, summarize_dimensional, table1_chart,
                          table1_dimensional_chart, table1_dimensional_markdown, table1_markdown)
from paaan.tasks import TASKS, Task, get_task
from paaan.variants import VARIANTS


RESULT_COLUMNS = (*dict.fromkeys(m for t in TASKS for m in t.metrics), "train_seconds", "reused", "best_epoch",
                  "epochs_run")


def study_key(corpora: Corpora, profile: Profile, settings: StudySettings, step: str) -> str:
    """The cache key of a study of ``step`` (an ablation, a testbed scenario): data, profile and settings."""
    data_key, _ = featurize_key(corpora, profile.features)
    return cache_key(step, {
        "data": data_key, "profile": profile.to_dict(), "variants": [v.name for v in settings.variants],
        "seeds": settings.seeds, "k_tuning": settings.k_tuning, "k_trials": settings.k_trials,
        "protocol": settings.protocol, "folds": folds_fingerprint(settings.folds_file), "register": settings.register,
    })


def run_trials(context: TrialContext, settings: StudySettings, jobs: list[dict], name: str,
               finals: list[dict] | None = None) -> pd.DataFrame:
    """Every job as a Ray Tune trial (``fold_trial``) in one Tuner, and with ``finals`` each variant's model of
    every utterance as soon as its grid jobs are done (``GridThenFinals``); the last result of each trial."""
    if not jobs and not finals:
        return pd.DataFrame()
    trainable = tune.with_resources(tune.with_parameters(fold_trial, context=context), resources(settings))
    names = dict(trial_name_creator=lambda t: job_name(t.config["job"]),
                 trial_dirname_creator=lambda t: f"{job_name(t.config['job'])}_{t.trial_id}")
    if finals:
        searcher = GridThenFinals(jobs, finals, epochs_of=median_epochs, default_epochs=context.profile.train.epochs)
        count = len(jobs) + len(finals)
        # a custom searcher gets one pending trial at a time unless told how many may run (see tune_k)
        config = tune.TuneConfig(search_alg=searcher, num_samples=count, max_concurrent_trials=count,
                                 reuse_actors=True, **names)
        tuner = tune.Tuner(trainable, tune_config=config, run_config=run_config(f"{name}-{context.parent_run_id}", settings))
    else:
        tuner = tune.Tuner(trainable, param_space={"job": tune.grid_search(jobs)},
                           tune_config=tune.TuneConfig(reuse_actors=True, **names),
                           run_config=run_config(f"{name}-{context.parent_run_id}", settings))
    grid = tuner.fit()
    frame = grid.get_dataframe()
    errors = [str(e) for e in grid.errors]
    if errors:
        print(f"warning: {len(errors)} trials failed after retries; first: {errors[0][:500]}", flush=True)
    return frame


def job_name(job: dict) -> str:
    """A trial's name in Ray's output: variant_fF_sS ("+" written "p")."""
    return f"{job['variant']}_f{job['fold']}_s{job['seed']}".replace("+", "p")


def trial_predictions(run_ids: dict[tuple, str]) -> pd.DataFrame:
    """Every trial's predictions.csv, with its variant, fold and seed."""
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
                  "baseline": variant.baseline or "", "protocol": context.protocol,
                  "task": context.profile.train.task}
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
        if predictions is not None and len(predictions) and "prediction" in predictions:  # categorical
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


def report(summary: pd.DataFrame, results: pd.DataFrame, synthetic: bool, task: Task | None = None,
           split: str = "") -> pd.DataFrame:
    """Table I and the comparisons as artifacts and metrics of the active (parent) run; returns the comparisons.
    The dimensional task writes ``table1_dimensional.md`` / ``.csv`` / ``.png`` (``report_dimensional``).
    ``split``: how the folds were made, printed under the table's title."""
    if task is not None and task.regression:
        return report_dimensional(summary, results, synthetic, split)
    comparisons = baseline_comparisons(results)
    paper = paired_comparison(results, "PAaAN_PP", "IA+T")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "table1.md").write_text(table1_markdown(summary, synthetic, comparisons, split))
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


def report_dimensional(summary: pd.DataFrame, results: pd.DataFrame, synthetic: bool, split: str = "") -> pd.DataFrame:
    """The dimensional Table I: CCC, r and RMSE per dimension, mean and CI over folds, and every personality
    variant against its same-score baseline on each dimension's CCC (Holm over all those comparisons)."""
    comparisons = dimensional_comparisons(results)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "table1_dimensional.md").write_text(table1_dimensional_markdown(summary, synthetic, comparisons, split))
        summary.to_csv(tmp / "table1_dimensional.csv", index=False)
        table1_dimensional_chart(summary, tmp / "table1_dimensional.png", synthetic)
        results.to_csv(tmp / "fold_results.csv", index=False)
        comparisons.to_csv(tmp / "comparisons.csv", index=False)
        mlflow.log_artifacts(str(tmp))
    metrics = {f"{m}_{row['variant']}": row[f"{m}_mean"] for row in summary.to_dict("records")
               for m in ("ccc", "ccc_valence", "ccc_activation", "ccc_dominance") if f"{m}_mean" in row}
    for c in comparisons.itertuples():
        metrics[f"diff_{c.metric}_{c.a}_vs_{c.b}"] = c.mean_difference
    mlflow.log_metrics({k.replace("+", "p"): float(v) for k, v in metrics.items() if math.isfinite(float(v))})
    return comparisons


def summarize_task(task: Task, results: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table I's rows for ``task``: ``paaan.report.summarize`` (UAR) or ``summarize_dimensional`` (CCC)."""
    return summarize_dimensional(results) if task.regression else summarize(results, predictions)


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


def run_study(context: TrialContext, settings: StudySettings, n_folds: int, n_clips: int,
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
    final_jobs = ([{"variant": v.name, "fold": "all", "seed": 0, "k": median_k(k_chosen, v.name)}
                   for v in settings.variants] if settings.register else [])
    rows = results_table(run_trials(context, settings, jobs, "grid", finals=final_jobs))
    fold_rows = rows[rows["fold"] != "all"].copy()
    if fold_rows.empty:
        raise RuntimeError("no trial of the grid finished; see the Ray logs in ./ray_results")
    fold_rows["fold"] = fold_rows["fold"].astype(int)
    finals = {r.variant: r.run_id for r in rows[rows["fold"] == "all"].itertuples()}
    run_ids = {(r.variant, r.fold, r.seed): r.run_id for r in fold_rows.itertuples()}
    predictions = trial_predictions(run_ids)
    task = get_task(context.profile.train.task)
    summary = summarize_task(task, fold_rows, predictions)
    log_summaries(context, summary, k_chosen, predictions, fold_rows)
    comparisons = report(summary, fold_rows, synthetic=synthetic, task=task, split=describe_protocol(context.protocol))
    missing = len(jobs) + len(final_jobs) - len(fold_rows) - len(finals)
    return StudyResult(summary, fold_rows, finals, k_chosen, comparisons, missing, predictions)


def results_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial (variant, fold, seed, run id and its reported metrics) of a Tuner's result frame."""
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
