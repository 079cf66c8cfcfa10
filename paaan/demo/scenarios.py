"""The demo corpus' planted-effect scenarios as data: one row each, read by the generator and the testbed.

A scenario says which emotion x personality effects the demo corpus plants (its knobs) and what the
ablation should then find (its claims). Adding a scenario is adding one row here; the generator reads the
knobs, it holds no copy of them. Knobs:

- ``style``: how a speaker's voice shows an emotion. ``"extraversion"``: the cue pattern is
  ``w * EXTRAVERT_STYLE + (1 - w) * INTROVERT_STYLE`` with w = (1 + E/4) / 2, so the direction of several
  cues flips with extraversion (``expression.emotion_cues``). ``"fixed"``: every speaker uses
  ``EXTRAVERT_STYLE`` (w = 1): clear "hot" cues that do not depend on personality.
- ``anger_masking``: agreeable speakers word their anger politely with probability 0.5 + 0.45 * A/4
  (``expression.anger_masking_probability``); off: anger is never masked.
- ``happy_words_shift``: happiness moves into the words for introverts (plain-words share
  ``plain_share + 0.25 * E/4``); off: ``plain_share`` for every speaker.
- ``asides``: the personality-dependent bursts and hedges (``expression.aside_probabilities``); off: none.
- ``gate``: where in an utterance the emotion is, chosen by the sign of extraversion, for every four-class
  utterance (ang, hap/exc, neu, sad; the other labels are rendered as without a gate).
  ``"none"``: no gate. ``"segment"``: two sentences of similar salience, each with its own prosody and its
  own cue words; one (the carrier) has the utterance's emotion X, the other an emotion Y drawn uniformly
  from the other three; the carrier is the first sentence for E > 0 and the second for E < 0.
  ``"modality"``: one sentence; for E > 0 the voice carries X's cues and the words are a neutral line, for
  E < 0 the words are X's cue template and the voice has no emotion cues. A gate decides every four-class
  utterance's words (never plain, misleading or masked) and speaks them without asides, so it needs
  ``anger_masking``, ``happy_words_shift`` and ``asides`` off.
- ``carrier_share`` in [0.5, 1]: the chance that the carrier follows the sign of E (else it is the other
  segment or modality); 1 is a deterministic gate, 0.5 a gate that carries no information. Without a
  gate it means nothing and stays 1.
- ``valence_trait`` and ``valence_slope``: the rated valence of every utterance of a speaker moves by
  ``valence_slope`` rating points per unit of that trait (BFI-10 units), in the ratings only: the voice and
  the words are rendered as without it (``paaan.demo.ratings``), so after per-speaker normalisation the
  signal cannot show it and the speaker's personality can. Off (``""``, 0): ratings follow the signal alone.
  After PA-IEMOCAP (Gao et al. 2025), where valence correlates with agreeableness and openness (about 0.5).
- ``traits``: how the ten IEMOCAP speakers' true profiles are drawn (``plan.iemocap_speakers``).
  ``"random"``: the generator's first design (agreeableness on the same sign patterns as E, the other traits
  per speaker), kept to reproduce earlier corpora; for seed 0 fold 5's training speakers have A of E's sign.
  ``"balanced"`` (input_flip): the same, with the sessions ordered so that no fold's training speakers
  confound E and A (P-T_oracle lost 0.08 UAR on that fold under "random", measured).
  ``"paired"``: the two speakers of a session share every trait but extraversion, so in every fold the
  training speakers' sides of E are not also told apart by another trait: an effect planted on E is
  identifiable from the six training speakers. Measured why it matters: under "random", three of the five
  sessions give A the sign of E, and a fold training on those three cannot tell the two traits apart
  (segment_gate's PAaAN+_oracle learned the gate on four folds and failed on that one).
  ``"paired_agreeableness"`` (the valence scenario): the same with agreeableness as the one trait that differs
  within a session, for an effect planted on A. Under "paired" the two speakers of a session share A: each
  fold then tests on one value of A, trains on three, each shared with four other traits, and the valence
  shift cannot be told from them (measured: P-D_oracle lost 0.06 valence CCC to IA+T).
  ``"paired_openness"`` (valence_openness): the same with openness, a trait the voice hardly carries.

A ``Claim`` is a prediction the testbed checks on the corpus of its scenario: "a > b", where b is a's
same-score baseline and ``expect`` says what the paired difference a - b of its ``metric`` (UAR by default;
``ccc_valence``, ``ccc_activation``, ``ccc_dominance`` or ``ccc``: the dimensional task's, so the testbed runs
that scenario's studies under the dimensional task) should be (``paaan.testbed``
has the rules): ``greater`` (its 95% CI above 0) or ``equivalent`` (its 90% CI inside +- the profile's
margin: two one-sided tests, so a predicted null needs evidence of no effect, not only the absence of
evidence of one). Variant names are strings here: a claim may name a variant ``paaan.variants`` does not
have yet.

An ``AttentionClaim`` (segment gates only) predicts where a variant's audio attention goes, against its
same-score baseline's on the same test utterances (paired on fold and seed), so that a position bias both
share cancels: ``carrier``, the carrier segment's share of the attention the two segments get, over the
test utterances of speakers with one sign of extraversion; ``contrast``, the first segment's share for
extraverts minus for introverts (the carrier is first for one, second for the other: a model that follows
E moves attention between the segments with the sign, one that does not keeps the same split). Both signs'
carrier shares above the baseline's is a re-ranking by personality; one sign only is what the "fc" score's
sharpness route gives (paaan/models/paaan.py).

A ``CounterfactualClaim`` (segment gates only) asks whether a variant uses the gate for the right reason:
at inference each test speaker is handed the personality of the opposite-sign speaker of its session, and
the share of test utterances whose prediction moves to the other segment's emotion is compared with the
control's (PAaAN+_shuffled's) share, paired on fold and seed. A model that reads the gate from the
personality switches; one that does not, does not.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from paaan.errors import row_of

STYLES: tuple[str, ...] = ("extraversion", "fixed")
TRAIT_DESIGNS: tuple[str, ...] = ("random", "balanced", "paired", "paired_agreeableness",
                                  "paired_openness")  # plan.TRAIT_DESIGNS
GATES: tuple[str, ...] = ("none", "segment", "modality")
EXPECTATIONS: tuple[str, ...] = ("greater", "equivalent")
ATTENTION_MEASURES: tuple[str, ...] = ("carrier", "contrast")
METRICS: tuple[str, ...] = ("uar", "ccc", "ccc_valence", "ccc_activation", "ccc_dominance")  # a Claim's metric
VALENCE_TRAITS: tuple[str, ...] = ("", "openness", "conscientiousness", "extraversion", "agreeableness",
                                   "neuroticism")


class _Prediction:
    """What every kind of claim shares: its expectation checked, and its record (ground_truth.json) a dict."""

    def __post_init__(self):
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"claim {self.text!r}: expect must be one of {', '.join(EXPECTATIONS)}, "
                             f"not {self.expect!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Claim(_Prediction):
    """A prediction checked on a scenario's corpus: the paired difference ``a - b`` of ``metric``."""

    a: str  # a variant name of paaan.variants, e.g. "PAaAN+_oracle"
    b: str  # its same-score baseline, e.g. "IA+T+"
    expect: str  # "greater": the 95% CI of a - b lies above 0; "equivalent": its 90% CI lies inside +- margin
    why: str  # one sentence: why we predict this
    metric: str = "uar"  # "uar" (categorical task) or a dimensional score: METRICS

    def __post_init__(self):
        super().__post_init__()
        if self.metric not in METRICS:
            raise ValueError(f"claim {self.a} > {self.b}: metric must be one of {', '.join(METRICS)}, "
                             f"not {self.metric!r}")

    @property
    def task(self) -> str:
        """The task whose trials score this claim (paaan.tasks)."""
        return "categorical" if self.metric == "uar" else "dimensional"

    @property
    def text(self) -> str:
        return f"{self.a} > {self.b}" + ("" if self.metric == "uar" else f" on {self.metric}")


