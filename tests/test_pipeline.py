"""The featurization pipeline and its store, on the tiny demo corpus."""

import shutil

import numpy as np
import pytest

from paaan.features.acoustic import LLD_NAMES
from paaan.features.pipeline import featurize
from paaan.features.store import FeatureStore, StoreWriter
from paaan.features.text import tokenize
from paaan.errors import FeatureError


def test_store_shapes_and_names(tiny_store):
    u = tiny_store.utterances
    assert tiny_store.lld_names == list(LLD_NAMES) and len(LLD_NAMES) == 45
    assert tiny_store.lld.shape == (int(u["lld_steps"].sum()), 45)
    assert tiny_store.functionals("iemocap").shape == (len(u), 1582)
    assert tiny_store.functionals("sspnet").shape == (len(tiny_store.clips), 1582)
    assert np.isfinite(tiny_store.lld).all() and np.isfinite(tiny_store.functionals("sspnet")).all()
    # 40 ms steps: an utterance of d seconds has about d / 0.04 steps (60 ms frames every 10 ms, pooled by 4)
    ratio = u["lld_steps"] / (u["audio_seconds"] / 0.04)
    assert ratio.between(0.9, 1.01).all()
    assert (u["lld_offset"].diff().dropna() == u["lld_steps"].iloc[:-1].to_numpy()).all()


def test_steps_are_z_normalised_per_speaker(tiny_store):
    u = tiny_store.utterances
    for speaker, rows in u.groupby("speaker").indices.items():
        steps = np.concatenate([tiny_store.utterance_lld(i) for i in rows])
        # frame-level statistics, pooled by 4: the step means stay ~0, the spread a bit under 1
        assert np.abs(steps.mean(axis=0)).max() < 0.1, speaker
        assert steps.std(axis=0).mean() == pytest.approx(0.9, abs=0.15)


def test_words_tags_and_alignment(tiny_store):
    u, words = tiny_store.utterances, tiny_store.words
    assert len(words) == int(u["n_words"].sum())
    for i in range(0, len(u), 7):
        mine = tiny_store.utterance_words(i)
        assert mine["token"].tolist() == tokenize(u["transcript"].iloc[i])
        assert (mine["first_step"] <= mine["last_step"]).all()
        assert mine["last_step"].max() < u["lld_steps"].iloc[i]
    assert (words["vocab_id"] < len(tiny_store.vocab)).all()
    assert words["pos"].str.len().gt(0).all()
    spoken = words[words["token"].str.contains(r"[A-Za-z0-9]")]  # punctuation is never aligned
    assert (spoken["first_step"] >= 0).mean() > 0.9  # the demo corpus ships forced alignments
    assert tiny_store.vectors.shape == (len(tiny_store.vocab), 50)


def test_store_holds_no_absolute_paths(tiny_store):
    assert not tiny_store.utterances["wav_path"].str.startswith("/").any()
    assert not tiny_store.clips["wav_path"].str.startswith("/").any()


def test_unusable_wavs_are_skipped_and_listed(tiny_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    wavs = sorted((corpus / "IEMOCAP_full_release" / "Session1" / "sentences" / "wav").rglob("*.wav"))
    from paaan.data import load_iemocap

    kept = load_iemocap(corpus / "IEMOCAP_full_release", check_audio=False)
    targets = [w for w in wavs if str(w.resolve()) in set(kept["wav_path"])][:2]
    targets[0].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # corrupt header
    import soundfile as sf

    sf.write(targets[1], np.zeros(500, dtype=np.float32), 16000)  # 31 ms: shorter than one 60 ms frame
    summary = featurize(corpus / "IEMOCAP_full_release", corpus / "SSPNet", tmp_path / "store", workers=1,
                        progress=False)
    store = FeatureStore(tmp_path / "store")
    skipped = store.skipped.set_index("path")
    assert summary["iemocap_utterances"] == len(kept) - 2 == len(store.utterances)
    reasons = {p.split("/")[-1]: r for p, r in skipped["reason"].items()}
    assert reasons[targets[0].name] == "unreadable_wav" or reasons[targets[0].name].startswith("unreadable")
    assert reasons[targets[1].name].startswith("too short")


def test_an_unfinished_store_is_refused(tmp_path):
    writer = StoreWriter(tmp_path / "features")
    writer.array("iemocap/lld.npy", np.zeros((2, 45), np.float32))
    with pytest.raises(FeatureError, match="not a finished feature store"):
        FeatureStore(tmp_path / "features")
    with pytest.raises(FeatureError, match="non-finite"):
        writer.array("iemocap/bad.npy", np.array([np.nan]))


def test_a_file_featurized_before_is_read_from_the_acoustic_cache(tiny_corpus, tiny_store, tmp_path, monkeypatch):
    """The session's tiny store computed every file (the cache was empty); featurizing the same corpus again
    reads every file back, and the store is the same to the bit. With the cache off, nothing is read."""
    again = featurize(tiny_corpus / "IEMOCAP_full_release", tiny_corpus / "SSPNet", tmp_path / "again", workers=1,
                      progress=False)
    assert again["files_from_cache"] == again["files"] > 0
    store = FeatureStore(tmp_path / "again")
    np.testing.assert_array_equal(np.asarray(store.lld), np.asarray(tiny_store.lld))
    np.testing.assert_array_equal(np.asarray(store.functionals("sspnet")), np.asarray(tiny_store.functionals("sspnet")))
    monkeypatch.setenv("PAAAN_ACOUSTIC_CACHE", "0")
    off = featurize(tiny_corpus / "IEMOCAP_full_release", tiny_corpus / "SSPNet", tmp_path / "off", workers=1,
                    progress=False)
    assert off["files_from_cache"] == 0
    np.testing.assert_array_equal(np.asarray(FeatureStore(tmp_path / "off").lld), np.asarray(tiny_store.lld))
