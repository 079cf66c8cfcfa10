"""Cross-validation protocols: who trains, who picks the model, who is tested (paaan.data.folds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from paaan.data.folds import (inner_fold, leave_one_session_out, leave_one_speaker_out, make_folds,
                              read_folds_file)
from paaan.errors import CorpusError
from paaan.train import training_rows


def corpus_table() -> pd.DataFrame:
    """5 sessions x 2 speakers (F, M) x 3 utterances = 30 rows, in session order; labels cycle."""
    rows = []
    for session in range(1, 6):
        for gender in "FM":
            for i in range(3):
                rows.append({"utterance_id": f"Ses0{session}F_impro01_{gender}{i:03d}", "session": session,
                             "speaker": f"Ses0{session}{gender}", "label": ["ang", "hap", "neu", "sad"][len(rows) % 4]})
    return pd.DataFrame(rows)


def speakers(table, rows) -> set[str]:
    return set(table["speaker"].iloc[rows])


def test_leave_one_session_out_tests_a_dyad_validates_on_the_next_session_and_trains_on_three():
    table = corpus_table()
    folds = leave_one_session_out(table)
    assert [f.test_sessions for f in folds] == [(1,), (2,), (3,), (4,), (5,)]
    # the training session after the test session, cyclically: fold 5 validates on session 1
    assert [f.validation_sessions for f in folds] == [(2,), (3,), (4,), (5,), (1,)]
    assert folds[0].train_sessions == (3, 4, 5) and folds[4].train_sessions == (2, 3, 4)
    for fold in folds:
        test, validation, train = (speakers(table, r) for r in (fold.test, fold.validation, fold.train))
        assert len(test) == 2 and len(validation) == 2 and len(train) == 6
        assert not (test & train) and not (test & validation) and not (validation & train)
        assert (len(fold.train), len(fold.validation), len(fold.test)) == (18, 6, 6)
    # every utterance is tested exactly once
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(30))


def test_leave_one_speaker_out_tests_one_speaker_validates_on_its_partner_trains_on_eight():
    table = corpus_table()
    folds = leave_one_speaker_out(table)
    assert [f.name for f in folds][:3] == ["speaker Ses01F", "speaker Ses01M", "speaker Ses02F"] and len(folds) == 10
    for fold in folds:
        (test,) = speakers(table, fold.test)
        assert speakers(table, fold.validation) == {test[:-1] + ("M" if test.endswith("F") else "F")}
        assert len(speakers(table, fold.train)) == 8 and test not in speakers(table, fold.train)
        assert not (speakers(table, fold.validation) & speakers(table, fold.train))
        assert (len(fold.train), len(fold.validation), len(fold.test)) == (24, 3, 3)
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(30))


def test_the_inner_fold_of_k_tuning_scores_the_held_out_training_speakers():
    table = corpus_table()
    for fold in leave_one_session_out(table) + leave_one_speaker_out(table):
        inner = inner_fold(fold)
        assert inner.train.tolist() == fold.train.tolist()
        assert inner.test.tolist() == inner.validation.tolist() == fold.validation.tolist()
        assert not set(inner.test.tolist()) & set(fold.test.tolist())  # the outer test set is never looked at


def test_training_rows_per_validation_mode():
    table = corpus_table()
    labels = np.arange(30) % 4
    fold = leave_one_session_out(table)[0]  # test 1, validate 2, train 3-5
    fit, val = training_rows(fold, labels, "speakers", 0.1, seed=0)
    assert fit.tolist() == fold.train.tolist() and val.tolist() == fold.validation.tolist()
    # utterances: 20% of the 24 non-test rows, stratified (ceil(4.8) = 5 rows), the rest fits; no test row in either
    fit, val = training_rows(fold, labels, "utterances", 0.2, seed=0)
    assert len(val) == 5 and len(fit) == 19 and not set(np.concatenate([fit, val]).tolist()) & set(fold.test.tolist())
    # in the inner fold (test = validation) the held-out speakers are not trained on in either mode
    inner = inner_fold(fold)
    for mode in ("speakers", "utterances"):
        fit, _ = training_rows(inner, labels, mode, 0.2, seed=0)
        assert not set(fit.tolist()) & set(fold.validation.tolist())
    with pytest.raises(ValueError, match="unknown validation"):
        training_rows(fold, labels, "sessions", 0.1, seed=0)


def write_emobox(folder, table) -> None:
    """EmoBox's layout: fold_N/iemocap_test_fold_N.jsonl, fold N = session N, keys iemocap-<utterance id>."""
    for session in range(1, 6):
        fold_dir = folder / f"fold_{session}"
        fold_dir.mkdir(parents=True)
        ids = table.loc[table["session"] == session, "utterance_id"]
        lines = [json.dumps({"key": f"iemocap-{u}", "dataset": "iemocap", "emo": "neu", "channel": 1}) for u in ids]
        (fold_dir / f"iemocap_test_fold_{session}.jsonl").write_text("\n".join(lines) + "\n")
        (fold_dir / f"iemocap_train_fold_{session}.jsonl").write_text("")  # EmoBox ships these too: ignored


