"""The emotion corpus a study reads, as one object: its layout (a row of ``LAYOUTS``), where it lies, and, for
EmoBox's layout, where its wavs and transcripts are.

IEMOCAP is the paper's emotion corpus (II-A1); the paper's future work is "other emotion corpora". Every
step after the reader treats them alike: a layout's reader returns the table of ``paaan.data.iemocap.COLUMNS``
and a ``LoadReport``. ``EmotionCorpus.load`` adds the column ``corpus`` (the corpus' name), so a table of two
corpora (the cross-corpus protocol, ``paaan.data.folds``) knows where each utterance comes from.

Layouts (``LAYOUTS``; adding one is a row and a reader):

- ``iemocap``: the IEMOCAP release as it is (``paaan.data.iemocap``), name ``iemocap``; transcripts and word
  alignments come with it.
- ``emobox``: one corpus folder of EmoBox's ``data/`` (``paaan.data.emobox``), named after the folder; wav paths
  relative to ``wav_root`` (default: the folder), transcripts from a CSV the user gives (EmoBox has none;
  default: ``transcripts.csv`` in the folder when there is one). Without transcripts the corpus has no words:
  only the audio-only variants can run on it.

A spec names a corpus on the command line: ``iemocap:DIR``, ``emobox:DIR`` (``parse_spec``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from paaan.data.iemocap import LoadReport
from paaan.errors import CorpusError, row_of

TRANSCRIPTS_FILE = "transcripts.csv"  # where an EmoBox corpus' transcripts are looked for when none is given


@dataclass(frozen=True)
class Layout:
    """How a corpus lies on disk: its name, what it is, how to read it and which files identify it."""

    name: str
    description: str
    read: Callable[["EmotionCorpus", bool], tuple[pd.DataFrame, LoadReport]]
    corpus_name: Callable[["EmotionCorpus"], str]


def _read_iemocap(corpus: "EmotionCorpus", check_audio: bool) -> tuple[pd.DataFrame, LoadReport]:
    from paaan.data.iemocap import scan_iemocap

    return scan_iemocap(corpus.root, check_audio=check_audio)


def _read_emobox(corpus: "EmotionCorpus", check_audio: bool) -> tuple[pd.DataFrame, LoadReport]:
    from paaan.data.emobox import load_emobox

    table = load_emobox(corpus.root, wav_root=corpus.wav_root, transcripts=corpus.transcripts, check_audio=check_audio)
    return table, table.attrs.pop("report")


def _emobox_name(corpus: "EmotionCorpus") -> str:
    from paaan.data.emobox import corpus_name

    return corpus_name(corpus.root)


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("iemocap", "the IEMOCAP release (SessionN/dialog, sentences)", _read_iemocap, lambda corpus: "iemocap"),
    Layout("emobox", "one corpus of EmoBox's data/ (<name>.jsonl, label_map.json, data.seg.wrd.stm, fold_N/)",
           _read_emobox, _emobox_name),
)}


@dataclass(frozen=True)
class EmotionCorpus:
    """A labelled emotion corpus: ``layout`` (a row of ``LAYOUTS``), ``root``, and for EmoBox's layout the
    ``wav_root`` its relative wav paths start from and the ``transcripts`` CSV (None: none)."""

    layout: str
    root: Path
    wav_root: Path | None = None
    transcripts: Path | None = None

    def __post_init__(self) -> None:
        row_of(LAYOUTS, self.layout, "corpus layout")
        if self.layout == "iemocap" and (self.wav_root or self.transcripts):
            raise ValueError("an IEMOCAP-layout corpus holds its own wavs and transcripts (no wav_root, transcripts)")

    @property
    def name(self) -> str:
        """``iemocap``, or an EmoBox corpus' folder name (``acted_demo``, ``cremad``)."""
        return LAYOUTS[self.layout].corpus_name(self)

    @property
    def has_text(self) -> bool:
        """Whether the corpus has words: IEMOCAP always; an EmoBox corpus only with a transcripts CSV."""
        return self.layout == "iemocap" or self.transcripts is not None

    @property
    def spec(self) -> str:
        """How the command line names it (``emobox:/data/EmoBox/data/cremad``); logged as a parameter."""
        return f"{self.layout}:{self.root}"

    def load(self, check_audio: bool = True) -> tuple[pd.DataFrame, LoadReport]:
        """The 4-class table (``iemocap.COLUMNS`` and ``corpus``, the corpus' name) and what was skipped."""
        table, report = LAYOUTS[self.layout].read(self, check_audio)
        return table.assign(corpus=self.name), report

    def files(self) -> list[Path]:
        """The files whose sizes and mtimes identify the corpus (its data fingerprint): everything under the root,
        and for EmoBox's layout the transcripts CSV and the wavs under a ``wav_root`` outside the root."""
        files = [p for p in sorted(self.root.rglob("*")) if p.is_file()]
        if self.transcripts is not None:
            files.append(self.transcripts)
        if self.wav_root is not None and not _inside(self.wav_root, self.root):
            table, _ = self.load(check_audio=False)
            files += sorted(Path(p) for p in table["wav_path"])
        return files

    def describe(self) -> dict[str, str]:
        """What a run logs about it (paths as given; ``experiments.corpora.redact`` hides the home folder)."""
        return {"layout": self.layout, "name": self.name, "root": str(self.root),
                "wav_root": str(self.wav_root or ""), "transcripts": str(self.transcripts or "")}


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def emotion_corpus(layout: str, root: str | Path, wav_root: str | Path | None = None,
                   transcripts: str | Path | None = None) -> EmotionCorpus:
    """An ``EmotionCorpus`` with absolute paths; an EmoBox corpus without ``transcripts`` takes the folder's
    ``transcripts.csv`` when there is one. A missing root or transcripts file is a CorpusError naming it."""
    row_of(LAYOUTS, layout, "corpus layout")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise CorpusError(root, f"{layout} corpus folder does not exist")
    if layout == "emobox":
        if transcripts:
            transcripts = Path(transcripts).expanduser().resolve()
            if not transcripts.is_file():
                raise CorpusError(transcripts, "transcripts CSV not found (columns utterance_id,transcript)")
        elif (root / TRANSCRIPTS_FILE).is_file():
            transcripts = root / TRANSCRIPTS_FILE
        wav_root = Path(wav_root).expanduser().resolve() if wav_root else None
    elif wav_root or transcripts:
        raise ValueError(f"--wav-root and --transcripts are for EmoBox's layout; {root} is read as IEMOCAP's")
    return EmotionCorpus(layout, root, wav_root, transcripts or None)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"emobox:/data/cremad"`` -> ``("emobox", "/data/cremad")``; a spec without a known layout prefix is an
    IEMOCAP root."""
    layout, sep, rest = spec.partition(":")
    if sep and layout in LAYOUTS:
        return layout, rest
    return "iemocap", spec


def combine(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The tables of several corpora as one, sorted by utterance id. An utterance id or a speaker found in two
    corpora is an error (speaker z-normalisation and the personality embedding are per speaker)."""
    if len(tables) == 1:
        return tables[0]
    names = [str(t["corpus"].iloc[0]) for t in tables if len(t)]
    if len(set(names)) != len(names):
        raise ValueError(f"two emotion corpora named {names[0]!r}: give corpora with different names")
    for column, what in (("utterance_id", "utterance"), ("speaker", "speaker")):
        owners: dict[str, str] = {}
        for table in tables:
            corpus = str(table["corpus"].iloc[0]) if len(table) else "?"
            for value in pd.unique(table[column]):
                if value in owners and owners[value] != corpus:
                    raise ValueError(f"{what} {value!r} is in both {owners[value]} and {corpus}: two corpora "
                                     f"read together need distinct {what} ids")
                owners[value] = corpus
    return pd.concat(tables, ignore_index=True).sort_values("utterance_id", kind="stable").reset_index(drop=True)
