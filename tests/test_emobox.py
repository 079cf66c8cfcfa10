"""EmoBox's layout: the reader keeps the four classes through label_map.json, takes speakers from the stm and
folds from the fold files, and names the file and line of every bad input (tests/emobox_fixtures.py)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from emobox_fixtures import (ABSOLUTE_KEY, FOLD_1_TRAIN, FOLD_TEST, KEPT, NAME, NO_FOLD_KEY, UTTERANCES,
                             write_emobox)
from paaan.data.emobox import (EmoBoxFold, four_class_of, has_transcripts, load_emobox, read_emobox_folds,
                               read_stm, read_transcripts)
from paaan.data.iemocap import COLUMNS
from paaan.errors import CorpusError


@pytest.fixture
def corpus(tmp_path):
    return write_emobox(tmp_path)


def load(paths, **kwargs):
    kwargs.setdefault("wav_root", paths["wav_root"])
    return load_emobox(paths["folder"], **kwargs)


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def line_of(path: Path, key: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if f'"{key}"' in line
                or line.startswith(key + " ") or line.startswith(key + ","))


def jsonl(paths) -> Path:
    return paths["folder"] / f"{NAME}.jsonl"


# ---------------------------------------------------------------------------------------------------------
# what is kept


def test_table_has_iemocaps_columns_and_the_four_classes_through_the_label_map(corpus):
    table = load(corpus)
    assert list(table.columns) == COLUMNS
    assert table["label"].value_counts().to_dict() == KEPT
    report = table.attrs["report"]
    assert report.kept == 9
    assert dict(report.skipped) == {"label:DIS": 1, "label:FEA": 1, "missing_label": 1}
    assert report.quirks["stm_lines_without_jsonl_key"] == 1
    row = table.set_index("utterance_id").loc["crema-d-1003_DFA_HAP_XX"]
    assert (row["label"], row["raw_label"]) == ("hap", "HAP")


def test_emobox_names_map_to_four_classes_and_excited_is_happy():
    assert [four_class_of(n) for n in ("Angry", "Happy", "Excited", "Neutral", "Sad")] == ["ang", "hap", "hap",
                                                                                            "neu", "sad"]
    assert [four_class_of(n) for n in ("Fear", "Disgust", "Surprise", "Calm", "Contempt", "No-agreement")] == [None] * 6


def test_keys_with_dashes_are_the_utterance_ids_and_speakers_come_from_the_stm(corpus):
    table = load(corpus).set_index("utterance_id")
    kept = [u for u in UTTERANCES if u[2] in ("ANG", "HAP", "NEU", "SAD")]
    assert sorted(table.index) == sorted(u[0] for u in kept)
    assert {key: table.loc[key, "speaker"] for key, *_ in kept} == {key: spk for key, spk, *_ in kept}
    assert (table["dialog"] == "").all() and (table["gender"] == "").all()


def test_sessions_are_the_test_fold_and_zero_outside_every_test_split(corpus):
    table = load(corpus).set_index("utterance_id")
    assert table.loc["crema-d-1001_DFA_ANG_XX", "session"] == 1
    assert table.loc["crema-d-1003_DFA_NEU_XX", "session"] == 2
    assert table.loc[NO_FOLD_KEY, "session"] == 0


def test_times_come_from_the_jsonl_length_and_wav_paths_are_absolute(corpus):
    table = load(corpus).set_index("utterance_id")
    row = table.loc["crema-d-1003_DFA_NEU_XX"]
    assert (row["start"], row["end"], row["duration"], row["sample_rate"]) == (0.0, 0.875, 0.875, 16000)
    assert row["wav_path"] == str((corpus["wav_root"] / "downloads/crema-d/AudioWAV/1003_DFA_NEU_XX.wav").resolve())
    assert table.loc[ABSOLUTE_KEY, "wav_path"] == str(corpus["absolute_wav"])  # kept as written
    assert all(Path(p).is_absolute() for p in table["wav_path"])
    assert all(math.isnan(v) for v in table["valence"])


def test_without_transcripts_the_text_is_empty(corpus):
    table = load(corpus)
    assert (table["transcript"] == "").all() and table["align_words"].isna().all()
    assert not has_transcripts(table)


def test_transcripts_and_word_timings_from_the_csv(corpus):
    table = load(corpus, transcripts=corpus["transcripts"]).set_index("utterance_id")
    assert has_transcripts(table)
    assert table.loc["crema-d-1001_IEO_NEU_XX", "transcript"] == "It's eleven o'clock, then."
    row = table.loc["crema-d-1001_DFA_ANG_XX"]
    assert row["align_words"] == ["DON'T", "FORGET", "A", "JACKET"]
    assert row["align_starts"] == [0.02, 0.12, 0.3, 0.34] and row["align_ends"] == [0.12, 0.3, 0.34, 0.48]
    assert table.loc["crema-d-1001_DFA_HAP_XX", "align_words"] is None


def test_an_utterance_without_a_transcript_row_is_a_counted_skip(corpus):
    lines = corpus["transcripts"].read_text().splitlines()
    corpus["transcripts"].write_text("\n".join(line for line in lines if not line.startswith(NO_FOLD_KEY)) + "\n")
    table = load(corpus, transcripts=corpus["transcripts"])
    assert NO_FOLD_KEY not in set(table["utterance_id"])
    assert table.attrs["report"].skipped["missing_transcript"] == 1


def test_check_audio_off_reads_no_header_but_still_needs_the_file(corpus):
    wav = corpus["wav_root"] / "downloads/crema-d/AudioWAV/1001_DFA_ANG_XX.wav"
    wav.write_bytes(b"not a wav")
    assert len(load(corpus, check_audio=False)) == 9
    with pytest.raises(CorpusError, match="unreadable_wav"):
        load(corpus)


def test_relative_wavs_default_to_the_corpus_folder(corpus):
    with pytest.raises(CorpusError) as err:
        load_emobox(corpus["folder"])
    assert "missing_wav" in str(err.value) and str(corpus["folder"].resolve()) in str(err.value)


def test_the_reader_writes_nothing(corpus, tmp_path):
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    load(corpus, transcripts=corpus["transcripts"])
    read_emobox_folds(corpus["folder"], load(corpus))
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


# ---------------------------------------------------------------------------------------------------------
# folds


def test_folds_are_emoboxs_own_test_files_and_train_files_or_the_rest(corpus):
    table = load(corpus)
    folds = read_emobox_folds(corpus["folder"], table)
    kept = set(table["utterance_id"])
    assert [f.number for f in folds] == [1, 2]
    assert all(isinstance(f, EmoBoxFold) for f in folds)
    assert set(folds[0].test) == set(FOLD_TEST[1]) & kept
    assert set(folds[0].train) == set(FOLD_1_TRAIN) & kept  # fold 1's train file: without speaker 1004
    assert folds[0].train_file.endswith(f"fold_1/{NAME}_train_fold_1.jsonl")
    assert set(folds[1].test) == set(FOLD_TEST[2]) & kept
    assert set(folds[1].train) == kept - set(FOLD_TEST[2]) and folds[1].train_file == ""  # the rest
    for fold in folds:
        assert not set(fold.train) & set(fold.test)
        assert {table.set_index("utterance_id").loc[k, "session"] for k in fold.test} == {fold.number}


def test_a_train_key_that_is_also_a_test_key_is_an_error(corpus):
    train = corpus["folder"] / "fold_1" / f"{NAME}_train_fold_1.jsonl"
    test_line = (corpus["folder"] / "fold_1" / f"{NAME}_test_fold_1.jsonl").read_text().splitlines()[0]
    train.write_text(train.read_text() + test_line + "\n")
    with pytest.raises(CorpusError) as err:
        read_emobox_folds(corpus["folder"], load(corpus))
    assert err.value.path == str(train) and err.value.line == len(FOLD_1_TRAIN) + 1
    assert "also in fold 1's test split" in str(err.value)


# ---------------------------------------------------------------------------------------------------------
# errors: each names its file and line


def test_a_missing_wav_is_an_error_that_says_which_and_why(corpus):
    wav = corpus["wav_root"] / "downloads/crema-d/AudioWAV/1003_DFA_HAP_XX.wav"
    wav.unlink()
    with pytest.raises(CorpusError) as err:
        load(corpus)
    message = str(err.value)
    assert err.value.path == str(jsonl(corpus)) and err.value.line == line_of(jsonl(corpus), "crema-d-1003_DFA_HAP_XX")
    assert message.startswith(f"{jsonl(corpus)}:{err.value.line}: missing_wav: crema-d-1003_DFA_HAP_XX")
    assert str(wav) in message and "resolved against wav_root" in message


def test_a_missing_absolute_wav_says_it_was_absolute(corpus):
    corpus["absolute_wav"].unlink()
    with pytest.raises(CorpusError, match="missing_wav.*absolute path") as err:
        load(corpus)
    assert err.value.line == line_of(jsonl(corpus), ABSOLUTE_KEY)


def test_an_emotion_code_not_in_the_label_map_is_an_error(corpus):
    number = line_of(jsonl(corpus), "crema-d-1002_DFA_SAD_XX")
    line = jsonl(corpus).read_text().splitlines()[number - 1]
    replace_line(jsonl(corpus), number, line.replace('"emo": "SAD"', '"emo": "CAL"'))
    with pytest.raises(CorpusError) as err:
        load(corpus)
    assert (err.value.path, err.value.line) == (str(jsonl(corpus)), number)
    assert "unknown emotion code 'CAL'" in str(err.value) and "label_map.json" in str(err.value)


def test_a_key_without_an_stm_speaker_is_an_error(corpus):
    stm = corpus["folder"] / "data.seg.wrd.stm"
    stm.write_text("\n".join(line for line in stm.read_text().splitlines()
                             if not line.startswith("crema-d-1003_DFA_NEU_XX ")) + "\n")
    with pytest.raises(CorpusError) as err:
        load(corpus)
    assert (err.value.path, err.value.line) == (str(jsonl(corpus)), line_of(jsonl(corpus), "crema-d-1003_DFA_NEU_XX"))
    assert "no line in" in str(err.value) and "data.seg.wrd.stm" in str(err.value)


def test_a_malformed_stm_line_is_an_error(corpus):
    stm = corpus["folder"] / "data.seg.wrd.stm"
    replace_line(stm, 3, "crema-d-1001_IEO_NEU_XX 1")
    with pytest.raises(CorpusError) as err:
        read_stm(corpus["folder"])
    assert (err.value.path, err.value.line) == (str(stm), 3)


def test_the_stm_tags_speaker_is_read(corpus):
    speakers = read_stm(corpus["folder"])
    assert speakers["crema-d-1002_DFA_ANG_XX"]["speaker"] == "1002"
    assert speakers["crema-d-1002_DFA_ANG_XX"]["lang"] == "en"


def test_a_fold_file_naming_an_unknown_key_is_an_error(corpus):
    test_file = corpus["folder"] / "fold_2" / f"{NAME}_test_fold_2.jsonl"
    lines = test_file.read_text().splitlines()
    lines.insert(2, lines[2].replace("crema-d-1002_ITS_FEA_XX", "crema-d-1002_ITS_FEA_HI"))
    test_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError) as err:
        load(corpus)
    assert (err.value.path, err.value.line) == (str(test_file), 3)
    assert "crema-d-1002_ITS_FEA_HI" in str(err.value) and "corpus jsonl does not have" in str(err.value)


def test_a_train_file_naming_an_unknown_key_is_an_error(corpus):
    train = corpus["folder"] / "fold_1" / f"{NAME}_train_fold_1.jsonl"
    replace_line(train, 2, '{"key": "crema-d-2001_DFA_ANG_XX", "dataset": "crema-d", "emo": "ANG"}')
    with pytest.raises(CorpusError) as err:
        read_emobox_folds(corpus["folder"], load(corpus))
    assert (err.value.path, err.value.line) == (str(train), 2)


def test_a_key_in_two_test_folds_is_an_error(corpus):
    first = (corpus["folder"] / "fold_1" / f"{NAME}_test_fold_1.jsonl").read_text().splitlines()[0]
    test_file = corpus["folder"] / "fold_2" / f"{NAME}_test_fold_2.jsonl"
    test_file.write_text(test_file.read_text() + first + "\n")
    with pytest.raises(CorpusError) as err:
        load(corpus)
    assert (err.value.path, err.value.line) == (str(test_file), len(FOLD_TEST[2]) + 1)
    assert "folds 1, 2" in str(err.value)


@pytest.mark.parametrize("bad, problem", [
    ('{"key": "crema-d-1001_DFA_ANG_XX", "wav": ', "not JSON"),
    ('["crema-d-1001_DFA_ANG_XX"]', "not an object"),
    ('{"dataset": "crema-d", "emo": "ANG"}', "no 'key'"),
])
def test_a_malformed_jsonl_line_is_an_error(corpus, bad, problem):
    replace_line(jsonl(corpus), 4, bad)
    with pytest.raises(CorpusError, match=problem) as err:
        load(corpus)
    assert (err.value.path, err.value.line) == (str(jsonl(corpus)), 4)
    assert str(err.value).startswith(f"{jsonl(corpus)}:4: malformed jsonl line")


def test_a_malformed_fold_line_names_file_and_line(corpus):
    test_file = corpus["folder"] / "fold_1" / f"{NAME}_test_fold_1.jsonl"
    replace_line(test_file, 2, "{not json")
    with pytest.raises(CorpusError) as err:
        load(corpus)
    assert err.value.path == str(test_file) and "line 2" in str(err.value)


def test_a_bad_sample_rate_is_a_malformed_line(corpus):
    line = jsonl(corpus).read_text().splitlines()[0]
    replace_line(jsonl(corpus), 1, line.replace('"sample_rate": 16000', '"sample_rate": "16k"'))
    with pytest.raises(CorpusError, match="sample_rate") as err:
        load(corpus)
    assert err.value.line == 1


def test_the_same_key_twice_is_an_error(corpus):
    text = jsonl(corpus).read_text()
    jsonl(corpus).write_text(text + text.splitlines()[0] + "\n")
    with pytest.raises(CorpusError, match="appears twice") as err:
        load(corpus)
    assert err.value.line == len(UTTERANCES) + 1


def test_a_transcript_row_for_an_unknown_key_is_an_error(corpus):
    csv = corpus["transcripts"]
    csv.write_text(csv.read_text() + "crema-d-9999_DFA_ANG_XX,Hello.,,,\n")
    with pytest.raises(CorpusError) as err:
        load(corpus, transcripts=csv)
    assert (err.value.path, err.value.line) == (str(csv), len(csv.read_text().splitlines()))
    assert "unknown key 'crema-d-9999_DFA_ANG_XX'" in str(err.value)


def test_transcript_word_times_that_do_not_match_the_words_are_an_error(corpus):
    csv = corpus["transcripts"]
    replace_line(csv, 8, "crema-d-1002_DFA_SAD_XX,Don't forget a jacket.,DON'T FORGET,0.0,0.2 0.45")
    with pytest.raises(CorpusError, match="2 words but 1 starts") as err:
        read_transcripts(csv)
    assert (err.value.path, err.value.line) == (str(csv), 8)


def test_a_corpus_without_one_of_the_four_classes_is_refused_naming_it(corpus):
    text = jsonl(corpus).read_text().replace('"emo": "NEU"', '"emo": "DIS"')
    jsonl(corpus).write_text(text)
    with pytest.raises(CorpusError, match=r"corpus 'crema-d' has no utterance of class neu: Table I is a 4-class"):
        load(corpus)


def test_a_missing_label_map_is_an_error(corpus):
    (corpus["folder"] / "label_map.json").unlink()
    with pytest.raises(CorpusError, match="label_map.json"):
        load(corpus)


# ---------------------------------------------------------------------------------------------------------
# the EmoBox demo corpus (paaan.demo.emobox)


@pytest.fixture(scope="module")
def emobox_demo(tmp_path_factory):
    from paaan.demo.emobox import write_emobox_demo

    out = tmp_path_factory.mktemp("emobox_demo")
    started = time.perf_counter()
    write_emobox_demo(out, seed=0, profile="tiny", speakers=10, workers=2)  # the fewest speakers allowed
    return out, time.perf_counter() - started


def test_demo_is_laid_out_as_emobox_and_nothing_partial_is_left(emobox_demo):
    out, _ = emobox_demo
    corpus = out / "acted_demo"
    assert sorted(p.name for p in out.iterdir()) == ["SSPNet", "acted_demo", "ground_truth.json"]
    for name in ("acted_demo.jsonl", "label_map.json", "data.seg.wrd.stm", "transcripts.csv"):
        assert (corpus / name).is_file()
    for fold in range(1, 6):
        for split in ("train", "test"):
            assert (corpus / f"fold_{fold}" / f"acted_demo_{split}_fold_{fold}.jsonl").is_file()
    first = json.loads((corpus / "acted_demo.jsonl").read_text().splitlines()[0])
    assert list(first) == ["key", "dataset", "wav", "type", "sample_rate", "num_frame", "task", "length", "emo",
                           "channel"]
    assert not Path(first["wav"]).is_absolute() and first["wav"].startswith("wav/")


def test_demo_reads_back_with_the_emobox_reader(emobox_demo):
    out, _ = emobox_demo
    corpus = out / "acted_demo"
    table = load_emobox(corpus, transcripts=corpus / "transcripts.csv")
    assert set(table["label"]) == {"ang", "hap", "neu", "sad"} and table.attrs["report"].kept == len(table)
    assert sorted(set(table["speaker"])) == [str(1001 + i) for i in range(10)]
    assert has_transcripts(table) and table["align_words"].notna().mean() > 0.9
    assert all(Path(p).is_file() and str(p).startswith(str(corpus.resolve())) for p in table["wav_path"])
    folds = read_emobox_folds(corpus, table)
    assert len(folds) == 5
    speakers = table.set_index("utterance_id")["speaker"]
    tested = [set(speakers[list(f.test)]) for f in folds]
    assert all(len(s) == 2 for s in tested) and set().union(*tested) == set(speakers)  # leave-speaker-group-out
    for fold, test_speakers in zip(folds, tested):
        assert not set(speakers[list(fold.train)]) & test_speakers
        assert len(fold.train) + len(fold.test) == len(table)


def test_demo_ground_truth_is_keyed_by_the_new_speaker_ids(emobox_demo):
    from paaan.personality import true_profiles

    out, _ = emobox_demo
    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["generator"] == "paaan.demo.emobox" and truth["render"]["seed"] == 1000  # not seed 0's corpus
    assert sorted(truth["iemocap"]["speakers"]) == [str(1001 + i) for i in range(10)]
    sources = {new: info["source_speaker"] for new, info in truth["iemocap"]["speakers"].items()}
    assert sources == truth["emobox"]["speakers"]
    assert list(true_profiles(out / "ground_truth.json").index) == [str(1001 + i) for i in range(10)]
    table = load_emobox(out / "acted_demo", check_audio=False)
    assert set(truth["emobox"]["utterances"]) == set(table["utterance_id"])
    assert (out / "SSPNet").is_dir()


def test_demo_refuses_a_folder_that_is_not_one_and_generation_is_quick(emobox_demo, tmp_path):
    from paaan.demo.emobox import write_emobox_demo

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CorpusError, match="not an EmoBox demo corpus"):
        write_emobox_demo(tmp_path, profile="tiny", speakers=10)
    with pytest.raises(ValueError, match="multiple of 10"):
        write_emobox_demo(tmp_path / "new", profile="tiny", speakers=15)
    assert emobox_demo[1] < 60  # no slow marker needed: the tiny profile renders in seconds


def test_demo_written_again_replaces_the_earlier_one_with_the_same_bytes(emobox_demo):
    import hashlib

    from paaan.demo.emobox import write_emobox_demo

    out, _ = emobox_demo

    def digest():
        files = sorted(p for p in out.rglob("*") if p.is_file())
        return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    before = digest()
    write_emobox_demo(out, seed=0, profile="tiny", speakers=10, workers=1)
    assert digest() == before


def test_demo_keeps_every_second_utterance_of_each_speaker_and_label(emobox_demo, tmp_path):
    """An acted corpus: more speakers, fewer utterances each. Of the render (the generator's corpus of seed 1000),
    each speaker keeps ceil(n / 2) of its n utterances of every label."""
    from paaan.data.iemocap import load_iemocap
    from paaan.demo import generate_demo_corpus

    out, _ = emobox_demo
    render = load_iemocap(generate_demo_corpus(tmp_path / "render", seed=1000, profile="tiny", workers=2)
                          / "IEMOCAP_full_release")
    truth = json.loads((out / "ground_truth.json").read_text())
    acted = load_emobox(out / "acted_demo", check_audio=False)
    acted["source_speaker"] = acted["speaker"].map(truth["emobox"]["speakers"])
    kept = acted.groupby(["source_speaker", "raw_label"]).size()
    rendered = render.groupby(["speaker", "raw_label"]).size().rename(lambda code: code.upper(), level=1)
    assert kept.to_dict() == ((rendered + 1) // 2).to_dict()
    assert set(truth["emobox"]["utterances"].values()) <= set(render["utterance_id"])
