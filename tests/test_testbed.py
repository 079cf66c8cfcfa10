"""The testbed's measurements: where attention goes, claims against trial results, the verdict rule."""

from __future__ import annotations

import pandas as pd
import pytest

from paaan.demo.scenarios import SCENARIOS, AttentionClaim, Claim
from paaan.testbed import (attention_rows, carrier_shares, claim_rows, differences_from, plot_carrier_attention,
                           plot_differences, verdicts, verdicts_markdown)
from paaan.variants import BY_NAME


def test_the_carrier_share_of_an_utterances_attention_by_hand():
    # steps 0..4 have centres 0.02, 0.06, 0.10, 0.14, 0.18 s; segment 0 is [0, 0.08), segment 1 [0.12, 0.20):
    # step 2 (0.10 s) falls in the pause between them and counts for neither
    attention = pd.DataFrame({"utterance_id": ["u"] * 5, "step": range(5), "alpha": [0.1, 0.1, 0.4, 0.3, 0.1]})
    segments = {"u": {"carrier": 1, "segments": [{"start": 0.0, "end": 0.08}, {"start": 0.12, "end": 0.20}]}}
    shares = carrier_shares(attention, segments)
    # segment masses 0.2 and 0.4 of 0.6: the carrier (segment 1) has 2/3, the first segment 1/3
    assert shares["share"].tolist() == pytest.approx([2 / 3]) and shares["first_share"].tolist() == pytest.approx([1 / 3])
    # an utterance without segments (or without a carrier) is not counted
    assert carrier_shares(attention.assign(utterance_id="v"), segments).empty


def _results(variant, uars, seeds=(0,)):
    rows = [{"variant": variant, "fold": f, "seed": s, "uar": u + 0.01 * s}
            for s in seeds for f, u in enumerate(uars, start=1)]
    return pd.DataFrame(rows)


def test_claims_are_paired_differences_and_the_verdict_rule():
    results = pd.concat([_results("IA+T+", [0.50, 0.52, 0.48, 0.51, 0.49]),
                         _results("PAaAN+_oracle", [0.80, 0.85, 0.70, 0.90, 0.75]),
                         _results("PAaAN+_shuffled", [0.51, 0.50, 0.49, 0.53, 0.47])])
    claims = [Claim("PAaAN+_oracle", "IA+T+", "greater", "x"), Claim("PAaAN+_shuffled", "IA+T+", "not_greater", "x"),
              Claim("PAaAN_oracle", "IA+T", "greater", "did not run: no row")]
    table = verdicts(claim_rows("s", claims, results))
    assert table["claim"].tolist() == ["PAaAN+_oracle > IA+T+", "PAaAN+_shuffled > IA+T+"]
    gain, control = table.iloc[0], table.iloc[1]
    # differences 0.30, 0.33, 0.22, 0.39, 0.26: mean 0.30, the CI far above 0
    assert gain["estimate"] == pytest.approx(0.30) and gain["ci_low"] > 0 and gain["held"]
    # differences 0.01, -0.02, 0.01, 0.02, -0.02: mean 0, the CI spans 0 -> "not greater" holds
    assert control["estimate"] == pytest.approx(0.0, abs=1e-12) and control["ci_low"] < 0 and control["held"]
    # Holm over the two: the smaller p doubled, the larger kept (or the smaller's doubled value if that is more)
    small, large = sorted(table["p"])
    expected = {small: min(1.0, 2 * small), large: max(min(1.0, 2 * small), large)}
    assert table["p_holm"].tolist() == pytest.approx([expected[p] for p in table["p"]])


def test_held_reads_the_ci_and_held_holm_also_needs_the_corrected_p():
    rows = [{"scenario": "s", "claim": "a > b", "kind": "uar", "expect": "greater", "estimate": 0.02,
             "ci_low": 0.001, "ci_high": 0.04, "p": 0.04, "folds": 5, "seeds": 1, "null": 0.0},
            {"scenario": "s", "claim": "c > d", "kind": "uar", "expect": "not_greater", "estimate": 0.05,
             "ci_low": 0.01, "ci_high": 0.09, "p": 0.03, "folds": 5, "seeds": 1, "null": 0.0},
            {"scenario": "s", "claim": "e > f", "kind": "uar", "expect": "greater", "estimate": 0.3,
             "ci_low": 0.2, "ci_high": 0.4, "p": 0.001, "folds": 5, "seeds": 1, "null": 0.0}]
    table = verdicts(rows)
    # Holm over three p: 0.001 x 3 = 0.003; 0.03 x 2 = 0.06; max(0.06, 0.04 x 1) = 0.06
    assert table["p_holm"].tolist() == pytest.approx([0.06, 0.06, 0.003])
    assert table["held"].tolist() == [True, False, True]  # a > b: CI above 0; c > d was predicted not to hold
    assert table["held_holm"].tolist() == [False, False, True]  # a > b's corrected p is 0.06


