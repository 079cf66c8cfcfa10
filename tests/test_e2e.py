"""End to end (slow): a reduced ablation on the tiny demo corpus, its registered models in a fresh process
and behind ``mlflow models serve``, resume after an interruption, and a two-node Ray cluster with an MLflow
server. Servers bind to 127.0.0.1 and are stopped by their PID.

Run with ``python -m pytest -q -m slow tests/test_e2e.py`` (about 8 minutes on 2 cores).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

VARIANTS = "Audio,IA+T,PAaAN_PP"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp: Path, tracking_uri: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_TRACKING_URI": tracking_uri, "PAAAN_RAY_RESULTS": str(tmp / "ray_results"),
                "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"})
    return env


def _ablation_cmd(corpus: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "experiments.cli", "ablation", "--iemocap-root", str(corpus / "IEMOCAP_full_release"),
            "--sspnet-root", str(corpus / "SSPNet"), "--variants", VARIANTS, "--k-trials", "2", *extra]


def _runs(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, max_results=5000)


def _statuses(tracking_uri: str) -> collections.Counter:
    return collections.Counter((r.data.tags.get("paaan.step"), r.info.status) for r in _runs(tracking_uri))


def _finished_trials_read_only(db: Path) -> int:
    """FINISHED grid trials in an MLflow sqlite store another process is writing, read with sqlite3 alone: an
    MlflowClient would create or migrate the tables while the driver is still creating them."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            (count,) = connection.execute(
                "SELECT count(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
                "WHERE tags.key = 'paaan.step' AND tags.value = 'trial' AND runs.status = 'FINISHED'").fetchone()
        return count
    except sqlite3.OperationalError:  # tables not there yet, or locked for a moment
        return 0


