"""The served model: a pyfunc that predicts emotions from wav files and transcripts.

``predict`` takes a pandas DataFrame with columns ``speaker``, ``audio_path`` (a wav file) and
``transcript`` (optional ``utterance_id``; for PAaAN_oracle also the five Big-Five columns) and returns
one row per utterance: ``emotion`` and the four class probabilities ``p_ang``, ``p_hap``, ``p_neu``,
``p_sad``. With ``params={"return_attention": True}`` it adds ``alpha_audio`` (one weight per 40 ms step)
and ``alpha_text`` (one per token) and ``tokens``.

Everything travels inside the model: the network weights and its config, the openSMILE settings (the
LLD config is derived again from the installed opensmile package), the word vectors it needs, the
SHLA encoder and the SSPNet bank (latents or pooled-standardised functionals, and scores) with k, and the
statistics that scale the personality embedding. As in training, a speaker's z-normalisation and
personality embedding come from that speaker's own rows of the request, so every speaker needs at least
``MIN_UTTERANCES`` utterances in one request. No forced alignment exists for new audio, so words and audio
steps meet through the other modality's time-average (the ``time_alignment`` fallback).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
import numpy as np
import pandas as pd

from paaan.data.schema import EMOTIONS, TRAITS
from paaan.errors import FeatureError, InputError

MIN_UTTERANCES = 3  # per speaker per request: z-normalisation and retrieval need several utterances
REQUIRED = ("speaker", "audio_path", "transcript")
MAX_BATCH = 32


def _package_dir(name: str) -> str:
    import importlib

    return str(Path(importlib.import_module(name).__file__).resolve().parent)


# --- request validation --------------------------------------------------------------------------------


def validate_request(frame: pd.DataFrame, needs_traits: bool = False) -> pd.DataFrame:
    """Check the request; InputError naming the column (and row) on any problem."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame with columns {list(REQUIRED)}, got {type(frame).__name__}")
    if frame.empty:
        raise InputError("the request has no rows")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; a request needs {list(REQUIRED)} (optional: utterance_id)")
    frame = frame.reset_index(drop=True).copy()
    for column in REQUIRED + (("utterance_id",) if "utterance_id" in frame.columns else ()):
        bad = [i for i, v in enumerate(frame[column]) if not isinstance(v, str)]
        if bad:
            raise InputError(f"column {column!r}, row {bad[0]}: expected a string, got "
                             f"{type(frame[column].iloc[bad[0]]).__name__} ({frame[column].iloc[bad[0]]!r})")
    empty = [i for i, v in enumerate(frame["speaker"]) if not v.strip()]
    if empty:
        raise InputError(f"column 'speaker', row {empty[0]}: empty speaker id")
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


# --- the model -----------------------------------------------------------------------------------------


class RequestError(InputError, MlflowException):
    """A bad request: still an InputError for Python callers, and an MlflowException for ``mlflow models
    serve``, which answers an MlflowException with its own message (HTTP 400) but anything else with
    "unexpected error" and a stack trace (the server's file paths, and the message buried in it)."""

    def __init__(self, message: str):
        MlflowException.__init__(self, message, error_code=INVALID_PARAMETER_VALUE)


