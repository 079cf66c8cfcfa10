"""Acoustic features (paper II-B1): audio loading, the 45 LLDs, the IS10 functionals, 40 ms pooling, z-norm.

Every signal is made here with numpy/soundfile in tmp_path; nothing depends on a corpus.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from paaan.config import FeatureConfig
from paaan.errors import FeatureError
from paaan.features import acoustic
from paaan.features.acoustic import (
    LLD_CATEGORIES,
    LLD_CATEGORY,
    LLD_NAMES,
    STD_FLOOR,
    FunctionalsExtractor,
    LLDExtractor,
    derive_lld_config,
    frame_moments,
    lld_category_columns,
    lld_config_path,
    n_frames,
    pool_steps,
    require_finite,
    speaker_stats,
    to_pcm_range,
    znormalise,
)
from paaan.features.audio import load_audio

SR = 16000
MFCC = [f"mfcc_sma[{i}]" for i in range(1, 13)]


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def harmonic(f0: float, seconds: float, sr: int = SR) -> np.ndarray:
    """A voiced-like signal: 14 harmonics of f0 with 1/k amplitudes."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.1 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 15))).astype(np.float32)


def chirp(seconds: float, sr: int = SR) -> np.ndarray:
    """A gliding harmonic tone (100 -> 300 Hz) with a 2 Hz loudness swell: every LLD moves."""
    t = np.arange(int(round(seconds * sr))) / sr
    phase = 2 * np.pi * (100 * t + 100 * t**2 / seconds)
    swell = 1 + 0.8 * np.sin(2 * np.pi * 2 * t)
    return (0.1 * swell * sum(np.sin(k * phase) / k for k in range(1, 10))).astype(np.float32)


@pytest.fixture(scope="module")
def lld(tmp_path_factory) -> LLDExtractor:
    return LLDExtractor(FeatureConfig(), cache=tmp_path_factory.mktemp("opensmile"))


@pytest.fixture(scope="module")
def functionals() -> FunctionalsExtractor:
    return FunctionalsExtractor(FeatureConfig())


# ---------------------------------------------------------------------------------------------------------
# The 45 LLD names, their order and their five categories (II-B1, III-C)


def test_the_45_llds_keep_opensmile_names_in_the_documented_order():
    base = ("pcm_loudness_sma", *MFCC, "pcm_zcr_sma", "voiceProb_sma", "F0_sma")
    first = ("pcm_loudness_sma_de", *[f"mfcc_sma_de[{i}]" for i in range(1, 13)],
             "pcm_zcr_sma_de", "voiceProb_sma_de", "F0_sma_de")
    second = ("pcm_loudness_sma_de_de", *[f"mfcc_sma_de_de[{i}]" for i in range(1, 13)])
    assert LLD_NAMES == base + first + second
    assert (len(base), len(first), len(second), len(LLD_NAMES)) == (16, 16, 13, 45)


def test_only_mfcc_and_loudness_have_second_derivatives():
    second = [name for name in LLD_NAMES if "_de_de" in name]
    assert {LLD_CATEGORY[name] for name in second} == {"loudness", "mfcc"}
    assert "F0_sma_de_de" not in LLD_NAMES and "pcm_zcr_sma_de_de" not in LLD_NAMES


def test_each_lld_category_holds_its_llds_and_their_derivatives():
    assert LLD_CATEGORIES == ("loudness", "mfcc", "zcr", "voice_prob", "f0")
    assert list(LLD_CATEGORY) == list(LLD_NAMES)
    columns = lld_category_columns()
    # loudness: the LLD, its delta and delta-delta; mfcc: 12 x 3; the other three: LLD and delta.
    assert columns["loudness"] == (0, 16, 32)
    assert columns["mfcc"] == tuple(range(1, 13)) + tuple(range(17, 29)) + tuple(range(33, 45))
    assert columns["zcr"] == (13, 29)
    assert columns["voice_prob"] == (14, 30)
    assert columns["f0"] == (15, 31)


# ---------------------------------------------------------------------------------------------------------
# The openSMILE config, derived from the installed package at run time


