"""Reader for IEMOCAP_full_release (paper II-A1): one row per utterance of the 4-class task.

The layout and the file formats are in ``docs/corpus_formats.md``. What is kept, skipped or refused:

- kept: labels ``ang``, ``hap``, ``neu``, ``sad``, and ``exc`` merged into ``hap`` (the paper's 5531 on the
  real release: 1103 ang, 1636 hap, 1708 neu, 1084 sad);
- counted skips (``report.skipped``, listed with the file in ``report.skipped_files``): the other labels
  (``label:fru``, ``label:xxx``, ...), a labelled utterance whose wav is missing (``missing_wav``) or
  unreadable (``unreadable_wav``), or whose transcript line is missing (``missing_transcript``);
- ignored and counted as quirks (``report.quirks``): macOS ``._*`` files, transcript lines without an
  utterance id, transcript ids without a label (``MXX``/``FXX``);
- errors (CorpusError naming the file, and the line where there is one): a missing root or session folder,
  a session without label files, a label line that does not parse, an unknown emotion code, the same
  utterance id labelled twice, an evaluator's rating line (``A-E3:``) that does not parse or rates outside
  1-5.

Valence, activation and dominance are the mean of the external evaluators' ratings (``parse_emo_evaluation``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import soundfile as sf

from paaan.errors import CorpusError

SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
LABEL_MAP: dict[str, str] = {"ang": "ang", "hap": "hap", "exc": "hap", "neu": "neu", "sad": "sad"}
DROPPED_LABELS: tuple[str, ...] = ("fru", "sur", "fea", "dis", "oth", "xxx")

# "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]"
_LABEL_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\]\s+(\S+)\s+(\S+)\s+\[([^\]]*)\]\s*$")
# "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
# "A-E4:\tval 1; act 4; dom  5;\t(threatening, belligerent)": one external evaluator's dimensional rating
_EVALUATOR_LINE = re.compile(r"^A-E\d+:\s*val\s+([^;\s]+)\s*;\s*act\s+([^;\s]+)\s*;\s*dom\s+([^;\s]+)\s*;")
RATING_RANGE: tuple[float, float] = (1.0, 5.0)  # IEMOCAP's valence, activation and dominance scales
_TRANSCRIPT_LINE = re.compile(r"^(Ses\S+)\s+\[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\]:\s?(.*)$")
_UTTERANCE_ID = re.compile(r"^Ses(\d{1,2})[FM]_\S+_([FM])[0-9X]{3}$")
_SESSION_DIR = re.compile(r"^Session(\d+)$")
_NON_WORDS = re.compile(r"^(<s>|</s>|<sil>|\+\+.*\+\+|\[.*\])$", re.IGNORECASE)
_VARIANT = re.compile(r"\(\d+\)$")
WDSEG_FRAME_SECONDS = 0.01

COLUMNS = [
    "utterance_id", "session", "dialog", "speaker", "gender", "label", "raw_label", "transcript",
    "start", "end", "duration", "sample_rate", "wav_path", "align_words", "align_starts", "align_ends",
    "valence", "activation", "dominance",
]


@dataclass
class LoadReport:
    """What a reader kept, skipped (and why) and ignored; ``paaan inspect`` prints it."""

    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    quirks: Counter = field(default_factory=Counter)

    def skip(self, reason: str, path: str | Path, detail: str = "") -> None:
        self.skipped[reason] += 1
        self.skipped_files.append({"reason": reason, "path": str(path), "detail": detail})


def speaker_of(utterance_id: str) -> tuple[int, str, str]:
    """(session, speaker, gender) of an utterance id.

    The speaker is the session plus the gender letter of the id's LAST part: ``Ses01F_impro01_M003`` is
    ``Ses01M``, the male speaker of session 1; the ``Ses01F`` prefix names who wore the motion-capture
    markers in that dialog, not who speaks.
    """
    match = _UTTERANCE_ID.match(utterance_id)
    if not match:
        raise ValueError(f"not an IEMOCAP utterance id: {utterance_id!r}")
    session, gender = int(match.group(1)), match.group(2)
    return session, f"Ses{session:02d}{gender}", gender


def _visible(paths) -> list[Path]:
    """Sorted paths, without macOS resource-fork files (``._name``)."""
    return sorted(p for p in paths if not p.name.startswith("._"))


def parse_emo_evaluation(path: Path) -> list[dict]:
    """The utterances of one ``EmoEvaluation/<dialog>.txt``, each with its mean dimensional rating.

    Each utterance block is the utterance line, then per-rater lines: categorical (``C-E2:``, ``C-F1:``) and
    dimensional (``A-E3:\tval 3; act 2; dom  2;\t()``). An utterance's valence, activation and dominance are
    the means of its ``A-E*`` lines, the external evaluators' ratings, as the literature (and EmoBox) use
    them; the actors' self-ratings (``A-F1:``, ``A-M1:``, in some files) are excluded. A block without an
    ``A-E`` line falls back to the utterance line's ``[V, A, D]`` (which the release writes as that same
    mean). An ``A-E`` line that does not parse, or rates outside 1-5, is an error naming the file and line.
    """
    rows = []
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            lines = handle.read().splitlines()
        except UnicodeDecodeError as exc:
            raise CorpusError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    ratings: list[list[tuple[float, float, float]]] = []  # per row: its evaluators' (val, act, dom)
    for number, line in enumerate(lines, start=1):
        if line.startswith("A-E"):
            if not rows:
                raise CorpusError(path, f"evaluator rating before any utterance line: {line.strip()!r}", line=number)
            ratings[-1].append(_evaluator_rating(path, line, number))
            continue
        if not line.startswith("["):
            continue  # header (%), categorical lines (C-E2:), self-ratings (A-F1:, A-M1:), blank lines
        match = _LABEL_LINE.match(line)
        if not match:
            raise CorpusError(path, f"label line does not parse: {line.strip()!r}", line=number)
        start, end, utt, code, vad = match.groups()
        if code not in LABEL_MAP and code not in DROPPED_LABELS:
            raise CorpusError(path, f"unknown emotion code {code!r} for {utt}", line=number)
        try:
            valence, activation, dominance = (float(v) for v in vad.split(","))
        except ValueError:
            raise CorpusError(path, f"[V, A, D] does not parse: [{vad}]", line=number) from None
        rows.append({"utterance_id": utt, "raw_label": code, "start": float(start), "end": float(end),
                     "valence": valence, "activation": activation, "dominance": dominance, "line": number})
        ratings.append([])
    for row, votes in zip(rows, ratings):
        if votes:
            for i, name in enumerate(("valence", "activation", "dominance")):
                row[name] = sum(v[i] for v in votes) / len(votes)
    return rows


def _evaluator_rating(path: Path, line: str, number: int) -> tuple[float, float, float]:
    """(val, act, dom) of one ``A-E*`` line, each on IEMOCAP's 1-5 scale, or a CorpusError (file, line)."""
    match = _EVALUATOR_LINE.match(line)
    try:
        values = tuple(float(v) for v in match.groups()) if match else None
    except ValueError:
        values = None
    if values is None:
        raise CorpusError(path, f"evaluator rating line does not parse: {line.strip()!r}", line=number)
    low, high = RATING_RANGE
    for name, value in zip(("val", "act", "dom"), values):
        if not low <= value <= high:
            raise CorpusError(path, f"evaluator rating {name} {value:g} is out of range [{low:g}, {high:g}]: "
                              f"{line.strip()!r}", line=number)
    return values


