"""The ``testbed`` step: does personality help? Every planted-effect scenario's claims, measured.

For each scenario of ``paaan.demo.scenarios`` (the plan: all of them, or ``--quick``'s two), one nested run
``scenario: <name>`` under the ``testbed`` parent: its demo corpus (generated or reused), featurize -> shla
-> retrieve, and the same study the ablation runs (``experiments.ablation.run_study``: k tuning where a
retrieval variant needs it, variants x folds x seeds on Ray Tune, one summary run per variant; no final
models, nothing registered). The variants are those the scenario's claims name (or the plan's list). Then,
on the parent: ``verdicts.csv`` / ``verdicts.md`` (scenario, claim, estimate, ci_low, ci_high, held: see
``paaan.testbed``), ``differences.png`` (per scenario, each variant's difference from IA+T with its CI) and,
for the segment gates, ``attention_carrier.csv`` / ``.png`` (where each variant's audio attention goes).

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
from paaan.demo.scenarios import SCENARIOS
from paaan.testbed import (attention_rows, carrier_shares, claim_rows, differences_from, plot_carrier_attention,
                           plot_differences, verdicts, verdicts_markdown)
from paaan.variants import VARIANTS, get_variant

STEP = "testbed"
SCENARIO_STEP = "scenario"
# When the plan names no variants: a scenario runs every variant its claims name, plus the attention claims'.
QUICK = {"scenarios": ["none", "segment_gate"],
         "variants": ["IA+T", "IA+T+", "PAaAN_oracle", "PAaAN+_oracle", "PAaAN+_shuffled"], "seeds": 2}
FULL = {"scenarios": "all", "variants": "claims", "seeds": 3}


@dataclass
class TestbedSettings:
    scenarios: list[str]
    variants: list[str] | None  # None: per scenario, the variants its claims name
    seeds: int
    quick: bool = False
    demo_seed: int = 0
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
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: dict, quick: bool, scenarios: str = "", seeds: int = 0, **kwargs) -> "TestbedSettings":
        """The profile's ``testbed`` section (``quick`` / ``full``), the defaults above, then the options."""
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
        return cls(scenarios=list(names), variants=variants, seeds=seeds or int(section.get("seeds", 1)),
                   quick=quick, **kwargs)

    def variants_for(self, scenario: str) -> list[str]:
        """The variants a scenario runs, in variants-table order."""
        if self.variants is not None:
            wanted = set(self.variants)
        else:
            s = get_scenario(scenario)
            wanted = {n for c in s.claims for n in (c.a, c.b)} | {c.variant for c in s.attention_claims}
        return [v.name for v in VARIANTS if v.name in wanted]


def testbed_profile(profile: Profile, plan: dict) -> Profile:
    """The profile the testbed trains with: the ``testbed`` section's own ``train`` settings over the profile's
    (the demo's: patience 10 where the ablation has 6, because a segment gate is learned late)."""
    return profile.replace(train=dict(plan.get("train") or {}))


def testbed_key(profile: Profile, settings: TestbedSettings) -> str:
    from experiments.ablation import folds_fingerprint

    return tracking.cache_key(STEP, {
        "profile": profile.to_dict(), "scenarios": {s: get_scenario(s).as_dict() for s in settings.scenarios},
        "variants": {s: settings.variants_for(s) for s in settings.scenarios}, "seeds": settings.seeds,
        "demo": [settings.demo_seed, settings.demo_profile], "protocol": settings.protocol,
        "folds": folds_fingerprint(settings.folds_file), "k_tuning": settings.k_tuning, "k_trials": settings.k_trials,
    })


def _study_settings(settings: TestbedSettings, scenario: str, profile: Profile) -> AblationSettings:
    return AblationSettings(
        variants=[get_variant(v) for v in settings.variants_for(scenario)], seeds=settings.seeds,
        k_tuning=settings.k_tuning, k_trials=settings.k_trials or profile.tune.k_trials,
        ray_address=settings.ray_address, cpus_per_trial=settings.cpus_per_trial,
        gpus_per_trial=settings.gpus_per_trial, max_failures=settings.max_failures, num_cpus=settings.num_cpus,
        workers=settings.workers, register=False, protocol=settings.protocol, folds_file=settings.folds_file)


