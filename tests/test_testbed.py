"""The testbed's measurements: where attention goes, claims against trial results, the verdict rule."""

from __future__ import annotations

import pandas as pd
import pytest

from paaan.demo.scenarios import SCENARIOS, AttentionClaim, Claim, CounterfactualClaim
from paaan.testbed import (attention_rows, carrier_shares, claim_rows, counterfactual_moves, counterfactual_rows,
                           differences_from, judge, plot_carrier_attention, plot_differences, tost_p, unit_means,
                           verdicts, verdicts_markdown)
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


def _results(variant, uars, seeds=(0,), draw=None):
    rows = [{"variant": variant, "fold": f, "seed": s, "uar": u + 0.01 * s}
            for s in seeds for f, u in enumerate(uars, start=1)]
    frame = pd.DataFrame(rows)
    return frame if draw is None else frame.assign(draw=draw)


MARGIN = 0.034


def test_claims_are_paired_differences_judged_greater_equivalent_or_inconclusive():
    results = pd.concat([_results("IA+T+", [0.50, 0.52, 0.48, 0.51, 0.49]),
                         _results("PAaAN+_oracle", [0.80, 0.85, 0.70, 0.90, 0.75]),
                         _results("PAaAN+_shuffled", [0.51, 0.50, 0.49, 0.53, 0.47])])
    claims = [Claim("PAaAN+_oracle", "IA+T+", "greater", "x"), Claim("PAaAN+_shuffled", "IA+T+", "equivalent", "x"),
              Claim("PAaAN_oracle", "IA+T", "greater", "did not run: no row")]
    table = verdicts(claim_rows("s", claims, results, MARGIN))
    assert table["claim"].tolist() == ["PAaAN+_oracle > IA+T+", "PAaAN+_shuffled > IA+T+"]
    gain, control = table.iloc[0], table.iloc[1]
    # differences 0.30, 0.33, 0.22, 0.39, 0.26: mean 0.30, the 95% CI far above 0
    assert gain["estimate"] == pytest.approx(0.30) and gain["ci_low"] > 0 and gain["outcome"] == "greater"
    assert gain["held"] and (gain["a_mean"], gain["b_mean"]) == pytest.approx((0.80, 0.50))
    # differences 0.01, -0.02, 0.01, 0.02, -0.02: mean 0, sd sqrt(14e-4 / 4) = 0.018708, se 0.0083666;
    # 90% CI 0 +- 2.1318 x 0.0083666 = +-0.017837, inside +-0.034: equivalent (the 95% CI, +-0.02323, spans 0)
    assert control["estimate"] == pytest.approx(0.0, abs=1e-12) and control["outcome"] == "equivalent"
    assert (control["ci90_low"], control["ci90_high"]) == pytest.approx((-0.017837, 0.017837), abs=1e-6)
    assert (control["ci_low"], control["ci_high"]) == pytest.approx((-0.023230, 0.023230), abs=1e-6)
    # TOST: t = (0 + 0.034) / 0.0083666 = 4.0638 against each bound; p = P(T_4 > 4.0638) = 0.00765
    assert control["p"] == pytest.approx(0.00765, abs=5e-5) and control["held"]
    # the same differences with a margin of 0.015 do not fit inside it: inconclusive, and the null fails
    narrow = verdicts(claim_rows("s", claims[1:2], results, 0.015)).iloc[0]
    assert narrow["outcome"] == "inconclusive" and not narrow["held"]


