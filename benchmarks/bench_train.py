"""Benchmark 2: training throughput against a bare PyTorch loop, the gain of length-aware batching, FLOP rate.

    python -m benchmarks.bench_train [--work /tmp/paaan-bench] [--profiles demo,paper] [--variants PAaAN_PP,IA+T]
                                     [--threads 1] [--rounds 3] [--device cpu]

On the iemocap-scale feature store (from ``bench_featurize.py``, or featurized now), fold 1's training rows
minus the 10% validation share (what ``train_fold`` fits on), one epoch at a time:

- ours: ``paaan.train.fit`` for one epoch (length-aware batches, ``collate``/``make_batch`` with its checks,
  the model's own loss), without validation, then the same epoch with the validation pass it always runs;
- bare: the same model (same initial weights), the same batches in the same order, the same tensors,
  padded with ``pad_sequence`` and fed straight to forward/backward/Adam: no batch checks, no bookkeeping,
  no logging, no Ray, no MLflow;
- padding: ours with batches of random composition (``length_buckets=False``, padded to the batch's
  longest utterance) and the bare loop with random batches padded to the corpus' longest utterance;
- FLOPs: the LSTM gate products by formula over the real steps, every other layer counted by
  ``torch.utils.flop_counter.FlopCounterMode``, training = 3 x forward; the rate against the theoretical
  peak and against a measured single-precision GEMM rate.

Rounds alternate ours and bare; the ratio is the median of the per-round ratios. The personality input is
a seeded random 25-d vector per speaker: speed does not depend on its values.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import (DEFAULT_WORK, bench_profile, build, gflops_per_second, lstm_flops,
                               median, non_lstm_flops, peak_gflops, print_table, random_personality, scale_store,
                               write_result)

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

# Theoretical peak assumed (see BENCHMARKS.md): AMD EPYC (Zen 5, AVX-512 with two 512-bit FMA pipes) at its
# 2.6 GHz nominal clock (the TSC rate; the VM hides boost clocks): 64 FP32 FLOPs per cycle per core.
ASSUMED_GHZ = 2.6
FLOPS_PER_CYCLE = 64


def load(store_path: Path, fold: int = 1, seed: int = 0):
    from paaan.data.folds import get_fold, validation_split
    from paaan.features.store import FeatureStore
    from paaan.train import corpus_tensors

    store = FeatureStore(store_path)
    data = corpus_tensors(str(store.path.resolve()))
    f = get_fold(store.utterances, fold)
    fit_rows, val_rows = validation_split(f.train, data.labels[f.train], 0.1, seed)
    personality = random_personality(data.speakers, seed)  # (n_utterances, 25)
    return data, fit_rows, val_rows, personality


def chunks_of(data, rows, profile, seed: int):
    """The batches ``fit`` draws for its first epoch with this seed (same generator, same calls)."""
    from paaan.train import batches

    return batches(rows, data.audio_lengths, profile.train.batch_size, np.random.default_rng(seed),
                   profile.train.length_buckets)


# --- the loops ---------------------------------------------------------------------------------------------


def epoch_ours(variant, profile, data, rows, val_rows, personality, device, seed=0) -> float:
    from paaan.train import fit

    model = build(variant, profile, data, seed).to(device)
    started = time.perf_counter()
    fit(model, data, rows, val_rows, personality, profile, seed, device)
    _sync(device)
    return time.perf_counter() - started


def bare_batches(data, chunks, personality, pad_to: tuple[int, int] | None = None):
    """Yield the tensors of each batch, padded like make_batch (or to ``pad_to`` = (T_A, T_W))."""
    from paaan.models import Batch

    for chunk in chunks:
        audio = pad_sequence([data.audio[i] for i in chunk], batch_first=True)
        words = pad_sequence([data.words[i] for i in chunk], batch_first=True)
        step_word = pad_sequence([data.step_word[i] for i in chunk], batch_first=True, padding_value=-1)
        if pad_to is not None:
            audio = F.pad(audio, (0, 0, 0, pad_to[0] - audio.shape[1]))
            words = F.pad(words, (0, 0, 0, pad_to[1] - words.shape[1]))
            step_word = F.pad(step_word, (0, pad_to[0] - step_word.shape[1]), value=-1)
        yield Batch(audio=audio, audio_lengths=torch.from_numpy(data.audio_lengths[chunk]),
                    words=words, word_lengths=torch.tensor([data.words[i].shape[0] for i in chunk]),
                    step_word=step_word, personality=torch.from_numpy(personality[chunk]),
                    labels=torch.from_numpy(data.labels[chunk]))


def epoch_bare(variant, profile, data, chunks, personality, device, seed=0, pad_to=None) -> float:
    model = build(variant, profile, data, seed).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=profile.train.lr)
    started = time.perf_counter()
    for batch in bare_batches(data, chunks, personality, pad_to):
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(batch).logits, batch.labels)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - started


def epoch_flops(variant, profile, data, chunks, personality, seed=0) -> dict:
    """FLOPs of one epoch: the LSTMs' gate products by formula, every other layer as FlopCounterMode counts it.

    On the CPU, ``paaan.models.layers.BLSTM`` runs each direction through the fused LSTM kernel on the padded
    batch (no packing), which the counter does not see; a packed LSTM it sees only when the CPU runs it step
    by step. So every LSTM is counted by ``lstm_flops`` over the real (unpadded) steps (the padded steps the
    fused kernel also computes are not counted), and whatever the counter did attribute to LSTM modules is
    dropped (``non_lstm_flops``). Training = 3 x forward (backward costs about twice the forward: gradients of
    activations and of weights), the usual convention.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = build(variant, profile, data, seed)
    counter = FlopCounterMode(display=False)
    with counter:
        for batch in bare_batches(data, chunks, personality):
            model(batch)
    other = non_lstm_flops({name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()})
    lstm_forward = 0
    audio_steps = int(sum(data.audio_lengths[c].sum() for c in chunks))
    word_steps = int(sum(sum(data.words[i].shape[0] for i in c) for c in chunks))
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.LSTM):
            steps = word_steps if name.split(".")[0].endswith("_t") else audio_steps
            lstm_forward += lstm_flops(steps, module.input_size, module.hidden_size, 2 if module.bidirectional else 1)
    forward = lstm_forward + other
    return {"train_flops": 3 * forward, "forward_flops": forward, "lstm_forward_flops": lstm_forward,
            "audio_steps": audio_steps, "words": word_steps}


