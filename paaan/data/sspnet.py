"""Reader for the SSPNet Speaker Personality Corpus (paper II-A2): Big-Five scores per clip, per rater.

Two layouts (``docs/corpus_formats.md``): a ``manifest.csv`` at the root (any copy, long or averaged form),
else the per-rater layout ``Audio_clips/<clip>.wav`` + ``Personality_Scores/<rater>.csv`` (+ optional
``Speaker_IDs.csv``). Errors name the file (and clip and trait): a missing root, no clips, no score
files, a missing or out-of-range score, a score for a clip without audio.

Scores come on one of the scales of ``paaan.data.schema.SCALES`` (BFI-10 sums in [-4, 4], 1-5 Likert,
0-100 continuous). ``scale="auto"`` detects it from all the corpus' scores together (``detect_scale``);
every score is then checked against that scale's range. Scores are kept in the scale's own units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from paaan.data.iemocap import LoadReport
from paaan.data.schema import SCALE_NAMES, SCALES, TRAITS, Scale
from paaan.errors import CorpusError, PaaanError

MANIFEST = "manifest.csv"
AUDIO_DIR = "Audio_clips"
SCORES_DIR = "Personality_Scores"
SPEAKERS_FILE = "Speaker_IDs.csv"
_TRAIT_ALIASES = {t: t for t in TRAITS} | {t[0]: t for t in TRAITS} | {"extroversion": "extraversion"}
_SOURCE = "_source"  # while reading: the file each rating row came from (for the range errors)


def _trait_columns(frame: pd.DataFrame, path: Path) -> dict[str, str]:
    """Map the file's columns to trait names (full names or initials, any case)."""
    mapping = {}
    for column in frame.columns:
        trait = _TRAIT_ALIASES.get(str(column).strip().lower())
        if trait:
            mapping[column] = trait
    missing = [t for t in TRAITS if t not in mapping.values()]
    if missing:
        raise CorpusError(path, f"missing trait columns {missing}; columns are {list(frame.columns)}")
    return mapping


def _written(value) -> str:
    """A cell as the file has it: a text quoted, a number plain (numpy's repr would say np.int64(7))."""
    return f" {value!r}" if isinstance(value, str) else f" {value:.10g}" if isinstance(value, float) else f" {value}"


