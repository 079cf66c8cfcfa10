"""UAR and friends on a confusion matrix worked by hand; CCC, r and RMSE of the dimensional task likewise."""

import math
import warnings

import numpy as np
import pytest

from paaan.metrics import (ccc, confusion, dimensional_scores, f1_macro, pearson_r, per_class_recall, rmse, scores, uar,
                           weighted_accuracy)


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


def test_ccc_of_identical_series_is_1_and_of_a_zero_mean_series_and_its_negation_minus_1():
    assert ccc([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    # x = [-1, 0, 1], -x: means 0, var 2/3 each, cov -2/3 -> 2 (-2/3) / (2/3 + 2/3 + 0) = -1
    assert ccc([-1, 0, 1], [1, 0, -1]) == pytest.approx(-1.0)


def test_a_shifted_copy_has_pearson_r_1_but_a_ccc_below_it():
    # x = [1, 2, 3] vs x + 1: var 2/3 each, cov 2/3, (mean 2 - mean 3)^2 = 1 -> (4/3) / (2/3 + 2/3 + 1) = 4/7
    assert pearson_r([1, 2, 3], [2, 3, 4]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)


def test_a_rescaled_copy_has_a_ccc_below_1():
    # x = [-1, 0, 1] vs 2x (means 0, the scale alone): var 2/3 and 8/3, cov 4/3 -> (8/3) / (2/3 + 8/3) = 0.8
    assert ccc([-1, 0, 1], [-2, 0, 2]) == pytest.approx(0.8)
    # x = [1, 2, 3] vs 2x = [2, 4, 6]: var 2/3 and 8/3, cov 4/3, (2 - 4)^2 = 4 -> (8/3) / (2/3 + 8/3 + 4) = 4/11
    assert ccc([1, 2, 3], [2, 4, 6]) == pytest.approx(4 / 11)
    assert pearson_r([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)


def test_ccc_and_r_are_0_not_nan_where_nothing_varies():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero or constant-input warning either
        assert ccc([3, 3, 3], [3, 3, 3]) == 0.0  # zero denominator: nothing varies, so nothing agrees
        assert ccc([3, 3, 3], [2, 2, 2]) == 0.0  # cov 0 over (3 - 2)^2 = 1
        assert ccc([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]) == 0.0  # the float mean of 0.1s is not exactly 0.1
        assert ccc([2.0], [3.0]) == 0.0 and ccc([], []) == 0.0
        assert pearson_r([3, 3, 3], [1, 2, 3]) == 0.0 and pearson_r([1, 2, 3], [5, 5, 5]) == 0.0
        assert pearson_r([1.0], [2.0]) == 0.0
        # squares of 1e200 overflow; CCC is scale-free, so it is computed on the series divided by their largest value
        assert ccc([1e200, 2e200, 3e200], [2e200, 3e200, 4e200]) == pytest.approx(4 / 7)


def test_rmse_by_hand():
    # errors 1, 0, 2: squares 1, 0, 4, mean 5/3 -> sqrt(5/3) = 1.29099
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert rmse([1, 2], [1, 2]) == 0.0


def test_dimensional_scores_per_dimension_in_valence_activation_dominance_order_and_their_mean():
    truth = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]])
    # valence exact (CCC 1, r 1, RMSE 0); activation shifted by +1 (CCC 4/7, r 1, RMSE 1);
    # dominance reversed [3, 2, 1] (means 2 and 2, var 2/3 each, cov -2/3: CCC -1, r -1, RMSE sqrt((4+0+4)/3))
    prediction = np.array([[1, 2, 3], [2, 3, 2], [3, 4, 1]])
    out = dimensional_scores(truth, prediction)
    assert list(out) == ["ccc", "ccc_valence", "ccc_activation", "ccc_dominance", "r_valence", "r_activation",
                         "r_dominance", "rmse_valence", "rmse_activation", "rmse_dominance"]
    assert (out["ccc_valence"], out["ccc_activation"], out["ccc_dominance"]) == pytest.approx((1, 4 / 7, -1))
    assert out["ccc"] == pytest.approx((1 + 4 / 7 - 1) / 3)  # = 4/21
    assert (out["r_valence"], out["r_activation"], out["r_dominance"]) == pytest.approx((1, 1, -1))
    assert (out["rmse_valence"], out["rmse_activation"], out["rmse_dominance"]) == pytest.approx((0, 1, math.sqrt(8 / 3)))


def test_dimensional_scores_want_two_n_by_3_arrays():
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 2\)"):
        dimensional_scores(np.ones((4, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 3\)"):
        dimensional_scores(np.ones((4, 3)), np.ones((3, 3)))
