"""``paaan testbed --power``: how often a claim holds on fresh corpus draws, against the number of speakers.

The plan's ``power`` claims (``experiments.settings.PowerPlan``), each on its scenario's corpus draws at each
number of speakers: one nested ``scenario: ...`` run per (scenario, speakers, draw) under a ``testbed power``
parent, the same study the testbed runs (``experiments.testbed.run_scenario``); then ``power.csv``,
``power.md``, ``power.png``, ``power_draws.csv`` and ``speakers_needed.json`` on the parent (``paaan.power``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd

from experiments import tracking
from experiments.cluster import start_ray
from experiments.settings import TestbedSettings, power_claim
from experiments.testbed import ScenarioOutcome, parent_params, reuse_finished, run_scenario, shutdown, testbed_key
from paaan.config import Profile
from paaan.power import plot_power, power_cells, power_markdown, speakers_needed
from paaan.testbed import CELL, judge, paired_cells, unit_means

POWER_STEP = "testbed_power"


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
    reused = reuse_finished(key, POWER_STEP, settings, experiment_id, "power.md")
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
            tracking.log_params({**parent_params(profile, settings, name_plan), "power_claims": " | ".join(plan.claims),
                                 "power_speakers": ",".join(map(str, plan.speakers)),
                                 "power_draws": ",".join(map(str, plan.draws)), "power_seeds": plan.seeds,
                                 "learned_uar": plan.learned_uar, "gain": plan.gain})
            start_ray(settings.study)
            draws, trials = [], []
            for speakers in sorted(plan.speakers, reverse=True):  # the largest first: the others nest in it
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
            text = power_markdown(cells, needed, plan.gain, plan.noise, power_claim(plan.noise)[1].expect == "equivalent") + f"\nWall time: {seconds / 60:.1f} min.\n"
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                cells.to_csv(tmp / "power.csv", index=False)
                draws_table.to_csv(tmp / "power_draws.csv", index=False)
                (tmp / "power.md").write_text(text)
                (tmp / "speakers_needed.json").write_text(json.dumps({"noise": plan.noise, "claims": needed}, indent=1))
                plot_power(cells, tmp / "power.png", plan.gain)
                mlflow.log_artifacts(str(tmp))
            mlflow.log_metric("wall_seconds", seconds)
            print("\n" + text, flush=True)
        finally:
            shutdown(parent_id, experiment_id)
    print(f"testbed power parent run: {parent_id} (power.md, power.csv and power.png are its artifacts)", flush=True)
    return parent_id
