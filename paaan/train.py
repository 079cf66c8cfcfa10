"""Train and evaluate one variant on one cross-validation fold (paper III-A).

``train_fold`` is the whole recipe: split (the fold's test speakers out; model selection on its held-out
training speakers, or on a stratified share of the training utterances, per ``TrainConfig.validation``),
build the variant's network, fit with Adam until the validation UAR stops improving (``patience``) or for
every epoch, restore the best epoch, score the test speakers (UAR, WA, macro-F1, per-class recall,
confusion), and return predictions and the attention weights of every test utterance. No MLflow, no Ray:
``experiments/train.py`` logs what this returns, and a Ray trial checkpoints what ``fit`` hands its
``on_epoch`` callback (``snapshot()``) and passes it back as ``resume`` after a crash.

Batches are length-aware: utterances of similar length are batched together (shuffled within and across
buckets), so little time goes to padding; masked recurrences and attention make padding harmless.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from paaan.config import Profile
from paaan.data.folds import Fold, all_rows_fold, get_fold, validation_split
from paaan.data.schema import DIMENSIONS, EMOTIONS
from paaan.features.alignment import step_to_word
from paaan.features.store import FeatureStore
from paaan.errors import PaaanError
from paaan.metrics import confusion
from paaan.models import NO_WORD, Batch, build_model, make_batch
from paaan.personality import PersonalitySource
from paaan.tasks import Task, ccc_loss, get_task
from paaan.variants import Variant

LABEL_INDEX = {emotion: i for i, emotion in enumerate(EMOTIONS)}
# Validation and test passes run in batches of at least this many utterances: with no backward pass, a
# batch's cost is mostly the recurrences' sequential steps, so fewer, larger batches are faster (the
# scores are the same up to float rounding; utterances are still grouped by length).
EVAL_BATCH = 128


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when there is a GPU, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- the corpus as tensors -----------------------------------------------------------------------------


@dataclass
class CorpusTensors:
    """Every utterance of a feature store as tensors, built once per process and shared by trials."""

    audio: list[torch.Tensor]  # (T_A, 45) per utterance
    words: list[torch.Tensor]  # (T_W, D) per utterance (one zero vector when the transcript has no token)
    step_word: list[torch.Tensor]  # (T_A,) the word each audio step falls in, -1 if none
    labels: np.ndarray  # (n,) int64 class indices
    ratings: np.ndarray  # (n, 3) float32 valence, activation, dominance minus the scale's midpoint (NaN if unrated)
    speakers: np.ndarray  # (n,) speaker ids
    utterance_ids: np.ndarray
    audio_lengths: np.ndarray


@lru_cache(maxsize=2)
def corpus_tensors(store_path: str) -> CorpusTensors:
    store = FeatureStore(store_path)
    table, words = store.utterances, store.words
    vectors = np.asarray(store.vectors, dtype=np.float32)
    lld = np.array(store.lld, dtype=np.float32)  # into memory (the store is memory-mapped read-only)
    # OOV tokens (vocab_id -1) get the zero vector (see paaan.features.text).
    padded_vectors = np.vstack([vectors, np.zeros((1, vectors.shape[1]), np.float32)])
    vocab_ids = words["vocab_id"].to_numpy()
    word_matrix = padded_vectors[np.where(vocab_ids < 0, len(vectors), vocab_ids)]
    first, last = words["first_step"].to_numpy(), words["last_step"].to_numpy()
    audio, word_tensors, step_words = [], [], []
    for row in table.itertuples():
        steps = int(row.lld_steps)
        audio.append(torch.from_numpy(lld[row.lld_offset: row.lld_offset + steps]))
        w0, n = int(row.word_offset), int(row.n_words)
        if n == 0:
            word_tensors.append(torch.zeros(1, vectors.shape[1]))
            step_words.append(torch.full((steps,), -1, dtype=torch.int64))
            continue
        word_tensors.append(torch.from_numpy(word_matrix[w0: w0 + n]))
        step_words.append(torch.from_numpy(step_to_word(first[w0: w0 + n], last[w0: w0 + n], steps).astype(np.int64)))
    return CorpusTensors(
        audio=audio, words=word_tensors, step_word=step_words,
        labels=table["label"].map(LABEL_INDEX).to_numpy(np.int64),
        ratings=_centred_ratings(table),
        speakers=table["speaker"].to_numpy(), utterance_ids=table["utterance_id"].to_numpy(),
        audio_lengths=table["lld_steps"].to_numpy(np.int64),
    )


def _centred_ratings(table: pd.DataFrame) -> np.ndarray:
    """(n, 3) the store's ratings in DIMENSIONS order minus the dimensional task's centre (NaN where absent)."""
    center = get_task("dimensional").center
    columns = [table[d].to_numpy(np.float32) if d in table else np.full(len(table), np.nan, np.float32)
               for d in DIMENSIONS]
    return np.stack(columns, axis=1) - np.float32(center)


def check_ratings(data: CorpusTensors, rows: np.ndarray) -> None:
    """The dimensional task needs every used utterance rated: an error naming the first unrated ones."""
    missing = rows[~np.isfinite(data.ratings[rows]).all(axis=1)]
    if len(missing):
        ids = ", ".join(str(u) for u in data.utterance_ids[missing[:5]])
        raise PaaanError(f"the dimensional task needs valence, activation and dominance for every utterance; "
                         f"{len(missing)} have none (first: {ids})")


def batches(rows: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None,
            length_buckets: bool = True) -> list[np.ndarray]:
    """Split ``rows`` into batches; with ``rng`` shuffled, with ``length_buckets`` grouped by length.

    Length-aware: sort by length (random tie order), cut into batches, shuffle the batch order, so each
    batch pads to a similar length and the epoch still visits batches in random order.
    """
    rows = np.asarray(rows)
    if length_buckets:
        jitter = rng.random(len(rows)) if rng is not None else np.zeros(len(rows))
        rows = rows[np.lexsort((jitter, lengths[rows]))]
    elif rng is not None:
        rows = rows[rng.permutation(len(rows))]
    chunks = [rows[i: i + batch_size] for i in range(0, len(rows), batch_size)]
    if rng is not None:
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    return chunks


def collate(data: CorpusTensors, rows: np.ndarray, personality: np.ndarray) -> Batch:
    """A padded Batch of these rows; ``personality`` is (n_utterances, 25), indexed like the corpus."""
    return make_batch(
        audio=[data.audio[i] for i in rows], words=[data.words[i] for i in rows],
        step_word=[data.step_word[i] for i in rows], personality=torch.from_numpy(personality[rows]),
        labels=torch.from_numpy(data.labels[rows]), ratings=torch.from_numpy(data.ratings[rows]),
    )


# --- fitting -------------------------------------------------------------------------------------------


@dataclass
class FoldResult:
    variant: str
    fold: int | str
    seed: int
    metrics: dict[str, float]  # test scores (empty for an all-sessions model)
    history: list[dict[str, float]]  # per epoch: train_loss, val_<score>, val_loss, best_val_<score>, lr, seconds
    best_epoch: int
    predictions: pd.DataFrame  # per test utterance: id, speaker, label, prediction, class probabilities
    # (dimensional: each dimension's rating and its prediction on the 1-5 scale, ``<dim>`` and ``pred_<dim>``)
    attention_audio: pd.DataFrame | None  # per test audio step: utterance_id, step, alpha
    attention_text: pd.DataFrame | None  # per test word: utterance_id, position, alpha
    confusion: np.ndarray
    model: torch.nn.Module
    personality_stats: dict[str, list[float]] = field(default_factory=dict)  # mean/std used to standardise
    personality: PersonalitySource | None = None  # the fitted source (None for variants without one)
    seconds: float = 0.0
    train_utterances: int = 0
    validation_utterances: int = 0
    epochs_run: int = 0
    resumed_from_epoch: int = 0  # > 0 when ``fit`` continued from a checkpoint
    task: str = "categorical"


def task_loss(task: Task, model, output, batch: Batch) -> torch.Tensor:
    """The training loss: the family's own (cross-entropy and its extra terms) for the categorical task, the
    CCC loss on the ratings for the dimensional one (``paaan.tasks``)."""
    if task.regression:
        return ccc_loss(output.logits, batch.ratings)
    return model.loss(output, batch.labels)


def truth_of(task: Task, data: CorpusTensors, rows: np.ndarray) -> np.ndarray:
    """What ``task.score`` compares the outputs with: class indices or centred ratings."""
    return data.ratings[rows] if task.regression else data.labels[rows]


def evaluate(model, data, rows, personality, batch_size, device, want_attention: bool, task: Task | None = None):
    """Score ``rows`` of ``data`` (no gradients, batches grouped by length): (rows in order, class
    probabilities (n, 4) or centred ratings (n, 3) for the dimensional task, the mean loss (cross-entropy,
    or the CCC loss over all rows at once), and with ``want_attention`` each row's audio and text
    attention weights as (row, alpha) pairs)."""
    regression = task is not None and task.regression
    model.eval()
    probs, losses, audio_alpha, text_alpha = [], [], [], []
    with torch.no_grad():
        for chunk in batches(rows, data.audio_lengths, batch_size, rng=None, length_buckets=True):
            batch = collate(data, chunk, personality).to(device)
            out = model(batch)
            if regression:
                probs.append((chunk, out.logits.cpu().numpy()))
            else:
                losses.append(torch.nn.functional.cross_entropy(out.logits, batch.labels, reduction="sum").item())
                probs.append((chunk, torch.softmax(out.logits, dim=1).cpu().numpy()))
            if want_attention:
                for name, alpha, lengths, sink in (("audio", out.alpha_audio, batch.audio_lengths, audio_alpha),
                                                   ("text", out.alpha_text, batch.word_lengths, text_alpha)):
                    if alpha is None:
                        continue
                    alpha = alpha.cpu().numpy()
                    for j, row in enumerate(chunk):
                        sink.append((row, alpha[j, : int(lengths[j])]))
    order = np.concatenate([c for c, _ in probs])
    p = np.concatenate([q for _, q in probs])
    inverse = np.argsort(order)
    rows_, p = order[inverse], p[inverse]
    if regression:
        loss = float(ccc_loss(torch.from_numpy(p), torch.from_numpy(data.ratings[rows_])))
    else:
        loss = sum(losses) / max(len(rows), 1)
    return rows_, p, loss, audio_alpha, text_alpha


def training_rows(fold: Fold, labels: np.ndarray, validation: str, val_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows) of a fold under ``TrainConfig.validation``.

    "speakers": fit on the fold's training speakers, validate on its held-out training speakers
    (``fold.validation``). "utterances": a stratified ``val_fraction`` of every training utterance outside the
    test set (the held-out speakers included) validates, the rest fits. The test rows are never in either.
    """
    if validation == "speakers":
        return np.sort(fold.train), np.sort(fold.validation)
    if validation != "utterances":
        raise ValueError(f"unknown validation {validation!r}; known: speakers, utterances")
    pool = np.setdiff1d(np.concatenate([fold.train, fold.validation]), fold.test)
    return validation_split(pool, labels[pool], val_fraction, seed)


