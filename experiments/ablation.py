"""The ``ablation`` step: paper Table I on Ray Tune, with Optuna-tuned k, logged and registered in MLflow.

1. featurize -> shla -> retrieve (PP and NA neighbour lists), reused when already done;
2. the study (``experiments.study.run_study``): the k search, every variant x fold x seed, the final models,
   one summary run per variant and Table I on the parent run;
3. the final models registered as ``paaan-<variant>`` (see ``registry.register``).

Resume: the parent run's cache key hashes every input. A rerun with the same inputs adopts the finished
trials of earlier interrupted runs with that key (``experiments.runs``) and trains only what is missing; a
FINISHED ablation with the same key is reported, not rerun. Every run left RUNNING by an interruption or a
killed worker is closed as KILLED.
"""

from __future__ import annotations

import dataclasses
import math
import time

import mlflow
import pandas as pd

from experiments import tracking
from experiments.cluster import start_ray, stop_ray
from experiments.corpora import Corpora
from experiments.featurize import corpus_params, store_of
from experiments.runs import adopt_finished_children, close_running, find_previous
from experiments.settings import StudySettings
from experiments.study import study_key, run_study
from experiments.train import prepare_upstream
from experiments.trials import TrialContext
from paaan.config import Profile
from paaan.data.corpus import TRANSCRIPTS_FILE
from paaan.data.folds import describe_protocol, make_folds
from paaan.report import SYNTHETIC_NOTE
from paaan.variants import Variant, select
from registry.register import register_final_models


STEP = "ablation"


def choose_variants(names: str | None, corpora: Corpora) -> list[Variant]:
    """The variant subset; rows the corpora cannot feed are dropped with a note, or refused when named: rows fed
    the true personality on corpora without ground truth, rows that read words on a corpus without transcripts
    (an EmoBox corpus without its transcripts CSV)."""
    explicit = names not in (None, "", "all", "table1")
    variants = select(names)
    lacks = []  # (needs it, why not here, what the note says)
    if not corpora.ground_truth:
        lacks.append((lambda v: v.uses_ground_truth,
                      f"need the demo corpus' ground_truth.json (the true personalities); {corpora.emotion.root} has none",
                      "no ground_truth.json: real corpora have no true personality"))
    if not corpora.has_text:
        missing = next(c for c in corpora.emotion_corpora if not c.has_text)
        lacks.append((lambda v: v.uses_text,
                      f"read transcripts; {missing.root} has none (no transcripts CSV: give --transcripts "
                      f"utterance_id,transcript, or {missing.root / TRANSCRIPTS_FILE})",
                      f"no transcripts for {missing.name}: only the audio-only variants run"))
    for needs, refusal, note in lacks:
        names_needing = [v.name for v in variants if needs(v)]
        if explicit and names_needing:
            raise ValueError(f"{', '.join(names_needing)} {refusal}")
        if names_needing:
            print(f"note: {', '.join(names_needing)} skipped ({note})")
        variants = [v for v in variants if not needs(v)]
    if not variants:
        raise ValueError("no variant of the selection can run on these corpora")
    return variants


def run_ablation(corpora: Corpora, profile: Profile, settings: StudySettings) -> str:
    """Body of ``mlflow run . -e ablation`` / ``paaan ablation``; returns the parent run id.

    A cross-corpus ablation (``corpora.test``) trains no final models and registers nothing: its models are
    scored on another corpus, and a corpus' own models are registered by its within-corpus ablation."""
    started = time.perf_counter()
    if corpora.test is not None and settings.register:
        print("note: a cross-corpus ablation registers no model (see the within-corpus ablation of "
              f"{corpora.emotion.name})", flush=True)
        settings = dataclasses.replace(settings, register=False)
    experiment_id = tracking.experiment_id()
    key = study_key(corpora, profile, settings, STEP)
    previous = find_previous(key, experiment_id, STEP)
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
                "gpus_per_trial": settings.gpus_per_trial, **corpus_params(corpora),
                "sspnet_root": corpora.sspnet, "protocol": settings.protocol,
                "folds_file": settings.folds_file or "", **profile.flat()})
            upstream = prepare_upstream(corpora, profile, settings.variants, workers=settings.workers,
                                        parent_run_id=parent_id)
            tracking.log_params(upstream.as_params())
            store = store_of(upstream.featurize)
            n_folds = len(make_folds(store.utterances, settings.protocol, settings.folds_file))
            context = TrialContext(tracking_uri=mlflow.get_tracking_uri(), experiment_id=experiment_id,
                                   parent_run_id=parent_id, study_key=key, profile=profile, upstream=upstream,
                                   protocol=settings.protocol, folds_file=settings.folds_file)
            start_ray(settings)
            study = run_study(context, settings, n_folds, len(store.clips), synthetic=corpora.demo)
            if settings.register and study.finals:
                register_final_models(study.finals, study.summary, study.results, task=profile.train.task,
                                      corpus=corpora.emotion.name)
            mlflow.log_metric("wall_seconds", time.perf_counter() - started)
            if corpora.test is not None:
                print(f"\n{describe_protocol(settings.protocol)}", flush=True)
            if profile.train.task == "dimensional":
                _print_dimensional(study.summary, study.comparisons, corpora.demo)
            else:
                _print_table(study.summary, study.comparisons, corpora.demo)
            if study.missing:
                raise RuntimeError(f"{study.missing} trials did not finish (after {settings.max_failures} retries "
                                   "each); rerun the same command to finish them")
        finally:
            closed = close_running(parent_id, experiment_id)
            if closed:
                print(f"closed {closed} runs left RUNNING as KILLED", flush=True)
            stop_ray()
    _print_where(parent_id)
    return parent_id


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


def _print_dimensional(summary: pd.DataFrame, comparisons: pd.DataFrame, synthetic: bool) -> None:
    print("\nTable I, dimensional (CCC mean ± std over folds):")
    print(f"  {'variant':<15} {'valence':>14} {'activation':>14} {'dominance':>14} {'mean':>6}")
    for row in summary.itertuples():
        cells = "  ".join(f"{getattr(row, f'ccc_{d}_mean'):.3f} ± {getattr(row, f'ccc_{d}_std'):.3f}"
                          for d in ("valence", "activation", "dominance"))
        print(f"  {row.variant:<15} {cells}  {row.ccc_mean:.3f}")
    for c in comparisons.itertuples():
        print(f"  {c.a} - {c.b} on {c.metric}: {c.mean_difference:+.3f} (95% CI {c.ci_low:+.3f} to {c.ci_high:+.3f}, "
              f"p = {c.t_test_p:.3g}, Holm {c.p_holm:.3g}; {c.folds} folds x {c.seeds} seeds)")
    if synthetic:
        print(f"  ({SYNTHETIC_NOTE})")


def _print_where(parent_run_id: str) -> None:
    uri = mlflow.get_tracking_uri()
    print(f"\nablation parent run: {parent_run_id}\nsee it in the MLflow UI:\n"
          f"  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri {uri} --workers 1 --host 127.0.0.1\n"
          f"  then open the 'paaan' experiment, expand run {parent_run_id[:8]}, select the 'Table I: ...' runs, "
          "press Compare.", flush=True)
