"""What a study runs with: the settings the ablation and the testbed share (``StudySettings``), and the
testbed's plan around them (``TestbedSettings``: scenarios, corpus draws, speakers, the verdicts' margin,
the power curves' ``PowerPlan``), read from a profile's ``testbed`` section."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from paaan.demo import get_scenario
from paaan.demo.plan import check_speakers
from paaan.demo.scenarios import SCENARIOS
from paaan.variants import VARIANTS, Variant, get_variant


@dataclass
class StudySettings:
    """Which variants, seeds and k search a study runs, where (Ray), and how its folds are made. The ablation
    runs one study; the testbed one per scenario and corpus draw, with these same settings."""

    variants: list[Variant] = field(default_factory=list)
    seeds: int = 1
    k_tuning: str = "per_variant"  # "per_variant", "per_source" (PP/NA studies shared by P-D, P-T) or "off"
    k_trials: int = 8
    ray_address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    num_cpus: int | None = None  # local Ray cluster size (None: every core)
    force: bool = False
    workers: int = 0  # featurize processes
    register: bool = True
    protocol: str = "session"  # "session", "speaker" or "file" (with folds_file)
    folds_file: str | None = None


# When the plan names no variants: a scenario runs every variant its claims name.
QUICK = {"scenarios": ["none", "segment_gate"],
         "variants": ["IA+T", "IA+T+", "PAaAN_oracle", "PAaAN+_oracle", "PAaAN+_shuffled"], "seeds": 1, "draws": [0, 1]}
FULL = {"scenarios": "all", "variants": "claims", "seeds": 2, "draws": [0, 1, 2]}
MARGIN = 0.034  # the paper's gain (PAaAN_PP - IA+T): a predicted null must exclude an effect that large
DESIGN_DRAW = 0  # the demo seed the scenarios' design and the demo profile were tuned on


@dataclass
class PowerPlan:
    """The plan's ``power`` section: which claims, at how many speakers, on which fresh draws."""

    claims: list[str]  # "scenario: a > b", a claim of that scenario's row
    speakers: list[int]
    draws: list[int]
    seeds: int = 1
    learned_uar: float = 0.8  # a trial of a gate scenario "learned the gate" at this test UAR
    gain: float = MARGIN  # the gain whose power the table reports: the paper's +0.034
    noise: str = ""  # the claim whose fold sd answers how many speakers the gain needs (default: the first)

    @classmethod
    def from_section(cls, section: dict) -> "PowerPlan":
        plan = cls(claims=list(section.get("claims") or []), speakers=[int(n) for n in section.get("speakers") or [10]],
                   draws=[int(d) for d in section.get("draws") or [1]], seeds=int(section.get("seeds", 1)),
                   learned_uar=float(section.get("learned_uar", 0.8)), gain=float(section.get("gain", MARGIN)),
                   noise=str(section.get("noise") or ""))
        for speakers in plan.speakers:
            check_speakers(speakers)
        for text in plan.claims:
            power_claim(text)  # an unknown scenario or claim is an error naming the known ones
        plan.noise = plan.noise or (plan.claims[0] if plan.claims else "")
        if plan.claims and plan.noise not in plan.claims:
            raise ValueError(f"power noise {plan.noise!r} is not one of the power claims")
        return plan

    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(power_claim(c)[0] for c in self.claims))


def power_claim(text: str):
    """("scenario", Claim) of a power plan's "scenario: a > b"."""
    name, _, claim_text = text.partition(":")
    scenario = get_scenario(name.strip())
    for claim in scenario.claims:
        if claim.text == claim_text.strip():
            return scenario.name, claim
    raise ValueError(f"power claim {text!r}: scenario {scenario.name} has no claim {claim_text.strip()!r}; its "
                     f"claims: {', '.join(c.text for c in scenario.claims)}")


@dataclass
class TestbedSettings:
    """The testbed's plan: which scenarios, variants, seeds and corpus draws, and the study settings every
    scenario's study runs with (``study``: Ray, folds, k search; its variants and seeds are set per scenario)."""

    scenarios: list[str]
    variants: list[str] | None  # None: per scenario, the variants its claims name
    seeds: int
    study: StudySettings = field(default_factory=StudySettings)
    quick: bool = False
    demo_seeds: list[int] = field(default_factory=lambda: [DESIGN_DRAW])  # the corpus draws
    demo_speakers: int = 10
    demo_profile: str = "demo"
    margin: float = MARGIN
    design_draw: int = DESIGN_DRAW
    power: PowerPlan | None = None
    task: str = ""  # "": every scenario in the tasks its claims need; else only that task's claims

    @classmethod
    def from_plan(cls, plan: dict, quick: bool, scenarios: str = "", seeds: int = 0, power: bool = False,
                  demo_seeds: list[int] | None = None, demo_speakers: int = 0, study: StudySettings | None = None,
                  **kwargs) -> "TestbedSettings":
        """The profile's ``testbed`` section (``quick`` / ``full``, ``power`` / ``power_quick``), the defaults
        above, then the options; ``study``: the settings every scenario's study shares."""
        section = {**(QUICK if quick else FULL), **(plan.get("quick" if quick else "full") or {})}
        names = [s.strip() for s in scenarios.split(",") if s.strip()] if scenarios else section["scenarios"]
        if names == "all":
            names = [s.name for s in SCENARIOS]
        for name in names:
            get_scenario(name)  # an unknown name is an error naming the known ones
        variants = section.get("variants", "claims")
        variants = None if variants == "claims" else list(variants)
        for name in variants or []:
            get_variant(name)
        power_plan = None
        if power:
            power_plan = PowerPlan.from_section(plan.get("power_quick" if quick else "power") or {})
            if demo_seeds:
                power_plan.draws = list(demo_seeds)
            if not power_plan.claims:
                raise ValueError("the profile's testbed section has no power claims (testbed.power.claims)")
        speakers = check_speakers(demo_speakers or int(section.get("speakers", 10)))
        return cls(scenarios=list(names), variants=variants, seeds=seeds or int(section.get("seeds", 1)),
                   study=study or StudySettings(), quick=quick, demo_seeds=list(demo_seeds or section.get("draws") or [DESIGN_DRAW]),
                   demo_speakers=speakers, margin=float(plan.get("margin", MARGIN)),
                   design_draw=int(plan.get("design_draw", DESIGN_DRAW)), power=power_plan, **kwargs)

    def tasks_for(self, scenario: str) -> list[str]:
        """The tasks a scenario's studies run: those its claims are scored in (``Scenario.tasks``), or only
        ``task`` when one is given (none when the scenario has no claim in it)."""
        tasks = get_scenario(scenario).tasks()
        return [t for t in tasks if t == self.task] if self.task else tasks

    def variants_for(self, scenario: str) -> list[str]:
        """The variants a scenario runs, in variants-table order."""
        wanted = set(self.variants) if self.variants is not None else get_scenario(scenario).variants()
        return [v.name for v in VARIANTS if v.name in wanted]

    def draw_sets(self) -> list[tuple[str, list[int]]]:
        """("design", [0]) and ("held-out", the other draws), those that are run."""
        design = [d for d in self.demo_seeds if d == self.design_draw]
        others = [d for d in self.demo_seeds if d != self.design_draw]
        return [(label, draws) for label, draws in (("design", design), ("held-out", others)) if draws]

    def study_for(self, variants: list[str], seeds: int | None = None) -> StudySettings:
        """The study settings of one scenario's study: these variants and seeds, nothing registered."""
        return dataclasses.replace(self.study, variants=[get_variant(v) for v in variants],
                                   seeds=seeds or self.seeds, register=False)
