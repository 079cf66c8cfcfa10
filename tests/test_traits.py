"""True traits of a real corpus from a CSV: scales detected and converted to the oracle's BFI-10 units, rows
averaged per speaker, and every error naming the file and the CSV row (header = row 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paaan.data.schema import SCALE_NAMES, TRAITS
from paaan.data.traits import TRAIT_SCALES, detect_trait_scale, read_traits, to_bfi10
from paaan.errors import CorpusError, PaaanError
from paaan.personality import oracle_embeddings, true_profiles

HEADER = "speaker,openness,conscientiousness,extraversion,agreeableness,neuroticism"


def write(tmp_path, *lines, name="traits.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tipi_scores_map_linearly_onto_bfi10():
    tipi = TRAIT_SCALES["tipi7"]
    # midpoint 4 -> 0, ends 1 and 7 -> -4 and +4; 5.5 is half-way from 4 to 7 -> +2
    np.testing.assert_allclose(to_bfi10([7, 1, 4, 5.5], tipi), [4, -4, 0, 2])
    np.testing.assert_allclose(to_bfi10([75, 0, 50], TRAIT_SCALES["continuous100"]), [2, -4, 0])
    np.testing.assert_allclose(to_bfi10([4, 1, 3], TRAIT_SCALES["likert5"]), [2, -4, 0])
    np.testing.assert_allclose(to_bfi10([-3, 4], TRAIT_SCALES["bfi10"]), [-3, 4])


def test_the_tipi_scale_is_for_traits_only():
    assert TRAIT_SCALES["tipi7"].range == (1, 7)
    assert "tipi7" not in SCALE_NAMES  # --sspnet-scale and SSPNet's detection keep their three scales


@pytest.mark.parametrize("scores, name", [
    ([8, 8, 3], "continuous100"),   # 2 of 3 above 7
    ([8, 3, 3], "tipi7"),           # one 8 is no majority: read as TIPI, then 8 is out of range [1, 7]
    ([7, 7, 7], "tipi7"),           # 7 is not above 7
    ([5.01, 1, 1], "tipi7"),        # above 5
    ([5, 5, 1], "likert5"),         # 5 is not above 5, 1 is not below 1
    ([1, 4, 2], "likert5"),         # fits bfi10 and tipi7 too: read as likert5 (documented)
    ([0.99, 5, 5], "bfi10"),        # below 1
    ([-4, 4, 0], "bfi10"),
    ([[0, 25, 50, 75, 100]], "continuous100"),  # any shape: all scores together
])
def test_scale_detection_boundaries(scores, name):
    assert detect_trait_scale(scores).name == name


def test_tipi_file_is_detected_and_converted(tmp_path):
    path = write(tmp_path, HEADER, "Ses01F,7,1,4,5.5,2.5", "Ses01M,4,4,4,4,4")
    profiles = read_traits(path)
    assert list(profiles.columns) == list(TRAITS) and list(profiles.index) == ["Ses01F", "Ses01M"]
    # 2.5 is half-way from 4 down to 1 -> -2
    assert profiles.loc["Ses01F"].tolist() == [4.0, -4.0, 0.0, 2.0, -2.0]
    assert profiles.loc["Ses01M"].tolist() == [0.0] * 5
    assert profiles.attrs["scale"] == "tipi7"
    assert profiles.attrs["scale_detected_from"] == ("scale tipi7 was detected from the score 7 (row 2, openness), "
                                                     "which is above 5 (and at most half of the scores are above 7)")


def test_continuous_scores_and_any_case_of_the_columns(tmp_path):
    path = write(tmp_path, "Speaker,OPENNESS,Conscientiousness,extraversion,Agreeableness,NEUROTICISM",
                 "Ses02F,75,25,50,100,0")
    assert read_traits(path).loc["Ses02F"].tolist() == [2.0, -2.0, 0.0, 4.0, -4.0]


def test_per_dialog_rows_are_averaged_per_speaker(tmp_path):
    path = write(tmp_path, "dialog," + HEADER,
                 "Ses01F_impro01,Ses01F,7,4,1,6,2",
                 "Ses01F_script01_1,Ses01F,5.5,4,4,6,3",
                 "Ses01F_impro01,Ses01M,4,4,4,4,4")
    profiles = read_traits(path)
    # Ses01F: openness +4 and +2 -> +3; conscientiousness 0, 0 -> 0; extraversion -4, 0 -> -2;
    # agreeableness 6 -> +8/3 twice; neuroticism 2 -> -8/3 and 3 -> -4/3 -> -2
    np.testing.assert_allclose(profiles.loc["Ses01F"].tolist(), [3.0, 0.0, -2.0, 8 / 3, -2.0])
    assert profiles.loc["Ses01M"].tolist() == [0.0] * 5


def test_given_scale_overrides_detection(tmp_path):
    path = write(tmp_path, HEADER, "Ses01F,1,2,3,4,4")  # all in [1, 4]: auto reads likert5
    assert read_traits(path).loc["Ses01F"].tolist() == [-4.0, -2.0, 0.0, 2.0, 2.0]
    given = read_traits(path, scale="tipi7")
    assert given.attrs["scale"] == "tipi7" and given.attrs["scale_detected_from"] is None
    np.testing.assert_allclose(given.loc["Ses01F"].tolist(), [-4.0, -8 / 3, -4 / 3, 0.0, 0.0])
    assert read_traits(path, scale="bfi10").loc["Ses01F"].tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]
    with pytest.raises(PaaanError, match=r"unknown trait score scale 'tipi5'; known: auto, bfi10, likert5, "
                                         r"continuous100, tipi7"):
        read_traits(path, scale="tipi5")


def test_blank_lines_are_skipped_and_rows_keep_their_numbers(tmp_path):
    path = write(tmp_path, HEADER, "Ses01F,7,1,4,5.5,2.5", "", ",,,,,", "Ses01M,4,4,x,4,4")
    with pytest.raises(CorpusError, match=r"traits\.csv: row 5 \(speaker Ses01M\): extraversion score 'x' is not "
                                          r"a number on scale tipi7 \[1, 7\]"):
        read_traits(path)


@pytest.mark.parametrize("cell, message", [
    ("", r"row 3 \(speaker Ses01M\): agreeableness score is missing \(empty cell\) on scale tipi7 \[1, 7\]"),
    ("high", r"row 3 \(speaker Ses01M\): agreeableness score 'high' is not a number on scale tipi7 \[1, 7\]"),
    ("inf", r"row 3 \(speaker Ses01M\): agreeableness score 'inf' is not a finite number on scale tipi7"),
    ("0", r"row 3 \(speaker Ses01M\): agreeableness score 0 is out of range of scale tipi7 \[1, 7\] \(TIPI .*\); "
          r"scale tipi7 was detected from the score 7 \(row 2, openness\).*Give the scale explicitly"),
])
def test_bad_scores_name_file_row_trait_and_scale(tmp_path, cell, message):
    path = write(tmp_path, HEADER, "Ses01F,7,1,4,5.5,2.5", f"Ses01M,4,4,4,{cell},4")
    with pytest.raises(CorpusError, match=rf"{tmp_path.name}/traits\.csv: {message}"):
        read_traits(path)


def test_out_of_range_of_a_given_scale(tmp_path):
    path = write(tmp_path, HEADER, "Ses01F,1,2,3,4,6")
    with pytest.raises(CorpusError, match=r"traits\.csv: row 2 \(speaker Ses01F\): neuroticism score 6 is out of "
                                          r"range of scale likert5 \[1, 5\] \(per-trait score on a 1-5 Likert "
                                          r"scale\)$"):
        read_traits(path, scale="likert5")


def test_empty_speaker_and_empty_dialog_name_the_row(tmp_path):
    with pytest.raises(CorpusError, match=r"traits\.csv: row 3: speaker is empty"):
        read_traits(write(tmp_path, HEADER, "Ses01F,4,4,4,4,4", " ,4,4,4,4,4"))
    with pytest.raises(CorpusError, match=r"traits\.csv: row 2 \(speaker Ses01F\): dialog is empty"):
        read_traits(write(tmp_path, "dialog," + HEADER, ",Ses01F,4,4,4,4,4"))


def test_duplicates_name_both_rows(tmp_path):
    with pytest.raises(CorpusError, match=r"traits\.csv: row 4: speaker Ses01F is listed twice \(first in row 2\)"):
        read_traits(write(tmp_path, HEADER, "Ses01F,4,4,4,4,4", "Ses01M,4,4,4,4,4", "Ses01F,5,4,4,4,4"))
    with pytest.raises(CorpusError, match=r"traits\.csv: row 4: speaker Ses01F in dialog d1 is listed twice "
                                          r"\(first in row 2\)"):
        read_traits(write(tmp_path, "dialog," + HEADER, "d1,Ses01F,4,4,4,4,4", "d2,Ses01F,4,4,4,4,4",
                          "d1,Ses01F,5,4,4,4,4"))


def test_missing_columns_name_the_file_and_the_columns(tmp_path):
    with pytest.raises(CorpusError, match=r"traits\.csv: missing trait columns \['agreeableness', 'neuroticism'\]"):
        read_traits(write(tmp_path, "speaker,openness,conscientiousness,extraversion", "Ses01F,4,4,4"))
    with pytest.raises(CorpusError, match=r"traits\.csv: needs a 'speaker' column"):
        read_traits(write(tmp_path, "who,openness,conscientiousness,extraversion,agreeableness,neuroticism"))


def test_empty_missing_and_header_only_files_are_errors(tmp_path):
    with pytest.raises(CorpusError, match="traits file does not exist"):
        read_traits(tmp_path / "none.csv")
    with pytest.raises(CorpusError, match="file is empty"):
        read_traits(write(tmp_path, ""))
    with pytest.raises(CorpusError, match="no rows of traits"):
        read_traits(write(tmp_path, HEADER))


def test_corpus_speakers_missing_from_the_file_are_named(tmp_path):
    path = write(tmp_path, HEADER, "Ses01F,4,4,4,4,4", "Ses01M,7,7,7,7,7", "Ses09F,1,1,1,1,1")
    with pytest.raises(CorpusError, match=r"traits\.csv: no traits for corpus speakers \['Ses02F', 'Ses02M'\]"):
        read_traits(path, speakers=["Ses01F", "Ses01M", "Ses02M", "Ses02F"])
    # only the corpus' speakers come back
    assert list(read_traits(path, speakers=["Ses01M", "Ses01F"]).index) == ["Ses01F", "Ses01M"]


def test_true_profiles_reads_a_traits_csv_or_a_ground_truth(tmp_path):
    csv = write(tmp_path, HEADER, "Ses01F,7,1,4,5.5,2.5", "Ses01M,4,4,4,4,4", name="traits.CSV")
    assert true_profiles(csv).loc["Ses01F"].tolist() == [4.0, -4.0, 0.0, 2.0, -2.0]
    assert oracle_embeddings(str(csv)).loc["Ses01F", "openness_mean"] == 4.0  # the oracle reads it too
    truth = {"iemocap": {"speakers": {"Ses01F": {"traits": dict(zip(TRAITS, [1.0, 2.0, 3.0, -1.0, 0.0]))}}}}
    (tmp_path / "ground_truth.json").write_text(json.dumps(truth))
    for given in (truth, tmp_path / "ground_truth.json"):
        assert true_profiles(given).loc["Ses01F"].tolist() == [1.0, 2.0, 3.0, -1.0, 0.0]