def fit(model: torch.nn.Module, data: CorpusTensors, train_rows: np.ndarray, val_rows: np.ndarray,
        personality: np.ndarray, profile: Profile, seed: int, device: torch.device,
        on_epoch: Callable[[dict, Callable[[], dict]], None] | None = None,
        resume: dict | None = None) -> tuple[list[dict], int]:
    """Adam on the task's loss (``task_loss``: cross-entropy plus the model's own terms, or the dimensional
    task's CCC loss), epoch by epoch, with early stopping.

    The validation score is the task's (``paaan.tasks``: UAR, or the mean CCC). Runs ``profile.train.epochs``
    epochs, or fewer with ``patience``: training stops once the validation score has not improved for
    ``patience`` epochs. With ``select_best_epoch`` and validation rows, the weights of the epoch with the
    best validation score (the first one, on ties) are restored at the end; otherwise the
    last epoch's are kept. ``on_epoch(record, snapshot)`` is called after every epoch; ``snapshot()`` returns
    everything needed to continue after that epoch (weights, optimizer, best weights so far, history, random
    states), which ``resume`` takes back: a resumed fit continues exactly where the snapshot left off.
    """
    cfg = profile.train
    task = get_task(cfg.task)
    rng = np.random.default_rng(seed)
    noise = torch.Generator().manual_seed(seed)
    dropout_rng = np.random.default_rng([seed, 0xA11])  # its own stream: off, it changes no other draw
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history, best_score, best_state, best_epoch, first = [], -1.0 if not task.regression else -np.inf, None, 0, 1
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        history, best_score, best_epoch = list(resume["history"]), resume["best_score"], resume["best_epoch"]
        best_state = resume["best_state"]
        rng.bit_generator.state = resume["rng"]
        noise.set_state(resume["noise"])
        dropout_rng.bit_generator.state = resume["dropout_rng"]
        torch.set_rng_state(resume["torch_rng"])
        first = int(resume["epoch"]) + 1
    validate = len(val_rows) > 0
    for epoch in range(first, cfg.epochs + 1):
        if validate and cfg.patience and epoch - max(best_epoch, 1) > cfg.patience:
            break  # a resumed fit that had already decided to stop
        started = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for chunk in batches(train_rows, data.audio_lengths, cfg.batch_size, rng, cfg.length_buckets):
            batch = collate(data, chunk, personality)
            if cfg.personality_noise > 0:
                batch.personality = batch.personality + cfg.personality_noise * torch.randn(
                    batch.personality.shape, generator=noise)
            if cfg.alignment_dropout > 0 and dropout_rng.random() < cfg.alignment_dropout:
                batch.step_word = torch.full_like(batch.step_word, NO_WORD)  # as served without word timings
            batch = batch.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = task_loss(task, model, model(batch), batch)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chunk)
            count += len(chunk)
        record = {"epoch": epoch, "train_loss": total / max(count, 1), "lr": optimizer.param_groups[0]["lr"]}
        if validate:
            rows, outputs, val_loss, _, _ = evaluate(model, data, val_rows, personality,
                                                     max(cfg.batch_size, EVAL_BATCH), device, False, task)
            val = task.score(truth_of(task, data, rows), outputs)
            score = val[task.selection]
            record.update({task.val_metric: score, "val_loss": val_loss})
            if task.regression:  # each dimension's curve too
                record.update({f"val_{m}": val[m] for m in val if m.startswith("ccc_")})
            if score > best_score:
                best_score, best_epoch = score, epoch
                if cfg.select_best_epoch:
                    best_state = copy.deepcopy(model.state_dict())
            record[task.best_metric] = best_score
        else:
            best_epoch = epoch
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if on_epoch:
            def snapshot(epoch=epoch) -> dict:
                return {"epoch": epoch, "model": copy.deepcopy(model.state_dict()),
                        "optimizer": copy.deepcopy(optimizer.state_dict()), "history": list(history),
                        "best_score": best_score, "best_epoch": best_epoch, "best_state": best_state,
                        "rng": rng.bit_generator.state, "noise": noise.get_state(),
                        "dropout_rng": dropout_rng.bit_generator.state, "torch_rng": torch.get_rng_state()}

            on_epoch(record, snapshot)
        if validate and cfg.patience and epoch - best_epoch >= cfg.patience:
            break
    if not (validate and cfg.select_best_epoch):
        best_epoch = history[-1]["epoch"] if history else 0
    elif best_state is not None:
        model.load_state_dict(best_state)
    return history, best_epoch


