"""Acoustic features of PAaAN (paper II-B1): 45 frame-level LLDs and the 1582 IS10 functionals.

Paper II-B1: "45 dimensional low level descriptors (LLDs) including 12 dimensional MFCCs, fundamental
frequency (F0), loudness, voice probability, zero cross rate along with their first derivatives and the
second derivatives of MFCCs and loudness [...] extracted using the openSMILE toolbox. The frame size is set
as 60ms and the step size is 10ms. All the features are z-normalized speaker-wise, and the input time step
to our PAaAN [...] is the average value of every 40ms." And: "a 1583 dimensional acoustic features [...]
termed as the Emobase 2010 in the openSMILE config file", used for personality retrieval (II-C).

What that means here:

- LLDs: openSMILE's ``emobase`` LLDs with both framers set to 60 ms / 10 ms and a second delta regression
  added. The config is derived at run time from the installed ``opensmile`` package (audEERING's research
  licence: the config is never copied into this repository) and written to a cache folder.
- Functionals: openSMILE's INTERSPEECH 2010 paralinguistic set (``IS10_paraling_compat``), 1582 values;
  the paper's "1583" counts a frame-index/class column (see NOTES). ``emobase2010.conf`` is not shipped in
  the ``opensmile`` wheel; IS10 is the same feature set.
- Numerics: 40 ms pooling and speaker-wise z-normalisation are small pure functions below.

Non-finite values never leave this module: openSMILE answers a too-short input with NaN, so extractors
check the length first, and any NaN/inf openSMILE still returns raises ``FeatureError`` naming the
source, never replaced silently (the featurization pipeline counts failed files).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import opensmile
from opensmile.core.lib import OpenSmileException

from paaan.config import FeatureConfig, cache_root
from paaan.errors import FeatureError

# ----------------------------------------------------------------------------------------------------------
# The 45 LLDs (II-B1) and their five categories (III-C)

# III-C's order of the five LLD categories; each category holds its LLDs and their derivatives.
LLD_CATEGORIES: tuple[str, ...] = ("loudness", "mfcc", "zcr", "voice_prob", "f0")

# The 16 base LLDs under openSMILE's names, in emobase's own column order. "_sma": smoothed by a 3-frame
# moving average (emobase's cContourSmoother), "pcm_": computed on the waveform.
_BASE_LLDS: tuple[tuple[str, str], ...] = (
    ("pcm_loudness_sma", "loudness"),
    *((f"mfcc_sma[{i}]", "mfcc") for i in range(1, 13)),
    ("pcm_zcr_sma", "zcr"),
    ("voiceProb_sma", "voice_prob"),
    ("F0_sma", "f0"),
)
# II-B1 takes second derivatives of these two only.
_SECOND_DERIVATIVE_CATEGORIES = ("loudness", "mfcc")


def _derivative_name(name: str, order: int) -> str:
    """openSMILE's name of a delta: ``mfcc_sma[3]`` -> ``mfcc_sma_de[3]`` (order 1), ``..._de_de[3]`` (2)."""
    stem, bracket, index = name.partition("[")
    return stem + "_de" * order + bracket + index


# The 45 LLD columns, in this fixed order:
#   0-15  the 16 LLDs: pcm_loudness_sma, mfcc_sma[1..12], pcm_zcr_sma, voiceProb_sma, F0_sma
#   16-31 their first derivatives, same order (pcm_loudness_sma_de, mfcc_sma_de[1..12], ...)
#   32-44 second derivatives of loudness and the 12 MFCCs (pcm_loudness_sma_de_de, mfcc_sma_de_de[1..12])
LLD_NAMES: tuple[str, ...] = (
    tuple(name for name, _ in _BASE_LLDS)
    + tuple(_derivative_name(name, 1) for name, _ in _BASE_LLDS)
    + tuple(_derivative_name(name, 2) for name, cat in _BASE_LLDS if cat in _SECOND_DERIVATIVE_CATEGORIES)
)
N_LLD = len(LLD_NAMES)  # 16 + 16 + 13 = 45

