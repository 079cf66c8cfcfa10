"""Benchmark 6: the CPU recurrences without packing against the packed sequences they replace.

    python -m benchmarks.bench_rnn [--batch 32] [--max-steps 200] [--threads 1] [--rounds 5]

On the CPU, PyTorch runs a packed batch whose lengths differ as a step-by-step loop of small matrix products.
``paaan.models.layers`` runs the fused kernel on the padded batch instead: ``BLSTM`` (the BLSTM-attention
baselines and PAaAN) and ``last_state`` (Prev1's LSTM, Prev2's GRU); both give the packed form's outputs and
gradients (tests/test_models.py). This times one forward + backward of each, at the paper profile's sizes, on
45 LLDs per step and a seeded batch whose lengths are uniform in [max_steps / 2, max_steps], the median of
``rounds`` alternating rounds.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import bench_profile, median, print_table, write_result

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def _packed(rnn, x, lengths):
    return rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))


def cases(profile, n_features: int):
    """(name, module, ours(x, lengths), packed(x, lengths)) at the profile's sizes."""
    from paaan.models.layers import BLSTM, last_state

    blstm = BLSTM(n_features, profile.model.blstm_hidden)
    lstm = torch.nn.LSTM(n_features, profile.prev1.lstm_hidden, batch_first=True)
    gru = torch.nn.GRU(n_features, profile.prev2.audio_hidden, batch_first=True)

    def state(rnn):
        def packed(x, lengths):
            _, h = _packed(rnn, x, lengths)
            return (h[0] if isinstance(h, tuple) else h)[-1]
        return packed

    return [
        ("BLSTM", blstm, blstm, lambda x, n: pad_packed_sequence(_packed(blstm.lstm, x, n)[0], batch_first=True)[0]),
        ("last_state LSTM (Prev1)", lstm, lambda x, n: last_state(lstm, x, n), state(lstm)),
        ("last_state GRU (Prev2)", gru, lambda x, n: last_state(gru, x, n), state(gru)),
    ]


def seconds(step, x, lengths) -> float:
    started = time.perf_counter()
    step(x, lengths).pow(2).sum().backward()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    from paaan.features.acoustic import N_LLD

    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(args.max_steps // 2, args.max_steps + 1, (args.batch,), generator=generator)
    x = torch.randn(args.batch, args.max_steps, N_LLD, generator=generator)
    rows, figures = [], {}
    torch.manual_seed(0)
    for name, module, ours, packed in cases(bench_profile("paper"), N_LLD):
        for step in (ours, packed):  # warm-up
            seconds(step, x, lengths)
        times = {"ours": [], "packed": []}
        for _ in range(args.rounds):
            times["ours"].append(seconds(ours, x, lengths))
            times["packed"].append(seconds(packed, x, lengths))
            module.zero_grad()
        ours_s, packed_s = median(times["ours"]), median(times["packed"])
        figures[name] = {"ours_s": ours_s, "packed_s": packed_s, "speedup": packed_s / ours_s}
        rows.append([name, f"{1000 * ours_s:.1f}", f"{1000 * packed_s:.1f}", f"{packed_s / ours_s:.1f}x"])
    print_table(f"forward + backward, batch {args.batch}, up to {args.max_steps} steps, {args.threads} thread(s)",
                rows, ["recurrence", "ours ms", "packed ms", "packed / ours"])
    write_result("rnn", figures | {"batch": args.batch, "max_steps": args.max_steps, "threads": args.threads}, started)


if __name__ == "__main__":
    main()
