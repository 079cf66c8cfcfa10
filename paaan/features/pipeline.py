"""Featurize both corpora into a feature store (paper II-B), in parallel, with a summary of what was done.

Acoustic work (openSMILE LLDs and functionals) is spread over a pool of worker processes, each building
its openSMILE objects once; text work (tokens, POS tags, GloVe lookups, alignment) is light and runs in
the parent. Per IEMOCAP utterance a worker returns the RAW 45 LLDs already averaged over 40 ms steps plus
the frame-level moments; the parent combines a speaker's moments into exact frame-level statistics and
z-normalises the steps (pooling and z-normalisation are both affine, so the order does not matter; II-B1).

Files that cannot be used (unreadable, empty, too short) are left out and listed in ``skipped.csv`` with the
reason; the run fails only when a whole corpus is unusable. Non-finite values never reach the store.

A researcher's own features (``paaan.features.own``) replace openSMILE's: with ``config.audio_features`` the
frame-level features of that folder, pooled to 40 ms steps, stand in for the 45 LLDs (which are then not
computed) and are z-normalised per speaker the same way; with ``config.functionals_dir`` that folder's
utterance-level vectors stand in for the IS10 functionals of both corpora. Both are read and checked in the
parent before any openSMILE work, and any bad file is an error naming it (never a skip): the user made them
for exactly these utterances.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import pickle
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from paaan.config import FeatureConfig, cache_root
from paaan.data.corpus import EmotionCorpus, combine, emotion_corpus
from paaan.data.schema import TRAITS
from paaan.data.sspnet import load_sspnet
from paaan.errors import FeatureError, PaaanError
from paaan.features.acoustic import (
    LLD_NAMES, Moments, frame_moments, functionals_extractor, lld_extractor, pool_steps, speaker_stats, znormalise,
)
from paaan.features.alignment import align_tokens, alignment_overrun, token_steps
from paaan.features.audio import Audio, AudioSource, audio_info, load_audio
from paaan.features.own import (
    FeatureSet, check_span, frames_file, functionals_file, load_frames, load_functionals, pool_to_steps,
    read_feature_set,
)
from paaan.features.store import StoreWriter

if TYPE_CHECKING:
    from paaan.features.text import WordVectors

# Word vectors kept beyond the corpus vocabulary, so a served model can embed new transcripts: GloVe files
# list words by frequency, so the first lines cover most running text.
EXTRA_VOCABULARY = 20000
# A word alignment whose last word ends more than this after its wav belongs to other audio: it is dropped
# (the utterance stays, unaligned) and listed in skipped.csv. 25 frames of 10 ms: far beyond rounding.
ALIGNMENT_TOLERANCE = 0.25


# --- per-file acoustic work (runs in the workers) ------------------------------------------------------

_CONFIG: FeatureConfig | None = None


def _init_worker(config: FeatureConfig) -> None:
    global _CONFIG
    _CONFIG = config
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    lld_extractor(config)  # build the openSMILE objects once per process
    functionals_extractor(config)


@dataclass
class AcousticResult:
    corpus: str
    index: int
    duration: float = 0.0
    steps: np.ndarray | None = None  # (S, 45) raw LLDs averaged over 40 ms (IEMOCAP only), or own features' steps
    moments: Moments | None = None  # frame-level sums (IEMOCAP only)
    functionals: np.ndarray | None = None  # (1582,), or the own functionals' (dim,)
    fixes: tuple[str, ...] = ()
    error: str | None = None
    cached: bool = False  # read from the acoustic cache, not computed now


def acoustic_features(source: AudioSource, config: FeatureConfig, with_lld: bool,
                      name: str | None = None, with_functionals: bool = True) -> AcousticResult:
    """One file's functionals (when ``with_functionals``), and its pooled raw LLDs and moments when ``with_lld``;
    errors name the file.

    ``source``: a path, or a binary file-like object holding a sound file (a served model's in-memory
    audio), named ``name`` in errors (see ``load_audio``).
    """
    audio = load_audio(source, target_sr=config.sample_rate, frame_size=config.frame_size, name=name)
    return audio_features(audio, config, with_lld, source=name or str(source), with_functionals=with_functionals)


def audio_features(audio: Audio, config: FeatureConfig, with_lld: bool, source: str = "<signal>",
                   with_functionals: bool = True) -> AcousticResult:
    """``acoustic_features`` of samples already read by ``load_audio``; ``source`` names them in errors."""
    result = AcousticResult("", -1, duration=audio.duration, fixes=audio.fixes)
    if with_lld:
        frames = lld_extractor(config)(audio.signal, audio.sample_rate, source=source)  # (T, 45)
        result.steps = pool_steps(frames, config.pool_frames).astype(np.float32)  # (ceil(T/4), 45)
        result.moments = frame_moments(frames)
    if with_functionals:
        result.functionals = functionals_extractor(config)(audio.signal, audio.sample_rate, source=source)
    return result


def own_frame_features(frames: np.ndarray, feature_set: FeatureSet, duration: float) -> AcousticResult:
    """An utterance's own frame-level features as featurize stores them: raw 40 ms steps and frame moments."""
    return AcousticResult("", -1, duration=duration, steps=pool_to_steps(frames, feature_set.frame_rate_hz),
                          moments=frame_moments(frames))


