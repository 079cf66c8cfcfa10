"""Reading utterance audio for featurization (paper II-B1).

``load_audio`` gives every extractor the same input: mono float32 samples in [-1, 1] at one sample rate
(IEMOCAP's 16 kHz; SSPNet's 8 kHz clips are resampled to it so that both corpora share one feature space).

Two kinds of trouble are told apart:

- Sound fixes are applied and reported in ``Audio.fixes`` (the pipeline counts them), never errors:
  ``"resampled"`` (another sample rate, polyphase resampling), ``"mixed_to_mono"`` (channels averaged),
  ``"clipped"`` (samples beyond full scale, e.g. from a float WAV or resampling overshoot, set to +-1).
- Unusable files raise ``FeatureError(path, reason)``; the reasons start with the fixed words of
  ``REASONS`` so they can be counted: unreadable file or header, no samples, too short for one analysis
  frame, non-finite samples.

The audio may also come from memory (a served model receives the bytes of a WAV or FLAC file): ``load_audio``
and ``audio_info`` take a binary file-like object (``io.BytesIO(data)``) as well as a path, read by libsndfile
through soundfile without a temporary file; ``name`` then stands for the path in errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from paaan.config import FeatureConfig
from paaan.errors import FeatureError

# The fixed first words of every FeatureError reason load_audio raises.
REASONS = ("unreadable audio", "empty audio", "too short", "non-finite samples")
# The sound fixes load_audio may apply, in the order it applies them.
FIXES = ("mixed_to_mono", "resampled", "clipped")
# What names the audio in errors when it comes from memory and the caller gives no name.
MEMORY = "<audio in memory>"

AudioSource = Union[str, Path, BinaryIO]  # a path, or a binary file-like object holding a sound file


@dataclass(frozen=True)
class Audio:
    """One utterance's samples, ready for openSMILE."""

    signal: np.ndarray  # (n_samples,) float32, mono, in [-1, 1]
    sample_rate: int  # rate of `signal` (the target rate)
    source_rate: int  # rate of the file on disk
    channels: int  # channels of the file on disk
    fixes: tuple[str, ...]  # names from FIXES, in the order applied

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.signal) / self.sample_rate


def min_samples(sample_rate: int, frame_size: float = FeatureConfig.frame_size) -> int:
    """Samples one analysis frame needs: 60 ms at 16 kHz is 960 (II-B1)."""
    return int(round(frame_size * sample_rate))


def _label(source: AudioSource, name: str | None) -> str | Path:
    if name is not None:
        return name
    return Path(source) if isinstance(source, (str, Path)) else MEMORY


def _soundfile(source: AudioSource, label: str | Path, call):
    """``call(source)`` with soundfile, its errors as FeatureError(label, "unreadable audio: ...")."""
    if isinstance(source, (str, Path)):
        if not Path(source).is_file():
            # libsndfile would only say "System error".
            raise FeatureError(label, "unreadable audio: no such file")
        source = str(source)
    try:
        return call(source)
    except (sf.SoundFileError, RuntimeError) as exc:
        # libsndfile's own words, e.g. "Format not recognised." for a corrupt header.
        detail = getattr(exc, "error_string", None) or str(exc)
        raise FeatureError(label, f"unreadable audio: {detail.strip().rstrip('.')}") from None


def audio_info(source: AudioSource, name: str | None = None):
    """The header of ``source`` (soundfile's info: ``format``, ``frames``, ``samplerate``, ``channels``,
    ``duration``), without reading the samples; FeatureError(path or ``name``) if it is unreadable."""
    return _soundfile(source, _label(source, name), sf.info)


def load_audio(
    source: AudioSource,
    target_sr: int = FeatureConfig.sample_rate,
    frame_size: float = FeatureConfig.frame_size,
    name: str | None = None,
) -> Audio:
    """Read ``source`` as mono float32 at ``target_sr``; FeatureError(path, reason) if it is unusable.

    ``source``: a path, or a binary file-like object positioned at the start of a sound file (errors then
    name it ``name``, default ``MEMORY``). A file must hold at least one ``frame_size`` frame after
    resampling (960 samples for 60 ms at 16 kHz), or openSMILE returns no frame for it.
    """
    path = _label(source, name)
    # (n_samples, channels) float64; integer PCM is scaled to [-1, 1) by libsndfile.
    samples, source_rate = _soundfile(source, path, lambda s: sf.read(s, dtype="float64", always_2d=True))
    n_samples, channels = samples.shape
    if n_samples == 0:
        raise FeatureError(path, "empty audio: the file holds 0 samples")
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise FeatureError(path, f"non-finite samples: {bad} of {samples.size} are NaN or inf")

    fixes: list[str] = []
    signal = samples[:, 0]
    if channels > 1:
        signal = samples.mean(axis=1)  # (n_samples,): the average of the channels
        fixes.append("mixed_to_mono")
    if source_rate != target_sr:
        signal = resample_to(signal, source_rate, target_sr)
        fixes.append("resampled")
    if np.abs(signal).max() > 1.0:
        # openSMILE reads 16-bit integers: anything beyond full scale would wrap around.
        signal = np.clip(signal, -1.0, 1.0)
        fixes.append("clipped")

    need = min_samples(target_sr, frame_size)
    if len(signal) < need:
        raise FeatureError(
            path,
            f"too short: {len(signal)} samples at {target_sr} Hz, one {frame_size * 1000:g} ms frame needs {need}",
        )
    return Audio(signal.astype(np.float32), int(target_sr), int(source_rate), int(channels), tuple(fixes))


def resample_to(signal: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy's anti-aliasing FIR): (n,) -> (ceil(n * target / source),).

    44.1 kHz -> 16 kHz is up 160, down 441 (both divided by their gcd 100).
    """
    g = math.gcd(int(source_rate), int(target_rate))
    return resample_poly(signal, int(target_rate) // g, int(source_rate) // g)