@dataclass(frozen=True)
class AttentionClaim(_Prediction):
    """A prediction about a variant's audio attention on a segment-gate corpus, against its baseline's."""

    variant: str
    baseline: str  # the same-score variant without personality, on the same test utterances
    measure: str  # "carrier": the carrier's share for one sign of E; "contrast": first-segment share E>0 - E<0
    expect: str  # "greater": the 95% CI of variant - baseline lies above 0; "equivalent": see Claim
    why: str
    sign: str | None = None  # "carrier" only: "+" extraverts (carrier first), "-" introverts (carrier second)

    def __post_init__(self):
        super().__post_init__()
        if self.measure not in ATTENTION_MEASURES:
            raise ValueError(f"attention claim on {self.variant}: measure must be one of "
                             f"{', '.join(ATTENTION_MEASURES)}, not {self.measure!r}")
        if (self.measure == "carrier") != (self.sign in ("+", "-")):
            raise ValueError(f"attention claim on {self.variant}: the carrier measure needs sign '+' or '-', "
                             f"the contrast none (got {self.sign!r})")

    @property
    def text(self) -> str:
        if self.measure == "contrast":
            return f"{self.variant} moves attention with the sign of E more than {self.baseline}"
        return (f"{self.variant} attends to the carrier more than {self.baseline} "
                f"(E {'>' if self.sign == '+' else '<'} 0)")


