"""Benchmark 4: the paper's full study (``paper`` profile) on the iemocap-scale corpus, timed and projected.

    python benchmarks/bench_paper.py [--work /tmp/paaan-bench] [--epochs 1,3] [--share 0.25] [--full-fold]
                                     [--grid-efficiency 0.9] [--device cpu]

1. One fold of PAaAN_PP with the paper profile (50 epochs, batch 32, 128-unit BLSTMs, lr 1e-4), one torch
   thread as in a Ray trial: ``train_fold`` with 1 and 3 epochs gives the fixed cost a and the cost per
   epoch b (validation included); a + 50 b is the fold (``--full-fold`` also runs the 50 epochs).
2. The cost of every Table I variant relative to PAaAN_PP: one epoch's training pass on a seeded ``--share``
   of fold 1's training rows, per variant.
3. The projection of the full study on this machine: the Table I variants x the leave-one-session-out
   folds, Optuna k (the paper profile's ``tune.k_trials`` per retrieval variant and fold, on the inner
   splits, ``k_tuning: per_variant``), one model per variant on all sessions; each trial's cost scaled by its
   training rows and its variant's relative cost; summed and spread over all cores at the Ray efficiency the
   demo grid measured (``--grid-efficiency``).
4. What blocks a faster CPU run: torch.profiler over 20 batches (where the time goes, by operator); two
   concurrent trial processes with 1 thread each against 2 threads each (oversubscription); one trial with
   1 against 2 threads.

Parts 1 and 2 run on ``--device`` (default the CPU, so the projection is a CPU one); part 4 always on the CPU.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (DEFAULT_WORK, bench_profile, build, print_table, random_embeddings,  # noqa: E402
                               random_personality, scale_store, write_result)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from paaan.variants import VARIANTS  # noqa: E402

PAPER_VARIANTS = tuple(v.name for v in VARIANTS if v.paper is not None)  # the rows of Table I
RETRIEVAL_VARIANTS = tuple(v.name for v in VARIANTS if v.paper is not None and v.uses_retrieval)  # k is tuned


def time_fold(store, epochs: int, threads: int = 1, device: str = "cpu") -> float:
    from paaan.train import train_fold
    from paaan.variants import get_variant

    torch.set_num_threads(threads)
    personality = random_embeddings(store.utterances["speaker"])
    profile = bench_profile("paper", epochs=epochs, threads=threads)
    started = time.perf_counter()
    train_fold(store, get_variant("PAaAN_PP"), 1, profile, personality=personality, seed=0, device=device)
    return time.perf_counter() - started


def variant_costs(store, share: float, seed: int = 0, device: str = "cpu") -> dict[str, float]:
    """Seconds per training utterance of one epoch's training pass, per variant (paper sizes, 1 thread)."""
    from paaan.data.folds import get_fold
    from paaan.train import corpus_tensors, fit

    torch.set_num_threads(1)
    device_ = torch.device(device)
    data = corpus_tensors(str(store.path.resolve()))
    rows = get_fold(store.utterances, 1).train
    rows = np.sort(np.random.default_rng(seed).choice(rows, size=int(share * len(rows)), replace=False))
    personality = random_personality(data.speakers)
    profile = bench_profile("paper", epochs=1, threads=1)
    costs = {}
    for name in PAPER_VARIANTS:
        model = build(name, profile, data, seed).to(device_)
        started = time.perf_counter()
        fit(model, data, rows, rows[:0], personality, profile, seed, device_)
        if device_.type == "cuda":
            torch.cuda.synchronize()
        costs[name] = (time.perf_counter() - started) / len(rows)
        print(f"  {name}: {costs[name] * 1000:.2f} ms per training utterance", flush=True)
    return costs


def study_trials(store) -> list[dict]:
    """Every training of the paper's study: variant, role and its number of fit rows (as train_fold splits)."""
    from paaan.data.folds import inner_fold, leave_one_session_out

    utterances = store.utterances
    n_all = len(utterances)
    k_trials = bench_profile("paper").tune.k_trials
    trials = []
    for fold in leave_one_session_out(utterances):
        outer = len(fold.train) + len(fold.validation)  # the paper profile validates on a share of these
        inner = len(inner_fold(fold).train)  # k trials train on the training sessions, score the held-out one
        for v in PAPER_VARIANTS:
            trials.append({"variant": v, "role": "grid", "rows": outer})
            if v in RETRIEVAL_VARIANTS:
                trials += [{"variant": v, "role": "k", "rows": inner}] * k_trials
    trials += [{"variant": v, "role": "final", "rows": n_all} for v in PAPER_VARIANTS]
    return trials