# Every LLD column's category, in LLD_NAMES order: a derivative belongs to its LLD's category (III-C),
# so loudness has 3 columns, mfcc 36, zcr 2, voice_prob 2, f0 2. No base name contains "_de".
LLD_CATEGORY: dict[str, str] = {name: dict(_BASE_LLDS)[name.replace("_de", "")] for name in LLD_NAMES}


def lld_category_columns() -> dict[str, tuple[int, ...]]:
    """Column indices of each category in LLD_NAMES order, e.g. ``loudness -> (0, 16, 32)`` (III-C)."""
    return {cat: tuple(i for i, name in enumerate(LLD_NAMES) if LLD_CATEGORY[name] == cat) for cat in LLD_CATEGORIES}


# ----------------------------------------------------------------------------------------------------------
# The openSMILE configs: derived from the installed package at run time

OPENSMILE_CONFIG_ROOT = Path(opensmile.__file__).parent / "core" / "config"
EMOBASE_CONFIG = OPENSMILE_CONFIG_ROOT / "emobase" / "emobase.conf"
# The openSMILE data-memory levels the LLD sink reads: LLDs, first and second deltas, frame-aligned.
LLD_LEVELS = "lld;lld_de;lld_de_de"

_DELTA2_SECTION = r"""
// paaan: second-order deltas (II-B1), openSMILE's own regression applied to the first deltas
[delta2:cDeltaRegression]
reader.dmLevel=lld_de
writer.dmLevel=lld_de_de
blocksize=1
writer.levelconf.nT = 2500
writer.levelconf.isRb=0
writer.levelconf.growDyn=1
nameAppend = de
copyInputName = 1
noPostEOIprocessing = 0
deltawin=2

"""

# (what, pattern, replacement, expected matches): each edit must match exactly as often as expected in the
# installed emobase.conf, or the derivation stops with a FeatureError rather than guess.
_EMOBASE_EDITS: tuple[tuple[str, str, str, int], ...] = (
    # Both framers (40 ms pitch frames, 25 ms spectral frames) become one command-line frame size.
    ("framer sizes", r"^frameSize[ \t]*=[ \t]*0\.0(?:25|40)[ \t]*$",
     r"frameSize = \\cm[frameSize{0.060}:frame size in seconds, set by paaan]", 2),
    ("framer steps", r"^frameStep[ \t]*=[ \t]*0\.010[ \t]*$",
     r"frameStep = \\cm[frameStep{0.010}:frame step in seconds, set by paaan]", 2),
    ("second delta instance", r"^(instance\[delta1\]\.type[ \t]*=[ \t]*cDeltaRegression)[ \t]*$",
     r"\1\ninstance[delta2].type=cDeltaRegression", 1),
    # emobase's own 988 functionals are not needed on the LLD path.
    ("functionals instance", r"^instance\[functL1\]\.type[ \t]*=[ \t]*cFunctionals[ \t]*\n", "", 1),
    ("second delta section", r"^(\\\{\\cm\[sink\{\?\}:[^\n]*)$", _DELTA2_SECTION + r"\1", 1),
)


def derive_lld_config(emobase: str, source: str | Path = EMOBASE_CONFIG) -> str:
    """The 45-LLD config text from emobase.conf's text: 60 ms/10 ms framers as options, a second delta.

    ``source`` names the emobase file in the FeatureError raised when an edit does not find what it
    expects (another opensmile version changed the file).
    """
    text = emobase
    for what, pattern, replacement, expected in _EMOBASE_EDITS:
        text, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if found != expected:
            raise FeatureError(
                source, f"cannot derive the LLD config: expected {expected} {what} line(s), found {found}"
            )
    return text


def cache_dir() -> Path:
    """``$PAAAN_CACHE/opensmile``, else ``~/.cache/paaan/opensmile``."""
    return cache_root() / "opensmile"


