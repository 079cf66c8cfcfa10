"""Pieces shared by the model families: masks, masked softmax and pooling, the packed BLSTM, the classifier head.

Every function here is small and pure so each has a unit test with numbers worked by hand.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from paaan.config import ModelConfig
from paaan.data.schema import EMOTIONS
from paaan.models.batch import ModelOutput

N_CLASSES = len(EMOTIONS)  # 4 (paper II-A1)
FUSIONS = ("projection", "split")
# The activation on an attention score before the softmax over time (see paaan.models.paaan for the choice).
SCORE_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda x: x}


ATTENTION_SCORES = ("fc", "mlp")


def score_activation(name: str):
    try:
        return SCORE_ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown score_activation {name!r}; known: {', '.join(SCORE_ACTIVATIONS)}") from None


def attention_scorer(in_features: int, kind: str = "fc", hidden: int = 16) -> nn.Module:
    """What turns a step's concatenated pre-layer vectors (..., in_features) into one score (..., 1).

    "fc": one fully connected layer (eq. 3); "mlp": a ``hidden``-unit tanh layer, then the fully connected layer
    to the score, so that the inputs interact before the score (see paaan.models.paaan for why that matters).
    """
    if kind == "fc":
        return nn.Linear(in_features, 1)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    raise ValueError(f"unknown attention_score {kind!r}; known: {', '.join(ATTENTION_SCORES)}")


# --------------------------------------------------------------------------------------------------------------
# masks and masked reductions


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool, True on the first lengths[b] steps."""
    steps = torch.arange(max_len, device=lengths.device)  # (T,)
    return steps[None, :] < lengths[:, None]  # (B, T)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over time of (B, T) scores, restricted to mask (paper eq. 3).

    Padding gets exactly 0 (exp(-inf) = 0); every row needs at least one valid step.
    """
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, C): the average over the valid steps only."""
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


def masked_std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, C): the population standard deviation (divide by n) over the valid steps.

    Divide by n, not n - 1, so a one-step utterance has std 0 rather than NaN.
    """
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    mean = masked_mean(x, mask).unsqueeze(1)  # (B, 1, C)
    var = (((x - mean) * m) ** 2).sum(1) / m.sum(1).clamp(min=1.0)
    return var.clamp(min=0.0).sqrt()


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, C): the maximum over the valid steps (temporal max-pooling)."""
    return x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


def attention_context(alpha: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """C = sum_t alpha_t h_t: (B, T) weights and (B, T, C) states -> (B, C) context vector (paper II-C3)."""
    return torch.bmm(alpha.unsqueeze(1), h).squeeze(1)


# --------------------------------------------------------------------------------------------------------------
# recurrent encoders on padded batches


def _pack(x: torch.Tensor, lengths: torch.Tensor):
    # Packed sequences: the recurrence never sees a padded step, so padding cannot change any state.
    return pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


def reverse_within_length(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) time index that reverses each row's first lengths[b] steps, padding kept.

    lengths [3, 1], max_len 3: [[2, 1, 0], [0, 1, 2]]. Its own inverse: gathering twice gives the input back.
    """
    steps = torch.arange(max_len, device=lengths.device)[None, :]  # (1, T)
    last = lengths[:, None] - 1  # (B, 1)
    return torch.where(steps <= last, last - steps, steps)  # (B, T)


def _one_direction(lstm: nn.LSTM, x: torch.Tensor, suffix: str) -> torch.Tensor:
    """A forward pass of one direction ("" or "_reverse") of a one-layer ``lstm`` over (B, T, F) -> (B, T, H)."""
    h0 = x.new_zeros(1, x.shape[0], lstm.hidden_size)
    weights = [getattr(lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    out, _, _ = torch.lstm(x, (h0, h0), weights, True, 1, 0.0, lstm.training, False, True)
    return out


class BLSTM(nn.Module):
    """One bidirectional LSTM layer over a padded batch: h_t = [fwd_t ; bwd_t] (paper II-C3), zeros on padding.

    Each direction reads only its utterance's own steps, as a packed sequence would. On the CPU it runs
    without packing: a packed batch whose lengths differ falls back to a step-by-step loop of small matrix
    products, 3.4x slower than the fused LSTM kernel (``benchmarks/bench_rnn.py``). So the forward direction
    runs on the padded batch as it is (a step's output depends only on earlier steps: padding at the end
    never reaches a real step), the backward direction on each utterance reversed within its length (the
    padding stays at the end), and the result is reversed back; padded steps are set to zero. Same weights,
    same outputs and gradients as the packed form up to float rounding. On a GPU, cuDNN runs packed
    sequences natively and the packed form is kept.
    """

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(input_size, hidden, batch_first=True, bidirectional=True)

    @property
    def output_size(self) -> int:
        return 2 * self.hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x: (B, T, F) -> (B, T, 2H)
        if x.device.type != "cpu":
            out, _ = self.lstm(_pack(x, lengths))
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return h
        lengths = lengths.to(x.device)
        T = x.shape[1]
        reverse = reverse_within_length(lengths, T)  # (B, T)
        forward = _one_direction(self.lstm, x, "")  # (B, T, H)
        x_reversed = torch.gather(x, 1, reverse.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # (B, T, F)
        backward = _one_direction(self.lstm, x_reversed, "_reverse")  # (B, T, H), in reversed time
        backward = torch.gather(backward, 1, reverse.unsqueeze(-1).expand(-1, -1, self.hidden))  # (B, T, H)
        mask = length_mask(lengths, T).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        return torch.cat([forward, backward], dim=-1) * mask  # (B, T, 2H)


def last_state(rnn: nn.LSTM | nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer unidirectional LSTM/GRU's state after each utterance's last valid step: (B, T, F) -> (B, H).

    On the CPU without packing, for the reason BLSTM gives: the recurrence runs over the padded batch (padding
    at the end never reaches a real step) and each row's output at its last valid step is its state there.
    """
    if x.device.type == "cpu":
        out, _ = rnn(x)  # (B, T, H)
        last = (lengths.to(x.device) - 1).view(-1, 1, 1).expand(-1, 1, out.shape[2])  # (B, 1, H)
        return out.gather(1, last).squeeze(1)  # (B, H)
    _, state = rnn(_pack(x, lengths))
    h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h_n, c_n); GRU returns h_n
    return h_n[-1]  # (B, H): the top layer; packing already put each row's own last step there