def project(fold_seconds: float, fold_rows: int, costs: dict[str, float], trials: list[dict], cores: int,
            efficiency: float) -> dict:
    """CPU-seconds of every trial scaled from the measured PAaAN_PP fold, and the wall time on ``cores``."""
    per_role: dict[str, float] = {}
    for t in trials:
        seconds = fold_seconds * (t["rows"] / fold_rows) * (costs[t["variant"]] / costs["PAaAN_PP"])
        per_role[t["role"]] = per_role.get(t["role"], 0.0) + seconds
    total = sum(per_role.values())
    return {"trials": len(trials), "cpu_hours_by_role": {k: round(v / 3600, 1) for k, v in per_role.items()},
            "cpu_hours": round(total / 3600, 1), "cores": cores, "efficiency": efficiency,
            "wall_hours": round(total / (cores * efficiency) / 3600, 1)}


# --- what blocks a faster CPU run ------------------------------------------------------------------------


def paper_steps(store_path: str, threads: int, n_batches: int) -> tuple[list, Callable]:
    """The first ``n_batches`` length-aware batches of fold 1 and a CPU training step of PAaAN_PP at paper
    sizes on one of them (collate, forward, loss, backward, Adam at the profile's lr)."""
    from paaan.data.folds import get_fold
    from paaan.features.store import FeatureStore
    from paaan.train import batches, collate, corpus_tensors

    data = corpus_tensors(store_path)
    profile = bench_profile("paper", epochs=1, threads=threads)
    rows = get_fold(FeatureStore(store_path).utterances, 1).train
    chunks = batches(rows, data.audio_lengths, profile.train.batch_size, np.random.default_rng(0))[:n_batches]
    personality = random_personality(data.speakers)
    model = build("PAaAN_PP", profile, data, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=profile.train.lr)

    def step(chunk) -> None:
        batch = collate(data, chunk, personality)
        optimizer.zero_grad(set_to_none=True)
        model.loss(model(batch), batch.labels).backward()
        optimizer.step()

    return chunks, step


