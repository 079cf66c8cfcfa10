"""PAaAN, the Personal Attribute-Aware Attention Network (paper II-C3, eq. 1-3), and its ablations IA+T, P-D, P-T.

BLSTM-A reads the 40 ms LLD steps, BLSTM-T the word vectors. A 16-node tanh pre-layer condenses each state,

    g_m,t = tanh(W_m h_m,t + b_m),  m in {A, T}                                     (eq. 1)
    g_P   = tanh(W_P p + b_P)       from the 25-d personality embedding p, the same at every step,

and each modality's attention is scored from the concatenation of all three (eq. 2), through a fully
connected layer to one value (with its activation, see below), normalised over time by a softmax (eq. 3):

    score_A,t = act(FC_A([g_T(t), g_A,t, g_P])),   alpha_A = softmax over the valid audio steps
    score_T,w = act(FC_T([g_T,w, g_A(w), g_P])),   alpha_T = softmax over the valid words
    C_A = sum_t alpha_A,t h_A,t,   C_T = sum_w alpha_T,w h_T,w,   then the shared classifier head on [C_A, C_T].

Eq. 2 writes g_T,t and g_A,t at one shared t, but audio steps (40 ms) and words run on different clocks; the
paper does not say how they meet. ``config.time_alignment`` picks:

- "aligned": g_T(t) is the pre-layer of the word audio step t falls in (``batch.step_word``, from the forced
  alignment), g_A(w) the mean of g_A over the steps inside word w; where there is none (a step in silence,
  an unknown alignment, a word without steps) the other modality's masked time-average stands in.
- "mean": always the other modality's masked time-average (no alignment needed).

What the personality can do to the attention (``attention_score``; ``attention_activation``).

- g_P is the same at every step. Write the "fc" score (eq. 3: one fully connected layer to a scalar) of one
  utterance as act(u_t + c) with u_t = w_T g_T(t) + w_A g_A,t + b from the step and c = w_P g_P from the
  speaker. Through a linear act the softmax over time cancels c exactly: a literal eq. 3 ignores the
  personality ("linear" reproduces that; ``test_models`` checks it). Through a monotone act (tanh, relu) c
  cannot change the *order* of an utterance's steps either: u_s > u_t implies act(u_s + c) >= act(u_t + c)
  for every c, so the personality never decides which steps stand out (``test_models`` proves the ranking
  invariant for random weights and personalities). What c does change is how sharp the attention is: with
  tanh it slides every step of the speaker along the saturating curve (scores in [-1, 1], so one step weighs
  at most e^2 = 7.4 times another). A nonlinear head can read that sharpness back from the context vector, so
  the "fc" PAaAN can still use the personality, but only indirectly, and its attention maps then show how
  peaked the attention is for a speaker, not where that speaker's evidence lies.
- "mlp" is additive attention: score = v^T tanh(W [g_T(t), g_A,t, g_P] + b) + c, a hidden tanh layer
  (``attention_hidden`` units) before the scalar, and no activation after it (the hidden layer is the
  nonlinearity; an outer tanh would cap the sharpness at e^2 again). The personality then interacts with
  each step's state, and the steps' order can depend on who is speaking: a real re-ranking
  (``test_models`` shows the invariance breaks; in its toy task, where the emotion sits in the segment a
  trait's sign chooses, both scores reach high accuracy, the "fc" one through sharpness, and the "mlp"
  attention lands on the carrier segment for either sign). Not in the paper: the variants table's "+" rows
  use it, each against IA+T+ (the same network and score without g_P), so that capacity is not mistaken
  for personality.
- ``attention_activation`` (of the "fc" score only): "tanh" (default, the common Keras attention of the time:
  Dense(1, tanh), then a softmax over time); "relu" follows III-A's "the other layers use relu" literally (w_P g_P becomes a
  speaker-specific threshold below which steps fall to a common score 0), but at initialisation every score
  of an utterance can be <= 0: the attention is then uniform and its layer receives no gradient at all (seen
  with small random networks), so it is not the default; "linear" (eq. 3 read literally, personality-blind)
  is kept for ablation. The BLSTM-attention baselines use the same activation and score, so A+T vs IA+T vs
  PAaAN differ only in the score's inputs.

Where the personality enters (``Variant.integration``, Table I):
"attention" (PAaAN_PP / _NA / _oracle) as g_P above; "none" (IA+T) the same network without g_P (FC_A and
FC_T read [g_T, g_A] only); "decision" (P-D) IA+T whose head reads [C_A, C_T, p]; "input" (P-T) IA+T with p
appended to every input step of both BLSTMs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from paaan.config import ModelConfig
from paaan.models.batch import Batch, ModelOutput
from paaan.models.layers import (BLSTM, ClassifierHead, EmotionModel, attention_context, attention_scorer, blstm_units,
                                 length_mask, masked_mean, masked_softmax, score_activation)

TIME_ALIGNMENTS = ("aligned", "mean")
INTEGRATIONS = ("none", "attention", "decision", "input")


# --------------------------------------------------------------------------------------------------------------
# how the two clocks meet (pure functions, vectorised over the batch)


def valid_step_words(step_word: torch.Tensor, audio_mask: torch.Tensor, word_lengths: torch.Tensor) -> torch.Tensor:
    """(B, T_A) bool: the audio steps that are real and lie in a real word of their utterance."""
    return audio_mask & (step_word >= 0) & (step_word < word_lengths[:, None])


def word_at_steps(g_T: torch.Tensor, step_word: torch.Tensor, valid: torch.Tensor,
                  fallback: torch.Tensor) -> torch.Tensor:
    """g_T(t): for each audio step, the word-level vector of the word it falls in.

    g_T: (B, T_W, P); step_word: (B, T_A); valid: (B, T_A) from ``valid_step_words``;
    fallback: (B, P), used where a step has no valid word. Returns (B, T_A, P).
    """
    P = g_T.shape[-1]
    index = step_word.clamp(min=0).unsqueeze(-1).expand(-1, -1, P)  # (B, T_A, P)
    gathered = torch.gather(g_T, 1, index)  # (B, T_A, P)
    return torch.where(valid.unsqueeze(-1), gathered, fallback.unsqueeze(1))


def steps_at_words(g_A: torch.Tensor, step_word: torch.Tensor, valid: torch.Tensor, n_words: int,
                   fallback: torch.Tensor) -> torch.Tensor:
    """g_A(w): for each word, the mean of the step-level vectors of the audio steps inside it.

    g_A: (B, T_A, P); step_word, valid: (B, T_A); fallback: (B, P), used for words no valid step falls in.
    Returns (B, n_words, P).
    """
    B, _, P = g_A.shape
    index = step_word.clamp(min=0)  # (B, T_A); invalid steps add zeros below, so their index does not matter
    weight = valid.to(g_A.dtype)  # (B, T_A)
    spread = index.unsqueeze(-1).expand(-1, -1, P)  # (B, T_A, P)
    sums = g_A.new_zeros(B, n_words, P).scatter_add(1, spread, g_A * weight.unsqueeze(-1))  # (B, T_W, P)
    counts = g_A.new_zeros(B, n_words).scatter_add(1, index, weight)  # (B, T_W)
    means = sums / counts.clamp(min=1.0).unsqueeze(-1)  # (B, T_W, P)
    return torch.where((counts > 0).unsqueeze(-1), means, fallback.unsqueeze(1))


# --------------------------------------------------------------------------------------------------------------
# the network


class PAaAN(EmotionModel):
    def __init__(self, config: ModelConfig, *, integration: str = "attention", audio_dim: int = 45,
                 word_dim: int = 300, personality_dim: int = 25, attention_activation: str = "tanh",
                 outputs: int = 4):
        super().__init__()
        if integration not in INTEGRATIONS:
            raise ValueError(f"unknown integration {integration!r}; known: {', '.join(INTEGRATIONS)}")
        if config.time_alignment not in TIME_ALIGNMENTS:
            raise ValueError(f"unknown time_alignment {config.time_alignment!r}; known: {', '.join(TIME_ALIGNMENTS)}")
        self.integration = integration
        self.time_alignment = config.time_alignment
        kind = getattr(config, "attention_score", "fc")
        # eq. 3's activation acts on the fc score; the mlp score's nonlinearity is its hidden layer
        self.score_activation = score_activation(attention_activation if kind == "fc" else "linear")
        H, P = blstm_units(config), config.prelayer
        extra_in = personality_dim if integration == "input" else 0  # P-T: p appended to every input step
        self.blstm_a = BLSTM(audio_dim + extra_in, H)
        self.blstm_t = BLSTM(word_dim + extra_in, H)
        self.pre_a = nn.Linear(2 * H, P)  # eq. 1, m = A
        self.pre_t = nn.Linear(2 * H, P)  # eq. 1, m = T
        self.pre_p = nn.Linear(personality_dim, P) if integration == "attention" else None  # g_P
        n_g = 3 if integration == "attention" else 2  # eq. 2: [g_T, g_A, g_P], or [g_T, g_A] without g_P
        score = dict(kind=kind, hidden=getattr(config, "attention_hidden", 16))
        self.fc_a = attention_scorer(n_g * P, **score)  # audio attention score (eq. 3's FC layer, or the mlp)
        self.fc_t = attention_scorer(n_g * P, **score)  # text attention score
        extra_head = personality_dim if integration == "decision" else 0  # P-D: [C_A, C_T, p]
        self.head = ClassifierHead(4 * H + extra_head, config, outputs)  # 4 classes or 3 ratings

    def forward(self, batch: Batch) -> ModelOutput:
        audio, words, p = batch.audio, batch.words, batch.personality  # (B, T_A, F), (B, T_W, D), (B, 25)
        T_A, T_W = audio.shape[1], words.shape[1]
        if self.integration == "input":
            audio = torch.cat([audio, p.unsqueeze(1).expand(-1, T_A, -1)], dim=-1)  # (B, T_A, F + 25)
            words = torch.cat([words, p.unsqueeze(1).expand(-1, T_W, -1)], dim=-1)  # (B, T_W, D + 25)
        mask_a = length_mask(batch.audio_lengths, T_A)  # (B, T_A)
        mask_t = length_mask(batch.word_lengths, T_W)  # (B, T_W)

        h_a = self.blstm_a(audio, batch.audio_lengths)  # (B, T_A, 2H)
        h_t = self.blstm_t(words, batch.word_lengths)  # (B, T_W, 2H)
        g_a = torch.tanh(self.pre_a(h_a))  # (B, T_A, P)  eq. 1
        g_t = torch.tanh(self.pre_t(h_t))  # (B, T_W, P)  eq. 1

        # The other modality at each step of this one.
        mean_a, mean_t = masked_mean(g_a, mask_a), masked_mean(g_t, mask_t)  # (B, P) each
        if self.time_alignment == "aligned":
            valid = valid_step_words(batch.step_word, mask_a, batch.word_lengths)  # (B, T_A)
            g_t_at_a = word_at_steps(g_t, batch.step_word, valid, mean_t)  # (B, T_A, P)
            g_a_at_t = steps_at_words(g_a, batch.step_word, valid, T_W, mean_a)  # (B, T_W, P)
        else:
            g_t_at_a = mean_t.unsqueeze(1).expand(-1, T_A, -1)  # (B, T_A, P)
            g_a_at_t = mean_a.unsqueeze(1).expand(-1, T_W, -1)  # (B, T_W, P)

        gc_a = [g_t_at_a, g_a]  # eq. 2, for the audio attention
        gc_t = [g_t, g_a_at_t]  # eq. 2, for the text attention
        if self.pre_p is not None:
            g_p = torch.tanh(self.pre_p(p))  # (B, P), constant over time
            gc_a.append(g_p.unsqueeze(1).expand(-1, T_A, -1))
            gc_t.append(g_p.unsqueeze(1).expand(-1, T_W, -1))
        act = self.score_activation
        score_a = act(self.fc_a(torch.cat(gc_a, dim=-1))).squeeze(-1)  # (B, T_A)
        score_t = act(self.fc_t(torch.cat(gc_t, dim=-1))).squeeze(-1)  # (B, T_W)
        alpha_a = masked_softmax(score_a, mask_a)  # (B, T_A)  eq. 3
        alpha_t = masked_softmax(score_t, mask_t)  # (B, T_W)  eq. 3

        C_a = attention_context(alpha_a, h_a)  # (B, 2H)
        C_t = attention_context(alpha_t, h_t)  # (B, 2H)
        fused = [C_a, C_t] + ([p] if self.integration == "decision" else [])
        fused = torch.cat(fused, dim=1)  # (B, 4H) or (B, 4H + 25)
        return ModelOutput(self.head(fused), alpha_a, alpha_t, fused)
