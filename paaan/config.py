"""Every number of the paper, in one place, as dataclasses.

The defaults are the paper's settings (section cited beside each); ``experiments/profiles/paper.yaml``
spells the same numbers out for a reader holding the paper, and ``demo.yaml`` overrides a few of them so
the whole study runs in minutes on a laptop (a test keeps ``paper.yaml`` equal to these defaults).
"""

from __future__ import annotations

import os
from pathlib import Path

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class FeatureConfig:
    # II-B1: 45 LLDs, 60 ms frames every 10 ms, z-normalised per speaker, averaged over 40 ms steps.
    frame_size: float = 0.060
    frame_step: float = 0.010
    pool_frames: int = 4  # 4 frames x 10 ms = one 40 ms BLSTM time step
    # II-B1: the "1583-dim Emobase 2010" set = openSMILE's INTERSPEECH 2010 paralinguistic set (1582 + index).
    functionals: str = "IS10_paraling"
    # II-B2: GloVe 42B 300-d in the paper; offline default is the real GloVe 6B 50-d (see NOTES).
    glove: str = "glove-6b-50d"
    sample_rate: int = 16000  # IEMOCAP's rate; other rates are resampled to it
    # II-A2: the scale of SSPNet's trait scores: "auto" (detected), "bfi10" [-4, 4], "likert5", "continuous100".
    sspnet_scale: str = "auto"
    # Not in the paper: one's own acoustic features in place of openSMILE's (paaan/features/own.py). A folder of
    # frame-level features (<utterance_id>.npy, float32 (T, F), and features.json with frame_rate_hz, dim, name)
    # pooled to the 40 ms steps and used as BLSTM-A's input instead of the 45 LLDs; "" = the LLDs.
    audio_features: str = ""
    # A folder of utterance-level vectors (iemocap/<utterance_id>.npy, sspnet/<clip>.npy, float32 (F,), and
    # features.json with dim, name) used for SHLA and retrieval instead of `functionals`; "" = openSMILE's.
    functionals_dir: str = ""


@dataclass(frozen=True)
class SHLAConfig:
    # III-A: 1583-512-256-128-256-512-1583, batch 16, learning rate 1e-4, 10 epochs.
    hidden_sizes: tuple[int, ...] = (512, 256, 128)
    batch_size: int = 16
    lr: float = 1e-4
    epochs: int = 10


@dataclass(frozen=True)
class RetrievalConfig:
    # II-C2: top-k SSPNet clips by cosine similarity; k is tuned by Optuna (the paper does not give it).
    k: int = 10
    space: str = "PP"  # "PP": SHLA latents, "NA": standardised raw functionals (no adaptation)


@dataclass(frozen=True)
class ModelConfig:
    # III-A: 128-node BLSTM per modality, 16-node tanh pre-layers, a 256-node ReLU layer, then softmax.
    blstm_hidden: int = 128  # units per direction
    prelayer: int = 16
    dense: int = 256
    # III-A says "the concatenation of C_A and C_T is 128 nodes", which 128-unit BLSTMs cannot give.
    # "projection" (default): [C_A, C_T] is projected to `fusion_size` nodes by a linear layer.
    # "split": no projection; each BLSTM gets fusion_size / 4 units per direction so [C_A, C_T] has
    # exactly fusion_size nodes.
    fusion: str = "projection"
    fusion_size: int = 128
    dropout: float = 0.0
    # How g_T,t and g_A,t meet at one time step (eq. 2) when words and 40 ms steps differ:
    # "aligned": each audio step sees the word it falls in and each word the mean of its steps, from the
    # forced alignment, falling back to the other modality's time-average where there is none;
    # "mean": always the other modality's time-average.
    time_alignment: str = "aligned"
    # Eq. 3 scores each step with a fully connected layer on [g_T, g_A, g_P]. g_P is the same at every step,
    # so through a purely linear layer it adds one constant to all of an utterance's scores and the softmax
    # over time removes it: read literally, PAaAN could not use the personality. An activation after the
    # score layer (tanh, the usual Keras attention of the time) lets g_P shift the scores non-uniformly.
    # "linear" is the literal reading (personality-blind attention), "relu" the other choice III-A allows.
    attention_activation: str = "tanh"
    # What scores a step before that activation (eq. 3). "fc": one fully connected layer to a scalar, eq. 3 as
    # the paper writes it. For one utterance the score is then act(u_t + w_P g_P) with u_t from the step and
    # w_P g_P the same at every step: act is monotone, so g_P can make the attention sharper or flatter but can
    # never change which steps rank above which (tests/test_models.py proves it). "mlp": a hidden layer
    # (``attention_hidden`` tanh units) over [g_T, g_A, g_P] before the scalar: g_P then interacts with each
    # step's state and can re-rank the steps. Not in the paper; the variants table's "+" rows use it.
    attention_score: str = "fc"
    attention_hidden: int = 16


@dataclass(frozen=True)
class Prev1Config:
    """Cho et al. 2018 (Prev1): sizes are not in its public description; ours (see paaan/models/prev1.py)."""

    lstm_hidden: int = 128
    kernel_widths: tuple[int, ...] = (1, 3, 5)  # odd, so "same" padding keeps one output per word
    filters: int = 100  # per width
    embedding: int = 128
    embedding_weight: float = 0.5  # weight of the verification (embedding) loss in the sum
    margin: float = 0.0  # different emotions are pushed to cosine <= margin
    dropout: float = 0.0


