"""UAR and friends on a confusion matrix worked by hand."""

import numpy as np
import pytest

from paaan.metrics import confusion, f1_macro, per_class_recall, scores, uar, weighted_accuracy


def _from_confusion(matrix):
    """Label vectors whose confusion matrix is ``matrix`` (rows true, columns predicted)."""
    y_true, y_pred = [], []
    for t, row in enumerate(matrix):
        for p, count in enumerate(row):
            y_true += [t] * count
            y_pred += [p] * count
    return np.array(y_true), np.array(y_pred)


# rows: true ang, hap, neu, sad; columns: predicted
MATRIX = [[8, 1, 1, 0],    # ang recall 8/10 = 0.8
          [2, 12, 4, 2],   # hap recall 12/20 = 0.6
          [0, 3, 25, 2],   # neu recall 25/30 = 0.8333...
          [0, 0, 6, 4]]    # sad recall 4/10 = 0.4


def test_uar_is_the_mean_of_per_class_recalls_worked_by_hand():
    y_true, y_pred = _from_confusion(MATRIX)
    assert per_class_recall(y_true, y_pred) == pytest.approx({"ang": 0.8, "hap": 0.6, "neu": 25 / 30, "sad": 0.4})
    # (0.8 + 0.6 + 0.8333 + 0.4) / 4 = 0.658333...
    assert uar(y_true, y_pred) == pytest.approx((0.8 + 0.6 + 25 / 30 + 0.4) / 4)
    # WA = correct / all = (8 + 12 + 25 + 4) / 70 = 0.7
    assert weighted_accuracy(y_true, y_pred) == pytest.approx(0.7)
    assert confusion(y_true, y_pred).tolist() == MATRIX


def test_macro_f1_worked_by_hand():
    # F1 of a class = 2 TP / (predicted + true): ang 2*8/(10+10) = 0.8; hap 2*12/(16+20) = 2/3;
    # neu 2*25/(36+30) = 50/66; sad 2*4/(8+10) = 4/9; macro-F1 = their mean = 0.66717...
    y_true, y_pred = _from_confusion(MATRIX)
    assert f1_macro(y_true, y_pred) == pytest.approx((0.8 + 2 / 3 + 50 / 66 + 4 / 9) / 4)
    assert f1_macro(y_true, y_pred) == pytest.approx(0.667172, abs=1e-6)


def test_uar_weighs_classes_equally_unlike_wa():
    # always predicting the majority class (neu, 30 of 70) gives WA 3/7 but UAR 1/4
    y_true, _ = _from_confusion(MATRIX)
    y_pred = np.full_like(y_true, 2)
    assert weighted_accuracy(y_true, y_pred) == pytest.approx(30 / 70)
    assert uar(y_true, y_pred) == pytest.approx(0.25)


def test_scores_keys_and_absent_class():
    out = scores([0, 0, 1], [0, 1, 1])  # classes 2, 3 absent: recall 0 by convention
    assert set(out) == {"uar", "wa", "f1_macro", "recall_ang", "recall_hap", "recall_neu", "recall_sad"}
    assert out["recall_ang"] == 0.5 and out["recall_hap"] == 1.0 and out["recall_sad"] == 0.0
    assert out["uar"] == pytest.approx((0.5 + 1.0) / 4)
    # ang: 2*1/(1+2) = 2/3; hap: 2*1/(2+1) = 2/3; absent classes 0: macro-F1 = (4/3) / 4 = 1/3
    assert out["f1_macro"] == pytest.approx(1 / 3)
