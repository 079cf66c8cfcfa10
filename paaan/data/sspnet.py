"""Reader for the SSPNet Speaker Personality Corpus (paper II-A2): Big-Five scores per clip, per rater.

Two layouts (``docs/corpus_formats.md``): a ``manifest.csv`` at the root (any copy, long or averaged form),
else the per-rater layout ``Audio_clips/<clip>.wav`` + ``Personality_Scores/<rater>.csv`` (+ optional
``Speaker_IDs.csv``). Errors name the file (and clip and trait): a missing root, no clips, no score
files, a missing or out-of-range score, a score for a clip without audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from paaan.data.iemocap import LoadReport
from paaan.data.schema import TRAIT_SCORE_RANGE, TRAITS
from paaan.errors import CorpusError

MANIFEST = "manifest.csv"
AUDIO_DIR = "Audio_clips"
SCORES_DIR = "Personality_Scores"
SPEAKERS_FILE = "Speaker_IDs.csv"
_TRAIT_ALIASES = {t: t for t in TRAITS} | {t[0]: t for t in TRAITS} | {"extroversion": "extraversion"}


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


def _check_scores(frame: pd.DataFrame, path: Path, score_range: tuple[float, float]) -> None:
    low, high = score_range
    for trait in TRAITS:
        values = pd.to_numeric(frame[trait], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            first = bad.idxmax()
            shown = frame.loc[first, trait]
            # The value as the file has it: a text quoted, a number plain (numpy's repr would say np.int64(7)).
            written = f" {shown!r}" if isinstance(shown, str) else f" {shown}"
            if pd.isna(shown) or str(shown).strip() == "":
                problem, written = "missing", " (empty cell)"
            elif pd.isna(values[first]):
                problem = "not a number"
            else:
                problem = f"out of range [{low:g}, {high:g}]"
            raise CorpusError(path, f"clip {frame.loc[first, 'clip']}: {trait} score{written} is {problem}")
        frame[trait] = values.astype(float)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"clip": str, "speaker": str, "rater": str}, encoding="utf-8")
    except UnicodeDecodeError:
        raise CorpusError(path, "not UTF-8 text") from None
    except pd.errors.ParserError as exc:
        raise CorpusError(path, f"CSV does not parse: {exc}") from None
    except pd.errors.EmptyDataError:
        raise CorpusError(path, "file is empty") from None


def _ratings_from_manifest(root: Path, score_range) -> pd.DataFrame:
    path = root / MANIFEST
    frame = _read_csv(path)
    for column in ("clip", "wav"):
        if column not in frame.columns:
            raise CorpusError(path, f"manifest needs a {column!r} column; columns are {list(frame.columns)}")
    frame = frame.rename(columns=_trait_columns(frame, path))
    frame["clip"] = frame["clip"].astype(str)
    if "rater" not in frame.columns:
        frame["rater"] = "mean"
    _check_scores(frame, path, score_range)
    wavs = frame["wav"].astype(str).map(lambda w: str((root / w).resolve()) if not Path(w).is_absolute() else w)
    frame["wav_path"] = wavs
    if "speaker" not in frame.columns:
        frame["speaker"] = None
    return frame[["clip", "rater", "wav_path", "speaker", *TRAITS]]


def _ratings_from_rater_files(root: Path, score_range) -> pd.DataFrame:
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
        _check_scores(frame, path, score_range)
        frame["rater"] = path.stem
        frames.append(frame[["clip", "rater", *TRAITS]])
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
    return ratings[["clip", "rater", "wav_path", "speaker", *TRAITS]]


def load_sspnet_ratings(root: str | Path, score_range: tuple[float, float] = TRAIT_SCORE_RANGE) -> pd.DataFrame:
    """Long table: one row per (clip, rater) with the five trait scores (columns in ``TRAITS`` order)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "SSPNet root folder does not exist")
    if (root / MANIFEST).is_file():
        return _ratings_from_manifest(root, score_range)
    return _ratings_from_rater_files(root, score_range)


def load_sspnet(root: str | Path, score_range: tuple[float, float] = TRAIT_SCORE_RANGE,
                check_audio: bool = True) -> pd.DataFrame:
    """One row per clip: ``clip``, ``wav_path``, ``speaker`` (None when unknown), ``n_raters`` and the five
    trait scores averaged over raters; per-rater scores are in ``df.attrs["ratings"]`` (long form) and the
    skip report in ``df.attrs["report"]`` (clips whose wav is missing or unreadable are skipped and counted).
    """
    ratings = load_sspnet_ratings(root, score_range)
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
    return clips