def test_derived_config_sets_both_framers_from_options_and_adds_a_second_delta():
    text = derive_lld_config(acoustic.EMOBASE_CONFIG.read_bytes().decode("latin-1"))
    assert text.count(r"frameSize = \cm[frameSize{") == 2  # the 40 ms pitch and 25 ms spectral framers
    assert text.count(r"frameStep = \cm[frameStep{") == 2
    assert "frameSize = 0.025" not in text and "frameSize = 0.040" not in text
    assert "instance[delta2].type=cDeltaRegression" in text
    assert "[delta2:cDeltaRegression]\nreader.dmLevel=lld_de\nwriter.dmLevel=lld_de_de" in text
    assert "instance[functL1]" not in text


def test_derivation_stops_naming_the_file_when_emobase_changed():
    text = acoustic.EMOBASE_CONFIG.read_bytes().decode("latin-1").replace("instance[delta1]", "instance[d1]")
    with pytest.raises(FeatureError) as err:
        derive_lld_config(text, source="/x/emobase.conf")
    assert err.value.path == "/x/emobase.conf"
    assert "expected 1 second delta instance line(s), found 0" in err.value.problem


def test_config_is_cached_per_opensmile_version_and_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PAAAN_CACHE", str(tmp_path))
    assert acoustic.cache_dir() == tmp_path / "opensmile"
    path = lld_config_path()
    assert path.parent == tmp_path / "opensmile" / acoustic.opensmile.__version__
    assert path.name.startswith("emobase_lld45_") and path.suffix == ".conf"
    stamp = path.stat().st_mtime_ns
    assert lld_config_path() == path and path.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    path.write_text("damaged")
    assert lld_config_path() == path and path.read_text() != "damaged"  # a damaged copy is replaced


def test_extractors_are_built_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setenv("PAAAN_CACHE", str(tmp_path))
    acoustic.clear_extractors()
    try:
        first = acoustic.lld_extractor()
        assert acoustic.lld_extractor(FeatureConfig()) is first
        assert first.config_path.is_relative_to(tmp_path)
        assert acoustic.lld_extractor(FeatureConfig(frame_size=0.025)) is not first
    finally:
        acoustic.clear_extractors()
    assert acoustic.functionals_extractor() is acoustic.functionals_extractor(FeatureConfig())


# ---------------------------------------------------------------------------------------------------------
# LLD extraction


def test_frame_count_is_the_number_of_complete_60ms_frames():
    # 1 + (n - 960) // 160 at 16 kHz: 960 samples are one frame, each further 160 samples one more.
    assert n_frames(16000, SR, 0.06, 0.01) == 95  # 1.0 s: frames start at 0, 10, ..., 940 ms
    assert n_frames(960, SR, 0.06, 0.01) == 1
    assert n_frames(959, SR, 0.06, 0.01) == 0
    assert n_frames(1119, SR, 0.06, 0.01) == 1
    assert n_frames(1120, SR, 0.06, 0.01) == 2
    assert n_frames(8000, 8000, 0.06, 0.01) == 95  # 480-sample frames, 80-sample steps


def test_one_second_gives_95_frames_of_45_llds(lld):
    # openSMILE itself returns 96 rows for 1.0 s: its 3-frame smoother flushes one extra row after the end
    # of input (and each delta level two more); only the 95 rows of complete frames are kept.
    values = lld(chirp(1.0), SR)
    assert values.shape == (95, 45) and values.dtype == np.float32
    assert np.isfinite(values).all()
    assert lld(chirp(0.06), SR).shape == (1, 45)


def _regression_delta(x: np.ndarray, width: int = 2) -> np.ndarray:
    """openSMILE's cDeltaRegression: sum_k k (x[t+k] - x[t-k]) / (2 sum_k k^2), edges repeated."""
    padded = np.pad(x.astype(np.float64), (width, width), mode="edge")
    n = len(x)
    return sum(k * (padded[width + k:width + k + n] - padded[width - k:width - k + n])
               for k in range(1, width + 1)) / (2 * sum(k * k for k in range(1, width + 1)))


