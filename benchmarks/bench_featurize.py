"""Benchmark 1 (and half of 6): featurization speed, its overhead against bare openSMILE, caching, memory.

    python -m benchmarks.bench_featurize [--work /tmp/paaan-bench] [--subset 0.1] [--rounds 3] [--skip-full]

Two parts, on the iemocap-scale demo corpus (5531 four-class IEMOCAP utterances + 640 SSPNet clips):

1. The whole corpus through ``run_featurize`` (the MLflow step) with all cores, in a fresh tracking store
   and a fresh $PAAAN_CACHE (cold), then the same call three times more (warm: reused from the cache).
   Peak memory of the process tree (driver + pool workers) is sampled throughout.
2. Side by side on a seeded sample of the same files (``--subset`` of each corpus), ``--rounds`` rounds, the
   order rotated every round: the bare baseline (one ``opensmile.Smile`` per feature set, ``process_file``,
   openSMILE's own resampling to 16 kHz), on 1 and 2 processes; and paaan's acoustic stage
   (``paaan.features.pipeline.run_acoustic``: the exact code featurize runs) with 1 and 2 workers.
   Medians of the rounds give the overhead per core and the scaling efficiency on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

from benchmarks.common import (DEFAULT_WORK, RESULTS, TreeMemory, demo_corpus, fresh_folder, median, print_table,
                               scaling_efficiency, slowdown, write_result)

# --- the bare baseline: one opensmile.Smile per feature set, nothing else -----------------------------------

_BARE: dict = {}


def _bare_init() -> None:
    import opensmile

    from paaan.config import FeatureConfig
    from paaan.features.acoustic import LLD_LEVELS, lld_config_path

    config = FeatureConfig()
    _BARE["lld"] = opensmile.Smile(feature_set=str(lld_config_path()), feature_level=LLD_LEVELS,
                                   options={"frameSize": config.frame_size, "frameStep": config.frame_step},
                                   sampling_rate=config.sample_rate, resample=True)
    _BARE["functionals"] = opensmile.Smile(feature_set=opensmile.FeatureSet.IS10,
                                           feature_level=opensmile.FeatureLevel.Functionals,
                                           sampling_rate=config.sample_rate, resample=True)


def _bare_file(task: tuple[str, int, str]) -> int:
    corpus, _, path = task
    if corpus == "iemocap":  # IEMOCAP needs the LLDs too; SSPNet only the functionals (as in featurize)
        _BARE["lld"].process_file(path)
    _BARE["functionals"].process_file(path)
    return 1


def bare_loop(tasks: list, processes: int) -> float:
    """Seconds for the bare baseline over ``tasks`` with ``processes`` processes (spawned like ours)."""
    started = time.perf_counter()
    if processes == 1:
        if not _BARE:  # built once per process, as paaan's extractors are (both then run in steady state)
            _bare_init()
        for task in tasks:
            _bare_file(task)
    else:
        with mp.get_context("spawn").Pool(processes, initializer=_bare_init) as pool:
            chunk = max(1, min(16, len(tasks) // (processes * 8)))  # the chunking featurize uses
            for _ in pool.imap_unordered(_bare_file, tasks, chunksize=chunk):
                pass
    return time.perf_counter() - started


def ours(tasks: list, workers: int) -> float:
    from paaan.config import FeatureConfig
    from paaan.features.pipeline import run_acoustic

    started = time.perf_counter()
    results = run_acoustic(tasks, FeatureConfig(), workers, progress=False)
    seconds = time.perf_counter() - started
    failed = [r for r in results if r.error]
    if failed:
        raise RuntimeError(f"{len(failed)} files failed, e.g. {failed[0].error}")
    return seconds


def sample_tasks(corpus: Path, share: float, seed: int = 0) -> tuple[list, float]:
    """A seeded sample of featurize's tasks (both corpora) and its audio seconds."""
    import numpy as np
    import soundfile as sf

    from paaan.data.iemocap import scan_iemocap
    from paaan.data.sspnet import load_sspnet

    rng = np.random.default_rng(seed)
    table, _ = scan_iemocap(corpus / "IEMOCAP_full_release")
    clips = load_sspnet(corpus / "SSPNet")
    tasks = []
    for name, paths in (("iemocap", list(table["wav_path"])), ("sspnet", list(clips["wav_path"]))):
        chosen = sorted(rng.choice(len(paths), size=max(1, round(share * len(paths))), replace=False))
        tasks += [(name, int(i), paths[i]) for i in chosen]
    seconds = sum(sf.info(p).duration for _, _, p in tasks)
    return tasks, seconds


