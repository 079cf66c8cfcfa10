"""Table I aggregation, confidence intervals and the paired test, with numbers worked by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from paaan.report import mean_ci, paired_comparison, pooled_scores, summarize, table1_chart, table1_markdown


def _results(variant, uars, seed=0):
    return pd.DataFrame({"variant": variant, "fold": range(1, len(uars) + 1), "seed": seed, "uar": uars,
                         "wa": uars, "recall_ang": uars, "recall_hap": uars, "recall_neu": uars, "recall_sad": uars})


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
    # differences 0.04, 0.01, 0.02, -0.01, 0.06: mean 0.024, PP better in 4 of 5
    assert c["pairs"] == 5 and c["a_better"] == 4
    assert c["mean_difference"] == pytest.approx(0.024)
    assert 0 < c["t_test_p"] < 1 and 0 < c["wilcoxon_p"] <= 1
    assert paired_comparison(_results("PAaAN_PP", [0.7, 0.6])) is None


def test_table1_markdown_and_chart(tmp_path):
    results = pd.concat([_results("IA+T", [0.6, 0.62]), _results("PAaAN_PP", [0.65, 0.7])])
    summary = summarize(results)
    text = table1_markdown(summary, synthetic=True, comparison=paired_comparison(results))
    assert "synthetic demo corpus" in text and "| PAaAN_PP |" in text and "0.700" in text
    assert "Paired comparison PAaAN_PP vs IA+T" in text
    path = table1_chart(summary, tmp_path / "t.png", synthetic=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
