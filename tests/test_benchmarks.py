"""The numbers behind BENCHMARKS.md: the ratios, FLOP counts, projections and memory sums the benchmarks report.

Each formula is checked on values worked by hand; the FLOP formulas also against what torch's own
FlopCounterMode counts for the same layer, so the reported FLOP rate counts what the CPU really computes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from benchmarks.bench_grid import phase_figures, this_ablation  # noqa: E402
from benchmarks.bench_paper import project, study_trials  # noqa: E402


# --- ratios and statistics ---------------------------------------------------------------------------------


def test_scaling_efficiency_is_speed_up_per_worker():
    assert common.scaling_efficiency(rate_parallel=90.0, rate_serial=50.0, workers=2) == pytest.approx(0.9)
    assert common.scaling_efficiency(100.0, 50.0, 2) == 1.0


def test_parallel_efficiency_is_busy_time_over_cpu_slots():
    # 2 CPUs for 100 s = 200 CPU-seconds; trials cover 170 of them.
    assert common.parallel_efficiency(busy_seconds=170, wall_seconds=100, cpus=2) == pytest.approx(0.85)


def test_slowdown_is_relative_extra_time():
    assert common.slowdown(11.0, 10.0) == pytest.approx(0.10)
    assert common.slowdown(9.0, 10.0) == pytest.approx(-0.10)  # faster than the baseline


# --- FLOPs -------------------------------------------------------------------------------------------------


def test_lstm_flops_worked_by_hand():
    # one step, I = 1, H = 1: 4 gates x (1 + 1) multiply-adds x 2 FLOPs = 16; two directions: 32
    assert common.lstm_flops(1, 1, 1) == 16
    assert common.lstm_flops(1, 1, 1, directions=2) == 32
    # PAaAN's audio BLSTM at paper size: 2 * 2 * 512 * (45 + 128) = 354,304 per 40 ms step
    assert common.lstm_flops(1, 45, 128, directions=2) == 354_304
    assert common.lstm_flops(10, 45, 128, directions=2) == 3_543_040


def test_lstm_flops_match_torch_counter_on_a_packed_blstm():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 2, batch_first=True, bidirectional=True)
    packed = pack_padded_sequence(torch.randn(2, 5, 3), torch.tensor([5, 2]), batch_first=True, enforce_sorted=False)
    with FlopCounterMode(display=False) as counter:
        lstm(packed)
    # 7 real steps (5 + 2), padding never computed: 2 * 2 * 8 * 5 * 7 = 1120
    assert counter.get_total_flops() == common.lstm_flops(7, 3, 2, directions=2) == 1120


def test_peak_is_cores_times_clock_times_flops_per_cycle():
    assert common.peak_gflops(2, 2.6, 64) == pytest.approx(332.8)
    assert common.gflops_per_second(5e9, 2.0) == 2.5


# --- the grid's efficiency and overheads --------------------------------------------------------------------


def _run(start, end, train_seconds):
    return SimpleNamespace(info=SimpleNamespace(start_time=start * 1000, end_time=end * 1000),
                           data=SimpleNamespace(metrics={"train_seconds": train_seconds}))


def test_phase_figures_from_trial_runs():
    # Two CPUs; trials 0-10 and 10-18 on one slot, 1-19 on the other: span 0..19 = 19 s, busy 10+8+18 = 36 s.
    runs = [_run(0, 10, 9.5), _run(10, 18, 7.5), _run(1, 19, 17.0)]
    f = phase_figures(runs, cpus=2)
    assert f["trials"] == 3
    assert f["wall_seconds"] == 19.0
    assert f["sum_trial_seconds"] == 36.0
    assert f["parallel_efficiency"] == pytest.approx(36 / 38, abs=1e-3)
    assert f["mlflow_overhead_per_trial_median"] == 0.5  # run time minus train_seconds: 0.5, 0.5, 1.0
    assert f["mlflow_overhead_per_trial_max"] == 1.0
    assert f["ray_overhead_per_trial"] == pytest.approx((38 - 36) / 3, abs=1e-3)  # idle slot-seconds per trial


def _tagged(run_id, start, parent=None, step="trial"):
    tags = {"paaan.step": step, **({"mlflow.parentRunId": parent} if parent else {})}
    return SimpleNamespace(info=SimpleNamespace(run_id=run_id, start_time=start), data=SimpleNamespace(tags=tags))


def test_only_this_ablations_runs_are_analysed():
    # An earlier command's ablation (kept store) and its trial; this ablation with a featurize step, a k-tuning
    # run and its k trial (a grandchild); a trial it adopted from an earlier attempt (started before it).
    ablation = _tagged("new", 100, step="ablation")
    runs = [_tagged("old", 10, step="ablation"), _tagged("old-trial", 20, "old"), ablation,
            _tagged("featurize", 101, "new", "featurize"), _tagged("tune", 110, "new", "tune_k"),
            _tagged("k1", 111, "tune", "tune_k_trial"), _tagged("adopted", 30, "new")]
    assert sorted(r.info.run_id for r in this_ablation(ablation, runs)) == ["featurize", "k1", "tune"]


# --- the paper study's projection ---------------------------------------------------------------------------


def _five_sessions(per_session=(10, 20, 30, 40, 50)):
    sessions = np.concatenate([[s] * n for s, n in enumerate(per_session, start=1)])
    return SimpleNamespace(utterances=pd.DataFrame({"session": sessions}))


def test_study_trials_count_the_paper_grid():
    trials = study_trials(_five_sessions())
    # 10 variants x 5 folds + 4 retrieval variants x 5 folds x 8 Optuna trials + 10 all-session models
    assert len(trials) == 50 + 160 + 10 == 220
    grid = [t for t in trials if t["role"] == "grid" and t["variant"] == "PAaAN_PP"]
    assert [t["rows"] for t in grid] == [140, 130, 120, 110, 100]  # 150 minus the test session
    k1 = [t for t in trials if t["role"] == "k" and t["variant"] == "P-T"][0]
    assert k1["rows"] == 150 - 10 - 20  # fold 1's inner split validates on session 2
    assert {t["rows"] for t in trials if t["role"] == "final"} == {150}


def test_projection_scales_by_rows_and_variant_cost():
    trials = [{"variant": "PAaAN_PP", "role": "grid", "rows": 100},
              {"variant": "Audio", "role": "grid", "rows": 100},
              {"variant": "PAaAN_PP", "role": "k", "rows": 50}]
    costs = {"PAaAN_PP": 2.0, "Audio": 1.0}
    p = project(fold_seconds=3600, fold_rows=100, costs=costs, trials=trials, cores=2, efficiency=0.5)
    # 3600 + 3600 * 0.5 + 3600 * 0.5 = 7200 CPU-seconds = 2 CPU-hours; on 2 cores at efficiency 0.5: 2 hours
    assert p["cpu_hours_by_role"] == {"grid": 1.5, "k": 0.5}
    assert p["cpu_hours"] == 2.0
    assert p["wall_hours"] == 2.0


# --- memory of a process tree ------------------------------------------------------------------------------


def test_tree_memory_follows_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(64 * 2**20); time.sleep(3)"])
    try:
        time.sleep(1.0)
        assert child.pid in common.process_tree(os.getpid())
        rss, pss = common.resident_kib(child.pid)
        assert rss >= 64 * 1024 and pss > 0  # the child's 64 MiB bytearray is resident
        with common.TreeMemory(os.getpid(), every=0.1) as memory:
            time.sleep(0.3)
        assert memory.peak_processes >= 2
        own_rss, _ = common.resident_kib(os.getpid())
        assert memory.peak_rss_kib >= own_rss + 64 * 1024
    finally:
        child.kill()
        child.wait()
    assert common.resident_kib(child.pid) == (0, 0)  # gone: counted as nothing


def test_non_lstm_flops_subtracts_only_the_lstm_modules():
    counts = {"Global": 100, "PAaAN": 100, "PAaAN.blstm_a": 60, "PAaAN.blstm_a.lstm": 60, "PAaAN.blstm_t": 25,
              "PAaAN.blstm_t.lstm": 25, "PAaAN.head": 15}
    assert common.non_lstm_flops(counts) == 15  # 100 - 60 - 25, the wrappers not subtracted twice
