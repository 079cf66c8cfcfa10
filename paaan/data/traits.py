"""True Big-Five traits of a real corpus' speakers, from a CSV the user writes (what the oracle reads).

The oracle and shuffled variants feed each IEMOCAP speaker's true personality to the network
(``paaan.personality.oracle_embeddings``). The demo corpus knows it (``ground_truth.json``); a real corpus
does not: PA-IEMOCAP (Gao et al. 2025) annotated IEMOCAP's speakers per conversation with the TIPI on a
7-point scale, but has not released it. ``read_traits`` reads such annotations from a CSV:

- columns: ``speaker`` (required), ``dialog`` (optional), and the five traits by name (openness,
  conscientiousness, extraversion, agreeableness, neuroticism; or their initials O, C, E, A, N; any case).
  Lines whose cells are all empty are skipped;
- scores on one scale of ``TRAIT_SCALES`` for the whole file: BFI-10 sums [-4, 4], Likert 1-5, TIPI 1-7,
  0-100; ``scale="auto"`` detects it from all the scores together (``detect_trait_scale``);
- every score converted linearly to BFI-10 units (``to_bfi10``: the scale's midpoint -> 0, its ends ->
  -4 and +4), the units of the oracle's embedding and of the demo corpus' true profiles;
- rows per (dialog, speaker) averaged per speaker: the personality embedding is per speaker (paper II-C2),
  so a speaker's profile is the mean over the conversations they were rated in.

Errors (CorpusError naming the file and the CSV row, 1-based with the header as row 1): a missing column,
an empty speaker (or an empty dialog where the file has a dialog column), a missing, non-numeric or
out-of-range score (naming the trait and the scale), a speaker (or dialog and speaker) listed twice, and,
given the corpus' ``speakers``, a corpus speaker without a row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from paaan.data.schema import SCALES, TRAIT_SCORE_RANGE, TRAITS, Scale
from paaan.data.sspnet import _trait_columns, _written, detect_scale
from paaan.errors import CorpusError, PaaanError

# SSPNet's scales plus the TIPI's, which SSPNet never comes on (so schema.SCALES, which --sspnet-scale
# accepts and detect_scale chooses from, does not list it).
TRAIT_SCALES: dict[str, Scale] = SCALES | {
    "tipi7": Scale("tipi7", 1.0, 7.0, "TIPI trait score: mean of two 7-point items, one reversed (PA-IEMOCAP)"),
}
TRAIT_SCALE_NAMES: tuple[str, ...] = ("auto", *TRAIT_SCALES)


def detect_trait_scale(scores) -> Scale:
    """The scale of a traits file from ALL its scores together (any shape).

    Rule: continuous100 when more than half of the scores are above 7 (no other scale reaches above 7; a
    majority, as in ``paaan.data.sspnet.detect_scale``, so one mistyped 8 in a TIPI file is reported as out
    of range [1, 7] instead of turning the file into 0-100 ratings); else tipi7 when any score is above 5
    (only the TIPI and 0-100 reach above 5); else SSPNet's rule on what is left (``detect_scale``): bfi10
    when any score is below 1, else likert5. So a file whose scores all lie in [1, 5] is read as likert5,
    and one whose scores all lie in [1, 4] too (it also fits bfi10): a TIPI (or BFI-10) file whose scores
    happen to stay in that range must give its scale.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise ValueError("detect_trait_scale: no scores to detect a scale from")
    if np.count_nonzero(scores > 7) > scores.size / 2:
        return TRAIT_SCALES["continuous100"]
    if np.any(scores > 5):
        return TRAIT_SCALES["tipi7"]
    return detect_scale(scores)


def to_bfi10(scores, scale: Scale) -> np.ndarray:
    """Scores on ``scale`` mapped linearly onto BFI-10's [-4, 4]: the scale's midpoint to 0, its ends to the
    ends (TIPI 1 -> -4, 4 -> 0, 5.5 -> +2, 7 -> +4; 0-100: 75 -> +2; Likert 1-5: 4 -> +2)."""
    low, high = TRAIT_SCORE_RANGE
    scores = np.asarray(scores, dtype=np.float64)
    return (low + high) / 2 + (scores - (scale.low + scale.high) / 2) * (high - low) / (scale.high - scale.low)


def _read_csv(path: Path) -> pd.DataFrame:
    """Every cell as stripped text ("" when empty), blank lines kept so that index + 2 is the CSV row."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CorpusError(path, "not UTF-8 text") from None
    except pd.errors.ParserError as exc:
        raise CorpusError(path, f"CSV does not parse: {exc}") from None
    except pd.errors.EmptyDataError:
        raise CorpusError(path, "file is empty") from None
    return frame.apply(lambda column: column.str.strip())


def _columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The file's columns renamed to ``speaker``, ``dialog`` and the trait names (any case)."""
    names = {column: str(column).strip().lower() for column in frame.columns}
    if "speaker" not in names.values():
        raise CorpusError(path, f"needs a 'speaker' column; columns are {list(frame.columns)}")
    traits = _trait_columns(frame, path)  # names the file and the missing trait columns
    for trait in TRAITS:
        twice = [column for column, name in traits.items() if name == trait]
        if len(twice) > 1:
            raise CorpusError(path, f"two columns for {trait}: {twice}")
    renamed = {column: name for column, name in names.items() if name in ("speaker", "dialog")} | traits
    return frame.rename(columns=renamed)[[c for c in ("dialog", "speaker") if c in renamed.values()] + list(TRAITS)]