def test_a_noisy_null_is_inconclusive_and_a_loss_is_less():
    results = pd.concat([_results("IA+T", [0.50, 0.52, 0.48, 0.51, 0.49]),
                         _results("P-T_oracle", [0.30, 0.62, 0.40, 0.66, 0.45]),  # -0.20 +0.10 -0.08 +0.15 -0.04
                         _results("PAaAN_oracle", [0.40, 0.40, 0.40, 0.40, 0.40])])  # -0.10 -0.12 -0.08 -0.11 -0.09
    claims = [Claim("P-T_oracle", "IA+T", "equivalent", "x"), Claim("PAaAN_oracle", "IA+T", "greater", "x")]
    noisy, loss = verdicts(claim_rows("s", claims, results, MARGIN)).itertuples()
    # mean -0.014, sd 0.1408: the old rule ("the CI includes 0") called this a null; it is no evidence of one
    assert noisy.estimate == pytest.approx(-0.014) and noisy.ci_low < 0 < noisy.ci_high
    assert noisy.outcome == "inconclusive" and not noisy.held
    assert loss.estimate == pytest.approx(-0.10) and loss.ci_high < 0 and loss.outcome == "less" and not loss.held


def test_a_unit_is_a_fold_of_one_draw_with_its_seeds_averaged():
    # two draws x two folds x two seeds; seed 1 adds 0.01 to every UAR of both variants (so to no difference)
    results = pd.concat([_results("IA+T", [0.5, 0.6], seeds=(0, 1), draw=1), _results("IA+T", [0.5, 0.5], seeds=(0, 1), draw=2),
                         _results("PAaAN_oracle", [0.7, 0.7], seeds=(0, 1), draw=1),
                         _results("PAaAN_oracle", [0.6, 0.8], seeds=(0, 1), draw=2)])
    cells = results.pivot_table(index=["draw", "fold", "seed"], columns="variant", values="uar").reset_index()
    cells["difference"] = cells["PAaAN_oracle"] - cells["IA+T"]
    units = unit_means(cells)
    assert units.to_dict() == pytest.approx({(1, 1): 0.2, (1, 2): 0.1, (2, 1): 0.1, (2, 2): 0.3})
    row = verdicts(claim_rows("s", [Claim("PAaAN_oracle", "IA+T", "greater", "x")], results, MARGIN)).iloc[0]
    assert (row["units"], row["seeds"], row["draws"]) == (4, 2, "1,2") and row["estimate"] == pytest.approx(0.175)


def test_tost_p_is_below_five_percent_exactly_when_the_90_percent_ci_is_inside_the_margin():
    values = [0.01, -0.02, 0.01, 0.02, -0.02]
    assert tost_p(values, 0.0179) < 0.05 < tost_p(values, 0.0178)  # the 90% half-width is 0.017837
    assert tost_p([0.01, 0.01], 0.034) == 0.0 and tost_p([0.05, 0.05], 0.034) == 1.0  # no spread
    assert judge([0.2], "greater", MARGIN)["outcome"] == "inconclusive"  # one unit is no evidence


def test_held_holm_also_needs_the_corrected_p_of_the_predicted_test():
    rows = [{"scenario": "s", "claim": c, "kind": "uar", "draws": "0", "expect": e, "outcome": o, "estimate": 0.0,
             "ci_low": 0.0, "ci_high": 0.0, "ci90_low": 0.0, "ci90_high": 0.0, "margin": MARGIN, "p": p,
             "a_mean": 0.5, "b_mean": 0.5, "units": 5, "seeds": 1}
            for c, e, o, p in (("a > b", "greater", "greater", 0.04), ("c > d", "equivalent", "greater", 0.03),
                               ("e > f", "greater", "greater", 0.001))]
    table = verdicts(rows)
    # Holm over three p: 0.001 x 3 = 0.003; 0.03 x 2 = 0.06; max(0.06, 0.04 x 1) = 0.06
    assert table["p_holm"].tolist() == pytest.approx([0.06, 0.06, 0.003])
    assert table["held"].tolist() == [True, False, True]  # c > d was predicted equivalent and came out greater
    assert table["held_holm"].tolist() == [False, False, True]  # a > b's corrected p is 0.06


