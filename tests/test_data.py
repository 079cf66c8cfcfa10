"""Corpus readers and folds, on corpora written by hand in the real formats (tests/corpus_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from corpus_fixtures import utterance_ids, write_iemocap, write_sspnet, write_tone
from paaan.data import inner_split, leave_one_session_out, load_iemocap, load_sspnet, validation_split
from paaan.data.iemocap import parse_wdseg, speaker_of
from paaan.data.schema import TRAITS
from paaan.errors import CorpusError


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


# --- folds ---------------------------------------------------------------------------------------------


def test_leave_one_session_out_never_puts_a_test_speaker_in_training(iemocap):
    table = load_iemocap(iemocap)
    folds = leave_one_session_out(table)
    assert [f.test_session for f in folds] == [1, 2, 3, 4, 5]
    for fold in folds:
        train_speakers = set(table["speaker"].iloc[fold.train])
        test_speakers = set(table["speaker"].iloc[fold.test])
        assert test_speakers and not (train_speakers & test_speakers)
        assert len(fold.train) + len(fold.test) == len(table) == 25
        assert len(test_speakers) == 2  # a session is a dyad
    # every utterance is tested exactly once
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(len(table)))


def test_inner_split_stays_inside_the_training_sessions(iemocap):
    table = load_iemocap(iemocap)
    for fold in leave_one_session_out(table):
        inner = inner_split(table, fold)
        inner_sessions = set(table["session"].iloc[inner.test])
        assert inner_sessions == {inner.test_session} and inner.test_session != fold.test_session
        assert set(table["session"].iloc[inner.train]) == set(fold.train_sessions) - {inner.test_session}
        assert set(np.concatenate([inner.train, inner.test]).tolist()) == set(fold.train.tolist())
    # fold 5 (test session 5) validates on session 1, fold 2 on session 3
    folds = leave_one_session_out(table)
    assert inner_split(table, folds[4]).test_session == 1 and inner_split(table, folds[1]).test_session == 3


def test_validation_split_is_stratified_seeded_and_disjoint():
    rows = np.arange(40)
    labels = np.array(["ang", "hap", "neu", "sad"] * 10)
    train, validation = validation_split(rows, labels, 0.2, seed=3)
    assert len(validation) == 8 and not set(train) & set(validation)
    assert sorted(labels[validation].tolist()) == sorted(["ang", "hap", "neu", "sad"] * 2)
    again = validation_split(rows, labels, 0.2, seed=3)
    assert np.array_equal(validation, again[1])
    assert len(validation_split(rows, labels, 0.0, seed=3)[1]) == 0

