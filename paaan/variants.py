"""The variants of Table I as data: one row each, read by training, the ablation grid, the report and the registry.

Adding a variant is adding one row here. Columns:

- ``family``: the model file in ``paaan.models`` (``blstm_attention``, ``paaan``, ``prev1``, ``prev2``).
- ``modalities``: ``audio``, ``text`` or ``audio+text``.
- ``personality``: where the 25-d personality embedding comes from: ``none``; ``PP`` (retrieved in the
  SHLA-adapted space, II-C1/II-C2); ``NA`` (retrieved from the raw functionals, no adaptation); ``oracle``
  (the demo corpus' true Big-Five profile, not something the paper could have).
- ``integration``: where the embedding enters the network: ``none``; ``attention`` (g_P in eq. 2, PAaAN);
  ``decision`` (concatenated with [C_A, C_T], P-D); ``input`` (appended to every BLSTM input step, P-T).
- ``paper``: the row of Table I (recall of ang, hap, neu, sad and UAR), or None for our additions.
- ``attention_score``: how the attention scores a step (``ModelConfig.attention_score``): None follows the
  profile (``fc``, eq. 3, by default); the "+" rows pin ``mlp``, a hidden layer over [g_T, g_A, g_P] that lets
  the personality re-rank steps (the ``fc`` score cannot: see paaan/models/paaan.py).
- ``baseline``: the variant a personality row is compared with, the same network and score without the
  personality (IA+T for the ``fc`` rows, IA+T+ for the ``mlp`` rows), so that a gain is never capacity
  mistaken for personality. None for rows without personality.
- ``table1``: the ablation runs the row by default (``--variants table1``): the paper's ten rows and
  PAaAN_oracle. The other rows are the testbed's (``paaan testbed``); ``--variants all`` runs every row.

Personality sources besides the paper's: ``oracle`` (the demo corpus' true Big-Five profile) and
``shuffled`` (the oracle profiles permuted across speakers by the trial's seed, no speaker keeping its own:
a control with the same values and capacity but no information about who is speaking).
"""

from __future__ import annotations

from dataclasses import dataclass

from paaan.data.schema import EMOTIONS
from paaan.errors import row_of

FAMILIES = ("blstm_attention", "paaan", "prev1", "prev2")
PERSONALITY_SOURCES = ("none", "PP", "NA", "oracle", "shuffled")
ATTENTION_SCORES = ("fc", "mlp")
INTEGRATIONS = ("none", "attention", "decision", "input")


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    modalities: str
    personality: str
    integration: str
    description: str
    paper: dict[str, float] | None = None
    attention_score: str | None = None  # None: the profile's ModelConfig.attention_score
    baseline: str | None = None
    table1: bool = True

    @property
    def uses_personality(self) -> bool:
        return self.personality != "none"

    @property
    def uses_ground_truth(self) -> bool:
        """Variants fed the demo corpus' true personalities (refused on corpora without ground_truth.json)."""
        return self.personality in ("oracle", "shuffled")

    @property
    def uses_retrieval(self) -> bool:
        """Variants whose embedding is retrieved from SSPNet, so k is tuned for them."""
        return self.personality in ("PP", "NA")

    @property
    def uses_audio(self) -> bool:
        return "audio" in self.modalities

    @property
    def uses_text(self) -> bool:
        return "text" in self.modalities


def _paper(ang: float, hap: float, neu: float, sad: float, uar: float) -> dict[str, float]:
    return dict(zip((*EMOTIONS, "uar"), (ang, hap, neu, sad, uar)))