def parse_transcriptions(path: Path, report: LoadReport) -> dict[str, str]:
    """``{utterance id: text}`` of one ``transcriptions/<dialog>.txt``; id-less lines are counted quirks."""
    texts: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise CorpusError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for line in lines:
        if not line.strip():
            continue
        match = _TRANSCRIPT_LINE.match(line.strip())
        if not match:
            report.quirks["transcript_line_without_id"] += 1
            continue
        texts[match.group(1)] = match.group(4).strip()
    return texts


def parse_wdseg(path: Path) -> tuple[list[str], list[float], list[float]]:
    """Words and their start/end times in seconds from a ``.wdseg`` forced-alignment file.

    Frames are 10 ms; a word spans frames SFrm..EFrm inclusive, so it ends at (EFrm + 1) / 100 s. Non-words
    (``<s>``, ``</s>``, ``<sil>``, ``++NOISE++``) are dropped and variant suffixes (``THE(2)``) stripped.
    """
    words, starts, ends = [], [], []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise CorpusError(path, f"cannot read word alignment ({exc.strerror})") from None
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) < 4 or not (parts[0].isdigit() and parts[1].isdigit()):
            continue  # header "SFrm EFrm SegAScr Word" and the closing "Total score" line
        first, last, word = int(parts[0]), int(parts[1]), parts[3]
        if last < first:
            raise CorpusError(path, f"word {word!r} ends (frame {last}) before it starts ({first})", line=number)
        if _NON_WORDS.match(word):
            continue
        words.append(_VARIANT.sub("", word))
        starts.append(round(first * WDSEG_FRAME_SECONDS, 4))
        ends.append(round((last + 1) * WDSEG_FRAME_SECONDS, 4))
    return words, starts, ends


def _session_dir(root: Path, session: int) -> Path:
    folder = root / f"Session{session}"
    if not folder.is_dir():
        raise CorpusError(folder, "session folder is missing (IEMOCAP_full_release has Session1..Session5)")
    return folder