def _wait_http(port: int, path: str, timeout: float) -> None:
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            time.sleep(1)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout} s")


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
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _alive_nodes(port, env) >= count:
            return
        time.sleep(3)
    raise TimeoutError(f"the Ray cluster on 127.0.0.1:{port} did not reach {count} nodes in {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def ablation(tiny_corpus, tmp_path_factory):
    """One reduced ablation (Audio, IA+T, PAaAN_PP x 5 folds, k tuned) in a fresh sqlite store."""
    tmp = tmp_path_factory.mktemp("ablation")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    started = time.time()
    out = subprocess.run(_ablation_cmd(tiny_corpus), cwd=Path(__file__).parent.parent, env=_env(tmp, uri),
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
    runs = _runs(uri)
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "ablation")
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id)}
    assert {"table1.md", "table1.csv", "table1.png", "k_per_fold.json", "paired_test.json"} <= artifacts
    summary = [r for r in runs if r.data.tags.get("paaan.step") == "summary"]
    assert {r.data.params["variant"] for r in summary} == {"Audio", "IA+T", "PAaAN_PP"}
    assert all(0 <= r.data.metrics["uar_mean"] <= 1 and "uar_pooled" in r.data.metrics for r in summary)
    trial = next(r for r in runs if r.data.tags.get("paaan.variant") == "PAaAN_PP" and r.data.tags.get("paaan.role") == "fold")
    assert {"variant", "fold", "seed", "k"} <= set(trial.data.params)
    assert {"uar", "wa", "recall_ang", "epoch_train_loss"} <= set(trial.data.metrics)
    client = MlflowClient(uri)
    for name in ("paaan-Audio", "paaan-IA_T", "paaan-PAaAN_PP"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert "parent run" in ablation["stdout"] and "mlflow ui" in ablation["stdout"]


def test_a_second_identical_ablation_is_reused(ablation, tiny_corpus):
    out = subprocess.run(_ablation_cmd(tiny_corpus), cwd=Path(__file__).parent.parent,
                         env=_env(ablation["tmp"], ablation["uri"]), capture_output=True, text=True, timeout=600)
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
                         capture_output=True, env=_env(ablation["tmp"], ablation["uri"]), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    rows = json.loads(lines[-2])
    assert len(rows) == 3 and {r["emotion"] for r in rows} <= {"ang", "hap", "neu", "sad"}
    assert all(abs(r["p_ang"] + r["p_hap"] + r["p_neu"] + r["p_sad"] - 1) < 1e-4 for r in rows)
    assert json.loads(lines[-1]) == [1.0, 1.0, 1.0]  # each utterance's audio attention sums to one


def test_models_serve_answers_a_rest_request(ablation, tiny_corpus):
    import requests

    port = _free_port()
    server = subprocess.Popen(["mlflow", "models", "serve", "-m", "models:/paaan-PAaAN_PP@champion", "--env-manager",
                               "local", "-h", "127.0.0.1", "-p", str(port)], env=_env(ablation["tmp"], ablation["uri"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(port, "/ping", timeout=120)
        body = {"dataframe_split": _request(tiny_corpus).to_dict(orient="split")}
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert len(predictions) == 3 and all(p["emotion"] in ("ang", "hap", "neu", "sad") for p in predictions)
        body["dataframe_split"]["columns"] = ["speaker", "audio_path", "text"]  # a wrong column
        assert requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60).status_code == 400
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_interrupted_ablation_resumes_without_retraining(tiny_corpus, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = _env(tmp_path, uri)
    cwd = Path(__file__).parent.parent
    driver = subprocess.Popen(_ablation_cmd(tiny_corpus), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:  # interrupt once a few grid trials have finished
        if _finished_trials_read_only(tmp_path / "mlflow.db") >= 3:
            break
        time.sleep(2)
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) != 0
    before = _statuses(uri)
    print("after the interrupt:", dict(before))
    assert before[("ablation", "KILLED")] == 1 and not [k for k in before if k[1] == "RUNNING"]
    finished_before = before[("trial", "FINISHED")]
    out = subprocess.run(_ablation_cmd(tiny_corpus), cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "resuming:" in out.stdout
    after = _statuses(uri)
    assert not [k for k in after if k[1] == "RUNNING"]
    # every grid cell ran exactly once over the two attempts: nothing finished was trained again
    assert after[("trial", "FINISHED")] == 3 * 5 + 3
    assert finished_before >= 3
    runs = _runs(uri)
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "ablation" and r.info.status == "FINISHED")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
                and r.data.tags.get("paaan.step") == "trial"]
    assert len(children) == 3 * 5 + 3


def test_two_node_ray_cluster_and_mlflow_server(tiny_corpus, tmp_path):
    """ray start --head + a second ray start --address, and a local mlflow server: only the addresses change."""
    ray_port, mlflow_port = _free_port(), _free_port()
    env = _env(tmp_path, f"http://127.0.0.1:{mlflow_port}")
    # A short folder: Ray's unix sockets live under it and their paths must stay under ~100 characters.
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    processes = []
    try:
        server = subprocess.Popen(
            ["mlflow", "server", "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
             "--artifacts-destination", str(tmp_path / "server-artifacts")],
            env=env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        processes.append(server)
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block", "--disable-usage-stats"]
        head = subprocess.Popen(["ray", "start", "--head", "--port", str(ray_port), "--include-dashboard", "false",
                                 *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        processes.append(head)
        _wait_nodes(ray_port, 1, env)
        worker = subprocess.Popen(["ray", "start", "--address", f"127.0.0.1:{ray_port}", *common], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        processes.append(worker)
        _wait_http(mlflow_port, "/health", timeout=60)
        _wait_nodes(ray_port, 2, env)
        out = subprocess.run(
            [sys.executable, "-m", "experiments.cli", "ablation", "--iemocap-root",
             str(tiny_corpus / "IEMOCAP_full_release"), "--sspnet-root", str(tiny_corpus / "SSPNet"),
             "--variants", "Audio,PAaAN_PP", "--k-trials", "1", "--ray-address", f"127.0.0.1:{ray_port}"],
            cwd=Path(__file__).parent.parent, env=env, capture_output=True, text=True, timeout=1200)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        counts = _statuses(env["MLFLOW_TRACKING_URI"])
        assert counts[("ablation", "FINISHED")] == 1 and counts[("trial", "FINISHED")] == 2 * 5 + 2
        assert not [k for k in counts if k[1] == "RUNNING"]
        assert _alive_nodes(ray_port, env) == 2
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
