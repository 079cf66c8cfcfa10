"""Leave-one-session-out folds (paper III-A: "leave-one-dyad-out cross validation").

A session is a dyad of two speakers, so holding out a session holds out both of its speakers: no test
speaker is ever in training. Every step that splits data (training, k tuning, the report) goes through
``leave_one_session_out`` and ``inner_split`` here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Fold:
    number: int  # 1..n, fold k tests on the k-th session in sorted order
    test_session: int
    train_sessions: tuple[int, ...]
    train: np.ndarray  # row positions of the training utterances
    test: np.ndarray  # row positions of the test utterances

    def __repr__(self) -> str:
        return (f"Fold({self.number}, test_session={self.test_session}, train_sessions={self.train_sessions}, "
                f"n_train={len(self.train)}, n_test={len(self.test)})")


def leave_one_session_out(utterances: pd.DataFrame) -> list[Fold]:
    """One fold per session: train on the other sessions, test on that one (rows given as positions)."""
    sessions = np.asarray(utterances["session"])
    folds = []
    for number, test_session in enumerate(sorted(set(sessions.tolist())), start=1):
        test = np.flatnonzero(sessions == test_session)
        train = np.flatnonzero(sessions != test_session)
        train_sessions = tuple(sorted(set(sessions[train].tolist())))
        folds.append(Fold(number, int(test_session), train_sessions, train, test))
    if len(folds) < 2:
        raise ValueError(f"leave-one-session-out needs at least two sessions, found {len(folds)}")
    return folds


def get_fold(utterances: pd.DataFrame, number: int) -> Fold:
    folds = leave_one_session_out(utterances)
    if not 1 <= number <= len(folds):
        raise ValueError(f"fold must be in 1..{len(folds)}, got {number}")
    return folds[number - 1]


def inner_split(utterances: pd.DataFrame, fold: Fold) -> Fold:
    """The inner split used to tune k for one outer fold, inside its training sessions only.

    The validation session is the training session that follows the test session (cyclically), so each
    outer fold validates on a different held-out dyad and the test session is never looked at. The result
    is a Fold whose ``test`` holds the inner validation rows (positions in ``utterances``).
    """
    ordered = fold.train_sessions
    later = [s for s in ordered if s > fold.test_session]
    validation_session = later[0] if later else ordered[0]
    sessions = np.asarray(utterances["session"])
    validation = fold.train[sessions[fold.train] == validation_session]
    train = fold.train[sessions[fold.train] != validation_session]
    return Fold(fold.number, validation_session, tuple(s for s in ordered if s != validation_session),
                train, validation)


def validation_split(rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) split of training rows, for picking the best epoch.

    ``labels`` holds the label of each row in ``rows``. With ``fraction == 0`` everything is training.
    """
    rows = np.asarray(rows)
    if fraction <= 0:
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split  # here: featurize's pool workers import this module

    train, validation = train_test_split(rows, test_size=fraction, random_state=seed, stratify=np.asarray(labels))
    return np.sort(train), np.sort(validation)
