"""The ``testbed`` step: does personality help? Every planted-effect scenario's claims, measured on fresh corpora.

For each scenario of ``paaan.demo.scenarios`` (the plan: all of them, or ``--quick``'s) and each corpus draw
(a demo seed; the plan's ``draws``), one nested run ``scenario: <name> (draw <seed>)`` under the ``testbed``
parent: its demo corpus (generated or reused), featurize -> shla -> retrieve, and the same study the
ablation runs (``experiments.ablation.run_study``: k tuning where a retrieval variant needs it, variants x
folds x seeds on Ray Tune, one summary run per variant; no final models, nothing registered). The variants
are those the scenario's claims name (or the plan's list). Then, on the parent: ``verdicts.csv`` /
``verdicts.md`` (see ``paaan.testbed``: greater, less, equivalent within the plan's margin, or
inconclusive), with the draw the design was tuned on (``design_draw``, demo seed 0) reported apart from the
draws it never saw, ``differences.png`` and, for the segment gates, ``attention_carrier.csv`` / ``.png`` and
the counterfactual moves (``counterfactual.csv``).

``--power`` (``run_power``): the plan's ``power`` claims on fresh draws at several numbers of speakers, one
nested run per (scenario, speakers, draw); ``power.csv``, ``power.md``, ``power.png`` and ``power_draws.csv``
on the parent (``paaan.power``).

Resume: a FINISHED scenario run with the same inputs is reused as it is; an interrupted one's finished trials
are adopted by the next attempt (the ablation's rule); a FINISHED testbed with the same inputs is reported.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from experiments import tracking
from experiments.ablation import (AblationSettings, ablation_key, adopt_finished_children, close_running, find_previous,
                                  run_study, start_ray)
from experiments.corpora import resolve_corpora
from experiments.featurize import store_of
from experiments.train import prepare_upstream
from experiments.trials import TrialContext
from paaan.config import Profile
from paaan.data.folds import make_folds
from paaan.demo import get_scenario
from paaan.demo.plan import check_speakers
from paaan.demo.scenarios import SCENARIOS
from paaan.power import plot_power, power_cells, power_markdown, speakers_needed
from paaan.testbed import (CELL, attention_rows, carrier_shares, claim_rows, counterfactual_moves, counterfactual_rows,
                           differences_from, judge, plot_carrier_attention, plot_differences, unit_means, verdicts,
                           paired_cells, verdicts_markdown)
from paaan.variants import VARIANTS, get_variant

STEP = "testbed"
SCENARIO_STEP = "scenario"
POWER_STEP = "testbed_power"
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

    @classmethod
    def from_section(cls, section: dict) -> "PowerPlan":
        plan = cls(claims=list(section.get("claims") or []), speakers=[int(n) for n in section.get("speakers") or [10]],
                   draws=[int(d) for d in section.get("draws") or [1]], seeds=int(section.get("seeds", 1)),
                   learned_uar=float(section.get("learned_uar", 0.8)), gain=float(section.get("gain", MARGIN)))
        for speakers in plan.speakers:
            check_speakers(speakers)
        for text in plan.claims:
            power_claim(text)  # an unknown scenario or claim is an error naming the known ones
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
    scenarios: list[str]
    variants: list[str] | None  # None: per scenario, the variants its claims name
    seeds: int
    quick: bool = False
    demo_seeds: list[int] = field(default_factory=lambda: [DESIGN_DRAW])  # the corpus draws
    demo_speakers: int = 10
    demo_profile: str = "demo"
    protocol: str = "session"
    folds_file: str | None = None
    ray_address: str | None = None
    num_cpus: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    workers: int = 0
    force: bool = False
    k_tuning: str = "per_source"
    k_trials: int | None = None  # None: the profile's
    margin: float = MARGIN
    design_draw: int = DESIGN_DRAW
    power: PowerPlan | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: dict, quick: bool, scenarios: str = "", seeds: int = 0, power: bool = False,
                  demo_seeds: list[int] | None = None, demo_speakers: int = 0, **kwargs) -> "TestbedSettings":
        """The profile's ``testbed`` section (``quick`` / ``full``, ``power`` / ``power_quick``), the defaults
        above, then the options."""
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
                   quick=quick, demo_seeds=list(demo_seeds or section.get("draws") or [DESIGN_DRAW]),
                   demo_speakers=speakers, margin=float(plan.get("margin", MARGIN)),
                   design_draw=int(plan.get("design_draw", DESIGN_DRAW)), power=power_plan, **kwargs)

    def variants_for(self, scenario: str) -> list[str]:
        """The variants a scenario runs, in variants-table order."""
        wanted = set(self.variants) if self.variants is not None else get_scenario(scenario).variants()
        return [v.name for v in VARIANTS if v.name in wanted]

    def draw_sets(self) -> list[tuple[str, list[int]]]:
        """("design", [0]) and ("held-out", the other draws), those that are run."""
        design = [d for d in self.demo_seeds if d == self.design_draw]
        others = [d for d in self.demo_seeds if d != self.design_draw]
        return [(label, draws) for label, draws in (("design", design), ("held-out", others)) if draws]


def testbed_profile(profile: Profile, plan: dict) -> Profile:
    """The profile the testbed trains with: the ``testbed`` section's own ``train`` settings over the profile's
    (the demo's: patience 10 where the ablation has 6, because a segment gate is learned late)."""
    return profile.replace(train=dict(plan.get("train") or {}))


def testbed_key(profile: Profile, settings: TestbedSettings, step: str = STEP) -> str:
    from experiments.ablation import folds_fingerprint

    power = settings.power.__dict__ if settings.power else None
    return tracking.cache_key(step, {
        "profile": profile.to_dict(), "scenarios": {s: get_scenario(s).as_dict() for s in settings.scenarios},
        "variants": {s: settings.variants_for(s) for s in settings.scenarios}, "seeds": settings.seeds,
        "demo": [settings.demo_seeds, settings.demo_profile, settings.demo_speakers], "protocol": settings.protocol,
        "folds": folds_fingerprint(settings.folds_file), "k_tuning": settings.k_tuning, "k_trials": settings.k_trials,
        "margin": settings.margin, "design_draw": settings.design_draw, "power": power,
    })


def _study_settings(settings: TestbedSettings, variants: list[str], seeds: int, profile: Profile) -> AblationSettings:
    return AblationSettings(
        variants=[get_variant(v) for v in variants], seeds=seeds,
        k_tuning=settings.k_tuning, k_trials=settings.k_trials or profile.tune.k_trials,
        ray_address=settings.ray_address, cpus_per_trial=settings.cpus_per_trial,
        gpus_per_trial=settings.gpus_per_trial, max_failures=settings.max_failures, num_cpus=settings.num_cpus,
        workers=settings.workers, register=False, protocol=settings.protocol, folds_file=settings.folds_file)


@dataclass
class ScenarioOutcome:
    name: str
    draw: int
    run_id: str
    results: pd.DataFrame  # one row per (variant, fold, seed), with the draw
    shares: pd.DataFrame  # carrier shares of the segment gates' test utterances (empty otherwise)
    moves: pd.DataFrame  # counterfactual moves of the segment gates' test utterances (empty otherwise)


def run_scenario(name: str, draw: int, profile: Profile, settings: TestbedSettings, parent_id: str,
                 experiment_id: str, speakers: int | None = None, variants: list[str] | None = None,
                 seeds: int | None = None) -> ScenarioOutcome:
    """One scenario's corpus draw and study in a nested run (a FINISHED one with the same inputs is reused)."""
    speakers = speakers or settings.demo_speakers
    corpora = resolve_corpora(demo_seed=draw, demo_profile=settings.demo_profile, demo_scenario=name,
                              demo_speakers=speakers)
    study_settings = _study_settings(settings, variants or settings.variants_for(name), seeds or settings.seeds, profile)
    key = ablation_key(corpora, profile, study_settings, step=SCENARIO_STEP)
    previous = find_previous(key, experiment_id, step=SCENARIO_STEP)
    finished = [r for r in previous if r.info.status == "FINISHED"]
    label = f"{name} (draw {draw}" + (f", {speakers} speakers)" if speakers != 10 else ")")
    if finished and not settings.force:
        run = finished[0]
        mlflow.tracking.MlflowClient().set_tag(run.info.run_id, "mlflow.parentRunId", parent_id)
        print(f"scenario {label}: reusing finished run {run.info.run_id}", flush=True)
        return _outcome(name, draw, run.info.run_id, corpora)
    tags = {tracking.TAG_KEY: key, "paaan.scenario": name, "paaan.demo_corpus": "True", "paaan.draw": str(draw),
            "paaan.speakers": str(speakers)}
    with tracking.step_run(f"scenario: {label}", SCENARIO_STEP, parent_run_id=parent_id, tags=tags) as run:
        run_id = run.info.run_id
        adopted = adopt_finished_children(previous, run_id, experiment_id)
        if adopted:
            print(f"scenario {label}: {adopted} finished runs of an interrupted attempt adopted", flush=True)
        scenario = get_scenario(name)
        tracking.log_params({"scenario": name, "scenario_slug": scenario.slug, **scenario.knobs(),
                             "variants": ",".join(v.name for v in study_settings.variants),
                             "seeds": study_settings.seeds, "demo_seed": draw, "demo_speakers": speakers,
                             "protocol": settings.protocol, "iemocap_root": corpora.iemocap})
        mlflow.log_dict(scenario.as_dict(), "scenario.json")
        spaces = {v.personality for v in study_settings.variants} & {"PP", "NA"}
        upstream = prepare_upstream(corpora, profile, spaces, workers=settings.workers, parent_run_id=run_id)
        store = store_of(upstream.featurize)
        n_folds = len(make_folds(store.utterances, settings.protocol, settings.folds_file))
        context = TrialContext(tracking_uri=mlflow.get_tracking_uri(), experiment_id=experiment_id,
                               parent_run_id=run_id, ablation_key=key, profile=profile, upstream=upstream,
                               protocol=settings.protocol, folds_file=settings.folds_file)
        try:
            study = run_study(context, study_settings, n_folds, len(store.clips), synthetic=True)
            if study.missing:
                raise RuntimeError(f"scenario {label}: {study.missing} trials did not finish; rerun to finish them")
            outcome = _outcome(name, draw, run_id, corpora, study.results)
            if len(outcome.shares):
                _log_shares(outcome.shares, f"{label}: the carrier's share of audio attention", results=outcome.results)
            if len(outcome.moves):
                _log_moves(outcome.moves)
        finally:
            close_running(run_id, experiment_id)
    return outcome


def _outcome(name: str, draw: int, run_id: str, corpora, results: pd.DataFrame | None = None) -> ScenarioOutcome:
    if results is None:
        results = pd.read_csv(tracking.local_artifact_dir(run_id, "fold_results.csv"))
    results = results.assign(draw=draw)
    truth = json.loads(Path(corpora.ground_truth).read_text())
    return ScenarioOutcome(name, draw, run_id, results, trial_shares(results, truth), trial_moves(results, truth))


def _segments(truth: dict) -> dict:
    segments = truth["iemocap"].get("utterance_segments") or {}
    return segments if any("carrier" in info for info in segments.values()) else {}


def trial_shares(results: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Carrier shares of every segment-gate test utterance of every trial that logged its attention."""
    segments = _segments(truth)
    if not segments:
        return pd.DataFrame(columns=["variant", *CELL, "utterance_id", "share", "first_share", "sign"])
    signs = {speaker: "+" if info["traits"]["extraversion"] > 0 else "-"
             for speaker, info in truth["iemocap"]["speakers"].items()}
    frames = []
    for row in results.itertuples():
        try:
            attention = pd.read_parquet(tracking.local_artifact_dir(row.run_id, "attention_audio.parquet"),
                                        columns=["utterance_id", "step", "alpha", "speaker"])
        except FileNotFoundError:
            continue
        shares = carrier_shares(attention, segments)
        speaker = attention.drop_duplicates("utterance_id").set_index("utterance_id")["speaker"]
        frames.append(shares.assign(variant=row.variant, draw=row.draw, fold=row.fold, seed=row.seed,
                                    sign=speaker.loc[shares["utterance_id"]].map(signs).to_numpy()))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def trial_moves(results: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Counterfactual moves of every segment-gate test utterance of every trial that scored them."""
    segments = _segments(truth)
    if not segments:
        return pd.DataFrame()
    frames = []
    for row in results.itertuples():
        try:
            predictions = pd.read_csv(tracking.local_artifact_dir(row.run_id, "predictions.csv"))
        except FileNotFoundError:
            continue
        if "counterfactual" not in predictions:
            continue
        moves = counterfactual_moves(predictions, segments)
        frames.append(moves.assign(variant=row.variant, draw=row.draw, fold=row.fold, seed=row.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def carrier_by_trial(shares: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per trial (variant, draw, fold, seed): the carrier's mean share for each sign of E, beside the trial's
    UAR: whether a trial that learned the gate is one whose attention moved to the carrier."""
    shares = shares if "draw" in shares else shares.assign(draw=0)
    table = shares.groupby(["variant", *CELL, "sign"])["share"].mean().unstack("sign")
    table = table.rename(columns={"+": "carrier_share_extraverts", "-": "carrier_share_introverts"})
    if results is not None and len(results):
        keyed = results if "draw" in results else results.assign(draw=0)
        keyed = keyed.assign(fold=keyed["fold"].astype(int), seed=keyed["seed"].astype(int))
        table = table.join(keyed.set_index(["variant", *CELL])["uar"])
    return table.reset_index()


def _log_shares(shares: pd.DataFrame, title: str, prefix: str = "", results: pd.DataFrame | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        summary = (shares.groupby(["variant", "sign", *CELL])["share"].mean().groupby(["variant", "sign"])
                   .agg(["mean", "min", "max", "count"]).reset_index())
        summary.to_csv(tmp / f"{prefix}attention_carrier.csv", index=False)
        carrier_by_trial(shares, results).round(4).to_csv(tmp / f"{prefix}attention_carrier_trials.csv", index=False)
        plot_carrier_attention(shares, tmp / f"{prefix}attention_carrier.png", title)
        mlflow.log_artifacts(str(tmp))


def _log_moves(moves: pd.DataFrame, prefix: str = "") -> None:
    """Per trial: the share of gated test utterances whose prediction moved to the other segment's emotion."""
    table = (moves.groupby(["variant", *CELL]).agg(moved=("moved", "mean"), carrier_predicted=("carrier_predicted", "mean"),
                                                   utterances=("moved", "size")).reset_index())
    with tempfile.TemporaryDirectory() as tmp:
        table.round(4).to_csv(Path(tmp) / f"{prefix}counterfactual.csv", index=False)
        mlflow.log_artifacts(tmp)


def verdict_rows(name: str, outcomes: list[ScenarioOutcome], settings: TestbedSettings) -> list[dict]:
    """Every claim of a scenario, on the design draw and on the held-out draws apart."""
    scenario = get_scenario(name)
    rows = []
    for _, draws in settings.draw_sets():
        mine = [o for o in outcomes if o.draw in draws]
        if not mine:
            continue
        results = pd.concat([o.results for o in mine], ignore_index=True)
        rows += claim_rows(name, scenario.claims, results, settings.margin)
        shares = [o.shares for o in mine if len(o.shares)]
        if shares:
            rows += attention_rows(name, scenario.attention_claims, pd.concat(shares, ignore_index=True),
                                   settings.margin)
        moves = [o.moves for o in mine if len(o.moves)]
        if moves:
            rows += counterfactual_rows(name, scenario.counterfactual_claims, pd.concat(moves, ignore_index=True),
                                        settings.margin)
    return rows


def _parent_params(profile: Profile, settings: TestbedSettings, plan: str) -> dict:
    return {"plan": plan, "scenarios": ",".join(settings.scenarios), "seeds": settings.seeds,
            "protocol": settings.protocol, "demo_seeds": ",".join(map(str, settings.demo_seeds)),
            "design_draw": settings.design_draw, "demo_speakers": settings.demo_speakers,
            "demo_profile": settings.demo_profile, "margin": settings.margin, **profile.flat()}


def _reuse_finished(key: str, step: str, settings: TestbedSettings, experiment_id: str, artifact: str) -> str | None:
    previous = find_previous(key, experiment_id, step=step)
    done = [r for r in previous if r.info.status == "FINISHED"]
    if done and not settings.force:
        tracking.note_reuse(step, done[0].info.run_id, entry=True)
        _print_artifact(done[0].info.run_id, artifact)
        return done[0].info.run_id
    return None


def _shutdown(parent_id: str, experiment_id: str) -> None:
    close_running(parent_id, experiment_id)
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except Exception:  # shutting down after an interrupt must not hide the original error
        pass


def run_testbed(profile: Profile, settings: TestbedSettings) -> str:
    """Body of ``mlflow run . -e testbed`` / ``paaan testbed``; returns the parent run id."""
    started = time.perf_counter()
    experiment_id = tracking.experiment_id()
    key = testbed_key(profile, settings)
    reused = _reuse_finished(key, STEP, settings, experiment_id, "verdicts.md")
    if reused:
        return reused
    plan = "quick" if settings.quick else "full"
    tags = {tracking.TAG_KEY: key, "paaan.demo_corpus": "True", "paaan.testbed_plan": plan}
    with tracking.step_run("testbed", STEP, tags=tags, entry=True, system_metrics=True) as parent:
        parent_id = parent.info.run_id
        try:
            tracking.log_params(_parent_params(profile, settings, plan))
            start_ray(AblationSettings(variants=[], ray_address=settings.ray_address, num_cpus=settings.num_cpus))
            rows, differences, all_shares, all_moves, results_of = [], {}, [], [], {}
            for name in settings.scenarios:
                outcomes = [run_scenario(name, draw, profile, settings, parent_id, experiment_id)
                            for draw in settings.demo_seeds]
                rows += verdict_rows(name, outcomes, settings)
                results = pd.concat([o.results for o in outcomes], ignore_index=True)
                results_of[name] = results
                shares = [o.shares for o in outcomes if len(o.shares)]
                if shares:
                    all_shares.append(pd.concat(shares, ignore_index=True).assign(scenario=name))
                moves = [o.moves for o in outcomes if len(o.moves)]
                if moves:
                    all_moves.append(pd.concat(moves, ignore_index=True).assign(scenario=name))
                held_out = results[results["draw"] != settings.design_draw]
                differences[name] = differences_from(held_out if len(held_out) else results, "IA+T")
            table = verdicts(rows)
            seconds = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                table.to_csv(tmp / "verdicts.csv", index=False)
                (tmp / "verdicts.md").write_text(verdicts_markdown(table, seconds, settings.design_draw))
                plot_differences(differences, tmp / "differences.png")
                mlflow.log_artifacts(str(tmp))
            for shares in all_shares:
                name = shares["scenario"].iloc[0]
                _log_shares(shares, f"{name}: the carrier's share of audio attention", prefix=f"{name}_",
                            results=results_of.get(name))
            for moves in all_moves:
                _log_moves(moves, prefix=f"{moves['scenario'].iloc[0]}_")
            mlflow.log_metrics({"claims": len(table), "claims_held": int(table["held"].sum()) if len(table) else 0,
                                "wall_seconds": seconds})
            print("\n" + verdicts_markdown(table, seconds, settings.design_draw), flush=True)
        finally:
            _shutdown(parent_id, experiment_id)
    print(f"testbed parent run: {parent_id} (verdicts.md and the figures are its artifacts)", flush=True)
    return parent_id


def power_draw_rows(outcome: ScenarioOutcome, claims: list, speakers: int, margin: float) -> tuple[list[dict], list[dict]]:
    """Per claim of one (scenario, speakers, draw) study: its outcome, estimate and fold differences; and the
    UAR of each trial of the claim's variant."""
    draws, trials = [], []
    for claim in claims:
        text = f"{outcome.name}: {claim.text}"
        cells = paired_cells(outcome.results, claim.a, claim.b, "uar", CELL)
        if cells.empty:
            continue
        units = unit_means(cells.assign(difference=cells["a"] - cells["b"]))
        verdict = judge(units.to_numpy(), claim.expect, margin)
        draws.append({"claim": text, "speakers": speakers, "draw": outcome.draw, "expect": claim.expect,
                      "outcome": verdict["outcome"], "held": verdict["outcome"] == claim.expect,
                      "estimate": verdict["estimate"], "ci_low": verdict["ci_low"], "ci_high": verdict["ci_high"],
                      "differences": [round(float(d), 6) for d in units.to_numpy()], "run_id": outcome.run_id})
        mine = outcome.results[outcome.results["variant"] == claim.a]
        trials += [{"claim": text, "speakers": speakers, "draw": outcome.draw, "uar": float(u)} for u in mine["uar"]]
    return draws, trials


def run_power(profile: Profile, settings: TestbedSettings) -> str:
    """``paaan testbed --power``: the plan's power claims on fresh draws at each number of speakers."""
    plan = settings.power
    if plan is None:
        raise ValueError("run_power needs settings.power (TestbedSettings.from_plan(..., power=True))")
    started = time.perf_counter()
    experiment_id = tracking.experiment_id()
    settings.scenarios = plan.scenarios()
    key = testbed_key(profile, settings, step=POWER_STEP)
    reused = _reuse_finished(key, POWER_STEP, settings, experiment_id, "power.md")
    if reused:
        return reused
    claims_of: dict[str, list] = {}
    for text in plan.claims:
        name, claim = power_claim(text)
        claims_of.setdefault(name, []).append(claim)
    name_plan = "power_quick" if settings.quick else "power"
    tags = {tracking.TAG_KEY: key, "paaan.demo_corpus": "True", "paaan.testbed_plan": name_plan}
    with tracking.step_run("testbed power", POWER_STEP, tags=tags, entry=True, system_metrics=True) as parent:
        parent_id = parent.info.run_id
        try:
            tracking.log_params({**_parent_params(profile, settings, name_plan), "power_claims": " | ".join(plan.claims),
                                 "power_speakers": ",".join(map(str, plan.speakers)),
                                 "power_draws": ",".join(map(str, plan.draws)), "power_seeds": plan.seeds,
                                 "learned_uar": plan.learned_uar, "gain": plan.gain})
            start_ray(AblationSettings(variants=[], ray_address=settings.ray_address, num_cpus=settings.num_cpus))
            draws, trials = [], []
            for speakers in plan.speakers:
                for draw in plan.draws:
                    for name, claims in claims_of.items():
                        variants = sorted({n for c in claims for n in (c.a, c.b)})
                        outcome = run_scenario(name, draw, profile, settings, parent_id, experiment_id,
                                               speakers=speakers, variants=variants, seeds=plan.seeds)
                        more_draws, more_trials = power_draw_rows(outcome, claims, speakers, settings.margin)
                        draws += more_draws
                        trials += more_trials
            draws_table, trials_table = pd.DataFrame(draws), pd.DataFrame(trials)
            cells = power_cells(draws_table, trials_table, plan.gain, plan.learned_uar)
            needed = {claim: speakers_needed(group, plan.gain) for claim, group in cells.groupby("claim", sort=False)}
            seconds = time.perf_counter() - started
            text = power_markdown(cells, needed, plan.gain) + f"\nWall time: {seconds / 60:.1f} min.\n"
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                cells.to_csv(tmp / "power.csv", index=False)
                draws_table.to_csv(tmp / "power_draws.csv", index=False)
                (tmp / "power.md").write_text(text)
                (tmp / "speakers_needed.json").write_text(json.dumps(needed, indent=1))
                plot_power(cells, tmp / "power.png", plan.gain)
                mlflow.log_artifacts(str(tmp))
            mlflow.log_metric("wall_seconds", seconds)
            print("\n" + text, flush=True)
        finally:
            _shutdown(parent_id, experiment_id)
    print(f"testbed power parent run: {parent_id} (power.md, power.csv and power.png are its artifacts)", flush=True)
    return parent_id


def _print_artifact(run_id: str, name: str) -> None:
    try:
        print(Path(tracking.local_artifact_dir(run_id, name)).read_text(), flush=True)
    except FileNotFoundError:
        pass