class PaaanModel(mlflow.pyfunc.PythonModel):
    """Loads the artifacts written by ``log_pyfunc``; see the module docstring for the request format."""

    def load_context(self, context) -> None:
        import torch

        from paaan.config import FeatureConfig, ModelConfig, Prev1Config, Prev2Config
        from paaan.features.text import WordVectors
        from paaan.models import build_model
        from paaan.variants import get_variant

        art = context.artifacts
        self.spec = json.loads(Path(art["spec"]).read_text())
        self.variant = get_variant(self.spec["variant"])
        self.features = FeatureConfig(**self.spec["features"])
        model_config = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in self.spec["model"].items()})
        self.model = build_model(self.variant, model_config, word_dim=self.spec["word_dim"],
                                 prev1=Prev1Config(**{k: tuple(v) if isinstance(v, list) else v
                                                      for k, v in self.spec["prev1"].items()}),
                                 prev2=Prev2Config(**self.spec["prev2"]))
        self.model.load_state_dict(torch.load(art["weights"], map_location="cpu", weights_only=True))
        self.model.eval()
        vectors = np.load(art["vectors"], allow_pickle=False)
        self.word_vectors = WordVectors(list(vectors["words"]), vectors["vectors"], source="model")
        self.bank = None
        if self.variant.uses_retrieval:
            bank = np.load(art["bank"], allow_pickle=False)
            self.bank = {name: bank[name] for name in bank.files}
            self.shla = None
            if self.variant.personality == "PP":
                from paaan.shla import SHLA

                self.shla = SHLA.load(art["shla"])

    # --- features of the request ---
    def _acoustic(self, frame: pd.DataFrame):
        from paaan.features.pipeline import acoustic_features

        results = []
        for i, row in frame.iterrows():
            path = Path(row["audio_path"])
            if not path.is_file():
                raise InputError(f"row {i}, column 'audio_path': {path} is not a readable file")
            try:
                results.append(acoustic_features(str(path), self.features, with_lld=True))
            except FeatureError as exc:
                raise InputError(f"row {i}, column 'audio_path': {exc}") from None
        return results

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

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        try:
            return self._predict(model_input, params)
        except InputError as exc:
            raise RequestError(str(exc)) from None

    def _predict(self, model_input: pd.DataFrame, params: dict | None) -> pd.DataFrame:
        import torch

        from paaan.features.acoustic import speaker_stats, znormalise
        from paaan.features.text import transcript_features
        from paaan.models import make_batch

        params = params or {}
        frame = validate_request(model_input, needs_traits=self.variant.personality == "oracle")
        acoustic = self._acoustic(frame)
        steps = [None] * len(frame)
        for speaker, rows in frame.groupby("speaker").indices.items():
            mean, std = speaker_stats([acoustic[i].moments for i in rows])
            for i in rows:
                steps[i] = znormalise(acoustic[i].steps, mean, std)
        functionals = np.stack([a.functionals for a in acoustic]).astype(np.float64)
        personality = self._personality(frame, functionals)
        texts = [transcript_features(t, self.word_vectors) for t in frame["transcript"]]
        words = [torch.from_numpy(t.embeddings) if len(t.tokens) else torch.zeros(1, self.word_vectors.dim)
                 for t in texts]
        probs, alpha_a, alpha_t = [], [], []
        with torch.no_grad():
            for start in range(0, len(frame), MAX_BATCH):
                rows = range(start, min(start + MAX_BATCH, len(frame)))
                batch = make_batch([torch.from_numpy(steps[i]) for i in rows], [words[i] for i in rows],
                                   personality=torch.from_numpy(personality[list(rows)]))
                out = self.model(batch)
                probs.append(torch.softmax(out.logits, dim=1).numpy())
                for j, i in enumerate(rows):
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
            result["tokens"] = [t.tokens for t in texts]
        return result


# --- logging -------------------------------------------------------------------------------------------


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", "speaker"), ColSpec("string", "audio_path"), ColSpec("string", "transcript"),
                     ColSpec("string", "utterance_id", required=False)]
                    + [ColSpec("double", t, required=False) for t in TRAITS])
    outputs = Schema([ColSpec("string", "utterance_id"), ColSpec("string", "speaker"), ColSpec("string", "emotion")]
                     + [ColSpec("double", f"p_{e}") for e in EMOTIONS])
    params = ParamSchema([ParamSpec("return_attention", "boolean", False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


INPUT_EXAMPLE = pd.DataFrame({
    "speaker": ["spk1"] * MIN_UTTERANCES,
    "audio_path": [f"/path/to/spk1_utterance{i}.wav" for i in range(1, MIN_UTTERANCES + 1)],
    "transcript": ["I can't believe you did that!", "Okay, fine.", "That is wonderful news."],
    "utterance_id": [f"spk1_{i}" for i in range(1, MIN_UTTERANCES + 1)],
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
    from experiments.retrieve import retrieval_space
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
        # The word vectors travel in vectors.npz; the GloVe file is named, never located (no local paths).
        features = profile.features.__dict__ | {"glove": Path(str(profile.features.glove)).name}
        spec = {"variant": variant.name, "k": k, "features": features,
                "model": profile.model.__dict__, "prev1": profile.prev1.__dict__, "prev2": profile.prev2.__dict__,
                "word_dim": store.word_dim, "emotions": list(EMOTIONS), "min_utterances": MIN_UTTERANCES,
                "personality_mean": stats["mean"],
                "personality_std": [max(float(s), STD_FLOOR) for s in stats["std"]],
                "embedding_columns": list(EMBEDDING_COLUMNS), "featurize_run": upstream.featurize}
        if variant.uses_retrieval:
            queries, bank = retrieval_space(store, variant.personality, upstream.shla)
            arrays = {"features": bank.astype(np.float64),
                      "scores": store.clips[list(TRAITS)].to_numpy(np.float64)}
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
        info = mlflow.pyfunc.log_model(
            name=name, python_model=PaaanModel(), artifacts=artifacts, signature=signature(),
            input_example=INPUT_EXAMPLE, code_paths=[_package_dir("paaan"), _package_dir("registry")],
            pip_requirements=pip_requirements())
    return info.model_uri
