"""Cross-validation folds: which utterances train, which pick the model, which test (paper III-A).

Every fold holds three disjoint sets of row positions:

- ``test``: the held-out speakers the fold is scored on;
- ``validation``: held-out *training* speakers for model selection (the best epoch, early stopping, the k
  search's objective), so that every choice is made on speakers the network never trained on;
- ``train``: everything else.

Protocols (``make_folds``), one rule each:

- ``session`` (default; the paper's "leave-one-dyad-out"): one fold per session, tested on that session's two
  speakers; validation is the training session that follows the test session (cyclically: fold 5 validates
  on session 1), training the other three sessions. No test speaker is ever in training. A corpus with more
  than five sessions (a demo corpus with more than ten speakers) has five folds of consecutive session
  groups (``session_groups``: 20 speakers, sessions 1-2, 3-4, ...), with the same rule on groups.
- ``speaker`` (SpeechBrain's speaker-independent IEMOCAP recipe): one fold per speaker, in sorted speaker
  order; test on that speaker, validate on the other speaker(s) of its session (its session partner), train on
  the other sessions' eight speakers.
- ``cross-corpus`` (``cross-corpus:<test corpus>``; the paper's future work): the table holds two emotion
  corpora (its ``corpus`` column, ``paaan.data.corpus``); train on one, test on the other. The test corpus'
  speakers fall into five groups (its session groups: IEMOCAP's sessions, an EmoBox corpus' own test folds;
  sorted speakers in five groups when it has fewer sessions), one fold each; fold f validates on group f of
  the training corpus' speakers (the same rule) and trains on the rest of the training corpus. So every fold
  trains on four fifths of one corpus and tests on a fifth of the other's speakers, and the folds' spread
  holds both the test speakers' and the training set's variation.
- ``file``: fold membership read from a file (``read_folds_file``): EmoBox's layout (a folder with
  ``fold_N/<name>_test_fold_N.jsonl``, one JSON object per line with ``"key": "<dataset>-<utterance_id>"``) or a
  CSV with columns ``utterance_id,fold``. Fold f tests on its members and validates on the members of the
  next fold (cyclically), trains on the rest. A file naming utterances the corpus does not have, or leaving
  some out, is an error that says how many and names the first few.

Every step that splits data (training, k tuning, the report) goes through ``make_folds`` / ``get_fold`` and
``inner_fold`` here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paaan.errors import CorpusError

PROTOCOLS = ("session", "speaker", "file", "cross-corpus")
CROSS_CORPUS = "cross-corpus"
SESSION_FOLDS = 5  # IEMOCAP's five sessions; a corpus with more sessions groups them into five folds


@dataclass(frozen=True)
class Fold:
    number: int  # 1..n in the protocol's order
    name: str  # "session 3", "speaker Ses03F", "fold 3"
    train: np.ndarray  # row positions of the training utterances
    validation: np.ndarray  # row positions of the held-out training speakers' utterances (model selection)
    test: np.ndarray  # row positions of the test utterances
    test_sessions: tuple[int, ...] = ()
    validation_sessions: tuple[int, ...] = ()
    train_sessions: tuple[int, ...] = ()
    test_speakers: tuple[str, ...] = field(default=(), repr=False)
    validation_speakers: tuple[str, ...] = field(default=(), repr=False)
    train_speakers: tuple[str, ...] = field(default=(), repr=False)

    @property
    def test_session(self) -> int | None:
        """The one test session of a leave-one-session-out fold (None when the test set spans others)."""
        return self.test_sessions[0] if len(self.test_sessions) == 1 else None

    def __repr__(self) -> str:
        return (f"Fold({self.number}, {self.name!r}, n_train={len(self.train)}, n_validation={len(self.validation)}, "
                f"n_test={len(self.test)})")


def _fold(utterances: pd.DataFrame, number: int, name: str, train, validation, test) -> Fold:
    sessions = np.asarray(utterances["session"])
    speakers = np.asarray(utterances["speaker"]) if "speaker" in utterances else np.full(len(utterances), "")

    def groups(values, rows):
        return tuple(sorted(set(values[rows].tolist())))

    train, validation, test = (np.sort(np.asarray(r, dtype=np.int64)) for r in (train, validation, test))
    return Fold(number, name, train, validation, test,
                test_sessions=groups(sessions, test), validation_sessions=groups(sessions, validation),
                train_sessions=groups(sessions, train), test_speakers=groups(speakers, test),
                validation_speakers=groups(speakers, validation), train_speakers=groups(speakers, train))


def session_groups(sessions, folds: int = SESSION_FOLDS) -> list[tuple[int, ...]]:
    """The sessions of each fold of leave-one-session-out: one session a fold for up to ``folds`` sessions (the
    real IEMOCAP), else ``folds`` groups of consecutive sessions, as even as possible (10 sessions: (1, 2),
    (3, 4), ..., (9, 10); 12: (1, 2, 3), (4, 5, 6), (7, 8), (9, 10), (11, 12))."""
    ordered = sorted(set(int(s) for s in sessions))
    if len(ordered) <= folds:
        return [(s,) for s in ordered]
    return [tuple(int(s) for s in part) for part in np.array_split(np.asarray(ordered), folds)]


def _sessions_name(group: tuple[int, ...]) -> str:
    if len(group) == 1:
        return f"session {group[0]}"
    consecutive = list(group) == list(range(group[0], group[-1] + 1))
    return f"sessions {group[0]}-{group[-1]}" if consecutive else f"sessions {','.join(map(str, group))}"


def leave_one_session_out(utterances: pd.DataFrame) -> list[Fold]:
    """One fold per session (or session group, ``session_groups``): test on it, validate on the next group
    (cyclically), train on the rest."""
    sessions = np.asarray(utterances["session"])
    groups = session_groups(sessions.tolist())
    if len(groups) < 3:
        raise ValueError(f"leave-one-session-out needs at least three sessions (train, validation, test), "
                         f"found {len(groups)}")
    folds = []
    for number, group in enumerate(groups, start=1):
        validation_group = groups[number % len(groups)]  # the next group, cyclically
        test = np.flatnonzero(np.isin(sessions, group))
        validation = np.flatnonzero(np.isin(sessions, validation_group))
        train = np.flatnonzero(~np.isin(sessions, group + validation_group))
        folds.append(_fold(utterances, number, _sessions_name(group), train, validation, test))
    return folds


def leave_one_speaker_out(utterances: pd.DataFrame) -> list[Fold]:
    """One fold per speaker (sorted): test on the speaker, validate on its session partner, train on the others."""
    sessions = np.asarray(utterances["session"])
    speakers = np.asarray(utterances["speaker"])
    folds = []
    for number, speaker in enumerate(sorted(set(speakers.tolist())), start=1):
        test = np.flatnonzero(speakers == speaker)
        session = sessions[test[0]]
        if len(set(sessions[test].tolist())) != 1:
            raise ValueError(f"speaker {speaker} speaks in sessions {sorted(set(sessions[test].tolist()))}: "
                             "leave-one-speaker-out needs each speaker in one session")
        validation = np.flatnonzero((sessions == session) & (speakers != speaker))
        if len(validation) == 0:
            raise ValueError(f"speaker {speaker} has no session partner in session {session} to validate on")
        train = np.flatnonzero(sessions != session)
        folds.append(_fold(utterances, number, f"speaker {speaker}", train, validation, test))
    return folds


def folds_from_membership(utterances: pd.DataFrame, membership: pd.Series) -> list[Fold]:
    """Folds from ``membership`` (utterance id -> fold label): fold f tests on its members and validates on the
    next fold's (cyclically, in sorted label order). Every corpus utterance must be in exactly one fold."""
    ids = np.asarray(utterances["utterance_id"])
    labels = membership.reindex(ids).to_numpy()
    ordered = sorted(set(membership.tolist()))
    if len(ordered) < 3:
        raise ValueError(f"a fold file needs at least three folds (train, validation, test), found {len(ordered)}")
    folds = []
    for number, label in enumerate(ordered, start=1):
        test = np.flatnonzero(labels == label)
        validation = np.flatnonzero(labels == ordered[number % len(ordered)])
        train = np.flatnonzero((labels != label) & (labels != ordered[number % len(ordered)]))
        folds.append(_fold(utterances, number, f"fold {label}", train, validation, test))
    return folds