def lld_config_path(directory: str | Path | None = None) -> Path:
    """Path of the derived LLD config, written once (atomically) under ``directory`` or ``cache_dir()``.

    The file lives in a folder named after the opensmile version, and its name carries a hash of its text,
    so another version or a changed derivation never reuses a stale file.
    """
    try:
        emobase = EMOBASE_CONFIG.read_bytes().decode("latin-1")  # its header has a non-UTF-8 byte
    except OSError as exc:
        raise FeatureError(EMOBASE_CONFIG, f"cannot read openSMILE's emobase config ({exc.strerror})") from None
    text = derive_lld_config(emobase)
    data = text.encode("latin-1")
    digest = hashlib.sha256(data).hexdigest()[:12]
    folder = (Path(directory) if directory is not None else cache_dir()) / opensmile.__version__
    path = folder / f"emobase_lld45_{digest}.conf"
    if path.is_file() and path.read_bytes() == data:
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file in the same folder, then rename: readers never see half a file, and
        # processes deriving the same config at once all rename identical files into place.
        with tempfile.NamedTemporaryFile("wb", dir=folder, prefix=path.name + ".", suffix=".tmp",
                                         delete=False) as fh:
            fh.write(data)
        os.replace(fh.name, path)
    except OSError as exc:
        raise FeatureError(folder, f"cannot write the derived openSMILE config ({exc.strerror})") from None
    return path


# ----------------------------------------------------------------------------------------------------------
# Small pure helpers shared by both extractors

# openSMILE's Python wrapper multiplies by 32768 and casts to int16, so +1.0 would wrap to -32768.
_PCM_MAX = 32767 / 32768


def to_pcm_range(signal: np.ndarray) -> np.ndarray:
    """(n,) float32 clipped to [-1, 32767/32768], the range openSMILE's 16-bit input can hold."""
    return np.clip(np.asarray(signal, dtype=np.float32), -1.0, _PCM_MAX).astype(np.float32)


def n_frames(n_samples: int, sample_rate: int, frame_size: float, frame_step: float) -> int:
    """Complete frames in a signal: 1 + (n - frame) // step, or 0 if not even one fits.

    1.0 s at 16 kHz with 60 ms frames every 10 ms: 1 + (16000 - 960) // 160 = 95.
    """
    frame = int(round(frame_size * sample_rate))
    step = int(round(frame_step * sample_rate))
    return 0 if n_samples < frame else 1 + (n_samples - frame) // step


def require_finite(values: np.ndarray, source: str | Path, what: str) -> np.ndarray:
    """``values`` unchanged, or FeatureError(source) if any is NaN or inf."""
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise FeatureError(source, f"openSMILE returned {bad} non-finite {what} value(s) of {values.size}")
    return values


def _check_signal(signal: np.ndarray, sample_rate: int, expected_rate: int) -> np.ndarray:
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n_samples,), got shape {signal.shape}")
    if not np.issubdtype(signal.dtype, np.floating):
        raise ValueError(f"expected float samples in [-1, 1] (see load_audio), got {signal.dtype}")
    if sample_rate != expected_rate:
        # One rate for every corpus keeps IEMOCAP and SSPNet in one feature space; load_audio resamples.
        raise ValueError(f"expected {expected_rate} Hz audio (see load_audio), got {sample_rate} Hz")
    return signal


# ----------------------------------------------------------------------------------------------------------
# Extractors: build the openSMILE object once per process, call per utterance