# --- the whole corpus through the MLflow step ----------------------------------------------------------------


def full_corpus(corpus: Path, work: Path, warm_runs: int = 3) -> dict:
    from experiments import tracking
    from experiments.corpora import resolve_corpora
    from experiments.featurize import run_featurize
    from mlflow.tracking import MlflowClient

    from paaan.config import FeatureConfig

    folder = fresh_folder(work / "featurize")  # cold: no tracking store, no openSMILE/tagger cache
    os.environ["PAAAN_CACHE"] = str(folder / "cache")
    from paaan.features.acoustic import clear_extractors

    clear_extractors()
    tracking.setup_tracking(f"sqlite:///{folder / 'mlflow.db'}")
    corpora = resolve_corpora(str(corpus / "IEMOCAP_full_release"), str(corpus / "SSPNet"))
    with TreeMemory(os.getpid()) as memory:
        started = time.perf_counter()
        run_id = run_featurize(corpora, FeatureConfig(), workers=0, progress=False)
        cold = time.perf_counter() - started
    warm = []
    for _ in range(warm_runs):
        started = time.perf_counter()
        again = run_featurize(corpora, FeatureConfig(), workers=0, progress=False)
        warm.append(time.perf_counter() - started)
        assert again == run_id, "the warm rerun did not reuse the cached run"
    metrics = MlflowClient().get_run(run_id).data.metrics
    audio = metrics["audio_hours"] * 3600
    return {
        "featurize_run": run_id, "files": int(metrics["files"]), "audio_hours": metrics["audio_hours"],
        "workers": int(metrics["workers"]), "cold_seconds": round(cold, 1),
        "featurize_seconds": metrics["seconds"], "acoustic_seconds": metrics["acoustic_seconds"],
        "text_seconds": metrics["text_seconds"],
        "other_seconds": round(metrics["seconds"] - metrics["acoustic_seconds"] - metrics["text_seconds"], 1),
        "rtf_acoustic": round(audio / metrics["acoustic_seconds"], 1),
        "rtf_end_to_end": round(audio / cold, 1),
        "warm_seconds": [round(w, 2) for w in warm], "warm_median_seconds": round(median(warm), 2),
        "warm_share_of_cold": round(median(warm) / cold, 4),
        "memory": memory.figures(),
    }


