"""The numbers behind BENCHMARKS.md: the ratios, FLOP counts, projections and memory sums the benchmarks report.

Each formula is checked on values worked by hand; the FLOP formulas also against what torch's own
FlopCounterMode counts for the same layer, so the reported FLOP rate counts what the CPU really computes.
Also the shared harness (child commands from a cold start, the runs of a tracking store) and what every
benchmark script may not do: edit ``sys.path`` or reach a private name of the library.
"""

from __future__ import annotations

import ast
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' own import path (the benchmarks run as python -m benchmarks.X)

from benchmarks import common  # noqa: E402
from benchmarks.bench_grid import phase_figures  # noqa: E402
from benchmarks.bench_paper import (asha_saving, iemocap_sessions, k_search_epochs, k_search_profile,  # noqa: E402
                                    project, projections, study_trials)


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
    assert sorted(r.info.run_id for r in common.this_ablation(ablation, runs)) == ["featurize", "k1", "tune"]


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


def test_the_iemocap_stand_in_has_its_five_sessions():
    store = iemocap_sessions()
    assert store.utterances["session"].value_counts().sort_index().tolist() == [1085, 1023, 1151, 1031, 1241]
    trials = study_trials(store)
    assert len(trials) == 220
    assert {t["rows"] for t in trials if t["role"] == "final"} == {5531}


def test_asha_shortens_only_the_k_trials_and_only_their_epochs():
    trials = [{"variant": "PAaAN_PP", "role": "grid", "rows": 100},
              {"variant": "PAaAN_PP", "role": "k", "rows": 50}, {"variant": "PAaAN_PP", "role": "k", "rows": 50},
              {"variant": "Audio", "role": "final", "rows": 200}]
    costs = {"PAaAN_PP": 2.0, "Audio": 1.0}
    p = project(fold_seconds=3600, fold_rows=100, costs=costs, trials=trials, cores=2, efficiency=0.5,
                fixed_seconds=720, k_epoch_share=0.25)
    # grid: 3600 s; each k trial: (720 fixed + 2880 per-epoch part x 0.25) x 50/100 rows = 720 s, two: 1440 s;
    # final: 3600 x 200/100 rows x 1/2 the cost = 3600 s. 8640 s = 2.4 CPU-hours; 2 cores at 0.5: 2.4 hours.
    assert p["cpu_hours_by_role"] == {"grid": 1.0, "k": 0.4, "final": 1.0}
    assert (p["cpu_hours"], p["wall_hours"], p["k_epoch_share"]) == (2.4, 2.4, 0.25)
    both = projections(3600, 100, costs, trials, 2, 0.5, fixed_seconds=720,
                       shares={"every_k_trial_full": 1.0, "asha_on": 0.25})
    assert both["asha_on"] == p
    # every k trial its whole schedule: each is 3600 x 50/100 = 1800 s; 3600 + 3600 + 3600 = 10800 s = 3.0 h
    assert both["every_k_trial_full"]["cpu_hours_by_role"] == {"grid": 1.0, "k": 1.0, "final": 1.0}
    assert both["every_k_trial_full"]["cpu_hours"] == 3.0


def _k_run(status="FINISHED", epochs=None, stopped=False, epochs_trained=None, trials=None):
    metrics = {} if epochs is None else {"epochs_run": epochs}
    if epochs_trained is not None:
        metrics["epochs_trained"] = epochs_trained
    tags = {"paaan.stopped_by": "scheduler"} if stopped else {}
    params = {} if trials is None else {"trials": str(trials)}
    return SimpleNamespace(info=SimpleNamespace(status=status),
                           data=SimpleNamespace(metrics=metrics, tags=tags, params=params))


def test_k_search_epochs_count_what_the_trial_runs_trained():
    # One problem of 5 Optuna trials on a 50-epoch schedule: one run trains its 50 epochs, ASHA stops two at
    # the first rung (5) and one at the second (15); the fifth trial drew a k already run and reused that run
    # (no run of its own; tune_k's epochs_trained counts its 15 again); a killed run does not count.
    trials = [_k_run(epochs=50), _k_run(epochs=5, stopped=True), _k_run(epochs=5, stopped=True),
              _k_run(epochs=15, stopped=True), _k_run(status="KILLED", epochs=3)]
    m = k_search_epochs(trials, [_k_run(epochs_trained=90, trials=5)], max_epochs=50)
    assert (m["trials_planned"], m["runs_trained"], m["runs_not_finished"], m["stopped_early"]) == (5, 4, 1, 3)
    assert (m["epochs"], m["epochs_trained_by_tune_k"]) == (75, 90)
    assert m["share"] == 75 / (5 * 50) == 0.3  # of the projection's 5 trials x 50 epochs
    assert m["runs_by_epochs"] == {5: 2, 15: 1, 50: 1}
    # without ASHA the same 5 trials: 4 runs of 50 epochs (the repeated k again reused)
    without = k_search_epochs([_k_run(epochs=50)] * 4, [_k_run(trials=5)], max_epochs=50)
    assert without["share"] == 0.8
    assert asha_saving(m, without) == 75 / 200
    with pytest.raises(ValueError, match="planned 5 and 4 trials"):
        asha_saving(m, k_search_epochs([_k_run(epochs=50)] * 4, [_k_run(trials=4)], max_epochs=50))