class LLDExtractor:
    """The 45 frame-level LLDs of II-B1: ``extractor(signal, sr) -> (n_frames, 45)`` in LLD_NAMES order.

    openSMILE's 3-frame smoother and its delta regressions flush extra rows after the end of the input
    (96 LLD rows for 1.0 s, 98 first-delta rows, 100 second-delta rows); only the rows of the complete
    60 ms frames are kept, one per framer frame: ``n_frames`` rows, 95 for 1.0 s at 16 kHz. The derived
    config file is read again on every call (openSMILE's wrapper), so it must stay in the cache.
    """

    def __init__(self, config: FeatureConfig | None = None, cache: str | Path | None = None):
        config = config or FeatureConfig()
        self.frame_size = config.frame_size
        self.frame_step = config.frame_step
        self.sample_rate = config.sample_rate
        self.config_path = lld_config_path(cache)
        try:
            self._smile = opensmile.Smile(
                feature_set=str(self.config_path),
                feature_level=LLD_LEVELS,
                options={"frameSize": self.frame_size, "frameStep": self.frame_step},
            )
        except OpenSmileException as exc:
            raise FeatureError(self.config_path, f"openSMILE rejected the derived LLD config ({exc})") from None
        available = list(self._smile.feature_names)  # 78: emobase's 26 LLDs and their two deltas
        missing = [name for name in LLD_NAMES if name not in available]
        if missing:
            raise FeatureError(self.config_path, f"openSMILE gives no LLD named {', '.join(missing)}")
        self._columns = np.array([available.index(name) for name in LLD_NAMES])  # (45,)

    names = LLD_NAMES

    def n_frames(self, n_samples: int) -> int:
        """Rows returned for a signal of ``n_samples`` samples."""
        return n_frames(n_samples, self.sample_rate, self.frame_size, self.frame_step)

    def __call__(self, signal: np.ndarray, sample_rate: int, source: str | Path = "<signal>") -> np.ndarray:
        """(n_samples,) float in [-1, 1] -> (n_frames, 45) float32; FeatureError(source) if unusable."""
        signal = _check_signal(signal, sample_rate, self.sample_rate)
        n = self.n_frames(len(signal))
        if n < 1:
            frame = int(round(self.frame_size * sample_rate))
            raise FeatureError(source, f"too short: {len(signal)} samples, one LLD frame needs {frame}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Segment too short": caught as NaN below
            table = self._smile.process_signal(to_pcm_range(signal), sample_rate)
        values = table.to_numpy()[:, self._columns]  # (openSMILE rows, 45)
        if len(values) < n:
            raise FeatureError(source, f"openSMILE returned {len(values)} LLD frames, expected {n}")
        return require_finite(values[:n].astype(np.float32), source, "LLD")  # (n_frames, 45)


# II-B1's "1583-dim Emobase 2010": openSMILE's INTERSPEECH 2010 paralinguistic set and its size.
FUNCTIONAL_SETS: dict[str, tuple[opensmile.FeatureSet, int]] = {
    "IS10_paraling": (opensmile.FeatureSet.IS10, 1582),
}
# The IS10 pitch chain needs two 60 ms frames (70 ms); on less openSMILE returns NaN (measured: 1119
# samples at 16 kHz give NaN, 1120 give 1582 values).
_FUNCTIONALS_MIN_SECONDS = 0.070


class FunctionalsExtractor:
    """The utterance-level functionals of II-B1: ``extractor(signal, sr) -> (1582,)`` float32."""

    def __init__(self, config: FeatureConfig | None = None):
        config = config or FeatureConfig()
        if config.functionals not in FUNCTIONAL_SETS:
            raise ValueError(f"unknown functionals set {config.functionals!r}; known: {sorted(FUNCTIONAL_SETS)}")
        feature_set, self.dim = FUNCTIONAL_SETS[config.functionals]
        self.sample_rate = config.sample_rate
        self._smile = opensmile.Smile(feature_set=feature_set, feature_level=opensmile.FeatureLevel.Functionals)
        self._names = tuple(self._smile.feature_names)
        if len(self._names) != self.dim:
            raise FeatureError(self._smile.config_path, f"expected {self.dim} functionals, got {len(self._names)}")

    @property
    def names(self) -> tuple[str, ...]:
        """openSMILE's names of the functionals, e.g. ``pcm_loudness_sma_maxPos``, in output order."""
        return self._names

    def min_samples(self) -> int:
        """Shortest signal with functionals: 1120 samples (70 ms) at 16 kHz."""
        return int(round(_FUNCTIONALS_MIN_SECONDS * self.sample_rate))

    def __call__(self, signal: np.ndarray, sample_rate: int, source: str | Path = "<signal>") -> np.ndarray:
        """(n_samples,) float in [-1, 1] -> (1582,) float32; FeatureError(source) if unusable."""
        signal = _check_signal(signal, sample_rate, self.sample_rate)
        if len(signal) < self.min_samples():
            raise FeatureError(
                source, f"too short: {len(signal)} samples, the functionals need {self.min_samples()}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Segment too short": caught as NaN below
            table = self._smile.process_signal(to_pcm_range(signal), sample_rate)
        values = table.to_numpy()[0].astype(np.float32)  # (1582,): one row for the whole utterance
        return require_finite(values, source, "functional")


def lld_extractor(config: FeatureConfig | None = None) -> LLDExtractor:
    """The process's LLDExtractor for ``config`` (built on first use, then reused by every call)."""
    return _cached_extractor(LLDExtractor, config or FeatureConfig())


def functionals_extractor(config: FeatureConfig | None = None) -> FunctionalsExtractor:
    """The process's FunctionalsExtractor for ``config`` (built on first use, then reused by every call)."""
    return _cached_extractor(FunctionalsExtractor, config or FeatureConfig())


@functools.lru_cache(maxsize=8)
def _cached_extractor(kind: type, config: FeatureConfig):
    # The first openSMILE object of a process takes ~0.2-0.3 s (library load, config parse); later ones ~10 ms.
    return kind(config)


def clear_extractors() -> None:
    """Forget the process's extractors (e.g. after PAAAN_CACHE changed)."""
    _cached_extractor.cache_clear()


# ----------------------------------------------------------------------------------------------------------
# 40 ms time steps and speaker-wise z-normalisation (II-B1)


def pool_steps(frames: np.ndarray, pool: int = FeatureConfig.pool_frames) -> np.ndarray:
    """Mean of each run of ``pool`` frames: (T, D) -> (ceil(T / pool), D), the 40 ms BLSTM steps (II-B1).

    With 10 ms frames, pool=4 averages 40 ms. The last run may be shorter (T not a multiple of pool): its
    step is the mean of the frames it has, so no frame is dropped and none is padded in.
    """
    frames = np.asarray(frames)
    if frames.ndim != 2:
        raise ValueError(f"expected frames of shape (T, D), got {frames.shape}")
    if pool < 1:
        raise ValueError(f"pool must be >= 1, got {pool}")
    T, D = frames.shape
    dtype = frames.dtype if np.issubdtype(frames.dtype, np.floating) else np.float64
    if T == 0:
        return np.zeros((0, D), dtype=dtype)
    starts = np.arange(0, T, pool)  # (S,) first frame of each step
    sums = np.add.reduceat(frames.astype(np.float64), starts, axis=0)  # (S, D)
    counts = np.minimum(pool, T - starts)  # (S,) pool, except maybe the last
    return (sums / counts[:, None]).astype(dtype)


class Moments(NamedTuple):
    """Per-dimension sums of one utterance's frames; adding them over utterances is exact (II-B1)."""

    count: int  # frames
    sum: np.ndarray  # (D,) float64
    sum_of_squares: np.ndarray  # (D,) float64


def frame_moments(frames: np.ndarray) -> Moments:
    """(T, D) frames -> Moments(T, sum over frames, sum of squares over frames), in float64."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2:
        raise ValueError(f"expected frames of shape (T, D), got {frames.shape}")
    return Moments(frames.shape[0], frames.sum(axis=0), np.square(frames).sum(axis=0))


# A dimension that barely varies for a speaker (a constant, or float32 rounding noise) would be blown up
# by a tiny std. 1e-4 is 40x below the smallest per-dimension std measured on a synthetic voiced signal
# (pcm_zcr_sma_de_de, 4.4e-3) and above the float32 rounding of the largest LLD (F0 near 500 Hz: 3e-5).
STD_FLOOR = 1e-4


def speaker_stats(moments: Sequence[Moments]) -> tuple[np.ndarray, np.ndarray]:
    """A speaker's frame-level mean and std (population, ddof=0) from its utterances' moments: (D,), (D,).

    std is at least STD_FLOOR, so z-normalising never divides by ~0 (a constant dimension maps to 0).
    """
    if not moments:
        raise ValueError("speaker_stats needs the moments of at least one utterance")
    count = sum(m.count for m in moments)
    if count == 0:
        raise ValueError("speaker_stats needs at least one frame")
    total = np.sum([m.sum for m in moments], axis=0)  # (D,)
    total_sq = np.sum([m.sum_of_squares for m in moments], axis=0)  # (D,)
    mean = total / count
    variance = np.maximum(total_sq / count - np.square(mean), 0.0)  # E[x^2] - E[x]^2, >= 0 despite rounding
    return mean, np.maximum(np.sqrt(variance), STD_FLOOR)


def znormalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std per dimension (II-B1): (..., D) -> (..., D), float32."""
    return ((np.asarray(x, dtype=np.float64) - mean) / std).astype(np.float32)
