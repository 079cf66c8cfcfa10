"""The ``analyze`` step: paper Fig. 2 (III-C) from a finished ablation, as a nested run under it.

Reads the ablation's fold trials of PAaAN_PP and IA+T: their ``attention_audio.parquet`` (alpha_A per test
40 ms step with the step's z-normalised LLDs) and ``attention_text.parquet`` (alpha_T per test token with
its Penn tag). Leave-one-session-out puts each speaker in exactly one test fold, so the five folds' tables
together hold every speaker once, each seen by models that never trained on them. With several seeds per
(variant, fold), the lowest seed (0) is analysed, so both variants are compared on the same seed.

Logs (``paaan.analysis`` does the numbers and pictures):

- ``fig2_acoustic.png``, ``fig2_lexical.png``: the two panels of Fig. 2 (speaker x category, PAaAN_PP - IA+T);
- ``fig2_acoustic.csv``, ``fig2_lexical.csv``: the differences; ``accumulated_acoustic.csv``,
  ``accumulated_lexical.csv``: each model's own accumulated attention; ``fig2_summary.csv``: per category the
  mean change and how many speakers went up / down;
- ``utterances/``: per speaker, the test utterances whose attention changed most, alpha_A over the loudness
  and F0 contours (de-normalised with the speaker's statistics) and words shaded by alpha_T, both models
  side by side;
- on a demo corpus (a ``ground_truth.json`` beside the IEMOCAP root): ``diagnostic.csv`` and the Spearman
  correlations between planted expression shift and attention change as metrics.

Reused when a FINISHED analyze run has the same ablation, settings and code version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from experiments import tracking
from experiments.cache import cache_key
from experiments.runs import children
from experiments.featurize import store_of
from paaan import analysis
from paaan.data.corpus import parse_spec
from paaan.errors import FeatureError, PaaanError
from paaan.features.acoustic import LLD_NAMES

STEP = "analyze"
PERSONAL, BASELINE = "PAaAN_PP", "IA+T"  # Fig. 2: with the retrieved PP embedding vs without personality
AUDIO_ARTIFACT, TEXT_ARTIFACT = "attention_audio.parquet", "attention_text.parquet"


# --- which runs --------------------------------------------------------------------------------------------


def find_ablation(ablation_run_id: str | None, experiment_id: str):
    """The ablation parent run: the one named, else the latest FINISHED one in the experiment (else in any).

    The fallback matters under ``mlflow run`` without ``--experiment-name``: its entry run, hence this step,
    lives in the Default experiment, while a ``paaan ablation`` run lives in ``paaan``.
    """
    client = MlflowClient()
    if ablation_run_id:
        run = client.get_run(ablation_run_id)
        if run.data.tags.get(tracking.TAG_STEP) != "ablation":
            raise PaaanError(f"run {ablation_run_id} is not an ablation run (tag {tracking.TAG_STEP} = "
                             f"{run.data.tags.get(tracking.TAG_STEP)!r})")
        return run
    query = f"tags.`{tracking.TAG_STEP}` = 'ablation' and attributes.status = 'FINISHED'"
    for experiments in ([experiment_id], [e.experiment_id for e in client.search_experiments()]):
        runs = client.search_runs(experiments, filter_string=query, order_by=["attributes.end_time DESC"],
                                  max_results=1)
        if runs:
            return runs[0]
    raise PaaanError("no finished ablation run in this tracking store: run the ablation first "
                     "(mlflow run . -e ablation --env-manager local), or pass --ablation-run-id")


def fold_trials(ablation_run_id: str, experiment_id: str, variants=(PERSONAL, BASELINE)) -> tuple[int, dict]:
    """(seed, {variant: {fold: run}}): the finished fold trials of both variants, lowest common seed."""
    runs = [r for r in children(ablation_run_id, experiment_id, "trial")
            if r.data.tags.get("paaan.role") == "fold" and r.info.status == "FINISHED"]
    found: dict[str, dict[int, dict[int, object]]] = {v: {} for v in variants}
    for run in runs:
        variant = run.data.tags.get("paaan.variant")
        if variant in found:
            seed, fold = int(run.data.params.get("seed", 0)), int(run.data.tags["paaan.fold"])
            found[variant].setdefault(seed, {})[fold] = run
    seeds = set.intersection(*(set(by_seed) for by_seed in found.values()))
    if not seeds:
        have = {v: sorted(by_seed) for v, by_seed in found.items()}
        raise PaaanError(f"ablation {ablation_run_id} has no seed with finished fold trials of both "
                         f"{' and '.join(variants)} (seeds found: {have}); Fig. 2 compares exactly these two")
    seed = min(seeds)
    if len(seeds) > 1:
        print(f"analyze: {len(seeds)} seeds per (variant, fold); analysing seed {seed}", flush=True)
    chosen = {v: found[v][seed] for v in variants}
    folds = [set(by_fold) for by_fold in chosen.values()]
    if folds[0] != folds[1]:
        raise PaaanError(f"ablation {ablation_run_id}: {variants[0]} has folds {sorted(folds[0])}, "
                         f"{variants[1]} has {sorted(folds[1])} (seed {seed}); both need the same test folds")
    return seed, chosen


def load_attention(runs: dict, artifact: str, required: list[str]) -> pd.DataFrame:
    """One variant's attention tables of all folds, concatenated (each speaker is in one test fold)."""
    frames = []
    for fold, run in sorted(runs.items()):
        path = tracking.local_artifact_dir(run.info.run_id, artifact)
        frame = pd.read_parquet(path)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise FeatureError(path, f"missing column(s) {', '.join(missing[:5])}; was it written by train_and_log?")
        frames.append(frame.assign(fold=fold))
    table = pd.concat(frames, ignore_index=True)
    folds_of = table.groupby("speaker")["fold"].nunique()
    if (folds_of > 1).any():
        raise PaaanError(f"{artifact}: speakers {list(folds_of[folds_of > 1].index)} are in several test folds")
    return table