def gemm_gflops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """Measured FP32 GEMM rate (torch.mm of two size x size matrices) with ``threads`` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    torch.set_num_threads(before)
    return 2 * size**3 / median(times) / 1e9


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# --- the benchmark -----------------------------------------------------------------------------------------


def measure(variant: str, profile_name: str, threads: int, rounds: int, data, rows, val_rows, personality,
            device) -> dict:
    torch.set_num_threads(threads)
    profile = bench_profile(profile_name, epochs=1, threads=threads, length_buckets=True)
    random_profile = bench_profile(profile_name, epochs=1, threads=threads, length_buckets=False)
    chunks = chunks_of(data, rows, profile, seed=0)
    random_chunks = chunks_of(data, rows, random_profile, seed=0)
    corpus_max = (int(data.audio_lengths.max()), int(max(w.shape[0] for w in data.words)))
    # Warm-up (allocator, lazy initialisation) on a few batches, not timed.
    epoch_bare(variant, profile, data, chunks[:3], personality, device)
    runs = {
        "ours": lambda: epoch_ours(variant, profile, data, rows, rows[:0], personality, device),
        "bare": lambda: epoch_bare(variant, profile, data, chunks, personality, device),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            seconds[name].append(runs[name]())
    ratio_rounds = [b / o for o, b in zip(seconds["ours"], seconds["bare"])]  # ours' speed as a share of bare's
    with_validation = epoch_ours(variant, profile, data, rows, val_rows, personality, device)
    random_batch_max = epoch_ours(variant, random_profile, data, rows, rows[:0], personality, device)
    random_corpus_max = epoch_bare(variant, profile, data, random_chunks, personality, device, pad_to=corpus_max)
    flops = epoch_flops(variant, profile, data, chunks, personality)
    ours_s = median(seconds["ours"])
    n = len(rows)
    return {
        "variant": variant, "profile": profile_name, "threads": threads, "device": str(device),
        "batch_size": profile.train.batch_size, "blstm_hidden": profile.model.blstm_hidden,
        "utterances": n, "batches": len(chunks), "corpus_max_steps": corpus_max,
        "seconds": {k: [round(x, 2) for x in v] for k, v in seconds.items()},
        "ours_utt_per_s": round(n / ours_s, 1), "bare_utt_per_s": round(n / median(seconds["bare"]), 1),
        "ours_share_of_bare": round(median(ratio_rounds), 3),
        "ours_share_of_bare_rounds": [round(x, 3) for x in ratio_rounds],
        "epoch_with_validation_s": round(with_validation, 2),
        "random_batches_batch_max_s": round(random_batch_max, 2),
        "random_batches_corpus_max_s": round(random_corpus_max, 2),
        "length_aware_gain_vs_corpus_max": round(random_corpus_max / ours_s, 2),
        "length_aware_gain_vs_random_batch_max": round(random_batch_max / ours_s, 2),
        **flops,
        "lstm_share_of_forward_flops": round(flops["lstm_forward_flops"] / flops["forward_flops"], 3),
        "achieved_gflops": round(gflops_per_second(flops["train_flops"], ours_s), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--profiles", default="demo,paper")
    parser.add_argument("--variants", default="PAaAN_PP,IA+T")
    parser.add_argument("--threads", default="1", help="comma-separated torch thread counts, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda: untested here, no GPU was lent)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device on this machine")
    store = scale_store(args.work)
    data, rows, val_rows, personality = load(store)
    print(f"store {store}: {len(data.labels)} utterances; fold 1 fits on {len(rows)}", flush=True)
    results = []
    for profile_name in args.profiles.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            for variant in args.variants.split(","):
                print(f"  {variant} ({profile_name} profile, {threads} thread(s)) ...", flush=True)
                results.append(measure(variant, profile_name, threads, args.rounds, data, rows, val_rows,
                                       personality, torch.device(args.device)))
    threads_used = sorted({r["threads"] for r in results})
    gemm = {t: round(gemm_gflops(t), 1) for t in threads_used}
    for r in results:
        r["gemm_gflops_measured"] = gemm[r["threads"]]
        r["peak_gflops_assumed"] = peak_gflops(r["threads"], ASSUMED_GHZ, FLOPS_PER_CYCLE)
        r["share_of_peak"] = round(r["achieved_gflops"] / r["peak_gflops_assumed"], 4)
        r["share_of_gemm"] = round(r["achieved_gflops"] / r["gemm_gflops_measured"], 4)
    print_table("Training, one epoch of fold 1 (iemocap-scale)", [
        [r["variant"], r["profile"], r["threads"], r["ours_utt_per_s"], r["bare_utt_per_s"], r["ours_share_of_bare"],
         r["length_aware_gain_vs_corpus_max"], r["achieved_gflops"], r["share_of_peak"], r["share_of_gemm"]]
        for r in results], ["variant", "profile", "threads", "ours utt/s", "bare utt/s", "ours/bare (>=0.9)",
                            "gain vs corpus-max pad", "GFLOP/s", "of peak", "of GEMM"])
    write_result("train", {"store": str(store), "assumed_peak": {"ghz": ASSUMED_GHZ, "flops_per_cycle": FLOPS_PER_CYCLE},
                           "gemm_gflops": gemm, "results": results}, started)


if __name__ == "__main__":
    main()
