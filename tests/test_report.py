"""Table I aggregation, confidence intervals and the paired test, with numbers worked by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from paaan.report import (DIMENSIONAL_METRICS, baseline_comparisons, confusion_frame, dimensional_comparisons, holm,
                          mean_ci, paired_comparison, pooled_confusion, pooled_scores, summarize,
                          summarize_dimensional, table1_chart, table1_dimensional_chart,
                          table1_dimensional_markdown, table1_markdown)


def _results(variant, uars, seed=0, folds=None):
    return pd.DataFrame({"variant": variant, "fold": folds or range(1, len(uars) + 1), "seed": seed, "uar": uars,
                         "wa": uars, "f1_macro": uars, "recall_ang": uars, "recall_hap": uars, "recall_neu": uars,
                         "recall_sad": uars})


def test_mean_ci_by_hand():
    mean, low, high = mean_ci([0.5, 0.6, 0.7])
    # sd = 0.1, n = 3, t(0.975, 2) = 4.3027 -> half width 4.3027 * 0.1 / sqrt(3) = 0.24841
    assert mean == pytest.approx(0.6)
    assert (high - mean) == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert mean - low == pytest.approx(high - mean)
    assert math.isnan(mean_ci([0.4])[1])


def test_summary_rows_follow_the_variants_table():
    results = pd.concat([_results("PAaAN_PP", [0.7, 0.6, 0.8]), _results("Audio", [0.4, 0.5, 0.6])])
    summary = summarize(results)
    assert summary["variant"].tolist() == ["Audio", "PAaAN_PP"]  # Table I order, not input order
    row = summary.set_index("variant").loc["PAaAN_PP"]
    assert row["uar_mean"] == pytest.approx(0.7)
    assert row["uar_std"] == pytest.approx(np.std([0.7, 0.6, 0.8]))
    assert row["paper_uar"] == 0.700 and row["paper_recall_ang"] == 0.763
    assert row["n"] == 3 and row["folds"] == 3


def test_pooled_uar_uses_all_folds_predictions_at_once():
    # fold 1: two ang, both right; fold 2: two hap, one right -> pooled recall ang 1, hap 0.5, neu/sad 0
    predictions = pd.DataFrame({"seed": 0, "fold": [1, 1, 2, 2], "label": ["ang", "ang", "hap", "hap"],
                                "prediction": ["ang", "ang", "hap", "neu"]})
    pooled = pooled_scores(predictions)
    assert pooled["recall_ang"] == 1.0 and pooled["recall_hap"] == 0.5
    assert pooled["uar"] == pytest.approx((1.0 + 0.5) / 4)


def test_paired_comparison_by_hand():
    results = pd.concat([_results("PAaAN_PP", [0.70, 0.65, 0.72, 0.60, 0.68]),
                         _results("IA+T", [0.66, 0.64, 0.70, 0.61, 0.62])])
    c = paired_comparison(results)
    # differences 0.04, 0.01, 0.02, -0.01, 0.06: mean 0.024, PP better in 4 of 5; sd 0.027019 (sum of squared
    # deviations 0.00292 / 4), se 0.012083, t = 1.9863 on 4 df: two-sided p = 0.1178; the CI is
    # 0.024 -+ t(0.975, 4) 2.776445 x 0.012083 = -0.00955 to 0.05755
    assert c["pairs"] == 5 and c["folds"] == 5 and c["a_better"] == 4
    assert c["mean_difference"] == pytest.approx(0.024)
    assert c["t_test_p"] == pytest.approx(0.1178, abs=5e-4)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((-0.00955, 0.05755), abs=5e-5)
    assert paired_comparison(_results("PAaAN_PP", [0.7, 0.6])) is None


def test_seeds_are_averaged_within_a_fold_before_the_test_over_folds():
    a = pd.concat([_results("PAaAN_PP", [0.7, 0.5, 0.6], seed=0), _results("PAaAN_PP", [0.8, 0.5, 0.7], seed=1)])
    b = pd.concat([_results("IA+T", [0.6, 0.5, 0.6], seed=0), _results("IA+T", [0.6, 0.4, 0.6], seed=1)])
    c = paired_comparison(pd.concat([a, b]))
    # cell differences (fold: seed 0, seed 1): 1: 0.1, 0.2; 2: 0.0, 0.1; 3: 0.0, 0.1 -> fold means 0.15, 0.05, 0.05;
    # mean 0.08333, sd 0.057735, se 0.033333, t = 2.5 on 2 df: p = 0.12961; CI 0.08333 -+ 4.302653 x 0.033333
    assert (c["pairs"], c["folds"], c["seeds"], c["a_better"]) == (6, 3, 2, 4)
    assert c["mean_difference"] == pytest.approx(0.5 / 6)
    assert c["t_test_p"] == pytest.approx(0.12961, abs=5e-5)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((0.08333 - 0.143422, 0.08333 + 0.143422), abs=5e-5)


def test_a_constant_difference_has_no_spread_to_test():
    c = paired_comparison(pd.concat([_results("PAaAN_PP", [0.6, 0.6, 0.6]), _results("IA+T", [0.6, 0.6, 0.6])]))
    assert c["mean_difference"] == 0 and c["ci_low"] == c["ci_high"] == 0 and c["t_test_p"] == 1.0


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([0.02, np.nan, 0.04])  # NaN stays NaN and is not counted: m = 2
    assert out[0] == pytest.approx(0.04) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)


def test_every_personality_variant_is_compared_with_its_same_score_baseline():
    results = pd.concat([_results("IA+T", [0.6, 0.62, 0.61]), _results("PAaAN_PP", [0.65, 0.7, 0.6]),
                         _results("IA+T+", [0.6, 0.6, 0.6]), _results("PAaAN+_oracle", [0.9, 0.8, 0.85]),
                         _results("Text", [0.5, 0.5, 0.5])])
    table = baseline_comparisons(results)
    assert list(zip(table["a"], table["b"])) == [("PAaAN_PP", "IA+T"), ("PAaAN+_oracle", "IA+T+")]
    assert table["p_holm"].tolist() == pytest.approx(holm(table["t_test_p"]).tolist())


def test_pooled_confusion_sums_folds_and_normalises_by_row():
    predictions = pd.DataFrame({"seed": 0, "fold": [1, 1, 2, 2, 2], "label": ["ang", "ang", "hap", "hap", "hap"],
                                "prediction": ["ang", "sad", "hap", "hap", "neu"]})
    matrix = pooled_confusion(predictions)
    assert matrix[0].tolist() == [1, 0, 0, 1] and matrix[1].tolist() == [0, 2, 1, 0] and matrix.sum() == 5
    shares = confusion_frame(matrix, normalise=True)
    assert shares.loc["ang"].tolist() == [0.5, 0.0, 0.0, 0.5]
    assert shares.loc["hap"].tolist() == pytest.approx([0, 2 / 3, 1 / 3, 0])
    assert shares.loc["neu"].tolist() == [0, 0, 0, 0]  # a class never seen stays 0, not NaN


def test_table1_markdown_and_chart(tmp_path):
    results = pd.concat([_results("IA+T", [0.6, 0.62]), _results("PAaAN_PP", [0.65, 0.7])])
    summary = summarize(results)
    text = table1_markdown(summary, synthetic=True, comparisons=baseline_comparisons(results))
    assert "synthetic demo corpus" in text and "| PAaAN_PP |" in text and "0.700" in text
    assert "WA mean" in text and "macro-F1" in text
    assert "| PAaAN_PP - IA+T | +0.065 |" in text
    path = table1_chart(summary, tmp_path / "t.png", synthetic=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_summary_std_and_ci_are_over_fold_means():
    results = pd.concat([_results("IA+T", [0.6, 0.7, 0.8], seed=0), _results("IA+T", [0.8, 0.7, 0.6], seed=1)])
    row = summarize(results).iloc[0]
    # fold means 0.7, 0.7, 0.7: no spread between folds, although the cells spread
    assert row["uar_mean"] == pytest.approx(0.7) and row["uar_std"] == pytest.approx(0.0)
    assert row["uar_ci_low"] == pytest.approx(0.7) and row["uar_ci_high"] == pytest.approx(0.7)
    assert row["wa_mean"] == pytest.approx(0.7) and row["f1_macro_mean"] == pytest.approx(0.7)
    assert (row["n"], row["folds"], row["seeds"]) == (6, 3, 2)


def _uars(variant, values):
    return pd.DataFrame({"variant": variant, "fold": range(1, len(values) + 1), "seed": 0, "uar": values})


def test_the_best_variant_is_named_only_when_its_lead_over_every_other_is_resolved():
    from paaan.report import best_variant

    a = np.array([0.70, 0.72, 0.68, 0.71, 0.69])
    results = pd.concat([_uars("A+T", a), _uars("P-D", a - [0.05, 0.06, 0.04, 0.05, 0.05]),
                         _uars("IA+T", a - [0.01, -0.02, 0.02, 0.00, 0.01])])
    # A+T - P-D: 0.05, 0.06, 0.04, 0.05, 0.05: sd sqrt(2e-4 / 4) = 0.00707, t = 0.05 / (0.00707 / sqrt 5) = 15.8
    resolved = best_variant(results, ["A+T", "P-D"])
    assert resolved["best"] == "A+T" and resolved["unresolved"] == []
    assert resolved["comparisons"][0]["mean_difference"] == pytest.approx(0.05) and resolved["comparisons"][0]["p"] < 1e-3
    # A+T - IA+T: 0.01, -0.02, 0.02, 0.00, 0.01 (mean +0.004): the top is not resolved from IA+T, so none is named
    unresolved = best_variant(results, ["A+T", "P-D", "IA+T"])
    assert unresolved["best"] is None and unresolved["top"] == "A+T" and unresolved["unresolved"] == ["IA+T"]
    assert best_variant(results, [])["best"] is None


def _dimensional(variant, valence, activation, dominance):
    """Trials of one variant: each argument is [seed 0 per fold 1-3, seed 1 per fold 1-3] of that dimension's CCC;
    ccc is their mean, r and RMSE follow from the CCC of valence so that the table has numbers to show."""
    rows = []
    for seed in (0, 1):
        for fold in (1, 2, 3):
            v, a, d = valence[seed][fold - 1], activation[seed][fold - 1], dominance[seed][fold - 1]
            rows.append({"variant": variant, "fold": fold, "seed": seed, "ccc": (v + a + d) / 3, "ccc_valence": v,
                         "ccc_activation": a, "ccc_dominance": d, "r_valence": v + 0.1, "r_activation": a + 0.1,
                         "r_dominance": d + 0.1, "rmse_valence": 1 - v, "rmse_activation": 1 - a})
    return pd.DataFrame(rows)  # no rmse_dominance: a metric not run is skipped, not an error


DIMENSIONAL = pd.concat([
    _dimensional("PAaAN_oracle", [[.5, .6, .8], [.5, .7, .8]], [[.7, .7, .5], [.7, .6, .5]], [[.3, .3, .5], [.3, .4, .5]]),
    _dimensional("IA+T", [[.4, .5, .6], [.4, .5, .6]], [[.6, .6, .6], [.6, .6, .6]], [[.2, .3, .4], [.2, .3, .4]]),
])


def test_dimensional_summary_is_over_fold_means_in_variants_table_order():
    summary = summarize_dimensional(DIMENSIONAL)
    assert summary["variant"].tolist() == ["IA+T", "PAaAN_oracle"]
    base, oracle = summary.set_index("variant").loc["IA+T"], summary.set_index("variant").loc["PAaAN_oracle"]
    assert (base["n"], base["folds"], base["seeds"]) == (6, 3, 2)
    # IA+T valence: fold means 0.4, 0.5, 0.6: mean 0.5; population std sqrt((0.01 + 0 + 0.01) / 3) = 0.08165;
    # CI 0.5 -+ t(0.975, 2) 4.302653 x sd 0.1 / sqrt(3) = 0.5 -+ 0.248414
    assert base["ccc_valence_mean"] == pytest.approx(0.5)
    assert base["ccc_valence_std"] == pytest.approx(math.sqrt(0.02 / 3))
    assert (base["ccc_valence_ci_low"], base["ccc_valence_ci_high"]) == pytest.approx((0.251586, 0.748414), abs=1e-6)
    # PAaAN_oracle valence: cells (0.5, 0.5), (0.6, 0.7), (0.8, 0.8): mean 3.9 / 6 = 0.65; fold means 0.5, 0.65, 0.8:
    # std sqrt((0.0225 + 0 + 0.0225) / 3) = sqrt(0.015) = 0.12247, although seed 0 alone would give 0.12472
    assert oracle["ccc_valence_mean"] == pytest.approx(0.65)
    assert oracle["ccc_valence_std"] == pytest.approx(math.sqrt(0.015))
    # IA+T activation is 0.6 everywhere: std 0 and a CI of zero width
    assert base["ccc_activation_std"] == 0 and base["ccc_activation_ci_low"] == pytest.approx(0.6)
    # mean CCC of IA+T: (0.5 + 0.6 + 0.3) / 3
    assert base["ccc_mean"] == pytest.approx(1.4 / 3)
    assert "rmse_dominance_mean" not in summary and "rmse_valence_mean" in summary
    assert {f"{m}_mean" for m in DIMENSIONAL_METRICS} - set(summary) == {"rmse_dominance_mean"}


def test_dimensional_comparisons_holm_over_every_dimension_together():
    table = dimensional_comparisons(DIMENSIONAL)
    assert list(zip(table["a"], table["b"], table["metric"])) == [
        ("PAaAN_oracle", "IA+T", m) for m in ("ccc_valence", "ccc_activation", "ccc_dominance", "ccc")]
    assert list(table.columns) == list(baseline_comparisons(DIMENSIONAL, "ccc").columns)
    row = table.set_index("metric")
    # valence, oracle - IA+T per cell: fold 1: 0.1, 0.1; fold 2: 0.1, 0.2; fold 3: 0.2, 0.2 -> fold means 0.1, 0.15,
    # 0.2: mean 0.15, sd 0.05, t = 0.15 / (0.05 / sqrt 3) = 5.196 on 2 df: p = 0.03510; better in all 6 cells
    assert row.loc["ccc_valence", "mean_difference"] == pytest.approx(0.15)
    assert row.loc["ccc_valence", "t_test_p"] == pytest.approx(0.03510, abs=5e-5)
    assert row.loc["ccc_valence", "a_better"] == 6 and row.loc["ccc_valence", "pairs"] == 6
    # activation: fold means 0.1, 0.05, -0.1 (p = 0.80755); dominance: 0.1, 0.05, 0.1 (t = 5, p = 0.03775);
    # mean CCC: 0.1, 0.08333, 0.06667 (t = 8.660, p = 0.01307). Holm over the four: sorted 0.01307 x 4 = 0.05229,
    # 0.03510 x 3 = 0.10530, 0.03775 x 2 = 0.07550 -> running max 0.10530, 0.80755 x 1 = 0.80755. Holm within each
    # metric alone would have left every p as it is (one comparison per metric).
    assert row["p_holm"].to_dict() == pytest.approx({"ccc_valence": 0.10530, "ccc_activation": 0.80755,
                                                     "ccc_dominance": 0.10530, "ccc": 0.05229}, abs=5e-5)
    assert table["p_holm"].tolist() == pytest.approx(holm(table["t_test_p"]).tolist())


def test_dimensional_markdown_and_chart(tmp_path):
    summary = summarize_dimensional(DIMENSIONAL)
    text = table1_dimensional_markdown(summary, synthetic=True, comparisons=dimensional_comparisons(DIMENSIONAL))
    assert text.startswith("# Table I, dimensional: valence, activation and dominance (CCC)")
    assert "synthetic demo corpus" in text and "Lin's concordance" in text and "1-5 scale" in text
    assert "| IA+T | 0.500 ± 0.082 (0.252 to 0.748) | 0.600 ± 0.000 (0.600 to 0.600) |" in text
    # PAaAN_oracle: r of valence 0.65 + 0.1; RMSE of valence 1 - 0.65, of activation 1 - 0.617, of dominance not run
    assert "| PAaAN_oracle | 0.650 ± 0.122" in text and "| 0.750 / 0.717 / 0.483 | 0.350 / 0.383 / - | 6 |" in text
    assert "| PAaAN_oracle - IA+T | valence | +0.150 | 0.026 to 0.274 | 0.0351 | 0.105 | 6 of 6 |" in text
    assert "| PAaAN_oracle - IA+T | mean of the three | +0.083 |" in text
    path = table1_dimensional_chart(summary, tmp_path / "d.png", synthetic=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
