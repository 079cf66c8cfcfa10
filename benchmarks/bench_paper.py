"""Benchmark 4: the paper's full study (``paper`` profile) on the iemocap-scale corpus, timed and projected,
with the Optuna k search's ASHA early stopping on and off.

    python -m benchmarks.bench_paper [--work /tmp/paaan-bench] [--epochs 1,3] [--share 0.25] [--full-fold]
                                     [--grid-efficiency 0.9] [--device cpu] [--skip-k-search | --k-search-only]

1. One fold of PAaAN_PP with the paper profile (50 epochs, batch 32, 128-unit BLSTMs, lr 1e-4), one torch
   thread as in a Ray trial: ``train_fold`` with 1 and 3 epochs (after an untimed 1-epoch warm-up) gives the
   fixed cost a and the cost per epoch b (validation included); a + 50 b is the fold (``--full-fold`` also
   runs the 50 epochs).
2. The cost of every Table I variant relative to PAaAN_PP: one epoch's training pass on a seeded ``--share``
   of fold 1's training rows, per variant.
3. How many epochs the k trials train with ASHA and without: the real k search (``paaan ablation`` with
   ``--k-scheduler asha`` and ``--k-scheduler none``, ``--no-register``, one retrieval variant, PAaAN_PP) on
   the ``demo`` demo corpus with the paper profile's schedule (50 epochs, no early stopping) and its
   ``tune`` section (8 Optuna trials per fold, ASHA grace 5, reduction factor 3, metric best_val_uar), at
   the demo profile's model sizes so each setting runs in a few minutes. The epochs each k trial ran are
   read back from MLflow (``epochs_run``, ``paaan.stopped_by``; cross-checked against the tune_k runs'
   ``epochs_trained``): the share of "every trial, 50 epochs" each setting really trains.
4. The projection of the full study on this machine, with ASHA off and on (and, as before, with every k
   trial training its whole schedule), from the same fold and costs: the Table I variants x the
   leave-one-session-out folds, Optuna k (the paper profile's ``tune.k_trials`` per retrieval variant and
   fold, on the inner splits, ``k_tuning: per_variant``), one model per variant on all sessions; each
   trial's cost scaled by its training rows and its variant's relative cost, a k trial's epochs by the share
   part 3 measured for that setting (grid cells and final models always train their whole schedule); summed and spread
   over all cores at the Ray efficiency the demo grid measured (``--grid-efficiency``).
5. What blocks a faster CPU run: torch.profiler over 20 batches (where the time goes, by operator); two
   concurrent trial processes with 1 thread each against 2 threads each (oversubscription); one trial with
   1 against 2 threads.

Parts 1 and 2 run on ``--device`` (default the CPU, so the projection is a CPU one); parts 3 and 5 always
on the CPU. ``--k-search-only`` runs part 3 alone (results/bench_paper_k_search.json); ``--skip-k-search``
projects with every k trial training its whole schedule only.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (DEFAULT_WORK, RESULTS, bench_profile, build, demo_corpus, experiment_runs,
                               fresh_folder, newest_run, print_table, random_embeddings, random_personality,
                               run_ablation, scale_store, this_ablation, write_result)

import numpy as np
import torch

from paaan.variants import VARIANTS

PAPER_VARIANTS = tuple(v.name for v in VARIANTS if v.paper is not None)  # the rows of Table I
RETRIEVAL_VARIANTS = tuple(v.name for v in VARIANTS if v.paper is not None and v.uses_retrieval)  # k is tuned
IEMOCAP_SESSIONS = (1085, 1023, 1151, 1031, 1241)  # four-class utterances per session (NOTES: EmoBox's folds)


def time_fold(store, epochs: int, threads: int = 1, device: str = "cpu") -> float:
    """Seconds of ``train_fold`` of PAaAN_PP on fold 1 for ``epochs`` epochs (paper profile).

    The corpus tensors are built before the clock starts: ``corpus_tensors`` is cached per process, so
    otherwise only the first call would pay for them, and the fixed + per-epoch fit from two calls would
    put that load into the fixed cost and take it off the per-epoch one."""
    from paaan.train import corpus_tensors, train_fold
    from paaan.variants import get_variant

    corpus_tensors(str(store.path.resolve()))
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


def iemocap_sessions():
    """A stand-in feature store for ``study_trials`` with IEMOCAP's four-class session sizes (5531 utterances),
    for projecting without the iemocap-scale store (gpu_check.py)."""
    from types import SimpleNamespace

    import pandas as pd

    sessions = np.concatenate([[s] * n for s, n in enumerate(IEMOCAP_SESSIONS, start=1)])
    return SimpleNamespace(utterances=pd.DataFrame({"session": sessions}))


def project(fold_seconds: float, fold_rows: int, costs: dict[str, float], trials: list[dict], cores: int,
            efficiency: float, fixed_seconds: float = 0.0, k_epoch_share: float = 1.0) -> dict:
    """CPU-seconds of every trial scaled from the measured PAaAN_PP fold, and the wall time on ``cores``.

    A trial costs the fold's ``fixed_seconds`` plus its per-epoch part (``fold_seconds - fixed_seconds``),
    scaled by its rows and its variant's cost; a k trial's per-epoch part also by ``k_epoch_share`` (the
    share of the full schedule's epochs the k trials train: below 1 with ASHA). Grid cells and final models
    always train their whole schedule.
    """
    per_role: dict[str, float] = {}
    for t in trials:
        share = k_epoch_share if t["role"] == "k" else 1.0
        fold = fixed_seconds + (fold_seconds - fixed_seconds) * share
        seconds = fold * (t["rows"] / fold_rows) * (costs[t["variant"]] / costs["PAaAN_PP"])
        per_role[t["role"]] = per_role.get(t["role"], 0.0) + seconds
    total = sum(per_role.values())
    return {"trials": len(trials), "k_epoch_share": k_epoch_share,
            "cpu_hours_by_role": {k: round(v / 3600, 1) for k, v in per_role.items()},
            "cpu_hours": round(total / 3600, 1), "cores": cores, "efficiency": efficiency,
            "wall_hours": round(total / (cores * efficiency) / 3600, 1)}


def projections(fold_seconds: float, fold_rows: int, costs: dict[str, float], trials: list[dict], cores: int,
                efficiency: float, fixed_seconds: float, shares: dict[str, float]) -> dict:
    """``project`` once per k-trial epoch share, from the same measured fold and costs: {name: projection}.

    bench_paper's shares: "every_k_trial_full" (1: every Optuna trial trains the whole schedule, the
    projection before ASHA), "asha_off" and "asha_on" (measured by the k search without and with ASHA; below
    1 without ASHA too, since a k that Optuna suggests twice is trained once).
    """
    return {name: project(fold_seconds, fold_rows, costs, trials, cores, efficiency, fixed_seconds, share)
            for name, share in shares.items()}


# --- how many epochs the k trials train, with ASHA and without ---------------------------------------------


def k_search_epochs(trial_runs: list, tune_runs: list, max_epochs: int) -> dict:
    """The epochs one k search trained, from its MLflow runs: the k trials' runs (``tune_k_trial``) and the
    per-(variant, fold) ``tune_k`` runs, for a schedule of ``max_epochs`` epochs.

    Each run of a k trial is one training; its epochs are its ``epochs_run`` metric (a trial ASHA stopped
    logs the epoch it reached and carries ``paaan.stopped_by = scheduler``). Only FINISHED runs count (a
    stopped trial's is FINISHED too). The trials planned are the ``tune_k`` runs' ``trials`` param (Optuna
    trials per problem); a trial whose k an earlier trial of its study already ran reuses that run and
    trains nothing, so there can be fewer runs than trials. ``share`` = epochs trained / (trials planned x
    ``max_epochs``): the share of the projection's k-trial epochs (every trial, the whole schedule) really
    trained. The ``tune_k`` runs' own ``epochs_trained`` is kept beside it: it also counts the reused trials.
    """
    finished = [r for r in trial_runs if r.info.status == "FINISHED"]
    epochs = [int(r.data.metrics["epochs_run"]) for r in finished if "epochs_run" in r.data.metrics]
    stopped = [r for r in finished if r.data.tags.get("paaan.stopped_by") == "scheduler"]
    planned = sum(int(r.data.params.get("trials", 0)) for r in tune_runs)
    histogram: dict[int, int] = {}
    for e in epochs:
        histogram[e] = histogram.get(e, 0) + 1
    return {"problems": len(tune_runs), "trials_planned": planned, "runs_trained": len(finished),
            "runs_not_finished": len(trial_runs) - len(finished),
            "runs_without_epochs_run": len(finished) - len(epochs), "stopped_early": len(stopped),
            "max_epochs": max_epochs, "epochs": sum(epochs),
            "share": round(sum(epochs) / (planned * max_epochs), 4) if planned else float("nan"),
            "epochs_trained_by_tune_k": sum(int(r.data.metrics.get("epochs_trained", 0)) for r in tune_runs),
            "runs_by_epochs": dict(sorted(histogram.items()))}


def asha_saving(with_asha: dict, without: dict) -> float:
    """Epochs trained with ASHA / without it, for searches of the same trials: 600 against 1800 is 1/3."""
    if (with_asha["trials_planned"], with_asha["max_epochs"]) != (without["trials_planned"], without["max_epochs"]):
        raise ValueError(f"the two k searches planned {with_asha['trials_planned']} and {without['trials_planned']} "
                         f"trials of {with_asha['max_epochs']} and {without['max_epochs']} epochs")
    return with_asha["epochs"] / without["epochs"]


def k_search_profile(folder: Path) -> Path:
    """The k search's profile: the demo profile's model sizes and optimiser (what trains on the demo corpus),
    the paper profile's schedule (epochs, no early stopping) and its whole ``tune`` section, taken from the
    paper profile itself, so that the ASHA measured is the paper's."""
    import yaml

    paper = bench_profile("paper")
    path = folder / "k_search.yaml"
    path.write_text(yaml.safe_dump({
        "base": "demo", "name": "k_search",
        "train": {"epochs": paper.train.epochs, "patience": paper.train.patience},
        "tune": dataclasses.asdict(paper.tune), "ablation": {"k_tuning": "per_variant"}}, sort_keys=False))
    return path


def k_search_runs(tracking_db: Path, scheduler: str) -> tuple[list, list]:
    """The k trials' and tune_k runs of the newest ablation in a tracking store that ran with this
    ``tune.scheduler`` (its parent run's param)."""
    runs = experiment_runs(f"sqlite:///{tracking_db}")
    ablation = newest_run(runs, "ablation", {"tune.scheduler": scheduler})
    mine = this_ablation(ablation, runs)
    return ([r for r in mine if r.data.tags.get("paaan.step") == "tune_k_trial"],
            [r for r in mine if r.data.tags.get("paaan.step") == "tune_k"])


def measure_k_search(work: Path, corpus_profile: str = "demo", variant: str = "PAaAN_PP",
                     cpus: int | None = None) -> dict:
    """Part 3: the k search with ASHA, then without, in one tracking store (the second reuses featurize,
    SHLA and retrieval), each a ``paaan ablation`` child process; the epochs of each from MLflow
    (``k_search_epochs``) and their ratio."""
    corpus = demo_corpus(corpus_profile, work=work)
    folder = fresh_folder(work / "k-search")
    profile = k_search_profile(folder)
    epochs = bench_profile("paper").train.epochs
    cpus = cpus or os.cpu_count()
    out: dict = {"corpus": corpus_profile, "variant": variant, "profile": profile.read_text(),
                 "tracking_store": str(folder / "mlflow.db")}
    for scheduler in ("asha", "none"):
        print(f"k search with --k-scheduler {scheduler} ...", flush=True)
        wall, _ = run_ablation(corpus, folder, str(profile), variant, cpus,
                               ["--k-scheduler", scheduler, "--k-tuning", "per_variant", "--no-register"],
                               log_name=f"ablation-{scheduler}.log")
        trials, tunes = k_search_runs(folder / "mlflow.db", scheduler)
        m = out[scheduler] = k_search_epochs(trials, tunes, epochs) | {"wall_seconds": round(wall, 1)}
        print(f"  {m['trials_planned']} trials, {m['runs_trained']} trained ({m['stopped_early']} stopped early), "
              f"{m['epochs']} epochs: {m['share']:.1%} of {m['trials_planned']} x {epochs}; {wall:.0f} s for the "
              "ablation", flush=True)
    out["asha_over_none"] = round(asha_saving(out["asha"], out["none"]), 4)
    return out


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


def grid_efficiency(given: float | None) -> float:
    """The Ray efficiency for the projection: ``given``, else the demo grid's (results/grid_demo.json), else 1."""
    if given is not None:
        return given
    import json

    grid = RESULTS / "grid_demo.json"
    return json.loads(grid.read_text())["figures"]["grid"]["parallel_efficiency"] if grid.is_file() else 1.0


def k_search_rows(k: dict) -> list[list]:
    rows = []
    for scheduler in ("none", "asha"):
        m = k[scheduler]
        rows += [[f"k search, scheduler {scheduler}: trials planned / runs trained / stopped early",
                  f"{m['trials_planned']} / {m['runs_trained']} / {m['stopped_early']}", "-"],
                 [f"k search, scheduler {scheduler}: epochs trained (tune_k's epochs_trained)",
                  f"{m['epochs']} ({m['epochs_trained_by_tune_k']})", "-"],
                 [f"k search, scheduler {scheduler}: share of trials x {m['max_epochs']} epochs", m["share"], "-"]]
    rows.append(["k search: epochs with ASHA / without", k["asha_over_none"], "-"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--epochs", default="1,3", help="two epoch counts for the fixed + per-epoch fit")
    parser.add_argument("--share", type=float, default=0.25, help="share of fold 1 for the per-variant costs")
    parser.add_argument("--full-fold", action="store_true", help="also run one fold for the full 50 epochs")
    parser.add_argument("--grid-efficiency", type=float, default=None,
                        help="Ray efficiency for the projection (default: the demo grid's, else 1.0)")
    parser.add_argument("--concurrency-batches", type=int, default=40)
    parser.add_argument("--device", default="cpu", help="device of parts 1 and 2 (the fold, the variant costs): "
                        "cpu or cuda; the k search, the profile and the concurrency runs are CPU-only")
    search = parser.add_mutually_exclusive_group()
    search.add_argument("--skip-k-search", action="store_true",
                        help="no ASHA measurement: project with every k trial training its whole schedule")
    search.add_argument("--k-search-only", action="store_true",
                        help="only the ASHA measurement (part 3), written to results/bench_paper_k_search.json")
    parser.add_argument("--k-search-corpus", default="demo", help="demo corpus profile of the k search (demo, tiny)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.k_search_only:
        k = measure_k_search(args.work, args.k_search_corpus)
        print_table("The k search with ASHA on and off (paper schedule and tune settings, demo corpus)",
                    k_search_rows(k), ["figure", "value", "target"])
        write_result("bench_paper_k_search", {"k_search": k}, started)
        return
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device on this machine")
    from paaan.features.store import FeatureStore

    store = FeatureStore(scale_store(args.work))
    figures: dict = {"store": str(store.path), "device": args.device}

    epochs = bench_profile("paper").train.epochs
    e1, e2 = (int(x) for x in args.epochs.split(","))
    time_fold(store, 1, device=args.device)  # untimed warm-up: the first fit of a process builds kernels, caches
    t1, t2 = time_fold(store, e1, device=args.device), time_fold(store, e2, device=args.device)
    per_epoch = (t2 - t1) / (e2 - e1)
    fixed = t1 - e1 * per_epoch
    fold_seconds = fixed + epochs * per_epoch
    figures["fold"] = {"epochs_timed": [e1, e2], "seconds": [round(t1, 1), round(t2, 1)],
                       "fixed_seconds": round(fixed, 1), "seconds_per_epoch": round(per_epoch, 1),
                       f"projected_{epochs}_epochs_seconds": round(fold_seconds, 0)}
    if args.full_fold:
        fold_seconds = time_fold(store, epochs, device=args.device)
        figures["fold"][f"measured_{epochs}_epochs_seconds"] = round(fold_seconds, 0)
    print(f"PAaAN_PP fold 1: {fixed:.1f} s fixed + {per_epoch:.1f} s per epoch -> {fold_seconds / 60:.1f} min "
          f"for {epochs}", flush=True)

    print("relative cost of each variant ...", flush=True)
    costs = variant_costs(store, args.share, device=args.device)
    figures["ms_per_training_utterance"] = {k: round(v * 1000, 3) for k, v in costs.items()}
    figures["cost_relative_to_PAaAN_PP"] = {k: round(v / costs["PAaAN_PP"], 2) for k, v in costs.items()}

    shares = {"every_k_trial_full": 1.0}
    if not args.skip_k_search:
        figures["k_search"] = measure_k_search(args.work, args.k_search_corpus)
        shares |= {"asha_off": figures["k_search"]["none"]["share"], "asha_on": figures["k_search"]["asha"]["share"]}
    from paaan.data.folds import get_fold

    fold_rows = len(get_fold(store.utterances, 1).train)
    figures["projection_cpu"] = projections(fold_seconds, fold_rows, costs, study_trials(store), os.cpu_count(),
                                            grid_efficiency(args.grid_efficiency), max(fixed, 0.0), shares)

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

    rows = [[f"PAaAN_PP fold 1, {epochs} epochs (min)", round(fold_seconds / 60, 1), "-"],
            ["seconds per epoch (1 thread, validation included)", figures["fold"]["seconds_per_epoch"], "-"]]
    if "k_search" in figures:
        rows += k_search_rows(figures["k_search"])
    rows.append(["full study: trainings", figures["projection_cpu"]["every_k_trial_full"]["trials"], "-"])
    for name, p in figures["projection_cpu"].items():
        target = "<= 4.5" if name == "asha_on" else "-"
        by_role = " / ".join(str(p["cpu_hours_by_role"].get(r, 0)) for r in ("k", "grid", "final"))
        rows += [[f"full study, {name} (k share {p['k_epoch_share']}): CPU hours (k tuning / grid / final)",
                  f"{p['cpu_hours']} ({by_role})", target],
                 [f"full study, {name}: on this {p['cores']}-core machine (hours)", p["wall_hours"], "-"]]
    rows += [["full study on one H100", "not measured: no GPU lent", "< 15 min"]]
    rows += [[f"throughput, {k} (utt/s)", v, "-"] for k, v in figures["concurrency_utt_per_s"].items()]
    rows += [[f"top op {i + 1}: {o['op']}", f"{o['share']:.0%}", "-"] for i, o in enumerate(figures["profile"]["top_operators"][:6])]
    print_table("The paper's study (paper profile, iemocap-scale)", rows, ["figure", "value", "target"])
    write_result("bench_paper", figures, started)


if __name__ == "__main__":
    main()
