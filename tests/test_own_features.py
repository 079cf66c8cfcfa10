"""A researcher's own acoustic features (paaan.features.own) in place of openSMILE's: the 40 ms rule, the
speaker-wise z-normalisation, the feature store, the errors that name the file, the featurize cache key, and the
served model that reads ``features_path``.

The features are small random arrays the tests write for the tiny demo corpus' utterances (8 values per frame
at 50 Hz, as many frames as each wav lasts). The slow test runs a reduced ablation on them and predicts with the
registered model: ``python -m pytest -q -m slow tests/test_own_features.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from paaan.errors import FeatureError, InputError
from paaan.features.acoustic import frame_moments, pool_steps, speaker_stats, znormalise
from paaan.features.own import FEATURES_JSON, pool_to_steps, read_feature_set, step_of_frames

F, RATE = 8, 50  # the test features: 8 values per frame, 50 frames per second (WavLM's rate)
F_FUNCTIONALS = 6


def column(values) -> np.ndarray:
    """Frames of one dimension: [a, b, ...] -> (T, 1) float32."""
    return np.asarray(values, dtype=np.float32)[:, None]


# --- the 40 ms rule, worked by hand ------------------------------------------------------------------------


def test_50_hz_frames_pool_in_pairs():
    # centres 0.01, 0.03 | 0.05, 0.07 | 0.09 s: steps of 2, 2 and 1 frames
    steps = pool_to_steps(column([0, 2, 4, 6, 8]), 50)
    assert steps.ravel().tolist() == [1.0, 5.0, 8.0]


def test_100_hz_frames_pool_in_fours_exactly_like_the_llds():
    # centres 0.005 ... 0.035 | 0.045 ... 0.075 | 0.085 s
    steps = pool_to_steps(column(range(9)), 100)
    assert steps.ravel().tolist() == [1.5, 5.5, 8.0]
    frames = np.random.default_rng(0).standard_normal((37, 5)).astype(np.float32)
    np.testing.assert_allclose(pool_to_steps(frames, 100), pool_steps(frames, 4), rtol=1e-6)  # the LLDs' 10 ms frames


def test_30_hz_frames_pool_by_where_their_centres_fall():
    # centres 1/60, 3/60, 5/60, 7/60, 9/60, 11/60 s = 0.017, 0.05, 0.083, 0.117, 0.15, 0.183:
    # steps 0, 1, 2, 2, 3, 4 (step 2, [0.08, 0.12), holds two frames)
    assert step_of_frames(6, 30).tolist() == [0, 1, 2, 2, 3, 4]
    assert pool_to_steps(column([0, 1, 2, 3, 4, 5]), 30).ravel().tolist() == [0.0, 1.0, 2.5, 4.0, 5.0]


def test_a_centre_on_a_step_boundary_belongs_to_the_later_step():
    # 37.5 Hz: frame 1's centre is 1.5 / 37.5 = 0.04 s exactly, the start of step 1 ([0.04, 0.08))
    assert step_of_frames(4, 37.5).tolist() == [0, 1, 1, 2]


def test_an_empty_step_takes_the_previous_steps_value():
    # 20 Hz (below what features.json may declare, so only the function sees it): centres 0.025, 0.075, 0.125,
    # 0.175 s fall in steps 0, 1, 3, 4; step 2 ([0.08, 0.12)) holds none and repeats step 1
    assert pool_to_steps(column([10, 20, 30, 40]), 20).ravel().tolist() == [10.0, 20.0, 20.0, 30.0, 40.0]
    with pytest.raises(ValueError, match="above 12.5 Hz"):  # step 0 would hold no frame at all
        pool_to_steps(column([1, 2]), 12.5)


@pytest.mark.parametrize("rate", [25, 30, 37.5, 44.1, 49.95, 50, 75, 100, 400])
def test_from_25_hz_on_every_step_holds_a_frame(rate):
    bins = step_of_frames(5000, rate)
    assert bins[0] == 0 and np.all(np.diff(bins) >= 0)
    assert np.all(np.bincount(bins) > 0)  # consecutive centres are at most 40 ms apart


def test_features_below_25_hz_are_refused_naming_features_json(tmp_path):
    (tmp_path / FEATURES_JSON).write_text(json.dumps({"frame_rate_hz": 20, "dim": 8, "name": "slow-encoder"}))
    with pytest.raises(FeatureError, match="frame_rate_hz 20 is below 25 Hz") as error:
        read_feature_set(tmp_path, "frames")
    assert error.value.path == str(tmp_path / FEATURES_JSON)


# --- the test corpus' own features --------------------------------------------------------------------------


def write_frames(folder: Path, table: pd.DataFrame, seed: int = 0, rate: float = RATE, dim: int = F) -> dict:
    """``folder``: features.json and one (T, dim) float32 array per utterance, T = the wav's seconds x rate."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FEATURES_JSON).write_text(json.dumps({"frame_rate_hz": rate, "dim": dim, "name": "toy-encoder"}))
    rng = np.random.default_rng(seed)
    arrays = {}
    for utterance, wav in zip(table["utterance_id"], table["wav_path"]):
        n = int(sf.info(wav).duration * rate)
        # a speaker-dependent offset and scale, so that the z-normalisation has something to remove
        arrays[utterance] = (3 * rng.standard_normal((n, dim)) + 5 * (utterance[-4] == "F")).astype(np.float32)
        np.save(folder / f"{utterance}.npy", arrays[utterance])
    return arrays


