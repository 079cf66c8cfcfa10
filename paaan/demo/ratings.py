"""How the demo corpus' evaluators rate valence, activation and dominance: from what an utterance renders.

A rater hears the voice and the words. The expected rating of an utterance, on IEMOCAP's 1-5 scales, is

    expected = 3 + RATING_VOICE @ (controls - voice)  +  word part  (+ the scenario's trait shift)

- ``controls - voice``: the emotion's cues as this speaker voices them, at the intensity the style gives
  them, plus the utterance's own control noise (``generator._utterance_controls``), i.e. what the voice does
  away from the speaker's baseline (the baseline itself, who the speaker is, does not move a rating; paaan's
  per-speaker z-normalised LLDs see the same departures).
- word part: for every emotion-bearing word of the sentence (``sentences.SLOTS``' ``ang_*``, ``hap_*``,
  ``sad_*`` slots, read from the rendered text), that emotion's ``WORD_RATINGS``, the sum capped at
  +-``WORD_CAP`` per dimension; plain, neutral and masked-without-complaint lines move nothing. The asides
  (bursts, hedges) are left out of the rating.
- the scenario's ``valence_trait`` shift (``scenarios.py``): ``valence_slope`` rating points per trait unit
  of that trait (BFI-10 units, [-4, 4]), a speaker-level offset of the rated valence the rendered signal does
  not carry: the one part of a rating that only the speaker's personality can explain.

The expected values are clipped to [1, 5]; each of the two evaluators then votes
``round(expected + N(0, RATER_SD))`` clipped to 1..5 (``generator._ratings``), and the utterance's rating is
the mean of the votes, as on the real corpus. Everything here is written into ground_truth.json.
"""

from __future__ import annotations

import re

import numpy as np

from paaan.data.schema import DIMENSIONS, TRAITS
from paaan.demo.expression import CONTROLS
from paaan.demo.sentences import SLOTS

SCALE_MID, SCALE_LOW, SCALE_HIGH = 3.0, 1.0, 5.0
RATER_SD = 0.6  # each evaluator's noise around the expected rating (the generator's draw, unchanged)

# (K,) weights per dimension on the voice's departure from the speaker's baseline, in CONTROLS order
# (pitch, range, rate, volume, tension, breath, jitter, tremolo): activation follows loudness, rate, pitch
# and tension; dominance loudness and tension against a breathy, shaky voice; valence a lively range
# against a tense, rough or shaky voice (the voice says little about valence, as in the literature).
RATING_VOICE: dict[str, np.ndarray] = {
    "valence": np.array([0.10, 0.10, 0.00, 0.00, -0.25, 0.05, -0.15, -0.15]),
    "activation": np.array([0.15, 0.15, 0.20, 0.25, 0.20, -0.10, 0.00, 0.00]),
    "dominance": np.array([-0.05, 0.00, 0.10, 0.25, 0.20, -0.15, 0.00, -0.15]),
}

# What one emotion-bearing word adds to (valence, activation, dominance).
WORD_RATINGS: dict[str, np.ndarray] = {
    "ang": np.array([-0.6, 0.25, 0.2]),
    "hap": np.array([0.6, 0.15, 0.1]),
    "sad": np.array([-0.5, -0.2, -0.25]),
}
WORD_CAP = 1.2

_WORDS: dict[str, set[str]] = {}  # word -> the emotions whose slots hold it
for _slot, _words in SLOTS.items():
    if _slot.split("_")[0] in WORD_RATINGS:
        for _word in _words:
            _WORDS.setdefault(_word, set()).add(_slot.split("_")[0])


def emotion_words(text: str) -> dict[str, int]:
    """How many words of each emotion's slots ``text`` has (a word in two emotions' slots counts for both)."""
    counts = {e: 0 for e in WORD_RATINGS}
    for token in re.findall(r"[a-z]+", text.lower()):
        for emotion in _WORDS.get(token, ()):
            counts[emotion] += 1
    return counts


def word_part(text: str) -> np.ndarray:
    """(3,) the words' part of the expected rating, capped at +-WORD_CAP per dimension."""
    counts = emotion_words(text)
    total = sum((n * WORD_RATINGS[e] for e, n in counts.items()), np.zeros(3))
    return np.clip(total, -WORD_CAP, WORD_CAP)


def voice_part(departure: np.ndarray) -> np.ndarray:
    """(3,) the voice's part: RATING_VOICE @ (controls - voice), ``departure`` (K,) in CONTROLS order."""
    departure = np.asarray(departure, dtype=float)
    if departure.shape != (len(CONTROLS),):
        raise ValueError(f"departure must have shape ({len(CONTROLS)},), got {departure.shape}")
    return np.array([RATING_VOICE[d] @ departure for d in DIMENSIONS])


def trait_shift(traits: dict[str, float], trait: str, slope: float) -> np.ndarray:
    """(3,) the scenario's speaker-level shift: ``slope`` x the trait's score on valence, nothing else."""
    if not trait or not slope:
        return np.zeros(3)
    if trait not in TRAITS:
        raise ValueError(f"valence_trait must be one of {', '.join(TRAITS)}, not {trait!r}")
    return np.array([slope * float(traits[trait]), 0.0, 0.0])


def expected_ratings(departures: list[np.ndarray], text: str, traits: dict[str, float], trait: str = "",
                     slope: float = 0.0) -> tuple[float, float, float]:
    """The raters' expected (valence, activation, dominance) of one utterance on 1-5 (module docstring).

    ``departures``: each spoken part's controls minus the speaker's voice (one for an ordinary utterance,
    two for a segment-gated one: their mean is what the rater hears over the utterance)."""
    voice = voice_part(np.mean(np.asarray(departures, dtype=float), axis=0))
    expected = SCALE_MID + voice + word_part(text) + trait_shift(traits, trait, slope)
    return tuple(float(round(v, 4)) for v in np.clip(expected, SCALE_LOW, SCALE_HIGH))


def description() -> dict:
    """The rating model as ground_truth.json records it."""
    return {"formula": "expected = 3 + RATING_VOICE @ (controls - voice) + word part + trait shift, clipped to "
                       "[1, 5]; each of two evaluators votes round(expected + N(0, rater_sd)) in 1..5; the "
                       "rating is the votes' mean",
            "controls": list(CONTROLS), "voice_weights": {d: RATING_VOICE[d].round(4).tolist() for d in DIMENSIONS},
            "word_ratings": {e: v.tolist() for e, v in WORD_RATINGS.items()}, "word_cap": WORD_CAP,
            "rater_sd": RATER_SD, "dimensions": list(DIMENSIONS)}
