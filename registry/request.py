"""What a request to a served model may hold, and its checks: columns, limits, audio, word timings, paths.

A request is a pandas DataFrame, one row per utterance (``registry.pyfunc`` has the format and what it
returns). Here: the columns a model reads (``ModelInputs``, recorded in its spec), the limits of one request
(``MAX_ROWS``, ``MAX_UTTERANCE_BYTES``, ``MAX_UTTERANCE_SECONDS``, ``MAX_REQUEST_BYTES``), the validation of
every column (``validate_request``), each row's audio decoded and its header checked before any feature is
computed (``request_audio``), the word timings (``request_timings``), and which files a served model may
read (``readable_path``). A bad request is an ``InputError`` naming the row and column; ``RequestError`` is
the same as an MlflowException, which ``mlflow models serve`` answers with HTTP 400 and its message.

Files: loaded in-process (``mlflow.pyfunc.load_model``), a model reads ``audio_path``, ``features_path`` and
``functionals_path`` wherever its process can. Served over REST (``mlflow models serve``, which marks its
process as a serving environment), it reads them only under the folder the operator names in
``PAAAN_SERVING_ROOT`` (a relative path is taken from that folder; symbolic links are followed before the
check), and refuses any other path with one message that does not say whether the file exists; without
the variable it reads no file at all (``audio_base64`` still works).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from paaan.data.schema import TRAITS
from paaan.errors import FeatureError, InputError
from paaan.features.alignment import alignment_overrun, step_to_word, token_steps
from paaan.features.audio import audio_info
from paaan.features.pipeline import ALIGNMENT_TOLERANCE

MIN_UTTERANCES = 3  # per speaker per request: z-normalisation and retrieval need several utterances
REQUIRED = ("speaker", "transcript")
AUDIO_COLUMNS = ("audio_path", "audio_base64")  # exactly one per row
FILE_COLUMNS = ("features_path", "functionals_path")  # one's own features, for models trained on them
TIMING_COLUMNS = ("word_starts", "word_ends")  # both or neither per row
MAX_BATCH = 32
# Limits of one request. A row: 16 MiB is 8.7 min of 16 kHz 16-bit mono WAV or 95 s of 44.1 kHz stereo
# 16-bit; IEMOCAP's longest utterance lasts about 35 s. A request: 64 MiB of decoded audio (about 85 MiB of
# base64) is 35 min of 16 kHz 16-bit mono; 1024 rows hold every utterance of IEMOCAP's most prolific speaker
# (651), so one request can carry a whole speaker as training saw them (by path, or in base64 as FLAC).
MAX_ROWS = 1024
MAX_UTTERANCE_BYTES = 16 * 2**20  # decoded audio_base64 of one row
MAX_UTTERANCE_SECONDS = 60.0  # audio of one row, either column
MAX_REQUEST_BYTES = 64 * 2**20  # decoded audio_base64 of all rows together
AUDIO_FORMATS = ("WAV", "WAVEX", "FLAC")  # libsndfile's names of the formats audio_base64 may carry


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


# --- what a model reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInputs:
    """Where a model reads its acoustic input from; recorded in its spec as ``inputs``.

    ``frames``: "audio" (openSMILE's 45 LLDs, from ``audio_path`` or ``audio_base64``) or "features_path" (one's
    own frame-level features, described by ``audio_features``: {name, dim, frame_rate_hz}). ``functionals``: None
    (the variant retrieves no personality), "audio" (openSMILE's IS10, from the same audio) or "functionals_path"
    (one's own, ``functionals_features``: {name, dim}).
    """

    frames: str = "audio"
    functionals: str | None = None
    audio_features: dict | None = None
    functionals_features: dict | None = None

    @classmethod
    def of(cls, variant, audio_features: dict | None = None, functionals_features: dict | None = None) -> "ModelInputs":
        """What a model of ``variant`` trained on a store with these own feature sets (None: openSMILE's) reads."""
        functionals = None
        if variant.uses_retrieval:
            functionals = "functionals_path" if functionals_features else "audio"
        return cls("features_path" if audio_features else "audio", functionals,
                   audio_features or None, (functionals_features or None) if variant.uses_retrieval else None)

    @classmethod
    def from_spec(cls, spec: dict, variant) -> "ModelInputs":
        """A logged model's inputs; a model logged before own features were possible reads audio."""
        return cls(**spec["inputs"]) if "inputs" in spec else cls.of(variant)

    def to_spec(self) -> dict:
        return {"frames": self.frames, "functionals": self.functionals, "audio_features": self.audio_features,
                "functionals_features": self.functionals_features}

    @property
    def audio(self) -> bool:
        """Whether a request carries audio (``audio_path`` or ``audio_base64``) for this model."""
        return "audio" in (self.frames, self.functionals)

    @property
    def file_columns(self) -> tuple[str, ...]:
        """The columns of own features a request carries, one file per row."""
        return tuple(c for c in FILE_COLUMNS if c in (self.frames, self.functionals))

    def columns(self) -> tuple[str, ...]:
        """Every acoustic column this model reads."""
        return (AUDIO_COLUMNS if self.audio else ()) + self.file_columns

    def needs(self) -> str:
        """What a request's rows must carry, in words (for error messages)."""
        parts = []
        if self.frames == "features_path":
            f = self.audio_features
            parts.append(f"features_path: the row's own frame-level features {f['name']!r} ({f['dim']} values per "
                         f"frame at {f['frame_rate_hz']:g} Hz), a .npy file of float32 (frames, {f['dim']})")
        else:
            parts.append("audio_path or audio_base64: the row's audio, from which openSMILE's 45 LLDs are computed")
        if self.functionals == "functionals_path":
            f = self.functionals_features
            parts.append(f"functionals_path: the row's own functionals {f['name']!r}, a .npy file of float32 "
                         f"({f['dim']},)")
        elif self.functionals == "audio" and self.frames != "audio":
            parts.append("audio_path or audio_base64: the row's audio, for openSMILE's functionals (the personality "
                         "retrieval)")
        return "; and ".join(parts)

    def summary(self) -> str:
        """The acoustic columns in the words of the older messages: "one of ['audio_path', 'audio_base64']"."""
        parts = [f"one of {list(AUDIO_COLUMNS)}"] if self.audio else []
        return " and ".join(parts + [repr(c) for c in self.file_columns])


AUDIO_INPUTS = ModelInputs()  # a model trained on openSMILE's LLDs, without retrieval


# --- request validation --------------------------------------------------------------------------------


def _missing(value) -> bool:
    """An empty cell: None, pandas' NA, a float NaN (what pandas puts in a missing cell), or ""."""
    return (value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value))
            or (isinstance(value, str) and value == ""))


def decoded_size(text: str) -> int:
    """Bytes a base64 text decodes to: 3 per 4 characters less the padding (exact for valid base64)."""
    tail = text[-2:]  # base64 pads with at most two "=" (looking at the tail only: no copy of a long text)
    return len(text) * 3 // 4 - (len(tail) - len(tail.rstrip("=")))


def validate_request(frame: pd.DataFrame, needs_traits: bool = False,
                     inputs: ModelInputs = AUDIO_INPUTS) -> pd.DataFrame:
    """Check the request's shape, strings, acoustic columns and sizes; InputError naming the column (and row).

    ``inputs``: what the model reads (default: audio). Returns the frame re-indexed 0..n-1, with
    ``utterance_id`` filled in, and, for a model that reads audio, ``audio_path`` and ``audio_base64`` both
    present (None where a row leaves one empty)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame with columns {list(REQUIRED)} and {inputs.summary()}, "
                         f"got {type(frame).__name__}")
    if frame.empty:
        raise InputError("the request has no rows")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; a request needs {list(REQUIRED)} and {inputs.summary()} "
                         f"(optional: utterance_id, word_starts, word_ends)")
    for column in AUDIO_COLUMNS + FILE_COLUMNS:
        if column in frame.columns and column not in inputs.columns():
            given = [i for i, v in enumerate(frame[column]) if not _missing(v)]
            if given:
                raise InputError(f"row {given[0]}, column {column!r}: this model does not read {column}; it needs "
                                 f"{inputs.needs()}")
    if inputs.audio and not any(c in frame.columns for c in AUDIO_COLUMNS):
        # (MLflow's signature check drops a features_path column sent to an audio model before predict sees it)
        why = (" (this model computes its acoustic features from audio; features_path is only for models trained "
               "on their own frame-level features)" if inputs.frames == "audio" else
               " (this model computes the functionals of its personality retrieval from it)")
        raise InputError("the request has no audio column: give each row audio_path (a file the model can read) "
                         "or audio_base64 (the bytes of a WAV or FLAC file, base64-encoded)" + why)
    for column in inputs.file_columns:
        if column not in frame.columns:
            raise InputError(f"the request has no {column} column: this model needs {inputs.needs()}")
    if len(frame) > MAX_ROWS:
        raise InputError(f"the request has {len(frame)} rows, over the limit of {MAX_ROWS} per request (MAX_ROWS)")
    frame = frame.reset_index(drop=True).copy()
    for column in REQUIRED + (("utterance_id",) if "utterance_id" in frame.columns else ()):
        bad = [i for i, v in enumerate(frame[column]) if not isinstance(v, str)]
        if bad:
            raise InputError(f"column {column!r}, row {bad[0]}: expected a string, got "
                             f"{type(frame[column].iloc[bad[0]]).__name__} ({frame[column].iloc[bad[0]]!r})")
    empty = [i for i, v in enumerate(frame["speaker"]) if not v.strip()]
    if empty:
        raise InputError(f"column 'speaker', row {empty[0]}: empty speaker id")
    if inputs.audio:
        _validate_audio_columns(frame)
    for column in inputs.file_columns:
        for i, value in enumerate(frame[column]):
            if _missing(value) or not isinstance(value, str):
                got = "nothing" if _missing(value) else f"{type(value).__name__} ({value!r})"
                raise InputError(f"row {i}, column {column!r}: expected the path of a .npy file, got {got}")
    if "utterance_id" not in frame.columns:
        frame["utterance_id"] = [f"utt{i}" for i in range(len(frame))]
    counts = frame["speaker"].value_counts()
    few = counts[counts < MIN_UTTERANCES]
    if len(few):
        raise InputError(f"speaker {few.index[0]!r} has {int(few.iloc[0])} utterance(s) in the request; each speaker "
                         f"needs at least {MIN_UTTERANCES} (their z-normalisation and personality come from them)")
    if needs_traits:
        absent = [t for t in TRAITS if t not in frame.columns]
        if absent:
            raise InputError(f"PAaAN_oracle needs the speaker's true Big-Five scores in columns {list(TRAITS)}; "
                             f"missing {absent}")
    return frame


def _validate_audio_columns(frame: pd.DataFrame) -> None:
    """Exactly one audio column per row, strings, and the size limits of audio_base64 (before decoding)."""
    for column in AUDIO_COLUMNS:
        values = frame[column].tolist() if column in frame.columns else [None] * len(frame)
        for i, value in enumerate(values):
            if not _missing(value) and not isinstance(value, str):
                raise InputError(f"row {i}, column {column!r}: expected a string, got {type(value).__name__} "
                                 f"({value!r})")
        # object dtype: pandas' own string dtype would turn None back into NaN
        frame[column] = pd.Series([None if _missing(v) else v for v in values], index=frame.index, dtype=object)
    total = 0
    for i, (path, text) in enumerate(zip(frame["audio_path"], frame["audio_base64"])):
        if path is not None and text is not None:
            raise InputError(f"row {i}: both audio_path and audio_base64 are given; send exactly one of them")
        if path is None and text is None:
            raise InputError(f"row {i}: no audio; send exactly one of audio_path and audio_base64")
        if text is None:
            continue
        size = decoded_size(text)
        if size > MAX_UTTERANCE_BYTES:
            raise InputError(f"row {i}, column 'audio_base64': {size} bytes ({_mib(size)}) of audio, over the limit "
                             f"of {MAX_UTTERANCE_BYTES} bytes ({_mib(MAX_UTTERANCE_BYTES)}) per utterance "
                             f"(MAX_UTTERANCE_BYTES)")
        total += size
        if total > MAX_REQUEST_BYTES:
            raise InputError(f"the request's audio_base64 holds more than {MAX_REQUEST_BYTES} bytes "
                             f"({_mib(MAX_REQUEST_BYTES)}) of audio, the limit per request (MAX_REQUEST_BYTES): "
                             f"rows 0..{i} alone decode to {total} bytes ({_mib(total)}); send fewer or smaller "
                             f"files per request (FLAC is about half the size of WAV)")


def decode_audio(text: str, row: int) -> bytes:
    """The bytes of a row's audio_base64, strictly decoded (RFC 4648 alphabet and padding, nothing else)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        hint = ("; send the base64 text without its 'data:...;base64,' prefix" if text.startswith("data:") else
                "; expected standard base64 (A-Z a-z 0-9 + /, '=' padding) without line breaks or spaces")
        raise InputError(f"row {row}, column 'audio_base64': not valid base64 ({exc}){hint}") from None
    if len(data) > MAX_UTTERANCE_BYTES:  # decoded_size already checked this; kept as the decoder's own guard
        raise InputError(f"row {row}, column 'audio_base64': {len(data)} bytes of audio, over the limit of "
                         f"{MAX_UTTERANCE_BYTES} bytes per utterance (MAX_UTTERANCE_BYTES)")
    return data


