"""Prev2 of Table I: MDRE, the Multimodal Dual Recurrent Encoder of Yoon et al. 2018.

S. Yoon, S. Byun, K. Jung, "Multimodal Speech Emotion Recognition Using Audio and Text", IEEE SLT 2018,
arXiv:1810.04635; code: github.com/david-yoon/multimodal-speech-emotion (MIT). As described there:
- the audio recurrent encoder: a GRU over MFCC frames; its last state is concatenated with utterance-level
  prosodic features (a 35-d vector in the original);
- the text recurrent encoder: a GRU over the GloVe vectors of the transcript, its last state;
- each encoder's vector is projected linearly to half its width (the code's ``_create_output_layers_for_multi``),
  the two are concatenated and a softmax layer gives the 4 classes.
Public sizes (the code's ``reference_script.sh``): one GRU layer of 200 units per modality; dropout keep
probabilities 0.7 (audio) and 0.3 (text) on the GRU cells' inputs and outputs.

Our reading on the inputs shared by Table I: the GRU runs over the 45-d LLD steps, and the prosodic vector is
the mean and population standard deviation of the 45 LLDs over the utterance's valid steps (90 values);
cross-entropy with softmax (the code's sigmoid loss is replaced like every model here).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from paaan.config import Prev2Config
from paaan.models.batch import Batch, ModelOutput
from paaan.models.layers import N_CLASSES, EmotionModel, last_state, length_mask, masked_mean, masked_std


def prosodic_statistics(audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Utterance-level prosody: [mean, std] of every LLD over the valid steps. (B, T, F) -> (B, 2F)."""
    mask = length_mask(lengths, audio.shape[1])  # (B, T)
    return torch.cat([masked_mean(audio, mask), masked_std(audio, mask)], dim=1)


class Prev2(EmotionModel):
    def __init__(self, sizes: Prev2Config = Prev2Config(), *, audio_dim: int = 45, word_dim: int = 300,
                 outputs: int = N_CLASSES):
        super().__init__()
        self.sizes = sizes
        self.gru_a = nn.GRU(audio_dim, sizes.audio_hidden, batch_first=True)
        self.gru_t = nn.GRU(word_dim, sizes.text_hidden, batch_first=True)
        a_width = sizes.audio_hidden + 2 * audio_dim  # [last state, prosody]
        self.proj_a = nn.Linear(a_width, a_width // 2)  # to half width, linear (MDRE)
        self.proj_t = nn.Linear(sizes.text_hidden, sizes.text_hidden // 2)
        self.out = nn.Linear(a_width // 2 + sizes.text_hidden // 2, outputs)
        self.drop_a = nn.Dropout(sizes.audio_dropout)
        self.drop_t = nn.Dropout(sizes.text_dropout)

    def forward(self, batch: Batch) -> ModelOutput:
        h_a = self.drop_a(last_state(self.gru_a, self.drop_a(batch.audio), batch.audio_lengths))  # (B, H_A)
        h_t = self.drop_t(last_state(self.gru_t, self.drop_t(batch.words), batch.word_lengths))  # (B, H_T)
        A = torch.cat([h_a, prosodic_statistics(batch.audio, batch.audio_lengths)], dim=1)  # (B, H_A + 2F)
        e = torch.cat([self.proj_a(A), self.proj_t(h_t)], dim=1)  # (B, (H_A + 2F) // 2 + H_T // 2)
        return ModelOutput(self.out(e), embedding=e)
