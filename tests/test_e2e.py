"""End to end (slow): a reduced ablation on the tiny demo corpus, its registered model in a fresh process, and
a two-node Ray cluster with an MLflow server. Servers bind to 127.0.0.1 and are stopped by their process group.
Resuming after an interruption and ``mlflow models serve`` are tested in tests/reliability/.

Run with ``python -m pytest -q -m slow tests/test_e2e.py``.
"""

from __future__ import annotations

import collections
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from reliability.reliability_tools import REPO, all_runs, child_env, free_port, paaan_command, start, stop, \
    wait_for_http, wait_until

pytestmark = pytest.mark.slow

VARIANTS = "Audio,IA+T,PAaAN_PP"


def _ablation_cmd(corpus: Path, *extra: str) -> list[str]:
    return paaan_command("ablation", "--iemocap-root", str(corpus / "IEMOCAP_full_release"),
                         "--sspnet-root", str(corpus / "SSPNet"), "--variants", VARIANTS, "--k-trials", "2", *extra)


def _statuses(tracking_uri: str) -> collections.Counter:
    return collections.Counter((r.data.tags.get("paaan.step"), r.info.status) for r in all_runs(tracking_uri))


def _alive_nodes(port: int, env: dict) -> int:
    """Alive nodes of the Ray cluster at 127.0.0.1:port, asked from a separate process (0 if unreachable)."""
    script = ("import ray; ray.init(address='127.0.0.1:%d', log_to_driver=False); "
              "print(sum(1 for n in ray.nodes() if n['Alive'])); ray.shutdown()" % port)
    try:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return 0
    lines = out.stdout.strip().splitlines()
    return int(lines[-1]) if out.returncode == 0 and lines and lines[-1].isdigit() else 0


def _wait_nodes(port: int, count: int, env: dict, timeout: float = 180) -> None:
    wait_until(lambda: _alive_nodes(port, env) >= count, timeout, f"{count} alive nodes on 127.0.0.1:{port}",
               interval=3)


