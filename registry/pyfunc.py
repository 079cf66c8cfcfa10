"""The served model: a pyfunc that predicts emotions from audio and transcripts.

``predict`` takes a pandas DataFrame, one row per utterance (through ``mlflow models serve``: the same frame
as JSON, ``{"dataframe_split": {"columns": [...], "data": [...]}}`` or ``{"dataframe_records": [...]}``):

- ``speaker`` and ``transcript`` (strings); optional ``utterance_id``; for PAaAN_oracle the five Big-Five
  columns;
- the audio, in exactly one of two columns per row (a frame may hold both; an empty cell is null, NaN or ""):
  ``audio_path``, a sound file the model's process can read, or ``audio_base64``, the bytes of a WAV or FLAC
  file in standard base64 (RFC 4648 alphabet, ``=`` padding, no line breaks: ``base64 -w0``), read from
  memory, never written to disk;
- optional ``word_starts`` and ``word_ends``: one value per TOKEN of the transcript as
  ``paaan.features.text.tokenize`` splits it (``"I can't"`` is ``I``, ``ca``, ``n't``), the seconds from the
  start of the audio where it starts and ends, NaN (JSON null) for a token without a timing (punctuation, a
  word the aligner skipped). Both lists or neither per row. With them, a model trained with
  ``time_alignment: aligned`` meets words and 40 ms audio steps as in training (``step_word`` built by
  featurize's own ``token_steps`` and ``step_to_word``); without them each modality meets the other's
  time-average, the fallback training used only for utterances without a forced alignment.

A model trained on one's own features (``--audio-features``, ``--functionals``; ``paaan.features.own``) reads
them instead of audio, in the layout featurize read, and its spec (``inputs``) and signature say which:

- ``features_path`` instead of the audio columns: the row's frame-level features, a ``.npy`` file of float32
  (T, dim) at the features' frame rate, pooled to 40 ms steps and z-normalised over the speaker's rows exactly
  as in featurize; word timings are checked against the frames' span (T / rate seconds);
- ``functionals_path`` (a ``.npy`` file of float32 (dim,)) for a retrieval variant (PP, NA) trained with
  ``--functionals``; a retrieval variant trained with openSMILE's functionals still needs the row's audio
  (``audio_path`` or ``audio_base64``) for them, beside ``features_path``.

A column the model does not read (``audio_path`` to a features model, ``features_path`` to an audio model) is
an error naming the column and what the model reads. Through ``mlflow.pyfunc.load_model`` MLflow's signature
check comes first: it refuses a request without a column the signature requires (``features_path``,
``functionals_path``), listing the extra columns it got, and drops (with a warning) columns the signature does
not have.

It returns one row per utterance: ``utterance_id``, ``speaker``, ``emotion`` and the four class
probabilities ``p_ang``, ``p_hap``, ``p_neu``, ``p_sad``. With ``params={"return_attention": True}`` it adds
``alpha_audio`` (one weight per 40 ms step), ``alpha_text`` (one per token) and ``tokens``.

A bad request raises ``InputError`` (``RequestError``: HTTP 400 from ``mlflow models serve``) naming the row
and column: a row with both audio columns or neither, base64 that is not strictly valid, bytes that are not a
WAV or FLAC file, audio that is empty or shorter than one 60 ms frame, timings whose count differs from the
row's tokens, that are not numbers, end before they start or end after the audio (by more than featurize's
``ALIGNMENT_TOLERANCE``), and anything beyond the limits below: ``MAX_ROWS`` rows per request,
``MAX_UTTERANCE_BYTES`` of decoded base64 and ``MAX_UTTERANCE_SECONDS`` of audio per row, ``MAX_REQUEST_BYTES``
of decoded base64 per request.

MLflow 3.17's scoring server (uvicorn + FastAPI) sets no limit of its own on the body: it reads the whole
body, parses the JSON and builds the frame before the model sees it, and answers after the model's checks.
Measured on 2 cores: a 24 MB body whose row 1 is over the row limit got HTTP 400 naming the row in 0.5 s; a
140 MB body (100 rows of 1 MiB) HTTP 400 naming the request limit in 2.8 s, the server's memory growing by
0.6 GB; 560 MB took 10 s and 2.5 GB (about 4.4 times the body). Bodies far beyond the limits are for a
reverse proxy in front of the server to refuse (``client_max_body_size`` and the like); MLflow's timeout
(MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT, 60 s, HTTP 504) is the only bound it sets. A body that is not JSON
is echoed whole in MLflow's own 400 message. In its JSON, the ``word_starts``/``word_ends`` values are best
written as floats (``2.0``): a list of integers only fails MLflow's Array(double) check ("Can not safely
convert int64 to float64") unless they are all 0 or 1; a row without timings sends null in both; in
``dataframe_records`` every row must carry both keys (a key left out becomes NaN, which MLflow refuses:
"Expected data to be list or numpy array, got float"), or no row carries them.

Everything travels inside the model: the network weights and its config, the openSMILE settings (the
LLD config is derived again from the installed opensmile package), the word vectors it needs, the
SHLA encoder and the SSPNet bank (latents or pooled-standardised functionals, and scores) with k, and the
statistics that scale the personality embedding. As in training, a speaker's z-normalisation and
personality embedding come from that speaker's own rows of the request, so every speaker needs at least
``MIN_UTTERANCES`` utterances in one request (the more, the closer to training, which used all of them).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
import numpy as np
import pandas as pd

from paaan.data.schema import EMOTIONS, TRAITS
from paaan.errors import FeatureError, InputError

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


def _package_dir(name: str) -> str:
    import importlib

    return str(Path(importlib.import_module(name).__file__).resolve().parent)


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
    from paaan.features.audio import audio_info

    rows = []
    for i, (path, text) in enumerate(zip(frame["audio_path"], frame["audio_base64"])):
        if path is not None:
            audio = RowAudio("audio_path", path=path)
            if not Path(path).is_file():
                raise InputError(f"row {i}, column 'audio_path': {path} is not a readable file")
        else:
            audio = RowAudio("audio_base64", data=decode_audio(text, i))
        try:
            info = audio_info(audio.source(), name=path if audio.data is None else f"row {i}")
        except FeatureError as exc:
            raise InputError(_feature_message(i, audio, exc)) from None
        if audio.data is not None and info.format not in AUDIO_FORMATS:
            raise InputError(f"row {i}, column 'audio_base64': {info.format} audio ({info.format_info}); "
                             f"send the bytes of a WAV or FLAC file")
        if info.duration > MAX_UTTERANCE_SECONDS:
            raise InputError(f"row {i}, column {audio.column!r}: {info.duration:.1f} s of audio, over the limit of "
                             f"{MAX_UTTERANCE_SECONDS:g} s per utterance (MAX_UTTERANCE_SECONDS)")
        rows.append(audio)
    return rows


def _feature_message(row: int, audio: RowAudio, exc: FeatureError) -> str:
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
    from paaan.features.alignment import alignment_overrun
    from paaan.features.pipeline import ALIGNMENT_TOLERANCE

    timed = ends[~np.isnan(ends)]
    if alignment_overrun(timed, duration) > ALIGNMENT_TOLERANCE:
        raise InputError(f"row {row}: the last timed word ends at {timed.max():.2f} s, but the audio lasts "
                         f"{duration:.2f} s (more than ALIGNMENT_TOLERANCE = {ALIGNMENT_TOLERANCE} s after its end: "
                         f"timings of other audio?)")


def step_words(timing: tuple[np.ndarray, np.ndarray] | None, n_steps: int) -> np.ndarray:
    """(n_steps,) int64: the token each 40 ms audio step falls in, -1 for none, exactly as featurize and
    ``paaan.train.corpus_tensors`` build it (``token_steps`` then ``step_to_word``); all -1 without timings."""
    from paaan.features.alignment import step_to_word, token_steps

    if timing is None:
        return np.full(n_steps, -1, dtype=np.int64)
    first, last = token_steps(timing[0], timing[1], n_steps)
    return step_to_word(first, last, n_steps).astype(np.int64)


# --- the model -----------------------------------------------------------------------------------------


class RequestError(InputError, MlflowException):
    """A bad request: still an InputError for Python callers, and an MlflowException for ``mlflow models
    serve``, which answers an MlflowException with its own message (HTTP 400) but anything else with
    "unexpected error" and a stack trace (the server's file paths, and the message buried in it)."""

    def __init__(self, message: str):
        MlflowException.__init__(self, message, error_code=INVALID_PARAMETER_VALUE)


@dataclass
class RequestFeatures:
    """What the network reads for each row of a request (in row order)."""

    steps: list[np.ndarray]  # (T_A, 45 or the own features' dim) float32 steps, z-normalised over the speaker's rows
    words: list[np.ndarray]  # (T_W, D) float32 word vectors (one zero row for a transcript without tokens)
    step_word: list[np.ndarray]  # (T_A,) int64 token of each audio step, -1 for none
    personality: np.ndarray  # (n_rows, 25) float32 standardised embedding of each row's speaker
    tokens: list[list[str]]
    timed: list[bool]  # whether the row came with word timings


class PaaanModel(mlflow.pyfunc.PythonModel):
    """Loads the artifacts written by ``log_pyfunc``; see the module docstring for the request format."""

    def load_context(self, context) -> None:
        import torch

        from paaan.features.text import WordVectors

        art = context.artifacts
        spec = json.loads(Path(art["spec"]).read_text())
        vectors = np.load(art["vectors"], allow_pickle=False)
        bank = shla = None
        if "bank" in art:
            loaded = np.load(art["bank"], allow_pickle=False)
            bank = {name: loaded[name] for name in loaded.files}
        if "shla" in art:
            from paaan.shla import SHLA

            shla = SHLA.load(art["shla"])
        self.configure(spec, torch.load(art["weights"], map_location="cpu", weights_only=True),
                       WordVectors(list(vectors["words"]), vectors["vectors"], source="model"), bank, shla)

    def configure(self, spec: dict, state_dict: dict | None, word_vectors, bank: dict | None = None,
                  shla=None) -> "PaaanModel":
        """Set the model up from its parts (what ``load_context`` reads from the artifacts); ``state_dict``
        None keeps the freshly built network's seeded weights (tests)."""
        from paaan.config import FeatureConfig, ModelConfig, Prev1Config, Prev2Config
        from paaan.features.acoustic import N_LLD
        from paaan.models import build_model
        from paaan.variants import get_variant

        def tuples(d: dict) -> dict:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        self.spec = spec
        self.variant = get_variant(spec["variant"])
        self.features = FeatureConfig(**spec["features"])
        self.inputs = ModelInputs.from_spec(spec, self.variant)
        self.model = build_model(self.variant, ModelConfig(**tuples(spec["model"])), word_dim=spec["word_dim"],
                                 audio_dim=int(spec.get("audio_dim", N_LLD)),
                                 prev1=Prev1Config(**tuples(spec["prev1"])), prev2=Prev2Config(**spec["prev2"]))
        if state_dict is not None:
            self.model.load_state_dict(state_dict)
        self.model.eval()
        self.word_vectors = word_vectors
        self.bank = bank if self.variant.uses_retrieval else None
        self.shla = shla if self.variant.personality == "PP" else None
        return self

    # --- features of the request ---
    def _acoustic(self, frame: pd.DataFrame, audio: list[RowAudio], timings: list | None, with_lld: bool = True,
                  with_functionals: bool = True) -> list:
        """openSMILE on each row's audio (read from its path or from memory), after checking that the row's
        word timings (when given) end within it."""
        from paaan.features.audio import load_audio
        from paaan.features.pipeline import audio_features

        results = []
        for i, row in enumerate(audio):
            name = row.path if row.data is None else f"row {i}"
            try:
                signal = load_audio(row.source(), target_sr=self.features.sample_rate,
                                    frame_size=self.features.frame_size, name=name)
                if timings is not None and timings[i] is not None:
                    check_timings_within(i, timings[i][1], signal.duration)
                results.append(audio_features(signal, self.features, with_lld=with_lld, source=name,
                                              with_functionals=with_functionals))
            except FeatureError as exc:
                raise InputError(_feature_message(i, row, exc)) from None
        return results

    def _own_frames(self, frame: pd.DataFrame, timings: list) -> list:
        """Each row's own frame-level features from ``features_path``, checked and pooled to 40 ms steps as
        featurize does, after checking that the row's word timings end within their span."""
        from paaan.features.own import FeatureSet, load_frames
        from paaan.features.pipeline import own_frame_features

        feature_set = FeatureSet.from_description(self.inputs.audio_features)
        results = []
        for i, path in enumerate(frame["features_path"]):
            try:
                frames = load_frames(path, feature_set, max_seconds=MAX_UTTERANCE_SECONDS)  # (T, dim)
            except FeatureError as exc:
                raise InputError(f"row {i}, column 'features_path': {exc}") from None
            seconds = len(frames) / feature_set.frame_rate_hz
            if timings[i] is not None:
                check_timings_within(i, timings[i][1], seconds)
            results.append(own_frame_features(frames, feature_set, seconds))
        return results

    def _own_functionals(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """Each row's own functionals from ``functionals_path``, checked as featurize checks them."""
        from paaan.features.own import FeatureSet, load_functionals

        feature_set = FeatureSet.from_description(self.inputs.functionals_features)
        out = []
        for i, path in enumerate(frame["functionals_path"]):
            try:
                out.append(load_functionals(path, feature_set))
            except FeatureError as exc:
                raise InputError(f"row {i}, column 'functionals_path': {exc}") from None
        return out

    def _personality(self, frame: pd.DataFrame, functionals: np.ndarray) -> np.ndarray:
        """(n_rows, 25) standardised embedding of each row's speaker (zeros for variants without one)."""
        from paaan.personality import standardise
        from paaan.retrieval import EMBEDDING_COLUMNS, PersonalityRetriever

        speakers = frame["speaker"].to_numpy()
        if not self.variant.uses_personality:
            return np.zeros((len(frame), 25), dtype=np.float32)
        if self.variant.personality == "oracle":
            from paaan.personality import oracle_embeddings

            profiles = frame.groupby("speaker")[list(TRAITS)].first().astype(float)  # speaker x TRAITS
            embeddings = oracle_embeddings(profiles)
        else:
            if self.variant.personality == "PP":
                queries = self.shla.transform(functionals, "iemocap")
            else:  # NA: z-scored with the statistics pooled over both training corpora
                queries = (functionals - self.bank["na_mean"]) / self.bank["na_std"]
            retriever = PersonalityRetriever(k=int(self.spec["k"]), space=self.variant.personality)
            retriever.fit(self.bank["features"], self.bank["scores"])
            embeddings = retriever.retrieve(queries, speakers)
        mean = pd.Series(self.spec["personality_mean"], index=list(EMBEDDING_COLUMNS))
        std = pd.Series(self.spec["personality_std"], index=list(EMBEDDING_COLUMNS))
        scaled = (embeddings[list(EMBEDDING_COLUMNS)] - mean) / std
        return scaled.loc[speakers].to_numpy(np.float32)

    def request_features(self, model_input: pd.DataFrame) -> tuple[pd.DataFrame, RequestFeatures]:
        """Validate the request and compute what the network reads; InputError on a bad request."""
        from paaan.features.acoustic import speaker_stats, znormalise
        from paaan.features.text import transcript_features

        inputs = self.inputs
        frame = validate_request(model_input, needs_traits=self.variant.personality == "oracle", inputs=inputs)
        texts = [transcript_features(t, self.word_vectors) for t in frame["transcript"]]
        tokens = [t.tokens for t in texts]
        timings = request_timings(frame, tokens)
        audio = request_audio(frame) if inputs.audio else None
        smile_functionals = inputs.functionals == "audio"
        if inputs.frames == "audio":
            acoustic = self._acoustic(frame, audio, timings, with_functionals=smile_functionals)
        else:
            acoustic = self._own_frames(frame, timings)
            if smile_functionals:
                for own, smile in zip(acoustic, self._acoustic(frame, audio, None, with_lld=False)):
                    own.functionals = smile.functionals
        if inputs.functionals == "functionals_path":
            for own, vector in zip(acoustic, self._own_functionals(frame)):
                own.functionals = vector
        steps = [None] * len(frame)
        for speaker, rows in frame.groupby("speaker").indices.items():
            mean, std = speaker_stats([acoustic[i].moments for i in rows])
            for i in rows:
                steps[i] = znormalise(acoustic[i].steps, mean, std)
        functionals = (np.stack([a.functionals for a in acoustic]).astype(np.float64) if inputs.functionals
                       else None)  # only retrieval reads them
        personality = self._personality(frame, functionals)
        words = [t.embeddings if len(t.tokens) else np.zeros((1, self.word_vectors.dim), np.float32) for t in texts]
        step_word = [step_words(timing, len(s)) for timing, s in zip(timings, steps)]
        return frame, RequestFeatures(steps, words, step_word, personality, tokens, [t is not None for t in timings])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        try:
            return self._predict(model_input, params)
        except InputError as exc:
            raise RequestError(str(exc)) from None

    def _predict(self, model_input: pd.DataFrame, params: dict | None) -> pd.DataFrame:
        import torch

        from paaan.models import make_batch

        params = params or {}
        frame, features = self.request_features(model_input)
        probs, alpha_a, alpha_t = [], [], []
        with torch.no_grad():
            for start in range(0, len(frame), MAX_BATCH):
                rows = list(range(start, min(start + MAX_BATCH, len(frame))))
                batch = make_batch([torch.from_numpy(features.steps[i]) for i in rows],
                                   [torch.from_numpy(features.words[i]) for i in rows],
                                   step_word=[torch.from_numpy(features.step_word[i]) for i in rows],
                                   personality=torch.from_numpy(features.personality[rows]))
                out = self.model(batch)
                probs.append(torch.softmax(out.logits, dim=1).numpy())
                for j in range(len(rows)):
                    n_a, n_w = int(batch.audio_lengths[j]), int(batch.word_lengths[j])
                    alpha_a.append(out.alpha_audio[j, :n_a].tolist() if out.alpha_audio is not None else [])
                    alpha_t.append(out.alpha_text[j, :n_w].tolist() if out.alpha_text is not None else [])
        p = np.concatenate(probs)
        result = pd.DataFrame({"utterance_id": frame["utterance_id"], "speaker": frame["speaker"],
                               "emotion": [EMOTIONS[i] for i in p.argmax(1)],
                               **{f"p_{e}": p[:, i].astype(float) for i, e in enumerate(EMOTIONS)}})
        if params.get("return_attention"):
            result["alpha_audio"] = alpha_a
            result["alpha_text"] = alpha_t
            result["tokens"] = features.tokens
        return result


# --- logging -------------------------------------------------------------------------------------------


def signature(model_inputs: ModelInputs = AUDIO_INPUTS):
    """The model's MLflow signature: the audio columns (optional: exactly one per row is checked in ``predict``)
    for a model that reads audio, and ``features_path`` / ``functionals_path`` (required) for one trained on
    its own features."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    acoustic = ([ColSpec("string", "audio_path", required=False), ColSpec("string", "audio_base64", required=False)]
                if model_inputs.audio else [])
    acoustic += [ColSpec("string", column) for column in model_inputs.file_columns]
    inputs = Schema([ColSpec("string", "speaker"), ColSpec("string", "transcript"), *acoustic,
                     ColSpec("string", "utterance_id", required=False),
                     ColSpec(Array("double"), "word_starts", required=False),
                     ColSpec(Array("double"), "word_ends", required=False)]
                    + [ColSpec("double", t, required=False) for t in TRAITS])
    outputs = Schema([ColSpec("string", "utterance_id"), ColSpec("string", "speaker"), ColSpec("string", "emotion")]
                     + [ColSpec("double", f"p_{e}") for e in EMOTIONS])
    params = ParamSchema([ParamSpec("return_attention", "boolean", False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _example_wav(seconds: float, f0: float, sample_rate: int = 16000) -> str:
    """A short voiced-sounding tone (harmonics of ``f0`` under a syllable-like envelope), as base64 WAV text."""
    import soundfile as sf

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))  # a slow glide, as in speech
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = sum(np.sin(h * phase) / h for h in range(1, 8))
    envelope = np.clip(np.sin(np.pi * t / seconds), 0, None) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2)
    noise = np.random.default_rng(int(f0)).standard_normal(len(t)) * 0.003
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * voice * envelope + noise).astype(np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# A working request (``mlflow models serve`` saves it as serving_input_example.json, and MLflow checks at
# logging time that the model answers it): three utterances of one speaker as base64 WAV; the first with word
# timings (tokens Okay , fine . : the punctuation has none), the others without.
INPUT_EXAMPLE = pd.DataFrame({
    "speaker": ["spk1"] * MIN_UTTERANCES,
    "transcript": ["Okay, fine.", "I can't believe it!", "That is wonderful news."],
    "audio_base64": [_example_wav(0.6, 120.0), _example_wav(0.8, 180.0), _example_wav(0.7, 150.0)],
    "utterance_id": [f"spk1_{i}" for i in range(1, MIN_UTTERANCES + 1)],
    "word_starts": [[0.05, None, 0.32, None], None, None],
    "word_ends": [[0.30, None, 0.55, None], None, None],
})


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    names = ["torch", "mlflow", "opensmile", "nltk", "pandas", "numpy", "scipy", "scikit-learn", "pyarrow",
             "soundfile", "textblob-aptagger"]
    return [f"{n}=={version(n)}" for n in names]


def log_pyfunc(result, variant, k: int | None, profile, upstream, name: str = "model") -> str:
    """Log the trained network of ``result`` (a FoldResult on all sessions) as a pyfunc in the active run."""
    import torch

    from experiments.featurize import store_of
    from experiments.retrieve import bank_scores, retrieval_space
    from experiments.shla import load_shla
    from paaan.personality import STD_FLOOR
    from paaan.retrieval import EMBEDDING_COLUMNS

    store = store_of(upstream.featurize)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        artifacts = {"spec": str(tmp / "spec.json"), "weights": str(tmp / "weights.pt"),
                     "vectors": str(tmp / "vectors.npz")}
        torch.save(result.model.state_dict(), artifacts["weights"])
        np.savez(artifacts["vectors"], words=np.array(store.vocab["word"].tolist(), dtype=str),
                 vectors=np.asarray(store.vectors, dtype=np.float32))
        stats = result.personality_stats or {"mean": [0.0] * 25, "std": [1.0] * 25}
        inputs = ModelInputs.of(variant, store.audio_features, store.functionals_features)
        # The word vectors travel in vectors.npz; the GloVe file is named, never located, and one's own feature
        # folders by their sets' names (no local paths).
        features = profile.features.__dict__ | {
            "glove": Path(str(profile.features.glove)).name,
            "audio_features": (store.audio_features or {}).get("name", ""),
            "functionals_dir": (store.functionals_features or {}).get("name", "")}
        spec = {"variant": variant.name, "k": k, "features": features, "inputs": inputs.to_spec(),
                "audio_dim": int(store.lld.shape[1]),
                "model": profile.model.__dict__, "prev1": profile.prev1.__dict__, "prev2": profile.prev2.__dict__,
                "word_dim": store.word_dim, "emotions": list(EMOTIONS), "min_utterances": MIN_UTTERANCES,
                "personality_mean": stats["mean"],
                "personality_std": [max(float(s), STD_FLOOR) for s in stats["std"]],
                "embedding_columns": list(EMBEDDING_COLUMNS), "featurize_run": upstream.featurize}
        if variant.uses_retrieval:
            queries, bank = retrieval_space(store, variant.personality, upstream.shla)
            arrays = {"features": bank.astype(np.float64),
                      "scores": bank_scores(store)}
            if variant.personality == "NA":
                both = np.concatenate([np.asarray(store.functionals("iemocap")), np.asarray(store.functionals("sspnet"))])
                from paaan.numerics import standardisation_stats

                arrays["na_mean"], arrays["na_std"] = standardisation_stats(both.astype(np.float64))
            else:
                load_shla(upstream.shla).save(tmp / "shla.pt")
                artifacts["shla"] = str(tmp / "shla.pt")
            artifacts["bank"] = str(tmp / "bank.npz")
            np.savez(artifacts["bank"], **arrays)
        Path(artifacts["spec"]).write_text(json.dumps(spec, indent=1, default=list))
        # The example request carries audio; a model reading files of its own features has no portable example.
        example = INPUT_EXAMPLE if not inputs.file_columns else None
        info = mlflow.pyfunc.log_model(
            name=name, python_model=PaaanModel(), artifacts=artifacts, signature=signature(inputs),
            input_example=example, code_paths=[_package_dir("paaan"), _package_dir("registry")],
            pip_requirements=pip_requirements())
    return info.model_uri