def _parse_scores(frame: pd.DataFrame, path: Path) -> None:
    """Trait columns to floats, in place; a missing, non-numeric or infinite score is an error (file, clip, trait).

    The range is checked later, once the scale of the whole corpus is known (``_check_range``).
    """
    for trait in TRAITS:
        values = pd.to_numeric(frame[trait], errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if bad.any():
            first = bad.idxmax()
            shown = frame.loc[first, trait]
            written = _written(shown)
            if pd.isna(shown) or str(shown).strip() == "":
                problem, written = "missing", " (empty cell)"
            elif pd.isna(values[first]):
                problem = "not a number"
            else:
                problem = "not a finite number"
            raise CorpusError(path, f"clip {frame.loc[first, 'clip']}: {trait} score{written} is {problem}")
        frame[trait] = values.astype(float)
    frame[_SOURCE] = str(path)


def detect_scale(scores) -> Scale:
    """The scale of a corpus from ALL its scores together (every file, rater, clip and trait; any shape).

    Rule: continuous100 when more than half of the scores are above 5 (no other scale reaches above 5; a
    majority rather than the maximum, so one mistyped 7 in a BFI-10 corpus is reported as out of range
    [-4, 4] instead of turning the corpus into 0-100 ratings); else bfi10 when any score is below 1 (the
    Likert scale starts at 1); else likert5. A corpus whose scores all lie in [1, 4] fits both bfi10 and
    likert5 and is read as likert5: give the scale explicitly there (a real corpus of 640 clips and 11
    raters leaves no doubt). The caller then checks every score against the detected scale's range.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise ValueError("detect_scale: no scores to detect a scale from")
    if np.count_nonzero(scores > 5) > scores.size / 2:
        return SCALES["continuous100"]
    if scores.min() < 1:
        return SCALES["bfi10"]
    return SCALES["likert5"]


def _where(ratings: pd.DataFrame, row, trait: str, root: Path) -> str:
    """'<file relative to root>, clip <id>, <trait>' of one rating row."""
    path = Path(ratings.at[row, _SOURCE])
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    return f"{shown}, clip {ratings.at[row, 'clip']}, {trait}"


def _resolve_scale(ratings: pd.DataFrame, scale: str, root: Path) -> tuple[Scale, str | None]:
    """The scale (given, or detected from all scores) and, when detected, the sentence saying from what."""
    if scale != "auto":
        return SCALES[scale], None
    values = ratings[list(TRAITS)].to_numpy(np.float64)  # (n_ratings, 5)
    if values.size == 0:  # header-only files: nothing to detect from (load_sspnet then finds no clips)
        return SCALES["bfi10"], "no scores to detect a scale from: bfi10 assumed"
    detected = detect_scale(values)
    # The value that decided (the first in file, clip, trait order): the highest for continuous100, the
    # lowest otherwise.
    flat = np.argmax(values) if detected.name == "continuous100" else np.argmin(values)
    row, col = np.unravel_index(flat, values.shape)
    value, where = values[row, col], _where(ratings, ratings.index[row], TRAITS[col], root)
    if detected.name == "continuous100":
        above = np.count_nonzero(values > 5)
        because = f"from the score {value:.10g} ({where}): {above} of {values.size} scores are above 5"
    elif detected.name == "bfi10":
        because = f"from the score {value:.10g} ({where}), which is below 1 (and most scores are not above 5)"
    else:
        because = f"from the lowest score {value:.10g} ({where}): every score lies in [1, 5]"
    return detected, f"scale {detected.name} was detected {because}"


def _check_range(ratings: pd.DataFrame, scale: Scale, detected_from: str | None) -> None:
    """Every score within the scale's range, or an error naming the file, clip and trait (file by file)."""
    for source, frame in ratings.groupby(_SOURCE, sort=False):
        for trait in TRAITS:
            values = frame[trait]
            bad = (values < scale.low) | (values > scale.high)
            if bad.any():
                first = bad.idxmax()
                message = (f"clip {frame.at[first, 'clip']}: {trait} score{_written(values[first])} is out of range "
                           f"[{scale.low:g}, {scale.high:g}] of scale {scale.name} ({scale.meaning})")
                if detected_from:
                    message += (f"; {detected_from}. Set the scale explicitly with --sspnet-scale "
                                f"({', '.join(SCALES)})")
                raise CorpusError(source, message)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"clip": str, "speaker": str, "rater": str}, encoding="utf-8")
    except UnicodeDecodeError:
        raise CorpusError(path, "not UTF-8 text") from None
    except pd.errors.ParserError as exc:
        raise CorpusError(path, f"CSV does not parse: {exc}") from None
    except pd.errors.EmptyDataError:
        raise CorpusError(path, "file is empty") from None


def _ratings_from_manifest(root: Path) -> pd.DataFrame:
    path = root / MANIFEST
    frame = _read_csv(path)
    for column in ("clip", "wav"):
        if column not in frame.columns:
            raise CorpusError(path, f"manifest needs a {column!r} column; columns are {list(frame.columns)}")
    frame = frame.rename(columns=_trait_columns(frame, path))
    frame["clip"] = frame["clip"].astype(str)
    if "rater" not in frame.columns:
        frame["rater"] = "mean"
    _parse_scores(frame, path)
    wavs = frame["wav"].astype(str).map(lambda w: str((root / w).resolve()) if not Path(w).is_absolute() else w)
    frame["wav_path"] = wavs
    if "speaker" not in frame.columns:
        frame["speaker"] = None
    return frame[["clip", "rater", "wav_path", "speaker", *TRAITS, _SOURCE]]