def test_attention_claims_test_the_carrier_share_of_each_sign_against_one_half():
    rows = []
    for fold, (plus, minus) in enumerate([(0.9, 0.8), (0.85, 0.9), (0.8, 0.85), (0.95, 0.7), (0.9, 0.9)], start=1):
        rows += [{"variant": "PAaAN+_oracle", "fold": fold, "seed": 0, "sign": "+", "share": plus},
                 {"variant": "PAaAN+_oracle", "fold": fold, "seed": 0, "sign": "-", "share": minus}]
    shares = pd.DataFrame(rows)
    claims = [AttentionClaim("PAaAN+_oracle", sign, "greater", "x") for sign in "+-"]
    table = verdicts(attention_rows("s", claims, shares))
    assert table["estimate"].tolist() == pytest.approx([0.88, 0.83])
    assert (table["ci_low"] > 0.5).all() and table["held"].all() and table["held_holm"].all()
    assert table["claim"].tolist() == ["PAaAN+_oracle attends to the carrier (E > 0)",
                                       "PAaAN+_oracle attends to the carrier (E < 0)"]


def test_every_claim_of_the_scenario_table_names_real_variants_and_a_same_score_baseline():
    for scenario in SCENARIOS:
        for claim in scenario.claims:
            assert claim.a in BY_NAME and claim.b in BY_NAME, (scenario.name, claim.text)
            assert BY_NAME[claim.a].baseline == claim.b, (scenario.name, claim.text)
        for claim in scenario.attention_claims:
            assert claim.variant in BY_NAME


def test_markdown_and_figures(tmp_path):
    results = pd.concat([_results("IA+T", [0.5, 0.6, 0.55], seeds=(0, 1)),
                         _results("PAaAN_oracle", [0.7, 0.8, 0.65], seeds=(0, 1))])
    table = verdicts(claim_rows("segment_gate", [Claim("PAaAN_oracle", "IA+T", "greater", "x")], results))
    text = verdicts_markdown(table, seconds=90)
    assert "| segment_gate | PAaAN_oracle > IA+T | greater | +0.167 |" in text and "3 x 2 | yes |" in text
    assert "1.5 min" in text
    differences = differences_from(results, "IA+T")
    assert differences["variant"].tolist() == ["PAaAN_oracle"]
    path = plot_differences({"segment_gate": differences}, tmp_path / "d.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    # Scenarios run different variants: each panel names its own, in its own order (a shared y axis relabelled
    # every panel with the last one's names).
    import matplotlib.pyplot as plt
    other = pd.DataFrame({"variant": ["P-D_oracle", "IA+T+", "P-T_oracle"], "estimate": [0.1, 0.0, 0.2],
                          "ci_low": [0.0, -0.1, 0.1], "ci_high": [0.2, 0.1, 0.3]})
    shown = {}
    original = plt.close
    plt.close = lambda fig=None: shown.update(fig=fig)
    try:
        plot_differences({"segment_gate": differences, "none": other}, tmp_path / "two.png")
    finally:
        plt.close = original
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in shown["fig"].axes]
    assert labels == [["PAaAN_oracle"], ["IA+T+", "P-D_oracle", "P-T_oracle"]]
    original(shown["fig"])
    shares = pd.DataFrame({"variant": "PAaAN+_oracle", "fold": [1, 1, 2, 2], "seed": 0, "sign": ["+", "-"] * 2,
                           "share": [0.9, 0.8, 0.7, 0.6]})
    assert plot_carrier_attention(shares, tmp_path / "a.png", "t").stat().st_size > 5000


def test_the_testbed_trains_with_its_sections_own_settings_and_the_ablation_with_the_profiles():
    from experiments.profiles import experiment_sections, load_profile
    from experiments.testbed import testbed_profile

    profile, _ = load_profile("demo")
    trained = testbed_profile(profile, experiment_sections("demo")["testbed"])
    assert (profile.train.patience, trained.train.patience) == (6, 10)
    assert trained.train.epochs == profile.train.epochs == 40 and trained.model == profile.model
    assert testbed_profile(profile, {}) == profile