def resolve_fold(store: FeatureStore, fold: int | str | Fold) -> Fold:
    """A ``Fold`` as given, "all" (every utterance trains), or a leave-one-session-out fold number."""
    if isinstance(fold, Fold):
        return fold
    if fold == "all":
        return all_rows_fold(store.utterances)
    return get_fold(store.utterances, int(fold))


def _fit_and_validation_rows(fold: Fold, every_utterance: bool, labels: np.ndarray, profile: Profile,
                             seed: int) -> tuple[np.ndarray, np.ndarray]:
    if every_utterance:
        return np.sort(fold.train), fold.validation
    return training_rows(fold, labels, profile.train.validation, profile.train.val_fraction, seed)


def fit_speakers(store: FeatureStore | str, fold: int | str | Fold, profile: Profile, seed: int = 0) -> list[str]:
    """The speakers whose utterances a ``train_fold`` with these arguments fits on (sorted): the ones a
    ``PersonalitySource`` for it is fitted with, so its standardisation uses exactly the training speakers."""
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    f = resolve_fold(store, fold)
    table = store.utterances
    labels = table["label"].map(LABEL_INDEX).to_numpy(np.int64)
    fit_rows, _ = _fit_and_validation_rows(f, fold == "all", labels, profile, seed)
    return sorted(set(table["speaker"].to_numpy()[fit_rows]))


