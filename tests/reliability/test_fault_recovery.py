"""Faults: a process killed or interrupted mid-way loses no finished result and leaves no run RUNNING.

Issue 9, part 1. Every test runs the real ``paaan`` command in a subprocess (started with SIGINT at its
default, see ``reliability_tools.start``), signals it, reruns it, and prints how many runs it finds RUNNING
afterwards (it must be zero).

- featurize killed (SIGKILL) while it writes the feature store (~20 s), and the orphaned-run rule itself
  (~1 s): in the fast reliability run;
- on the tiny demo corpus, marked ``slow`` (measured on 2 busy cores): a Ray trial worker killed (SIGKILL)
  mid-training after a checkpoint, its retry resuming from that checkpoint (~2 min); the ablation driver
  interrupted with SIGINT during the grid (~2 min with its rerun) and with SIGTERM during the k tuning
  (~2.5 min); the driver and its Ray cluster killed together (SIGKILL of the process group, ~1.7 min).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from corpus_fixtures import utterance_ids, write_iemocap, write_sspnet
from reliability_tools import (REPO, alive, all_runs, checkpointed_trial, child_env, cmdline, count_running,
                               descendants, held_checkpoint_epochs, paaan_command, start, stop, trial_results,
                               wait_for_experiment, wait_until)

pytestmark = pytest.mark.reliability

TAG_TRIAL_KEY = "paaan.trial_key"

# featurize, killed right after the second array of the store is written (lld.npy, functionals.npy): the
# deterministic version of "kill -9 while it writes". The patch wraps the real writer; nothing else changes.
KILLED_MID_WRITE = """
import os, signal, sys
from paaan.features import store

write = store.StoreWriter.array
written = []