def write_functionals(folder: Path, table: pd.DataFrame, clips: pd.DataFrame, seed: int = 1) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FEATURES_JSON).write_text(json.dumps({"dim": F_FUNCTIONALS, "name": "toy-functionals"}))
    rng = np.random.default_rng(seed)
    out = {}
    for corpus, items in (("iemocap", table["utterance_id"]), ("sspnet", clips["clip"])):
        (folder / corpus).mkdir(exist_ok=True)
        for item in items:
            out[corpus, item] = rng.standard_normal(F_FUNCTIONALS).astype(np.float32)
            np.save(folder / corpus / f"{item}.npy", out[corpus, item])
    return out


@pytest.fixture(scope="module")
def own(tiny_corpus, tmp_path_factory):
    """The tiny corpus' utterances and clips, and folders of own frame-level features and functionals for them."""
    from paaan.data.iemocap import scan_iemocap
    from paaan.data.sspnet import load_sspnet

    table, _ = scan_iemocap(tiny_corpus / "IEMOCAP_full_release")
    clips = load_sspnet(tiny_corpus / "SSPNet")
    tmp = tmp_path_factory.mktemp("own")
    return {"table": table, "clips": clips, "corpus": tiny_corpus,
            "frames_dir": tmp / "frames", "frames": write_frames(tmp / "frames", table),
            "functionals_dir": tmp / "functionals",
            "functionals": write_functionals(tmp / "functionals", table, clips)}


def build_store(own, out: Path, frames_dir: Path | None = None, functionals_dir: Path | None = None):
    from paaan.config import FeatureConfig
    from paaan.features.pipeline import featurize
    from paaan.features.store import FeatureStore

    config = FeatureConfig(audio_features=str(frames_dir or ""), functionals_dir=str(functionals_dir or ""))
    featurize(own["corpus"] / "IEMOCAP_full_release", own["corpus"] / "SSPNet", out, config=config, workers=2,
              progress=False)
    return FeatureStore(out)


@pytest.fixture(scope="module")
def own_store(own, tmp_path_factory):
    """Own frame-level features, openSMILE's functionals."""
    return build_store(own, tmp_path_factory.mktemp("own_store") / "features", frames_dir=own["frames_dir"])


# --- the feature store ---------------------------------------------------------------------------------------


def test_the_store_holds_the_own_features_as_40_ms_steps_z_normalised_per_speaker(own_store, own):
    store = own_store
    assert store.lld.shape[1] == F and store.lld_names == [f"toy-encoder_{i}" for i in range(F)]
    assert store.audio_features == {"name": "toy-encoder", "dim": F, "frame_rate_hz": 50.0}
    assert store.functionals_features is None and store.functionals("iemocap").shape[1] == 1582  # openSMILE's IS10
    manifest = (store.path / "manifest.json").read_text()
    assert str(own["frames_dir"]) not in manifest  # the store travels: the set by name, never its folder
    assert store.manifest["feature_config"]["audio_features"] == "toy-encoder"
    assert list(store.lld_speaker_stats.columns[:2]) == ["speaker", "mean:toy-encoder_0"]

    table = store.utterances
    assert len(table) == len(own["table"])  # every utterance kept
    for speaker, rows in table.groupby("speaker").indices.items():
        frames = [own["frames"][u] for u in table["utterance_id"].iloc[rows]]
        mean, std = speaker_stats([frame_moments(f) for f in frames])  # frame-level statistics, as for the LLDs
        for row, f in zip(rows, frames):
            expected = znormalise(pool_to_steps(f, RATE), mean, std)
            np.testing.assert_allclose(store.utterance_lld(row), expected, rtol=1e-5, atol=1e-5)
    all_steps = np.asarray(store.lld)
    # the speakers' offsets and scales are gone; a step averages two independent frames: std 1 / sqrt(2)
    assert abs(all_steps.mean()) < 0.05 and abs(all_steps.std() - 2 ** -0.5) < 0.05


