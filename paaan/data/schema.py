"""Names shared by every step: the four emotion classes, the three emotion dimensions and the Big-Five traits, in
their fixed orders, and the scales SSPNet's trait scores come on."""

from __future__ import annotations

from dataclasses import dataclass

# Paper II-A1: the 4-class task (exc merged into hap).
EMOTIONS: tuple[str, ...] = ("ang", "hap", "neu", "sad")

# IEMOCAP's dimensional ratings (1-5 scales), in this order everywhere: the dimensional task's targets
# (activation is what the literature also calls arousal).
DIMENSIONS: tuple[str, ...] = ("valence", "activation", "dominance")

# Paper II-A2: the Big-Five dimensions rated in the SSPNet corpus. This order is the trait order of the
# 25-d personality embedding (paper II-C2) everywhere in paaan.
TRAITS: tuple[str, ...] = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


@dataclass(frozen=True)
class Scale:
    """A scale the SSPNet per-trait scores may be written on: its name, its closed range and what it is."""

    name: str
    low: float
    high: float
    meaning: str

    @property
    def range(self) -> tuple[float, float]:
        return (self.low, self.high)


# The scales SSPNet's per-clip, per-rater trait scores come on (docs/corpus_formats.md). ``load_sspnet``
# detects one from the corpus' values (``paaan.data.sspnet.detect_scale``) unless it is given. Retrieval
# z-scores the clip scores (``paaan.retrieval.standardise_scores``): the scale changes the units of the
# stored scores, not the retrieved embeddings.
SCALES: dict[str, Scale] = {s.name: s for s in (
    # The original corpus: each trait is the sum of two 5-point BFI-10 items, one reversed.
    Scale("bfi10", -4.0, 4.0, "BFI-10 trait score: sum of two 5-point items, one reversed"),
    # Speaker Personality Corpus 2.0, original annotations: per-trait scores on the 1-5 Likert scale.
    Scale("likert5", 1.0, 5.0, "per-trait score on a 1-5 Likert scale"),
    # Speaker Personality Corpus 2.0, new annotations: continuous ratings from 0 to 100.
    Scale("continuous100", 0.0, 100.0, "continuous rating from 0 to 100"),
)}
SCALE_NAMES: tuple[str, ...] = ("auto", *SCALES)  # what --sspnet-scale accepts

# SSPNet's BFI-10 trait scores lie in [-4, 4] (the range of the original corpus' scale).
TRAIT_SCORE_RANGE: tuple[float, float] = SCALES["bfi10"].range

