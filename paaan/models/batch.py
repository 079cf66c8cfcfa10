"""What every model of Table I reads (`Batch`) and returns (`ModelOutput`).

One batch holds B utterances, each as 40 ms audio steps (paper II-B1) and word vectors (II-B2), zero-padded
to the longest utterance of the batch. Lengths say how much of each row is real; the models never let the
padding change a prediction (packed recurrences, masked attention and pooling).

``step_word`` ties the two time axes together: for each audio step, the index of the word spoken during it
(from the forced alignment), or -1 when no word is (silence, an unknown alignment, or padding). PAaAN's
"aligned" time alignment reads it (see ``paaan.models.paaan``); every other model ignores it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from paaan.errors import InputError

NO_WORD = -1  # step_word's value for an audio step that lies in no word (or is padding)


@dataclass
class Batch:
    audio: torch.Tensor  # (B, T_A, 45) float32, 40 ms LLD steps, zero-padded
    audio_lengths: torch.Tensor  # (B,) int64, >= 1
    words: torch.Tensor  # (B, T_W, D) float32 word vectors, zero-padded
    word_lengths: torch.Tensor  # (B,) int64, >= 1
    step_word: torch.Tensor  # (B, T_A) int64, the word each audio step falls in, NO_WORD if none
    personality: torch.Tensor  # (B, 25) float32, the speaker's embedding (zeros when the variant has none)
    labels: torch.Tensor | None = None  # (B,) int64 indices into EMOTIONS
    ratings: torch.Tensor | None = None  # (B, 3) float32 centred ratings in DIMENSIONS order (dimensional task)

    def __len__(self) -> int:
        return self.audio.shape[0]

    def to(self, device: torch.device | str) -> "Batch":
        """A copy with every tensor on ``device``."""
        moved = {
            f.name: (v.to(device) if isinstance(v, torch.Tensor) else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }
        return Batch(**moved)

    def validate(self) -> "Batch":
        """Check shapes, dtypes and lengths; raise InputError naming the field and the problem.

        Cheap (a few reductions), so a data loader or a served model can call it on every batch.
        """
        B = self.audio.shape[0]
        _check(self.audio.dim() == 3, "audio", f"expected (B, T_A, F), got shape {tuple(self.audio.shape)}")
        _check(self.words.dim() == 3, "words", f"expected (B, T_W, D), got shape {tuple(self.words.shape)}")
        T_A, T_W = self.audio.shape[1], self.words.shape[1]
        expected = {
            "audio_lengths": (B,),
            "word_lengths": (B,),
            "step_word": (B, T_A),
            "words": (B, T_W, self.words.shape[2]),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            _check(got == shape, name, f"expected shape {shape}, got {got}")
        _check(self.personality.dim() == 2 and self.personality.shape[0] == B, "personality",
               f"expected (B={B}, 25), got shape {tuple(self.personality.shape)}")
        for name in ("audio_lengths", "word_lengths", "step_word"):
            _check(getattr(self, name).dtype == torch.int64, name, f"expected int64, got {getattr(self, name).dtype}")
        for name, T in (("audio_lengths", T_A), ("word_lengths", T_W)):
            lengths = getattr(self, name)
            _check(bool((lengths >= 1).all()), name, "every utterance needs at least one step")
            _check(bool((lengths <= T).all()), name, f"a length exceeds the padded size {T}")
        _check(bool((self.step_word >= NO_WORD).all()), "step_word", f"values below {NO_WORD}")
        _check(bool((self.step_word < self.word_lengths[:, None]).all()), "step_word",
               "an audio step points past its utterance's last word")
        if self.labels is not None:
            got = tuple(self.labels.shape)
            _check(got == (B,), "labels", f"expected shape ({B},), got {got}")
        if self.ratings is not None:
            got = tuple(self.ratings.shape)
            _check(len(got) == 2 and got[0] == B, "ratings", f"expected shape ({B}, 3), got {got}")
        return self


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, 4) unnormalised class scores (softmax lives in the loss), or (B, 3) ratings
    alpha_audio: torch.Tensor | None = None  # (B, T_A) attention over audio steps, 0 on padding, sums to 1
    alpha_text: torch.Tensor | None = None  # (B, T_W) attention over words, 0 on padding, sums to 1
    embedding: torch.Tensor | None = None  # (B, E) the utterance representation fed to the classifier


def make_batch(
    audio: Sequence[torch.Tensor],
    words: Sequence[torch.Tensor],
    step_word: Sequence[torch.Tensor] | None = None,
    personality: torch.Tensor | Sequence[torch.Tensor] | None = None,
    labels: Sequence[int] | torch.Tensor | None = None,
    personality_dim: int = 25,
    ratings: torch.Tensor | None = None,
) -> Batch:
    """Pad a list of utterances into one Batch.

    audio[i]: (T_A_i, F); words[i]: (T_W_i, D); step_word[i]: (T_A_i,) (None: every step NO_WORD);
    personality: (B, 25) or a list of (25,) (None: zeros).
    """
    if len(audio) != len(words):
        raise InputError(f"audio has {len(audio)} utterances but words has {len(words)}")
    for name, seqs in (("audio", audio), ("words", words)):
        for i, x in enumerate(seqs):
            if x.dim() != 2 or x.shape[0] == 0:
                raise InputError(f"{name}[{i}]: expected a non-empty (T, features) tensor, got {tuple(x.shape)}")
    B = len(audio)
    if step_word is None:
        step_word = [torch.full((a.shape[0],), NO_WORD, dtype=torch.int64) for a in audio]
    for i, (a, s) in enumerate(zip(audio, step_word)):
        if tuple(s.shape) != (a.shape[0],):
            raise InputError(f"step_word[{i}]: expected shape ({a.shape[0]},), got {tuple(s.shape)}")
    if personality is None:
        personality = torch.zeros(B, personality_dim)
    elif not isinstance(personality, torch.Tensor):
        personality = torch.stack(list(personality))
    return Batch(
        audio=pad_sequence([a.float() for a in audio], batch_first=True),
        audio_lengths=torch.tensor([a.shape[0] for a in audio], dtype=torch.int64),
        words=pad_sequence([w.float() for w in words], batch_first=True),
        word_lengths=torch.tensor([w.shape[0] for w in words], dtype=torch.int64),
        step_word=pad_sequence([s.long() for s in step_word], batch_first=True, padding_value=NO_WORD),
        personality=personality.float(),
        labels=None if labels is None else torch.as_tensor(labels, dtype=torch.int64),
        ratings=None if ratings is None else torch.as_tensor(ratings, dtype=torch.float32),
    ).validate()


def _check(ok: bool, field: str, problem: str) -> None:
    if not ok:
        raise InputError(f"batch.{field}: {problem}")