# (corpus, index, wav path, LLDs?, functionals?)
Task = tuple[str, int, str, bool, bool]


def _work(task: Task) -> AcousticResult:
    corpus, index, path, with_lld, with_functionals = task
    try:
        result = acoustic_features(path, _CONFIG, with_lld=with_lld, with_functionals=with_functionals)
    except FeatureError as exc:
        return AcousticResult(corpus, index, error=exc.problem)
    result.corpus, result.index = corpus, index
    return result


# A file's openSMILE results depend on its bytes, the feature settings and this code (and the openSMILE
# package): keyed by all of them, they are kept in ``$PAAAN_CACHE/acoustic`` and a later featurize of the same
# file (a nested demo corpus of fewer speakers, the same corpus under another fingerprint) reads them back.
# PAAAN_ACOUSTIC_CACHE=0 turns the cache off.
_CODE = ("pipeline.py", "acoustic.py", "audio.py")


def _cache_folder() -> Path | None:
    if os.environ.get("PAAAN_ACOUSTIC_CACHE", "1") == "0":
        return None
    return cache_root() / "acoustic"


def _code_digest(config: FeatureConfig) -> str:
    import opensmile

    digest = hashlib.sha256(json.dumps(config.__dict__, sort_keys=True, default=str).encode())
    digest.update(opensmile.__version__.encode())
    for name in _CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def _cache_path(folder: Path, code: str, task: Task) -> Path:
    _, _, path, with_lld, with_functionals = task
    digest = hashlib.sha256(code.encode())
    digest.update(f"{with_lld}{with_functionals}".encode())
    digest.update(Path(path).read_bytes())
    key = digest.hexdigest()
    return folder / key[:2] / f"{key}.pkl"


def run_acoustic(tasks: list[Task], config: FeatureConfig, workers: int,
                 progress: bool) -> list[AcousticResult]:
    """openSMILE on every task (corpus, index, wav path, LLDs?, functionals?): in this process with one worker,
    else in a pool of ``workers`` spawned processes that each build openSMILE once; results in any order.
    A file computed before with the same bytes, settings and code is read from the cache instead."""
    if not tasks:  # own frame-level features and own functionals: nothing for openSMILE
        return []
    bar = tqdm(total=len(tasks), desc="openSMILE", unit="file", disable=not progress, mininterval=1.0)
    results, todo, where = [], [], {}
    folder = _cache_folder()
    code = _code_digest(config) if folder is not None else ""
    for task in tasks:
        cached = None
        if folder is not None:
            where[task[:2]] = _cache_path(folder, code, task)
            if where[task[:2]].is_file():
                cached = pickle.loads(where[task[:2]].read_bytes())  # our own cache folder
        if cached is None:
            todo.append(task)
        else:
            cached.corpus, cached.index, cached.cached = task[0], task[1], True
            results.append(cached)
            bar.update()
    for result in _compute(todo, config, workers):
        if folder is not None and result.error is None:
            target = where[(result.corpus, result.index)]
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(pickle.dumps(result))
            os.replace(partial, target)  # a cache file is whole or absent
        results.append(result)
        bar.update()
    bar.close()
    return results