def test_own_functionals_replace_is10_for_both_corpora_and_set_the_shla_input_size(own, tmp_path):
    from paaan.shla import SHLA

    store = build_store(own, tmp_path / "features", frames_dir=own["frames_dir"],
                        functionals_dir=own["functionals_dir"])
    assert store.functionals_features == {"name": "toy-functionals", "dim": F_FUNCTIONALS}
    for corpus, ids in (("iemocap", store.utterances["utterance_id"]), ("sspnet", store.clips["clip"])):
        expected = np.stack([own["functionals"][corpus, item] for item in ids])
        np.testing.assert_array_equal(store.functionals(corpus), expected)
    assert store.manifest["summary"]["files"] == 0  # no openSMILE at all
    shla = SHLA(hidden_sizes=(4, 3, 2), epochs=1, batch_size=8).fit(
        {"iemocap": np.asarray(store.functionals("iemocap")), "sspnet": np.asarray(store.functionals("sspnet"))})
    assert shla.n_features_in_ == F_FUNCTIONALS and shla.module_.encoder[0].in_features == F_FUNCTIONALS


# --- bad input: an error naming the file, and nothing lost -----------------------------------------------------


def _first(own) -> str:
    return own["table"]["utterance_id"].iloc[0]


def _save(path: Path, array) -> None:
    with path.open("wb") as fh:  # np.save would append ".npy" to a name without it
        np.save(fh, array, allow_pickle=True)


FRAME_CASES = {
    # case: (edit of the folder, the file the error names, what it says)
    "missing file": (lambda d, u: (d / f"{u}.npy").unlink(), "{u}.npy", "no such file: every 4-class IEMOCAP"),
    "other dim": (lambda d, u: _save(d / f"{u}.npy", np.zeros((20, F + 1), np.float32)), "{u}.npy",
                  r"9 values per frame \(shape \(20, 9\)\), but features.json says dim 8"),
    "NaN": (lambda d, u: _save(d / f"{u}.npy", np.full((20, F), np.nan, np.float32)), "{u}.npy",
            r"160 non-finite value\(s\) \(NaN or inf\)"),
    "inf": (lambda d, u: _save(d / f"{u}.npy", np.where(np.eye(20, F) > 0, np.inf, 0).astype(np.float32)),
            "{u}.npy", r"8 non-finite value\(s\)"),
    "float64": (lambda d, u: _save(d / f"{u}.npy", np.zeros((20, F))), "{u}.npy",
                r"dtype float64, expected float32"),
    "1-d": (lambda d, u: _save(d / f"{u}.npy", np.zeros(F, np.float32)), "{u}.npy",
            r"shape \(8,\), expected \(frames, 8\)"),
    "no frames": (lambda d, u: _save(d / f"{u}.npy", np.zeros((0, F), np.float32)), "{u}.npy", "no frames"),
    "pickled objects": (lambda d, u: _save(d / f"{u}.npy", np.array([{"a": 1}], dtype=object)), "{u}.npy",
                        "not a readable .npy array"),
    "not npy": (lambda d, u: (d / f"{u}.npy").write_text("0.1 0.2 0.3\n"), "{u}.npy", "not a readable .npy array"),
    "npz": (lambda d, u: _savez(d / f"{u}.npy"), "{u}.npy", "a .npz archive"),
    # every file spans half its wav: the first whose wav lasts over half a second is named
    "wrong rate": (lambda d, u: _json(d, {"frame_rate_hz": 100, "dim": F, "name": "toy-encoder"}), None,
                   r"frames at 100 Hz span .* but the wav lasts"),
    "json missing": (lambda d, u: (d / FEATURES_JSON).unlink(), FEATURES_JSON, "missing: a features folder needs"),
    "json malformed": (lambda d, u: (d / FEATURES_JSON).write_text('{"dim": 8,'), FEATURES_JSON, "not valid JSON"),
    "json not an object": (lambda d, u: _json(d, [50, 8]), FEATURES_JSON, "expected a JSON object"),
    "json dim": (lambda d, u: _json(d, {"frame_rate_hz": 50, "dim": "8", "name": "x"}), FEATURES_JSON,
                 "'dim' must be a positive whole number"),
    "json name": (lambda d, u: _json(d, {"frame_rate_hz": 50, "dim": 8}), FEATURES_JSON, "'name' must be"),
    "json rate": (lambda d, u: _json(d, {"dim": 8, "name": "x"}), FEATURES_JSON, "'frame_rate_hz' must be a number"),
}


