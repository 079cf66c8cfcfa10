"""The models of Table I, one file per family, built from a row of ``paaan.variants`` by ``build_model``.

- ``blstm_attention``: Audio, Text, A+T (BLSTM + self-attention baselines, III-A)
- ``paaan``: PAaAN (II-C3, eq. 1-3) and its ablations IA+T, P-D, P-T
- ``prev1``: Cho et al. 2018 (LSTM audio + multi-resolution CNN text, verification loss)
- ``prev2``: Yoon et al. 2018, MDRE (dual GRU encoders with prosody)

Every model reads a ``Batch`` and returns a ``ModelOutput``; ``model.loss(output, labels)`` is its training loss.
"""

from __future__ import annotations

import dataclasses

import torch

from paaan.config import ModelConfig
from paaan.models.batch import NO_WORD, Batch, ModelOutput, make_batch
from paaan.models.blstm_attention import BLSTMAttentionClassifier
from paaan.models.layers import EmotionModel, blstm_units
from paaan.models.paaan import PAaAN
from paaan.models.prev1 import Prev1, Prev1Config, embedding_loss
from paaan.models.prev2 import Prev2, Prev2Config, prosodic_statistics
from paaan.variants import Variant

__all__ = [
    "NO_WORD", "Batch", "ModelOutput", "make_batch", "EmotionModel", "build_model", "n_parameters", "blstm_units",
    "BLSTMAttentionClassifier", "PAaAN", "Prev1", "Prev1Config", "Prev2", "Prev2Config", "embedding_loss",
    "prosodic_statistics",
]


def build_model(
    variant: Variant,
    config: ModelConfig,
    *,
    audio_dim: int = 45,
    word_dim: int,
    personality_dim: int = 25,
    prev1: Prev1Config | None = None,
    prev2: Prev2Config | None = None,
    seed: int | None = None,
    outputs: int = 4,
) -> EmotionModel:
    """The network of one Table I variant, with freshly initialised weights.

    ``config`` sizes the BLSTM-attention and PAaAN families; Prev1/Prev2 keep their own papers' sizes
    (``prev1`` / ``prev2``, defaults documented in their files). ``seed``: initialise the weights from this
    seed without touching torch's global random state (None: draw from the global state).
    ``outputs``: the head's width, 4 classes or the dimensional task's 3 ratings (``paaan.tasks``).
    """
    if variant.attention_score:  # the row pins its attention score (the "+" rows: mlp)
        config = dataclasses.replace(config, attention_score=variant.attention_score)
    if seed is None:
        return _build(variant, config, audio_dim, word_dim, personality_dim, prev1, prev2, outputs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(variant, config, audio_dim, word_dim, personality_dim, prev1, prev2, outputs)


def _build(variant, config, audio_dim, word_dim, personality_dim, prev1, prev2, outputs) -> EmotionModel:
    family = variant.family
    needs_both = family != "blstm_attention"
    if needs_both and variant.modalities != "audio+text":
        raise ValueError(f"variant {variant.name}: family {family} needs audio+text, got {variant.modalities}")
    if family != "paaan" and variant.integration != "none":
        raise ValueError(f"variant {variant.name}: family {family} has no personality integration "
                         f"({variant.integration!r})")
    # The attention score's activation (see paaan.models.paaan); ModelConfig may not carry it: tanh then.
    activation = getattr(config, "attention_activation", "tanh")
    if family == "blstm_attention":
        return BLSTMAttentionClassifier(config, use_audio=variant.uses_audio, use_text=variant.uses_text,
                                        audio_dim=audio_dim, word_dim=word_dim, attention_activation=activation,
                                        outputs=outputs)
    if family == "paaan":
        return PAaAN(config, integration=variant.integration, audio_dim=audio_dim, word_dim=word_dim,
                     personality_dim=personality_dim, attention_activation=activation, outputs=outputs)
    if family == "prev1":
        return Prev1(prev1 or Prev1Config(), audio_dim=audio_dim, word_dim=word_dim, outputs=outputs)
    if family == "prev2":
        return Prev2(prev2 or Prev2Config(), audio_dim=audio_dim, word_dim=word_dim, outputs=outputs)
    raise ValueError(f"variant {variant.name}: unknown model family {family!r}")


def n_parameters(model: torch.nn.Module) -> int:
    """The number of trainable weights."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