def main() -> None:
    os.environ["PAAAN_ACOUSTIC_CACHE"] = "0"  # openSMILE's speed is measured: every file computed every time
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="corpora, stores and mlflow.db go here")
    parser.add_argument("--subset", type=float, default=0.1, help="share of each corpus in the side-by-side part")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the side-by-side part")
    args = parser.parse_args()
    started = time.perf_counter()
    corpus = demo_corpus(work=args.work)
    figures: dict = {"corpus": str(corpus)}

    if not args.skip_full:
        print("whole corpus through run_featurize (cold, then warm) ...", flush=True)
        figures["full"] = full_corpus(corpus, args.work)
    elif (RESULTS / "featurize.json").is_file():  # keep the whole-corpus figures of an earlier run
        earlier = json.loads((RESULTS / "featurize.json").read_text())
        if "full" in earlier["figures"]:
            figures["full"] = earlier["figures"]["full"] | {"measured": earlier["date"]}

    tasks, audio_seconds = sample_tasks(corpus, args.subset)
    print(f"side by side on {len(tasks)} files ({audio_seconds / 60:.1f} min of audio), {args.rounds} rounds ...",
          flush=True)
    runs = {"bare_1": lambda: bare_loop(tasks, 1), "ours_1": lambda: ours(tasks, 1),
            "bare_2": lambda: bare_loop(tasks, 2), "ours_2": lambda: ours(tasks, 2)}
    names = list(runs)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
            seconds[name].append(runs[name]())
            print(f"  round {r + 1} {name}: {seconds[name][-1]:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    # The fixed cost of a 2-process pool (spawn, imports, two openSMILE objects per process): a pool over the
    # two shortest files, three times. In-process (1 worker) the extractors are already built.
    shortest = sorted(tasks, key=lambda t: os.path.getsize(t[2]))[:2]
    startup = {"bare_2": median([bare_loop(shortest, 2) for _ in range(3)]),
               "ours_2": median([ours(shortest, 2) for _ in range(3)])}
    med = {n: median(s) for n, s in seconds.items()}
    rtf = {n: audio_seconds / med[n] for n in names}
    # Per-round ratios (each round's pair ran back to back), then their median: robust to slow drifts.
    per_round_overhead = [slowdown(o, b) for o, b in zip(seconds["ours_1"], seconds["bare_1"])]
    figures["side_by_side"] = {
        "files": len(tasks), "audio_seconds": round(audio_seconds, 1), "rounds": args.rounds,
        "seconds": {n: [round(x, 2) for x in s] for n, s in seconds.items()},
        "median_seconds": {n: round(v, 2) for n, v in med.items()},
        "rtf": {n: round(v, 1) for n, v in rtf.items()},
        "overhead_per_core": round(median(per_round_overhead), 3),
        "overhead_per_core_rounds": [round(x, 3) for x in per_round_overhead],
        "overhead_2_workers": round(slowdown(med["ours_2"], med["bare_2"]), 3),
        "pool_startup_seconds": {n: round(v, 2) for n, v in startup.items()},
        "scaling_efficiency_ours": round(scaling_efficiency(rtf["ours_2"], rtf["ours_1"], 2), 3),
        "scaling_efficiency_ours_without_startup": round(scaling_efficiency(
            audio_seconds / (med["ours_2"] - startup["ours_2"]), rtf["ours_1"], 2), 3),
        "scaling_efficiency_bare_without_startup": round(scaling_efficiency(
            audio_seconds / (med["bare_2"] - startup["bare_2"]), rtf["bare_1"], 2), 3),
        "scaling_efficiency_bare": round(scaling_efficiency(rtf["bare_2"], rtf["bare_1"], 2), 3),
    }

    rows = []
    if "full" in figures:
        f = figures["full"]
        rows += [["whole corpus, all cores: real-time factor (acoustic stage)", f["rtf_acoustic"], "-"],
                 ["whole corpus, all cores: real-time factor (end to end)", f["rtf_end_to_end"], "-"],
                 ["whole corpus: cold run (s)", f["cold_seconds"], "-"],
                 ["warm rerun / cold run", f["warm_share_of_cold"], "< 0.05"],
                 ["peak memory, driver + workers (PSS GiB)", f["memory"]["peak_pss_gib"], "< 8"]]
    s = figures["side_by_side"]
    rows += [["sample: real-time factor, ours 1 worker", s["rtf"]["ours_1"], "-"],
             ["sample: real-time factor, ours 2 workers", s["rtf"]["ours_2"], "-"],
             ["sample: real-time factor, bare 1 process", s["rtf"]["bare_1"], "-"],
             ["overhead vs bare, per core", s["overhead_per_core"], "<= 0.10"],
             ["scaling efficiency on 2 cores (ours)", s["scaling_efficiency_ours"], ">= 0.85"],
             ["scaling efficiency on 2 cores (bare, the machine's ceiling)", s["scaling_efficiency_bare"], "-"],
             ["pool start-up, ours / bare (s)", f"{s['pool_startup_seconds']['ours_2']} / "
                                                f"{s['pool_startup_seconds']['bare_2']}", "-"],
             ["scaling efficiency without pool start-up, ours / bare",
              f"{s['scaling_efficiency_ours_without_startup']} / {s['scaling_efficiency_bare_without_startup']}", "-"]]
    if "full" in figures:
        # The whole corpus at the sample's steady-state efficiency plus one pool start-up.
        f, eff = figures["full"], s["scaling_efficiency_ours_without_startup"]
        one_worker = f["audio_hours"] * 3600 / s["rtf"]["ours_1"]
        two = one_worker / (2 * eff) + s["pool_startup_seconds"]["ours_2"]
        s["scaling_efficiency_whole_corpus_projected"] = round(one_worker / (2 * two), 3)
        rows.append(["scaling efficiency on 2 cores, whole corpus (projected)",
                     s["scaling_efficiency_whole_corpus_projected"], ">= 0.85"])
    print_table("Featurization (iemocap-scale)", rows, ["figure", "value", "target"])
    write_result("featurize", figures, started)


if __name__ == "__main__":
    main()