def test_delta_columns_are_regressions_of_their_llds(lld):
    values = lld(chirp(1.0), SR).astype(np.float64)
    inner = slice(0, len(values) - 2)  # the last two rows also see openSMILE's flushed rows
    col = {name: i for i, name in enumerate(LLD_NAMES)}
    for name in ("pcm_loudness_sma", "mfcc_sma[1]", "mfcc_sma[12]", "pcm_zcr_sma", "voiceProb_sma", "F0_sma"):
        de = name.replace("_sma", "_sma_de")
        expected = _regression_delta(values[:, col[name]])[inner]
        np.testing.assert_allclose(values[inner, col[de]], expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        if de.replace("_de", "_de_de", 1) in col:
            dede = de.replace("_de", "_de_de", 1)
            expected = _regression_delta(values[:, col[de]])[inner]
            np.testing.assert_allclose(values[inner, col[dede]], expected, rtol=1e-4,
                                       atol=1e-5 * np.abs(expected).max())


def test_zero_crossing_rate_and_pitch_of_known_signals(lld):
    col = {name: i for i, name in enumerate(LLD_NAMES)}
    # A 440 Hz tone crosses zero 2 x 440 times a second: 880 / 16000 = 0.055 per sample.
    values = lld(tone(440, 1.0), SR)
    assert np.median(values[:, col["pcm_zcr_sma"]]) == pytest.approx(0.055, abs=0.002)
    voiced = lld(harmonic(220, 1.0), SR)
    assert np.median(voiced[:, col["F0_sma"]]) == pytest.approx(220, abs=5)
    noise = lld((0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)
    assert np.median(voiced[:, col["voiceProb_sma"]]) > 0.8 > 0.2 > np.median(noise[:, col["voiceProb_sma"]])


def test_lld_rejects_too_short_signals_naming_the_source(lld):
    with pytest.raises(FeatureError) as err:
        lld(np.zeros(959, np.float32), SR, source="utt.wav")
    assert err.value.path == "utt.wav" and err.value.problem == "too short: 959 samples, one LLD frame needs 960"
    with pytest.raises(ValueError, match="expected 16000 Hz"):
        lld(np.zeros(8000, np.float32), 8000)
    with pytest.raises(ValueError, match="expected float samples"):
        lld(np.zeros(16000, np.int16), SR)


PATHOLOGICAL = {
    "digital silence": lambda: np.zeros(SR, np.float32),
    "pure tone": lambda: tone(1000, 1.0, amp=0.9),
    "clipped noise": lambda: np.clip(3 * np.random.default_rng(1).standard_normal(SR), -1, 1).astype(np.float32),
    "full-scale square": lambda: np.sign(tone(100, 1.0)) + np.float32(0),
}


@pytest.mark.parametrize("kind", list(PATHOLOGICAL))
def test_pathological_signals_give_finite_features(kind, lld, functionals):
    signal = PATHOLOGICAL[kind]()
    assert np.isfinite(lld(signal, SR)).all()
    assert np.isfinite(functionals(signal, SR)).all()


def test_full_scale_is_clipped_to_what_16_bit_input_holds():
    # openSMILE's wrapper computes int16(x * 32768): +1.0 would wrap round to -32768.
    out = to_pcm_range(np.array([2.0, 1.0, 0.5, -1.0, -3.0]))
    np.testing.assert_array_equal(out, np.array([32767 / 32768, 32767 / 32768, 0.5, -1.0, -1.0], np.float32))
    assert (out * 32768).astype(np.int16)[1] == 32767


def test_non_finite_openSMILE_output_is_an_error_naming_the_source():
    with pytest.raises(FeatureError) as err:
        require_finite(np.array([1.0, np.nan, np.inf, 2.0]), "clip.wav", "LLD")
    assert err.value.path == "clip.wav"
    assert err.value.problem == "openSMILE returned 2 non-finite LLD value(s) of 4"
    ok = np.array([1.0, 2.0])
    assert require_finite(ok, "clip.wav", "LLD") is ok


# ---------------------------------------------------------------------------------------------------------
# Functionals: the INTERSPEECH 2010 paralinguistic set, the paper's "1583-dim Emobase 2010"


def test_functionals_are_the_1582_is10_values(functionals):
    assert len(functionals.names) == 1582 == len(set(functionals.names))
    assert functionals.names[0] == "pcm_loudness_sma_maxPos"
    values = functionals(chirp(1.0), SR)
    assert values.shape == (1582,) and values.dtype == np.float32 and np.isfinite(values).all()


def test_functionals_need_two_pitch_frames(functionals):
    # IS10's pitch chain gives NaN below two 60 ms frames: 960 + 160 = 1120 samples at 16 kHz.
    assert functionals.min_samples() == 1120
    with pytest.raises(FeatureError, match="too short: 1119 samples, the functionals need 1120"):
        functionals(chirp(1.0)[:1119], SR, source="utt.wav")
    assert np.isfinite(functionals(chirp(1.0)[:1120], SR)).all()


# ---------------------------------------------------------------------------------------------------------
# load_audio: errors name the file and the problem; sound fixes are applied and reported


def test_corrupt_header_is_unreadable(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    with pytest.raises(FeatureError) as err:
        load_audio(path)
    assert err.value.path == str(path) and err.value.problem.startswith("unreadable audio: ")


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(FeatureError, match="unreadable audio: no such file"):
        load_audio(tmp_path / "none.wav")


def test_zero_length_file_is_empty(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), SR, subtype="PCM_16")
    with pytest.raises(FeatureError) as err:
        load_audio(path)
    assert err.value.problem == "empty audio: the file holds 0 samples"


def test_too_short_for_one_60ms_frame(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, tone(200, 1.0)[:959], SR, subtype="PCM_16")
    with pytest.raises(FeatureError) as err:
        load_audio(path)
    assert err.value.problem == "too short: 959 samples at 16000 Hz, one 60 ms frame needs 960"
    sf.write(path, tone(200, 1.0)[:960], SR, subtype="PCM_16")
    assert len(load_audio(path).signal) == 960


def test_non_finite_samples_are_an_error(tmp_path):
    path = tmp_path / "nan.wav"
    samples = tone(200, 0.1)
    samples[[3, 7]] = [np.nan, np.inf]
    sf.write(path, samples, SR, subtype="FLOAT")
    with pytest.raises(FeatureError) as err:
        load_audio(path)
    assert err.value.problem == "non-finite samples: 2 of 1600 are NaN or inf"


def test_16k_mono_pcm_is_read_as_is(tmp_path):
    path = tmp_path / "ok.wav"
    pcm = np.array([0, 16384, -32768, 32767] * 300, np.int16)
    sf.write(path, pcm, SR, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.fixes == () and (audio.sample_rate, audio.source_rate, audio.channels) == (SR, SR, 1)
    assert audio.signal.dtype == np.float32
    np.testing.assert_array_equal(audio.signal[:4], [0.0, 0.5, -1.0, 32767 / 32768])
    assert audio.duration == pytest.approx(1200 / SR)


def test_44k_stereo_is_mixed_to_mono_and_resampled(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = tone(1000, 1.0, 44100, amp=0.6), tone(1000, 1.0, 44100, amp=0.2)
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    audio = load_audio(path)
    assert audio.fixes == ("mixed_to_mono", "resampled")
    assert (audio.sample_rate, audio.source_rate, audio.channels) == (SR, 44100, 2)
    assert len(audio.signal) == 16000  # 44100 * 160 / 441
    # The mean of the channels is a 0.4-amplitude 1 kHz tone; away from the edges resampling keeps it.
    expected = tone(1000, 1.0, SR, amp=0.4)
    np.testing.assert_allclose(audio.signal[200:-200], expected[200:-200], atol=2e-3)


def test_8k_is_resampled_to_16k(tmp_path):
    path = tmp_path / "narrow.wav"
    sf.write(path, tone(500, 1.0, 8000), 8000, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.fixes == ("resampled",) and (audio.source_rate, audio.channels) == (8000, 1)
    assert len(audio.signal) == 16000  # 8000 * 2
    np.testing.assert_allclose(audio.signal[200:-200], tone(500, 1.0, SR)[200:-200], atol=2e-3)


def test_samples_beyond_full_scale_are_clipped(tmp_path):
    path = tmp_path / "hot.wav"
    sf.write(path, np.array([0.5, 1.5, -2.0] * 400, np.float32), SR, subtype="FLOAT")
    audio = load_audio(path)
    assert audio.fixes == ("clipped",)
    np.testing.assert_array_equal(audio.signal[:3], [0.5, 1.0, -1.0])


# ---------------------------------------------------------------------------------------------------------
# 40 ms time steps and speaker-wise z-normalisation (II-B1), worked by hand

# Two utterances of one speaker, D = 2; the second dimension never changes.
UTT_A = np.array([[1, 2], [3, 2], [5, 2], [7, 2], [9, 2]], np.float32)
UTT_B = np.array([[1, 2], [9, 2], [5, 2]], np.float32)


def test_pool_steps_averages_every_four_frames_and_keeps_a_short_last_run():
    frames = np.arange(12, dtype=np.float32).reshape(6, 2)  # rows [0,1], [2,3], ..., [10,11]
    pooled = pool_steps(frames, 4)
    # rows 0-3: ([0+2+4+6]/4, [1+3+5+7]/4) = (3, 4); rows 4-5: ([8+10]/2, [9+11]/2) = (9, 10)
    np.testing.assert_array_equal(pooled, [[3, 4], [9, 10]])
    assert pooled.dtype == np.float32
    assert pool_steps(np.arange(16.0).reshape(8, 2), 4).tolist() == [[3, 4], [11, 12]]  # 8 = 2 x 4 frames
    assert pool_steps(UTT_B, 4).tolist() == [[5, 2]]  # fewer than 4 frames: one step, their mean
    assert pool_steps(np.zeros((0, 45)), 4).shape == (0, 45)


def test_frame_moments_are_count_sum_and_sum_of_squares():
    count, total, total_sq = frame_moments(UTT_A)
    assert count == 5
    assert total.tolist() == [25, 10]  # 1+3+5+7+9, 5 x 2
    assert total_sq.tolist() == [165, 20]  # 1+9+25+49+81, 5 x 4


def test_speaker_stats_combine_utterances_exactly():
    # n = 8, sum = 25 + 15 = 40, mean = 5; sum of squares = 165 + 107 = 272; var = 272/8 - 25 = 9, std = 3.
    mean, std = speaker_stats([frame_moments(UTT_A), frame_moments(UTT_B)])
    assert mean.tolist() == [5, 2]
    assert std.tolist() == [3, STD_FLOOR]  # the constant dimension's std 0 is floored
    both = np.vstack([UTT_A, UTT_B]).astype(np.float64)
    np.testing.assert_allclose(mean, both.mean(axis=0))
    np.testing.assert_allclose(std[0], both[:, 0].std())


def test_znormalise_subtracts_the_speaker_mean_and_divides_by_its_std():
    mean, std = np.array([5.0, 2.0]), np.array([3.0, STD_FLOOR])
    z = znormalise(UTT_A, mean, std)
    # (1-5)/3, (3-5)/3, ..., (9-5)/3; the constant dimension becomes 0.
    np.testing.assert_allclose(z[:, 0], [-4 / 3, -2 / 3, 0, 2 / 3, 4 / 3], rtol=1e-6)
    assert z[:, 1].tolist() == [0] * 5 and z.dtype == np.float32


def test_pooling_then_znormalising_equals_znormalising_then_pooling():
    # Both are affine per dimension. Pooled UTT_A: (1+3+5+7)/4 = 4 and 9; z: (4-5)/3 = -1/3, (9-5)/3 = 4/3.
    # z first: (-4/3 - 2/3 + 0 + 2/3)/4 = -1/3, then 4/3: the same steps.
    mean, std = speaker_stats([frame_moments(UTT_A), frame_moments(UTT_B)])
    pooled_then_z = znormalise(pool_steps(UTT_A, 4), mean, std)
    z_then_pooled = pool_steps(znormalise(UTT_A, mean, std), 4)
    np.testing.assert_allclose(pooled_then_z, [[-1 / 3, 0], [4 / 3, 0]], rtol=1e-6)
    np.testing.assert_allclose(z_then_pooled, [[-1 / 3, 0], [4 / 3, 0]], rtol=1e-6)