def _ratings_from_rater_files(root: Path) -> pd.DataFrame:
    audio_dir, scores_dir = root / AUDIO_DIR, root / SCORES_DIR
    if not audio_dir.is_dir():
        raise CorpusError(audio_dir, f"no {AUDIO_DIR}/ folder (and no {MANIFEST}); see docs/corpus_formats.md")
    rater_files = sorted(p for p in scores_dir.glob("*.csv") if not p.name.startswith("._")) if scores_dir.is_dir() else []
    if not rater_files:
        raise CorpusError(scores_dir, "no per-rater score files (Personality_Scores/<rater>.csv)")
    frames = []
    for path in rater_files:
        frame = _read_csv(path)
        if "clip" not in frame.columns:
            raise CorpusError(path, f"rater file needs a 'clip' column; columns are {list(frame.columns)}")
        frame = frame.rename(columns=_trait_columns(frame, path))
        frame["clip"] = frame["clip"].astype(str).str.strip()
        duplicated = frame["clip"][frame["clip"].duplicated()]
        if len(duplicated):
            raise CorpusError(path, f"clip {duplicated.iloc[0]} is scored twice by this rater")
        _parse_scores(frame, path)
        frame["rater"] = path.stem
        frames.append(frame[["clip", "rater", *TRAITS, _SOURCE]])
    ratings = pd.concat(frames, ignore_index=True)
    wavs = {p.stem: str(p.resolve()) for p in audio_dir.glob("*.wav") if not p.name.startswith("._")}
    unknown = sorted(set(ratings["clip"]) - set(wavs))
    if unknown:
        raise CorpusError(scores_dir, f"scores for clips without audio in {AUDIO_DIR}/: {unknown[:5]}")
    ratings["wav_path"] = ratings["clip"].map(wavs)
    speakers_path = root / SPEAKERS_FILE
    speakers = {}
    if speakers_path.is_file():
        table = _read_csv(speakers_path)
        if not {"clip", "speaker"} <= set(table.columns):
            raise CorpusError(speakers_path, "needs columns 'clip' and 'speaker'")
        speakers = dict(zip(table["clip"].astype(str), table["speaker"].astype(str)))
    ratings["speaker"] = ratings["clip"].map(speakers)
    return ratings[["clip", "rater", "wav_path", "speaker", *TRAITS, _SOURCE]]


def load_sspnet_ratings(root: str | Path, scale: str = "auto") -> pd.DataFrame:
    """Long table: one row per (clip, rater) with the five trait scores (columns in ``TRAITS`` order).

    ``scale``: a name of ``SCALES`` (bfi10, likert5, continuous100), or "auto" to detect it from all the
    scores together (``detect_scale``). Every score must lie in the scale's range; scores stay in its units.
    ``df.attrs["scale"]`` is the scale's name, ``df.attrs["scale_detected_from"]`` says why it was detected
    (None when it was given).
    """
    if scale not in SCALE_NAMES:
        raise PaaanError(f"unknown SSPNet score scale {scale!r}; known: {', '.join(SCALE_NAMES)}")
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "SSPNet root folder does not exist")
    ratings = _ratings_from_manifest(root) if (root / MANIFEST).is_file() else _ratings_from_rater_files(root)
    chosen, detected_from = _resolve_scale(ratings, scale, root)
    _check_range(ratings, chosen, detected_from)
    ratings = ratings.drop(columns=_SOURCE)
    ratings.attrs["scale"] = chosen.name
    ratings.attrs["scale_detected_from"] = detected_from
    return ratings


def load_sspnet(root: str | Path, scale: str = "auto", check_audio: bool = True) -> pd.DataFrame:
    """One row per clip: ``clip``, ``wav_path``, ``speaker`` (None when unknown), ``n_raters`` and the five
    trait scores averaged over raters, in the units of the scale (``df.attrs["scale"]``, given or detected
    as in ``load_sspnet_ratings``); per-rater scores are in ``df.attrs["ratings"]`` (long form) and the
    skip report in ``df.attrs["report"]`` (clips whose wav is missing or unreadable are skipped and counted).
    """
    ratings = load_sspnet_ratings(root, scale)
    report = LoadReport()
    grouped = ratings.groupby("clip", sort=True)
    clips = grouped[list(TRAITS)].mean()
    clips["n_raters"] = grouped["rater"].nunique()
    clips["wav_path"] = grouped["wav_path"].first()
    clips["speaker"] = grouped["speaker"].first()
    clips = clips.reset_index()
    keep = []
    for row in clips.itertuples():
        path = Path(row.wav_path)
        if not path.is_file():
            report.skip("missing_wav", path, row.clip)
            keep.append(False)
            continue
        if check_audio:
            try:
                if sf.info(str(path)).frames == 0:
                    raise RuntimeError("no audio frames")
            except Exception as exc:
                report.skip("unreadable_wav", path, f"{row.clip}: {exc}")
                keep.append(False)
                continue
        keep.append(True)
    clips = clips[keep].reset_index(drop=True)
    if clips.empty:
        raise CorpusError(root, "no usable clips (every clip's audio is missing or unreadable)")
    report.kept = len(clips)
    clips = clips[["clip", "wav_path", "speaker", "n_raters", *TRAITS]]
    clips.attrs["ratings"] = ratings
    clips.attrs["report"] = report
    clips.attrs["scale"] = ratings.attrs["scale"]
    clips.attrs["scale_detected_from"] = ratings.attrs["scale_detected_from"]
    return clips