def cross_corpus_protocol(test_corpus: str) -> str:
    """The protocol string of training on the table's other corpus and testing on ``test_corpus``."""
    return f"{CROSS_CORPUS}:{test_corpus}"


def corpus_tested(protocol: str) -> str | None:
    """The test corpus a cross-corpus protocol names (None for the within-corpus protocols)."""
    name, sep, test = protocol.partition(":")
    return test if name == CROSS_CORPUS and sep else None


def describe_protocol(protocol: str) -> str:
    """One sentence a table prints under its title: how its folds were made, and so what its CIs are over."""
    test = corpus_tested(protocol)
    if test is not None:
        return (f"Cross-corpus: trained on the other emotion corpus, tested on {test}. Each fold tests on a fifth of "
                f"{test}'s speakers (one of its speaker groups) with a model trained on four fifths of the training "
                "corpus (validated on the remaining fifth), so the mean, std and 95% CI over the folds hold both the "
                "test speakers' and the training set's variation.")
    return {"session": "Leave one session out: each fold tests on one session's speakers (five session groups).",
            "speaker": "Leave one speaker out: each fold tests on one speaker and validates on its session partner.",
            "file": "The folds of a fold file: each fold tests on its members and validates on the next fold's.",
            }.get(protocol, f"Protocol {protocol}.")