def find_sessions(root: str | Path) -> tuple[int, ...]:
    """The sessions of a corpus root: IEMOCAP's Session1..Session5, and any further Session6, Session7, ...
    that follow them without a gap (a demo corpus with more than ten speakers, two per session). A missing
    one of the five, or a gap after them, is an error naming the missing folder."""
    root = Path(root)
    found = sorted(int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := _SESSION_DIR.match(p.name)))
    last = max([*found, SESSIONS[-1]])
    for session in range(1, last + 1):
        if session not in found:
            expected = "Session1..Session5" if session <= SESSIONS[-1] else f"Session1..Session{last} without a gap"
            raise CorpusError(root / f"Session{session}", f"session folder is missing (expected {expected})")
    return tuple(range(1, last + 1))


def scan_iemocap(root: str | Path, sessions: tuple[int, ...] | None = None,
                 check_audio: bool = True) -> tuple[pd.DataFrame, LoadReport]:
    """Read the corpus; return the 4-class utterance table and the report of what was skipped and why.
    ``sessions``: which to read (None: every session of the root, ``find_sessions``)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "IEMOCAP root folder does not exist")
    if sessions is None:
        sessions = find_sessions(root)
    report = LoadReport()
    rows: list[dict] = []
    seen: dict[str, str] = {}
    for session in sessions:
        session_dir = _session_dir(root, session)
        label_dir = session_dir / "dialog" / "EmoEvaluation"
        label_files = _visible(label_dir.glob("*.txt")) if label_dir.is_dir() else []
        report.quirks["macos_resource_files"] += sum(1 for p in label_dir.glob("._*")) if label_dir.is_dir() else 0
        if not label_files:
            raise CorpusError(label_dir, "no label files (dialog/EmoEvaluation/<dialog>.txt) in this session")
        for label_file in label_files:
            dialog = label_file.stem
            transcript_file = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
            texts = parse_transcriptions(transcript_file, report) if transcript_file.is_file() else {}
            labelled = parse_emo_evaluation(label_file)
            report.quirks["transcript_id_without_label"] += len(set(texts) - {r["utterance_id"] for r in labelled})
            for entry in labelled:
                utt = entry["utterance_id"]
                if utt in seen:
                    raise CorpusError(label_file, f"utterance {utt} is labelled twice (also in {seen[utt]})",
                                      line=entry["line"])
                seen[utt] = str(label_file)
                if entry["raw_label"] not in LABEL_MAP:
                    report.skip(f"label:{entry['raw_label']}", label_file, utt)
                    continue
                rows.append(_utterance_row(root, session_dir, dialog, entry, texts, transcript_file,
                                           report, check_audio))
    table = pd.DataFrame([r for r in rows if r is not None], columns=COLUMNS)
    table = table.sort_values("utterance_id", kind="stable").reset_index(drop=True)
    report.kept = len(table)
    return table, report


def _utterance_row(root, session_dir, dialog, entry, texts, transcript_file, report, check_audio):
    utt = entry["utterance_id"]
    try:
        session, speaker, gender = speaker_of(utt)
    except ValueError as exc:
        raise CorpusError(session_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt", str(exc),
                          line=entry["line"]) from None
    wav = session_dir / "sentences" / "wav" / dialog / f"{utt}.wav"
    if not wav.is_file():
        report.skip("missing_wav", wav, utt)
        return None
    sample_rate = None
    if check_audio:
        try:
            info = sf.info(str(wav))
            sample_rate = int(info.samplerate)
            if info.frames == 0:
                raise RuntimeError("no audio frames")
        except Exception as exc:  # soundfile raises several types for a corrupt header
            report.skip("unreadable_wav", wav, f"{utt}: {exc}")
            return None
    if utt not in texts:
        report.skip("missing_transcript", transcript_file, utt)
        return None
    alignment = session_dir / "sentences" / "ForcedAlignment" / dialog / f"{utt}.wdseg"
    words, starts, ends = parse_wdseg(alignment) if alignment.is_file() else (None, None, None)
    if words is None:
        report.quirks["utterances_without_alignment"] += 1
    return {
        "utterance_id": utt, "session": session, "dialog": dialog, "speaker": speaker, "gender": gender,
        "label": LABEL_MAP[entry["raw_label"]], "raw_label": entry["raw_label"], "transcript": texts[utt],
        "start": entry["start"], "end": entry["end"], "duration": round(entry["end"] - entry["start"], 4),
        "sample_rate": sample_rate, "wav_path": str(wav.resolve()),
        "align_words": words, "align_starts": starts, "align_ends": ends,
        "valence": entry["valence"], "activation": entry["activation"], "dominance": entry["dominance"],
    }


def load_iemocap(root: str | Path, sessions: tuple[int, ...] | None = None, check_audio: bool = True) -> pd.DataFrame:
    """One row per 4-class utterance (columns: ``COLUMNS``); the skip report is in ``df.attrs["report"]``."""
    table, report = scan_iemocap(root, sessions=sessions, check_audio=check_audio)
    table.attrs["report"] = report
    return table