@dataclass(frozen=True)
class CounterfactualClaim(_Prediction):
    """Handed its session partner's personality, does a variant's prediction move to the other segment's
    emotion more often than the control's (``paaan.testbed.counterfactual_moves``)?"""

    variant: str
    control: str  # the variant with the same capacity and no information: PAaAN+_shuffled
    expect: str
    why: str

    @property
    def text(self) -> str:
        return f"{self.variant} switches with the partner's personality more than {self.control}"


@dataclass(frozen=True)
class Scenario:
    """One planted-effect setting of the demo corpus: its knobs (module docstring) and its claims."""

    name: str
    description: str  # what it plants, in a researcher's words
    style: str  # "extraversion" | "fixed"
    anger_masking: bool
    happy_words_shift: bool
    asides: bool
    gate: str  # "none" | "segment" | "modality"
    carrier_share: float = 1.0  # in [0.5, 1]; 1 without a gate
    traits: str = "random"  # a row of TRAIT_DESIGNS
    valence_trait: str = ""  # a trait whose score shifts the rated valence ("" none)
    valence_slope: float = 0.0  # rating points per trait unit
    claims: tuple[Claim, ...] = ()
    attention_claims: tuple[AttentionClaim, ...] = ()
    counterfactual_claims: tuple[CounterfactualClaim, ...] = ()

    def __post_init__(self):
        if not re.fullmatch(r"[a-z0-9_]+", self.name):
            raise ValueError(f"scenario name {self.name!r}: use lower-case letters, digits and _ (it names folders)")
        if self.style not in STYLES:
            raise ValueError(f"scenario {self.name!r}: style must be one of {', '.join(STYLES)}, not {self.style!r}")
        if self.traits not in TRAIT_DESIGNS:
            raise ValueError(f"scenario {self.name!r}: traits must be one of {', '.join(TRAIT_DESIGNS)}, not {self.traits!r}")
        if self.gate not in GATES:
            raise ValueError(f"scenario {self.name!r}: gate must be one of {', '.join(GATES)}, not {self.gate!r}")
        share = self.carrier_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.5 <= share <= 1.0:
            raise ValueError(f"scenario {self.name!r}: carrier_share must be a number in [0.5, 1], not {share!r}")
        if self.gate == "none" and share != 1.0:
            raise ValueError(f"scenario {self.name!r}: carrier_share means nothing without a gate; leave it at 1")
        word_effects = [k for k in ("anger_masking", "happy_words_shift", "asides") if getattr(self, k)]
        if self.gate != "none" and word_effects:
            raise ValueError(f"scenario {self.name!r}: a {self.gate} gate decides every four-class utterance's "
                             f"words and speaks them without asides; turn off {', '.join(word_effects)}")
        if self.valence_trait not in VALENCE_TRAITS:
            raise ValueError(f"scenario {self.name!r}: valence_trait must be one of "
                             f"{', '.join(t for t in VALENCE_TRAITS if t)} or empty, not {self.valence_trait!r}")
        if bool(self.valence_trait) != bool(self.valence_slope):
            raise ValueError(f"scenario {self.name!r}: valence_trait and valence_slope go together")
        if not all(isinstance(c, Claim) for c in self.claims):
            raise ValueError(f"scenario {self.name!r}: claims must be Claim rows")
        if (self.attention_claims or self.counterfactual_claims) and self.gate != "segment":
            raise ValueError(f"scenario {self.name!r}: attention and counterfactual claims need a segment gate "
                             "(segments to look at, another segment's emotion to move to)")

    @property
    def slug(self) -> str:
        """The scenario's part of a folder name: ``segment_gate_75-carrier_share0.75``; the name without a gate."""
        return self.name if self.gate == "none" else f"{self.name}-carrier_share{self.carrier_share:g}"

    def knobs(self) -> dict:
        """Every knob, JSON-serialisable (written into ground_truth.json, compared by ``generator.matches``)."""
        return {"style": self.style, "anger_masking": self.anger_masking,
                "happy_words_shift": self.happy_words_shift, "asides": self.asides, "gate": self.gate,
                "carrier_share": float(self.carrier_share), "traits": self.traits,
                "valence_trait": self.valence_trait, "valence_slope": float(self.valence_slope)}

    def as_dict(self) -> dict:
        """The ground-truth record: name, slug, description, knobs and claims."""
        return {"name": self.name, "slug": self.slug, "description": self.description, "knobs": self.knobs(),
                "claims": [c.as_dict() for c in self.claims],
                "attention_claims": [c.as_dict() for c in self.attention_claims],
                "counterfactual_claims": [c.as_dict() for c in self.counterfactual_claims]}

    def tasks(self) -> list[str]:
        """The tasks its claims are scored in, categorical first ("categorical" when it has none)."""
        wanted = {c.task for c in self.claims} or {"categorical"}
        return [t for t in ("categorical", "dimensional") if t in wanted]

    def variants(self) -> set[str]:
        """Every variant a claim of this scenario names."""
        return ({n for c in self.claims for n in (c.a, c.b)}
                | {n for c in self.attention_claims for n in (c.variant, c.baseline)}
                | {n for c in self.counterfactual_claims for n in (c.variant, c.control)})