def write_then_die(self, name, array):
    write(self, name, array)
    written.append(name)
    if len(written) == 2:
        print("killing myself after writing", written, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

store.StoreWriter.array = write_then_die
from experiments.cli import main
sys.argv = ["paaan", *sys.argv[1:]]
main()
"""


def _featurize_runs(uri: str) -> list:
    return sorted((r for r in all_runs(uri) if r.data.tags.get("paaan.step") == "featurize"),
                  key=lambda r: r.info.start_time)


def _artifacts(run) -> Path:
    from mlflow.utils.file_utils import local_file_uri_to_path

    return Path(local_file_uri_to_path(run.info.artifact_uri))


def test_featurize_killed_mid_write_is_never_reused(tmp_path):
    """SIGKILL while the store is half written: the half store stays in ``features.partial`` (never read:
    no manifest), its run is closed KILLED by the next featurize, which writes a whole store; later calls
    reuse that one; a changed corpus file (new mtime) is not served from the cache."""
    from paaan.errors import FeatureError
    from paaan.features.store import FeatureStore

    corpus = tmp_path / "corpus"
    write_iemocap(corpus / "IEMOCAP_full_release")
    write_sspnet(corpus / "SSPNet")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = child_env(tmp_path, uri)
    args = ["featurize", "--iemocap-root", str(corpus / "IEMOCAP_full_release"),
            "--sspnet-root", str(corpus / "SSPNet"), "--workers", "1"]
    started = time.perf_counter()

    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    [dead] = _featurize_runs(uri)
    assert dead.info.status == "RUNNING"  # nothing could end it: the process got no chance
    half = _artifacts(dead) / "features.partial"
    assert sorted(p.name for p in (half / "iemocap").iterdir()) == ["functionals.npy", "lld.npy",
                                                                     "lld_speaker_stats.parquet", "utterances.parquet"]
    assert not (_artifacts(dead) / "features").exists()
    with pytest.raises(FeatureError, match="not a finished feature store"):
        FeatureStore(half)

    again = subprocess.run(paaan_command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "featurize: closed 1 run(s) left RUNNING by a process that no longer exists" in again.stdout
    dead_now, fresh = _featurize_runs(uri)
    assert (dead_now.info.run_id, dead_now.info.status) == (dead.info.run_id, "KILLED")
    assert fresh.info.status == "FINISHED"
    store = FeatureStore(_artifacts(fresh) / "features")
    assert len(store.utterances) == 25 and len(store.clips) == 6
    assert not (_artifacts(fresh) / "features.partial").exists()

    reused = subprocess.run(paaan_command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert f"featurize: reusing finished run {fresh.info.run_id}" in reused.stdout
    assert len(_featurize_runs(uri)) == 2

    # The fingerprint: one wav rewritten with the same bytes (a new mtime) is a new input.
    wav = corpus / "IEMOCAP_full_release" / "Session2" / "sentences" / "wav" / "Ses02F_impro01" / \
        f"{utterance_ids(2)[0]}.wav"
    time.sleep(0.01)
    wav.write_bytes(wav.read_bytes())
    changed = subprocess.run(paaan_command(*args), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert changed.returncode == 0 and "reusing" not in changed.stdout
    assert [r.info.status for r in _featurize_runs(uri)] == ["KILLED", "FINISHED", "FINISHED"]
    print(f"[reliability] featurize SIGKILL mid-write: {time.perf_counter() - started:.0f} s")
    assert count_running(uri, "featurize killed mid-write") == 0


def test_only_runs_whose_process_is_gone_are_closed(tracking):
    """close_orphaned_runs closes a RUNNING run of the same step and key whose process on this machine no
    longer exists, and leaves alone: a live process's run, another machine's run, another key's run."""
    import socket

    from experiments import tracking as steps
    from experiments.cache import cache_key

    key = cache_key("featurize", {"corpus": "a"})
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid now names no process
    client = MlflowClient()

    def open_run(pid: int, host: str, run_key: str = key) -> str:
        return client.create_run(tracking, tags={steps.TAG_STEP: "featurize", steps.TAG_KEY: run_key,
                                                 steps.TAG_PID: str(pid), steps.TAG_HOST: host}).info.run_id
    here = socket.gethostname()
    runs = {"dead here": open_run(finished.pid, here), "alive here": open_run(os.getpid(), here),
            "dead elsewhere": open_run(finished.pid, "another-machine"),
            "other key": open_run(finished.pid, here, "another-key")}
    assert steps.close_orphaned_runs("featurize", key) == 1
    status = {name: client.get_run(run).info.status for name, run in runs.items()}
    assert status == {"dead here": "KILLED", "alive here": "RUNNING", "dead elsewhere": "RUNNING",
                      "other key": "RUNNING"}
    for run in runs.values():
        client.set_terminated(run, "KILLED")
    assert count_running(mlflow.get_tracking_uri(), "orphaned-run check") == 0


# --- the ablation --------------------------------------------------------------------------------------


def _ablation_args(corpus: Path, variants: str, *extra: str) -> list[str]:
    return paaan_command("ablation", "--iemocap-root", str(corpus / "IEMOCAP_full_release"),
                         "--sspnet-root", str(corpus / "SSPNet"), "--variants", variants, *extra)


def _trial_runs(uri: str, steps=("trial", "tune_k_trial")) -> list:
    return [r for r in all_runs(uri) if r.data.tags.get("paaan.step") in steps]


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_exit(process: subprocess.Popen, timeout: float, log: Path) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise AssertionError(f"still running after {timeout:.0f} s:\n{_log(log)[-3000:]}") from None


def _rerun(args: list, env: dict, log: Path) -> str:
    """Run the same command again to its end; its output (it must exit 0)."""
    rerun = start(args, REPO, env, log)
    try:
        rc = _wait_exit(rerun, 600, log)
    finally:
        stop(rerun)
    output = _log(log)
    assert rc == 0, output[-4000:]
    return output


# A profile whose grid trials checkpoint every 2 epochs and always train their whole schedule (no early
# stopping), so a kill lands mid-way after a checkpoint and "what an uninterrupted run gives" is one number.
RESUME_PROFILE = """\
base: demo
name: checkpoint-resume
train:
  epochs: {epochs}
  patience: 0
  checkpoint_every: {every}
"""


@pytest.mark.slow
def test_a_trial_worker_killed_after_a_checkpoint_is_retried_from_that_checkpoint(tiny_corpus, tmp_path):
    """SIGKILL of the Ray worker training a grid trial once it has written checkpoints (every 2 epochs):
    Tune retries the trial (``--max-failures 3``) from its last checkpoint. The killed attempt's run
    ends KILLED; the retry's run is FINISHED, tagged ``paaan.resumed_from_epoch`` with that checkpoint's
    epoch, logs ``train_loss`` for every epoch from 1 exactly once (the checkpoint's history again, then its
    own epochs), and ends with the ``epochs_run`` and the learning curve of an uninterrupted run of the same
    trial; the grid is complete."""
    import torch

    from paaan.features.store import FeatureStore
    from paaan.train import train_fold
    from paaan.variants import get_variant

    from experiments.profiles import load_profile

    epochs, every = 40, 2
    profile_path = tmp_path / "resume.yaml"
    profile_path.write_text(RESUME_PROFILE.format(epochs=epochs, every=every))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log = tmp_path / "ablation.log"
    started = time.perf_counter()
    driver = start(_ablation_args(tiny_corpus, "Audio", "--k-tuning", "off", "--max-failures", "3",
                                  "--profile", str(profile_path)), REPO, child_env(tmp_path, uri), log)
    try:
        wait_for_experiment(uri, 300)
        # A grid trial whose checkpoint Tune's driver already holds, found from the driver's own record of
        # its results (the trial folder's result.json, polled: MLflow's copy of the curves is buffered).
        trial_dir, last = wait_until(lambda: checkpointed_trial(tmp_path / "ray_results", "grid-*"), 400,
                                     "a grid trial holding a checkpoint", interval=0.03)
        pid = int(last["pid"])
        assert pid in descendants(driver.pid) and cmdline(pid).startswith("ray::"), cmdline(pid)
        what = cmdline(pid)
        os.kill(pid, signal.SIGKILL)
        print(f"[reliability] killed {what!r} (pid {pid}) training {trial_dir.name} after epoch {last['epoch']}")
        rc = _wait_exit(driver, 600, log)
    finally:
        stop(driver)
    output = _log(log)
    assert rc == 0, output[-4000:]
    assert "trials failed after retries" not in output
    client = MlflowClient(uri)
    fold = int(re.match(r"Audio_f(\d+)_s0_", trial_dir.name).group(1))
    same_trial = [r for r in _trial_runs(uri, ("trial",)) if r.info.run_name == f"Audio-fold{fold}-seed0"]
    [killed] = [r for r in same_trial if r.data.tags["paaan.pid"] == str(pid)]
    assert killed.info.status == "KILLED"
    [retry] = [r for r in same_trial if r.info.status == "FINISHED"]
    # Any other attempt failed before it trained and was retried too: concurrent first trials can collide on
    # MLflow's dataset table (sqlite "UNIQUE constraint failed: datasets..." in log_corpus_inputs).
    others = [r for r in same_trial if r.info.run_id not in (killed.info.run_id, retry.info.run_id)]
    assert all(r.info.status == "FAILED" for r in others), [(r.info.run_name, r.info.status) for r in same_trial]
    assert retry.data.tags[TAG_TRIAL_KEY] == killed.data.tags[TAG_TRIAL_KEY]
    assert retry.data.tags["paaan.pid"] != str(pid) and retry.info.start_time > killed.info.start_time

    # The checkpoint it continued from is the newest one Tune's driver held when the worker died.
    surely, at_most = held_checkpoint_epochs(trial_results(trial_dir), pid)
    resumed = int(retry.data.tags.get("paaan.resumed_from_epoch", 0))
    assert resumed % every == 0 and 0 < surely <= resumed <= at_most < epochs, (retry.data.tags, surely, at_most)
    curve = client.get_metric_history(retry.info.run_id, "train_loss")
    assert sorted(m.step for m in curve) == list(range(1, epochs + 1))  # every epoch from 1, each once
    assert retry.data.metrics["epochs_run"] == epochs

    # The same trial uninterrupted, in this process: the same epochs and the same learning curve.
    featurize = next(r for r in all_runs(uri) if r.data.tags.get("paaan.step") == "featurize"
                     and r.info.status == "FINISHED")
    store = FeatureStore(_artifacts(featurize) / "features")
    profile, _ = load_profile(str(profile_path))
    threads = torch.get_num_threads()  # train_fold sets the profile's one thread, as in a trial
    try:
        whole = train_fold(store, get_variant("Audio"), fold, profile, seed=0, want_attention=False)
    finally:
        torch.set_num_threads(threads)
    assert whole.epochs_run == retry.data.metrics["epochs_run"]
    by_epoch = {m.step: m.value for m in curve}
    gap = max(abs(by_epoch[h["epoch"]] / h["train_loss"] - 1) for h in whole.history)
    print(f"[reliability] retry against an uninterrupted run: largest relative train_loss difference {gap:.1e}")
    assert gap < 1e-4  # float rounding at most (a restart from scratch or a lost epoch is far larger)
    assert retry.data.metrics["uar"] == pytest.approx(whole.metrics["uar"], abs=1e-9)

    finished = {r.data.tags[TAG_TRIAL_KEY] for r in _trial_runs(uri, ("trial",)) if r.info.status == "FINISHED"}
    assert len(finished) == 6  # Audio x 5 folds + the all-session model
    parent = [r for r in all_runs(uri) if r.data.tags.get("paaan.step") == "ablation"]
    assert [p.info.status for p in parent] == ["FINISHED"]
    assert "Table I" in output
    print(f"[reliability] worker SIGKILL after a checkpoint: killed attempt {killed.info.status}, retry resumed "
          f"from epoch {resumed} and FINISHED after {epochs} epochs as an uninterrupted run; {len(finished)} trials "
          f"complete; {time.perf_counter() - started:.0f} s")
    assert count_running(uri, "trial worker SIGKILL") == 0


def _interrupt_and_resume(corpus: Path, tmp_path: Path, sig: int, phase: str, enough: int) -> None:
    """Run the ablation, send ``sig`` once ``enough`` runs of ``phase`` are FINISHED, check the aftermath,
    rerun the same command, check that only what was missing ran."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = child_env(tmp_path, uri)
    args = _ablation_args(corpus, "Audio,PAaAN_PP", "--k-trials", "2", "--k-tuning", "per_source")
    name = signal.Signals(sig).name
    started = time.perf_counter()
    first_log = tmp_path / "first.log"
    driver = start(args, REPO, env, first_log)
    try:
        wait_for_experiment(uri, 300)
        wait_until(lambda: sum(1 for r in _trial_runs(uri, (phase,)) if r.info.status == "FINISHED") >= enough,
                   600, f"{enough} finished {phase} runs", interval=0.3)
        family = [driver.pid, *descendants(driver.pid)]  # the driver and its Ray processes
        open_runs = [r.info.run_id for r in all_runs(uri) if r.info.status == "RUNNING"]
        os.kill(driver.pid, sig)
        signalled = time.perf_counter()
        rc = _wait_exit(driver, 120, first_log)
    finally:
        stop(driver)
    output = _log(first_log)
    print(f"[reliability] {name} during {phase}: exit {rc} after {time.perf_counter() - signalled:.1f} s, "
          f"{len(open_runs)} runs were open")
    assert rc != 0, output[-3000:]
    # The interrupt is reported: runs closed by the handler, or (when the signal lands while no trial run is
    # open, only the parent, which its own context closes KILLED) the interrupt itself, as click's "Aborted!".
    assert re.search(r"closed \d+ runs left RUNNING as KILLED|KeyboardInterrupt|Terminated|Aborted!", output), \
        output[-3000:]
    # no Ray process outlives the driver (ray.shutdown in its `finally`)
    wait_until(lambda: not [p for p in family if alive(p)], 30, "the driver's Ray processes to end")
    statuses = {r.info.run_id: r.info.status for r in all_runs(uri)}
    # open when the signal came: KILLED now (or FINISHED, for a trial that ended in the same instant)
    assert {statuses[r] for r in open_runs} <= {"KILLED", "FINISHED"}, {r: statuses[r] for r in open_runs}
    assert "KILLED" in {statuses[r] for r in open_runs}
    assert count_running(uri, f"{name} during {phase}, before the rerun") == 0
    done_before = {r.data.tags[TAG_TRIAL_KEY] for r in _trial_runs(uri) if r.info.status == "FINISHED"}
    runs_before = {r.info.run_id for r in all_runs(uri)}

    output = _rerun(args, env, tmp_path / "second.log")
    adopted = re.search(r"resuming: (\d+) finished runs of an interrupted ablation adopted", output)
    assert adopted, output[-3000:]
    new_trials = [r for r in _trial_runs(uri) if r.info.run_id not in runs_before]
    retrained = [r.info.run_name for r in new_trials if r.data.tags[TAG_TRIAL_KEY] in done_before]
    assert retrained == []  # nothing finished before the interrupt was trained again
    finished_keys = [r.data.tags[TAG_TRIAL_KEY] for r in _trial_runs(uri) if r.info.status == "FINISHED"]
    assert len(finished_keys) == len(set(finished_keys))  # every trial finished exactly once
    grid = {r.data.tags[TAG_TRIAL_KEY] for r in _trial_runs(uri, ("trial",)) if r.info.status == "FINISHED"}
    assert len(grid) == 12  # (Audio, PAaAN_PP) x 5 folds + 2 all-session models
    parents = sorted((r for r in all_runs(uri) if r.data.tags.get("paaan.step") == "ablation"),
                     key=lambda r: r.info.start_time)
    assert [p.info.status for p in parents] == ["KILLED", "FINISHED"]
    print(f"[reliability] {name} during {phase} and rerun: {len(done_before)} trials finished before the "
          f"interrupt, {adopted.group(1)} runs adopted, {len(new_trials)} trial runs trained by the rerun, "
          f"0 trained twice; {time.perf_counter() - started:.0f} s")
    assert count_running(uri, f"{name} during {phase}, after the rerun") == 0


@pytest.mark.slow
def test_sigint_during_the_grid_closes_runs_killed_and_a_rerun_finishes_the_rest(tiny_corpus, tmp_path):
    _interrupt_and_resume(tiny_corpus, tmp_path, signal.SIGINT, "trial", enough=3)


@pytest.mark.slow
def test_sigterm_during_k_tuning_closes_runs_killed_and_a_rerun_finishes_the_rest(tiny_corpus, tmp_path):
    _interrupt_and_resume(tiny_corpus, tmp_path, signal.SIGTERM, "tune_k_trial", enough=3)


@pytest.mark.slow
def test_a_driver_killed_with_its_ray_cluster_leaves_nothing_running_after_a_rerun(tiny_corpus, tmp_path):
    """SIGKILL of the driver's whole process group mid-grid (the OOM killer, a container stopped): no
    handler runs, so the parent and the trials in flight stay RUNNING; the rerun closes them KILLED (their
    processes are gone), adopts the finished trials and trains only the missing ones."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = child_env(tmp_path, uri)
    args = _ablation_args(tiny_corpus, "Audio", "--k-tuning", "off")
    started = time.perf_counter()
    first_log = tmp_path / "first.log"
    driver = start(args, REPO, env, first_log)
    try:
        wait_for_experiment(uri, 300)
        wait_until(lambda: sum(1 for r in _trial_runs(uri, ("trial",)) if r.info.status == "FINISHED") >= 2,
                   600, "2 finished trials", interval=0.3)
        family = [driver.pid, *descendants(driver.pid)]
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        stop(driver)
    for pid in family:  # Ray daemons that left the group (none expected) are ended by pid
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    left_open = [r for r in all_runs(uri) if r.info.status == "RUNNING"]
    print(f"[reliability] driver group SIGKILL: {len(left_open)} runs left RUNNING "
          f"({', '.join(r.info.run_name for r in left_open)})")
    assert any(r.data.tags.get("paaan.step") == "ablation" for r in left_open)
    done_before = {r.data.tags[TAG_TRIAL_KEY] for r in _trial_runs(uri, ("trial",)) if r.info.status == "FINISHED"}
    runs_before = {r.info.run_id for r in all_runs(uri)}

    output = _rerun(args, env, tmp_path / "second.log")
    assert "ablation: closed 1 run(s) left RUNNING by a process that no longer exists" in output
    statuses = {r.info.run_id: r.info.status for r in all_runs(uri)}
    assert {statuses[r.info.run_id] for r in left_open} == {"KILLED"}
    new_trials = [r for r in _trial_runs(uri, ("trial",)) if r.info.run_id not in runs_before]
    assert [r.info.run_name for r in new_trials if r.data.tags[TAG_TRIAL_KEY] in done_before] == []
    finished = [r.data.tags[TAG_TRIAL_KEY] for r in _trial_runs(uri, ("trial",)) if r.info.status == "FINISHED"]
    assert len(finished) == len(set(finished)) == 6
    print(f"[reliability] driver group SIGKILL and rerun: {len(done_before)} trials finished before, "
          f"{len(new_trials)} trained by the rerun; {time.perf_counter() - started:.0f} s")
    assert count_running(uri, "driver group SIGKILL, after the rerun") == 0
