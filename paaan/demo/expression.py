"""The planted model: how emotion and personality set a voice's prosody controls (the demo corpus' ground truth).

Everything here is in *control units*: one unit is a clearly audible but ordinary change of a prosody or
voice-quality control (``CONTROLS``); ``synth.prosody_settings`` turns units into espeak parameters and
effect strengths. An utterance's controls are

    controls = voice_offsets(traits)            # who the speaker is (survives only without z-norm)
             + emotion_cues(label, traits)      # how this speaker voices this emotion (the interaction)
             + speaker identity + noise          # added by the generator

Paper II-A/II-C's premise, made literal: personality shapes *how* emotions are expressed. Extraversion
blends between two expression styles (``EXTRAVERT_STYLE`` at E = +4, ``INTROVERT_STYLE`` at E = -4), so the
direction of several cues flips with extraversion (an extravert's anger is loud and high, an introvert's
is quiet, low and tense), which per-speaker z-normalisation cannot remove. The same traits also move the
speaker's baseline voice (``TRAIT_VOICE``), identically in IEMOCAP and SSPNet, which is what lets acoustic
retrieval (II-C2) recover a speaker's personality.

The scenarios (``scenarios.py``) switch these effects on and off: ``style="fixed"`` gives every speaker the
extravert style; the gates (``carrier_segment``, ``carrier_modality``) let the sign of extraversion decide
where in an utterance the emotion is instead of how it sounds.
"""

from __future__ import annotations

import numpy as np

from paaan.data.iemocap import LABEL_MAP
from paaan.data.schema import EMOTIONS, TRAITS
from paaan.demo.scenarios import STYLES

# The prosody / voice-quality controls, in this order everywhere (the K axis below).
CONTROLS: tuple[str, ...] = ("pitch", "range", "rate", "volume", "tension", "breath", "jitter", "tremolo")


def _row(**values: float) -> np.ndarray:
    """A (K,) control vector from named entries; unnamed controls are 0."""
    unknown = set(values) - set(CONTROLS)
    if unknown:
        raise ValueError(f"unknown controls {sorted(unknown)}")
    return np.array([values.get(c, 0.0) for c in CONTROLS])


# How a speaker at the extravert pole (E = +4) voices each 4-class emotion, relative to their neutral voice:
# "hot" expression, carried by pitch, pitch range, rate and loudness.
EXTRAVERT_STYLE: dict[str, np.ndarray] = {
    "ang": _row(pitch=1.5, range=1.3, rate=0.8, volume=2.0, tension=0.9, breath=-0.4),
    "hap": _row(pitch=1.7, range=1.9, rate=1.0, volume=1.1),
    "neu": _row(),
    "sad": _row(pitch=-1.3, range=-1.4, rate=-1.1, volume=-1.4, tension=-0.6, breath=0.6),
}

# The introvert pole (E = -4), where the same channels point the other way: "cold" anger (quieter, lower,
# slower, but pressed and rough), happiness that stays low and soft in the voice (its cue moves to the
# words, see sentences.py), sadness as a raised, tremulous voice.
INTROVERT_STYLE: dict[str, np.ndarray] = {
    "ang": _row(pitch=-1.3, range=-1.3, rate=-1.0, volume=-1.3, tension=0.9, breath=-0.4, jitter=0.9),
    "hap": _row(pitch=-0.7, range=-0.5, rate=-0.8, volume=-0.8, tension=-0.6, breath=0.8),
    "neu": _row(),
    "sad": _row(pitch=1.2, range=0.4, rate=-0.5, volume=0.4, breath=0.4, jitter=0.5, tremolo=1.6),
}

# IEMOCAP's other labels (read but skipped by the 4-class task): personality-free, plausible patterns.
OTHER_CUES: dict[str, np.ndarray] = {
    "fru": _row(pitch=0.2, range=0.1, rate=0.1, volume=0.5, tension=0.8, breath=-0.1, jitter=0.3, tremolo=0.2),
    "sur": _row(pitch=1.5, range=1.2, rate=0.3, volume=0.5, tension=0.2),
    "fea": _row(pitch=1.0, range=-0.3, rate=0.8, volume=-0.3, tension=0.5, breath=0.5, jitter=0.8, tremolo=0.8),
    "dis": _row(pitch=-0.4, range=0.3, rate=-0.5, volume=0.3, tension=0.8, breath=0.2, jitter=0.3),
    "oth": _row(),
}

