"""Requests to the served model: audio by path or as base64 bytes, word timings, and the request's limits.

The model is the pyfunc's own ``PaaanModel`` set up from its parts (``configure``): an untrained, seeded IA+T
network (the PAaAN family, ``time_alignment: aligned``) over the tiny feature store's word vectors, so no
MLflow run is needed; the last tests save it as an MLflow model in a temporary folder and send it JSON the
way ``mlflow models serve`` parses it.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from paaan.errors import InputError

SPEAKER_ROWS = 3  # rows of the small requests (MIN_UTTERANCES)


# --- the model and the corpus ----------------------------------------------------------------------------


def _spec(store, variant: str = "IA+T") -> dict:
    from experiments.profiles import load_profile
    from paaan.config import FeatureConfig

    profile, _ = load_profile("demo")
    return {"variant": variant, "k": None, "features": FeatureConfig().__dict__, "model": profile.model.__dict__,
            "prev1": profile.prev1.__dict__, "prev2": profile.prev2.__dict__, "word_dim": store.word_dim}


@pytest.fixture(scope="module")
def model(tiny_store):
    from paaan.features.text import WordVectors
    from registry.pyfunc import PaaanModel

    torch.manual_seed(0)
    vectors = WordVectors(list(tiny_store.vocab["word"]), np.asarray(tiny_store.vectors, np.float32), source="store")
    return PaaanModel().configure(_spec(tiny_store), None, vectors)


@pytest.fixture(scope="module")
def speaker(tiny_store, tiny_corpus):
    """Every utterance of the tiny store's first speaker: store rows, wav paths, transcripts, word timings."""
    table = tiny_store.utterances
    name = sorted(table["speaker"].unique())[0]
    rows = np.flatnonzero(table["speaker"].to_numpy() == name)
    words = tiny_store.words
    root = tiny_corpus / "IEMOCAP_full_release"
    starts, ends = [], []
    for row in rows:
        mine = words[words["utterance"] == row].sort_values("position")
        starts.append(mine["start"].to_list())
        ends.append(mine["end"].to_list())
    request = pd.DataFrame({
        "speaker": [str(name)] * len(rows),
        "audio_path": [str(root / p) for p in table["wav_path"].iloc[rows]],
        "transcript": table["transcript"].iloc[rows].astype(str).to_list(),
        "utterance_id": table["utterance_id"].iloc[rows].astype(str).to_list(),
    })
    return {"rows": rows, "request": request, "starts": starts, "ends": ends}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def wav_bytes(samples: np.ndarray, rate: int = 16000, fmt: str = "WAV", subtype: str | None = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def small_request(speaker, n: int = SPEAKER_ROWS) -> pd.DataFrame:
    return speaker["request"].iloc[:n].reset_index(drop=True).copy()


def as_base64(request: pd.DataFrame) -> pd.DataFrame:
    out = request.drop(columns=["audio_path"])
    out["audio_base64"] = [b64(Path(p).read_bytes()) for p in request["audio_path"]]
    return out


def with_timings(request: pd.DataFrame, speaker, n: int | None = None) -> pd.DataFrame:
    n = len(request) if n is None else n
    out = request.copy()
    out["word_starts"] = [list(s) for s in speaker["starts"][:n]]
    out["word_ends"] = [list(e) for e in speaker["ends"][:n]]
    return out


def refused(model, request: pd.DataFrame, match: str) -> str:
    """The message of the InputError the model raises for ``request`` (it must match ``match``)."""
    with pytest.raises(InputError, match=match) as error:
        model.predict(None, request)
    return str(error.value)


# --- the audio columns -----------------------------------------------------------------------------------


def test_every_row_gives_exactly_one_of_audio_path_and_audio_base64(model, speaker):
    request = as_base64(small_request(speaker))
    both = request.assign(audio_path=[None, str(speaker["request"]["audio_path"][1]), None])
    refused(model, both, r"^row 1: both audio_path and audio_base64 are given; send exactly one of them$")
    neither = request.assign(audio_base64=[request["audio_base64"][0], "", request["audio_base64"][2]])
    refused(model, neither, r"^row 1: no audio; send exactly one of audio_path and audio_base64$")
    nan = request.assign(audio_base64=[request["audio_base64"][0], request["audio_base64"][1], np.nan])
    refused(model, nan, r"^row 2: no audio")
    refused(model, request.drop(columns=["audio_base64"]), r"^the request has no audio column: give each row "
                                                           r"audio_path .* or audio_base64")
    number = request.assign(audio_base64=[request["audio_base64"][0], 5.0, request["audio_base64"][2]])
    refused(model, number, r"^row 1, column 'audio_base64': expected a string, got float \(5\.0\)$")


def test_a_frame_may_mix_rows_by_path_and_rows_in_base64(model, speaker):
    request = small_request(speaker)
    mixed = request.assign(audio_base64=[None, b64(Path(request["audio_path"][1]).read_bytes()), None],
                           audio_path=[request["audio_path"][0], None, request["audio_path"][2]])
    pd.testing.assert_frame_equal(model.predict(None, mixed), model.predict(None, request))


def test_rows_by_path_keep_their_messages_naming_the_path(model, speaker, tmp_path):
    request = small_request(speaker)
    request.loc[1, "audio_path"] = str(tmp_path / "missing.wav")
    refused(model, request, rf"^row 1, column 'audio_path': {tmp_path}/missing\.wav is not a readable file$")
    (tmp_path / "notes.wav").write_text("hello, not audio")
    request.loc[1, "audio_path"] = str(tmp_path / "notes.wav")
    refused(model, request, rf"^row 1, column 'audio_path': {tmp_path}/notes\.wav: unreadable audio: Format not "
                            rf"recognised$")


@pytest.mark.parametrize("text, message", [
    ("UklGR$$$", r"not valid base64 \(.*\); expected standard base64"),
    ("UklGRg", r"not valid base64 \(Incorrect padding\)"),  # padding left out
    ("UklG\nRiQ=", r"not valid base64 .* without line breaks"),  # `base64` without -w0 wraps its lines
    ("UklGRi-_", r"not valid base64"),  # the URL-safe alphabet
    ("data:audio/wav;base64,UklGRiQ=",
     r"not valid base64 \(.*\); send the base64 text without its 'data:\.\.\.;base64,' prefix$"),
])
def test_base64_is_decoded_strictly(model, speaker, text, message):
    request = as_base64(small_request(speaker))
    request.loc[1, "audio_base64"] = text
    refused(model, request, r"^row 1, column 'audio_base64': " + message)


def test_bytes_that_are_not_a_wav_or_flac_file_are_refused(model, speaker):
    request = as_base64(small_request(speaker))
    request.loc[2, "audio_base64"] = b64(b"hello, I am not a sound file at all")
    refused(model, request, r"^row 2, column 'audio_base64': unreadable audio: Format not recognised "
                            r"\(expected the bytes of a WAV or FLAC file\)$")
    request.loc[2, "audio_base64"] = b64(wav_bytes(np.zeros(16000, np.float32), fmt="AIFF"))
    refused(model, request, r"^row 2, column 'audio_base64': AIFF audio \(.*\); send the bytes of a WAV or FLAC file$")
    request.loc[2, "audio_base64"] = b64(wav_bytes(np.zeros(16000, np.float32))[:30])  # a cut-off header
    refused(model, request, r"^row 2, column 'audio_base64': unreadable audio: ")


def test_empty_and_too_short_audio_are_refused_naming_the_row(model, speaker):
    request = as_base64(small_request(speaker))
    request.loc[0, "audio_base64"] = b64(wav_bytes(np.zeros(0, np.float32)))
    refused(model, request, r"^row 0, column 'audio_base64': empty audio: the file holds 0 samples$")
    request.loc[0, "audio_base64"] = b64(wav_bytes(np.zeros(400, np.float32)))
    refused(model, request, r"^row 0, column 'audio_base64': too short: 400 samples at 16000 Hz, one 60 ms frame "
                            r"needs 960$")
    request.loc[0, "audio_base64"] = b64(wav_bytes(np.full(4000, np.nan, np.float32), subtype="FLOAT"))
    refused(model, request, r"^row 0, column 'audio_base64': non-finite samples: 4000 of 4000")


def test_flac_and_other_rates_are_read_from_memory(model, speaker):
    """A FLAC file and a 44.1 kHz stereo WAV of the same utterance: read, resampled and mixed as featurize does."""
    request = small_request(speaker)
    samples, rate = sf.read(request["audio_path"][0], dtype="float32")
    flac = as_base64(request)
    flac.loc[0, "audio_base64"] = b64(wav_bytes(samples, rate, fmt="FLAC", subtype="PCM_16"))
    pd.testing.assert_frame_equal(model.predict(None, flac), model.predict(None, request))
    stereo = as_base64(request)
    loud = np.stack([samples, samples], axis=1)
    stereo.loc[0, "audio_base64"] = b64(wav_bytes(loud, 44100, subtype="FLOAT"))  # claims 44.1 kHz: other audio
    out = model.predict(None, stereo)
    assert len(out) == SPEAKER_ROWS and np.allclose(out[[c for c in out if c.startswith("p_")]].sum(1), 1)


# --- the limits ----------------------------------------------------------------------------------------------


def test_an_utterance_over_the_byte_limit_is_refused_before_decoding(model, speaker):
    from registry.request import MAX_UTTERANCE_BYTES, decoded_size

    assert MAX_UTTERANCE_BYTES == 16 * 2**20
    over = "A" * ((MAX_UTTERANCE_BYTES // 3 + 1) * 4)  # valid base64 of 2 bytes over the limit
    assert decoded_size(over) == MAX_UTTERANCE_BYTES + 2 and decoded_size(b64(b"abcd")) == 4
    assert decoded_size(b64(b"abcde")) == 5 and decoded_size(b64(b"abcdef")) == 6
    request = as_base64(small_request(speaker))
    request.loc[1, "audio_base64"] = over
    refused(model, request, rf"^row 1, column 'audio_base64': {MAX_UTTERANCE_BYTES + 2} bytes \(16\.0 MiB\) of audio, "
                            rf"over the limit of {MAX_UTTERANCE_BYTES} bytes \(16\.0 MiB\) per utterance "
                            rf"\(MAX_UTTERANCE_BYTES\)$")
    request.loc[1, "audio_base64"] = "A" * (MAX_UTTERANCE_BYTES // 3 * 4)  # 1 byte under the limit: decoded, not audio
    refused(model, request, r"^row 1, column 'audio_base64': unreadable audio")


def test_a_request_over_the_total_byte_limit_is_refused(model, speaker):
    from registry.request import MAX_REQUEST_BYTES, MAX_UTTERANCE_BYTES

    assert MAX_REQUEST_BYTES == 64 * 2**20
    big = "A" * (MAX_UTTERANCE_BYTES // 3 * 4)  # just under 16 MiB each (one string, shared by the rows)
    request = pd.DataFrame({"speaker": ["s"] * 5, "transcript": ["Hello."] * 5, "audio_base64": [big] * 5})
    refused(model, request, rf"^the request's audio_base64 holds more than {MAX_REQUEST_BYTES} bytes \(64\.0 MiB\) "
                            rf"of audio, the limit per request \(MAX_REQUEST_BYTES\): rows 0\.\.4 alone decode to "
                            rf"{5 * (MAX_UTTERANCE_BYTES - 1)} bytes \(80\.0 MiB\); send fewer or smaller files")


def test_an_utterance_over_the_length_limit_is_refused_by_path_and_in_base64(model, speaker, tmp_path):
    from registry.request import MAX_UTTERANCE_SECONDS

    assert MAX_UTTERANCE_SECONDS == 60.0
    long = wav_bytes(np.zeros(61 * 8000, np.float32), 8000)  # 61 s at 8 kHz: under a MiB
    request = as_base64(small_request(speaker))
    request.loc[2, "audio_base64"] = b64(long)
    refused(model, request, r"^row 2, column 'audio_base64': 61\.0 s of audio, over the limit of 60 s per utterance "
                            r"\(MAX_UTTERANCE_SECONDS\)$")
    (tmp_path / "long.wav").write_bytes(long)
    by_path = small_request(speaker)
    by_path.loc[2, "audio_path"] = str(tmp_path / "long.wav")
    refused(model, by_path, r"^row 2, column 'audio_path': 61\.0 s of audio, over the limit of 60 s")


def test_a_request_over_the_row_limit_is_refused(model):
    from registry.request import MAX_ROWS

    assert MAX_ROWS == 1024
    request = pd.DataFrame({"speaker": ["s"] * (MAX_ROWS + 1), "transcript": ["Hi."] * (MAX_ROWS + 1),
                            "audio_path": ["/nowhere.wav"] * (MAX_ROWS + 1)})
    refused(model, request, rf"^the request has {MAX_ROWS + 1} rows, over the limit of {MAX_ROWS} per request "
                            rf"\(MAX_ROWS\)$")


# --- word timings ------------------------------------------------------------------------------------------


def test_timings_need_one_value_per_token(model, speaker):
    from paaan.features.text import tokenize

    request = with_timings(small_request(speaker), speaker)
    tokens = tokenize(request["transcript"][1])
    request.at[1, "word_starts"] = request["word_starts"][1][:-1]
    request.at[1, "word_ends"] = request["word_ends"][1][:-1]
    message = refused(model, request, rf"^row 1: word_starts has {len(tokens) - 1} and word_ends {len(tokens) - 1} "
                                      rf"values, but the transcript has {len(tokens)} tokens \(")
    assert repr(tokens[0]) in message and "paaan.features.text.tokenize" in message
    assert message.endswith("send one value per token (NaN for a token without a timing)")


def test_timings_come_in_pairs(model, speaker):
    request = with_timings(small_request(speaker), speaker)
    refused(model, request.drop(columns=["word_ends"]), r"^column 'word_starts' without column 'word_ends'")
    one = request.copy()
    one.at[2, "word_ends"] = None
    refused(model, one, r"^row 2: word_starts is given but word_ends is not; send both or neither$")
    half = request.copy()
    ends = list(half["word_ends"][0])
    j = int(np.flatnonzero(~np.isnan(np.asarray(half["word_starts"][0], float)))[0])
    ends[j] = np.nan
    half.at[0, "word_ends"] = ends
    refused(model, half, rf"^row 0, token {j} \(.*\): word_starts is .* but word_ends is nan; a token has both times "
                         rf"or neither")


@pytest.mark.parametrize("edit, message", [
    (lambda s, e, j: (s, e[:j] + ["soon"] + e[j + 1:]), r"column 'word_ends', position {j}: expected a number of "
                                                        r"seconds, got str \('soon'\)"),
    (lambda s, e, j: (s, e[:j] + [True] + e[j + 1:]), r"column 'word_ends', position {j}: expected a number"),
    (lambda s, e, j: ("0.1 0.2", e), r"column 'word_starts': expected a list of seconds \(one number per token\), "
                                     r"got str"),
    (lambda s, e, j: (s, e[:j] + [s[j] - 0.01] + e[j + 1:]), r"token {j} \(.*\): ends at .* s, before it starts"),
    (lambda s, e, j: (s[:j] + [-0.5] + s[j + 1:], e), r"token {j} \(.*\): starts at -0\.5 s, before the audio does"),
    (lambda s, e, j: (s, e[:j] + [float("inf")] + e[j + 1:]), r"token {j} \(.*\): times must be finite seconds"),
])
def test_timings_must_be_seconds_in_order(model, speaker, edit, message):
    request = with_timings(small_request(speaker), speaker)
    starts, ends = list(request["word_starts"][1]), list(request["word_ends"][1])
    j = int(np.flatnonzero(~np.isnan(np.asarray(starts, float)))[0])
    request.at[1, "word_starts"], request.at[1, "word_ends"] = edit(starts, ends, j)
    refused(model, request, r"^row 1, " + message.format(j=j))


def test_timings_past_the_end_of_the_audio_are_refused(model, speaker):
    """Beyond featurize's ALIGNMENT_TOLERANCE (0.25 s) after the audio ends: timings of other audio."""
    import soundfile as sf

    request = with_timings(small_request(speaker), speaker)
    duration = sf.info(request["audio_path"][0]).duration
    ends = np.asarray(request["word_ends"][0], float)
    last = int(np.nanargmax(ends))
    for over, ok in ((0.2, True), (0.3, False)):
        shifted = ends.copy()
        shifted[last] = duration + over
        request.at[0, "word_ends"] = shifted.tolist()
        if ok:
            assert len(model.predict(None, request)) == SPEAKER_ROWS
        else:
            refused(model, request, rf"^row 0: the last timed word ends at {duration + over:.2f} s, but the audio "
                                    rf"lasts {duration:.2f} s \(more than ALIGNMENT_TOLERANCE = 0\.25 s after its end")


def test_a_row_without_timings_uses_the_fallback_and_nan_tokens_have_no_step(model, speaker):
    """null timings, or NaN for every token, give every audio step no word: the time-average fallback."""
    request = small_request(speaker)
    _, plain = model.request_features(request)
    nulls = request.assign(word_starts=[None] * SPEAKER_ROWS, word_ends=[None] * SPEAKER_ROWS)
    _, none = model.request_features(nulls)
    n_tokens = [len(t) for t in plain.tokens]
    nans = request.assign(word_starts=[[np.nan] * n for n in n_tokens], word_ends=[[None] * n for n in n_tokens])
    _, untimed = model.request_features(nans)
    for features in (plain, none, untimed):
        assert all((s == -1).all() for s in features.step_word)
    assert plain.timed == none.timed == [False] * SPEAKER_ROWS and untimed.timed == [True] * SPEAKER_ROWS
    pd.testing.assert_frame_equal(model.predict(None, nans), model.predict(None, request))


# --- the same predictions as the same audio by path, and as in training -------------------------------------


def test_base64_audio_predicts_exactly_as_the_same_file_by_path(model, speaker):
    request = small_request(speaker, n=len(speaker["rows"]))
    by_path = model.predict(None, request, params={"return_attention": True})
    in_memory = model.predict(None, as_base64(request), params={"return_attention": True})
    pd.testing.assert_frame_equal(in_memory, by_path, check_exact=True)


def test_timings_give_the_step_word_featurize_stored_and_the_training_prediction(model, speaker, tiny_store):
    """A request with all of one speaker's utterances and the corpus' word timings sees exactly what training
    saw: the same z-normalised steps, the same step_word (corpus_tensors from the store), the same outputs."""
    from paaan.train import collate, corpus_tensors

    request = with_timings(small_request(speaker, n=len(speaker["rows"])), speaker)
    rows = speaker["rows"]
    data = corpus_tensors(str(tiny_store.path.resolve()))
    _, features = model.request_features(as_base64(request))
    assert sum(bool((data.step_word[r] >= 0).any()) for r in rows) >= len(rows) - 1  # the corpus is aligned
    for i, row in enumerate(rows):
        assert np.array_equal(features.step_word[i], data.step_word[row].numpy()), i
        np.testing.assert_allclose(features.steps[i], data.audio[row].numpy(), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(features.words[i], data.words[row].numpy())

    with torch.no_grad():
        out = model.model(collate(data, rows, np.zeros((len(data.labels), 25), np.float32)))
    trained = torch.softmax(out.logits, dim=1).numpy()
    served = model.predict(None, request)
    np.testing.assert_allclose(served[["p_ang", "p_hap", "p_neu", "p_sad"]].to_numpy(), trained, rtol=0, atol=1e-5)
    untimed = model.predict(None, request.drop(columns=["word_starts", "word_ends"]))
    assert np.abs(untimed[["p_ang", "p_hap", "p_neu", "p_sad"]].to_numpy() - trained).max() > 1e-6  # timings matter


# --- through MLflow: the signature and the JSON of mlflow models serve ---------------------------------------


@pytest.fixture(scope="module")
def saved_model(model, tiny_store, tmp_path_factory):
    """The model saved as an MLflow pyfunc (artifacts as log_pyfunc writes them), in a temporary folder."""
    import mlflow

    from paaan.personality import PersonalitySource
    from registry.package import INPUT_EXAMPLE, signature
    from registry.pyfunc import PaaanModel

    tmp = tmp_path_factory.mktemp("pyfunc")
    artifacts = {"spec": tmp / "spec.json", "weights": tmp / "weights.pt", "vectors": tmp / "vectors.npz",
                 "personality": PersonalitySource().fit(tiny_store, []).save(tmp / "personality")}
    artifacts["spec"].write_text(json.dumps(model.spec, default=list))
    torch.save(model.model.state_dict(), artifacts["weights"])
    np.savez(artifacts["vectors"], words=np.array(model.word_vectors.words, dtype=str),
             vectors=np.asarray(model.word_vectors.vectors, np.float32))
    path = tmp / "model"
    mlflow.pyfunc.save_model(str(path), python_model=PaaanModel(), artifacts={k: str(v) for k, v in artifacts.items()},
                             signature=signature(), input_example=INPUT_EXAMPLE, pip_requirements=["mlflow"])
    return str(path)


def _serve_json(model_path: str, body: dict) -> pd.DataFrame:
    """What ``mlflow models serve`` does with a JSON body: parse it against the signature, then predict."""
    from mlflow.models.utils import _validate_serving_input

    return _validate_serving_input(model_path, json.dumps(body))


def test_the_input_example_is_a_working_request(saved_model):
    """INPUT_EXAMPLE (base64 WAV, one row with timings, two with null) passes MLflow's own serving check."""
    from mlflow.models import convert_input_example_to_serving_input

    from registry.package import INPUT_EXAMPLE

    out = _serve_json(saved_model, json.loads(convert_input_example_to_serving_input(INPUT_EXAMPLE)))
    assert len(out) == 3 and set(out["emotion"]) <= {"ang", "hap", "neu", "sad"}


@pytest.mark.parametrize("orient", ["dataframe_split", "dataframe_records"])
def test_json_requests_with_base64_and_timings_predict_as_in_python(saved_model, model, speaker, orient):
    """Both JSON orients carry audio_base64 and the Array(double) timing columns, with a row of null timings."""
    request = with_timings(as_base64(small_request(speaker)), speaker)
    request.at[2, "word_starts"], request.at[2, "word_ends"] = None, None
    records = request.to_dict(orient="records")
    for r in records:  # JSON null for a token without a timing
        for c in ("word_starts", "word_ends"):
            if r[c] is not None:
                r[c] = [None if np.isnan(x) else float(x) for x in r[c]]
    if orient == "dataframe_split":
        columns = list(request.columns)
        body = {orient: {"columns": columns, "data": [[r[c] for c in columns] for r in records]}}
    else:
        body = {orient: records}
    served = _serve_json(saved_model, body)
    expected = model.predict(None, request)
    np.testing.assert_allclose(served[["p_ang", "p_hap", "p_neu", "p_sad"]].to_numpy(),
                               expected[["p_ang", "p_hap", "p_neu", "p_sad"]].to_numpy(), rtol=0, atol=1e-6)


def test_json_timings_written_as_integers_are_refused_by_mlflow(saved_model, speaker):
    """MLflow 3.17's Array(double) refuses a list of JSON integers unless all are 0 or 1 (int64 -> float64 is
    not 'safe'): the documented reason to write seconds as floats (2.0, not 2)."""
    from mlflow.exceptions import MlflowException

    request = as_base64(small_request(speaker))
    columns = list(request.columns) + ["word_starts", "word_ends"]
    data = [list(r) + [None, None] for r in request.itertuples(index=False)]
    data[0][-2:] = [[2] * 50, [3] * 50]
    with pytest.raises(MlflowException, match=r"Can not safely convert int64 to float64"):
        _serve_json(saved_model, {"dataframe_split": {"columns": columns, "data": data}})


# --- which files a served model reads ------------------------------------------------------------------------


def test_in_process_a_model_reads_paths_as_given_and_served_only_under_the_serving_root(model, speaker, tmp_path,
                                                                                       monkeypatch):
    from registry.request import SERVING_ENVIRONMENT, SERVING_ROOT, readable_path

    request = speaker["request"]
    wav = request["audio_path"].iloc[0]
    assert readable_path(wav, 0, "audio_path") == wav  # loaded in-process: as today
    monkeypatch.setenv(SERVING_ENVIRONMENT, "true")  # what mlflow models serve sets in its process
    monkeypatch.delenv(SERVING_ROOT, raising=False)
    with pytest.raises(InputError, match=r"row 0, column 'audio_path': this server reads no files .*audio_base64"):
        model.predict(None, request)
    root = Path(wav).parents[1]  # the dialog folders of the session's wavs
    monkeypatch.setenv(SERVING_ROOT, str(root))
    assert len(model.predict(None, request)) == len(request)  # every file is under the root
    relative = request.assign(audio_path=[str(Path(p).relative_to(root)) for p in request["audio_path"]])
    assert len(model.predict(None, relative)) == len(request)  # a relative path is taken from the root
    outside = tmp_path / "outside.wav"
    outside.write_bytes(Path(wav).read_bytes())
    link = root / "link.wav"
    link.symlink_to(outside)
    try:
        messages = []
        for path in (str(outside), str(tmp_path / "missing.wav"), str(root / ".." / ".." / "x.wav"), str(link)):
            with pytest.raises(InputError) as refused:
                readable_path(path, 2, "audio_path")
            messages.append(str(refused.value).replace(repr(path), "PATH"))
        # one refusal for a file that exists, one that does not, a way out by "..", and a link out of the root:
        # the message does not tell them apart
        assert len(set(messages)) == 1 and "only under the folder its operator named" in messages[0]
    finally:
        link.unlink()
    with pytest.raises(InputError, match=r"row 0, column 'features_path': this server reads files only under"):
        readable_path("/etc/hostname", 0, "features_path")