def _same_rows(tables: dict[str, pd.DataFrame], keys: list[str], artifact: str) -> None:
    (a, ta), (b, tb) = tables.items()
    if len(ta) != len(tb) or not ta[keys].sort_values(keys).reset_index(drop=True).equals(
            tb[keys].sort_values(keys).reset_index(drop=True)):
        raise PaaanError(f"{artifact}: {a} and {b} were tested on different utterances or steps "
                         f"({len(ta)} vs {len(tb)} rows); were they trained on different feature stores?")


def ground_truth_of(ablation) -> Path | None:
    """The demo corpus' ground_truth.json beside the ablation's emotion corpus (its IEMOCAP root, or an EmoBox
    corpus folder), if there is one."""
    params = ablation.data.params  # under `mlflow run` the resolved root is logged as iemocap_root.resolved
    spec = params.get("emotion_corpus.resolved") or params.get("emotion_corpus") or ""
    root = params.get("iemocap_root.resolved") or params.get("iemocap_root") or parse_spec(spec)[1]
    if not root:
        return None
    truth = Path(root).expanduser().parent / "ground_truth.json"
    return truth if truth.is_file() else None


# --- the step ----------------------------------------------------------------------------------------------


def run_analyze(ablation_run_id: str | None = None, per_speaker: int = 2, combine: str = "per_dimension",
                force: bool = False) -> str:
    """Body of ``mlflow run . -e analyze`` / ``paaan analyze``: Fig. 2 as a run nested under the ablation."""
    experiment_id = tracking.experiment_id()
    ablation = find_ablation(ablation_run_id, experiment_id)
    ablation_id = ablation.info.run_id
    truth = ground_truth_of(ablation)
    key = cache_key(STEP, {"ablation": ablation_id, "per_speaker": per_speaker, "combine": combine,
                           "ground_truth": str(truth)})
    cached = None if force else tracking.cached_step(STEP, key, entry=True)
    if cached is not None:
        return cached
    if ablation.info.experiment_id != experiment_id:
        print(f"analyze: the ablation is in experiment {ablation.info.experiment_id}, this run in {experiment_id}; "
              "the MLflow UI nests runs within one experiment (mlflow run --experiment-name paaan ...)", flush=True)
    if ablation.data.params.get("train.task", "categorical") != "categorical":
        raise PaaanError(f"ablation {ablation_id} ran the {ablation.data.params['train.task']} task; Fig. 2 reads the "
                         "categorical task's attention per emotion class: give a categorical ablation's run id")
    own = ablation.data.params.get("features.audio_features", "")
    if own:
        raise PaaanError(f"ablation {ablation_id} trained on its own frame-level features ({own}), not the 45 "
                         "openSMILE LLDs; the attention analysis (III-C) sorts 40 ms steps by LLD category, so it "
                         "needs an LLD study")
    seed, trials = fold_trials(ablation_id, ablation.info.experiment_id)
    audio = {v: load_attention(runs, AUDIO_ARTIFACT, ["utterance_id", "step", "alpha", "speaker", *LLD_NAMES])
             for v, runs in trials.items()}
    text = {v: load_attention(runs, TEXT_ARTIFACT, ["utterance_id", "position", "alpha", "speaker", "token", "pos"])
            for v, runs in trials.items()}
    _same_rows(audio, ["utterance_id", "step"], AUDIO_ARTIFACT)
    _same_rows(text, ["utterance_id", "position"], TEXT_ARTIFACT)
    params = ablation.data.params
    step_seconds = float(params.get("features.frame_step", 0.01)) * int(params.get("features.pool_frames", 4))

    tags = {tracking.TAG_KEY: key, "paaan.ablation_run": ablation_id}
    with tracking.step_run("analyze", STEP, parent_run_id=ablation_id, tags=tags, entry=True) as run:
        tracking.log_params({"ablation_run": ablation_id, "seed": seed, "combine": combine,
                             "per_speaker": per_speaker, "featurize_run": params.get("featurize_run", ""),
                             "folds": ",".join(str(f) for f in sorted(trials[PERSONAL])),
                             **{f"runs_{v.replace('+', 'p')}": ",".join(r.info.run_id for _, r in sorted(runs.items()))
                                for v, runs in trials.items()}})
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            metrics = _fig2(audio, text, combine, tmp)
            if truth is not None:
                folds = audio[PERSONAL].groupby("speaker")["fold"].first()
                metrics |= _diagnostic(tmp, truth, folds)
            else:
                print("analyze: no ground_truth.json beside the IEMOCAP root (real corpus): no diagnostic", flush=True)
            written = _utterance_pictures(audio, text, trials, params.get("featurize_run"), per_speaker,
                                          step_seconds, tmp / "utterances")
            metrics["utterance_pictures"] = float(written)
            mlflow.log_artifacts(str(tmp))
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        print(f"analyze: Fig. 2 of ablation {ablation_id[:8]} (seed {seed}, {len(audio[PERSONAL]['speaker'].unique())} "
              f"speakers, {written} utterance pictures) logged in run {run.info.run_id}", flush=True)
        return run.info.run_id