# Table I of the paper (recall per class, then UAR), and section III-A's descriptions.
VARIANTS: tuple[Variant, ...] = (
    Variant("Audio", "blstm_attention", "audio", "none", "none",
            "BLSTM with self-attention over the 45-d LLD steps", _paper(0.570, 0.527, 0.581, 0.608, 0.571)),
    Variant("Text", "blstm_attention", "text", "none", "none",
            "BLSTM with self-attention over the word vectors", _paper(0.663, 0.647, 0.584, 0.551, 0.611)),
    Variant("A+T", "blstm_attention", "audio+text", "none", "none",
            "two self-attention BLSTMs, C_A and C_T concatenated", _paper(0.657, 0.666, 0.628, 0.666, 0.654)),
    Variant("Prev1", "prev1", "audio+text", "none", "none",
            "Cho et al. 2018: LSTM audio + multi-resolution CNN text, embedding loss",
            _paper(0.724, 0.675, 0.574, 0.665, 0.659)),
    Variant("Prev2", "prev2", "audio+text", "none", "none",
            "Yoon et al. 2018 (MDRE): GRU audio with prosody + GRU text",
            _paper(0.625, 0.652, 0.696, 0.633, 0.651)),
    Variant("IA+T", "paaan", "audio+text", "none", "none",
            "PAaAN's interactive attention without the personality pre-layer g_P",
            _paper(0.666, 0.685, 0.607, 0.705, 0.666)),
    Variant("P-D", "paaan", "audio+text", "PP", "decision",
            "IA+T with the PP embedding concatenated to [C_A, C_T]", _paper(0.685, 0.751, 0.572, 0.693, 0.675),
            baseline="IA+T"),
    Variant("P-T", "paaan", "audio+text", "PP", "input",
            "IA+T with the PP embedding appended to every BLSTM input step",
            _paper(0.621, 0.598, 0.677, 0.601, 0.624), baseline="IA+T"),
    Variant("PAaAN_NA", "paaan", "audio+text", "NA", "attention",
            "PAaAN, personality retrieved from raw functionals (no SHLA)",
            _paper(0.719, 0.669, 0.616, 0.712, 0.679), baseline="IA+T"),
    Variant("PAaAN_PP", "paaan", "audio+text", "PP", "attention",
            "PAaAN, personality retrieved in the SHLA space (the paper's model)",
            _paper(0.763, 0.730, 0.588, 0.720, 0.700), baseline="IA+T"),
    Variant("PAaAN_oracle", "paaan", "audio+text", "oracle", "attention",
            "PAaAN fed the demo corpus' true personality: the ceiling for retrieval", baseline="IA+T"),
    # The testbed's rows (not in Table I): the mlp score, its like-for-like baseline, and controls.
    Variant("IA+T+", "paaan", "audio+text", "none", "none",
            "IA+T with the mlp attention score: the baseline of the + rows", attention_score="mlp", table1=False),
    Variant("PAaAN+_PP", "paaan", "audio+text", "PP", "attention",
            "PAaAN with the mlp attention score, personality retrieved in the SHLA space",
            attention_score="mlp", baseline="IA+T+", table1=False),
    Variant("PAaAN+_oracle", "paaan", "audio+text", "oracle", "attention",
            "PAaAN with the mlp attention score fed the true personality", attention_score="mlp",
            baseline="IA+T+", table1=False),
    Variant("PAaAN+_shuffled", "paaan", "audio+text", "shuffled", "attention",
            "PAaAN+_oracle with the true profiles permuted across speakers (seeded): a control",
            attention_score="mlp", baseline="IA+T+", table1=False),
    Variant("P-T_oracle", "paaan", "audio+text", "oracle", "input",
            "P-T fed the true personality at every input step", baseline="IA+T", table1=False),
    Variant("P-D_oracle", "paaan", "audio+text", "oracle", "decision",
            "P-D fed the true personality at the decision layer", baseline="IA+T", table1=False),
)

BY_NAME: dict[str, Variant] = {v.name: v for v in VARIANTS}


def get_variant(name: str) -> Variant:
    return row_of(BY_NAME, name, "variant")


def select(names: str | list[str] | None) -> list[Variant]:
    """The variants named in ``names`` (comma-separated string or list). "table1" (also None or "") means the
    ablation's default rows, the paper's ten and PAaAN_oracle; "all" every row of the table."""
    if names is None or names in ("", "table1"):
        return [v for v in VARIANTS if v.table1]
    if names == "all":
        return list(VARIANTS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    return [get_variant(n) for n in names]