def _savez(path: Path) -> None:
    with path.open("wb") as fh:  # np.savez would append ".npz" to the name
        np.savez(fh, x=np.zeros((2, F), np.float32))


def _json(folder: Path, content) -> None:
    (folder / FEATURES_JSON).write_text(json.dumps(content))


@pytest.mark.parametrize("case", sorted(FRAME_CASES))
def test_a_bad_frame_level_file_is_an_error_naming_it(case, own, tmp_path):
    edit, named, message = FRAME_CASES[case]
    folder = tmp_path / "frames"
    shutil.copytree(own["frames_dir"], folder)
    utterance = _first(own)
    edit(folder, utterance)
    before = sorted(p.name for p in folder.iterdir())
    out = tmp_path / "store" / "features"
    with pytest.raises(FeatureError, match=message) as error:
        build_store(own, out, frames_dir=folder)
    if named is None:
        assert Path(error.value.path).parent == folder and error.value.path.endswith(".npy"), str(error.value)
    else:
        assert error.value.path == str(folder / named.format(u=utterance)), str(error.value)
    assert not out.exists() and not out.with_name("features.partial").exists()  # no store, not even half of one
    assert sorted(p.name for p in folder.iterdir()) == before  # the user's files untouched


FUNCTIONAL_CASES = {
    "missing sspnet clip": ("sspnet", lambda p: p.unlink(), "no such file: every SSPNet clip needs its functionals"),
    "2-d": ("iemocap", lambda p: _save(p, np.zeros((F_FUNCTIONALS, 1), np.float32)),
            r"shape \(6, 1\), expected \(6,\)"),
    "other dim": ("iemocap", lambda p: _save(p, np.zeros(5, np.float32)),
                  r"shape \(5,\), expected \(6,\).*features.json says dim 6"),
    "NaN": ("sspnet", lambda p: _save(p, np.array([0, 1, np.nan, 0, 0, 0], np.float32)), "non-finite"),
}


@pytest.mark.parametrize("case", sorted(FUNCTIONAL_CASES))
def test_a_bad_functionals_file_is_an_error_naming_it(case, own, tmp_path):
    corpus, edit, message = FUNCTIONAL_CASES[case]
    folder = tmp_path / "functionals"
    shutil.copytree(own["functionals_dir"], folder)
    item = _first(own) if corpus == "iemocap" else own["clips"]["clip"].iloc[0]
    path = folder / corpus / f"{item}.npy"
    edit(path)
    out = tmp_path / "features"
    with pytest.raises(FeatureError, match=message) as error:
        build_store(own, out, functionals_dir=folder)
    assert error.value.path == str(path) and not out.exists()


# --- the featurize cache key ------------------------------------------------------------------------------


