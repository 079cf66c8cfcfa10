"""Benchmarks 3 and 6: the ablation end to end (wall time, Ray efficiency, per-trial overhead, peak memory).

    python -m benchmarks.bench_grid [--work /tmp/paaan-bench] [--corpus demo] [--profile demo] [--variants all]
    python -m benchmarks.bench_grid --corpus iemocap-scale --profile benchmarks/profiles/memory.yaml \
        --tracking-dir /tmp/paaan-bench/featurize --keep --name grid_memory --variants "A+T,PAaAN_PP"
                                                       # memory of the ablation at IEMOCAP's scale (BENCHMARKS.md 6)

Runs ``paaan ablation`` (the README's main job without MLflow Projects) as a child process on the demo
corpus of ``--corpus``, by default from a cold start: a new tracking store, no openSMILE/tagger cache, no Ray
results (the corpus itself is input data and is generated beforehand, timed apart). Meanwhile the summed
memory of the command's process tree (driver, Ray's daemons and trial workers, featurize's pool) is
sampled. Afterwards the MLflow runs give each phase's time, and for the two Ray Tune phases (k tuning,
the grid), counted from their first trial's start so that Ray's start-up is excluded:

- Ray parallel efficiency = sum of trial run durations / (phase wall time x CPUs);
- MLflow overhead per trial = run duration - the trial's ``train_seconds`` (params, artifacts, lookups);
- Ray overhead per trial = the CPU-slot time of the phase not covered by any trial run / trials.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from benchmarks.common import (DEFAULT_WORK, demo_corpus, experiment_runs, median, newest_run, parallel_efficiency,
                               print_table, run_ablation, this_ablation, write_result)


def phase_figures(runs: list, cpus: int) -> dict:
    """Efficiency and overheads of one Ray Tune phase from its trial runs (start/end in ms, train_seconds)."""
    starts = [r.info.start_time / 1000 for r in runs]
    ends = [r.info.end_time / 1000 for r in runs]
    durations = [e - s for s, e in zip(starts, ends)]
    trained = [r.data.metrics.get("train_seconds", float("nan")) for r in runs]
    span = max(ends) - min(starts)
    busy = sum(durations)
    mlflow_overhead = [d - t for d, t in zip(durations, trained)]
    return {
        "trials": len(runs), "wall_seconds": round(span, 1), "sum_trial_seconds": round(busy, 1),
        "sum_train_seconds": round(sum(trained), 1),
        "parallel_efficiency": round(parallel_efficiency(busy, span, cpus), 3),
        "training_efficiency": round(parallel_efficiency(sum(trained), span, cpus), 3),
        "median_trial_seconds": round(median(durations), 2),
        "mlflow_overhead_per_trial_median": round(median(mlflow_overhead), 3),
        "mlflow_overhead_per_trial_max": round(max(mlflow_overhead), 3),
        "ray_overhead_per_trial": round((span * cpus - busy) / len(runs), 3),
    }


def analyse(folder: Path, cpus: int) -> dict:
    runs = experiment_runs(f"sqlite:///{folder / 'mlflow.db'}")
    ablation = newest_run(runs, "ablation")
    by_step: dict[str, list] = {"ablation": [ablation]}
    for run in this_ablation(ablation, runs):
        by_step.setdefault(run.data.tags.get("paaan.step", "?"), []).append(run)
    t0 = ablation.info.start_time / 1000

    def window(step: str) -> list[float] | None:
        found = [r for r in by_step.get(step, []) if r.info.end_time]
        if not found:
            return None
        return [round(min(r.info.start_time for r in found) / 1000 - t0, 1),
                round(max(r.info.end_time for r in found) / 1000 - t0, 1)]

    phases = {step: window(step) for step in ("featurize", "shla", "retrieve", "tune_k_trial", "trial", "summary")}
    figures = {"ablation_run_seconds": round((ablation.info.end_time - ablation.info.start_time) / 1000, 1),
               "phases_from_ablation_start": phases,
               "trial_statuses": {s: sum(1 for r in by_step.get("trial", []) if r.info.status == s)
                                  for s in ("FINISHED", "FAILED", "KILLED")}}
    if phases["retrieve"] and phases["tune_k_trial"]:
        figures["ray_startup_to_first_trial_seconds"] = round(phases["tune_k_trial"][0] - phases["retrieve"][1], 1)
    for step, name in (("tune_k_trial", "k_tuning"), ("trial", "grid")):
        finished = [r for r in by_step.get(step, []) if r.info.status == "FINISHED" and r.info.end_time]
        if finished:
            figures[name] = phase_figures(finished, cpus)
    both = [r for s in ("tune_k_trial", "trial") for r in by_step.get(s, []) if r.info.status == "FINISHED"]
    if both:
        k, g = figures.get("k_tuning"), figures.get("grid")
        busy = sum(p["sum_trial_seconds"] for p in (k, g) if p)
        span = sum(p["wall_seconds"] for p in (k, g) if p)
        figures["tune_phases"] = {
            "trials": len(both), "wall_seconds": round(span, 1),
            "parallel_efficiency": round(parallel_efficiency(busy, span, cpus), 3),
            "ray_overhead_per_trial": round((span * cpus - busy) / len(both), 3),
            "mlflow_overhead_per_trial_median": round(median(
                [(r.info.end_time - r.info.start_time) / 1000 - r.data.metrics.get("train_seconds", 0) for r in both]), 3),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--corpus", default="demo", help="demo corpus profile: demo or iemocap-scale")
    parser.add_argument("--profile", default="demo", help="paaan profile name or YAML path")
    parser.add_argument("--variants", default="all")
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--tracking-dir", type=Path, default=None, help="default: <work>/grid-<corpus> (wiped)")
    parser.add_argument("--keep", action="store_true", help="keep the tracking store (not a cold start)")
    parser.add_argument("--name", default=None, help="result file name (default grid_<corpus>)")
    parser.add_argument("extra", nargs="*", help="more options for `paaan ablation` (after --)")
    args = parser.parse_args()
    started = time.perf_counter()

    generated = time.perf_counter()
    existed = (args.work / f"{args.corpus}-seed0" / "ground_truth.json").is_file()
    corpus = demo_corpus(args.corpus, work=args.work)
    generation = None if existed else round(time.perf_counter() - generated, 1)

    folder = args.tracking_dir or args.work / f"grid-{args.corpus}"
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    wall, memory = run_ablation(corpus, folder, args.profile, args.variants, args.cpus, args.extra)
    figures = {"corpus": args.corpus, "profile": args.profile, "variants": args.variants, "cpus": args.cpus,
               "cold_start": not args.keep, "corpus_generation_seconds": generation,
               "wall_seconds": round(wall, 1), "memory": memory.figures(), **analyse(folder, args.cpus),
               "tracking_store": str(folder / "mlflow.db")}
    rows = [["wall time, command start to exit (s)", figures["wall_seconds"], "a few minutes (demo)"],
            ["peak memory, driver + Ray + workers (PSS GiB)", memory.peak_pss_gib, "< 8"],
            ["peak memory, summed RSS (GiB, counts shared pages repeatedly)", memory.peak_rss_gib, "-"]]
    for name in ("k_tuning", "grid", "tune_phases"):
        if name in figures:
            p = figures[name]
            rows += [[f"{name}: trials / wall (s)", f"{p['trials']} / {p['wall_seconds']}", "-"],
                     [f"{name}: Ray parallel efficiency", p["parallel_efficiency"], ">= 0.85"],
                     [f"{name}: MLflow overhead per trial (s, median)", p["mlflow_overhead_per_trial_median"], "< 1"],
                     [f"{name}: Ray overhead per trial (s)", p["ray_overhead_per_trial"], "< 1"]]
    print_table(f"Ablation on the {args.corpus} corpus, profile {args.profile}", rows, ["figure", "value", "target"])
    print("phases (seconds from the ablation run's start):", figures["phases_from_ablation_start"])
    write_result(args.name or f"grid_{args.corpus}", figures, started)


if __name__ == "__main__":
    main()
