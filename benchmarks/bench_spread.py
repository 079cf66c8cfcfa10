"""How much the README command's Table I moves with the CPU's instruction set and with the training seed.

    python -m benchmarks.bench_spread                       # the machine's default, avx2, avx, sse4; seeds 0-2
    python -m benchmarks.bench_spread --settings default,avx2 --seeds 0

Float results depend on which vector instructions the numerical libraries use (oneDNN for the LSTMs, MKL
for the matrix products, ATen's own kernels), and early stopping and the k search amplify a rounding
difference into another best epoch or another k. On one machine the libraries can be told to use fewer
instructions than the CPU has (``INSTRUCTION_SETS``: the environment variables oneDNN, MKL and ATen
document), which is how a run on an older CPU is reproduced here; a newer CPU (AVX-512) cannot be
emulated on an older one, so on an AVX2 machine its numbers are a further source of spread (measured on an
AVX-512 machine: BENCHMARKS.md, section 10).

Every setting runs the README's main command (``paaan ablation``, the demo profile, one seed) from a cold
store on the same demo corpus (generated once: the generator does not use those libraries). Then, with
the default instruction set, the same ablation with ``--seeds N``: its grid trains every (variant, fold) with
seeds 0..N-1 at the k the seed-0 search chose, so each seed's Table I is what a one-seed run with that
training seed gives (seed 0's is the first run's, trial for trial). The spread of a variant's UAR, and of
the headline difference PAaAN_PP - IA+T, is the range over every table. Results:
``benchmarks/results/bench_spread.json`` and a printed table (BENCHMARKS.md, section "Spread").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import (DEFAULT_WORK, REPO, cold_env, experiment_runs, fresh_folder, print_table, run_logged,
                               write_result)

# What each setting tells the libraries (their documented switches). "default" is whatever the machine has
# (AVX-512 or AVX2 on the machines of this kind we have seen); "avx2" an AVX2 CPU (on an AVX2 machine the
# same as the default); "avx" an AVX-only CPU as oneDNN sees it (no FMA: measured to change results only
# with ATen's generic kernels, which then route more work through oneDNN); "sse4" goes one step further.
INSTRUCTION_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX", "MKL_ENABLE_INSTRUCTIONS": "AVX"},
    "sse4": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}
HEADLINE = ("PAaAN_PP", "IA+T")


def run_ablation(name: str, work: Path, data: Path, env_extra: dict[str, str], *options: str) -> dict:
    """The README command in a cold store ``work/<name>`` on the corpora in ``data``; its parent run's tables."""
    folder = fresh_folder(work / name)
    # PYTHONPATH: this checkout's code, in the driver and in every Ray worker, whatever is installed
    env = cold_env(folder, PAAAN_DATA=str(data), PYTHONPATH=str(REPO), **env_extra)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    command = [sys.executable, "-m", "experiments.cli", "ablation", "--tracking-uri", uri, *options]
    print(f"$ {' '.join(f'{k}={v}' for k, v in env_extra.items())} {' '.join(command)}", flush=True)
    wall, _ = run_logged(command, env, folder / "command.log", name)
    return {"wall_seconds": round(wall, 1), **parent_tables(uri)}


def parent_tables(uri: str) -> dict:
    """fold_results.csv (one row per trial), k per fold and the best-variant choice of an ablation's store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    parent = experiment_runs(uri, "ablation")[0]
    results = pd.read_csv(client.download_artifacts(parent.info.run_id, "fold_results.csv"))
    k = json.loads(Path(client.download_artifacts(parent.info.run_id, "k_per_fold.json")).read_text())
    return {"trials": results[["variant", "fold", "seed", "uar", "best_epoch"]].to_dict("records"), "k_per_fold": k,
            "best_variant": parent.data.tags.get("paaan.best_variant", "")}


def tables(figures: dict) -> pd.DataFrame:
    """One column per table (a setting with seed 0, or a seed with the default setting): UAR per variant."""
    columns = {}
    for name, run in figures["settings"].items():
        trials = pd.DataFrame(run["trials"])
        columns[name] = trials.groupby("variant")["uar"].mean()
    seeded = pd.DataFrame(figures.get("seeds", {}).get("trials", []), columns=["variant", "seed", "uar"])
    for seed, group in seeded.groupby("seed"):
        columns[f"seed {seed}"] = group.groupby("variant")["uar"].mean()
    return pd.DataFrame(columns)


def headline(figures: dict) -> dict[str, float]:
    """PAaAN_PP - IA+T (mean over folds) per table."""
    frame = tables(figures)
    a, b = HEADLINE
    return {column: round(float(frame.loc[a, column] - frame.loc[b, column]), 4) for column in frame.columns}


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK / "spread")
    parser.add_argument("--settings", default=",".join(INSTRUCTION_SETS),
                        help=f"comma-separated, of {', '.join(INSTRUCTION_SETS)}")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds of the seeded run (0: no such run)")
    args = parser.parse_args()
    started = time.perf_counter()
    data = args.work / "data"
    figures: dict = {"settings": {}, "instruction_sets": INSTRUCTION_SETS}
    for name in [s.strip() for s in args.settings.split(",") if s.strip()]:
        figures["settings"][name] = run_ablation(name, args.work, data, INSTRUCTION_SETS[name])
    if args.seeds:
        figures["seeds"] = run_ablation(f"seeds{args.seeds}", args.work, data, {}, "--seeds", str(args.seeds))
    if figures["settings"] or args.seeds:
        frame = tables(figures)
        spread = (frame.max(axis=1) - frame.min(axis=1)).rename("range")
        figures["uar_by_table"] = frame.round(4).to_dict()
        figures["uar_range"] = spread.round(4).to_dict()
        figures["headline"] = headline(figures)
        print_table("UAR per variant (one column per table)",
                    [(v, *frame.loc[v].round(3).tolist(), round(float(spread[v]), 3)) for v in frame.index],
                    ("variant", *frame.columns, "range"))
        print_table(f"{HEADLINE[0]} - {HEADLINE[1]} per table", [list(figures["headline"].values())],
                    list(figures["headline"]))
    write_result("bench_spread", figures, started)


if __name__ == "__main__":
    main()
