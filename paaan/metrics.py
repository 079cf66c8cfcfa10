"""Scores of Table I: unweighted average recall (UAR, the paper's metric), weighted accuracy, macro-F1, recalls;
and the dimensional task's concordance (CCC), Pearson's r and RMSE.

UAR is the mean of the per-class recalls (scikit-learn's macro recall), so each emotion counts the same
however many utterances it has; weighted accuracy (WA) is the plain share of correct predictions, and
macro-F1 the mean of the per-class F1 scores: the other two figures IEMOCAP tables (EmoBox, s3prl,
emotion2vec) report. A class absent from both truth and prediction scores 0 in each (``zero_division=0``).

The dimensional task (valence, activation, dominance, each rated 1-5 in IEMOCAP) is scored by Lin's
concordance correlation coefficient (CCC, Lin 1989), the AVEC challenges' and MSP-Podcast's metric:
2 cov / (var_true + var_pred + (mean_true - mean_pred)^2) with population moments. Unlike Pearson's r it
counts a shift or a rescaling of the predictions against them: r of y and y + 1 or 2 y is 1, their CCC is
below 1. Pearson's r and the RMSE (in rating points) are reported beside it. Where no series varies (or
fewer than 2 values are given) CCC and r are 0.0, not NaN: nothing varies, so nothing is shown to agree.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, mean_squared_error, recall_score

from paaan.data.schema import DIMENSIONS, EMOTIONS

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


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient, population moments (ddof=0); 0.0 for fewer than 2 values and
    for a zero denominator (both series constant and equal: nothing varies, so nothing agrees)."""
    t, p = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} values, y_pred {len(p)}")
    if len(t) < 2 or (np.ptp(t) == 0 and np.ptp(p) == 0):
        return 0.0  # both constant: 0 by the formula when unequal, the zero denominator when equal
    # CCC is unchanged when both series are divided by one number; dividing by the largest magnitude keeps the
    # squares finite for every finite input (1e200 would overflow) and the denominator away from underflow.
    scale = max(np.abs(t).max(), np.abs(p).max())
    t, p = t / scale, p / scale
    covariance = np.mean((t - t.mean()) * (p - p.mean()))
    denominator = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 0.0


def pearson_r(y_true, y_pred) -> float:
    """Pearson's r (``scipy.stats.pearsonr``); 0.0 when either series is constant or has fewer than 2 values."""
    t, p = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    if len(t) < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return 0.0
    return float(stats.pearsonr(t, p).statistic)


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, in the ratings' units."""
    return math.sqrt(mean_squared_error(np.ravel(y_true), np.ravel(y_pred)))


def dimensional_scores(y_true, y_pred) -> dict[str, float]:
    """(n, 3) ratings and predictions in DIMENSIONS order -> ``{"ccc"`` (the mean of the three CCCs),
    ``"ccc_<d>", "r_<d>", "rmse_<d>"}`` for d in valence, activation, dominance."""
    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if t.ndim != 2 or t.shape[1] != len(DIMENSIONS) or t.shape != p.shape:
        raise ValueError(f"dimensional_scores wants two (n, {len(DIMENSIONS)}) arrays in {DIMENSIONS} order; "
                         f"got y_true {t.shape} and y_pred {p.shape}")
    out = {"ccc": 0.0}
    out |= {f"ccc_{d}": ccc(t[:, i], p[:, i]) for i, d in enumerate(DIMENSIONS)}
    out |= {f"r_{d}": pearson_r(t[:, i], p[:, i]) for i, d in enumerate(DIMENSIONS)}
    out |= {f"rmse_{d}": rmse(t[:, i], p[:, i]) for i, d in enumerate(DIMENSIONS)}
    out["ccc"] = float(np.mean([out[f"ccc_{d}"] for d in DIMENSIONS]))
    return out