def speaker_groups(utterances: pd.DataFrame, rows: np.ndarray, folds: int = SESSION_FOLDS) -> list[np.ndarray]:
    """``rows`` (positions in ``utterances``) in groups of whole speakers: by session groups (``session_groups``)
    when every row has a session (>= 1) and there are at least ``folds`` of them, else the sorted speakers in
    ``folds`` groups as even as possible (one group per speaker when there are fewer)."""
    sessions = np.asarray(utterances["session"])[rows]
    speakers = np.asarray(utterances["speaker"]).astype(str)[rows]
    if (sessions >= 1).all() and len(set(sessions.tolist())) >= folds:
        return [rows[np.isin(sessions, group)] for group in session_groups(sessions.tolist(), folds)]
    ordered = np.asarray(sorted(set(speakers.tolist())), dtype=object)
    return [rows[np.isin(speakers, list(part))] for part in np.array_split(ordered, min(folds, len(ordered)))]


def cross_corpus(utterances: pd.DataFrame, test_corpus: str, folds: int = SESSION_FOLDS) -> list[Fold]:
    """Train on the table's other corpus, test on ``test_corpus``: fold f tests on the test corpus' speaker group
    f, validates on the training corpus' group f and trains on its other groups (``speaker_groups``)."""
    if "corpus" not in utterances:
        raise ValueError("the cross-corpus protocol needs a table of two corpora (a 'corpus' column); featurize "
                         "the training and the test corpus together")
    corpora = np.asarray(utterances["corpus"]).astype(str)
    names = sorted(set(corpora.tolist()))
    if test_corpus not in names:
        raise ValueError(f"test corpus {test_corpus!r} is not in the table (corpora: {', '.join(names)})")
    others = [n for n in names if n != test_corpus]
    if len(others) != 1:
        raise ValueError(f"the cross-corpus protocol trains on one corpus besides {test_corpus!r}; the table has "
                         f"{', '.join(others) or 'none'}")
    train_groups = speaker_groups(utterances, np.flatnonzero(corpora == others[0]), folds)
    test_groups = speaker_groups(utterances, np.flatnonzero(corpora == test_corpus), folds)
    if len(train_groups) < 2:
        raise ValueError(f"{others[0]} has one speaker: cross-corpus training needs another to validate on")
    out = []
    for number, test in enumerate(test_groups, start=1):
        validation = train_groups[(number - 1) % len(train_groups)]
        train = np.concatenate([g for g in train_groups if g is not validation])
        out.append(_fold(utterances, number, f"{others[0]} -> {test_corpus} group {number}", train, validation, test))
    return out