@dataclass(frozen=True)
class RowAudio:
    """Where one row's audio is: a path, or the decoded bytes of a WAV/FLAC file."""

    column: str  # "audio_path" or "audio_base64"
    path: str | None = None
    data: bytes | None = None

    def source(self):
        """What ``load_audio`` reads: the path, or a fresh in-memory file of the bytes."""
        return self.path if self.data is None else io.BytesIO(self.data)


def request_audio(frame: pd.DataFrame) -> list[RowAudio]:
    """Each row's audio, decoded and its header checked (format, length limit) before any feature is computed."""
    rows = []
    for i, (path, text) in enumerate(zip(frame["audio_path"], frame["audio_base64"])):
        if path is not None:
            path = readable_path(path, i, "audio_path")
            audio = RowAudio("audio_path", path=path)
            if not Path(path).is_file():
                raise InputError(f"row {i}, column 'audio_path': {path} is not a readable file")
        else:
            audio = RowAudio("audio_base64", data=decode_audio(text, i))
        try:
            info = audio_info(audio.source(), name=path if audio.data is None else f"row {i}")
        except FeatureError as exc:
            raise InputError(feature_message(i, audio, exc)) from None
        if audio.data is not None and info.format not in AUDIO_FORMATS:
            raise InputError(f"row {i}, column 'audio_base64': {info.format} audio ({info.format_info}); "
                             f"send the bytes of a WAV or FLAC file")
        if info.duration > MAX_UTTERANCE_SECONDS:
            raise InputError(f"row {i}, column {audio.column!r}: {info.duration:.1f} s of audio, over the limit of "
                             f"{MAX_UTTERANCE_SECONDS:g} s per utterance (MAX_UTTERANCE_SECONDS)")
        rows.append(audio)
    return rows