def _detected(scores: np.ndarray, rows: np.ndarray, scale: Scale) -> str:
    """The sentence saying from which score (row, trait) ``detect_trait_scale`` chose ``scale``.

    ``scores``: (n_rows, 5), NaN where a cell is not a number. The deciding score, the first in row and
    trait order: the lowest for bfi10, the highest otherwise.
    """
    pick = np.nanargmin(scores) if scale.name == "bfi10" else np.nanargmax(scores)
    i, j = np.unravel_index(pick, scores.shape)
    value = f"{scores[i, j]:.10g} (row {rows[i]}, {TRAITS[j]})"
    if scale.name == "continuous100":
        above, total = np.count_nonzero(scores > 7), np.count_nonzero(np.isfinite(scores))
        because = f"from the score {value}: {above} of {total} scores are above 7"
    elif scale.name == "tipi7":
        because = f"from the score {value}, which is above 5 (and at most half of the scores are above 7)"
    elif scale.name == "bfi10":
        because = f"from the score {value}, which is below 1 (and no score is above 5)"
    else:
        because = (f"from the highest score {value}: every score lies in [1, 5] (a TIPI file whose scores "
                   "stay in [1, 5] must give scale='tipi7')")
    return f"scale {scale.name} was detected {because}"


def read_traits(path: str | Path, scale: str = "auto", speakers=None) -> pd.DataFrame:
    """Speaker x TRAITS true Big-Five profiles in BFI-10 units [-4, 4] from a traits CSV (module docstring).

    ``scale``: a name of ``TRAIT_SCALES`` (bfi10, likert5, continuous100, tipi7), or "auto" to detect it
    from all the scores together (``detect_trait_scale``); every score must lie in its range. A speaker's
    rows (one per dialog) are averaged. ``speakers``: the corpus' speakers; each must have a row (else an
    error naming them) and only theirs are returned. ``df.attrs["scale"]`` is the scale's name,
    ``df.attrs["scale_detected_from"]`` says why it was detected (None when it was given).
    """
    if scale not in TRAIT_SCALE_NAMES:
        raise PaaanError(f"unknown trait score scale {scale!r}; known: {', '.join(TRAIT_SCALE_NAMES)}")
    path = Path(path)
    if not path.is_file():
        raise CorpusError(path, "traits file does not exist")
    frame = _columns(_read_csv(path), path)
    frame = frame[(frame != "").any(axis=1)]  # lines whose cells are all empty
    if frame.empty:
        raise CorpusError(path, "no rows of traits")
    rows = frame.index.to_numpy() + 2  # CSV rows: the header is row 1
    scores = frame[list(TRAITS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)  # (n_rows, 5)
    finite = np.isfinite(scores)
    if scale != "auto":
        chosen, detected_from = TRAIT_SCALES[scale], None
    elif finite.any():
        chosen = detect_trait_scale(scores[finite])
        detected_from = _detected(np.where(finite, scores, np.nan), rows, chosen)
    else:
        chosen, detected_from = None, "no numeric score to detect a scale from"
    _check_rows(frame, rows, scores, chosen, detected_from, path)
    bfi = pd.DataFrame(to_bfi10(scores, chosen), columns=list(TRAITS), index=frame["speaker"].to_numpy())
    profiles = bfi.groupby(level=0, sort=True).mean()
    if speakers is not None:
        wanted = sorted(set(speakers))
        missing = [s for s in wanted if s not in profiles.index]
        if missing:
            raise CorpusError(path, f"no traits for corpus speakers {missing}")
        profiles = profiles.loc[wanted]
    profiles.index.name = None
    profiles.attrs["scale"] = chosen.name
    profiles.attrs["scale_detected_from"] = detected_from
    return profiles


def _check_rows(frame: pd.DataFrame, rows: np.ndarray, scores: np.ndarray, scale: Scale | None,
                detected_from: str | None, path: Path) -> None:
    """The first problem in file order (speaker, dialog, each score, duplicates) as a CorpusError."""
    by_dialog = "dialog" in frame.columns
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        speaker = frame["speaker"].iat[i]
        if not speaker:
            raise CorpusError(path, f"row {row}: speaker is empty")
        dialog = frame["dialog"].iat[i] if by_dialog else ""
        if by_dialog and not dialog:
            raise CorpusError(path, f"row {row} (speaker {speaker}): dialog is empty (the file has a dialog column)")
        for j, trait in enumerate(TRAITS):
            cell, value = frame[trait].iat[i], scores[i, j]
            if not np.isfinite(value) or scale is None or not scale.low <= value <= scale.high:
                problem = _score_problem(trait, cell, value, scale, detected_from)
                raise CorpusError(path, f"row {row} (speaker {speaker}): {problem}")
        key = (dialog, speaker)
        if key in seen:
            what = f"speaker {speaker} in dialog {dialog}" if by_dialog else f"speaker {speaker}"
            raise CorpusError(path, f"row {row}: {what} is listed twice (first in row {seen[key]})")
        seen[key] = row


def _score_problem(trait: str, cell: str, value: float, scale: Scale | None, detected_from: str | None) -> str:
    """What is wrong with one score, naming the trait and the scale (and why the scale, when detected)."""
    if scale is None:
        on = f"scale auto ({detected_from})"
    else:
        on = f"scale {scale.name} [{scale.low:g}, {scale.high:g}] ({scale.meaning})"
    if cell == "":
        problem = f"{trait} score is missing (empty cell) on {on}"
    elif np.isnan(value):
        problem = f"{trait} score{_written(cell)} is not a number on {on}"
    elif not np.isfinite(value):
        problem = f"{trait} score{_written(cell)} is not a finite number on {on}"
    else:
        problem = f"{trait} score{_written(float(value))} is out of range of {on}"
    if detected_from and scale is not None:
        problem += f"; {detected_from}. Give the scale explicitly (scale: one of {', '.join(TRAIT_SCALES)})"
    return problem
