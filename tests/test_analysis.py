"""The attention analysis of III-C / Fig. 2, on hand-made attention tables with numbers worked by hand."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from paaan import analysis
from paaan.errors import PaaanError
from paaan.features.acoustic import LLD_CATEGORIES, LLD_NAMES
from paaan.features.text import POS_GROUPS

LOUDNESS = ("pcm_loudness_sma", "pcm_loudness_sma_de", "pcm_loudness_sma_de_de")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _audio_table() -> pd.DataFrame:
    """Speaker S: utterances u1, u2 (2 steps each); speaker T: utterance t1 (2 steps). Only loudness varies.

    S  loudness     [3, 1, 0, 0]   mean 1 -> above at step 0 only (step 1 equals it: not "over")
       delta        [0, 2, 2, 0]   mean 1 -> above at steps 1, 2
       delta-delta  [0, 0, 1, -1]  mean 0 -> above at step 2
       alpha        [0.75, 0.25 | 0.5, 0.5]
    T  loudness     [10, 12]       mean 11 -> above at step 1; both derivatives 0, never above
       alpha        [0.4, 0.6]
    """
    frame = pd.DataFrame(0.0, index=range(6), columns=list(LLD_NAMES))
    frame.insert(0, "utterance_id", ["u1", "u1", "u2", "u2", "t1", "t1"])
    frame.insert(1, "step", [0, 1, 0, 1, 0, 1])
    frame.insert(2, "alpha", [0.75, 0.25, 0.5, 0.5, 0.4, 0.6])
    frame.insert(3, "speaker", ["S", "S", "S", "S", "T", "T"])
    frame[LOUDNESS[0]] = [3, 1, 0, 0, 10, 12]
    frame[LOUDNESS[1]] = [0, 2, 2, 0, 0, 0]
    frame[LOUDNESS[2]] = [0, 0, 1, -1, 0, 0]
    return frame


def test_each_category_holds_its_lld_and_derivatives():
    columns = analysis.category_columns()
    assert list(columns) == list(LLD_CATEGORIES)
    assert {c: len(v) for c, v in columns.items()} == {"loudness": 3, "mfcc": 36, "zcr": 2, "voice_prob": 2, "f0": 2}
    assert tuple(columns["loudness"]) == LOUDNESS
    assert columns["f0"] == ["F0_sma", "F0_sma_de"]


def test_per_dimension_salience_is_the_share_of_dimensions_over_the_speakers_average():
    weights = analysis.category_salience(_audio_table())
    # S: step 0 base; step 1 delta; step 2 delta and delta-delta; step 3 none. T: step 1 base only.
    assert weights["loudness"].tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 0, 0, 1 / 3])
    # every other column is constant 0 = its speaker's average: never strictly over it
    assert (weights.drop(columns="loudness") == 0).all().all()


def test_accumulated_attention_by_hand():
    table = analysis.acoustic_accumulation(_audio_table())
    # S: (0.75/3 + 0.25/3 + 0.5*2/3 + 0.5*0) / 2 utterances = (1/3 + 1/3) / 2 = 1/3
    # T: (0.4*0 + 0.6/3) / 1 utterance = 0.2 (a threshold pooled over both speakers, 26/6, would give 1/3)
    assert table.index.tolist() == ["S", "T"]
    assert list(table.columns) == list(LLD_CATEGORIES)
    assert table.loc["S", "loudness"] == pytest.approx(1 / 3)
    assert table.loc["T", "loudness"] == pytest.approx(0.2)
    assert (table.drop(columns="loudness") == 0).all().all()


def test_mean_rule_thresholds_the_mean_of_the_dimensions_once():
    table = analysis.acoustic_accumulation(_audio_table(), combine="mean")
    # S: step means [1, 1, 1, -1/3], their average 2/3 -> steps 0, 1, 2 salient: (0.75 + 0.25 + 0.5) / 2 = 0.75
    # T: step means [10/3, 4], average 11/3 -> step 1: 0.6 / 1 = 0.6
    assert table.loc["S", "loudness"] == pytest.approx(0.75)
    assert table.loc["T", "loudness"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="combine"):
        analysis.category_salience(_audio_table(), combine="median")


def test_a_missing_lld_column_is_named():
    with pytest.raises(PaaanError, match="F0_sma"):
        analysis.acoustic_accumulation(_audio_table().drop(columns="F0_sma"))


def test_every_penn_sub_tag_falls_in_its_pos_group():
    expected = {"CC": "CC", "IN": "IN", "JJ": "JJ", "JJR": "JJ", "JJS": "JJ", "MD": "MD", "NN": "NN", "NNS": "NN",
                "NNP": "NN", "NNPS": "NN", "PRP": "PRP", "PRP$": "PRP", "RB": "RB", "RBR": "RB", "RBS": "RB",
                "VB": "VB", "VBD": "VB", "VBG": "VB", "VBN": "VB", "VBP": "VB", "VBZ": "VB"}
    others = ["DT", "TO", "WRB", "WP", "WP$", "UH", "CD", "POS", "RP", ".", ",", ""]
    onehot = analysis.pos_membership(list(expected) + others)
    assert list(onehot.columns) == list(POS_GROUPS) == ["CC", "IN", "JJ", "MD", "NN", "PRP", "RB", "VB"]
    for i, group in enumerate(expected.values()):
        assert onehot.iloc[i].to_dict() == {g: float(g == group) for g in POS_GROUPS}, list(expected)[i]
    assert (onehot.iloc[len(expected):] == 0).all().all()


def test_lexical_accumulation_by_hand():
    text = pd.DataFrame({"utterance_id": ["u1", "u1", "u1", "u2", "u2"], "position": [0, 1, 2, 0, 1],
                         "alpha": [0.5, 0.3, 0.2, 0.6, 0.4], "speaker": "S",
                         "token": ["I", "am", ".", "very", "happy"], "pos": ["PRP", "VBP", ".", "RB", "JJ"]})
    row = analysis.lexical_accumulation(text).loc["S"]
    # per utterance (2): PRP 0.5/2, VB 0.3/2, RB 0.6/2, JJ 0.4/2; the "." mass (0.2) counts for no group
    assert row.to_dict() == pytest.approx({"CC": 0, "IN": 0, "JJ": 0.2, "MD": 0, "NN": 0, "PRP": 0.25,
                                           "RB": 0.3, "VB": 0.15})


def test_change_is_personal_minus_baseline_and_summary_counts_speakers():
    personal = pd.DataFrame({"loudness": [0.5, 0.1], "f0": [0.2, 0.3]}, index=["A", "B"])
    baseline = pd.DataFrame({"loudness": [0.4, 0.1], "f0": [0.3, 0.1]}, index=["A", "B"])
    change = analysis.attention_change(personal, baseline)
    assert change.to_numpy() == pytest.approx(np.array([[0.1, -0.1], [0.0, 0.2]]))
    summary = analysis.change_summary(change)
    assert summary.loc["loudness"].tolist() == pytest.approx([0.05, 1, 0])  # mean, up, down (0 is neither)
    assert summary.loc["f0"].tolist() == pytest.approx([0.05, 1, 1])
    with pytest.raises(PaaanError, match="different speakers"):
        analysis.attention_change(personal, baseline.drop(index="B"))
    long = analysis.long_table({"PAaAN_PP": personal, "IA+T": baseline})
    assert len(long) == 8
    assert long.query("model == 'IA+T' and speaker == 'B' and category == 'f0'")["value"].item() == 0.1


def test_most_changed_utterances_by_hand():
    audio = {m: pd.DataFrame({"utterance_id": ["u1", "u1", "u2", "u2"], "step": [0, 1, 0, 1], "speaker": "S",
                              "alpha": alpha})
             for m, alpha in (("PP", [0.5, 0.5, 0.5, 0.5]), ("IAT", [0.9, 0.1, 0.6, 0.4]))}
    text = {m: pd.DataFrame({"utterance_id": ["u1", "u2", "u2"], "position": [0, 0, 1], "alpha": alpha})
            for m, alpha in (("PP", [1.0, 0.3, 0.7]), ("IAT", [1.0, 0.7, 0.3]))}
    # u1: |0.5-0.9| + |0.5-0.1| = 0.8 (+ 0 in text); u2: 0.1 + 0.1 + 0.4 + 0.4 = 1.0
    top = analysis.most_changed_utterances(audio, text, per_speaker=1)
    assert top["utterance_id"].tolist() == ["u2"] and top["change"].item() == pytest.approx(1.0)
    both = analysis.most_changed_utterances(audio, text, per_speaker=5)
    assert both["utterance_id"].tolist() == ["u2", "u1"] and both["change"].tolist() == pytest.approx([1.0, 0.8])


def test_denormalise_undoes_the_speaker_z_norm():
    assert analysis.denormalise([-1.0, 0.0, 2.0], mean=100.0, std=10.0).tolist() == [90.0, 100.0, 120.0]


def test_diagnostic_rank_correlation_by_hand(tmp_path):
    truth = {"iemocap": {"speakers": {s: {"expression_shift": x, "traits": {"extraversion": e}}
                                      for s, x, e in (("A", 0.1, -0.4), ("B", 0.2, 0.8), ("C", 0.3, -1.2),
                                                      ("D", 0.4, 1.6))}}}
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps(truth))
    planted = analysis.planted_expression(path)
    assert planted.loc["C"].tolist() == [0.3, -1.2]
    acoustic = pd.DataFrame({"loudness": [0.01, -0.02, 0.02, 0.03], "f0": [0.0, 0.01, 0.0, -0.02]},
                            index=["A", "B", "C", "D"])  # L1 rows 0.01, 0.03, 0.02, 0.05
    lexical = pd.DataFrame({"RB": [0.01, -0.01, 0.01, -0.01]}, index=["A", "B", "C", "D"])  # constant L1 0.01
    table, result = analysis.personality_diagnostic({"acoustic": acoustic, "lexical": lexical}, planted)
    assert table["acoustic_change_l1"].tolist() == pytest.approx([0.01, 0.03, 0.02, 0.05])
    assert table["total_change_l1"].tolist() == pytest.approx([0.02, 0.04, 0.03, 0.06])
    # ranks 1 2 3 4 vs 1 3 2 4: sum d^2 = 2, rho = 1 - 6*2 / (4*(16-1)) = 0.8
    assert result["spearman_acoustic"] == pytest.approx(0.8)
    assert result["spearman_total"] == pytest.approx(0.8)
    assert np.isnan(result["spearman_lexical"])  # a constant column has no ranking
    assert result["speakers"] == 4
    # same-fold pairs {A, B} and {C, D}: shift A<B with change 0.01<0.03 alike, C<D with 0.02<0.05 alike
    _, by_fold = analysis.personality_diagnostic({"acoustic": acoustic}, planted, {"A": 1, "B": 1, "C": 2, "D": 2})
    assert by_fold["within_fold_concordance_acoustic"] == 1.0 and by_fold["within_fold_pairs_acoustic"] == 2


def test_within_group_concordance_by_hand():
    # group g: pairs (0,1) alike, (0,2) alike, (1,2) opposite; group h: one pair tied in y, left out
    share, pairs = analysis.within_group_concordance([1, 2, 3, 5, 6], [1, 3, 2, 7, 7], ["g", "g", "g", "h", "h"])
    assert (share, pairs) == (2 / 3, 3)
    assert np.isnan(analysis.within_group_concordance([1, 2], [1, 2], ["g", "h"])[0])


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 5000


def test_figures_are_non_empty_pngs(tmp_path):
    change = analysis.attention_change(analysis.acoustic_accumulation(_audio_table()),
                                       analysis.acoustic_accumulation(_audio_table(), combine="mean"))
    panel = analysis.plot_change_map(change, tmp_path / "fig2_acoustic.png", "test", labels=analysis.CATEGORY_LABELS)
    assert _is_png(panel)
    contours = pd.DataFrame({"loudness": [0.2, 1.5, 1.1, 0.3], "f0": [np.nan, 180.0, 210.0, np.nan]})
    words = pd.DataFrame({"token": ["I", "$", "."], "first_step": [0, 1, -1], "last_step": [0, 3, -1]})
    picture = analysis.plot_utterance(
        contours, {"PAaAN_PP": np.array([0.1, 0.4, 0.4, 0.1]), "IA+T": np.full(4, 0.25)}, words,
        {"PAaAN_PP": np.array([0.2, 0.7, 0.1]), "IA+T": np.array([0.3, 0.3, 0.4])}, tmp_path / "u.png", "an utterance")
    assert _is_png(picture)


def test_analyze_step_logs_figures_tables_and_pictures(tracking, tmp_path):
    """The entry function on a fake ablation: two folds, two speakers, hand-made attention artifacts."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from experiments.analyze import run_analyze

    client = MlflowClient()
    truth = {"iemocap": {"speakers": {"S": {"expression_shift": 1.0, "traits": {"extraversion": 4.0}},
                                      "T": {"expression_shift": 0.0, "traits": {"extraversion": 0.0}}}}}
    (tmp_path / "corpus" / "IEMOCAP_full_release").mkdir(parents=True)
    (tmp_path / "corpus" / "ground_truth.json").write_text(json.dumps(truth))
    parent = client.create_run(tracking, tags={"paaan.step": "ablation"}).info.run_id
    client.log_param(parent, "iemocap_root", str(tmp_path / "corpus" / "IEMOCAP_full_release"))
    audio = _audio_table()
    text = pd.DataFrame({"utterance_id": ["u1", "u2", "t1"], "position": 0, "alpha": 1.0,
                         "speaker": ["S", "S", "T"], "token": ["yes", "no", "ok"], "pos": ["UH", "DT", "JJ"]})
    for variant, shift in (("PAaAN_PP", 0.1), ("IA+T", 0.0)):
        for fold, speaker in ((1, "S"), (2, "T")):
            run = client.create_run(tracking, tags={"mlflow.parentRunId": parent, "paaan.step": "trial",
                                                    "paaan.variant": variant, "paaan.fold": str(fold),
                                                    "paaan.role": "fold"}).info.run_id
            client.log_param(run, "seed", "0")
            mine = audio[audio["speaker"] == speaker].copy()
            mine["alpha"] += np.where(mine["step"] == 0, shift, -shift)  # PP moves 0.1 to each first step
            folder = tmp_path / f"{variant}{fold}"
            folder.mkdir()
            mine.to_parquet(folder / "attention_audio.parquet")
            text[text["speaker"] == speaker].to_parquet(folder / "attention_text.parquet")
            client.log_artifacts(run, str(folder))
            client.set_terminated(run)
    client.set_terminated(parent)

    run_id = run_analyze(per_speaker=1)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == parent
    logged = {a.path for folder in (None, "utterances") for a in client.list_artifacts(run_id, folder)}
    assert {"fig2_acoustic.png", "fig2_lexical.png", "fig2_acoustic.csv", "fig2_lexical.csv", "diagnostic.csv",
            "utterances/S_u1.png", "utterances/T_t1.png"} <= logged
    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "out")))
    for picture in ("fig2_acoustic.png", "fig2_lexical.png", "utterances/S_u1.png"):
        assert _is_png(out / picture), picture
    change = pd.read_csv(out / "fig2_acoustic.csv", index_col="speaker")
    # S loudness weights [1/3, 1/3 | 2/3, 0]; PP moves 0.1 from step 1 to step 0 of every utterance:
    # (0.1/3 - 0.1/3 + 0.1*2/3 - 0.1*0) / 2 utterances = +1/30. T weights [0, 1/3]: (0 - 0.1/3) / 1 = -1/30.
    assert change["loudness"].tolist() == pytest.approx([1 / 30, -1 / 30])
    assert (change.drop(columns="loudness").abs() < 1e-12).all().all()
    lexical = pd.read_csv(out / "fig2_lexical.csv", index_col="speaker")
    assert (lexical.abs() < 1e-12).all().all()  # the same alpha_T in both models
    diagnostic = pd.read_csv(out / "diagnostic.csv", index_col="speaker")
    assert diagnostic["acoustic_change_l1"].tolist() == pytest.approx([1 / 30, 1 / 30])
    assert diagnostic["fold"].tolist() == [1, 2]
    assert run.data.params["seed"] == "0" and run.data.metrics["utterance_pictures"] == 2
    assert run_analyze(per_speaker=1) == run_id  # same inputs and code: reused