def test_attention_claims_pair_the_carrier_share_and_the_sign_contrast_with_the_baselines():
    rows = []
    # per fold: the variant's carrier shares (E>0, E<0); the baseline prefers the second segment, 0.4 / 0.6,
    # whatever the sign (a position bias): its carrier share is 0.4 for extraverts and 0.6 for introverts
    for fold, (plus, minus) in enumerate([(0.9, 0.8), (0.85, 0.9), (0.8, 0.85), (0.95, 0.7), (0.9, 0.9)], start=1):
        for variant, (p, m) in (("PAaAN+_oracle", (plus, minus)), ("IA+T+", (0.4, 0.6))):
            # E > 0: the carrier is the first segment (first share = carrier share); E < 0: the second
            rows += [{"variant": variant, "fold": fold, "seed": 0, "sign": "+", "share": p, "first_share": p},
                     {"variant": variant, "fold": fold, "seed": 0, "sign": "-", "share": m, "first_share": 1 - m}]
    shares = pd.DataFrame(rows)
    claims = [AttentionClaim("PAaAN+_oracle", "IA+T+", "carrier", "greater", "x", sign) for sign in "+-"]
    claims.append(AttentionClaim("PAaAN+_oracle", "IA+T+", "contrast", "greater", "x"))
    table = verdicts(attention_rows("s", claims, shares, MARGIN))
    # carrier: 0.88 - 0.40 = 0.48 (E>0) and 0.83 - 0.60 = 0.23 (E<0); the bias no longer favours a sign
    # contrast: per fold (plus - (1 - minus)) - (0.4 - 0.4) = plus + minus - 1: mean 0.88 + 0.83 - 1 = 0.71
    assert table["estimate"].tolist() == pytest.approx([0.48, 0.23, 0.71])
    assert (table["outcome"] == "greater").all() and table["held"].all()
    assert table["claim"].tolist() == ["PAaAN+_oracle attends to the carrier more than IA+T+ (E > 0)",
                                       "PAaAN+_oracle attends to the carrier more than IA+T+ (E < 0)",
                                       "PAaAN+_oracle moves attention with the sign of E more than IA+T+"]


def test_a_prediction_moves_when_it_changes_to_the_other_segments_emotion():
    segments = {u: {"carrier": c, "segments": [{"emotion": a}, {"emotion": b}]}
                for u, c, a, b in (("u1", 0, "ang", "sad"), ("u2", 1, "hap", "neu"), ("u3", 0, "neu", "ang"),
                                   ("u4", 1, "sad", "hap"))}
    predictions = pd.DataFrame({"utterance_id": ["u1", "u2", "u3", "u4", "ungated"],
                                "prediction": ["ang", "hap", "neu", "hap", "ang"],
                                "counterfactual": ["sad", "hap", "hap", "sad", "sad"]})
    moves = counterfactual_moves(predictions, segments)
    # u1: ang -> sad, the other segment's: moved. u2: hap (not its carrier's neu), unchanged. u3: neu -> hap, not the other segment's (ang).
    # u4: carrier is segment 1 (hap): hap -> sad, the other's: moved. "ungated" has no segments.
    assert moves["moved"].tolist() == [True, False, False, True]
    assert moves["carrier_predicted"].tolist() == [True, False, True, True]
    cells = []
    for fold, (mine, control) in enumerate([(0.9, 0.1), (0.8, 0.2), (0.85, 0.05), (0.7, 0.1), (0.95, 0.0)], start=1):
        for variant, rate in (("PAaAN+_oracle", mine), ("PAaAN+_shuffled", control)):
            moved = [True] * int(round(rate * 20)) + [False] * (20 - int(round(rate * 20)))
            cells += [{"variant": variant, "fold": fold, "seed": 0, "moved": m} for m in moved]
    claim = CounterfactualClaim("PAaAN+_oracle", "PAaAN+_shuffled", "greater", "x")
    row = verdicts(counterfactual_rows("s", [claim], pd.DataFrame(cells), MARGIN)).iloc[0]
    # moved shares 0.84 and 0.09 on average: +0.75
    assert row["estimate"] == pytest.approx(0.75) and row["outcome"] == "greater" and row["kind"] == "counterfactual"
    assert (row["a_mean"], row["b_mean"]) == pytest.approx((0.84, 0.09))