def test_the_featurize_cache_key_changes_when_any_file_of_a_features_folder_changes(own, tmp_path):
    from experiments.corpora import Corpora
    from paaan.data.corpus import EmotionCorpus
    from experiments.featurize import featurize_key
    from paaan.config import FeatureConfig

    corpus = own["corpus"]
    corpora = Corpora(EmotionCorpus("iemocap", corpus / "IEMOCAP_full_release"), corpus / "SSPNet", None, demo=True)
    frames, functionals = tmp_path / "frames", tmp_path / "functionals"
    shutil.copytree(own["frames_dir"], frames)
    shutil.copytree(own["functionals_dir"], functionals)
    config = FeatureConfig(audio_features=str(frames), functionals_dir=str(functionals))

    def key() -> str:
        return featurize_key(corpora, config)[0]

    def bump(path: Path) -> None:  # a rewrite: a later mtime, whatever the clock's resolution
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    first = key()
    assert key() == first  # nothing changed
    assert featurize_key(corpora, FeatureConfig())[0] != first  # openSMILE's LLDs are another input

    array = frames / f"{_first(own)}.npy"
    np.save(array, -np.load(array))  # same size, other values
    bump(array)
    second = key()
    assert second != first

    spec = json.loads((frames / FEATURES_JSON).read_text())
    (frames / FEATURES_JSON).write_text(json.dumps(spec | {"layer": 12}))  # content (an extra key)
    third = key()
    assert third != second

    np.save(frames / "Ses09X_extra_F000.npy", np.zeros((3, F), np.float32))  # an added file
    fourth = key()
    assert fourth != third

    clip = functionals / "sspnet" / f"{own['clips']['clip'].iloc[0]}.npy"
    np.save(clip, np.ones(F_FUNCTIONALS, np.float32))
    bump(clip)
    assert key() != fourth

    (frames / FEATURES_JSON).write_text("{")  # checked before anything runs
    with pytest.raises(FeatureError, match="not valid JSON") as error:
        key()
    assert error.value.path == str(frames / FEATURES_JSON)


# --- the served model: features_path instead of audio --------------------------------------------------------


def _spec(store, variant: str = "IA+T", inputs=None) -> dict:
    from experiments.profiles import load_profile
    from paaan.config import FeatureConfig

    profile, _ = load_profile("demo")
    spec = {"variant": variant, "k": None, "features": FeatureConfig().__dict__, "model": profile.model.__dict__,
            "prev1": profile.prev1.__dict__, "prev2": profile.prev2.__dict__, "word_dim": store.word_dim}
    if inputs is not None:  # a model trained on own features; without: one logged before they existed (audio)
        spec |= {"inputs": inputs.to_spec(), "audio_dim": store.lld.shape[1]}
    return spec


def _model(store, spec):
    import torch

    from paaan.features.text import WordVectors
    from registry.pyfunc import PaaanModel

    torch.manual_seed(0)
    vectors = WordVectors(list(store.vocab["word"]), np.asarray(store.vectors, np.float32), source="store")
    return PaaanModel().configure(spec, None, vectors)


@pytest.fixture(scope="module")
def features_model(own_store):
    from paaan.variants import get_variant
    from registry.request import ModelInputs

    inputs = ModelInputs.of(get_variant("IA+T"), own_store.audio_features, own_store.functionals_features)
    return _model(own_store, _spec(own_store, inputs=inputs))


@pytest.fixture(scope="module")
def speaker_request(own_store, own):
    """Every utterance of the store's first speaker, as a request by features_path (and the store rows)."""
    table = own_store.utterances
    name = sorted(table["speaker"].unique())[0]
    rows = np.flatnonzero(table["speaker"].to_numpy() == name)
    ids = table["utterance_id"].iloc[rows].astype(str).to_list()
    request = pd.DataFrame({"speaker": [str(name)] * len(rows),
                            "features_path": [str(own["frames_dir"] / f"{u}.npy") for u in ids],
                            "transcript": table["transcript"].iloc[rows].astype(str).to_list(), "utterance_id": ids})
    wavs = [str(own["corpus"] / "IEMOCAP_full_release" / p) for p in table["wav_path"].iloc[rows]]  # store: relative
    return {"rows": rows, "request": request, "wavs": wavs}


def test_a_features_model_reads_features_path_exactly_as_featurize_stored_it(features_model, own_store,
                                                                             speaker_request):
    request = speaker_request["request"]
    assert len(request) >= 3
    frame, features = features_model.request_features(request)
    for steps, row in zip(features.steps, speaker_request["rows"]):  # the same rows: the same speaker statistics
        np.testing.assert_allclose(steps, own_store.utterance_lld(row), rtol=1e-5, atol=1e-5)
    out = features_model.predict(None, request, params={"return_attention": True})
    assert len(out) == len(request) and set(out["emotion"]) <= {"ang", "hap", "neu", "sad"}
    assert [len(a) for a in out["alpha_audio"]] == [len(s) for s in features.steps]


def _refused(model, request: pd.DataFrame, match: str) -> str:
    with pytest.raises(InputError, match=match) as error:
        model.predict(None, request)
    return str(error.value)


