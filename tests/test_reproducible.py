"""Numbers a new user can reproduce: the same command, code, corpus and seeds give the same trials however many
CPUs Ray has and in whatever order it schedules them.

A tiny ablation (A+T and PAaAN_PP, k tuned by Optuna with ASHA pruning, every fold, the final models) runs
twice, on a Ray cluster of one CPU and of two, each in its own store; every k trial, grid trial and final
model must give the same metrics, the same epochs and the same pruning decisions, and every k the same
choice. What makes this hold (and what the test keeps holding): each trial seeds everything it draws from
its own (variant, fold, seed); each k study runs one trial at a time, so its sampler and its ASHA bracket see
the same history in any schedule (``experiments.search``); and one thread per trial.
"""

from __future__ import annotations

import subprocess

from reliability.reliability_tools import REPO, all_runs, child_env, paaan_command

PROFILE = """base: demo
name: reproducible
train:
  epochs: 10
  patience: 0
  lr: 0.01
tune:
  k_trials: 4
  grace_period: 2
  reduction_factor: 2
  metric: val_uar       # this epoch's validation UAR: on the tiny corpus the best-so-far ties across k trials
                        # on some CPUs (CI's), and ASHA, which prunes only below its cutoff, then prunes nothing
"""
METRICS = ("uar", "wa", "f1_macro", "best_val_uar", "best_epoch", "epochs_run", "val_uar")


def _ablation(corpus, folder, cpus: int) -> dict:
    folder.mkdir()
    (folder / "profile.yaml").write_text(PROFILE)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    command = paaan_command("ablation", "--iemocap-root", str(corpus / "IEMOCAP_full_release"),
                            "--sspnet-root", str(corpus / "SSPNet"), "--profile", str(folder / "profile.yaml"),
                            "--variants", "A+T,PAaAN_PP", "--num-cpus", str(cpus), "--workers", "1")
    done = subprocess.run(command, cwd=REPO, env=child_env(folder, uri), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [r for r in all_runs(uri) if r.data.tags.get("paaan.step") in ("trial", "tune_k_trial", "tune_k")]
    table = {}
    for run in runs:
        parent = next((p for p in runs if p.info.run_id == run.data.tags.get("mlflow.parentRunId")), None)
        name = (parent.info.run_name + "/" if parent is not None and run.data.tags["paaan.step"] == "tune_k_trial"
                else "") + run.info.run_name
        assert name not in table, name
        table[name] = {"metrics": {m: round(run.data.metrics[m], 9) for m in METRICS if m in run.data.metrics},
                       "chosen_k": run.data.params.get("chosen_k"), "status": run.info.status,
                       "stopped_by": run.data.tags.get("paaan.stopped_by")}
    return table


def test_a_tiny_ablation_gives_the_same_trials_on_one_cpu_and_on_two(tiny_corpus, tmp_path):
    one = _ablation(tiny_corpus, tmp_path / "one", cpus=1)
    two = _ablation(tiny_corpus, tmp_path / "two", cpus=2)
    assert sorted(one) == sorted(two)
    grid = [n for n in one if "-fold" in n and "-k" not in n and "/" not in n]
    k_trials = [n for n in one if "/" in n]
    studies = [n for n in one if n.startswith("tune-k-") and "/" not in n]
    # both variants x 5 folds and their two final models; PAaAN_PP's 5 studies of 4 k trials each (a k that
    # Optuna suggests twice in a study is trained once: its second trial reports the first's run)
    assert len(grid) == 10 and len([n for n in one if n.endswith("-final")]) == 2
    assert len(studies) == 5 and 10 <= len(k_trials) <= 20
    assert any(one[n]["stopped_by"] == "scheduler" for n in k_trials), "ASHA pruned nothing: the test tests less"
    for name in one:
        assert one[name] == two[name], name
    assert all(one[n]["metrics"].get("uar") is not None for n in grid)
