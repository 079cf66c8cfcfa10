"""A researcher's own acoustic features (encoder layers: WavLM, HuBERT, emotion2vec, ...) in place of openSMILE's.

paaan computes none of these and downloads nothing: the user exports them with their own tools into a folder,
and featurize reads that folder instead of running openSMILE.

Frame-level features (``--audio-features DIR``), used as BLSTM-A's input in place of the 45 LLDs (II-B1)::

    DIR/features.json           {"frame_rate_hz": 50, "dim": 1024, "name": "wavlm-large-layer12"}
    DIR/<utterance_id>.npy      float32 (T, dim), one row per encoder frame; frame i is centred at (i + 0.5) / rate s

Utterance-level functionals (``--functionals DIR``), used for SHLA and retrieval in place of IS10's 1582 (II-C)::

    DIR/features.json           {"dim": 768, "name": "emotion2vec-base-mean"}
    DIR/iemocap/<utterance_id>.npy   float32 (dim,)
    DIR/sspnet/<clip>.npy            float32 (dim,)

Extra keys in features.json are allowed (and kept in the featurize cache key); extra ``.npy`` files (other
labels, other corpora) are ignored. Every utterance the corpus reader keeps needs its file.

The 40 ms rule (``pool_to_steps``): step j is the mean of the frames whose centre (i + 0.5) / rate falls in
[0.04 j, 0.04 (j + 1)); there are as many steps as the last frame's centre needs; a step no frame centre falls
in takes the previous step's value. features.json rates below ``MIN_FRAME_RATE_HZ`` (25 Hz) are refused: at
25 Hz or more consecutive centres are at most 40 ms apart, so every step holds at least one frame and no step
is invented. The steps then meet the word alignment (``paaan.features.alignment``) exactly like the LLDs' 40 ms
steps, and are z-normalised per speaker like them (frame-level statistics, ``acoustic.speaker_stats``).

Bad input is a ``FeatureError`` naming the file and the problem: a missing file, a malformed features.json, a
file that is not one ``.npy`` array, a dtype other than float32, a shape other than (T, dim) or (dim,), a NaN
or inf. Nothing is skipped silently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from paaan.errors import FeatureError
from paaan.features.alignment import STEP_SECONDS

FEATURES_JSON = "features.json"
MIN_FRAME_RATE_HZ = 25.0  # at 25 Hz every 40 ms step holds exactly one frame centre; below, steps would be invented
MAX_NAME = 100  # characters of a feature set's name (it prefixes every dimension's name)
LEVELS = ("frames", "functionals")
_EXAMPLE = {"frames": '{"frame_rate_hz": 50, "dim": 1024, "name": "wavlm-large-layer12"}',
            "functionals": '{"dim": 768, "name": "emotion2vec-base-mean"}'}


@dataclass(frozen=True)
class FeatureSet:
    """What a features.json describes: the set's name, its dimension and (frame-level sets) its frame rate."""

    name: str
    dim: int
    frame_rate_hz: float | None = None  # None: utterance-level functionals

    def describe(self) -> dict:
        """What the feature store, the logs and a served model record (no local paths: they travel)."""
        out = {"name": self.name, "dim": self.dim}
        if self.frame_rate_hz is not None:
            out["frame_rate_hz"] = self.frame_rate_hz
        return out

    @classmethod
    def from_description(cls, description: dict) -> "FeatureSet":
        return cls(str(description["name"]), int(description["dim"]), description.get("frame_rate_hz"))

    def dimension_names(self) -> list[str]:
        """``<name>_0 .. <name>_{dim-1}``: the store's ``lld_names`` for these features."""
        return [f"{self.name}_{i}" for i in range(self.dim)]