def test_an_emobox_fold_folder_round_trips_to_leave_one_session_out(tmp_path):
    table = corpus_table()
    write_emobox(tmp_path / "iemocap", table)
    from_file = make_folds(table, "file", tmp_path / "iemocap")
    for a, b in zip(from_file, leave_one_session_out(table), strict=True):
        assert (a.test.tolist(), a.validation.tolist(), a.train.tolist()) == (
            b.test.tolist(), b.validation.tolist(), b.train.tolist())
    assert [f.name for f in from_file] == ["fold 1", "fold 2", "fold 3", "fold 4", "fold 5"]


def test_a_csv_fold_file_and_its_errors(tmp_path):
    table = corpus_table()
    path = tmp_path / "folds.csv"
    pd.DataFrame({"utterance_id": table["utterance_id"], "fold": table["session"]}).to_csv(path, index=False)
    assert [f.test.tolist() for f in make_folds(table, "file", path)] == [
        f.test.tolist() for f in leave_one_session_out(table)]

    unknown = pd.concat([pd.DataFrame({"utterance_id": table["utterance_id"], "fold": table["session"]}),
                         pd.DataFrame({"utterance_id": ["Ses09F_x_F000", "Ses09F_x_F001"], "fold": [1, 2]})])
    unknown.to_csv(path, index=False)
    with pytest.raises(CorpusError, match=r"2 utterance ids are not in the corpus \(first: Ses09F_x_F000, Ses09F_x_F001"):
        read_folds_file(path, table["utterance_id"])

    pd.DataFrame({"utterance_id": table["utterance_id"][3:], "fold": table["session"][3:]}).to_csv(path, index=False)
    with pytest.raises(CorpusError, match=r"3 utterances of the corpus are in no fold \(first: Ses01F_impro01_F000"):
        read_folds_file(path, table["utterance_id"])

    twice = pd.DataFrame({"utterance_id": list(table["utterance_id"]) + [table["utterance_id"][0]],
                          "fold": list(table["session"]) + [2]})
    twice.to_csv(path, index=False)
    with pytest.raises(CorpusError, match="1 utterances are in more than one fold"):
        read_folds_file(path, table["utterance_id"])

    (tmp_path / "bad.csv").write_text("id,split\na,1\n")
    with pytest.raises(CorpusError, match="needs columns 'utterance_id' and 'fold'"):
        read_folds_file(tmp_path / "bad.csv", table["utterance_id"])
    with pytest.raises(CorpusError, match="fold file not found"):
        read_folds_file(tmp_path / "missing.csv", table["utterance_id"])


def test_protocol_choices_are_checked(tmp_path):
    table = corpus_table()
    with pytest.raises(ValueError, match="unknown protocol 'dyad'"):
        make_folds(table, "dyad")
    with pytest.raises(ValueError, match="needs a fold file"):
        make_folds(table, "file")
    with pytest.raises(ValueError, match="does not read a fold file"):
        make_folds(table, "speaker", tmp_path)
    two_folds = tmp_path / "two.csv"
    pd.DataFrame({"utterance_id": table["utterance_id"], "fold": (table["session"] > 2).astype(int)}).to_csv(
        two_folds, index=False)
    with pytest.raises(ValueError, match="at least three folds"):
        make_folds(table, "file", two_folds)