def test_every_claim_of_the_scenario_table_names_real_variants_and_a_same_score_baseline():
    for scenario in SCENARIOS:
        for claim in scenario.claims:
            assert claim.a in BY_NAME and claim.b in BY_NAME, (scenario.name, claim.text)
            assert BY_NAME[claim.a].baseline == claim.b, (scenario.name, claim.text)
        for claim in scenario.attention_claims:
            assert claim.variant in BY_NAME and BY_NAME[claim.variant].baseline == claim.baseline
        for claim in scenario.counterfactual_claims:
            assert claim.variant in BY_NAME and BY_NAME[claim.control].personality == "shuffled"


def test_markdown_and_figures(tmp_path):
    results = pd.concat([_results("IA+T", [0.5, 0.6, 0.55], seeds=(0, 1)),
                         _results("PAaAN_oracle", [0.7, 0.8, 0.65], seeds=(0, 1))])
    table = verdicts(claim_rows("segment_gate", [Claim("PAaAN_oracle", "IA+T", "greater", "x")], results, MARGIN))
    text = verdicts_markdown(table, seconds=90)
    assert "| segment_gate | PAaAN_oracle > IA+T | 0 | greater | greater | +0.167 |" in text and "3 x 2 | yes |" in text
    assert "+-0.034" in text
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


def test_the_plans_draws_margin_and_power_claims_come_from_the_profile():
    from experiments.profiles import experiment_sections
    from experiments.settings import TestbedSettings, power_claim

    plan = experiment_sections("demo")["testbed"]
    quick = TestbedSettings.from_plan(plan, quick=True)
    assert (quick.demo_seeds, quick.seeds, quick.margin, quick.design_draw) == ([0, 1], 1, 0.034, 0)
    assert quick.draw_sets() == [("design", [0]), ("held-out", [1])]
    full = TestbedSettings.from_plan(plan, quick=False, demo_seeds=[3, 4], demo_speakers=20)
    assert full.draw_sets() == [("held-out", [3, 4])] and full.demo_speakers == 20
    assert "PAaAN+_shuffled" in full.variants_for("segment_gate")  # the counterfactual's control
    power = TestbedSettings.from_plan(plan, quick=False, power=True).power
    assert power.speakers == [10, 20, 30] and 0 not in power.draws and power.gain == 0.034
    assert power.noise == "input_flip: PAaAN_oracle > IA+T"
    assert power.scenarios() == ["segment_gate", "segment_gate_75", "input_flip"]
    assert TestbedSettings.from_plan(plan, quick=True, power=True).power.noise == "segment_gate: PAaAN+_oracle > IA+T+"
    assert power_claim("input_flip: P-T_oracle > IA+T")[1].expect == "greater"
    with pytest.raises(ValueError, match="has no claim"):
        power_claim("input_flip: P-D_oracle > IA+T")
    with pytest.raises(ValueError, match="multiple of 10"):
        TestbedSettings.from_plan(plan, quick=True, demo_speakers=15)


def test_the_testbed_key_covers_the_plan_and_the_study_settings():
    from experiments.profiles import experiment_sections, load_profile
    from experiments.settings import StudySettings, TestbedSettings
    from experiments.testbed import testbed_key

    profile, _ = load_profile("demo")
    plan = experiment_sections("demo")["testbed"]
    one = TestbedSettings.from_plan(plan, quick=True, study=StudySettings(k_trials=2))
    assert testbed_key(profile, one) == testbed_key(profile, TestbedSettings.from_plan(
        plan, quick=True, study=StudySettings(k_trials=2)))
    assert testbed_key(profile, one) != testbed_key(profile, TestbedSettings.from_plan(
        plan, quick=True, study=StudySettings(k_trials=3)))
    assert testbed_key(profile, one) != testbed_key(profile, TestbedSettings.from_plan(
        plan, quick=True, demo_seeds=[0, 2], study=StudySettings(k_trials=2)))