def read_feature_set(root: str | Path, level: str) -> FeatureSet:
    """The FeatureSet of ``root/features.json``; FeatureError naming the folder or the file if it is unusable.

    ``level``: "frames" (needs ``frame_rate_hz`` >= 25) or "functionals" (``frame_rate_hz`` is not read).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    root = Path(root)
    if not root.is_dir():
        raise FeatureError(root, "not a folder (expected a features folder with features.json)")
    path = root / FEATURES_JSON
    if not path.is_file():
        raise FeatureError(path, f"missing: a features folder needs features.json, e.g. {_EXAMPLE[level]}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FeatureError(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                                 f"expected e.g. {_EXAMPLE[level]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeatureError(path, f"unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise FeatureError(path, f"expected a JSON object like {_EXAMPLE[level]}, got {type(data).__name__}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or name != name.strip() or len(name) > MAX_NAME:
        raise FeatureError(path, f"'name' must be a non-empty string of at most {MAX_NAME} characters without "
                                 f"surrounding spaces (it names the features in the store and the logs), got {name!r}")
    dim = data.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise FeatureError(path, f"'dim' must be a positive whole number (values per frame or per utterance), "
                                 f"got {dim!r}")
    if level == "functionals":
        return FeatureSet(name, dim)
    rate = data.get("frame_rate_hz")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
        raise FeatureError(path, f"'frame_rate_hz' must be a number of frames per second (WavLM, HuBERT: 50), "
                                 f"got {rate!r}")
    if rate < MIN_FRAME_RATE_HZ:
        raise FeatureError(path, f"frame_rate_hz {rate:g} is below {MIN_FRAME_RATE_HZ:g} Hz: paaan pools frames to "
                                 f"40 ms steps (II-B1) and would have to invent steps between them; export "
                                 f"{MIN_FRAME_RATE_HZ:g} frames per second or more")
    return FeatureSet(name, dim, float(rate))


# --- one file ----------------------------------------------------------------------------------------------


def frames_file(root: str | Path, utterance_id: str) -> Path:
    """Where an utterance's frame-level features are: ``root/<utterance_id>.npy``."""
    return Path(root) / f"{utterance_id}.npy"


def functionals_file(root: str | Path, corpus: str, item: str) -> Path:
    """Where an utterance's (``iemocap``) or a clip's (``sspnet``) functionals are: ``root/<corpus>/<id>.npy``."""
    return Path(root) / corpus / f"{item}.npy"


def _open(path: Path, name: str | Path) -> np.ndarray:
    """The array in a .npy file, memory-mapped (nothing read beyond the header yet); FeatureError(name)."""
    if not path.is_file():
        raise FeatureError(name, "no such file")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FeatureError(name, f"not a readable .npy array ({str(exc).strip() or type(exc).__name__})") from None
    if not isinstance(array, np.ndarray):  # np.load gives an NpzFile for a .npz archive
        if hasattr(array, "close"):
            array.close()
        raise FeatureError(name, "a .npz archive; expected one array saved with numpy.save")
    if array.dtype.kind != "f" or array.dtype.itemsize != 4:
        raise FeatureError(name, f"dtype {array.dtype}, expected float32 (save array.astype(numpy.float32))")
    return array


def _finite(array: np.ndarray, name: str | Path) -> np.ndarray:
    values = np.asarray(array, dtype=np.float32)  # (reads the file)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise FeatureError(name, f"{bad} non-finite value(s) (NaN or inf) among {values.size}")
    return values


def load_frames(path: str | Path, feature_set: FeatureSet, name: str | Path | None = None,
                max_seconds: float | None = None) -> np.ndarray:
    """One utterance's frames, (T, dim) float32, checked; FeatureError(``name`` or path) naming the problem.

    ``max_seconds``: refuse more than this many seconds of frames before reading them (a served model's limit).
    """
    path = Path(path)
    name = path if name is None else name
    array = _open(path, name)
    dim = feature_set.dim
    if array.ndim != 2:
        raise FeatureError(name, f"shape {array.shape}, expected (frames, {dim}): one row per frame")
    if array.shape[1] != dim:
        raise FeatureError(name, f"{array.shape[1]} values per frame (shape {array.shape}), but features.json "
                                 f"says dim {dim}")
    if array.shape[0] == 0:
        raise FeatureError(name, f"no frames (shape {array.shape})")
    seconds = array.shape[0] / feature_set.frame_rate_hz
    if max_seconds is not None and seconds > max_seconds:
        raise FeatureError(name, f"{array.shape[0]} frames at {feature_set.frame_rate_hz:g} Hz are {seconds:.1f} s, "
                                 f"over the limit of {max_seconds:g} s per utterance")
    return _finite(array, name)


