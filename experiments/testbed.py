"""The ``testbed`` step: does personality help? Every planted-effect scenario's claims, measured on fresh corpora.

For each scenario of ``paaan.demo.scenarios`` (the plan: all of them, or ``--quick``'s) and each corpus draw
(a demo seed; the plan's ``draws``), one nested run ``scenario: <name> (draw <seed>)`` under the ``testbed``
parent: its demo corpus (generated or reused), featurize -> shla -> retrieve, and the same study the
ablation runs (``experiments.study.run_study``, no final models, nothing registered). The variants are
those the scenario's claims name (or the plan's list). Then, on the parent: ``verdicts.csv`` /
``verdicts.md`` (see ``paaan.testbed``: greater, less, equivalent within the plan's margin, or
inconclusive), with the draw the design was tuned on (``design_draw``, demo seed 0) reported apart from the
draws it never saw, ``differences.png`` and, for the segment gates, ``attention_carrier.csv`` / ``.png`` and
the counterfactual moves (``counterfactual.csv``). The power curves (``--power``) are ``experiments.power``.

Resume: a FINISHED scenario run with the same inputs is reused as it is; an interrupted one's finished trials
are adopted by the next attempt (``experiments.runs``); a FINISHED testbed with the same inputs is reported.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from experiments import tracking
from experiments.cache import cache_key, folds_fingerprint
from experiments.cluster import start_ray, stop_ray
from experiments.corpora import resolve_corpora
from experiments.featurize import store_of
from experiments.runs import adopt_finished_children, close_running, find_previous
from experiments.settings import TestbedSettings
from experiments.study import run_study, study_key
from experiments.train import prepare_upstream
from experiments.trials import TrialContext
from paaan.config import Profile
from paaan.data.folds import make_folds
from paaan.demo import get_scenario
from paaan.testbed import (CELL, attention_rows, carrier_shares, claim_rows, counterfactual_moves, counterfactual_rows,
                           differences_from, plot_carrier_attention, plot_differences, verdicts, verdicts_markdown)


STEP = "testbed"
SCENARIO_STEP = "scenario"


def testbed_profile(profile: Profile, plan: dict) -> Profile:
    """The profile the testbed trains with: the ``testbed`` section's own ``train`` settings over the profile's
    (the demo's: patience 10 where the ablation has 6, because a segment gate is learned late)."""
    return profile.replace(train=dict(plan.get("train") or {}))


def testbed_key(profile: Profile, settings: TestbedSettings, step: str = STEP) -> str:
    power = settings.power.__dict__ if settings.power else None
    return cache_key(step, {
        "profile": profile.to_dict(), "scenarios": {s: get_scenario(s).as_dict() for s in settings.scenarios},
        "variants": {s: settings.variants_for(s) for s in settings.scenarios}, "seeds": settings.seeds,
        "demo": [settings.demo_seeds, settings.demo_profile, settings.demo_speakers],
        "protocol": settings.study.protocol, "folds": folds_fingerprint(settings.study.folds_file),
        "k_tuning": settings.study.k_tuning, "k_trials": settings.study.k_trials,
        "margin": settings.margin, "design_draw": settings.design_draw, "power": power,
        "tasks": {s: settings.tasks_for(s) for s in settings.scenarios},
    })


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
    study_settings = settings.study_for(variants or settings.variants_for(name), seeds)
    key = study_key(corpora, profile, study_settings, SCENARIO_STEP)
    previous = find_previous(key, experiment_id, step=SCENARIO_STEP)
    finished = [r for r in previous if r.info.status == "FINISHED"]
    label = (f"{name} (draw {draw}" + (f", {speakers} speakers" if speakers != 10 else "")
             + (f", {profile.train.task}" if profile.train.task != "categorical" else "") + ")")
    if finished and not settings.study.force:
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
                             "protocol": settings.study.protocol, "iemocap_root": corpora.emotion.root})
        mlflow.log_dict(scenario.as_dict(), "scenario.json")
        upstream = prepare_upstream(corpora, profile, study_settings.variants, workers=settings.study.workers,
                                    parent_run_id=run_id)
        store = store_of(upstream.featurize)
        n_folds = len(make_folds(store.utterances, settings.study.protocol, settings.study.folds_file))
        context = TrialContext(tracking_uri=mlflow.get_tracking_uri(), experiment_id=experiment_id,
                               parent_run_id=run_id, study_key=key, profile=profile, upstream=upstream,
                               protocol=settings.study.protocol, folds_file=settings.study.folds_file)
        try:
            study = run_study(context, study_settings, n_folds, len(store.clips), synthetic=True)
            if study.missing:
                raise RuntimeError(f"scenario {label}: {study.missing} trials did not finish; rerun to finish them")
            outcome = _outcome(name, draw, run_id, corpora, study.results)
            if len(outcome.shares):
                log_shares(outcome.shares, f"{label}: the carrier's share of audio attention", results=outcome.results)
            if len(outcome.moves):
                log_moves(outcome.moves)
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