_NO_WORD_EFFECTS = dict(anger_masking=False, happy_words_shift=False, asides=False, traits="paired")


def _valence_claims(trait: str) -> tuple[Claim, ...]:
    """The claims of a scenario that shifts the rated valence by a trait (dimensional task)."""
    return (
        Claim("P-D_oracle", "IA+T", "greater",
              "The shift is a constant per speaker: a head that reads the traits can add it.", "ccc_valence"),
        Claim("PAaAN+_oracle", "IA+T+", "greater",
              "With g_P in every step's score the attention, hence the context vector, can carry the "
              f"speaker's {trait} to the head.", "ccc_valence"),
        Claim("PAaAN+_oracle", "IA+T+", "equivalent",
              "Arousal follows the signal alone: knowing the traits adds nothing.", "ccc_activation"),
        Claim("PAaAN+_shuffled", "IA+T+", "equivalent",
              "Permuted traits say nothing about a test speaker's shift.", "ccc_valence"),
    )


_RERANKS = (
    *(AttentionClaim("PAaAN+_oracle", "IA+T+", "carrier", "greater",
                     "The mlp score can put the carrier's steps first for either sign of E: a re-ranking.", sign)
      for sign in ("+", "-")),
    AttentionClaim("PAaAN+_oracle", "IA+T+", "contrast", "greater",
                   "Re-ranked by E, the first segment gets more attention for extraverts than for introverts."),
)


