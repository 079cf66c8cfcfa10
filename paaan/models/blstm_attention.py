"""The BLSTM-attention baselines of Table I: Audio, Text and A+T (paper III-A).

Each modality gets one BLSTM-attention block: a BLSTM over its time steps (40 ms LLD steps or words) and a
self-attention that scores every step from that step's own state only,

    e_t = act(score(tanh(W h_t + b))),   alpha = softmax_t(e) over the valid steps,   C = sum_t alpha_t h_t.

W has ``config.prelayer`` (16) rows, so tanh(W h_t + b) is exactly PAaAN's pre-layer g_m,t (eq. 1), and
act(score(.)) is PAaAN's score with the same ``config.attention_score`` ("fc": score = v^T . + c, with
the activation, default tanh, "linear" giving the plain e_t = v^T tanh(W h_t + b) + c; "mlp": a hidden tanh
layer first and no activation after). So A+T is PAaAN's attention with each modality blind to the other one and to the
personality. Audio / Text use one block, A+T two with [C_A, C_T] concatenated; then the classifier
head shared with PAaAN (fusion per ``config.fusion``, a 256-node ReLU layer, 4 outputs).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from paaan.config import ModelConfig
from paaan.models.batch import Batch, ModelOutput
from paaan.models.layers import (BLSTM, ClassifierHead, EmotionModel, attention_context, attention_scorer, blstm_units,
                                 length_mask, masked_softmax, score_activation)


class BLSTMAttention(nn.Module):
    """One modality: BLSTM then self-attention. (B, T, F) -> context (B, 2H) and weights (B, T)."""

    def __init__(self, input_size: int, hidden: int, attention_size: int, attention_activation: str = "tanh",
                 attention_score: str = "fc", attention_hidden: int = 16):
        super().__init__()
        self.blstm = BLSTM(input_size, hidden)
        self.W = nn.Linear(2 * hidden, attention_size)  # the pre-layer tanh(W h_t + b)
        self.v = attention_scorer(attention_size, attention_score, attention_hidden)  # the score (fc: v^T . + c)
        # the activation belongs to the fc score; the mlp score's nonlinearity is its hidden layer (paaan.py)
        self.score_activation = score_activation(attention_activation if attention_score == "fc" else "linear")

    @property
    def output_size(self) -> int:
        return self.blstm.output_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blstm(x, lengths)  # (B, T, 2H)
        e = self.score_activation(self.v(torch.tanh(self.W(h)))).squeeze(-1)  # (B, T)
        alpha = masked_softmax(e, length_mask(lengths, x.shape[1]))  # (B, T)
        return attention_context(alpha, h), alpha  # (B, 2H), (B, T)


class BLSTMAttentionClassifier(EmotionModel):
    """Audio, Text or A+T: one BLSTM-attention block per used modality, contexts concatenated, shared head."""

    def __init__(self, config: ModelConfig, *, use_audio: bool, use_text: bool, audio_dim: int = 45,
                 word_dim: int = 300, attention_activation: str = "tanh", outputs: int = 4):
        super().__init__()
        if not (use_audio or use_text):
            raise ValueError("a BLSTM-attention classifier needs audio, text or both")
        # Under fusion "split" each block has fusion_size / 4 units per direction, for A+T and for the unimodal
        # baselines alike ("the same structure for each modality-specific BLSTM", III-A).
        hidden = blstm_units(config)
        block = dict(hidden=hidden, attention_size=config.prelayer, attention_activation=attention_activation,
                     attention_score=getattr(config, "attention_score", "fc"),
                     attention_hidden=getattr(config, "attention_hidden", 16))
        self.audio = BLSTMAttention(audio_dim, **block) if use_audio else None
        self.text = BLSTMAttention(word_dim, **block) if use_text else None
        width = sum(block.output_size for block in (self.audio, self.text) if block is not None)
        self.head = ClassifierHead(width, config, outputs)

    def forward(self, batch: Batch) -> ModelOutput:
        contexts, alpha_audio, alpha_text = [], None, None
        if self.audio is not None:
            C_A, alpha_audio = self.audio(batch.audio, batch.audio_lengths)  # (B, 2H), (B, T_A)
            contexts.append(C_A)
        if self.text is not None:
            C_T, alpha_text = self.text(batch.words, batch.word_lengths)  # (B, 2H), (B, T_W)
            contexts.append(C_T)
        fused = torch.cat(contexts, dim=1)  # (B, 2H) or (B, 4H): [C_A, C_T]
        return ModelOutput(self.head(fused), alpha_audio, alpha_text, fused)