def test_audio_to_a_features_model_and_features_to_an_audio_model_are_refused_naming_the_column(
        features_model, own_store, speaker_request):
    request = speaker_request["request"]
    with_audio = request.assign(audio_path=speaker_request["wavs"])
    message = _refused(features_model, with_audio, r"^row 0, column 'audio_path': this model does not read audio_path")
    assert "features_path" in message and "'toy-encoder' (8 values per frame at 50 Hz)" in message
    _refused(features_model, with_audio.drop(columns=["features_path"]), r"^row 0, column 'audio_path'")
    _refused(features_model, request.drop(columns=["features_path"]),
             r"^the request has no features_path column: this model needs features_path: the row's own frame-level "
             r"features 'toy-encoder'")

    audio_model = _model(own_store, _spec(own_store))  # a spec without "inputs": a model of openSMILE's LLDs
    _refused(audio_model, with_audio, r"^row 0, column 'features_path': this model does not read features_path; "
                                      r"it needs audio_path or audio_base64")
    _refused(audio_model, request, r"^row 0, column 'features_path'")


def test_a_bad_features_file_in_a_request_names_the_row_column_and_file(features_model, speaker_request, tmp_path):
    request = speaker_request["request"].copy()
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((30, F - 1), np.float32))
    request.loc[1, "features_path"] = str(bad)
    _refused(features_model, request, rf"^row 1, column 'features_path': {bad}: 7 values per frame .* features.json "
                                      r"says dim 8")
    request.loc[1, "features_path"] = str(tmp_path / "absent.npy")
    _refused(features_model, request, r"^row 1, column 'features_path': .*absent.npy: no such file")
    long = tmp_path / "long.npy"
    np.save(long, np.zeros((61 * RATE, F), np.float32))
    request.loc[1, "features_path"] = str(long)
    _refused(features_model, request, r"^row 1, column 'features_path': .* over the limit of 60 s per utterance")
    request.loc[1, "features_path"] = None
    _refused(features_model, request, r"^row 1, column 'features_path': expected the path of a .npy file, got nothing")


def test_word_timings_are_checked_against_the_span_of_the_frames(features_model, speaker_request):
    from paaan.features.text import tokenize

    request = speaker_request["request"].iloc[:3].reset_index(drop=True)
    n = [len(tokenize(t)) for t in request["transcript"]]
    request["word_starts"] = [[0.0] * k for k in n]
    request["word_ends"] = [[0.1] * (k - 1) + [99.0] for k in n]
    _refused(features_model, request, r"^row 0: the last timed word ends at 99.00 s, but the audio lasts")


def test_a_retrieval_model_on_own_functionals_reads_functionals_path(own_store, own, speaker_request, tmp_path):
    from paaan.variants import get_variant
    from registry.request import ModelInputs

    functionals = {"name": "toy-functionals", "dim": F_FUNCTIONALS}
    inputs = ModelInputs.of(get_variant("PAaAN_NA"), own_store.audio_features, functionals)
    from paaan.personality import PersonalitySource

    model = _model(own_store, _spec(own_store, "PAaAN_NA", inputs) | {"k": 3})
    # NA retrieval in the own functionals of a store built on them, standardised with every speaker but the first
    functionals_store = build_store(own, tmp_path / "features", frames_dir=own["frames_dir"],
                                    functionals_dir=own["functionals_dir"])
    speakers = sorted(functionals_store.utterances["speaker"].unique())
    model.personality = PersonalitySource("NA", k=3).fit(functionals_store, speakers[1:])
    request = speaker_request["request"]
    _refused(model, request, r"^the request has no functionals_path column: this model needs features_path: .*"
                             r"and functionals_path: the row's own functionals 'toy-functionals', a .npy file of "
                             r"float32 \(6,\)")
    by_file = request.assign(functionals_path=[str(own["functionals_dir"] / "iemocap" / f"{u}.npy")
                                               for u in request["utterance_id"]])
    out = model.predict(None, by_file)
    assert len(out) == len(request)
    _, features = model.request_features(by_file)
    assert np.abs(features.personality).sum() > 0  # retrieved from the functionals the request named
    wrong = by_file.copy()
    wrong.loc[2, "functionals_path"] = str(own["frames_dir"] / f"{request['utterance_id'].iloc[2]}.npy")
    _refused(model, wrong, r"^row 2, column 'functionals_path': .*: shape \(\d+, 8\), expected \(6,\)")