def test_the_k_search_profile_is_the_papers_schedule_and_tune_section_at_demo_sizes(tmp_path):
    from experiments.profiles import load_profile

    profile, ablation = load_profile(str(k_search_profile(tmp_path)))
    paper, _ = load_profile("paper")
    demo, _ = load_profile("demo")
    assert profile.tune == paper.tune  # 8 trials, ASHA, grace 5, reduction factor 3, best_val_uar
    assert (profile.train.epochs, profile.train.patience) == (paper.train.epochs, paper.train.patience) == (50, 0)
    assert profile.model == demo.model and profile.train.lr == demo.train.lr
    assert ablation["k_tuning"] == "per_variant"


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


# --- child commands from a cold start, the runs of a tracking store ---------------------------------------


def test_cold_env_gives_the_child_its_own_folders_and_drops_the_named_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "other")
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    env = common.cold_env(tmp_path, PAAAN_DATA="/data")
    assert env["PAAAN_CACHE"] == str(tmp_path / "cache") and env["PAAAN_RAY_RESULTS"] == str(tmp_path / "ray_results")
    assert env["PYTHONUNBUFFERED"] == "1" and env["PAAAN_DATA"] == "/data" and env["RAY_ADDRESS"] == "auto"
    assert not [k for k in env if k.startswith("MLFLOW_")]  # a prefix drops every MLflow variable
    only_uri = common.cold_env(tmp_path, drop=("MLFLOW_TRACKING_URI",))  # an exact name drops that one only
    assert "MLFLOW_TRACKING_URI" not in only_uri and only_uri["MLFLOW_EXPERIMENT_NAME"] == "other"
    assert "RAY_ADDRESS" not in common.cold_env(tmp_path, drop=("MLFLOW_", "RAY_"))


def test_run_logged_times_a_command_and_fails_with_its_log_tail(tmp_path):
    folder = common.fresh_folder(tmp_path / "cold")
    (folder / "stale").write_text("x")
    assert common.fresh_folder(folder) == folder and not list(folder.iterdir())  # emptied
    env = dict(os.environ)
    wall, memory = common.run_logged([sys.executable, "-c", "print('hello')"], env, folder / "ok.log", "ok",
                                     memory=True)
    assert wall > 0 and memory.peak_processes >= 1 and (folder / "ok.log").read_text() == "hello\n"
    assert common.run_logged([sys.executable, "-c", "pass"], env, folder / "quiet.log", "quiet")[1] is None
    with pytest.raises(SystemExit, match=r"broken failed \(exit 3\); log tail:\nboom"):
        common.run_logged([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], env,
                          folder / "bad.log", "broken")


def test_the_recorded_command_is_how_the_benchmark_was_started(monkeypatch):
    monkeypatch.setitem(sys.modules, "__main__", SimpleNamespace(__spec__=SimpleNamespace(name="benchmarks.bench_grid")))
    monkeypatch.setattr(sys, "argv", [str(REPO / "benchmarks" / "bench_grid.py"), "--keep"])
    assert common.command_line() == "python -m benchmarks.bench_grid --keep"
    monkeypatch.setitem(sys.modules, "__main__", SimpleNamespace(__spec__=None))  # a script run by its path
    assert common.command_line() == "python benchmarks/bench_grid.py --keep"


def test_newest_run_of_a_step_with_these_params():
    def run(run_id, start, step="ablation", **params):
        return SimpleNamespace(info=SimpleNamespace(run_id=run_id, start_time=start),
                               data=SimpleNamespace(tags={"paaan.step": step}, params=params))

    runs = [run("a", 10, **{"tune.scheduler": "asha"}), run("b", 30, **{"tune.scheduler": "none"}),
            run("c", 20, **{"tune.scheduler": "asha"}), run("t", 40, step="trial")]
    assert common.newest_run(runs, "ablation").info.run_id == "b"
    assert common.newest_run(runs, "ablation", {"tune.scheduler": "asha"}).info.run_id == "c"


