"""The ``train`` step: one variant on one cross-validation fold, logged to MLflow.

Upstream steps (featurize, shla, retrieve) are reused by run id or run now. ``train_and_log`` is shared
with the ablation's Ray trials: params (the protocol and fold among them), the corpus as an MLflow dataset,
learning curves (train loss, validation UAR (dimensional task: mean CCC and each dimension's) and loss,
learning rate, one point per epoch: ``step=epoch``), test metrics (UAR, WA, macro-F1, per-class recall; or
CCC, Pearson r and RMSE per dimension), the epoch chosen and the epochs run, the confusion matrix
(PNG and CSV, categorical task), per-utterance predictions, and the attention weights of every test utterance (alpha_A per
40 ms step with the step's 45 LLD values; alpha_T per word with the word and its POS tag) for the analysis.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from experiments import tracking  # noqa: E402
from experiments.corpora import Corpora  # noqa: E402
from experiments.datasets import log_corpus_inputs  # noqa: E402
from experiments.featurize import run_featurize, store_of  # noqa: E402
from experiments.retrieve import run_retrieve, source_inputs  # noqa: E402
from experiments.shla import run_shla  # noqa: E402
from paaan.config import Profile  # noqa: E402
from paaan.data.folds import Fold, make_folds  # noqa: E402
from paaan.data.schema import EMOTIONS  # noqa: E402
from paaan.features.store import FeatureStore  # noqa: E402
from paaan.personality import SHUFFLE_TRAIT, PersonalitySource, counterfactual_partners  # noqa: E402
from paaan.report import plot_confusion  # noqa: E402
from paaan.tasks import TASKS, get_task  # noqa: E402
from paaan.train import FoldResult, fit_speakers, pick_device, train_fold  # noqa: E402
from paaan.variants import Variant  # noqa: E402

STEP = "train"


@dataclass
class Upstream:
    """The run ids a training step reads from (passed to Ray trials as plain strings)."""

    featurize: str
    shla: str | None = None
    retrieve: dict[str, str] | None = None  # space -> retrieve run id (neighbour lists up to k_max)
    ground_truth: str | None = None  # the demo corpus' ground_truth.json, when there is one

    def as_params(self) -> dict[str, str]:
        out = {"featurize_run": self.featurize}
        if self.shla:
            out["shla_run"] = self.shla
        for space, run in (self.retrieve or {}).items():
            out[f"retrieve_run_{space}"] = run
        return out


def prepare_upstream(corpora: Corpora, profile: Profile, variants: list[Variant], seed: int = 0, workers: int = 0,
                     parent_run_id: str | None = None) -> Upstream:
    """featurize -> shla -> retrieve, as the variants' personality sources need them, each reused when already
    done with the same inputs."""
    sources = [PersonalitySource.for_variant(v) for v in variants]
    featurize = run_featurize(corpora, profile.features, workers=workers, parent_run_id=parent_run_id)
    shla = (run_shla(featurize, profile.shla, seed=seed, parent_run_id=parent_run_id)
            if any("encoder" in s.needs for s in sources) else None)
    retrieve = {space: run_retrieve(featurize, space, k=min(profile.retrieval.k, profile.tune.k_max),
                                    k_max=profile.tune.k_max, shla_run_id=shla,
                                    ground_truth=corpora.ground_truth, parent_run_id=parent_run_id)
                for space in sorted({s.kind for s in sources if s.retrieves})}
    truth = str(corpora.ground_truth) if corpora.ground_truth else None
    return Upstream(featurize, shla, retrieve, truth)


def personality_source(variant: Variant, k: int | None, upstream: Upstream, store: FeatureStore,
                       fold: Fold | str, profile: Profile, seed: int = 0) -> PersonalitySource | None:
    """The variant's ``PersonalitySource`` fitted for this fold: on the fold's training speakers, with what the
    source says it needs from the upstream steps (the SHLA encoder and its logged latents, the true traits);
    ``seed`` and the fold draw the shuffle (balanced within the fold's training and validation speakers)."""
    if not variant.uses_personality:
        return None
    number = fold.number if isinstance(fold, Fold) else 0
    source = PersonalitySource.for_variant(variant, k, seed, number)
    inputs = source_inputs(source, upstream.shla, upstream.ground_truth)
    groups = (fold.train_speakers, fold.validation_speakers) if isinstance(fold, Fold) else None
    return source.fit(store, fit_speakers(store, fold, profile, seed), groups=groups, **inputs)


def counterfactual_for(variant: Variant, upstream: Upstream, store: FeatureStore) -> dict[str, str] | None:
    """On a segment-gate demo corpus, for a variant with a personality: each speaker's session partner on the
    other side of extraversion, whose personality the testbed's counterfactual hands it (else None)."""
    if not variant.uses_personality or not upstream.ground_truth or not upstream.ground_truth.endswith(".json"):
        return None  # no demo corpus (a real corpus' traits CSV has no segments)
    truth = json.loads(Path(upstream.ground_truth).read_text())
    segments = truth.get("iemocap", {}).get("utterance_segments") or {}
    if not any("carrier" in info for info in segments.values()):
        return None
    sessions = store.utterances.drop_duplicates("speaker").set_index("speaker")["session"].to_dict()
    traits = {s: info["traits"][SHUFFLE_TRAIT] for s, info in truth["iemocap"]["speakers"].items()}
    return counterfactual_partners(sessions, traits)


def fold_of(store: FeatureStore, fold: int | str | Fold, protocol: str = "session",
            folds_file: str | None = None) -> int | str | Fold:
    """A fold number of ``protocol`` as its Fold ("all" and Fold objects pass through)."""
    if isinstance(fold, Fold) or fold == "all":
        return fold
    folds = make_folds(store.utterances, protocol, folds_file)
    if not 1 <= int(fold) <= len(folds):
        raise ValueError(f"fold must be in 1..{len(folds)} under protocol {protocol!r}, got {fold}")
    return folds[int(fold) - 1]


EPOCH_METRICS = ("train_loss", "val_loss", "lr",  # and each task's validation score and best so far (paaan.tasks)
                 *(m for t in TASKS for m in (t.val_metric, t.best_metric)))


def _is_epoch_metric(key: str) -> bool:
    return key in EPOCH_METRICS or key.startswith("val_ccc_")  # the dimensional task's per-dimension curves


def log_epoch(curves: tracking.MetricBuffer, record: dict) -> None:
    """One epoch's point of every learning curve (``step=epoch``, so the UI draws them against epochs)."""
    values = {k: v for k, v in record.items() if _is_epoch_metric(k)}
    values["epoch_seconds"] = record.get("seconds", 0.0)
    curves.log(values, step=int(record["epoch"]))


def train_and_log(variant: Variant, fold: int | str | Fold, seed: int, k: int | None, profile: Profile,
                  upstream: Upstream, extra_params: dict | None = None, device: str | None = None,
                  log_model: bool = False, want_attention: bool = True, protocol: str = "session",
                  folds_file: str | None = None, on_epoch=None, resume: dict | None = None) -> FoldResult:
    """Train in the active MLflow run and log everything the report and the analysis read.

    ``fold``: a fold number of ``protocol`` (1..n), "all" (a model of every utterance, nothing to test), or a
    Fold (an inner split). ``on_epoch(record, snapshot)`` is called after each epoch's curves are logged (the
    Ray trials report to Tune and checkpoint there); ``resume``: a snapshot to continue from, whose epochs
    are logged again into this run so its curves are whole.
    """
    store = store_of(upstream.featurize)
    resolved = fold_of(store, fold, protocol, folds_file)
    personality = personality_source(variant, k, upstream, store, resolved, profile, seed)
    fold_name = f"{resolved.number}-inner" if isinstance(fold, Fold) else fold
    params = {"variant": variant.name, "family": variant.family, "personality": variant.personality,
              "integration": variant.integration, "fold": fold_name, "seed": seed, "protocol": protocol,
              "folds_file": folds_file or "", "k": k if variant.uses_retrieval else "",
              "attention_score_used": variant.attention_score or profile.model.attention_score,
              "task": profile.train.task,
              "device": str(pick_device(device)),
              **upstream.as_params(), **profile.flat(), **(extra_params or {})}
    if isinstance(resolved, Fold):
        params["fold_name"] = resolved.name
    tracking.log_params({key: value for key, value in params.items() if value != ""})
    log_corpus_inputs(store, upstream, resolved)

    curves = tracking.MetricBuffer(mlflow.active_run().info.run_id)
    if resume:
        mlflow.set_tag("paaan.resumed_from_epoch", str(resume["epoch"]))
        for record in resume["history"]:
            log_epoch(curves, record)

    def epoch_done(record: dict, snapshot) -> None:
        log_epoch(curves, record)
        if on_epoch:
            on_epoch(record, snapshot)

    try:
        result = train_fold(store, variant, resolved, profile, personality=personality, seed=seed, device=device,
                            on_epoch=epoch_done, want_attention=want_attention, resume=resume,
                            counterfactual=counterfactual_for(variant, upstream, store) if want_attention else None)
    finally:  # a scheduler's stop raises through on_epoch: the epochs trained so far still belong to the run
        curves.flush()
    if result.metrics:
        mlflow.log_metrics(result.metrics)
    mlflow.log_metrics({"best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                        "train_seconds": result.seconds, "train_utterances": result.train_utterances,
                        "validation_utterances": result.validation_utterances})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if len(result.predictions):
            result.predictions.to_csv(tmp / "predictions.csv", index=False)
            if not get_task(result.task).regression:  # a confusion matrix is the categorical task's
                pd.DataFrame(result.confusion, index=EMOTIONS, columns=EMOTIONS).to_csv(tmp / "confusion_matrix.csv")
                plot_confusion(result.confusion, f"{variant.name}, fold {fold_name}", tmp / "confusion_matrix.png")
            if want_attention:
                _attention_artifacts(store, result, tmp)
        (tmp / "history.json").write_text(json.dumps(result.history, indent=1))
        if log_model:
            torch.save(result.model.state_dict(), tmp / "model_state.pt")
        mlflow.log_artifacts(str(tmp))
    return result


def _attention_artifacts(store: FeatureStore, result: FoldResult, folder: Path) -> None:
    utterances = store.utterances.set_index("utterance_id")
    if result.attention_audio is not None:
        att = result.attention_audio
        offsets = utterances.loc[att["utterance_id"], "lld_offset"].to_numpy()
        values = np.asarray(store.lld)[offsets + att["step"].to_numpy()]  # (n_steps, 45) z-normalised LLDs
        frame = pd.concat([att.assign(speaker=utterances.loc[att["utterance_id"], "speaker"].to_numpy()),
                           pd.DataFrame(values, columns=store.lld_names)], axis=1)
        frame.to_parquet(folder / "attention_audio.parquet", index=False)
    if result.attention_text is not None:
        att = result.attention_text
        offsets = utterances.loc[att["utterance_id"], "word_offset"].to_numpy()
        words = store.words.iloc[offsets + att["position"].to_numpy()]
        has_words = utterances.loc[att["utterance_id"], "n_words"].to_numpy() > 0
        frame = att.assign(speaker=utterances.loc[att["utterance_id"], "speaker"].to_numpy(),
                           token=np.where(has_words, words["token"].to_numpy(), ""),
                           pos=np.where(has_words, words["pos"].to_numpy(), ""))
        frame.to_parquet(folder / "attention_text.parquet", index=False)


def run_train(corpora: Corpora, profile: Profile, variant: Variant, fold: int | str, seed: int = 0,
              k: int | None = None, workers: int = 0, protocol: str = "session", folds_file: str | None = None) -> str:
    """Entry point body: upstream steps (reused), then one training run; returns its run id."""
    if variant.uses_ground_truth and not corpora.ground_truth:
        raise ValueError(f"{variant.name} needs the demo corpus' ground_truth.json; {corpora.emotion.root} has none")
    upstream = prepare_upstream(corpora, profile, [variant], workers=workers)
    k = k or profile.retrieval.k
    with tracking.step_run(f"{variant.name}-fold{fold}", STEP, entry=True) as run:
        result = train_and_log(variant, fold, seed, k, profile, upstream, log_model=True, protocol=protocol,
                               folds_file=folds_file)
        if result.metrics:
            m = result.metrics
            scored = (f"CCC {m['ccc']:.3f} (valence {m['ccc_valence']:.3f}, activation {m['ccc_activation']:.3f}, "
                      f"dominance {m['ccc_dominance']:.3f})" if get_task(result.task).regression else
                      f"UAR {m['uar']:.3f}, WA {m['wa']:.3f}, macro-F1 {m['f1_macro']:.3f}")
            print(f"{variant.name} fold {fold} ({protocol}): {scored} (best epoch {result.best_epoch} of "
                  f"{result.epochs_run} run, {result.seconds:.1f} s)", flush=True)
        return run.info.run_id