def test_the_signature_and_spec_say_which_input_the_model_reads(own_store):
    from paaan.variants import get_variant
    from registry.package import signature
    from registry.request import ModelInputs

    def columns(inputs) -> dict[str, bool]:
        return {c.name: c.required for c in signature(inputs).inputs.inputs if "path" in c.name or "audio" in c.name}

    frames = own_store.audio_features
    functionals = {"name": "toy-functionals", "dim": F_FUNCTIONALS}
    assert columns(ModelInputs()) == {"audio_path": False, "audio_base64": False}  # unchanged for audio models
    assert columns(ModelInputs.of(get_variant("IA+T"), frames)) == {"features_path": True}
    # retrieval on openSMILE's functionals still needs the audio; on own functionals, functionals_path
    pp = ModelInputs.of(get_variant("PAaAN_PP"), frames)
    assert (pp.frames, pp.functionals) == ("features_path", "audio")
    assert columns(pp) == {"audio_path": False, "audio_base64": False, "features_path": True}
    assert columns(ModelInputs.of(get_variant("PAaAN_NA"), frames, functionals)) == {"features_path": True,
                                                                                   "functionals_path": True}
    assert columns(ModelInputs.of(get_variant("PAaAN_PP"), None, functionals)) == {
        "audio_path": False, "audio_base64": False, "functionals_path": True}
    spec = ModelInputs.of(get_variant("PAaAN_oracle"), frames, functionals).to_spec()
    assert spec == {"frames": "features_path", "functionals": None, "audio_features": frames,
                    "functionals_features": None}  # the oracle retrieves nothing


# --- end to end (slow) ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_ablation_on_own_features_registers_a_model_that_predicts_from_features_path(own, tmp_path):
    """`paaan ablation --audio-features DIR` on the tiny corpus (IA+T and PAaAN_oracle, 2 epochs), then the
    registered IA+T model predicts one speaker's utterances from their features files."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from reliability.reliability_tools import REPO, all_runs, child_env, paaan_command

    corpus = own["corpus"]
    profile = tmp_path / "two_epochs.yaml"
    profile.write_text("base: demo\nname: own-features-test\ntrain:\n  epochs: 2\n  patience: 0\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    started = time.time()
    done = subprocess.run(
        paaan_command("ablation", "--iemocap-root", str(corpus / "IEMOCAP_full_release"),
                      "--sspnet-root", str(corpus / "SSPNet"), "--demo-profile", "tiny",
                      "--audio-features", str(own["frames_dir"]), "--profile", str(profile),
                      "--variants", "IA+T,PAaAN_oracle", "--k-tuning", "off"),
        cwd=REPO, env=child_env(tmp_path, uri), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"ablation on own features: {time.time() - started:.0f} s")

    runs = all_runs(uri)
    featurize_run = next(r for r in runs if r.data.tags.get("paaan.step") == "featurize")
    params = featurize_run.data.params
    assert (params["audio_features.name"], params["audio_features.dim"], params["audio_features.frame_rate_hz"]) == (
        "toy-encoder", str(F), "50.0")
    assert not [r for r in runs if r.info.status == "RUNNING"]

    table = own["table"]
    speaker = sorted(table["speaker"].unique())[0]
    mine = table[table["speaker"] == speaker]
    request = pd.DataFrame({"speaker": [speaker] * len(mine), "transcript": mine["transcript"].astype(str).to_list(),
                            "features_path": [str(own["frames_dir"] / f"{u}.npy") for u in mine["utterance_id"]]})
    assert len(request) >= 3
    previous = mlflow.get_tracking_uri()
    try:
        mlflow.set_tracking_uri(uri)
        assert str(MlflowClient().get_model_version_by_alias("paaan-IA_T", "champion").version) == "1"
        model = mlflow.pyfunc.load_model("models:/paaan-IA_T@champion")
        names = {c.name: c.required for c in model.metadata.get_input_schema().inputs}
        assert names.get("features_path") is True and "audio_path" not in names
        out = model.predict(request)
        assert len(out) == len(request) and set(out["emotion"]) <= {"ang", "hap", "neu", "sad"}
        assert np.allclose(out[["p_ang", "p_hap", "p_neu", "p_sad"]].sum(axis=1), 1, atol=1e-4)
        by_audio = request.drop(columns=["features_path"]).assign(
            audio_path=[str(p) for p in mine["wav_path"]])  # the reader's paths are absolute
        with pytest.raises(MlflowException, match="features_path"):  # MLflow's signature check names it
            model.predict(by_audio)
    finally:
        mlflow.set_tracking_uri(previous)
