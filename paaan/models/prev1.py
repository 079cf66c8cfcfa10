"""Prev1 of Table I: Cho et al. 2018, an LSTM on audio plus a multi-resolution CNN on the transcript.

J. Cho, R. Pappagari, P. Kulkarni, J. Villalba, Y. Carmiel, N. Dehak, "Deep Neural Networks for Emotion
Recognition Combining Audio and Transcripts", Proc. Interspeech 2018, 247-251, doi:10.21437/Interspeech.2018-2466.
Its public abstract describes: an LSTM over frame-level acoustic features; a multi-resolution CNN over the
word sequence ("several parallel convolutions with different kernel sizes to exploit contextual information
at different levels") whose temporal pooling layer gives a sequence-level embedding; training on "a weighted
sum of classification and verification losses", the verification loss bringing embeddings of the same emotion
closer and separating embeddings of different emotions.

Our reading, on the same inputs as every other model of Table I (45-d LLD steps, word vectors):
- audio: one unidirectional LSTM layer, its state after the last valid step;            (B, lstm_hidden)
- text: parallel 1-D convolutions of widths ``kernel_widths`` (ReLU), each max-pooled over the valid words;
                                                                                         (B, n_widths * filters)
- fusion: both concatenated and mapped to an utterance embedding by a ReLU layer;        (B, embedding)
- a linear layer to the 4 classes;
- loss: cross-entropy + ``embedding_weight`` x the pairwise cosine verification loss ``embedding_loss``.
The abstract gives no sizes: the defaults of ``Prev1Config`` are our choice (Kim-2014-style 100 filters per
width, a 128-unit LSTM and a 128-d embedding, in scale with PAaAN's sizes), and the original fused the two
systems' scores after separate training, where we train one network end to end like every model of Table I.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from paaan.config import Prev1Config
from paaan.models.batch import Batch, ModelOutput
from paaan.models.layers import N_CLASSES, EmotionModel, last_state, length_mask, masked_max


def embedding_loss(embedding: torch.Tensor, labels: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """The verification loss: pull same-emotion utterances together, push different ones apart.

    Over every pair i < j of the batch, with s_ij the cosine similarity of their embeddings:
    same label -> 1 - s_ij; different labels -> max(0, s_ij - margin). Returns the mean over pairs
    (0 for a batch of one). embedding: (B, E), labels: (B,).
    """
    B = embedding.shape[0]
    if B < 2:
        return embedding.sum() * 0.0  # keeps the graph (and the device) of the input
    z = F.normalize(embedding, dim=1)  # (B, E)
    s = z @ z.T  # (B, B) cosine similarities
    same = labels[:, None] == labels[None, :]  # (B, B)
    per_pair = torch.where(same, 1.0 - s, (s - margin).clamp(min=0.0))  # (B, B)
    i, j = torch.triu_indices(B, B, offset=1, device=embedding.device)  # the pairs i < j
    return per_pair[i, j].mean()


class MultiResolutionCNN(nn.Module):
    """Parallel 1-D convolutions of several widths over the words, each max-pooled over the valid words."""

    def __init__(self, word_dim: int, widths: tuple[int, ...], filters: int):
        super().__init__()
        if any(w % 2 == 0 for w in widths):
            raise ValueError(f"kernel widths must be odd (one output per word), got {widths}")
        self.convs = nn.ModuleList(nn.Conv1d(word_dim, filters, w, padding=w // 2) for w in widths)

    @property
    def output_size(self) -> int:
        return sum(c.out_channels for c in self.convs)

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = length_mask(lengths, words.shape[1])  # (B, T_W)
        # Zero the padding so a window near the end sees the same zeros however much padding follows.
        x = (words * mask.unsqueeze(-1)).transpose(1, 2)  # (B, D, T_W)
        pooled = [masked_max(F.relu(conv(x)).transpose(1, 2), mask) for conv in self.convs]  # each (B, filters)
        return torch.cat(pooled, dim=1)  # (B, n_widths * filters)


class Prev1(EmotionModel):
    def __init__(self, sizes: Prev1Config = Prev1Config(), *, audio_dim: int = 45, word_dim: int = 300,
                 outputs: int = N_CLASSES):
        super().__init__()
        self.sizes = sizes
        self.lstm = nn.LSTM(audio_dim, sizes.lstm_hidden, batch_first=True)
        self.cnn = MultiResolutionCNN(word_dim, sizes.kernel_widths, sizes.filters)
        self.embed = nn.Linear(sizes.lstm_hidden + self.cnn.output_size, sizes.embedding)
        self.out = nn.Linear(sizes.embedding, outputs)
        self.dropout = nn.Dropout(sizes.dropout)

    def forward(self, batch: Batch) -> ModelOutput:
        a = last_state(self.lstm, batch.audio, batch.audio_lengths)  # (B, lstm_hidden)
        t = self.cnn(batch.words, batch.word_lengths)  # (B, n_widths * filters)
        e = F.relu(self.embed(self.dropout(torch.cat([a, t], dim=1))))  # (B, embedding)
        return ModelOutput(self.out(self.dropout(e)), embedding=e)

    def loss(self, output: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(output.logits, labels)
        return ce + self.sizes.embedding_weight * embedding_loss(output.embedding, labels, self.sizes.margin)
