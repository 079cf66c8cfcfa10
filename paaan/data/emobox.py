"""Reader for one corpus in EmoBox's layout (github.com/emo-box/EmoBox, ``data/<name>/``): the 4-class table.

EmoBox ships, per corpus, metadata and partitions but no audio and no transcripts (the layout and the file
formats are in ``docs/corpus_formats.md``, section "EmoBox layout"):

- ``<name>.jsonl``: one utterance a line (``key``, ``dataset``, ``wav``, ``sample_rate``, ``length``, ``emo``,
  ``channel``, ...);
- ``label_map.json``: the corpus' emotion codes -> EmoBox's emotion names (``"exc": "Happy"``);
- ``data.seg.wrd.stm``: one line per utterance, its speaker in the tag (``<id=...,lang=en,spk=1087,...>``);
- ``fold_N/<name>_{train,test}_fold_N.jsonl``: EmoBox's own cross-validation folds.

``load_emobox`` returns exactly the columns of ``paaan.data.iemocap.COLUMNS`` so that everything after the
reader treats both corpora alike. What is kept, skipped or refused:

- kept: the utterances whose code ``label_map.json`` names Angry, Happy (or Excited), Neutral or Sad, mapped
  to ``ang``, ``hap``, ``neu``, ``sad`` (``FOUR_CLASS_NAMES``);
- counted skips (``report.skipped``): the other emotions (``label:<code>``, e.g. ``label:DIS``), a line without
  an emotion (``missing_label``), and, when a transcripts CSV is given, an utterance without a row in it
  (``missing_transcript``, as ``load_iemocap`` skips one);
- counted quirks (``report.quirks``): stm lines of keys the jsonl does not have, a wav whose header disagrees
  with the jsonl's sample rate, dropped utterances without a speaker;
- errors (CorpusError naming the file, and the line where there is one): a malformed jsonl or stm line, the
  same key twice, an emotion code ``label_map.json`` does not have, a kept utterance whose key has no stm
  line (no speaker), a missing or unreadable wav (``missing_wav``, ``unreadable_wav``: an error, not a skip,
  because EmoBox's jsonl lists exactly the audio its benchmark uses, so a missing file is a broken copy, not
  a quirk of the corpus), a fold file naming a key the corpus jsonl does not have or a key in two test
  folds, a transcript row of an unknown key, and a corpus in which one of the four classes has no utterance:
  Table I is a 4-class task, and a corpus without, say, ``neu`` would give a 3-class UAR under a 4-class
  name.

A reader writes nothing anywhere.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from paaan.data import folds as fold_files
from paaan.data.iemocap import COLUMNS, LoadReport
from paaan.data.schema import EMOTIONS
from paaan.errors import CorpusError

LABEL_MAP_FILE = "label_map.json"
STM_FILE = "data.seg.wrd.stm"
# EmoBox's emotion names (the values of label_map.json: "Angry", "Happy", "Neutral", "Sad", "Fear", ...), and
# the codes some corpora use for them, lower-cased -> the four classes of paper II-A1; exc merges into hap as in
# IEMOCAP. Every other name (Fear, Disgust, Surprise, Calm, Contempt, Other, No-agreement, ...) is dropped.
FOUR_CLASS_NAMES: dict[str, str] = {
    "angry": "ang", "anger": "ang", "ang": "ang",
    "happy": "hap", "happiness": "hap", "hap": "hap", "excited": "hap", "excitement": "hap", "exc": "hap",
    "neutral": "neu", "neu": "neu",
    "sad": "sad", "sadness": "sad",
}
TRANSCRIPT_COLUMNS = ("utterance_id", "transcript")
ALIGNMENT_COLUMNS = ("words", "starts", "ends")
_GENDERS = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M"}
# "cremad-1087-IWL-ANG-XX 1 1087 0 2.969625 <id=cremad-1087-IWL-ANG-XX,lang=en,spk=1087,emotion=ANG> ANG"
_STM_LINE = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+<([^>]*)>)?(?:\s+(.*))?$")


@dataclass(frozen=True)
class EmoBoxFold:
    """One of EmoBox's own folds, as utterance ids of the table it was read for.

    ``test``: the keys of ``fold_N/<name>_test_fold_N.jsonl``; ``train``: the keys of
    ``<name>_train_fold_N.jsonl`` when the fold has one (``train_file``), else every other utterance;
    ``validation``: the keys of ``<name>_valid_fold_N.jsonl`` when the fold has one (EmoBox's official
    validation split, few corpora have it), else empty. All three hold only utterances of the table (its
    4-class rows) and are disjoint.
    """

    number: int
    test: tuple[str, ...]
    train: tuple[str, ...]
    validation: tuple[str, ...] = ()
    train_file: str = ""

    def __repr__(self) -> str:
        return (f"EmoBoxFold({self.number}, n_train={len(self.train)}, n_validation={len(self.validation)}, "
                f"n_test={len(self.test)})")


# --------------------------------------------------------------------------------------------------------------
# files


def corpus_name(folder: str | Path) -> str:
    """The corpus' name: its folder's (EmoBox: ``data/<name>/<name>.jsonl``)."""
    return Path(folder).resolve().name


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of every non-blank line; a line that is not a JSON object is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise CorpusError(path, f"malformed jsonl line: not JSON ({getattr(exc, 'msg', exc)})",
                              line=number) from None
        if not isinstance(entry, dict):
            raise CorpusError(path, f"malformed jsonl line: a JSON {type(entry).__name__}, not an object", line=number)
        yield number, entry


def _corpus_file(folder: Path) -> Path:
    if not folder.is_dir():
        raise CorpusError(folder, "EmoBox corpus folder does not exist (expected data/<name>/ with <name>.jsonl)")
    path = folder / f"{corpus_name(folder)}.jsonl"
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in folder.glob("*.jsonl"))[:3]) or "none"
        raise CorpusError(path, f"corpus jsonl is missing (EmoBox names it after the folder; *.jsonl here: {found})")
    return path


def read_label_map(folder: str | Path) -> dict[str, str]:
    """``label_map.json``: the corpus' emotion code -> EmoBox's emotion name."""
    path = Path(folder) / LABEL_MAP_FILE
    if not path.is_file():
        raise CorpusError(path, "label map is missing (EmoBox's label_map.json: emotion code -> emotion name)")
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise CorpusError(path, f"not JSON ({getattr(exc, 'msg', exc)})", line=line) from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise CorpusError(path, "expected one JSON object of emotion code -> emotion name (strings)")
    return {str(code): name for code, name in mapping.items()}


def four_class_of(name: str) -> str | None:
    """The four-class label of an EmoBox emotion name (``"Happy"``, ``"Excited"`` -> ``"hap"``), or None."""
    return FOUR_CLASS_NAMES.get(name.strip().lower())


def read_stm(folder: str | Path) -> dict[str, dict]:
    """``{key: {"speaker", "line", "emotion", "lang"}}`` from ``data.seg.wrd.stm``.

    A line is ``<key> <channel> <speaker> <start> <end> <tag> <text>`` (NIST STM) with EmoBox's tag
    ``<id=<key>,lang=en,spk=<speaker>,emotion=<code>>``. The speaker is the tag's ``spk`` (the third
    column where the tag has none). ``;;`` comment lines and blank lines are ignored. A line that does not
    parse, a tag whose ``id`` is not the line's key, or a key with two different speakers is an error.
    """
    path = Path(folder) / STM_FILE
    if not path.is_file():
        raise CorpusError(path, "speaker file is missing (EmoBox's data.seg.wrd.stm holds each utterance's speaker)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise CorpusError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    speakers: dict[str, dict] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith(";;"):
            continue
        match = _STM_LINE.match(line.strip())
        if not match:
            raise CorpusError(path, f"stm line does not parse (expected '<key> <channel> <speaker> <start> <end> "
                                    f"<id=...,spk=...>'): {line.strip()!r}", line=number)
        key, _, column_speaker, _, _, tag, _ = match.groups()
        fields = dict(part.split("=", 1) for part in (tag or "").split(",") if "=" in part)
        if "id" in fields and fields["id"] != key:
            raise CorpusError(path, f"tag id {fields['id']!r} is not the line's key {key!r}", line=number)
        speaker = fields.get("spk") or column_speaker
        if key in speakers and speakers[key]["speaker"] != speaker:
            raise CorpusError(path, f"key {key} has speaker {speaker!r} here and {speakers[key]['speaker']!r} on "
                                    f"line {speakers[key]['line']}", line=number)
        speakers[key] = {"speaker": speaker, "line": number, "emotion": fields.get("emotion"),
                         "lang": fields.get("lang")}
    return speakers


def read_transcripts(path: str | Path, keys=None) -> pd.DataFrame:
    """A transcripts CSV: columns ``utterance_id,transcript`` and optionally ``words,starts,ends``.

    ``words`` is the space-separated words of a forced alignment, ``starts`` and ``ends`` their times in seconds
    from the start of the utterance's wav, space-separated, one per word (a row with empty ``words`` has no
    alignment). Returns one row per utterance: ``utterance_id``, ``transcript``, ``align_words``,
    ``align_starts``, ``align_ends`` (lists, or None without an alignment) and ``line`` (the CSV line). With
    ``keys`` (the corpus' utterance ids), a row of an id not among them is an error naming its line.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(path, "transcripts CSV not found (columns utterance_id,transcript[,words,starts,ends])")
    known = set(keys) if keys is not None else None
    rows, seen = [], {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if not set(TRANSCRIPT_COLUMNS) <= set(columns):
                raise CorpusError(path, f"needs columns {', '.join(TRANSCRIPT_COLUMNS)} (optionally "
                                        f"{', '.join(ALIGNMENT_COLUMNS)}); columns are {columns}", line=1)
            aligned = [c for c in ALIGNMENT_COLUMNS if c in columns]
            if aligned and len(aligned) != len(ALIGNMENT_COLUMNS):
                raise CorpusError(path, f"word timings need all of {', '.join(ALIGNMENT_COLUMNS)}; found only "
                                        f"{', '.join(aligned)}", line=1)
            start_line = 2
            for record in reader:
                number, start_line = start_line, reader.line_num + 1  # a quoted field may span lines
                utt = (record.get("utterance_id") or "").strip()
                if not utt:
                    raise CorpusError(path, "empty utterance_id", line=number)
                if utt in seen:
                    raise CorpusError(path, f"utterance {utt} has a second row (first on line {seen[utt]})",
                                      line=number)
                if known is not None and utt not in known:
                    raise CorpusError(path, f"transcript row for unknown key {utt!r} (not in the corpus jsonl)",
                                      line=number)
                seen[utt] = number
                words, starts, ends = _alignment(path, number, record) if aligned else (None, None, None)
                rows.append({"utterance_id": utt, "transcript": (record.get("transcript") or "").strip(),
                             "align_words": words, "align_starts": starts, "align_ends": ends, "line": number})
    except UnicodeDecodeError as exc:
        raise CorpusError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise CorpusError(path, f"does not parse as CSV: {exc}") from None
    return pd.DataFrame(rows, columns=["utterance_id", "transcript", "align_words", "align_starts", "align_ends",
                                       "line"])


def _alignment(path: Path, number: int, record: dict):
    words = (record.get("words") or "").split()
    if not words:
        return None, None, None
    try:
        starts = [float(v) for v in (record.get("starts") or "").split()]
        ends = [float(v) for v in (record.get("ends") or "").split()]
    except ValueError as exc:
        raise CorpusError(path, f"word times must be numbers in seconds ({exc})", line=number) from None
    if not len(words) == len(starts) == len(ends):
        raise CorpusError(path, f"{len(words)} words but {len(starts)} starts and {len(ends)} ends", line=number)
    for word, start, end in zip(words, starts, ends):
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise CorpusError(path, f"word {word!r} spans [{start}, {end}] s: times must be finite, >= 0 and "
                                    "end >= start", line=number)
    return words, starts, ends


def has_transcripts(table: pd.DataFrame) -> bool:
    """True when the table carries words: some utterance has a non-empty transcript. ``load_emobox`` with a
    transcripts CSV skips the utterances without a row (``missing_transcript``), so a table holds the CSV's
    text for every row or no text at all (EmoBox itself ships none: a speech-only corpus)."""
    if "transcript" not in table or len(table) == 0:
        return False
    return bool((table["transcript"].fillna("").astype(str).str.strip() != "").any())


# --------------------------------------------------------------------------------------------------------------
# folds


def _test_membership(folder: Path, keys: set[str]) -> pd.Series:
    """key -> fold number of EmoBox's test splits, parsed by ``paaan.data.folds`` (the reader the ``file``
    protocol uses); an unknown key or a key in two test folds is an error naming the file and line."""
    if not any(folder.glob("fold_*/*_test_fold_*.jsonl")):
        return pd.Series([], index=pd.Index([], dtype=object), dtype=np.int64, name="fold")
    membership = fold_files._read_emobox(folder, keys)
    unknown = membership.index.difference(pd.Index(sorted(keys)))
    if len(unknown):
        first = unknown[0]
        file, line, key = _locate(folder, int(membership.loc[[first]].iloc[0]), first, keys)
        raise CorpusError(file, f"fold file names key {key!r}, which the corpus jsonl does not have "
                                f"({len(unknown)} unknown keys in the fold files)", line=line)
    duplicated = membership.index[membership.index.duplicated()]
    if len(duplicated):
        first = duplicated[0]
        numbers = sorted(int(f) for f in membership.loc[[first]])
        file, line, _ = _locate(folder, numbers[-1], first, keys)
        raise CorpusError(file, f"key {first} is in the test split of folds {', '.join(map(str, numbers))}",
                          line=line)
    return membership.astype(np.int64)


def _fold_file(folder: Path, fold: int, split: str) -> Path | None:
    found = sorted((folder / f"fold_{fold}").glob(f"*_{split}_fold_{fold}.jsonl"))
    return found[0] if found else None


def _locate(folder: Path, fold: int, utterance: str, keys: set[str]) -> tuple[Path, int | None, str]:
    """The test file of ``fold``, the line naming ``utterance`` and the key as that line writes it (for an error
    message: ``paaan.data.folds`` strips a dataset prefix from a key it does not know)."""
    file = _fold_file(folder, fold, "test")
    for number, entry in _jsonl(file):
        if fold_files._utterance_of_key(str(entry.get("key")), keys) == utterance:
            return file, number, str(entry.get("key"))
    return file, None, utterance


def _split_keys(file: Path, keys: set[str]) -> list[tuple[str, int]]:
    """(key, line) of a train or valid fold file; a key the corpus jsonl does not have is an error."""
    out = []
    for number, entry in _jsonl(file):
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            raise CorpusError(file, "malformed jsonl line: no 'key'", line=number)
        if key not in keys:
            raise CorpusError(file, f"fold file names key {key!r}, which the corpus jsonl does not have", line=number)
        out.append((key, number))
    return out


def read_emobox_folds(folder: str | Path, table: pd.DataFrame) -> list[EmoBoxFold]:
    """EmoBox's own folds of the corpus in ``folder``, restricted to the utterances of ``table`` (a
    ``load_emobox`` table): test = the fold's test file, train = its train file or, without one, every
    other utterance, validation = its valid file or nothing. A fold file naming a key that is not in the
    corpus jsonl, a train or valid key that is also a test key of that fold, or a folder without fold files
    is an error naming the file (and line)."""
    folder = Path(folder)
    keys = {entry["key"] for _, entry in _jsonl(_corpus_file(folder)) if isinstance(entry.get("key"), str)}
    membership = _test_membership(folder, keys)
    if membership.empty:
        raise CorpusError(folder, "no EmoBox fold files (fold_N/<name>_test_fold_N.jsonl)")
    ids = [str(u) for u in table["utterance_id"]]
    out = []
    for number in sorted(set(membership.tolist())):
        test_keys = set(membership.index[membership.to_numpy() == number])
        test = tuple(u for u in ids if u in test_keys)
        splits: dict[str, tuple[str, ...]] = {}
        train_file = ""
        for split in ("train", "valid"):
            file = _fold_file(folder, number, split)
            if file is None:
                continue
            listed = _split_keys(file, keys)
            for key, line in listed:
                if key in test_keys:
                    raise CorpusError(file, f"key {key} is also in fold {number}'s test split", line=line)
            chosen = {k for k, _ in listed}
            splits[split] = tuple(u for u in ids if u in chosen)
            train_file = str(file) if split == "train" else train_file
        validation = splits.get("valid", ())
        if "train" in splits:
            train = tuple(u for u in splits["train"] if u not in set(validation))
        else:
            held = test_keys | set(validation)
            train = tuple(u for u in ids if u not in held)
        out.append(EmoBoxFold(number, test, train, validation, train_file))
    return out


# --------------------------------------------------------------------------------------------------------------
# the table


def _number(path: Path, number: int, entry: dict, field: str, required: bool = True) -> float | None:
    value = entry.get(field)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CorpusError(path, f"malformed jsonl line: {field!r} must be a positive number, got {value!r}",
                          line=number)
    return float(value)


def _wav_path(wav: str, wav_root: Path) -> Path:
    path = Path(wav)
    return path if path.is_absolute() else wav_root / path


def load_emobox(folder: str | Path, wav_root: str | Path | None = None, transcripts: str | Path | None = None,
                check_audio: bool = True) -> pd.DataFrame:
    """One row per 4-class utterance of the EmoBox corpus in ``folder`` (columns: ``iemocap.COLUMNS``); the
    skip report is in ``df.attrs["report"]``.

    ``wav_root``: the folder the jsonl's relative ``wav`` paths start from (EmoBox's ``downloads/<name>/...``
    paths start at the EmoBox checkout, so give that); None: the corpus folder itself. Absolute paths are kept.
    ``transcripts``: a CSV ``utterance_id,transcript[,words,starts,ends]`` (``read_transcripts``) keyed by the
    EmoBox key; None: no transcripts (``""``). ``check_audio``: open every wav's header (sample rate, frames);
    without it only the file's existence is checked and the sample rate is the jsonl's.

    Columns: ``utterance_id`` the EmoBox key, ``session`` the fold whose test split holds the utterance
    (1..N, 0 when none does), ``dialog`` "", ``speaker`` from the stm, ``gender`` the jsonl's optional
    ``gender`` (F/M) or "", ``label`` the four class, ``raw_label`` the corpus' code, ``start`` 0 and
    ``end`` = ``duration`` the jsonl's ``length`` (or ``num_frame / sample_rate``) in seconds, ``wav_path``
    absolute, ``align_*`` from the CSV's word timings or None, valence/activation/dominance NaN.
    """
    folder = Path(folder)
    jsonl = _corpus_file(folder)
    label_map = read_label_map(folder)
    name = corpus_name(folder)
    wav_root = Path(wav_root).resolve() if wav_root is not None else folder.resolve()
    report = LoadReport()

    entries: list[tuple[int, dict]] = []
    lines_of: dict[str, int] = {}
    for number, entry in _jsonl(jsonl):
        key = entry.get("key")
        if not isinstance(key, str) or not key.strip():
            raise CorpusError(jsonl, "malformed jsonl line: no 'key' (a non-empty string)", line=number)
        if key in lines_of:
            raise CorpusError(jsonl, f"key {key} appears twice (first on line {lines_of[key]})", line=number)
        lines_of[key] = number
        entries.append((number, entry))
    keys = set(lines_of)
    stm = read_stm(folder)
    report.quirks["stm_lines_without_jsonl_key"] += len(set(stm) - keys)
    membership = _test_membership(folder, keys)
    texts = read_transcripts(transcripts, keys).set_index("utterance_id") if transcripts is not None else None

    rows, missing = [], []
    for number, entry in entries:
        key = entry["key"]
        code = entry.get("emo")
        if code is None or (isinstance(code, str) and not code.strip()):
            report.skip("missing_label", jsonl, key)
            continue
        code = str(code)
        if code not in label_map:
            raise CorpusError(jsonl, f"unknown emotion code {code!r} for {key}: not in {folder / LABEL_MAP_FILE} "
                                     f"(codes: {', '.join(sorted(label_map))})", line=number)
        label = four_class_of(label_map[code])
        if label is None:
            report.skip(f"label:{code}", jsonl, key)
            if key not in stm:
                report.quirks["dropped_without_stm_speaker"] += 1
            continue
        if key not in stm:
            raise CorpusError(jsonl, f"key {key} has no line in {folder / STM_FILE}, so no speaker", line=number)
        wav = entry.get("wav")
        if not isinstance(wav, str) or not wav.strip():
            raise CorpusError(jsonl, f"malformed jsonl line: no 'wav' path for {key}", line=number)
        if entry.get("type", "raw") != "raw":
            raise CorpusError(jsonl, f"{key} is of type {entry.get('type')!r}; only raw audio ('raw') is read",
                              line=number)
        if "start_time" in entry or "end_time" in entry:
            raise CorpusError(jsonl, f"{key} is a segment (start_time/end_time) of a longer wav; paaan reads one "
                                     "wav per utterance", line=number)
        rate = _number(jsonl, number, entry, "sample_rate")
        length = _number(jsonl, number, entry, "length", required=False)
        if length is None:
            length = _number(jsonl, number, entry, "num_frame") / rate
        path = _wav_path(wav, wav_root)
        if not path.is_file():
            missing.append((number, key, wav, path))
            continue
        sample_rate = int(rate)
        if check_audio:
            try:
                info = sf.info(str(path))
                if info.frames == 0:
                    raise RuntimeError("no audio frames")
            except Exception as exc:  # soundfile raises several types for a corrupt header
                raise CorpusError(jsonl, f"unreadable_wav: {key}: {path} does not open as audio ({exc})",
                                  line=number) from None
            if int(info.samplerate) != sample_rate:
                report.quirks["sample_rate_differs_from_jsonl"] += 1
            sample_rate = int(info.samplerate)
        transcript, words, starts, ends = "", None, None, None
        if texts is not None:
            if key not in texts.index:
                report.skip("missing_transcript", transcripts, key)
                continue
            text = texts.loc[key]
            transcript, words, starts, ends = (text["transcript"], text["align_words"], text["align_starts"],
                                               text["align_ends"])
        gender = _GENDERS.get(str(entry.get("gender", "")).strip().lower(), "")
        session = int(membership[key]) if key in membership.index else 0
        rows.append({
            "utterance_id": key, "session": session, "dialog": "", "speaker": str(stm[key]["speaker"]),
            "gender": gender, "label": label, "raw_label": code, "transcript": transcript,
            "start": 0.0, "end": round(length, 6), "duration": round(length, 6), "sample_rate": sample_rate,
            "wav_path": str(path.resolve()), "align_words": words, "align_starts": starts, "align_ends": ends,
            "valence": float("nan"), "activation": float("nan"), "dominance": float("nan"),
        })
    if missing:
        number, key, wav, path = missing[0]
        how = "absolute path" if Path(wav).is_absolute() else f"{wav!r} resolved against wav_root {wav_root}"
        raise CorpusError(jsonl, f"missing_wav: {key}: {path} does not exist ({how}); {len(missing)} of the kept "
                                 "utterances' wavs are missing (give wav_root, the folder EmoBox's relative "
                                 "paths start from)", line=number)
    table = pd.DataFrame(rows, columns=COLUMNS)
    absent = [e for e in EMOTIONS if not (table["label"] == e).any()]
    if absent:
        raise CorpusError(jsonl, f"corpus {name!r} has no utterance of class {', '.join(absent)}: Table I is a "
                                 f"4-class task ({', '.join(EMOTIONS)}), so a corpus without one of them is refused "
                                 f"(label_map.json names: {', '.join(sorted(set(label_map.values())))})")
    table = table.sort_values("utterance_id", kind="stable").reset_index(drop=True)
    report.kept = len(table)
    table.attrs["report"] = report
    return table
