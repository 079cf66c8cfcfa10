"""Speakers are a knob: demo corpora of 10, 20, 40 ... speakers in IEMOCAP's layout, read by the IEMOCAP reader
and split into five leave-one-session-out folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paaan.data.folds import leave_one_session_out, session_groups
from paaan.data.iemocap import find_sessions, load_iemocap, speaker_of
from paaan.demo import generate_demo_corpus, get_profile, matches, plan
from paaan.errors import CorpusError


def test_a_demo_corpus_has_a_multiple_of_ten_speakers_each_with_the_profiles_utterances():
    demo = get_profile("demo")
    assert demo.speakers == 10 and demo.sessions == (1, 2, 3, 4, 5) and demo.with_speakers(10) is demo
    forty = demo.with_speakers(40)
    assert forty.sessions == tuple(range(1, 21)) and forty.speakers == 40
    assert forty.label_counts == {code: 4 * n for code, n in demo.label_counts.items()}
    assert (forty.sspnet_clips, forty.dialogs_per_session) == (demo.sspnet_clips, demo.dialogs_per_session)
    per_speaker = plan.per_speaker_counts(forty, seed=0)
    assert len(per_speaker) == 40 and min(c["ang"] for c in per_speaker.values()) >= demo.label_counts["ang"] // 10
    for bad in (0, 5, 15, 200, 10.0, True, "20"):
        with pytest.raises(ValueError, match="multiple of 10"):
            plan.check_speakers(bad)


@pytest.mark.parametrize("design", plan.TRAIT_DESIGNS)
def test_more_speakers_keep_the_first_ten_and_pair_opposite_extraversion_in_every_session(design):
    ten = plan.iemocap_speakers(3, 0.2, design)
    forty = plan.iemocap_speakers(3, 0.2, design, 40)
    assert [s.id for s in forty] == [f"Ses{n:02d}{g}" for n in range(1, 21) for g in "FM"]
    assert forty[:10] == ten  # the ten-speaker corpus' speakers, drawn first
    paired = {"paired_agreeableness": "agreeableness", "paired_openness": "openness"}.get(design, "extraversion")
    for f, m in zip(forty[0::2], forty[1::2]):
        assert f.traits[paired] * m.traits[paired] < 0
        assert 2.0 <= abs(f.traits[paired]) <= 3.8
    assert sum(s.traits[paired] > 0 for s in forty) == 20
    # each block of five sessions uses the five voices of a gender once
    for block in range(4):
        voices = [s.voice for s in forty[10 * block: 10 * block + 10] if s.gender == "F"]
        assert len(set(voices)) == 5


def test_leave_one_session_out_groups_more_than_five_sessions_into_five_folds():
    assert session_groups([1, 2, 3, 4, 5]) == [(1,), (2,), (3,), (4,), (5,)]
    assert session_groups(range(1, 11)) == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]
    assert session_groups(range(1, 13)) == [(1, 2, 3), (4, 5, 6), (7, 8), (9, 10), (11, 12)]
    table = pd.DataFrame([{"utterance_id": f"u{s}{g}{i}", "session": s, "speaker": f"Ses{s:02d}{g}"}
                          for s in range(1, 21) for g in "FM" for i in range(3)])
    folds = leave_one_session_out(table)
    assert [f.name for f in folds] == ["sessions 1-4", "sessions 5-8", "sessions 9-12", "sessions 13-16",
                                       "sessions 17-20"]
    for fold, following in zip(folds, folds[1:] + folds[:1]):
        assert fold.validation_sessions == following.test_sessions  # the next group validates
        assert len(fold.test_speakers) == 8 and len(fold.validation_speakers) == 8 and len(fold.train_speakers) == 24
        assert not set(fold.test_speakers) & set(fold.train_speakers)
        assert len(set(fold.train) | set(fold.validation) | set(fold.test)) == len(table)


def test_the_reader_finds_every_session_and_two_digit_session_ids(tmp_path):
    assert speaker_of("Ses12M_impro01_F003") == (12, "Ses12F", "F")  # the last part's gender
    assert speaker_of("Ses01F_script02_1_M010") == (1, "Ses01M", "M")
    for n in range(1, 8):
        (tmp_path / "ok" / f"Session{n}").mkdir(parents=True)
    assert find_sessions(tmp_path / "ok") == tuple(range(1, 8))
    for n in (1, 2, 3, 4, 5, 7):
        (tmp_path / "gap" / f"Session{n}").mkdir(parents=True)
    with pytest.raises(CorpusError, match="Session6.*without a gap"):
        find_sessions(tmp_path / "gap")
    for n in (1, 2, 4, 5):
        (tmp_path / "real" / f"Session{n}").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"Session3.*Session1\.\.Session5"):
        find_sessions(tmp_path / "real")


def _files(root):
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_twenty_speaker_corpus_holds_the_ten_speaker_one_and_is_read_and_folded_like_iemocap(tmp_path):
    root = generate_demo_corpus(tmp_path / "twenty", seed=2, profile="tiny", scenario="segment_gate", workers=2,
                                speakers=20)
    ten = generate_demo_corpus(tmp_path / "ten", seed=2, profile="tiny", scenario="segment_gate", workers=2)
    # nested draws: sessions 1-5 and SSPNet of the larger corpus are the smaller corpus' files, byte for byte
    small, large = _files(ten), _files(root)
    shared = {k for k in small if k != "ground_truth.json"}
    assert shared and {k: large[k] for k in shared} == {k: small[k] for k in shared}
    assert any(k.startswith("IEMOCAP_full_release/Session10/") for k in large)
    table = load_iemocap(root / "IEMOCAP_full_release", check_audio=False)
    assert table["speaker"].nunique() == 20 and sorted(table["session"].unique()) == list(range(1, 11))
    assert len(table) == 2 * get_profile("tiny").four_class
    folds = leave_one_session_out(table)
    assert len(folds) == 5 and all(len(f.test_speakers) == 4 for f in folds)
    assert matches(root, 2, "tiny", "segment_gate", speakers=20) and not matches(root, 2, "tiny", "segment_gate")
    import json

    truth = json.loads((root / "ground_truth.json").read_text())
    assert truth["sizes"]["iemocap_speakers"] == 20 and len(truth["iemocap"]["speakers"]) == 20
    assert np.isclose(np.mean([s["traits"]["extraversion"] > 0 for s in truth["iemocap"]["speakers"].values()]), 0.5)
