"""Scores of Table I: unweighted average recall (UAR, the paper's metric), weighted accuracy, macro-F1, recalls.

UAR is the mean of the per-class recalls (scikit-learn's macro recall), so each emotion counts the same
however many utterances it has; weighted accuracy (WA) is the plain share of correct predictions, and
macro-F1 the mean of the per-class F1 scores: the other two figures IEMOCAP tables (EmoBox, s3prl,
emotion2vec) report. A class absent from both truth and prediction scores 0 in each (``zero_division=0``).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from paaan.data.schema import EMOTIONS

CLASSES = list(range(len(EMOTIONS)))


def uar(y_true, y_pred) -> float:
    return float(recall_score(y_true, y_pred, labels=CLASSES, average="macro", zero_division=0))


def weighted_accuracy(y_true, y_pred) -> float:
    return float(accuracy_score(y_true, y_pred))


def f1_macro(y_true, y_pred) -> float:
    return float(f1_score(y_true, y_pred, labels=CLASSES, average="macro", zero_division=0))


def per_class_recall(y_true, y_pred) -> dict[str, float]:
    recalls = recall_score(y_true, y_pred, labels=CLASSES, average=None, zero_division=0)
    return {emotion: float(r) for emotion, r in zip(EMOTIONS, recalls)}


def confusion(y_true, y_pred) -> np.ndarray:
    """(4, 4) counts: rows are true classes, columns predictions, in EMOTIONS order."""
    return confusion_matrix(y_true, y_pred, labels=CLASSES)


def scores(y_true, y_pred) -> dict[str, float]:
    """``{"uar", "wa", "f1_macro", "recall_ang", "recall_hap", "recall_neu", "recall_sad"}``."""
    out = {"uar": uar(y_true, y_pred), "wa": weighted_accuracy(y_true, y_pred), "f1_macro": f1_macro(y_true, y_pred)}
    out.update({f"recall_{e}": r for e, r in per_class_recall(y_true, y_pred).items()})
    return out