def profile_batches(store, n_batches: int = 20) -> dict:
    """torch.profiler over ``n_batches`` training steps of PAaAN_PP (paper sizes, 1 thread): self CPU time
    per operator, and the share of the wall time spent outside any operator (Python, the loop)."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    chunks, step = paper_steps(str(store.path.resolve()), 1, n_batches)
    step(chunks[0])  # warm-up
    started = time.perf_counter()
    for chunk in chunks:
        step(chunk)
    plain = time.perf_counter() - started
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for chunk in chunks:
            step(chunk)
        profiled = time.perf_counter() - started
    events = prof.key_averages()
    total_self = sum(e.self_cpu_time_total for e in events) / 1e6
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
    # The LSTM's operators: the fused oneDNN kernels the CPU BLSTM runs (mkldnn_rnn_layer and its backward),
    # and the per-step gate products and cells of an LSTM run step by step.
    groups = {"lstm (gate matmuls, cells)": ("aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward",
                                           "aten::addmm", "aten::mm", "aten::_thnn_fused_lstm_cell",
                                           "aten::lstm", "aten::sigmoid", "aten::tanh", "aten::mul", "aten::add")}
    return {
        "batches": len(chunks), "seconds_plain": round(plain, 2), "seconds_profiled": round(profiled, 2),
        "ms_per_batch": round(plain / len(chunks) * 1000, 1),
        "operator_self_seconds": round(total_self, 2),
        "top_operators": [{"op": e.key, "self_s": round(e.self_cpu_time_total / 1e6, 3),
                           "share": round(e.self_cpu_time_total / 1e6 / total_self, 3), "calls": e.count}
                          for e in top],
        "groups": {name: round(sum(e.self_cpu_time_total for e in events if e.key in ops) / 1e6 / total_self, 3)
                   for name, ops in groups.items()},
    }


def _worker(store_path: str, threads: int, n_batches: int, queue, barrier) -> None:
    torch.set_num_threads(threads)
    chunks, step = paper_steps(store_path, threads, n_batches)
    barrier.wait()  # every process has loaded its data: the timed parts run at the same time
    started = time.perf_counter()
    for chunk in chunks:
        step(chunk)
    queue.put((sum(len(c) for c in chunks), time.perf_counter() - started))


def concurrent_throughput(store_path: str, processes: int, threads: int, n_batches: int) -> float:
    """Utterances per second of ``processes`` concurrent training processes with ``threads`` threads each."""
    context = mp.get_context("spawn")
    queue, barrier = context.Queue(), context.Barrier(processes)
    workers = [context.Process(target=_worker, args=(store_path, threads, n_batches, queue, barrier))
               for _ in range(processes)]
    for w in workers:
        w.start()
    done = [queue.get() for _ in range(processes)]
    for w in workers:
        w.join()
    return sum(u for u, _ in done) / max(s for _, s in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--epochs", default="1,3", help="two epoch counts for the fixed + per-epoch fit")
    parser.add_argument("--share", type=float, default=0.25, help="share of fold 1 for the per-variant costs")
    parser.add_argument("--full-fold", action="store_true", help="also run one fold for the full 50 epochs")
    parser.add_argument("--grid-efficiency", type=float, default=None,
                        help="Ray efficiency for the projection (default: the demo grid's, else 1.0)")
    parser.add_argument("--concurrency-batches", type=int, default=40)
    parser.add_argument("--device", default="cpu", help="device of parts 1 and 2 (the fold, the variant costs): "
                        "cpu or cuda; the profile and the concurrency runs are CPU-only")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device on this machine")
    from paaan.features.store import FeatureStore

    store = FeatureStore(scale_store(args.work))
    figures: dict = {"store": str(store.path), "device": args.device}

    e1, e2 = (int(x) for x in args.epochs.split(","))
    t1, t2 = time_fold(store, e1, device=args.device), time_fold(store, e2, device=args.device)
    per_epoch = (t2 - t1) / (e2 - e1)
    fixed = t1 - e1 * per_epoch
    fold_seconds = fixed + 50 * per_epoch
    figures["fold"] = {"epochs_timed": [e1, e2], "seconds": [round(t1, 1), round(t2, 1)],
                       "fixed_seconds": round(fixed, 1), "seconds_per_epoch": round(per_epoch, 1),
                       "projected_50_epochs_seconds": round(fold_seconds, 0)}
    if args.full_fold:
        figures["fold"]["measured_50_epochs_seconds"] = round(time_fold(store, 50, device=args.device), 0)
        fold_seconds = figures["fold"]["measured_50_epochs_seconds"]
    print(f"PAaAN_PP fold 1: {fixed:.1f} s fixed + {per_epoch:.1f} s per epoch -> {fold_seconds / 60:.1f} min for 50",
          flush=True)

    print("relative cost of each variant ...", flush=True)
    costs = variant_costs(store, args.share, device=args.device)
    figures["ms_per_training_utterance"] = {k: round(v * 1000, 3) for k, v in costs.items()}
    figures["cost_relative_to_PAaAN_PP"] = {k: round(v / costs["PAaAN_PP"], 2) for k, v in costs.items()}

    efficiency = args.grid_efficiency
    if efficiency is None:
        import json

        grid = Path(__file__).resolve().parent / "results" / "grid_demo.json"
        efficiency = json.loads(grid.read_text())["figures"]["grid"]["parallel_efficiency"] if grid.is_file() else 1.0
    from paaan.data.folds import get_fold

    fold_rows = len(get_fold(store.utterances, 1).train)
    figures["projection_cpu"] = project(fold_seconds, fold_rows, costs, study_trials(store), os.cpu_count(),
                                       efficiency)

    print("profiling 20 training steps ...", flush=True)
    figures["profile"] = profile_batches(store)
    print("concurrent trials: 2 processes x 1 thread, 2 x 2 threads, 1 x 1, 1 x 2 ...", flush=True)
    n = args.concurrency_batches
    path = str(store.path.resolve())
    figures["concurrency_utt_per_s"] = {
        "1 process x 1 thread": round(concurrent_throughput(path, 1, 1, n), 1),
        "1 process x 2 threads": round(concurrent_throughput(path, 1, 2, n), 1),
        "2 processes x 1 thread": round(concurrent_throughput(path, 2, 1, n), 1),
        "2 processes x 2 threads": round(concurrent_throughput(path, 2, 2, n), 1),
    }

    p = figures["projection_cpu"]
    rows = [["PAaAN_PP fold 1, 50 epochs (min)", round(fold_seconds / 60, 1), "-"],
            ["seconds per epoch (1 thread, validation included)", figures["fold"]["seconds_per_epoch"], "-"],
            ["full study: trainings", p["trials"], "-"],
            ["full study: CPU hours", p["cpu_hours"], "-"],
            [f"full study on this {p['cores']}-core machine (hours)", p["wall_hours"], "-"],
            ["full study on one H100", "not measured: no GPU lent", "< 15 min"]]
    rows += [[f"throughput, {k} (utt/s)", v, "-"] for k, v in figures["concurrency_utt_per_s"].items()]
    rows += [[f"top op {i + 1}: {o['op']}", f"{o['share']:.0%}", "-"] for i, o in enumerate(figures["profile"]["top_operators"][:6])]
    print_table("The paper's study (paper profile, iemocap-scale)", rows, ["figure", "value", "target"])
    write_result("paper", figures, started)


if __name__ == "__main__":
    main()