def make_folds(utterances: pd.DataFrame, protocol: str = "session", folds_file: str | Path | None = None) -> list[Fold]:
    """The folds of ``protocol`` ("session", "speaker", "file" with ``folds_file``, or
    "cross-corpus:<test corpus>")."""
    corpora = set(utterances["corpus"]) if "corpus" in utterances else set()
    test_corpus = corpus_tested(protocol)
    if test_corpus is not None:
        if folds_file:
            raise ValueError("the cross-corpus protocol does not read a fold file")
        return cross_corpus(utterances, test_corpus)
    if protocol == CROSS_CORPUS:
        raise ValueError("protocol 'cross-corpus' needs its test corpus: cross-corpus:<name> (--test-corpus)")
    if len(corpora) > 1:
        raise ValueError(f"the table holds {len(corpora)} emotion corpora ({', '.join(sorted(corpora))}): only the "
                         f"cross-corpus protocol splits it, not {protocol!r}")
    if folds_file and protocol in ("session", "file"):
        return folds_from_membership(utterances, read_folds_file(folds_file, utterances["utterance_id"]))
    if folds_file:
        raise ValueError(f"protocol {protocol!r} does not read a fold file; use protocol 'file' (or give no file)")
    if protocol == "session":
        return leave_one_session_out(utterances)
    if protocol == "speaker":
        return leave_one_speaker_out(utterances)
    if protocol == "file":
        raise ValueError("protocol 'file' needs a fold file (--folds-file)")
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def get_fold(utterances: pd.DataFrame, number: int, protocol: str = "session",
             folds_file: str | Path | None = None) -> Fold:
    folds = make_folds(utterances, protocol, folds_file)
    if not 1 <= number <= len(folds):
        raise ValueError(f"fold must be in 1..{len(folds)} under protocol {protocol!r}, got {number}")
    return folds[number - 1]


def inner_fold(fold: Fold) -> Fold:
    """The split k is tuned on for an outer fold: train on its training rows, score on its validation rows.

    The returned Fold's ``test`` is the outer fold's validation set (and so is its ``validation``: the k
    search's objective and its early stopping read the same held-out speakers); the outer test set is never
    looked at.
    """
    return Fold(fold.number, f"{fold.name}, inner", fold.train, fold.validation, fold.validation,
                test_sessions=fold.validation_sessions, validation_sessions=fold.validation_sessions,
                train_sessions=fold.train_sessions, test_speakers=fold.validation_speakers,
                validation_speakers=fold.validation_speakers, train_speakers=fold.train_speakers)


def inner_split(utterances: pd.DataFrame, fold: Fold) -> Fold:
    """``inner_fold`` (kept for callers that pass the utterance table)."""
    return inner_fold(fold)


def all_rows_fold(utterances: pd.DataFrame) -> Fold:
    """Every utterance trains (a model of all sessions): nothing validates or tests."""
    empty = np.arange(0)
    return _fold(utterances, 0, "all", np.arange(len(utterances)), empty, empty)