def train_fold(store: FeatureStore | str, variant: Variant, fold: int | str | Fold, profile: Profile,
               personality: PersonalitySource | None = None, seed: int = 0, device: str | None = None,
               on_epoch: Callable[[dict, Callable[[], dict]], None] | None = None, want_attention: bool = True,
               resume: dict | None = None, counterfactual: Mapping[str, str] | None = None) -> FoldResult:
    """Train ``variant`` on one fold and score its test speakers.

    ``fold``: a ``Fold`` (any protocol, or an inner split for k tuning), a leave-one-session-out fold number
    1..5, or "all": a model of every utterance, trained for exactly ``profile.train.epochs`` epochs with no
    validation and nothing to test (the ablation sets those epochs from the folds' chosen epochs).
    ``personality``: for variants that use one, a ``PersonalitySource`` fitted on this corpus with this fold's
    training speakers (``fit_speakers``), whose statistics standardise every speaker's embedding.
    ``on_epoch`` / ``resume``: see ``fit``.
    ``counterfactual`` (speaker -> partner, ``paaan.personality.counterfactual_partners``): the test speakers
    are scored a second time, each handed its partner's embedding, and ``predictions`` gains the column
    ``counterfactual`` (the prediction then); speakers without a partner keep their own. Nothing else changes.
    """
    started = time.perf_counter()
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    data = corpus_tensors(str(store.path.resolve()))
    device_ = pick_device(device)
    if profile.train.threads:
        torch.set_num_threads(profile.train.threads)
    torch.manual_seed(seed)
    task = get_task(profile.train.task)
    f = resolve_fold(store, fold)
    fold_id = "all" if fold == "all" else f.number
    fit_rows, val_rows = _fit_and_validation_rows(f, fold == "all", data.labels, profile, seed)
    test_rows = f.test
    if task.regression:
        check_ratings(data, np.concatenate([fit_rows, val_rows, test_rows]).astype(np.int64))

    stats: dict[str, list[float]] = {}
    if variant.uses_personality:
        if personality is None or getattr(personality, "train_speakers_", None) is None:
            raise ValueError(f"variant {variant.name} needs a fitted PersonalitySource")
        train_speakers = sorted(set(data.speakers[fit_rows]))
        if list(personality.train_speakers_) != train_speakers:
            raise ValueError(f"the personality source of {variant.name} was fitted on other training speakers "
                             f"({list(personality.train_speakers_)[:4]}...) than this fold's ({train_speakers[:4]}...)")
        stats = {"mean": personality.mean_.tolist(), "std": personality.std_.tolist()}
    per_utterance = (personality if variant.uses_personality else PersonalitySource()).embed(None, data.speakers)

    model = build_model(variant, profile.model, audio_dim=int(data.audio[0].shape[1]), word_dim=data.words[0].shape[1],
                        prev1=profile.prev1, prev2=profile.prev2, seed=seed, outputs=task.outputs).to(device_)
    history, best_epoch = fit(model, data, fit_rows, val_rows, per_utterance, profile, seed, device_, on_epoch,
                              resume=resume)

    metrics, predictions, att_a, att_t, matrix = {}, pd.DataFrame(), None, None, np.zeros((4, 4), int)
    if len(test_rows):
        rows, probs, test_loss, audio_alpha, text_alpha = evaluate(
            model, data, test_rows, per_utterance, max(profile.train.batch_size, EVAL_BATCH), device_, want_attention,
            task)
        metrics = task.score(truth_of(task, data, rows), probs) | {"test_loss": test_loss}
        y_true = data.labels[rows]
        predictions = pd.DataFrame({"utterance_id": data.utterance_ids[rows], "speaker": data.speakers[rows],
                                    "label": [EMOTIONS[i] for i in y_true]})
        if task.regression:  # ratings and predictions back on the 1-5 scale
            for i, d in enumerate(DIMENSIONS):
                predictions[d] = data.ratings[rows, i] + task.center
                predictions[f"pred_{d}"] = probs[:, i] + task.center
        else:
            y_pred = probs.argmax(1)
            matrix = confusion(y_true, y_pred)
            predictions["prediction"] = [EMOTIONS[i] for i in y_pred]
            for i, e in enumerate(EMOTIONS):
                predictions[f"p_{e}"] = probs[:, i]
        att_a = _attention_frame(data, audio_alpha, "step")
        att_t = _attention_frame(data, text_alpha, "position")
        if counterfactual and variant.uses_personality and not task.regression:
            handed = personality.embed(None, [counterfactual.get(s, s) for s in data.speakers])
            cf_rows, cf_probs, _, _, _ = evaluate(model, data, test_rows, handed,
                                                   max(profile.train.batch_size, EVAL_BATCH), device_, False)
            order = {row: i for i, row in enumerate(cf_rows)}
            predictions["counterfactual"] = [EMOTIONS[cf_probs[order[row]].argmax()] for row in rows]
    return FoldResult(
        variant=variant.name, fold=fold_id, seed=seed, metrics=metrics, history=history, best_epoch=best_epoch,
        predictions=predictions, attention_audio=att_a, attention_text=att_t, confusion=matrix,
        model=model.cpu(), personality_stats=stats, personality=personality if variant.uses_personality else None,
        seconds=time.perf_counter() - started,
        train_utterances=len(fit_rows), validation_utterances=len(val_rows),
        epochs_run=history[-1]["epoch"] if history else 0,
        task=task.name,
        resumed_from_epoch=int(resume["epoch"]) if resume else 0,
    )


def _attention_frame(data: CorpusTensors, records, index_name: str) -> pd.DataFrame | None:
    if not records:
        return None
    ids = np.concatenate([np.full(len(a), data.utterance_ids[row], dtype=object) for row, a in records])
    index = np.concatenate([np.arange(len(a)) for _, a in records])
    alpha = np.concatenate([a for _, a in records]).astype(np.float32)
    return pd.DataFrame({"utterance_id": ids, index_name: index, "alpha": alpha})
