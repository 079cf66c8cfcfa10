"""Power curves: Wilson intervals, the power of a five-fold study, and how many speakers a gain needs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paaan.power import plot_power, pooled_sd, power_at, power_cells, power_markdown, speakers_needed, wilson


def test_wilson_intervals_by_hand():
    # 4 of 5: centre (4 + 1.96^2 / 2) / (5 + 1.96^2) = 5.9207 / 8.8415 = 0.6697, half-width
    # 1.96 sqrt(4 * 1 / 5 + 1.96^2 / 4) / 8.8415 = 1.96 * 1.2946 / 8.8415 = 0.2870: 0.3755 to 0.9638
    share, low, high = wilson(4, 5)
    assert share == 0.8 and (low, high) == pytest.approx((0.3755, 0.9638), abs=2e-4)
    assert wilson(0, 3)[1] == 0.0 and wilson(3, 3)[2] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_the_power_of_a_five_fold_study_matches_a_simulation():
    # gain 0.034, fold sd 0.02, 5 folds: noncentrality 0.034 sqrt(5) / 0.02 = 3.801 against t_{0.975,4} = 2.776
    exact = power_at(0.034, 0.02, 5)
    rng = np.random.default_rng(0)
    draws = rng.normal(0.034, 0.02, size=(200_000, 5))
    t = draws.mean(1) / (draws.std(1, ddof=1) / math.sqrt(5))
    assert exact == pytest.approx(float((t > stats.t.ppf(0.975, 4)).mean()), abs=0.005)
    assert 0.78 < exact < 0.84  # 0.808
    assert power_at(0.0, 0.02, 5) == pytest.approx(0.025, abs=1e-9)  # no gain: the right tail's 2.5%
    assert power_at(0.034, 0.0, 5) == 1.0 and math.isnan(power_at(0.034, 0.02, 1))


def test_the_pooled_sd_is_the_root_of_the_mean_within_draw_variance():
    # variances (ddof 1): [0, 2] -> 2; [1, 1, 4] -> 3; mean 2.5
    assert pooled_sd([np.array([0.0, 2.0]), np.array([1.0, 1.0, 4.0])]) == pytest.approx(math.sqrt(2.5))


def _draws(claim, speakers, per_draw):
    return [{"claim": claim, "speakers": speakers, "draw": d, "held": held, "estimate": float(np.mean(diffs)),
             "differences": diffs} for d, (held, diffs) in enumerate(per_draw, start=1)]


def test_power_cells_and_the_speakers_a_gain_needs():
    rows = (_draws("c", 10, [(True, [0.1, 0.0, 0.2, 0.1, 0.1]), (False, [0.0, 0.1, -0.1, 0.0, 0.0])])
            + _draws("c", 20, [(True, [0.05, 0.07, 0.06, 0.05, 0.07]), (True, [0.06, 0.05, 0.06, 0.07, 0.06])]))
    trials = pd.DataFrame({"claim": "c", "speakers": [10] * 4 + [20] * 4, "uar": [0.9, 0.5, 0.85, 0.6, 0.9, 0.9, 0.95, 0.7]})
    cells = power_cells(pd.DataFrame(rows), trials, gain=0.034, learned_uar=0.8)
    ten, twenty = cells.iloc[0], cells.iloc[1]
    assert (ten["held"], ten["draws"], ten["held_share"]) == (1, 2, 0.5)
    assert ten["effect"] == pytest.approx((0.1 + 0.0) / 2)
    # fold variances 0.005 and 0.005 (draw 1: deviations 0, -0.1, 0.1, 0, 0) -> pooled sd sqrt(0.005)
    assert ten["fold_sd"] == pytest.approx(math.sqrt(0.005)) and ten["folds"] == 5
    assert ten["power_at_gain"] == pytest.approx(power_at(0.034, math.sqrt(0.005), 5))
    assert (ten["learned_trials"], ten["trials"], ten["learned_share"]) == (2, 4, 0.5)
    assert twenty["power_at_gain"] > 0.8 > ten["power_at_gain"]
    answer = speakers_needed(cells, 0.034)
    assert answer["speakers"] == 20 and not answer["extrapolated"]
    # without the 20-speaker cell reaching it: extrapolate the fit sd = c speakers^-b
    weak = cells.assign(fold_sd=[0.04, 0.02 * math.sqrt(2)])  # sd halves per 4x speakers: b = 0.5
    weak = weak.assign(power_at_gain=[power_at(0.034, sd, 5) for sd in weak["fold_sd"]])
    guess = speakers_needed(weak, 0.034)
    assert guess["extrapolated"] and guess["b"] == pytest.approx(0.5)
    assert power_at(0.034, guess["c"] * guess["speakers"] ** -0.5, 5) >= 0.8
    assert power_at(0.034, guess["c"] * (guess["speakers"] - 10) ** -0.5, 5) < 0.8
    text = power_markdown(cells, {"c": answer}, 0.034, noise="c")
    assert "| c | 10 | 2 | 1 | 0.50" in text and "- c: 20 (measured)" in text
    assert "The answer, read from c (a predicted null" in text and "20 speakers (measured)." in text
    effect = power_markdown(cells, {"c": answer}, 0.034, noise="c", noise_is_null=False)
    assert "(not a predicted null" in effect and "upper bound" in effect and "(a predicted null" not in effect


def test_the_power_figure(tmp_path):
    cells = pd.DataFrame({"claim": ["c"] * 3, "speakers": [10, 20, 40], "held_share": [0.5, 0.75, 1.0],
                          "held_ci_low": [0.1, 0.3, 0.5], "held_ci_high": [0.9, 0.95, 1.0],
                          "power_at_gain": [0.2, 0.5, 0.9]})
    assert plot_power(cells, tmp_path / "p.png", 0.034).read_bytes()[:4] == b"\x89PNG"
