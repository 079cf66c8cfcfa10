"""Corpus readers and folds, on corpora written by hand in the real formats (tests/corpus_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from corpus_fixtures import utterance_ids, write_iemocap, write_sspnet, write_tone
from paaan.data import load_iemocap, load_sspnet, validation_split
from paaan.data.iemocap import parse_emo_evaluation, parse_wdseg, speaker_of
from paaan.data.schema import SCALE_NAMES, SCALES, TRAITS
from paaan.data.sspnet import detect_scale, load_sspnet_ratings
from paaan.errors import CorpusError, PaaanError


@pytest.fixture()
def iemocap(tmp_path):
    return write_iemocap(tmp_path / "IEMOCAP_full_release")


def test_counting_rule_keeps_four_classes_and_merges_exc_into_hap(iemocap):
    table = load_iemocap(iemocap)
    # Per session DIALOG_LABELS = neu, exc, hap, fru, ang, xxx, sad -> kept ang 1, hap 2 (exc+hap), neu 1,
    # sad 1; five sessions -> 5, 10, 5, 5 = 25 utterances.
    assert table["label"].value_counts().to_dict() == {"hap": 10, "ang": 5, "neu": 5, "sad": 5}
    assert len(table) == 25
    assert set(table.loc[table["raw_label"] == "exc", "label"]) == {"hap"}
    report = table.attrs["report"]
    assert dict(report.skipped) == {"label:fru": 5, "label:xxx": 5}
    assert report.kept == 25


def test_real_file_quirks_are_survived_and_counted(iemocap):
    report = load_iemocap(iemocap).attrs["report"]
    # one id-less line ("M: [LAUGHTER]") and one MXX id without a label per session's transcript
    assert report.quirks["transcript_line_without_id"] == 5
    assert report.quirks["transcript_id_without_label"] == 5
    assert report.quirks["macos_resource_files"] == 5


def test_speaker_is_session_plus_gender_of_the_last_part():
    assert speaker_of("Ses01F_impro01_M003") == (1, "Ses01M", "M")
    assert speaker_of("Ses03M_script02_1_F012") == (3, "Ses03F", "F")
    with pytest.raises(ValueError):
        speaker_of("Ses01F_impro01")


def test_columns_speakers_sessions_and_times(iemocap):
    table = load_iemocap(iemocap)
    assert sorted(table["speaker"].unique()) == [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]
    row = table.set_index("utterance_id").loc["Ses01F_impro01_M000"]  # 2nd line: exc, start 3.0, end 3.5
    assert (row["session"], row["speaker"], row["gender"], row["label"], row["raw_label"]) == (1, "Ses01M", "M", "hap", "exc")
    assert (row["start"], row["end"], row["duration"]) == (3.0, 3.5, 0.5)
    assert row["transcript"] == "I don't know, really."
    assert row["sample_rate"] == 16000 and row["wav_path"].endswith("Ses01F_impro01_M000.wav")


def test_word_timings_from_forced_alignment(iemocap):
    row = load_iemocap(iemocap).iloc[0]
    # frames of 10 ms, inclusive: I 5..14 -> 0.05-0.15 s; DON'T 15..29 -> 0.15-0.30; KNOW 32..40 -> 0.32-0.41;
    # REALLY(2) 50..59 -> 0.50-0.60 with the variant suffix stripped; <s>, <sil>, ++BREATHING++, </s> dropped.
    assert list(row["align_words"]) == ["I", "DON'T", "KNOW", "REALLY"]
    assert list(row["align_starts"]) == [0.05, 0.15, 0.32, 0.50]
    assert list(row["align_ends"]) == [0.15, 0.30, 0.41, 0.60]


def test_missing_alignment_is_recorded_not_invented(iemocap):
    utt = utterance_ids(2)[0]
    (iemocap / "Session2" / "sentences" / "ForcedAlignment" / "Ses02F_impro01" / f"{utt}.wdseg").unlink()
    table = load_iemocap(iemocap).set_index("utterance_id")
    assert table.loc[utt, "align_words"] is None
    assert table.attrs["report"].quirks["utterances_without_alignment"] == 1


def test_missing_and_unreadable_wav_and_missing_transcript_are_counted_skips(iemocap):
    ids = utterance_ids(3)  # neu, exc, hap, ...
    (iemocap / "Session3" / "sentences" / "wav" / "Ses03F_impro01" / f"{ids[0]}.wav").unlink()
    (iemocap / "Session3" / "sentences" / "wav" / "Ses03F_impro01" / f"{ids[1]}.wav").write_bytes(b"RIFFjunk")
    transcript = iemocap / "Session3" / "dialog" / "transcriptions" / "Ses03F_impro01.txt"
    transcript.write_text("\n".join(l for l in transcript.read_text().splitlines() if not l.startswith(ids[2])) + "\n")
    table = load_iemocap(iemocap)
    report = table.attrs["report"]
    assert len(table) == 22
    assert (report.skipped["missing_wav"], report.skipped["unreadable_wav"], report.skipped["missing_transcript"]) == (1, 1, 1)
    paths = {entry["reason"]: entry["path"] for entry in report.skipped_files}
    assert paths["missing_wav"].endswith(f"{ids[0]}.wav") and paths["unreadable_wav"].endswith(f"{ids[1]}.wav")
    assert paths["missing_transcript"].endswith("Ses03F_impro01.txt")


def test_label_line_that_does_not_parse_names_file_and_line(iemocap):
    labels = iemocap / "Session4" / "dialog" / "EmoEvaluation" / "Ses04F_impro01.txt"
    lines = labels.read_text().splitlines()
    lines[2] = "[7.0 - oops]\tSes04F_impro01_F000\tneu\t[2.5, 2.5, 2.5]"
    labels.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"Ses04F_impro01\.txt:3: label line does not parse"):
        load_iemocap(iemocap)


def test_ratings_are_the_mean_of_the_external_evaluators(iemocap):
    table = load_iemocap(iemocap).set_index("utterance_id")
    vad = ["valence", "activation", "dominance"]
    # neu: A-E1 val 3 act 2 dom 2, A-E2 val 4 act 2 dom 3 -> 3.5, 2, 2.5 (A-F1 val 1 act 5 dom 1 ignored)
    assert table.loc["Ses01F_impro01_F000", vad].tolist() == [3.5, 2.0, 2.5]
    # exc: three evaluators, val 4+5+3 = 12 -> 4, act 4+4+5 = 13 -> 13/3, dom 3 (A-M1's 1, 1, 1 ignored)
    np.testing.assert_allclose(table.loc["Ses01F_impro01_M000", vad].tolist(), [4.0, 13 / 3, 3.0])
    # hap: val 4, 5 -> 4.5; act 3, 3 -> 3; dom 3, 4 -> 3.5
    assert table.loc["Ses02F_impro01_F001", vad].tolist() == [4.5, 3.0, 3.5]
    # ang: val 1+2+2 = 5, act 5+4+5 = 14, dom 4+5+5 = 14, over three (A-F1's 5, 5, 5 ignored)
    np.testing.assert_allclose(table.loc["Ses05F_impro01_F002", vad].tolist(), [5 / 3, 14 / 3, 14 / 3])
    # sad: only a self-rating (A-F1) -> the label line's [2.5000, 3.0000, 2.0000]
    assert table.loc["Ses03F_impro01_F003", vad].tolist() == [2.5, 3.0, 2.0]


def test_real_release_example_header_is_the_evaluators_mean(tmp_path):
    # docs/corpus_formats.md's real block: A-E3 2 4 4 and A-E4 1 4 5 -> 1.5, 4, 4.5 as the header says;
    # the actor's A-F1 1 5 5 would have moved it.
    path = tmp_path / "Ses01F_impro05.txt"
    path.write_text("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
                    "[140.2250 - 145.6000]\tSes01F_impro05_F019\tang\t[9.0000, 9.0000, 9.0000]\n"
                    "C-E1:\tAnger;\t()\nC-F1:\tAnger;\t()\nA-E3:\tval 2; act 4; dom  4;\t()\n"
                    "A-E4:\tval 1; act 4; dom  5;\t(threatening, belligerent)\nA-F1:\tval 1; act 5; dom  5;\t()\n")
    (row,) = parse_emo_evaluation(path)
    assert (row["valence"], row["activation"], row["dominance"]) == (1.5, 4.0, 4.5)


@pytest.mark.parametrize("bad, message", [
    ("A-E2:\tval x; act 2; dom  3;\t()", "evaluator rating line does not parse"),
    ("A-E2:\tval 4; dom  3;\t()", "evaluator rating line does not parse"),
    ("A-E2:\tval 4; act 6; dom  3;\t()", r"evaluator rating act 6 is out of range \[1, 5\]"),
    ("A-E2:\tval 0; act 2; dom  3;\t()", r"evaluator rating val 0 is out of range \[1, 5\]"),
])
def test_evaluator_rating_that_does_not_parse_or_leaves_1_to_5_names_file_and_line(iemocap, bad, message):
    labels = iemocap / "Session4" / "dialog" / "EmoEvaluation" / "Ses04F_impro01.txt"
    lines = labels.read_text().splitlines()
    number = lines.index("A-E2:\tval 4; act 2; dom  3;\t()") + 1  # the first utterance's second evaluator
    lines[number - 1] = bad
    labels.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=rf"Ses04F_impro01\.txt:{number}: {message}"):
        load_iemocap(iemocap)


def test_self_rating_that_does_not_parse_is_ignored(iemocap):
    labels = iemocap / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    labels.write_text(labels.read_text().replace("A-F1:\tval 1; act 5; dom  1;", "A-F1:\tval ?;", 1))
    assert load_iemocap(iemocap).set_index("utterance_id").loc["Ses01F_impro01_F000", "valence"] == 3.5


def test_unknown_emotion_code_and_duplicate_ids_are_errors(iemocap):
    labels = iemocap / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    text = labels.read_text()
    labels.write_text(text.replace("\tneu\t", "\tjoy\t", 1))
    with pytest.raises(CorpusError, match="unknown emotion code 'joy'"):
        load_iemocap(iemocap)
    labels.write_text(text)
    other = iemocap / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro02.txt"
    other.write_text(text.splitlines()[2] + "\n")
    with pytest.raises(CorpusError, match="labelled twice"):
        load_iemocap(iemocap)


def test_missing_root_session_and_labels_are_errors(tmp_path, iemocap):
    with pytest.raises(CorpusError, match="does not exist"):
        load_iemocap(tmp_path / "nowhere")
    for path in (iemocap / "Session5" / "dialog" / "EmoEvaluation").glob("*.txt"):
        path.unlink()
    with pytest.raises(CorpusError, match=r"Session5/dialog/EmoEvaluation: no label files"):
        load_iemocap(iemocap)
    import shutil
    shutil.rmtree(iemocap / "Session5")
    with pytest.raises(CorpusError, match="Session5: session folder is missing"):
        load_iemocap(iemocap)
    assert len(load_iemocap(iemocap, sessions=(1, 2, 3, 4))) == 20


def test_parse_wdseg_rejects_reversed_frames(tmp_path):
    path = tmp_path / "x.wdseg"
    path.write_text(" SFrm EFrm SegAScr Word\n 10 5 -1 HELLO\n")
    with pytest.raises(CorpusError, match="x.wdseg:2"):
        parse_wdseg(path)


# --- SSPNet ---------------------------------------------------------------------------------------------


def test_sspnet_per_rater_layout_averages_over_raters(tmp_path):
    root, scores = write_sspnet(tmp_path / "SSPNet", n_clips=6, raters=3)
    clips = load_sspnet(root)
    assert list(clips.columns) == ["clip", "wav_path", "speaker", "n_raters", *TRAITS]
    assert list(clips["clip"]) == ["0001", "0002", "0003", "0004", "0005", "0006"]
    np.testing.assert_allclose(clips[list(TRAITS)].to_numpy(), scores.mean(axis=0))
    assert set(clips["n_raters"]) == {3}
    assert list(clips["speaker"]) == ["spk0", "spk0", "spk1", "spk1", "spk2", "spk2"]
    ratings = clips.attrs["ratings"]
    assert len(ratings) == 18 and sorted(ratings["rater"].unique()) == ["Annotator_01", "Annotator_02", "Annotator_03"]


def test_sspnet_manifest_layout(tmp_path):
    root = tmp_path / "copy"
    write_tone(root / "a.wav", rate=8000)
    write_tone(root / "b.wav", rate=8000)
    (root / "manifest.csv").write_text(
        "clip,wav,rater,O,C,E,A,N\n"
        "a,a.wav,r1,1,2,3,4,-4\n"
        "a,a.wav,r2,3,2,1,0,-2\n"
        "b,b.wav,r1,0,0,0,0,0\n")
    clips = load_sspnet(root).set_index("clip")
    assert clips.loc["a", list(TRAITS)].tolist() == [2.0, 2.0, 2.0, 2.0, -3.0]
    assert clips.loc["a", "n_raters"] == 2 and clips.loc["b", "n_raters"] == 1


@pytest.mark.parametrize("bad, message", [("", "is missing"), ("7", "out of range"), ("high", "not a number")])
def test_sspnet_bad_scores_name_file_clip_and_trait(tmp_path, bad, message):
    root, _ = write_sspnet(tmp_path / "SSPNet", n_clips=3, raters=2)
    rater = root / "Personality_Scores" / "Annotator_02.csv"
    lines = rater.read_text().splitlines()
    cells = lines[2].split(",")
    cells[3] = bad  # extraversion of clip 0002
    lines[2] = ",".join(cells)
    rater.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=rf"Annotator_02\.csv: clip 0002: extraversion score .* {message}"):
        load_sspnet(root)


def test_sspnet_missing_parts_are_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_sspnet(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no Audio_clips/"):
        load_sspnet(tmp_path / "empty")
    root, _ = write_sspnet(tmp_path / "SSPNet", n_clips=2, raters=1)
    (root / "Audio_clips" / "0002.wav").unlink()
    with pytest.raises(CorpusError, match="clips without audio"):
        load_sspnet(root)


# --- SSPNet score scales --------------------------------------------------------------------------------


def write_scores(root, raters: dict) -> object:
    """Per-rater layout written by hand: rater -> {clip: five scores in TRAITS order}; returns the root."""
    clips = sorted({clip for scores in raters.values() for clip in scores})
    for clip in clips:
        write_tone(root / "Audio_clips" / f"{clip}.wav", rate=8000)
    (root / "Personality_Scores").mkdir(parents=True, exist_ok=True)
    for rater, scores in raters.items():
        lines = ["clip," + ",".join(TRAITS)] + [f"{c}," + ",".join(str(v) for v in row) for c, row in scores.items()]
        (root / "Personality_Scores" / f"{rater}.csv").write_text("\n".join(lines) + "\n")
    return root


def test_the_three_scales_and_their_ranges():
    assert {name: scale.range for name, scale in SCALES.items()} == {
        "bfi10": (-4, 4), "likert5": (1, 5), "continuous100": (0, 100)}
    assert SCALE_NAMES == ("auto", "bfi10", "likert5", "continuous100")


@pytest.mark.parametrize("scores, scale", [
    ([-4, 4], "bfi10"),
    ([5, 5, 1], "likert5"),         # 5 is not above 5, 1 is not below 1
    ([1, 4, 2], "likert5"),         # fits bfi10 too: all in [1, 4] reads as likert5 (documented)
    ([0.999, 5], "bfi10"),          # one score below 1
    ([6, 0], "bfi10"),              # 1 of 2 above 5: half is not more than half
    ([6, 6, 0], "continuous100"),   # 2 of 3 above 5
    ([5.001, 5.001, 3], "continuous100"),
    ([[0, 12.5, 50, 87.5, 100]], "continuous100"),  # any shape: all scores together
])
def test_detect_scale_rule_and_its_boundaries(scores, scale):
    assert detect_scale(np.array(scores, dtype=float)).name == scale


def test_detect_scale_needs_scores():
    with pytest.raises(ValueError, match="no scores"):
        detect_scale(np.array([]))


@pytest.mark.parametrize("raters, scale, detail", [
    ({"r1": {"0001": [-1, 0, 2, 3, 1], "0002": [0, 1, 4, 2, 2]}, "r2": {"0001": [1, 1, 1, 1, 1]}},
     "bfi10", "from the score -1 (Personality_Scores/r1.csv, clip 0001, openness), which is below 1"),
    ({"r1": {"0001": [1, 2, 3, 4, 5], "0002": [2, 3, 3, 4, 1.5]}, "r2": {"0002": [5, 4, 3, 2, 2]}},
     "likert5", "from the lowest score 1 (Personality_Scores/r1.csv, clip 0001, openness)"),
    # 14 of 15 scores above 5; the highest decides the message: 100 in r2's clip 0002, conscientiousness
    ({"r1": {"0001": [0, 12.5, 50, 87.5, 62.5], "0002": [25, 62.5, 75, 37.5, 50]},
      "r2": {"0002": [30, 100, 55.5, 45, 70]}},
     "continuous100", "from the score 100 (Personality_Scores/r2.csv, clip 0002, conscientiousness): "
                      "14 of 15 scores are above 5"),
])
def test_sspnet_scale_is_detected_from_hand_written_rater_files(tmp_path, raters, scale, detail):
    root = write_scores(tmp_path / "SSPNet", raters)
    clips = load_sspnet(root)
    assert clips.attrs["scale"] == scale and clips.attrs["ratings"].attrs["scale"] == scale
    assert clips.attrs["scale_detected_from"].startswith(f"scale {scale} was detected {detail}")
    # scores stay in the scale's own units: clip 0001's openness averaged over its raters
    first = [row[0] for r in raters.values() for c, row in r.items() if c == "0001"]
    assert clips.set_index("clip").loc["0001", "openness"] == pytest.approx(np.mean(first))


def test_explicit_scale_against_auto(tmp_path):
    # Every score in [1, 4]: auto reads likert5 (the rule), an explicit bfi10 reads the same numbers.
    root = write_scores(tmp_path / "SSPNet", {"r1": {"0001": [1, 2, 3, 4, 4], "0002": [4, 3, 2, 1, 1]}})
    auto, given = load_sspnet(root), load_sspnet(root, scale="bfi10")
    assert auto.attrs["scale"] == "likert5" and given.attrs["scale"] == "bfi10"
    assert given.attrs["scale_detected_from"] is None
    np.testing.assert_array_equal(auto[list(TRAITS)].to_numpy(), given[list(TRAITS)].to_numpy())
    # An explicit scale is checked the same way, and its error says nothing about detection.
    likert = write_scores(tmp_path / "a", {"r1": {"0001": [1, 2, 3, 4, 5]}})
    assert load_sspnet(likert, scale="continuous100").attrs["scale"] == "continuous100"  # fits [0, 100]
    with pytest.raises(CorpusError, match=r"r1\.csv: clip 0001: neuroticism score 5 is out of range \[-4, 4\]") as err:
        load_sspnet(likert, scale="bfi10")
    err.match(r"of scale bfi10 \(BFI-10 trait score: sum of two 5-point items, one reversed\)$")
    assert "detected" not in str(err.value)
    with pytest.raises(CorpusError, match=r"r1\.csv: clip 0001: openness score -2 is out of range \[1, 5\]"):
        load_sspnet(write_scores(tmp_path / "b", {"r1": {"0001": [-2, 2, 3, 4, 4]}}), scale="likert5")


def test_out_of_range_under_a_detected_scale_names_file_clip_trait_and_the_detection(tmp_path):
    # min -1 (r1, clip 0001, openness) -> bfi10; then 4.5 (r1, clip 0002, extraversion) is outside [-4, 4].
    root = write_scores(tmp_path / "SSPNet", {"r1": {"0001": [-1, 0, 2, 3, 1], "0002": [0, 1, 4.5, 2, 2]},
                                              "r2": {"0001": [1, 1, 1, 1, 1]}})
    with pytest.raises(CorpusError) as err:
        load_sspnet(root)
    err.match(r"Personality_Scores/r1\.csv: clip 0002: extraversion score 4\.5 is out of range \[-4, 4\] "
              r"of scale bfi10 ")
    err.match(r"scale bfi10 was detected from the score -1 \(Personality_Scores/r1\.csv, clip 0001, openness\)")
    err.match(r"Set the scale explicitly with --sspnet-scale \(bfi10, likert5, continuous100\)$")
    # A 0-100 corpus with one negative score: detected from its highest score, the -3 reported.
    root = write_scores(tmp_path / "c100", {"r1": {"0001": [10, 20, 30, 40, 50], "0002": [60, 70, -3, 90, 80]}})
    with pytest.raises(CorpusError) as err:
        load_sspnet_ratings(root)
    err.match(r"r1\.csv: clip 0002: extraversion score -3 is out of range \[0, 100\] of scale continuous100")
    err.match(r"detected from the score 90 \(Personality_Scores/r1\.csv, clip 0002, agreeableness\): "
              r"9 of 10 scores are above 5")


def test_one_mistyped_score_does_not_change_the_detected_scale(tmp_path):
    # A BFI-10 corpus with one 7: the majority is not above 5, so bfi10 is detected and the 7 is reported.
    root, _ = write_sspnet(tmp_path / "SSPNet", n_clips=6, raters=3)
    rater = root / "Personality_Scores" / "Annotator_02.csv"
    lines = rater.read_text().splitlines()
    cells = lines[1].split(",")
    cells[5] = "7"  # neuroticism of clip 0001
    lines[1] = ",".join(cells)
    rater.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"Annotator_02\.csv: clip 0001: neuroticism score 7 is out of range "
                                          r"\[-4, 4\] of scale bfi10 .*scale bfi10 was detected"):
        load_sspnet(root)


def test_unknown_scale_lists_the_known_ones(tmp_path):
    root, _ = write_sspnet(tmp_path / "SSPNet", n_clips=2, raters=1)
    with pytest.raises(PaaanError, match=r"unknown SSPNet score scale 'likert7'; known: auto, bfi10, likert5, "
                                         r"continuous100"):
        load_sspnet(root, scale="likert7")


def test_manifest_layout_detects_its_scale_too(tmp_path):
    root = tmp_path / "copy"
    write_tone(root / "a.wav", rate=8000)
    (root / "manifest.csv").write_text("clip,wav,O,C,E,A,N\na,a.wav,10,20,30,40,101\n")
    with pytest.raises(CorpusError, match=r"manifest\.csv: clip a: neuroticism score 101 is out of range \[0, 100\]"
                                          r".*detected from the score 101 \(manifest\.csv, clip a, neuroticism\)"):
        load_sspnet(root)
    (root / "manifest.csv").write_text("clip,wav,O,C,E,A,N\na,a.wav,10,20,30,40,100\n")
    assert load_sspnet(root).attrs["scale"] == "continuous100"


def test_inspect_sspnet_reports_the_scale_and_takes_sspnet_scale(tmp_path):
    import json

    from click.testing import CliRunner

    from experiments.cli import SSPNET_SCALES, main

    assert SSPNET_SCALES == SCALE_NAMES  # the CLI spells the names out (no pandas at import)
    root = write_scores(tmp_path / "SSPNet", {"r1": {"0001": [1, 2, 3, 4, 5], "0002": [4, 3, 2, 1, 1]}})
    result = CliRunner().invoke(main, ["inspect", "sspnet", str(root), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["scale"] == "likert5" and summary["scale_detected_from"].startswith("scale likert5 was detected")
    result = CliRunner().invoke(main, ["inspect", "sspnet", str(root), "--sspnet-scale", "continuous100"])
    assert result.exit_code == 0, result.output
    assert "scale: continuous100" in result.output.splitlines()
    assert "scale_detected_from: None" in result.output.splitlines()
    result = CliRunner().invoke(main, ["inspect", "sspnet", str(root), "--sspnet-scale", "bfi10"])
    assert result.exit_code == 2 and "neuroticism score 5 is out of range [-4, 4]" in result.output
    result = CliRunner().invoke(main, ["inspect", "sspnet", str(root), "--sspnet-scale", "likert7"])
    assert result.exit_code == 2
    assert "'likert7' is not one of 'auto', 'bfi10', 'likert5', 'continuous100'" in result.output


# --- folds ---------------------------------------------------------------------------------------------


# (leave-one-session-out, leave-one-speaker-out and fold files: tests/test_folds.py)


def test_validation_split_is_stratified_seeded_and_disjoint():
    rows = np.arange(40)
    labels = np.array(["ang", "hap", "neu", "sad"] * 10)
    train, validation = validation_split(rows, labels, 0.2, seed=3)
    assert len(validation) == 8 and not set(train) & set(validation)
    assert sorted(labels[validation].tolist()) == sorted(["ang", "hap", "neu", "sad"] * 2)
    again = validation_split(rows, labels, 0.2, seed=3)
    assert np.array_equal(validation, again[1])
    assert len(validation_split(rows, labels, 0.0, seed=3)[1]) == 0