def load_functionals(path: str | Path, feature_set: FeatureSet, name: str | Path | None = None) -> np.ndarray:
    """One utterance's or clip's functionals, (dim,) float32, checked; FeatureError naming the problem."""
    path = Path(path)
    name = path if name is None else name
    array = _open(path, name)
    if array.shape != (feature_set.dim,):
        extra = "" if array.ndim != 1 else f", but features.json says dim {feature_set.dim}"
        raise FeatureError(name, f"shape {array.shape}, expected ({feature_set.dim},): one vector per "
                                 f"utterance{extra}")
    return _finite(array, name)


def check_span(name: str | Path, n_frames: int, frame_rate_hz: float, duration: float, tolerance: float) -> None:
    """FeatureError(name) when ``n_frames`` at ``frame_rate_hz`` and the wav's ``duration`` differ by more than
    ``tolerance`` seconds plus one frame: the frame rate in features.json is wrong, or the features belong to
    other (padded, trimmed) audio, and the word alignment would not fit them."""
    span = n_frames / frame_rate_hz
    if abs(span - duration) > tolerance + 1.0 / frame_rate_hz:
        raise FeatureError(name, f"{n_frames} frames at {frame_rate_hz:g} Hz span {span:.2f} s, but the wav lasts "
                                 f"{duration:.2f} s (more than {tolerance:g} s apart): is frame_rate_hz in "
                                 f"features.json right, and were the features computed on this wav, unpadded?")


# --- 40 ms steps (II-B1) --------------------------------------------------------------------------------------


def step_of_frames(n_frames: int, frame_rate_hz: float, step: float = STEP_SECONDS) -> np.ndarray:
    """(n_frames,) int64: the step each frame's centre falls in, floor(((i + 0.5) / rate) / step).

    Exact rational arithmetic, so a centre on a step boundary goes to the later step (37.5 Hz: frame 1's centre
    is 0.04 s, step 1), where floating point would give 0.04 / 0.04 = 0.9999... and the earlier one.
    """
    # (i + 1/2) / (rate * step) = (2i + 1) * q with q = 1 / (2 * rate * step) = a / b
    q = 1 / (2 * Fraction(str(float(frame_rate_hz))) * Fraction(str(float(step))))
    return ((2 * np.arange(n_frames, dtype=np.int64) + 1) * q.numerator) // q.denominator


def pool_to_steps(frames: np.ndarray, frame_rate_hz: float, step: float = STEP_SECONDS) -> np.ndarray:
    """(T, D) frames at ``frame_rate_hz`` -> (S, D) 40 ms steps, float32: the rule of the module docstring.

    50 Hz (20 ms frames): steps of 2 frames; 100 Hz: 4 frames; 30 Hz: centres at 1/60, 3/60, 5/60, ... s, so
    steps of 1, 1, 2, 1, 1 frames, repeating every 200 ms. S is the step of the last frame plus one. paaan reads
    only rates of 25 Hz or more (``read_feature_set``), where no step is empty; the function takes any rate above
    12.5 Hz, where step 0 always holds frame 0 (its centre is under 40 ms) and an empty step takes the previous one.
    """
    frames = np.asarray(frames)
    if frames.ndim != 2:
        raise ValueError(f"expected frames of shape (T, D), got {frames.shape}")
    if not frame_rate_hz > 1 / (2 * step):
        raise ValueError(f"frame_rate_hz must be above {1 / (2 * step):g} Hz (frame 0 in step 0), got {frame_rate_hz}")
    T, D = frames.shape
    if T == 0:
        return np.zeros((0, D), dtype=np.float32)
    bins = step_of_frames(T, frame_rate_hz, step)  # (T,) non-decreasing, bins[0] == 0
    n_steps = int(bins[-1]) + 1
    sums = np.zeros((n_steps, D), dtype=np.float64)
    np.add.at(sums, bins, frames.astype(np.float64))
    counts = np.bincount(bins, minlength=n_steps)  # (S,)
    filled = counts > 0
    steps = np.zeros_like(sums)
    steps[filled] = sums[filled] / counts[filled, None]
    # An empty step takes the previous step's value: the index of the last filled step at or before each step.
    last = np.maximum.accumulate(np.where(filled, np.arange(n_steps), 0))
    return steps[last].astype(np.float32)