def feature_message(row: int, audio: RowAudio, exc: FeatureError) -> str:
    if audio.data is None:  # as featurize words it: the path, then the problem
        return f"row {row}, column 'audio_path': {exc}"
    hint = " (expected the bytes of a WAV or FLAC file)" if exc.problem.startswith("unreadable audio") else ""
    return f"row {row}, column 'audio_base64': {exc.problem}{hint}"


def _seconds(value, row: int, column: str) -> np.ndarray:
    """A row's word_starts or word_ends as (N,) float64 seconds (None -> NaN); InputError if not numbers."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise InputError(f"row {row}, column {column!r}: expected a list of seconds (one number per token), "
                         f"got {type(value).__name__}")
    out = np.empty(len(value), dtype=np.float64)
    for j, v in enumerate(value):
        if v is None or v is pd.NA:
            out[j] = np.nan
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            out[j] = float(v)
        else:
            raise InputError(f"row {row}, column {column!r}, position {j}: expected a number of seconds, "
                             f"got {type(v).__name__} ({v!r})")
    return out


def request_timings(frame: pd.DataFrame, tokens: list[list[str]]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each row's (word_starts, word_ends) per token, checked, or None for a row without timings.

    Checked here: both or neither, one value per token, numbers, NaN in both or neither for a token, finite,
    not negative, end >= start. That they end within the audio is checked once the audio is read."""
    present = [c for c in TIMING_COLUMNS if c in frame.columns]
    if not present:
        return [None] * len(frame)
    if len(present) == 1:
        other = next(c for c in TIMING_COLUMNS if c != present[0])
        raise InputError(f"column {present[0]!r} without column {other!r}: send both word_starts and word_ends "
                         f"(or neither)")
    timings: list[tuple[np.ndarray, np.ndarray] | None] = []
    for i, (s, e) in enumerate(zip(frame["word_starts"], frame["word_ends"])):
        s_missing, e_missing = _missing_list(s), _missing_list(e)
        if s_missing and e_missing:
            timings.append(None)
            continue
        if s_missing != e_missing:
            given, absent = ("word_ends", "word_starts") if s_missing else ("word_starts", "word_ends")
            raise InputError(f"row {i}: {given} is given but {absent} is not; send both or neither")
        starts, ends = _seconds(s, i, "word_starts"), _seconds(e, i, "word_ends")
        n = len(tokens[i])
        if len(starts) != n or len(ends) != n:
            shown = ", ".join(repr(t) for t in tokens[i][:8]) + (", ..." if n > 8 else "")
            raise InputError(f"row {i}: word_starts has {len(starts)} and word_ends {len(ends)} values, but the "
                             f"transcript has {n} tokens ({shown}) as paaan.features.text.tokenize splits it; "
                             f"send one value per token (NaN for a token without a timing)")
        for j in range(n):
            word = f"row {i}, token {j} ({tokens[i][j]!r})"
            if np.isnan(starts[j]) != np.isnan(ends[j]):
                raise InputError(f"{word}: word_starts is {starts[j]} but word_ends is {ends[j]}; a token has both "
                                 f"times or neither (NaN)")
            if np.isnan(starts[j]):
                continue
            if not (np.isfinite(starts[j]) and np.isfinite(ends[j])):
                raise InputError(f"{word}: times must be finite seconds, got {starts[j]} to {ends[j]}")
            if starts[j] < 0:
                raise InputError(f"{word}: starts at {starts[j]} s, before the audio does (0 s)")
            if ends[j] < starts[j]:
                raise InputError(f"{word}: ends at {ends[j]} s, before it starts ({starts[j]} s)")
        timings.append((starts, ends))
    return timings