@dataclass(frozen=True)
class Prev2Config:
    """Yoon et al. 2018, MDRE (Prev2): sizes from the authors' public code (see paaan/models/prev2.py)."""

    audio_hidden: int = 200
    text_hidden: int = 200
    audio_dropout: float = 0.3  # 1 - keep probability 0.7
    text_dropout: float = 0.7  # 1 - keep probability 0.3


@dataclass(frozen=True)
class TrainConfig:
    # III-A: Adam, 50 epochs, batch 32, learning rate 1e-4; leave-one-dyad-out, scored by UAR.
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    # What the network predicts (paaan.tasks): "categorical", the paper's 4 classes and UAR, or "dimensional",
    # valence, activation and dominance with a CCC loss and the best epoch on the mean validation CCC.
    task: str = "categorical"
    # Model selection inside the training data only (the test speakers are never looked at), on
    # ``validation``: "utterances", a stratified ``val_fraction`` of all training utterances (the training
    # speakers' own utterances); "speakers", the fold's held-out training speakers (the training session after
    # the test session under leave-one-session-out, the session partner under leave-one-speaker-out; see
    # paaan.data.folds), so the chosen epoch is the one that generalises to unseen speakers.
    validation: str = "utterances"
    val_fraction: float = 0.1
    select_best_epoch: bool = True
    # Early stopping (0 = off: every one of ``epochs`` runs): stop when the validation UAR has not improved for
    # this many epochs; ``epochs`` is then the maximum.
    patience: int = 0
    length_buckets: bool = True  # batch utterances of similar length together
    # Not in the paper (0 = off): L2 weight decay of Adam, and Gaussian noise (sd, in standardised units)
    # added to the personality embedding of every training utterance. With only 8 training speakers the
    # embedding is otherwise a speaker id the network can memorise; the noise makes it learn a smooth
    # function of personality that carries over to the unseen test speakers.
    weight_decay: float = 0.0
    personality_noise: float = 0.0
    # Share of training batches whose word-step alignment is dropped (every step_word = -1), so the network
    # also learns the time-average fallback a served model without word timings uses. 0 = off (the paper).
    alignment_dropout: float = 0.0
    # Every this many epochs a Ray trial saves model, optimizer and early-stopping state (a retried trial
    # continues from there); 0 = never.
    checkpoint_every: int = 5
    threads: int = 0  # torch intra-op threads per trial; 0 = torch's default


@dataclass(frozen=True)
class TuneConfig:
    # Optuna-tuned k (the paper does not report k): trials per (variant, outer fold) and k's upper bound.
    k_trials: int = 8
    k_max: int = 50  # also capped at the number of SSPNet clips
    # Early stopping of hopeless k trials (Ray Tune's ASHA, one bracket per tuning problem): "asha" or "none".
    # A trial reports ``metric`` every epoch; at epochs grace_period * reduction_factor^i a trial below the
    # best 1/reduction_factor of the trials that reached that epoch stops. Grid cells and final models always
    # train to their full schedule.
    scheduler: str = "asha"
    grace_period: int = 5
    # 4 puts the rungs of a 50-epoch schedule at 5 and 20 epochs; with 3 the third rung (45) stops trials that
    # have already trained 90% of their epochs (measured: BENCHMARKS.md, the ASHA section)
    reduction_factor: int = 4
    metric: str = "best_val_uar"  # the best validation UAR so far (monotone: one noisy epoch does not prune)


@dataclass(frozen=True)
class Profile:
    name: str = "paper"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    shla: SHLAConfig = field(default_factory=SHLAConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    prev1: Prev1Config = field(default_factory=Prev1Config)
    prev2: Prev2Config = field(default_factory=Prev2Config)
    train: TrainConfig = field(default_factory=TrainConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Profile":
        """Build a profile from nested dicts (a parsed YAML profile); unknown keys are an error."""
        kwargs: dict[str, Any] = {}
        sections = {f.name: f for f in fields(cls)}
        for key, value in data.items():
            if key not in sections:
                raise ValueError(f"unknown profile section {key!r}; known: {sorted(sections)}")
            if key == "name":
                kwargs[key] = str(value)
                continue
            section_cls = type(getattr(cls(), key))
            kwargs[key] = _section(section_cls, value or {}, key)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """``{"model.blstm_hidden": 128, ...}``: the form logged as MLflow params."""
        out: dict[str, Any] = {"profile": self.name}
        for section, values in self.to_dict().items():
            if isinstance(values, dict):
                out.update({f"{section}.{k}": v for k, v in values.items()})
        return out

    def replace(self, **sections: Any) -> "Profile":
        """A copy with some values changed: ``profile.replace(train={"epochs": 3})``."""
        kwargs = {}
        for key, value in sections.items():
            current = getattr(self, key)
            kwargs[key] = dataclasses.replace(current, **value) if isinstance(value, dict) else value
        return dataclasses.replace(self, **kwargs)


def _section(section_cls, values: dict[str, Any], name: str):
    known = {f.name: f for f in fields(section_cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown keys in profile section {name!r}: {sorted(unknown)}; known: {sorted(known)}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return section_cls(**converted)


def cache_root() -> Path:
    """Where paaan keeps what it derives and can derive again (openSMILE config and results, the tagger,
    downloaded artifacts): ``$PAAAN_CACHE``, else ``~/.cache/paaan``."""
    root = os.environ.get("PAAAN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "paaan"
