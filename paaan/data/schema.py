"""Names shared by every step: the four emotion classes and the Big-Five traits, in their fixed orders."""

# Paper II-A1: the 4-class task (exc merged into hap).
EMOTIONS: tuple[str, ...] = ("ang", "hap", "neu", "sad")

# Paper II-A2: the Big-Five dimensions rated in the SSPNet corpus. This order is the trait order of the
# 25-d personality embedding (paper II-C2) everywhere in paaan.
TRAITS: tuple[str, ...] = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")

# SSPNet's BFI-10 trait scores: each trait is the sum of two 5-point items, one reversed, so it lies in [-4, 4].
TRAIT_SCORE_RANGE: tuple[float, float] = (-4.0, 4.0)