def validation_split(rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) split of training rows, for picking the best epoch.

    ``labels`` holds the label of each row in ``rows``. With ``fraction == 0`` everything is training.
    """
    rows = np.asarray(rows)
    if fraction <= 0 or len(rows) == 0:
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split  # here: featurize's pool workers import this module

    train, validation = train_test_split(rows, test_size=fraction, random_state=seed, stratify=np.asarray(labels))
    return np.sort(train), np.sort(validation)


# --------------------------------------------------------------------------------------------------------------
# fold files


_EMOBOX_FILE = re.compile(r"^(?P<name>.+)_test_fold_(?P<fold>\d+)\.jsonl$")


def read_folds_file(path: str | Path, corpus_ids) -> pd.Series:
    """utterance id -> fold label from an EmoBox fold folder or a ``utterance_id,fold`` CSV, checked against
    ``corpus_ids``: unknown ids, corpus utterances in no fold, and utterances in two folds are errors."""
    path = Path(path)
    if path.is_dir():
        membership = _read_emobox(path, set(corpus_ids))
    elif path.is_file():
        membership = _read_csv(path)
    else:
        raise CorpusError(path, "fold file not found (expected an EmoBox fold folder or a CSV utterance_id,fold)")
    duplicated = membership.index[membership.index.duplicated()].unique()
    if len(duplicated):
        raise CorpusError(path, f"{len(duplicated)} utterances are in more than one fold "
                                f"(first: {', '.join(map(str, duplicated[:3]))})")
    corpus = pd.Index(corpus_ids)
    unknown = membership.index.difference(corpus)
    if len(unknown):
        raise CorpusError(path, f"{len(unknown)} utterance ids are not in the corpus "
                                f"(first: {', '.join(map(str, sorted(unknown)[:3]))})")
    missing = corpus.difference(membership.index)
    if len(missing):
        raise CorpusError(path, f"{len(missing)} utterances of the corpus are in no fold "
                                f"(first: {', '.join(map(str, sorted(missing)[:3]))})")
    return membership


def _read_csv(path: Path) -> pd.Series:
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CorpusError(path, f"does not parse as CSV: {exc}") from None
    if not {"utterance_id", "fold"} <= set(frame.columns):
        raise CorpusError(path, f"needs columns 'utterance_id' and 'fold'; columns are {list(frame.columns)}")
    if frame["fold"].isna().any() or frame["utterance_id"].isna().any():
        line = int(np.flatnonzero((frame["fold"].isna() | frame["utterance_id"].isna()).to_numpy())[0]) + 2
        raise CorpusError(path, f"line {line}: empty utterance_id or fold")
    folds = frame["fold"].str.strip()
    labels = pd.to_numeric(folds, errors="coerce")
    values = labels.astype(int) if labels.notna().all() and (labels % 1 == 0).all() else folds
    return pd.Series(values.to_numpy(), index=frame["utterance_id"].str.strip().to_numpy(), name="fold")


def _read_emobox(folder: Path, corpus_ids: set[str]) -> pd.Series:
    files = sorted(folder.glob("fold_*/*_test_fold_*.jsonl"))
    if not files:
        raise CorpusError(folder, "no EmoBox fold files (fold_N/<name>_test_fold_N.jsonl)")
    ids, labels = [], []
    for file in files:
        match = _EMOBOX_FILE.match(file.name)
        if not match or file.parent.name != f"fold_{match['fold']}":
            raise CorpusError(file, f"expected fold_N/<name>_test_fold_N.jsonl, got {file.parent.name}/{file.name}")
        for line_number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                key = json.loads(line)["key"]
            except (ValueError, KeyError, TypeError):
                raise CorpusError(file, f"line {line_number}: not a JSON object with a 'key'") from None
            ids.append(_utterance_of_key(str(key), corpus_ids))
            labels.append(int(match["fold"]))
    return pd.Series(labels, index=ids, name="fold")


def _utterance_of_key(key: str, corpus_ids: set[str]) -> str:
    """EmoBox keys prefix the dataset ("iemocap-Ses01F_impro01_F000"); IEMOCAP ids themselves hold no '-'."""
    if key in corpus_ids or "-" not in key:
        return key
    return key.split("-", 1)[1]
