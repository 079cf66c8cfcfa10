"""Packaging a trained network as a registered-model pyfunc: its signature, a working example request, its
requirements, and ``log_pyfunc``, which writes the artifacts ``registry.pyfunc.PaaanModel`` loads.

Callers pass what the model is made of (the training result with its personality source, the feature store
it was trained on): this room imports only the library and the served model, never the steps that made them.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import tempfile
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import soundfile as sf
import torch
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

from paaan.data.schema import DIMENSIONS, EMOTIONS, TRAITS
from paaan.tasks import get_task
from paaan.features.store import FeatureStore
from paaan.personality import PersonalitySource
from registry.pyfunc import PaaanModel
from registry.request import AUDIO_INPUTS, MIN_UTTERANCES, ModelInputs


def package_dir(name: str) -> str:
    """The folder of an installed package (shipped with the model as its code)."""
    return str(Path(importlib.import_module(name).__file__).resolve().parent)


def signature(model_inputs: ModelInputs = AUDIO_INPUTS, task: str = "categorical"):
    """The model's MLflow signature: the audio columns (optional: exactly one per row is checked in ``predict``)
    for a model that reads audio, and ``features_path`` / ``functionals_path`` (required) for one trained on
    its own features. Outputs: the emotion and its four probabilities, or (dimensional task) ``valence``,
    ``activation``, ``dominance`` on IEMOCAP's 1-5 scale; the same requests either way."""
    acoustic = ([ColSpec("string", "audio_path", required=False), ColSpec("string", "audio_base64", required=False)]
                if model_inputs.audio else [])
    acoustic += [ColSpec("string", column) for column in model_inputs.file_columns]
    inputs = Schema([ColSpec("string", "speaker"), ColSpec("string", "transcript"), *acoustic,
                     ColSpec("string", "utterance_id", required=False),
                     ColSpec(Array("double"), "word_starts", required=False),
                     ColSpec(Array("double"), "word_ends", required=False)]
                    + [ColSpec("double", t, required=False) for t in TRAITS])
    if get_task(task).regression:
        outputs = Schema([ColSpec("string", "utterance_id"), ColSpec("string", "speaker")]
                         + [ColSpec("double", d) for d in DIMENSIONS])
    else:
        outputs = Schema([ColSpec("string", "utterance_id"), ColSpec("string", "speaker"), ColSpec("string", "emotion")]
                         + [ColSpec("double", f"p_{e}") for e in EMOTIONS])
    params = ParamSchema([ParamSpec("return_attention", "boolean", False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _example_wav(seconds: float, f0: float, sample_rate: int = 16000) -> str:
    """A short voiced-sounding tone (harmonics of ``f0`` under a syllable-like envelope), as base64 WAV text."""
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
    names = ["torch", "mlflow", "opensmile", "nltk", "pandas", "numpy", "scipy", "scikit-learn", "pyarrow",
             "soundfile", "textblob-aptagger"]
    return [f"{n}=={version(n)}" for n in names]


def log_pyfunc(result, variant, k: int | None, profile, store: FeatureStore, featurize_run: str,
               name: str = "model") -> str:
    """Log the trained network of ``result`` (a FoldResult of every utterance) as a pyfunc in the active run.

    ``store``: the feature store it was trained on (its word vectors and feature sets travel in the model);
    ``featurize_run``: the run that wrote it (recorded in the spec). The personality source the network was
    trained with (``result.personality``) is saved inside the model as it is.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        artifacts = {"spec": str(tmp / "spec.json"), "weights": str(tmp / "weights.pt"),
                     "vectors": str(tmp / "vectors.npz"), "personality": str(tmp / "personality")}
        torch.save(result.model.state_dict(), artifacts["weights"])
        np.savez(artifacts["vectors"], words=np.array(store.vocab["word"].tolist(), dtype=str),
                 vectors=np.asarray(store.vectors, dtype=np.float32))
        (result.personality or PersonalitySource().fit(store, [])).save(artifacts["personality"])
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
                "featurize_run": featurize_run, "task": profile.train.task}
        Path(artifacts["spec"]).write_text(json.dumps(spec, indent=1, default=list))
        # The example request carries audio; a model reading files of its own features has no portable example.
        example = INPUT_EXAMPLE if not inputs.file_columns else None
        info = mlflow.pyfunc.log_model(
            name=name, python_model=PaaanModel(), artifacts=artifacts, signature=signature(inputs, profile.train.task),
            input_example=example, code_paths=[package_dir("paaan"), package_dir("registry")],
            pip_requirements=pip_requirements())
    return info.model_uri