def log_shares(shares: pd.DataFrame, title: str, prefix: str = "", results: pd.DataFrame | None = None) -> None:
    """A segment gate's carrier shares as artifacts of the active run: per variant and sign, per trial, a figure."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        summary = (shares.groupby(["variant", "sign", *CELL])["share"].mean().groupby(["variant", "sign"])
                   .agg(["mean", "min", "max", "count"]).reset_index())
        summary.to_csv(tmp / f"{prefix}attention_carrier.csv", index=False)
        carrier_by_trial(shares, results).round(4).to_csv(tmp / f"{prefix}attention_carrier_trials.csv", index=False)
        plot_carrier_attention(shares, tmp / f"{prefix}attention_carrier.png", title)
        mlflow.log_artifacts(str(tmp))


def log_moves(moves: pd.DataFrame, prefix: str = "") -> None:
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


def parent_params(profile: Profile, settings: TestbedSettings, plan: str) -> dict:
    """The params of a testbed parent run."""
    return {"plan": plan, "scenarios": ",".join(settings.scenarios), "seeds": settings.seeds,
            "protocol": settings.study.protocol, "demo_seeds": ",".join(map(str, settings.demo_seeds)),
            "design_draw": settings.design_draw, "demo_speakers": settings.demo_speakers,
            "demo_profile": settings.demo_profile, "margin": settings.margin, **profile.flat()}


def reuse_finished(key: str, step: str, settings: TestbedSettings, experiment_id: str, artifact: str) -> str | None:
    """The id of a FINISHED run of ``step`` with this key (its ``artifact`` printed), else None."""
    previous = find_previous(key, experiment_id, step=step)
    done = [r for r in previous if r.info.status == "FINISHED"]
    if done and not settings.study.force:
        tracking.note_reuse(step, done[0].info.run_id, entry=True)
        print_artifact(done[0].info.run_id, artifact)
        return done[0].info.run_id
    return None


def shutdown(parent_id: str, experiment_id: str) -> None:
    """Close every run left RUNNING under the parent and stop Ray."""
    close_running(parent_id, experiment_id)
    stop_ray()


def run_testbed(profile: Profile, settings: TestbedSettings) -> str:
    """Body of ``mlflow run . -e testbed`` / ``paaan testbed``; returns the parent run id."""
    started = time.perf_counter()
    experiment_id = tracking.experiment_id()
    key = testbed_key(profile, settings)
    reused = reuse_finished(key, STEP, settings, experiment_id, "verdicts.md")
    if reused:
        return reused
    plan = "quick" if settings.quick else "full"
    tags = {tracking.TAG_KEY: key, "paaan.demo_corpus": "True", "paaan.testbed_plan": plan}
    with tracking.step_run("testbed", STEP, tags=tags, entry=True, system_metrics=True) as parent:
        parent_id = parent.info.run_id
        try:
            tracking.log_params(parent_params(profile, settings, plan))
            start_ray(settings.study)
            rows, differences, all_shares, all_moves, results_of = [], {}, [], [], {}
            for name in settings.scenarios:
                tasks = settings.tasks_for(name)
                if not tasks:
                    print(f"scenario {name}: no claim of the {settings.task} task; skipped", flush=True)
                    continue
                outcomes = [run_scenario(name, draw, profile.replace(train={"task": task}), settings, parent_id,
                                         experiment_id) for task in tasks for draw in settings.demo_seeds]
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
                if "uar" in results and results["uar"].notna().any():  # the figure is of UAR differences
                    scored = held_out if len(held_out) else results
                    differences[name] = differences_from(scored[scored["uar"].notna()], "IA+T")
            table = verdicts(rows)
            seconds = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                table.to_csv(tmp / "verdicts.csv", index=False)
                (tmp / "verdicts.md").write_text(verdicts_markdown(table, seconds, settings.design_draw))
                if differences:
                    plot_differences(differences, tmp / "differences.png")
                mlflow.log_artifacts(str(tmp))
            for shares in all_shares:
                name = shares["scenario"].iloc[0]
                log_shares(shares, f"{name}: the carrier's share of audio attention", prefix=f"{name}_",
                            results=results_of.get(name))
            for moves in all_moves:
                log_moves(moves, prefix=f"{moves['scenario'].iloc[0]}_")
            mlflow.log_metrics({"claims": len(table), "claims_held": int(table["held"].sum()) if len(table) else 0,
                                "wall_seconds": seconds})
            print("\n" + verdicts_markdown(table, seconds, settings.design_draw), flush=True)
        finally:
            shutdown(parent_id, experiment_id)
    print(f"testbed parent run: {parent_id} (verdicts.md and the figures are its artifacts)", flush=True)
    return parent_id


def print_artifact(run_id: str, name: str) -> None:
    """Print a run's text artifact, if it has one."""
    try:
        print(Path(tracking.local_artifact_dir(run_id, name)).read_text(), flush=True)
    except FileNotFoundError:
        pass