# Baseline voice per trait at +4 (linear in the score): the same map for IEMOCAP and SSPNet speakers.
# Extraverts speak higher, livelier, faster and louder; agreeable speakers softer and breathier; neurotic
# speakers with more jitter and tremor (directions as in the speech-personality literature; sizes chosen).
TRAIT_VOICE: dict[str, np.ndarray] = {
    "openness": _row(pitch=0.2, range=0.4),
    "conscientiousness": _row(range=-0.3, rate=-0.5),
    "extraversion": _row(pitch=1.5, range=1.8, rate=1.5, volume=1.8),
    "agreeableness": _row(pitch=1.2, range=-0.9, rate=-1.5, volume=-1.2, tension=-2.0, breath=2.0),
    "neuroticism": _row(pitch=0.3, jitter=1.0, tremolo=0.6),
}


def trait_fraction(traits: dict[str, float], trait: str) -> float:
    """A trait score in [-4, 4] as a fraction of the pole, in [-1, 1] (e.g. extraversion 2.0 -> 0.5)."""
    return float(np.clip(traits[trait] / 4.0, -1.0, 1.0))


def _checked(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown expression style {style!r}; known: {', '.join(STYLES)}")
    return style


def style_weight(traits: dict[str, float], style: str = "extraversion") -> float:
    """How far toward the extravert style: w = (1 + E/4) / 2, so E = -4 -> 0, E = 0 -> 0.5, E = +4 -> 1;
    with ``style="fixed"`` w = 1 for everyone (the scenarios' personality-free hot cues)."""
    if _checked(style) == "fixed":
        return 1.0
    return (1.0 + trait_fraction(traits, "extraversion")) / 2.0


def emotion_cues(label: str, traits: dict[str, float], style: str = "extraversion") -> np.ndarray:
    """(K,) cue offsets of ``label`` for a speaker with ``traits``: the two styles blended by extraversion.

    For the 4-class labels (``exc`` counts as ``hap``) this is w * EXTRAVERT + (1 - w) * INTROVERT with
    w = ``style_weight(traits, style)``; other labels get a personality-free pattern; ``xxx`` is handled by
    the generator (a random mix of labels, as annotators disagreed).
    """
    label = LABEL_MAP.get(label, label)  # exc -> hap
    if label in EXTRAVERT_STYLE:
        w = style_weight(traits, style)
        return w * EXTRAVERT_STYLE[label] + (1.0 - w) * INTROVERT_STYLE[label]
    if label in OTHER_CUES:
        return OTHER_CUES[label].copy()
    raise ValueError(f"no cue pattern for label {label!r}")


def personality_part(traits: dict[str, float]) -> np.ndarray:
    """(4, K): the personality-dependent part of the 4-class cues, rows in EMOTIONS order.

    emotion_cues = shared + personality_part, with shared = (EXTRAVERT + INTROVERT) / 2 and
    personality_part = (E/4) * (EXTRAVERT - INTROVERT) / 2.
    """
    e = trait_fraction(traits, "extraversion")
    return np.stack([e * (EXTRAVERT_STYLE[x] - INTROVERT_STYLE[x]) / 2.0 for x in EMOTIONS])


def expression_shift(traits: dict[str, float], style: str = "extraversion") -> float:
    """Size of a speaker's planted personality effect on the emotion *pattern*, in control units.

    The root mean square over the four emotions of the personality part's norm, after removing its mean
    over emotions (a shift common to all emotions is a speaker offset, which per-speaker z-normalisation
    removes anyway). Zero for E = 0; proportional to |E|. Zero for ``style="fixed"``: the pattern is the
    same for everyone.
    """
    if _checked(style) == "fixed":
        return 0.0
    part = personality_part(traits)  # (4, K)
    centred = part - part.mean(axis=0, keepdims=True)
    return float(np.sqrt((centred**2).sum(axis=1).mean()))


def voice_offsets(traits: dict[str, float]) -> np.ndarray:
    """(K,) baseline controls of a speaker's voice: sum over traits of (score / 4) * TRAIT_VOICE[trait]."""
    return sum(trait_fraction(traits, t) * TRAIT_VOICE[t] for t in TRAITS)


# The second planted effect is LOCAL (paper III-C: personality changes which behaviour regions matter).
# Short asides said in a marked voice: a BURST (an exclamation: loud, high, fast, pressed) and a HEDGE (quiet,
# low, slow, breathy). For an extravert a burst is a habit, said in any emotion, while a hedge is rare and
# means sadness; for an introvert a hedge is the habit and a burst means anger or happiness. The same
# stretch of audio and the same words therefore carry information for one speaker and none for another:
# a model that knows the personality can learn where to listen.
BURST_CUES = _row(pitch=1.6, range=1.5, rate=0.8, volume=2.2, tension=0.8)
HEDGE_CUES = _row(pitch=-1.2, range=-1.2, rate=-1.0, volume=-1.6, tension=-0.4, breath=1.0)


def aside_probabilities(label: str, traits: dict[str, float], habit_share: float,
                        genuine_share: float) -> tuple[float, float]:
    """(P(burst), P(hedge)) for an utterance of ``label``: a habit scaled by how far the speaker is on the
    side of the axis, or a genuine cue for the other side (bursts in ang/hap, hedges in sad).

    With e = E/4: P(burst) = habit * max(e, 0) + genuine * max(-e, 0) * [label in ang, hap];
    P(hedge) = habit * max(-e, 0) + genuine * max(e, 0) * [label is sad].
    """
    label = LABEL_MAP.get(label, label)  # exc -> hap
    e = trait_fraction(traits, "extraversion")
    burst = habit_share * max(e, 0.0) + genuine_share * max(-e, 0.0) * (label in ("ang", "hap"))
    hedge = habit_share * max(-e, 0.0) + genuine_share * max(e, 0.0) * (label == "sad")
    return float(burst), float(hedge)


def anger_masking_probability(traits: dict[str, float], masking: bool = True) -> float:
    """Chance that an angry utterance with lexical cues is worded politely (agreeable speakers mask anger).

    0.5 + 0.45 * A/4: 0.05 at A = -4, 0.5 at A = 0, 0.95 at A = +4; 0 with ``masking`` off.
    """
    if not masking:
        return 0.0
    return 0.5 + 0.45 * trait_fraction(traits, "agreeableness")


def happy_plain_words_probability(traits: dict[str, float], base: float, shift: bool = True) -> float:
    """Chance that a happy utterance has emotion-free words: ``base`` + 0.25 * E/4 (``base`` with ``shift`` off).

    Extraverts leave their happiness to the voice; introverts, whose voice stays soft, say it in words.
    """
    if not shift:
        return float(base)
    return float(np.clip(base + 0.25 * trait_fraction(traits, "extraversion"), 0.0, 1.0))


# The gates (scenarios "segment" and "modality"): the sign of extraversion decides WHERE the emotion is, not
# how it sounds. The carrier follows the sign with probability ``carrier_share`` (a Bernoulli draw), else it
# is the other segment / modality. NOTES.md: a score with a personality term can pick the carrier segment
# (re-ranking needs an interaction with each step); eq. 3's per-modality softmax cannot move weight between
# modalities.


def _extraversion_sign(traits: dict[str, float]) -> int:
    e = traits["extraversion"]
    if e == 0:
        raise ValueError("a gate follows the sign of extraversion, and E = 0 has none")
    return 1 if e > 0 else -1


def follows_extraversion(carrier_share: float, rng: np.random.Generator) -> bool:
    """Whether this utterance's carrier follows the sign of E: True with probability ``carrier_share``
    (one uniform draw from ``rng``)."""
    return bool(rng.random() < carrier_share)


def carrier_segment(traits: dict[str, float], carrier_share: float, rng: np.random.Generator) -> int:
    """Index of the segment that carries the emotion (0 first, 1 second): 0 for E > 0 and 1 for E < 0 with
    probability ``carrier_share``, else the other one."""
    preferred = 0 if _extraversion_sign(traits) > 0 else 1
    return preferred if follows_extraversion(carrier_share, rng) else 1 - preferred


def carrier_modality(traits: dict[str, float], carrier_share: float, rng: np.random.Generator) -> str:
    """The modality that carries the emotion: "audio" for E > 0 and "text" for E < 0 with probability
    ``carrier_share``, else the other one."""
    preferred, other = ("audio", "text") if _extraversion_sign(traits) > 0 else ("text", "audio")
    return preferred if follows_extraversion(carrier_share, rng) else other


def carrier_followed(traits: dict[str, float], carrier: int | str) -> bool:
    """Whether a drawn carrier (segment index or modality) is the one the sign of E points to."""
    positive = _extraversion_sign(traits) > 0
    return (carrier in (0, "audio")) == positive


def other_emotion(emotion: str, rng: np.random.Generator) -> str:
    """The non-carrier segment's emotion: uniform over the three 4-class emotions other than ``emotion``."""
    others = [x for x in EMOTIONS if x != LABEL_MAP.get(emotion, emotion)]
    return others[int(rng.integers(len(others)))]