@pytest.fixture(scope="module")
def ablation(tiny_corpus, tmp_path_factory):
    """One reduced ablation (Audio, IA+T, PAaAN_PP x 5 folds, k tuned) in a fresh sqlite store."""
    tmp = tmp_path_factory.mktemp("ablation")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    started = time.time()
    out = subprocess.run(_ablation_cmd(tiny_corpus), cwd=REPO, env=child_env(tmp, uri),
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    print(f"reduced ablation: {time.time() - started:.0f} s")
    return {"tmp": tmp, "uri": uri, "stdout": out.stdout}


def test_reduced_grid_logs_table1_and_registers_models(ablation):
    from mlflow.tracking import MlflowClient

    uri = ablation["uri"]
    counts = _statuses(uri)
    assert not [k for k in counts if k[1] == "RUNNING"], counts
    assert counts[("ablation", "FINISHED")] == 1
    assert counts[("trial", "FINISHED")] == 3 * 5 + 3  # every variant x fold, plus 3 all-session models
    assert counts[("summary", "FINISHED")] == 3
    assert counts[("tune_k", "FINISHED")] == 5  # PAaAN_PP: one study per outer fold
    runs = all_runs(uri)
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "ablation")
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id)}
    assert {"table1.md", "table1.csv", "table1.png", "k_per_fold.json", "paired_test.json"} <= artifacts
    summary = [r for r in runs if r.data.tags.get("paaan.step") == "summary"]
    assert {r.data.params["variant"] for r in summary} == {"Audio", "IA+T", "PAaAN_PP"}
    assert all(0 <= r.data.metrics["uar_mean"] <= 1 and "uar_pooled" in r.data.metrics for r in summary)
    trial = next(r for r in runs if r.data.tags.get("paaan.variant") == "PAaAN_PP" and r.data.tags.get("paaan.role") == "fold")
    assert {"variant", "fold", "seed", "k"} <= set(trial.data.params)
    assert {"uar", "wa", "f1_macro", "recall_ang", "train_loss", "val_uar", "lr"} <= set(trial.data.metrics)
    curve = MlflowClient(uri).get_metric_history(trial.info.run_id, "train_loss")  # a learning curve, step=epoch
    assert [m.step for m in sorted(curve, key=lambda m: m.step)] == list(range(1, int(trial.data.metrics["epochs_run"]) + 1))
    client = MlflowClient(uri)
    for name in ("paaan-Audio", "paaan-IA_T", "paaan-PAaAN_PP"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert "parent run" in ablation["stdout"] and "mlflow ui" in ablation["stdout"]


def test_a_second_identical_ablation_is_reused(ablation, tiny_corpus):
    out = subprocess.run(_ablation_cmd(tiny_corpus), cwd=REPO, env=child_env(ablation["tmp"], ablation["uri"]),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "reusing finished run" in out.stdout
    assert _statuses(ablation["uri"])[("ablation", "FINISHED")] == 1


def _request(corpus: Path) -> pd.DataFrame:
    wavs = sorted(w for w in (corpus / "IEMOCAP_full_release" / "Session1" / "sentences" / "wav").rglob("*_F0*.wav")
                  if not w.name.startswith("._"))[:3]
    return pd.DataFrame({"speaker": ["s1"] * 3, "audio_path": [str(w) for w in wavs],
                         "transcript": ["I am so happy today!", "Leave me alone.", "Fine, whatever."]})


def test_pyfunc_loads_and_predicts_in_a_fresh_process(ablation, tiny_corpus):
    request = _request(tiny_corpus)
    script = (
        "import io, sys, json, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model('models:/paaan-PAaAN_PP@champion')\n"
        "request = pd.read_json(io.StringIO(sys.stdin.read()), orient='split')\n"
        "out = model.predict(request, params={'return_attention': True})\n"
        "print(out.drop(columns=['alpha_audio', 'alpha_text', 'tokens']).to_json(orient='records'))\n"
        "print(json.dumps([round(sum(a), 4) for a in out['alpha_audio']]))\n")
    out = subprocess.run([sys.executable, "-c", script], input=request.to_json(orient="split"), text=True,
                         capture_output=True, env=child_env(ablation["tmp"], ablation["uri"]), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    rows = json.loads(lines[-2])
    assert len(rows) == 3 and {r["emotion"] for r in rows} <= {"ang", "hap", "neu", "sad"}
    assert all(abs(r["p_ang"] + r["p_hap"] + r["p_neu"] + r["p_sad"] - 1) < 1e-4 for r in rows)
    assert json.loads(lines[-1]) == [1.0, 1.0, 1.0]  # each utterance's audio attention sums to one


def test_two_node_ray_cluster_and_mlflow_server(tiny_corpus, tmp_path):
    """ray start --head + a second ray start --address, and a local mlflow server: only the addresses change.
    The cluster requires a token (Ray's gRPC ports listen on every interface) that the head, the worker node and
    the driver hold in their environment."""
    ray_port, mlflow_port = free_port(), free_port()
    # A short RAY_TMPDIR: Ray's unix sockets live under it and their paths must stay under ~100 characters.
    env = child_env(tmp_path, f"http://127.0.0.1:{mlflow_port}", RAY_AUTH_MODE="token",
                    RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_TMPDIR=tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    processes = []
    try:
        processes.append(start(
            ["mlflow", "server", "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
             "--artifacts-destination", str(tmp_path / "server-artifacts")],
            REPO, env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, tmp_path / "mlflow-server.log"))
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block", "--disable-usage-stats"]
        processes.append(start(["ray", "start", "--head", "--port", str(ray_port), "--include-dashboard", "false",
                                *common], REPO, env, tmp_path / "ray-head.log"))
        _wait_nodes(ray_port, 1, env)
        processes.append(start(["ray", "start", "--address", f"127.0.0.1:{ray_port}", *common], REPO, env,
                               tmp_path / "ray-worker.log"))
        wait_for_http(f"http://127.0.0.1:{mlflow_port}/health", 60, "the MLflow server")
        _wait_nodes(ray_port, 2, env)
        out = subprocess.run(
            paaan_command("ablation", "--iemocap-root", str(tiny_corpus / "IEMOCAP_full_release"), "--sspnet-root",
                          str(tiny_corpus / "SSPNet"), "--variants", "Audio,PAaAN_PP", "--k-trials", "1",
                          "--ray-address", f"127.0.0.1:{ray_port}"),
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        counts = _statuses(env["MLFLOW_TRACKING_URI"])
        assert counts[("ablation", "FINISHED")] == 1 and counts[("trial", "FINISHED")] == 2 * 5 + 2
        assert not [k for k in counts if k[1] == "RUNNING"]
        assert _alive_nodes(ray_port, env) == 2
        without_token = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")} | {"RAY_AUTH_MODE": "disabled"}
        assert _alive_nodes(ray_port, without_token) == 0  # a client without the token is refused
    finally:
        for process in reversed(processes):
            stop(process, grace=60)
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)


def test_testbed_quick_end_to_end_logs_verdicts_and_reuses_itself(tmp_path):
    """`paaan testbed --quick` on tiny corpora of its two scenarios (none, segment_gate), 2 epochs per training:
    one parent, a nested run per scenario with its trials and summaries, verdicts and figures on the parent."""
    from mlflow.tracking import MlflowClient

    profile = tmp_path / "quick.yaml"
    profile.write_text("base: demo\nname: e2e-quick\ntrain:\n  epochs: 2\n  patience: 0\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = paaan_command("testbed", "--quick", "--demo-profile", "tiny", "--profile", str(profile))
    started = time.time()
    out = subprocess.run(command, cwd=REPO, env=child_env(tmp_path, uri), capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    print(f"testbed --quick on tiny corpora: {time.time() - started:.0f} s")
    counts = _statuses(uri)
    assert not [k for k in counts if k[1] == "RUNNING"], counts
    # two scenarios x two corpus draws (the design draw 0 and a fresh one), one seed each
    assert counts[("testbed", "FINISHED")] == 1 and counts[("scenario", "FINISHED")] == 2 * 2
    assert counts[("trial", "FINISHED")] == 2 * 2 * 5 * 5  # scenarios x draws x variants x folds; nothing registered
    assert counts[("summary", "FINISHED")] == 2 * 2 * 5
    runs = all_runs(uri)
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "testbed")
    scenarios = {(r.data.tags["paaan.scenario"], r.data.tags["paaan.draw"]): r for r in runs
                 if r.data.tags.get("paaan.step") == "scenario"}
    assert set(scenarios) == {("none", "0"), ("none", "1"), ("segment_gate", "0"), ("segment_gate", "1")}
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in scenarios.values())
    trials = [r for r in runs if r.data.tags.get("paaan.step") == "trial"]
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {r.info.run_id for r in scenarios.values()}
    client = MlflowClient(uri)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"verdicts.csv", "verdicts.md", "differences.png", "segment_gate_attention_carrier.png",
            "segment_gate_counterfactual.csv"} <= artifacts
    verdicts = pd.read_csv(client.download_artifacts(parent.info.run_id, "verdicts.csv", str(tmp_path)),
                           dtype={"draws": str})
    assert list(verdicts.columns[:6]) == ["scenario", "claim", "kind", "draws", "expect", "outcome"]
    assert {"estimate", "ci_low", "ci_high", "ci90_low", "ci90_high", "margin", "held"} <= set(verdicts.columns)
    assert set(verdicts["outcome"]) <= {"greater", "less", "equivalent", "inconclusive"}
    assert set(verdicts["draws"]) == {"0", "1"}  # the design draw apart from the fresh one
    # the quick plan's variants cover these claims of the table (the others name variants it does not run)
    assert set(zip(verdicts["scenario"], verdicts["claim"])) >= {
        ("none", "PAaAN+_oracle > IA+T+"), ("none", "PAaAN_oracle > IA+T"), ("none", "PAaAN+_shuffled > IA+T+"),
        ("segment_gate", "PAaAN+_oracle > IA+T+"), ("segment_gate", "PAaAN_oracle > IA+T"),
        ("segment_gate", "PAaAN+_shuffled > IA+T+"),
        ("segment_gate", "PAaAN+_oracle attends to the carrier more than IA+T+ (E > 0)"),
        ("segment_gate", "PAaAN+_oracle attends to the carrier more than IA+T+ (E < 0)"),
        ("segment_gate", "PAaAN+_oracle moves attention with the sign of E more than IA+T+"),
        ("segment_gate", "PAaAN+_oracle switches with the partner's personality more than PAaAN+_shuffled"),
        ("segment_gate", "PAaAN_oracle switches with the partner's personality more than PAaAN+_shuffled")}
    assert verdicts["held"].isin([True, False]).all()
    # the same command again: the finished testbed is reported, nothing is trained
    again = subprocess.run(command, cwd=REPO, env=child_env(tmp_path, uri), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "reusing finished run" in again.stdout, again.stdout[-2000:]
    assert _statuses(uri)[("trial", "FINISHED")] == 2 * 5 * 5 * 2


def test_testbed_power_quick_end_to_end_logs_the_power_table(tmp_path):
    """`paaan testbed --power --quick` on tiny corpora: the quick power claims at 10 and 20 speakers on two fresh
    draws each, one nested run per (scenario, speakers, draw), and power.csv / power.md / power.png."""
    from mlflow.tracking import MlflowClient

    profile = tmp_path / "quick.yaml"
    profile.write_text("base: demo\nname: e2e-power\ntrain:\n  epochs: 2\n  patience: 0\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = paaan_command("testbed", "--power", "--quick", "--demo-profile", "tiny", "--profile", str(profile))
    out = subprocess.run(command, cwd=REPO, env=child_env(tmp_path, uri), capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    counts = _statuses(uri)
    assert not [k for k in counts if k[1] == "RUNNING"], counts
    assert counts[("testbed_power", "FINISHED")] == 1 and counts[("scenario", "FINISHED")] == 2 * 2
    runs = all_runs(uri)
    cells = {(r.data.tags["paaan.speakers"], r.data.tags["paaan.draw"]) for r in runs
             if r.data.tags.get("paaan.step") == "scenario"}
    assert cells == {("10", "1"), ("10", "2"), ("20", "1"), ("20", "2")}
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "testbed_power")
    client = MlflowClient(uri)
    assert {"power.csv", "power.md", "power.png", "power_draws.csv"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    power = pd.read_csv(client.download_artifacts(parent.info.run_id, "power.csv", str(tmp_path)))
    assert sorted(set(power["speakers"])) == [10, 20] and set(power["draws"]) == {2}
    assert set(power["claim"]) == {"segment_gate: PAaAN+_oracle > IA+T+"}
    assert ((power["held_ci_low"] <= power["held_share"]) & (power["held_share"] <= power["held_ci_high"])).all()
    assert (power["trials"] == 2 * 5).all()  # the claim's variant: two draws x five folds x one seed
    assert "Speakers a study needs" in out.stdout and "The answer, read from segment_gate" in out.stdout