def _missing_list(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value))


def check_timings_within(row: int, ends: np.ndarray, duration: float) -> None:
    """InputError when the row's last timed word ends after its audio by more than featurize's tolerance (where
    featurize drops such an alignment as belonging to other audio)."""
    timed = ends[~np.isnan(ends)]
    if alignment_overrun(timed, duration) > ALIGNMENT_TOLERANCE:
        raise InputError(f"row {row}: the last timed word ends at {timed.max():.2f} s, but the audio lasts "
                         f"{duration:.2f} s (more than ALIGNMENT_TOLERANCE = {ALIGNMENT_TOLERANCE} s after its end: "
                         f"timings of other audio?)")


def step_words(timing: tuple[np.ndarray, np.ndarray] | None, n_steps: int) -> np.ndarray:
    """(n_steps,) int64: the token each 40 ms audio step falls in, -1 for none, exactly as featurize and
    ``paaan.train.corpus_tensors`` build it (``token_steps`` then ``step_to_word``); all -1 without timings."""
    if timing is None:
        return np.full(n_steps, -1, dtype=np.int64)
    first, last = token_steps(timing[0], timing[1], n_steps)
    return step_to_word(first, last, n_steps).astype(np.int64)


class RequestError(InputError, MlflowException):
    """A bad request: still an InputError for Python callers, and an MlflowException for ``mlflow models
    serve``, which answers an MlflowException with its own message (HTTP 400) but anything else with
    "unexpected error" and a stack trace (the server's file paths, and the message buried in it)."""

    def __init__(self, message: str):
        MlflowException.__init__(self, message, error_code=INVALID_PARAMETER_VALUE)

