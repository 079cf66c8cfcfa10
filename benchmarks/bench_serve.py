"""Benchmark 5: the registered PAaAN_PP pyfunc, a request of 20 utterances of one speaker.

    python -m benchmarks.bench_serve [--work /tmp/paaan-bench] [--tracking-dir /tmp/paaan-bench/grid-demo]
                                     [--requests 30] [--model models:/paaan-PAaAN_PP@champion]

Loads the model the demo ablation registered (``bench_grid.py`` leaves it in ``<work>/grid-demo``) through
``mlflow.pyfunc.load_model`` and calls ``predict`` in this process (the path ``mlflow models serve`` runs per
request, without HTTP). Each request holds 20 utterances of one speaker of the iemocap-scale corpus (wav
path + transcript), a seeded sample per request; the first request (lazy loading) is reported apart.
Latency is split by timing the model's own stages: openSMILE (``acoustic``: read, resample, LLDs,
functionals), text (tokens, POS-free word vectors), personality (SHLA + cosine top-k retrieval) and the
network's forward pass; the rest is request checks, z-normalisation, batching and the output frame.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import DEFAULT_WORK, demo_corpus, median, print_table, write_result

import numpy as np

UTTERANCES = 20


def requests_of(corpus: Path, n: int, seed: int = 0):
    """``n`` request frames of 20 utterances, each of one speaker (speakers in turn), seeded."""
    import pandas as pd

    from paaan.data.iemocap import scan_iemocap

    table, _ = scan_iemocap(corpus / "IEMOCAP_full_release")
    rng = np.random.default_rng(seed)
    speakers = sorted(table["speaker"].unique())
    frames = []
    for i in range(n):
        rows = table[table["speaker"] == speakers[i % len(speakers)]]
        pick = rows.iloc[sorted(rng.choice(len(rows), UTTERANCES, replace=False))]
        frames.append(pd.DataFrame({"speaker": pick["speaker"].astype(str), "audio_path": pick["wav_path"].astype(str),
                                    "transcript": pick["transcript"].astype(str),
                                    "utterance_id": pick["utterance_id"].astype(str)}).reset_index(drop=True))
    return frames


def instrument(python_model, clock: dict) -> None:
    """Wrap the stages of PaaanModel so each call adds its seconds to ``clock``."""
    import paaan.features.text as text

    def timed(name, func):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                clock[name] += time.perf_counter() - started
        return wrapper

    python_model.acoustic = timed("opensmile", python_model.acoustic)
    python_model.personality_rows = timed("personality", python_model.personality_rows)
    python_model.model.forward = timed("network", python_model.model.forward)
    text.transcript_features = timed("text", text.transcript_features)


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--tracking-dir", type=Path, default=None, help="default: <work>/grid-demo")
    parser.add_argument("--model", default="models:/paaan-PAaAN_PP@champion")
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    started = time.perf_counter()
    import mlflow
    import torch

    folder = args.tracking_dir or args.work / "grid-demo"
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    torch.set_num_threads(1)  # one request, one core: what a single-worker server gets per request
    loaded_at = time.perf_counter()
    model = mlflow.pyfunc.load_model(args.model)
    load_seconds = time.perf_counter() - loaded_at
    python_model = model.unwrap_python_model()
    clock: dict[str, float] = defaultdict(float)
    instrument(python_model, clock)
    frames = requests_of(demo_corpus(work=args.work), args.requests + 1)
    totals, parts = [], defaultdict(list)
    for i, frame in enumerate(frames):
        clock.clear()
        t0 = time.perf_counter()
        out = model.predict(frame)
        total = time.perf_counter() - t0
        assert len(out) == UTTERANCES
        if i == 0:
            first = {"total": round(total, 3), **{k: round(v, 3) for k, v in clock.items()}}
            continue
        totals.append(total)
        for name in ("opensmile", "text", "personality", "network"):
            parts[name].append(clock.get(name, 0.0))
        parts["other"].append(total - sum(clock.values()))
    audio_seconds = None
    try:
        import soundfile as sf

        audio_seconds = median([sum(sf.info(p).duration for p in f["audio_path"]) for f in frames[1:]])
    except Exception:  # noqa: BLE001 (a figure for context only)
        pass
    figures = {
        "model": args.model, "tracking_store": str(folder / "mlflow.db"), "requests": len(totals),
        "utterances_per_request": UTTERANCES, "load_seconds": round(load_seconds, 2), "first_request": first,
        "latency_p50_s": round(median(totals), 3), "latency_p95_s": round(float(np.percentile(totals, 95)), 3),
        "utterances_per_s": round(UTTERANCES / median(totals), 1),
        "audio_seconds_per_request_median": round(audio_seconds, 1) if audio_seconds else None,
        "median_seconds": {k: round(median(v), 4) for k, v in parts.items()},
        "share_of_latency": {k: round(median(v) / median(totals), 3) for k, v in parts.items()},
        "featurization_p50_s": round(median([a + b for a, b in zip(parts["opensmile"], parts["text"])]), 3),
        "model_p50_s": round(median([a + b for a, b in zip(parts["personality"], parts["network"])]), 3),
    }
    rows = [["latency p50 (s)", figures["latency_p50_s"]], ["latency p95 (s)", figures["latency_p95_s"]],
            ["utterances per second", figures["utterances_per_s"]],
            ["featurization p50 (openSMILE + text, s)", figures["featurization_p50_s"]],
            ["model p50 (retrieval + network, s)", figures["model_p50_s"]]]
    rows += [[f"  {k}: median s (share)", f"{figures['median_seconds'][k]} ({figures['share_of_latency'][k]:.0%})"]
             for k in ("opensmile", "text", "personality", "network", "other")]
    rows += [["first request (s)", first["total"]], ["model load (s)", figures["load_seconds"]]]
    print_table(f"Serving {args.model}: {UTTERANCES} utterances of one speaker per request", rows, ["figure", "value"])
    write_result("serve", figures, started)


if __name__ == "__main__":
    main()