def _switches(variants: tuple[str, ...]) -> tuple[CounterfactualClaim, ...]:
    return tuple(CounterfactualClaim(v, "PAaAN+_shuffled", "greater",
                                     "A model that reads the gate from E looks at the other segment when handed "
                                     "the opposite sign of E; the control cannot have learned that.")
                 for v in variants)


def _segment_gate(name: str, carrier_share: float, strength: str, claims: tuple[Claim, ...],
                  switches: tuple[str, ...]) -> Scenario:
    return Scenario(
        name,
        f"{strength}: every four-class utterance is two sentences of similar salience, each with its own "
        "prosody and cue words, one with the utterance's emotion and one with another; the carrier is the "
        f"first sentence for extraverts and the second for introverts with probability {carrier_share:g}. "
        "Cues are hot and the same for everyone: personality says only where to listen.",
        style="fixed", gate="segment", carrier_share=carrier_share, claims=claims, attention_claims=_RERANKS,
        counterfactual_claims=_switches(switches), **_NO_WORD_EFFECTS,
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "input_flip",
        "Extraversion blends two expression styles, so several voice cues point the other way for introverts; "
        "agreeable speakers mask anger in polite words; introverts put happiness in words; asides (bursts, "
        "hedges) are a habit on one side of extraversion and an emotion cue on the other.",
        style="extraversion", anger_masking=True, happy_words_shift=True, asides=True, gate="none",
        traits="balanced",
        claims=(
            Claim("P-T_oracle", "IA+T", "greater",
                  "Personality at the input lets the BLSTM read a cue's direction as E says, undoing the flip."),
            Claim("PAaAN_oracle", "IA+T", "equivalent",
                  "Attention only re-weights steps; it cannot flip what a cue means."),
            Claim("PAaAN+_oracle", "IA+T+", "equivalent",
                  "Re-weighting still cannot flip a cue, and the asides are a small local effect."),
        ),
    ),
    Scenario(
        "none",
        "The null scenario: the same hot cues for every speaker, no masking, no shift of happiness into words, "
        "no asides, no gate. Voices still carry personality (TRAIT_VOICE) in both corpora, so retrieval works, "
        "but emotion does not depend on it.",
        style="fixed", gate="none", **_NO_WORD_EFFECTS,
        claims=tuple(
            Claim(a, b, "equivalent", why) for a, b, why in (
                ("PAaAN+_oracle", "IA+T+", "Nothing about emotion depends on personality, so knowing it adds nothing."),
                ("PAaAN_oracle", "IA+T", "Nothing about emotion depends on personality, so knowing it adds nothing."),
                ("PAaAN+_PP", "IA+T+", "Retrieved personality cannot help where even the true one cannot."),
                ("PAaAN_PP", "IA+T", "Retrieved personality cannot help where even the true one cannot."),
                ("P-T_oracle", "IA+T", "Cue directions are the same for everyone, so there is nothing to undo."),
                ("P-D_oracle", "IA+T", "The decision has no personality-dependent rule to learn."),
                ("PAaAN+_shuffled", "IA+T+", "Permuted traits carry no information, here as anywhere."),
            )
        ),
    ),
    _segment_gate("segment_gate", 1.0, "A deterministic segment gate", (
        Claim("PAaAN+_oracle", "IA+T+", "greater",
              "The mlp score sees g_P with each step, so it can re-rank the two segments by personality."),
        Claim("PAaAN_oracle", "IA+T", "greater",
              "The fc score's constant g_P term sharpens or flattens attention, which the head can read back."),
        Claim("PAaAN+_shuffled", "IA+T+", "equivalent",
              "Permuted traits say nothing about which segment a test speaker's emotion is in."),
        Claim("P-T_oracle", "IA+T", "greater",
              "Personality at every input step lets the BLSTM carry forward only the carrier segment."),
        Claim("P-D_oracle", "IA+T", "greater",
              "Given both segments' evidence in the context vectors, the decision can pick one by the sign of E."),
        Claim("PAaAN+_PP", "IA+T+", "greater",
              "Retrieval recovers the sign of E well on the demo corpus, and the sign is all the gate needs."),
    ), switches=("PAaAN+_oracle", "PAaAN_oracle", "P-T_oracle", "P-D_oracle", "PAaAN+_PP")),
    _segment_gate("segment_gate_75", 0.75, "A weaker segment gate (dose-response)", (
        Claim("PAaAN+_oracle", "IA+T+", "greater",
              "Three carriers in four still follow E, enough for personality to say where to listen."),
        Claim("PAaAN+_shuffled", "IA+T+", "equivalent",
              "Permuted traits say nothing about which segment a test speaker's emotion is in."),
    ), switches=("PAaAN+_oracle",)),
    Scenario(
        "modality_gate",
        "For extraverts the voice carries the emotion and the words are neutral; for introverts the words "
        "carry it and the voice has no emotion cues. Cues are hot and the same for everyone.",
        style="fixed", gate="modality", carrier_share=1.0, **_NO_WORD_EFFECTS,
        claims=(
            Claim("PAaAN_oracle", "IA+T", "equivalent",
                  "Eq. 3 normalises attention within each modality, so it cannot move weight between voice and "
                  "words, and the neutral other modality leaves the carrier visible without personality."),
            Claim("PAaAN+_oracle", "IA+T+", "equivalent",
                  "Attention is still normalised within each modality, and the carrier is visible without it."),
            Claim("P-D_oracle", "IA+T", "equivalent",
                  "The non-carrier modality is neutral, so the decision can find the carrier without E."),
        ),
    ),
    Scenario(
        "valence_agreeableness",
        "After PA-IEMOCAP: agreeable speakers are rated more positive for the same voice and words, by 0.25 "
        "valence points per BFI-10 unit of agreeableness (+-1 at the poles), in the ratings only; arousal and "
        "dominance follow the signal alone. The two speakers of a session differ in agreeableness alone "
        "(paired_agreeableness), so every fold tests on both sides of it. Otherwise the null scenario: hot cues "
        "for everyone, no word effects, no gate. Scored in the dimensional task.",
        style="fixed", gate="none", valence_trait="agreeableness", valence_slope=0.25,
        **(_NO_WORD_EFFECTS | {"traits": "paired_agreeableness"}),
        claims=_valence_claims("agreeableness"),
    ),
    Scenario(
        "valence_openness",
        "valence_agreeableness with openness (PA-IEMOCAP's other trait tied to valence, r 0.53): open speakers "
        "are rated more positive for the same voice and words, 0.25 valence points per BFI-10 unit, in the ratings "
        "only. Unlike agreeableness, which the demo voices carry (softer, breathier, less pressed), openness "
        "barely moves a voice and what it moves (pitch level, range) per-speaker z-normalisation removes: the "
        "signal cannot tell an open speaker, so only the traits can explain the shift. Sessions differ in "
        "openness alone (paired_openness).",
        style="fixed", gate="none", valence_trait="openness", valence_slope=0.25,
        **(_NO_WORD_EFFECTS | {"traits": "paired_openness"}),
        claims=_valence_claims("openness"),
    ),
)

BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}


def get_scenario(name: str) -> Scenario:
    return row_of(BY_NAME, name, "demo scenario")


def resolve(scenario: str | Scenario) -> Scenario:
    """A Scenario from a row of SCENARIOS by name, or a Scenario as given (e.g. ``dataclasses.replace`` of a row)."""
    return scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