# --------------------------------------------------------------------------------------------------------------
# the classifier shared by the BLSTM-attention baselines and PAaAN


def blstm_units(config: ModelConfig) -> int:
    """BLSTM units per direction under ``config.fusion`` (paper III-A).

    III-A gives "128 nodes for both modalities" and also "the concatenation of C_A and C_T is 128 nodes",
    which cannot both hold for a bidirectional LSTM (C_A alone has 2 x 128 values). Two readings:
    "projection": 128 units per direction, [C_A, C_T] (512 values) projected to fusion_size = 128 nodes;
    "split": no projection, fusion_size / 4 = 32 units per direction, so [C_A, C_T] has exactly 128 nodes.
    """
    if config.fusion == "projection":
        return config.blstm_hidden
    if config.fusion == "split":
        if config.fusion_size % 4:
            raise ValueError(f"fusion 'split' needs fusion_size divisible by 4, got {config.fusion_size}")
        return config.fusion_size // 4
    raise ValueError(f"unknown fusion {config.fusion!r}; known: {', '.join(FUSIONS)}")


class ClassifierHead(nn.Module):
    """[C_A, C_T] (+ extras) -> 4 logits (paper III-A), or ``outputs`` values (the dimensional task's 3 ratings).

    fusion ("projection": Linear to fusion_size + ReLU; "split": identity), then a ``dense``-node ReLU layer,
    then a linear layer to the 4 classes (the softmax is in the loss) or the ratings.
    """

    def __init__(self, in_features: int, config: ModelConfig, outputs: int = N_CLASSES):
        super().__init__()
        if config.fusion == "projection":
            self.fusion = nn.Sequential(nn.Linear(in_features, config.fusion_size), nn.ReLU())
            fused = config.fusion_size
        elif config.fusion == "split":
            self.fusion = nn.Identity()
            fused = in_features
        else:
            raise ValueError(f"unknown fusion {config.fusion!r}; known: {', '.join(FUSIONS)}")
        self.dense = nn.Linear(fused, config.dense)
        self.out = nn.Linear(config.dense, outputs)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.fusion(x))  # (B, fusion_size) or (B, in_features)
        x = self.dropout(F.relu(self.dense(x)))  # (B, dense)
        return self.out(x)  # (B, 4) or (B, outputs)


class EmotionModel(nn.Module):
    """Base of every family: ``forward(batch) -> ModelOutput`` and a cross-entropy ``loss``."""

    def loss(self, output: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.logits, labels)