# --- which files a served model reads -----------------------------------------------------------------

SERVING_ROOT = "PAAAN_SERVING_ROOT"  # the folder a model served over REST may read files under
# MLflow's scoring server sets this in its process (mlflow.environment_variables._MLFLOW_IS_IN_SERVING_ENVIRONMENT)
SERVING_ENVIRONMENT = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"


def served_over_rest() -> bool:
    """Whether this process is MLflow's scoring server (``mlflow models serve``, ``mlflow models predict``)."""
    return os.environ.get(SERVING_ENVIRONMENT, "").strip().lower() in ("true", "1")


def readable_path(value: str, row: int, column: str) -> str:
    """The path a row names, if this process may read it (module docstring), else InputError.

    Outside a serving environment: the path as given. Served over REST: the real path of ``value`` taken from
    ``$PAAAN_SERVING_ROOT``, when it lies inside that folder; the refusal is the same whether or not the file
    exists, so a client learns nothing about the server's files."""
    if not served_over_rest():
        return value
    root = os.environ.get(SERVING_ROOT, "").strip()
    if not root:
        raise InputError(f"row {row}, column {column!r}: this server reads no files (its operator has named no "
                         f"folder in {SERVING_ROOT}); send the audio itself in audio_base64")
    base = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(base, os.path.expanduser(value)))
    if os.path.commonpath([resolved, base]) != base:
        raise InputError(f"row {row}, column {column!r}: this server reads files only under the folder its "
                         f"operator named in {SERVING_ROOT}; {value!r} is not under it")
    return resolved
