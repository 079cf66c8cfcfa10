"""The served model: a pyfunc that predicts emotions from audio and transcripts.

``predict`` takes a pandas DataFrame, one row per utterance (through ``mlflow models serve``: the same frame
as JSON, ``{"dataframe_split": {"columns": [...], "data": [...]}}`` or ``{"dataframe_records": [...]}``):

- ``speaker`` and ``transcript`` (strings); optional ``utterance_id``; for PAaAN_oracle the five Big-Five
  columns;
- the audio, in exactly one of two columns per row (a frame may hold both; an empty cell is null, NaN or ""):
  ``audio_path``, a sound file the model may read (``registry.request``: served over REST, only under the
  folder in ``PAAAN_SERVING_ROOT``), or ``audio_base64``, the bytes of a WAV or FLAC file in standard base64
  (RFC 4648 alphabet, ``=`` padding, no line breaks: ``base64 -w0``), read from memory, never written to disk;
- optional ``word_starts`` and ``word_ends``: one value per TOKEN of the transcript as
  ``paaan.features.text.tokenize`` splits it (``"I can't"`` is ``I``, ``ca``, ``n't``), the seconds from the
  start of the audio where it starts and ends, NaN (JSON null) for a token without a timing (punctuation, a
  word the aligner skipped). Both lists or neither per row. With them, a model trained with
  ``time_alignment: aligned`` meets words and 40 ms audio steps as in training (``step_word`` built by
  featurize's own ``token_steps`` and ``step_to_word``); without them each modality meets the other's
  time-average, the fallback training used only for utterances without a forced alignment.

A model trained on one's own features (``--audio-features``, ``--functionals``; ``paaan.features.own``) reads
them instead of audio, in the layout featurize read, and its spec (``inputs``) and signature say which:
``features_path`` instead of the audio columns (a ``.npy`` file of float32 (T, dim) at the features' frame
rate, pooled to 40 ms steps and z-normalised over the speaker's rows exactly as in featurize), and
``functionals_path`` (float32 (dim,)) for a retrieval variant trained with ``--functionals``; a retrieval
variant trained with openSMILE's functionals still needs the row's audio for them. A column the model does
not read is an error naming the column and what the model reads (``registry.request.ModelInputs``).

It returns one row per utterance: ``utterance_id``, ``speaker``, ``emotion`` and the four class
probabilities ``p_ang``, ``p_hap``, ``p_neu``, ``p_sad``; a model of the dimensional task (``spec["task"]``)
returns ``valence``, ``activation`` and ``dominance`` instead, on IEMOCAP's 1-5 scale, from the same requests. With ``params={"return_attention": True}`` it adds
``alpha_audio`` (one weight per 40 ms step), ``alpha_text`` (one per token) and ``tokens``. A bad request
raises ``RequestError`` (HTTP 400 from ``mlflow models serve``) naming the row and column
(``registry.request`` has every check and limit).

Everything travels inside the model (``registry.package``): the network weights and its config, the
openSMILE settings (the LLD config is derived again from the installed opensmile package), the word vectors
it needs, and the ``PersonalitySource`` it was trained with (the SHLA encoder, the SSPNet bank and k, or the
oracle's scaling). As in training, a speaker's z-normalisation and personality embedding come from that
speaker's own rows of the request, so every speaker needs at least ``MIN_UTTERANCES`` utterances in one
request (the more, the closer to training, which used all of them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch

from paaan.config import FeatureConfig, ModelConfig, Prev1Config, Prev2Config
from paaan.data.schema import DIMENSIONS, EMOTIONS, TRAITS
from paaan.tasks import get_task
from paaan.errors import FeatureError, InputError
from paaan.features.acoustic import N_LLD, speaker_stats, znormalise
from paaan.features.audio import load_audio
from paaan.features.own import FeatureSet, load_frames, load_functionals
from paaan.features.pipeline import audio_features, own_frame_features
from paaan.features.text import WordVectors, transcript_features
from paaan.models import build_model, make_batch
from paaan.personality import PersonalitySource
from paaan.variants import get_variant
from registry.request import (MAX_BATCH, MAX_UTTERANCE_SECONDS, ModelInputs, RequestError, RowAudio,
                              check_timings_within, feature_message, readable_path, request_audio, request_timings,
                              step_words, validate_request)


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
    """Loads the artifacts written by ``registry.package.log_pyfunc``; see the module docstring for the
    request format."""

    def load_context(self, context) -> None:
        art = context.artifacts
        spec = json.loads(Path(art["spec"]).read_text())
        vectors = np.load(art["vectors"], allow_pickle=False)
        self.configure(spec, torch.load(art["weights"], map_location="cpu", weights_only=True),
                       WordVectors(list(vectors["words"]), vectors["vectors"], source="model"),
                       PersonalitySource.load(art["personality"]))

    def configure(self, spec: dict, state_dict: dict | None, word_vectors,
                  personality: PersonalitySource | None = None) -> "PaaanModel":
        """Set the model up from its parts (what ``load_context`` reads from the artifacts): the spec, the
        network's weights (None keeps the freshly built network's seeded weights: tests), the word vectors and
        the personality source it was trained with (None: none)."""

        def tuples(d: dict) -> dict:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        self.spec = spec
        self.variant = get_variant(spec["variant"])
        self.task = get_task(spec.get("task", "categorical"))  # models logged before the task existed: categorical
        self.features = FeatureConfig(**spec["features"])
        self.inputs = ModelInputs.from_spec(spec, self.variant)
        self.model = build_model(self.variant, ModelConfig(**tuples(spec["model"])), word_dim=spec["word_dim"],
                                 audio_dim=int(spec.get("audio_dim", N_LLD)),
                                 prev1=Prev1Config(**tuples(spec["prev1"])), prev2=Prev2Config(**spec["prev2"]),
                                 outputs=self.task.outputs)
        if state_dict is not None:
            self.model.load_state_dict(state_dict)
        self.model.eval()
        self.word_vectors = word_vectors
        self.personality = personality or PersonalitySource()
        return self

    # --- features of the request ---
    def acoustic(self, frame: pd.DataFrame, audio: list[RowAudio], timings: list | None, with_lld: bool = True,
                  with_functionals: bool = True) -> list:
        """openSMILE on each row's audio (read from its path or from memory), after checking that the row's
        word timings (when given) end within it."""
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
                raise InputError(feature_message(i, row, exc)) from None
        return results

    def _own_frames(self, frame: pd.DataFrame, timings: list) -> list:
        """Each row's own frame-level features from ``features_path``, checked and pooled to 40 ms steps as
        featurize does, after checking that the row's word timings end within their span."""
        feature_set = FeatureSet.from_description(self.inputs.audio_features)
        results = []
        for i, path in enumerate(frame["features_path"]):
            path = readable_path(path, i, "features_path")
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
        feature_set = FeatureSet.from_description(self.inputs.functionals_features)
        out = []
        for i, path in enumerate(frame["functionals_path"]):
            path = readable_path(path, i, "functionals_path")
            try:
                out.append(load_functionals(path, feature_set))
            except FeatureError as exc:
                raise InputError(f"row {i}, column 'functionals_path': {exc}") from None
        return out

    def personality_rows(self, frame: pd.DataFrame, functionals: np.ndarray | None) -> np.ndarray:
        """(n_rows, 25) standardised embedding of each row's speaker, from the source the model was trained
        with: retrieved from the rows' functionals, or read from their true traits (zeros without one)."""
        traits = (frame.groupby("speaker")[list(TRAITS)].first().astype(float) if self.personality.needs_traits
                  else None)  # speaker x TRAITS
        return self.personality.embed(functionals, frame["speaker"].to_numpy(), traits)

    def request_features(self, model_input: pd.DataFrame) -> tuple[pd.DataFrame, RequestFeatures]:
        """Validate the request and compute what the network reads; InputError on a bad request."""
        inputs = self.inputs
        frame = validate_request(model_input, needs_traits=self.personality.needs_traits, inputs=inputs)
        texts = [transcript_features(t, self.word_vectors) for t in frame["transcript"]]
        tokens = [t.tokens for t in texts]
        timings = request_timings(frame, tokens)
        audio = request_audio(frame) if inputs.audio else None
        smile_functionals = inputs.functionals == "audio"
        if inputs.frames == "audio":
            acoustic = self.acoustic(frame, audio, timings, with_functionals=smile_functionals)
        else:
            acoustic = self._own_frames(frame, timings)
            if smile_functionals:
                for own, smile in zip(acoustic, self.acoustic(frame, audio, None, with_lld=False)):
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
        personality = self.personality_rows(frame, functionals)
        words = [t.embeddings if len(t.tokens) else np.zeros((1, self.word_vectors.dim), np.float32) for t in texts]
        step_word = [step_words(timing, len(s)) for timing, s in zip(timings, steps)]
        return frame, RequestFeatures(steps, words, step_word, personality, tokens, [t is not None for t in timings])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        try:
            return self._predict(model_input, params)
        except InputError as exc:
            raise RequestError(str(exc)) from None

    def _predict(self, model_input: pd.DataFrame, params: dict | None) -> pd.DataFrame:
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
                probs.append(out.logits.numpy() if self.task.regression else torch.softmax(out.logits, dim=1).numpy())
                for j in range(len(rows)):
                    n_a, n_w = int(batch.audio_lengths[j]), int(batch.word_lengths[j])
                    alpha_a.append(out.alpha_audio[j, :n_a].tolist() if out.alpha_audio is not None else [])
                    alpha_t.append(out.alpha_text[j, :n_w].tolist() if out.alpha_text is not None else [])
        p = np.concatenate(probs)
        if self.task.regression:  # the network predicts rating - center (paaan.tasks)
            result = pd.DataFrame({"utterance_id": frame["utterance_id"], "speaker": frame["speaker"],
                                   **{d: np.clip(p[:, i] + self.task.center, 1.0, 5.0).astype(float)  # the scale's range
                                      for i, d in enumerate(DIMENSIONS)}})
        else:
            result = pd.DataFrame({"utterance_id": frame["utterance_id"], "speaker": frame["speaker"],
                                   "emotion": [EMOTIONS[i] for i in p.argmax(1)],
                                   **{f"p_{e}": p[:, i].astype(float) for i, e in enumerate(EMOTIONS)}})
        if params.get("return_attention"):
            result["alpha_audio"] = alpha_a
            result["alpha_text"] = alpha_t
            result["tokens"] = features.tokens
        return result