def _compute(tasks: list[Task], config: FeatureConfig, workers: int):
    if not tasks:
        return
    if workers <= 1:
        _init_worker(config)
        for task in tasks:
            yield _work(task)
    else:
        # spawn: workers start clean (no inherited threads or MLflow state); each builds openSMILE once.
        context = mp.get_context("spawn")
        with context.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
            yield from pool.imap_unordered(_work, tasks, chunksize=max(1, min(16, len(tasks) // (workers * 8))))


# --- the whole corpus ----------------------------------------------------------------------------------


def emotion_corpora(emotion: EmotionCorpus | Sequence[EmotionCorpus] | str | Path) -> tuple[EmotionCorpus, ...]:
    """The emotion corpora ``featurize`` reads: one ``EmotionCorpus``, several, or a path of an IEMOCAP root."""
    if isinstance(emotion, (str, Path)):
        return (emotion_corpus("iemocap", emotion),)
    if isinstance(emotion, EmotionCorpus):
        return (emotion,)
    return tuple(emotion)


def featurize(emotion: EmotionCorpus | Sequence[EmotionCorpus] | str | Path, sspnet_root: str | Path,
              out: str | Path, config: FeatureConfig = FeatureConfig(), workers: int = 0, progress: bool = True,
              extra_vocabulary: int = EXTRA_VOCABULARY) -> dict:
    """Write the feature store of the emotion corpus (or corpora) and SSPNet to ``out``; return the summary
    (also in the manifest).

    ``emotion``: an ``EmotionCorpus`` (``paaan.data.corpus``: IEMOCAP's layout or EmoBox's), several of them (the
    cross-corpus protocol: their tables are combined, each row keeping its ``corpus``), or an IEMOCAP root. The
    store keeps the emotion corpus under ``iemocap/`` whatever its layout (the paper's emotion corpus gave the
    folder its name).

    ``workers``: processes for openSMILE (0 = all cores). ``config.glove``: "glove-6b-50d" or a GloVe file.
    ``config.sspnet_scale``: the scale of SSPNet's scores ("auto" detects it; the summary's ``sspnet_scale``
    names the one read). The clips table keeps the scores in that scale's units. ``config.audio_features`` /
    ``config.functionals_dir``: folders of one's own features (``paaan.features.own``), or "" for openSMILE's.
    """
    started = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    frame_set = read_feature_set(config.audio_features, "frames") if config.audio_features else None
    functional_set = read_feature_set(config.functionals_dir, "functionals") if config.functionals_dir else None
    corpora = emotion_corpora(emotion)
    loaded = [corpus.load() for corpus in corpora]
    table = combine([t for t, _ in loaded])
    skipped_by_reader = [entry for _, report in loaded for entry in report.skipped_files]
    roots = {c.name: Path(c.wav_root or c.root).resolve() for c in corpora}  # the base of each corpus' wav paths
    where = ", ".join(str(corpus.root) for corpus in corpora)
    clips = load_sspnet(sspnet_root, scale=config.sspnet_scale)
    if table.empty:
        raise PaaanError(f"{where}: no 4-class utterance to featurize")

    # Own features first: a bad file stops the run before any openSMILE work.
    with_lld, with_functionals = frame_set is None, functional_set is None
    own_started = time.perf_counter()
    skipped: list[dict] = []  # a wav whose header is unreadable (listed by openSMILE's pass when there is one)
    own_frames = (_own_frames(table, config.audio_features, frame_set, [] if with_functionals else skipped)
                  if frame_set else None)
    own_functionals = ({"iemocap": _own_functionals(table["utterance_id"], "iemocap", config.functionals_dir,
                                                    functional_set),
                        "sspnet": _own_functionals(clips["clip"], "sspnet", config.functionals_dir, functional_set)}
                       if functional_set else None)
    own_seconds = time.perf_counter() - own_started
    own_files = (len(table) if frame_set else 0) + (len(table) + len(clips) if functional_set else 0)

    tasks: list[Task] = []
    if with_lld or with_functionals:
        tasks += [("iemocap", i, p, with_lld, with_functionals) for i, p in enumerate(table["wav_path"])]
    if with_functionals:
        tasks += [("sspnet", i, p, False, True) for i, p in enumerate(clips["wav_path"])]
    acoustic_started = time.perf_counter()
    results = run_acoustic(tasks, config, workers, progress)
    acoustic_seconds = time.perf_counter() - acoustic_started

    skipped = [{"corpus": "iemocap", "path": e["path"], "reason": e["reason"], "detail": e["detail"]}
               for e in skipped_by_reader if not e["reason"].startswith("label:")] + skipped
    skipped += [{"corpus": "sspnet", "path": e["path"], "reason": e["reason"], "detail": e["detail"]}
                for e in clips.attrs["report"].skipped_files]
    by_corpus: dict[str, dict[int, AcousticResult]] = {"iemocap": {}, "sspnet": {}}
    fixes: Counter = Counter()
    for r in results:
        source = (table if r.corpus == "iemocap" else clips)["wav_path"].iloc[r.index]
        if r.error:
            skipped.append({"corpus": r.corpus, "path": source, "reason": r.error.split(":")[0], "detail": r.error})
            continue
        by_corpus[r.corpus][r.index] = r
        fixes.update(f"{r.corpus}:{f}" for f in r.fixes)
    if own_frames is not None and with_functionals:  # openSMILE read the wavs for the functionals
        for i in list(by_corpus["iemocap"]):
            if i not in own_frames:  # its header was unreadable: openSMILE's reading cannot have been sound
                del by_corpus["iemocap"][i]
                continue
            by_corpus["iemocap"][i].steps, by_corpus["iemocap"][i].moments = own_frames[i].steps, own_frames[i].moments
    elif own_frames is not None:
        by_corpus["iemocap"] = dict(own_frames)
    if own_functionals is not None:
        for i, r in by_corpus["iemocap"].items():
            r.functionals = own_functionals["iemocap"][i]
        by_corpus["sspnet"] = {i: AcousticResult("sspnet", i, functionals=f)
                               for i, f in enumerate(own_functionals["sspnet"])}
    for corpus, root in (("iemocap", where), ("sspnet", sspnet_root)):
        if not by_corpus[corpus]:
            raise PaaanError(f"{root}: every {corpus} file is unusable; see the reasons: "
                             f"{Counter(s['reason'] for s in skipped if s['corpus'] == corpus).most_common(3)}")

    kept = sorted(by_corpus["iemocap"])
    table = table.iloc[kept].reset_index(drop=True)
    acoustic = [by_corpus["iemocap"][i] for i in kept]
    clip_rows = sorted(by_corpus["sspnet"])
    clips_kept = clips.iloc[clip_rows].reset_index(drop=True)

    skipped += _drop_overrunning_alignments(table, [r.duration for r in acoustic])

    # Speaker-wise z-normalisation with frame-level statistics (II-B1).
    stats = {}
    for speaker, positions in table.groupby("speaker").indices.items():
        stats[speaker] = speaker_stats([acoustic[i].moments for i in positions])
    steps = [znormalise(r.steps, *stats[s]) for r, s in zip(acoustic, table["speaker"])]

    text_started = time.perf_counter()
    words_table, vectors, text_summary = _text_features(table, steps, config, extra_vocabulary)
    text_seconds = time.perf_counter() - text_started

    lld_steps = np.array([len(s) for s in steps], dtype=np.int64)
    n_words = words_table.groupby("utterance").size().reindex(range(len(table)), fill_value=0).to_numpy()
    # Paths relative to the corpus root: the store travels (MLflow artifacts) and must not carry local paths.
    sspnet_base = Path(sspnet_root).resolve()
    table["wav_path"] = [_relative(p, roots[c]) for p, c in zip(table["wav_path"], table["corpus"])]
    clips_kept["wav_path"] = [_relative(p, sspnet_base) for p in clips_kept["wav_path"]]
    utterances = table.drop(columns=["align_words", "align_starts", "align_ends"]).assign(
        lld_offset=np.concatenate([[0], np.cumsum(lld_steps)[:-1]]), lld_steps=lld_steps,
        word_offset=np.concatenate([[0], np.cumsum(n_words)[:-1]]), n_words=n_words,
        aligned=table["align_words"].notna().to_numpy(),
        audio_seconds=[r.duration for r in acoustic],
    )
    lld_names = frame_set.dimension_names() if frame_set else list(LLD_NAMES)
    speaker_stats_table = pd.DataFrame(
        [{"speaker": s, **{f"mean:{n}": m for n, m in zip(lld_names, mean)},
          **{f"std:{n}": v for n, v in zip(lld_names, std)}} for s, (mean, std) in sorted(stats.items())])

    bases = {"iemocap": list(roots.values()), "sspnet": [sspnet_base]}
    skipped = [{**entry, "path": _relative(entry["path"], *bases[entry["corpus"]])} for entry in skipped]

    writer = StoreWriter(out)
    writer.table("iemocap/utterances.parquet", utterances)
    writer.array("iemocap/lld.npy", np.concatenate(steps).astype(np.float32))
    writer.table("iemocap/lld_speaker_stats.parquet", speaker_stats_table)
    writer.array("iemocap/functionals.npy", np.stack([r.functionals for r in acoustic]))
    writer.table("iemocap/words.parquet", words_table)
    writer.table("sspnet/clips.parquet", clips_kept)
    ratings = clips.attrs["ratings"]
    ratings = ratings[ratings["clip"].isin(clips_kept["clip"])].reset_index(drop=True)
    ratings["wav_path"] = [_relative(p, sspnet_base) for p in ratings["wav_path"]]  # no local paths, as above
    writer.table("sspnet/ratings.parquet", ratings)
    writer.array("sspnet/functionals.npy", np.stack([by_corpus["sspnet"][i].functionals for i in clip_rows]))
    writer.table("vocab.parquet", pd.DataFrame({"word": list(vectors.words)}))
    writer.array("vectors.npy", vectors.vectors)
    writer.csv("skipped.csv", pd.DataFrame(skipped, columns=["corpus", "path", "reason", "detail"]))

    audio_seconds = float(sum(r.duration for r in results if not r.error))
    computed_seconds = float(sum(r.duration for r in results if not r.error and not r.cached))
    if not tasks:  # no openSMILE: the durations are the wav headers' (IEMOCAP; SSPNet's audio was not read)
        audio_seconds = float(sum(r.duration for r in acoustic))
    summary = {
        "emotion_corpora": {name: int(n) for name, n in table["corpus"].value_counts().sort_index().items()},
        "iemocap_utterances": len(table), "sspnet_clips": len(clips_kept),
        "sspnet_scale": clips.attrs["scale"],  # the scale read (detected when config says "auto")
        "files": len(tasks), "files_featurized": len(tasks) - sum(1 for r in results if r.error),
        "skipped_files": len(skipped),
        "skipped_reasons": dict(Counter(s["reason"] for s in skipped)),
        "audio_fixes": dict(fixes),
        "labels": table["label"].value_counts().to_dict(),
        "speakers": sorted(table["speaker"].unique().tolist()),
        "audio_hours": round(audio_seconds / 3600, 4),
        "lld_steps": int(lld_steps.sum()),
        "workers": workers,
        "acoustic_seconds": round(acoustic_seconds, 2),
        "files_from_cache": sum(1 for r in results if r.cached),
        # over the audio openSMILE computed now (cached files cost a read)
        "real_time_factor": round(computed_seconds / max(acoustic_seconds, 1e-9), 2),
        "text_seconds": round(text_seconds, 2),
        "own_feature_files": own_files,
        "own_features_seconds": round(own_seconds, 2),
        "audio_features": frame_set.name if frame_set else "openSMILE 45 LLDs",
        "functionals_set": functional_set.name if functional_set else config.functionals,
        **text_summary,
    }
    summary["seconds"] = round(time.perf_counter() - started, 2)
    writer.finish({
        "lld_names": lld_names, "n_functionals": int(acoustic[0].functionals.shape[0]),
        "word_dim": vectors.dim,
        # Own feature folders by their sets' names, never their paths (the store travels as an artifact).
        "feature_config": config.__dict__ | {"glove": source_name(config.glove),
                                             "audio_features": frame_set.name if frame_set else "",
                                             "functionals_dir": functional_set.name if functional_set else ""},
        "audio_features": frame_set.describe() if frame_set else None,
        "functionals_features": functional_set.describe() if functional_set else None,
        "summary": summary,
        "traits": list(TRAITS),
    })
    return summary


def _own_frames(table: pd.DataFrame, root: str | Path, feature_set: FeatureSet,
                skipped: list[dict]) -> dict[int, AcousticResult]:
    """Every utterance's own frame-level features, checked and pooled to 40 ms steps (``paaan.features.own``).

    A missing or bad file is a FeatureError naming it. Its frames must span the wav (by its header) to within
    ``ALIGNMENT_TOLERANCE``, or the word alignment would not fit them. A wav whose header cannot be read is a
    counted skip, as on the openSMILE path.
    """
    out = {}
    for i, (utterance, wav) in enumerate(zip(table["utterance_id"], table["wav_path"])):
        path = frames_file(root, utterance)
        if not path.is_file():
            raise FeatureError(path, f"no such file: every 4-class IEMOCAP utterance needs its frame-level features "
                                     f"(<utterance_id>.npy in the --audio-features folder); missing for {utterance}")
        frames = load_frames(path, feature_set)  # (T, dim) float32, checked
        try:
            duration = float(audio_info(wav).duration)
        except FeatureError as exc:
            skipped.append({"corpus": "iemocap", "path": wav, "reason": exc.problem.split(":")[0],
                            "detail": exc.problem})
            continue
        check_span(path, len(frames), feature_set.frame_rate_hz, duration, ALIGNMENT_TOLERANCE)
        out[i] = own_frame_features(frames, feature_set, duration)
        out[i].corpus, out[i].index = "iemocap", i
    return out


def _own_functionals(items: pd.Series, corpus: str, root: str | Path, feature_set: FeatureSet) -> np.ndarray:
    """(n, dim) float32: each utterance's or clip's own functionals; FeatureError naming a missing or bad file."""
    rows = []
    for item in items:
        path = functionals_file(root, corpus, item)
        if not path.is_file():
            what = "4-class IEMOCAP utterance" if corpus == "iemocap" else "SSPNet clip"
            raise FeatureError(path, f"no such file: every {what} needs its functionals ({corpus}/<id>.npy in the "
                                     f"--functionals folder); missing for {item}")
        rows.append(load_functionals(path, feature_set))
    return np.stack(rows) if rows else np.zeros((0, feature_set.dim), np.float32)


def _drop_overrunning_alignments(table: pd.DataFrame, durations: list[float]) -> list[dict]:
    """Drop (in ``table``) each word alignment that ends after its audio; return their skipped.csv rows."""
    skipped = []
    for i, (ends, duration) in enumerate(zip(table["align_ends"], durations)):
        overrun = alignment_overrun(ends, duration)
        if overrun > ALIGNMENT_TOLERANCE:
            wav = Path(table["wav_path"].iloc[i])  # .../sentences/wav/<dialog>/<utt>.wav
            wdseg = wav.parents[2] / "ForcedAlignment" / wav.parent.name / f"{wav.stem}.wdseg"
            skipped.append({"corpus": "iemocap", "path": str(wdseg), "reason": "alignment_beyond_audio",
                            "detail": f"{wav.stem}: the last word ends at {max(ends):.2f} s, "
                                      f"the wav lasts {duration:.2f} s"})
            for column in ("align_words", "align_starts", "align_ends"):
                table.at[i, column] = None
    return skipped


def source_name(source: str | Path) -> str:
    """How the store records a word-vector source: a file by its name only (the store travels as an MLflow
    artifact and must not carry local paths, least of all the user's home folder); a package by its name."""
    return Path(str(source)).name


def _relative(path: str, *bases: Path) -> str:
    """``path`` relative to the first of ``bases`` that holds it, else its file name (a manifest, or EmoBox's
    jsonl, may point outside the root)."""
    for base in bases:
        if Path(path).is_relative_to(base):
            return str(Path(path).relative_to(base))
    return Path(path).name


def _text_features(table: pd.DataFrame, steps: list[np.ndarray], config: FeatureConfig,
                   extra_vocabulary: int) -> tuple[pd.DataFrame, WordVectors, dict]:
    """Tokens, Penn POS tags, vocabulary ids and alignment (time and 40 ms step) of every word."""
    # here, not at the top: featurize's pool workers import this module, and nltk loads scikit-learn
    from paaan.features.text import WordVectors, ensure_pos_tagger, oov_share, pos_tag, tokenize

    ensure_pos_tagger()
    tokens = [tokenize(t) for t in table["transcript"]]
    tags = [pos_tag(t) if t else [] for t in tokens]
    vocabulary = sorted({w for ts in tokens for w in ts})
    vectors = WordVectors.from_source(config.glove, vocabulary=vocabulary, top_n=extra_vocabulary)
    records = []
    oov_masks = []
    for i, row in enumerate(table.itertuples()):
        ts = tokens[i]
        starts, ends = align_tokens(ts, row.align_words, row.align_starts, row.align_ends)
        first, last = token_steps(starts, ends, len(steps[i]))
        ids = vectors.rows(ts)
        oov_masks.append(ids < 0)
        for position, token in enumerate(ts):
            records.append((i, position, token, tags[i][position], int(ids[position]), starts[position],
                            ends[position], int(first[position]), int(last[position])))
    words = pd.DataFrame(records, columns=["utterance", "position", "token", "pos", "vocab_id", "start", "end",
                                           "first_step", "last_step"])
    n_tokens = len(words)
    summary = {
        "tokens": n_tokens,
        "vocabulary": len(vocabulary),
        "word_vectors": f"{source_name(vectors.source)} ({len(vectors)} x {vectors.dim})",
        "oov_share": round(oov_share(oov_masks), 4) if n_tokens else 0.0,
        "aligned_token_share": round(float((words["first_step"] >= 0).mean()), 4) if n_tokens else 0.0,
        "utterances_without_tokens": int(sum(1 for t in tokens if not t)),
    }
    return words, vectors, summary