def _fig2(audio: dict, text: dict, combine: str, out: Path) -> dict[str, float]:
    """Both Fig. 2 panels, their CSVs and the per-category summary; returns summary metrics."""
    acoustic = {v: analysis.acoustic_accumulation(t, combine) for v, t in audio.items()}
    lexical = {v: analysis.lexical_accumulation(t) for v, t in text.items()}
    changes = {"acoustic": analysis.attention_change(acoustic[PERSONAL], acoustic[BASELINE]),
               "lexical": analysis.attention_change(lexical[PERSONAL], lexical[BASELINE])}
    analysis.long_table(acoustic).to_csv(out / "accumulated_acoustic.csv", index=False)
    analysis.long_table(lexical).to_csv(out / "accumulated_lexical.csv", index=False)
    summaries = []
    for modality, change in changes.items():
        change.to_csv(out / f"fig2_{modality}.csv")
        summaries.append(analysis.change_summary(change).reset_index().assign(modality=modality))
    rule = "share of its dimensions above the speaker's average" if combine == "per_dimension" else \
        "mean of its dimensions above the speaker's average"
    analysis.plot_change_map(changes["acoustic"], out / "fig2_acoustic.png", labels=analysis.CATEGORY_LABELS,
                             title=r"Fig. 2, $\alpha_A$: change in attention on salient 40 ms steps"
                                   f"\n(step salient in a category: {rule})")
    analysis.plot_change_map(changes["lexical"], out / "fig2_lexical.png",
                             title=r"Fig. 2, $\alpha_T$: change in attention on each part of speech (with sub-tags)")
    summary = pd.concat(summaries, ignore_index=True)[["modality", "category", "mean_change", "speakers_up",
                                                      "speakers_down"]]
    summary.to_csv(out / "fig2_summary.csv", index=False)
    return {f"mean_change_{row.modality}_{row.category}": float(row.mean_change) for row in summary.itertuples()}