def test_experiment_runs_searches_the_paaan_experiment_by_step(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    other = client.create_experiment("other")
    client.set_terminated(client.create_run(other, tags={"paaan.step": "ablation"}).info.run_id)
    paaan = client.create_experiment("paaan")
    ids = {}
    for name, step, start in (("old", "ablation", 1000), ("trial", "trial", 2000), ("new", "ablation", 3000)):
        ids[name] = client.create_run(paaan, start_time=start, tags={"paaan.step": step}).info.run_id
    client.set_terminated(ids["old"])
    assert [r.info.run_id for r in common.experiment_runs(uri)] == [ids["new"], ids["trial"], ids["old"]]
    assert [r.info.run_id for r in common.experiment_runs(uri, "ablation")] == [ids["new"], ids["old"]]
    finished = common.experiment_runs(uri, "ablation", "attributes.status = 'FINISHED'")
    assert [r.info.run_id for r in finished] == [ids["old"]]
    assert len(common.experiment_runs(uri, max_results=1)) == 1


# --- every benchmark script: no sys.path edits, no private names of the library ----------------------------

LIBRARY = ("paaan", "experiments", "registry")
READ_ONLY_LIST_METHODS = ("copy", "count", "index")


def _private(name: str) -> bool:
    """A name starting with ``_`` (``_x``, ``__x``), not a dunder (``__version__``); dotted: any part."""
    return any(part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
               for part in name.split("."))


def _in_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARY


def hygiene_problems(source: str) -> list[str]:
    """What a benchmark script may not do, as "line N: what": change ``sys.path`` (assign to it or to an item
    of it, or call a method that changes it), import a private name from paaan, experiments or registry, or
    reach one as an attribute of a name imported from them (``module._name``)."""
    tree = ast.parse(source)
    sys_names, path_names, library_names = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sys":
                    sys_names.add(alias.asname or "sys")
                if _in_library(alias.name):
                    library_names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == "sys":
                path_names.update(a.asname or a.name for a in node.names if a.name == "path")
            if _in_library(node.module):
                library_names.update(a.asname or a.name for a in node.names)

    def is_sys_path(node) -> bool:
        while isinstance(node, ast.Subscript):  # sys.path[0] = ...
            node = node.value
        if isinstance(node, ast.Name):
            return node.id in path_names
        return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id in sys_names)

    problems = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            problems += [f"line {line}: assigns to sys.path" for t in targets if is_sys_path(t)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_path(node.func.value)
              and node.func.attr not in READ_ONLY_LIST_METHODS):
            problems.append(f"line {line}: sys.path.{node.func.attr}(...)")
        elif isinstance(node, ast.Import):
            problems += [f"line {line}: import {a.name}" for a in node.names if _in_library(a.name) and _private(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _in_library(node.module):
            if _private(node.module):
                problems.append(f"line {line}: from {node.module} import ...")
            problems += [f"line {line}: from {node.module} import {a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in library_names:
                problems.append(f"line {line}: {ast.unparse(node)}")
    return problems


@pytest.mark.parametrize("source, found", [
    ("import sys\nsys.path.insert(0, 'x')", "sys.path.insert"),
    ("import sys\nsys.path.append('x')", "sys.path.append"),
    ("import sys as s\ns.path.extend(['x'])", "sys.path.extend"),
    ("import sys\nsys.path = ['x']", "assigns to sys.path"),
    ("import sys\nsys.path[0] = 'x'", "assigns to sys.path"),
    ("import sys\nsys.path += ['x']", "assigns to sys.path"),
    ("from sys import path\npath.insert(0, 'x')", "sys.path.insert"),
    ("from paaan.train import _evaluate", "from paaan.train import _evaluate"),
    ("from experiments.testbed import trial_shares, _trial_shares as shares", "import _trial_shares"),
    ("from registry._private import model", "from registry._private import"),
    ("import paaan._impl", "import paaan._impl"),
    ("import paaan.features.pipeline as pipeline\npipeline._run_acoustic([])", "pipeline._run_acoustic"),
    ("from paaan.features import pipeline\nx = pipeline._LEVELS", "pipeline._LEVELS"),
    ("import experiments.testbed\nexperiments.testbed._shares()", "experiments.testbed._shares"),
])
def test_the_hygiene_check_finds_what_it_forbids(source, found):
    problems = hygiene_problems(source)
    assert len(problems) == 1 and found in problems[0], problems


def test_the_hygiene_check_allows_public_names_and_reading_sys_path():
    source = ("from __future__ import annotations\nimport sys\nfrom paaan.train import evaluate\n"
              "import paaan.features.pipeline as pipeline\nfrom benchmarks.common import write_result\n"
              "print(sys.path.index('x'), sys.path[0], pipeline.run_acoustic, pipeline.__name__)\n"
              "class A:\n    def f(self):\n        return self._private, write_result._cache\n"
              "env = dict(PYTHONPATH='x')")
    assert hygiene_problems(source) == []


@pytest.mark.parametrize("script", sorted((REPO / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_no_benchmark_edits_sys_path_or_reaches_a_private_name_of_the_library(script):
    assert hygiene_problems(script.read_text()) == []


# --- the GPU check's CPU side ------------------------------------------------------------------------------

from benchmarks import gpu_check  # noqa: E402

TINY_SIZES = {"model": {"blstm_hidden": 8, "prelayer": 4, "dense": 16, "fusion_size": 16},
              "prev1": {"lstm_hidden": 8, "filters": 4, "embedding": 8}, "prev2": {"audio_hidden": 8, "text_hidden": 8}}


def _tiny_profile():
    from experiments.profiles import load_profile

    profile, _ = load_profile("demo")
    return profile.replace(**TINY_SIZES)


def test_cpu_and_cpu_forward_passes_of_the_same_weights_agree_for_every_family():
    rows = gpu_check.agreement(gpu_check.AGREE_VARIANTS, _tiny_profile(), "cpu")
    fields = {r["variant"]: set(r["strict"]) for r in rows}
    # the attention models compare both attention maps; Prev1 and Prev2 have none, only logits and embedding
    assert fields == {"A+T": {"logits", "alpha_audio", "alpha_text", "embedding"},
                      "PAaAN_PP": {"logits", "alpha_audio", "alpha_text", "embedding"},
                      "Prev1": {"logits", "embedding"}, "Prev2": {"logits", "embedding"}}
    assert all(v["ok"] and v["max_abs"] == 0.0 for r in rows for v in r["strict"].values())  # same kernels
    assert all("tf32" not in r for r in rows)  # TF32 is a CUDA matter


def test_the_agreement_check_fails_outside_its_tolerance(monkeypatch):
    from paaan.models import ModelOutput

    logits = torch.tensor([[1.0, -2.0, 0.5, 0.0]])
    alpha = torch.tensor([[0.5, 0.3, 0.2]])
    same = gpu_check.compare_outputs(ModelOutput(logits, alpha), ModelOutput(logits + 5e-5, alpha + 5e-6))
    assert same["logits"]["ok"] and same["alpha_audio"]["ok"] and "alpha_text" not in same
    # 2.1e-4 on a logit of 1.0 is over 1e-4 + 1e-4 * 1.0; 2e-5 on an attention weight is over 1e-5
    off = gpu_check.compare_outputs(ModelOutput(logits, alpha),
                                    ModelOutput(logits + torch.tensor([[2.1e-4, 0, 0, 0]]), alpha + 2e-5))
    assert not off["logits"]["ok"] and off["logits"]["max_abs"] == pytest.approx(2.1e-4, rel=1e-3)
    assert not off["alpha_audio"]["ok"]
    monkeypatch.setattr(gpu_check, "forward_agreement", lambda model, batch, device: off)
    with pytest.raises(gpu_check.CheckFailed, match=r"Prev1 logits: max \|diff\| 0.00021"):
        gpu_check.agreement(["Prev1"], _tiny_profile(), "cpu")


def test_the_fixed_batch_pads_utterances_of_different_lengths():
    batch = gpu_check.fixed_batch()
    assert len(set(batch.audio_lengths.tolist())) == 8 and len(set(batch.word_lengths.tolist())) > 1
    assert int(batch.audio_lengths.max()) == 150 and int(batch.audio_lengths.min()) == 7
    assert bool((batch.step_word == -1).any()) and bool((batch.step_word >= 0).any())
    assert torch.equal(batch.audio, gpu_check.fixed_batch().audio)  # seeded: the same batch every time


def test_most_trials_at_once_counts_overlapping_runs():
    assert gpu_check.most_at_once([(0, 10), (2, 4), (3, 12)]) == 3
    assert gpu_check.most_at_once([(0, 5), (5, 10)]) == 1  # one ends as the next starts
    assert gpu_check.most_at_once([]) == 0


def test_gpu_check_dry_run_lists_the_steps_and_bad_arguments_fail():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.sh"
    env = dict(os.environ, PYTHON=sys.executable)
    dry = subprocess.run(["bash", str(script), "--dry-run", "--", "--device", "cpu", "--steps", "agree,project"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "1. agree: CPU vs cpu forward passes" in dry.stdout and "2. project:" in dry.stdout
    assert "train:" not in dry.stdout and "grid:" not in dry.stdout
    bad = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--steps", "agree,fly"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert bad.returncode == 2 and "unknown steps ['fly']" in bad.stderr
    assert subprocess.run(["bash", str(script), "--bogus"], capture_output=True, env=env).returncode == 2
    with pytest.raises(SystemExit):
        gpu_check.parse(["--store", "/tmp/x"])  # the grid step featurizes itself


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the failure without a GPU")
def test_gpu_check_on_a_machine_without_cuda_fails():
    with pytest.raises(gpu_check.CheckFailed, match="sees no CUDA device"):
        gpu_check.main(["--steps", "agree"])