@dataclass
class ScenarioOutcome:
    name: str
    run_id: str
    results: pd.DataFrame  # one row per (variant, fold, seed)
    shares: pd.DataFrame  # carrier shares of the segment gates' test utterances (empty otherwise)


def run_scenario(name: str, profile: Profile, settings: TestbedSettings, parent_id: str,
                 experiment_id: str) -> ScenarioOutcome:
    """One scenario's corpus and study in a nested run (a FINISHED one with the same inputs is reused)."""
    corpora = resolve_corpora(demo_seed=settings.demo_seed, demo_profile=settings.demo_profile, demo_scenario=name)
    study_settings = _study_settings(settings, name, profile)
    key = ablation_key(corpora, profile, study_settings, step=SCENARIO_STEP)
    previous = find_previous(key, experiment_id, step=SCENARIO_STEP)
    finished = [r for r in previous if r.info.status == "FINISHED"]
    if finished and not settings.force:
        run = finished[0]
        mlflow.tracking.MlflowClient().set_tag(run.info.run_id, "mlflow.parentRunId", parent_id)
        print(f"scenario {name}: reusing finished run {run.info.run_id}", flush=True)
        return _outcome(name, run.info.run_id, corpora)
    tags = {tracking.TAG_KEY: key, "paaan.scenario": name, "paaan.demo_corpus": "True"}
    with tracking.step_run(f"scenario: {name}", SCENARIO_STEP, parent_run_id=parent_id, tags=tags) as run:
        run_id = run.info.run_id
        adopted = adopt_finished_children(previous, run_id, experiment_id)
        if adopted:
            print(f"scenario {name}: {adopted} finished runs of an interrupted attempt adopted", flush=True)
        scenario = get_scenario(name)
        tracking.log_params({"scenario": name, "scenario_slug": scenario.slug, **scenario.knobs(),
                             "variants": ",".join(v.name for v in study_settings.variants), "seeds": settings.seeds,
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
                raise RuntimeError(f"scenario {name}: {study.missing} trials did not finish; rerun to finish them")
            outcome = _outcome(name, run_id, corpora, study.results)
            if len(outcome.shares):
                _log_shares(outcome.shares, f"{name}: the carrier's share of audio attention", results=study.results)
        finally:
            close_running(run_id, experiment_id)
    return outcome


def _outcome(name: str, run_id: str, corpora, results: pd.DataFrame | None = None) -> ScenarioOutcome:
    if results is None:
        results = pd.read_csv(tracking.local_artifact_dir(run_id, "fold_results.csv"))
    truth = json.loads(Path(corpora.ground_truth).read_text())
    return ScenarioOutcome(name, run_id, results, _shares(results, truth))


def _shares(results: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Carrier shares of every segment-gate test utterance of every trial that logged its attention."""
    segments = truth["iemocap"].get("utterance_segments") or {}
    if not any("carrier" in info for info in segments.values()):
        return pd.DataFrame(columns=["variant", "fold", "seed", "utterance_id", "share", "sign"])
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
        frames.append(shares.assign(variant=row.variant, fold=row.fold, seed=row.seed,
                                    sign=speaker.loc[shares["utterance_id"]].map(signs).to_numpy()))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def carrier_by_trial(shares: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per trial (variant, fold, seed): the carrier's mean share for each sign of E, beside the trial's UAR:
    whether a trial that learned the gate is one whose attention moved to the carrier."""
    table = shares.groupby(["variant", "fold", "seed", "sign"])["share"].mean().unstack("sign")
    table = table.rename(columns={"+": "carrier_share_extraverts", "-": "carrier_share_introverts"})
    if results is not None and len(results):
        keyed = results.assign(fold=results["fold"].astype(int), seed=results["seed"].astype(int))
        table = table.join(keyed.set_index(["variant", "fold", "seed"])["uar"])
    return table.reset_index()


def _log_shares(shares: pd.DataFrame, title: str, prefix: str = "", results: pd.DataFrame | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        summary = (shares.groupby(["variant", "sign", "fold", "seed"])["share"].mean().groupby(["variant", "sign"])
                   .agg(["mean", "min", "max", "count"]).reset_index())
        summary.to_csv(tmp / f"{prefix}attention_carrier.csv", index=False)
        carrier_by_trial(shares, results).round(4).to_csv(tmp / f"{prefix}attention_carrier_trials.csv", index=False)
        plot_carrier_attention(shares, tmp / f"{prefix}attention_carrier.png", title)
        mlflow.log_artifacts(str(tmp))


def run_testbed(profile: Profile, settings: TestbedSettings) -> str:
    """Body of ``mlflow run . -e testbed`` / ``paaan testbed``; returns the parent run id."""
    started = time.perf_counter()
    experiment_id = tracking.experiment_id()
    key = testbed_key(profile, settings)
    previous = find_previous(key, experiment_id, step=STEP)
    done = [r for r in previous if r.info.status == "FINISHED"]
    if done and not settings.force:
        tracking.note_reuse(STEP, done[0].info.run_id, entry=True)
        _print_verdicts(done[0].info.run_id)
        return done[0].info.run_id
    tags = {tracking.TAG_KEY: key, "paaan.demo_corpus": "True", "paaan.testbed_plan": "quick" if settings.quick else "full"}
    with tracking.step_run("testbed", STEP, tags=tags, entry=True, system_metrics=True) as parent:
        parent_id = parent.info.run_id
        try:
            tracking.log_params({"plan": "quick" if settings.quick else "full", "scenarios": ",".join(settings.scenarios),
                                 "seeds": settings.seeds, "protocol": settings.protocol,
                                 "demo_seed": settings.demo_seed, "demo_profile": settings.demo_profile,
                                 **profile.flat()})
            start_ray(AblationSettings(variants=[], ray_address=settings.ray_address, num_cpus=settings.num_cpus))
            rows, differences, all_shares, results_of = [], {}, [], {}
            for name in settings.scenarios:
                outcome = run_scenario(name, profile, settings, parent_id, experiment_id)
                results_of[name] = outcome.results
                scenario = get_scenario(name)
                rows += claim_rows(name, scenario.claims, outcome.results)
                if len(outcome.shares):
                    rows += attention_rows(name, scenario.attention_claims, outcome.shares)
                    all_shares.append(outcome.shares.assign(scenario=name))
                differences[name] = differences_from(outcome.results, "IA+T")
            table = verdicts(rows)
            seconds = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                table.to_csv(tmp / "verdicts.csv", index=False)
                (tmp / "verdicts.md").write_text(verdicts_markdown(table, seconds))
                plot_differences(differences, tmp / "differences.png")
                mlflow.log_artifacts(str(tmp))
            for shares in all_shares:
                name = shares["scenario"].iloc[0]
                _log_shares(shares, f"{name}: the carrier's share of audio attention", prefix=f"{name}_",
                            results=results_of.get(name))
            mlflow.log_metrics({"claims": len(table), "claims_held": int(table["held"].sum()) if len(table) else 0,
                                "wall_seconds": seconds})
            print("\n" + verdicts_markdown(table, seconds), flush=True)
        finally:
            close_running(parent_id, experiment_id)
            try:
                import ray

                if ray.is_initialized():
                    ray.shutdown()
            except Exception:  # shutting down after an interrupt must not hide the original error
                pass
    print(f"testbed parent run: {parent_id} (verdicts.md and the figures are its artifacts)", flush=True)
    return parent_id


def _print_verdicts(run_id: str) -> None:
    try:
        print(Path(tracking.local_artifact_dir(run_id, "verdicts.md")).read_text(), flush=True)
    except FileNotFoundError:
        pass