def _diagnostic(out: Path, truth: Path, folds: pd.Series) -> dict[str, float]:
    """Planted expression shift vs attention change, per speaker (demo corpus only)."""
    changes = {m: pd.read_csv(out / f"fig2_{m}.csv", index_col="speaker") for m in ("acoustic", "lexical")}
    table, result = analysis.personality_diagnostic(changes, analysis.planted_expression(truth), folds)
    table.to_csv(out / "diagnostic.csv", index=False)
    print("analyze diagnostic (planted expression shift vs attention change, Spearman): " + ", ".join(
        f"{m} rho {result[f'spearman_{m}']:+.2f} (p {result[f'spearman_{m}_p']:.2f}, same-fold pairs ordered "
        f"alike {result[f'within_fold_concordance_{m}']:.2f})" for m in ("acoustic", "lexical", "total"))
        + f" over {result['speakers']:.0f} speakers, {result['within_fold_pairs_total']:.0f} same-fold pairs", flush=True)
    return {f"diagnostic_{k}": v for k, v in result.items()}


def _utterance_pictures(audio: dict, text: dict, trials: dict, featurize_run: str | None, per_speaker: int,
                        step_seconds: float, out: Path) -> int:
    """Per speaker, the ``per_speaker`` most-changed test utterances as side-by-side attention pictures."""
    if per_speaker <= 0:
        return 0
    out.mkdir()
    store = store_of(featurize_run) if featurize_run else None
    utterances = store.utterances.set_index("utterance_id") if store is not None else None
    stats = store.lld_speaker_stats.set_index("speaker") if store is not None else None
    labels = _labels(trials)
    chosen = analysis.most_changed_utterances(audio, text, per_speaker)
    for row in chosen.itertuples():
        steps = {v: t[t["utterance_id"] == row.utterance_id].sort_values("step") for v, t in audio.items()}
        tokens = {v: t[t["utterance_id"] == row.utterance_id].sort_values("position") for v, t in text.items()}
        first = steps[PERSONAL]
        contours = pd.DataFrame({"loudness": first["pcm_loudness_sma"].to_numpy(float),
                                 "f0": first["F0_sma"].to_numpy(float)})
        units = {"loudness": "z", "f0": "z"}
        if stats is not None and row.speaker in stats.index:
            s = stats.loc[row.speaker]
            contours["loudness"] = analysis.denormalise(contours["loudness"], s["mean:pcm_loudness_sma"],
                                                        s["std:pcm_loudness_sma"])
            f0 = analysis.denormalise(contours["f0"], s["mean:F0_sma"], s["std:F0_sma"])
            contours["f0"] = np.where(f0 >= 1.0, f0, np.nan)  # openSMILE's F0 is 0 on unvoiced frames
            units = {"loudness": "openSMILE", "f0": "Hz"}
        words = _word_spans(tokens[PERSONAL], row.utterance_id, store, utterances)
        truth = labels.get((BASELINE, row.utterance_id), {}).get("label", "?")
        said = ", ".join(f"{v} says {labels.get((v, row.utterance_id), {}).get('prediction', '?')}" for v in trials)
        title = f"{row.utterance_id} (speaker {row.speaker}, true {truth}; {said}); attention change {row.change:.2f}"
        analysis.plot_utterance(contours, {v: s["alpha"].to_numpy(float) for v, s in steps.items()}, words,
                                {v: t["alpha"].to_numpy(float) for v, t in tokens.items()},
                                out / f"{row.speaker}_{row.utterance_id}.png", title, step_seconds, units)
    return len(chosen)


def _word_spans(tokens: pd.DataFrame, utterance_id: str, store, utterances) -> pd.DataFrame:
    """Tokens of one utterance with their aligned step spans from the feature store (-1 when unknown)."""
    words = pd.DataFrame({"token": tokens["token"].to_numpy(), "first_step": -1, "last_step": -1})
    if store is not None and utterance_id in utterances.index:
        offset = int(utterances.loc[utterance_id, "word_offset"])
        rows = store.words.iloc[offset + tokens["position"].to_numpy(int)]
        words["first_step"] = rows["first_step"].to_numpy(int)
        words["last_step"] = rows["last_step"].to_numpy(int)
    return words


def _labels(trials: dict) -> dict[tuple[str, str], dict]:
    """(variant, utterance) -> its true label and prediction, from the trials' predictions.csv (if logged)."""
    out = {}
    for variant, runs in trials.items():
        for run in runs.values():
            try:
                frame = pd.read_csv(tracking.local_artifact_dir(run.info.run_id, "predictions.csv"))
            except (FileNotFoundError, OSError):
                continue
            for rec in frame[["utterance_id", "label", "prediction"]].to_dict("records"):
                out[(variant, rec["utterance_id"])] = rec
    return out
