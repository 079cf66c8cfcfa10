"""Load: eight concurrent trials on one tracking store, and a burst of requests to a served model.

Issue 9, part 3; all ``slow``. The trials run on the project's own local Ray cluster (``start_ray``) and log
like paaan's trials (``load_trials.py``); the store is the default kind (sqlite beside the working
folder) or a local ``mlflow server``. The served model is the small run's registered PAaAN_PP, served with
``mlflow models serve`` on 127.0.0.1 and sent a bounded burst from a second process (``burst_client.py``), then
base64 audio from a remote-like client process (``base64_client.py``).
Servers are started by this test, bind 127.0.0.1 and are stopped by their process group id.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient

from reliability_tools import (REPO, all_runs, child_env, count_running, descendants, free_port, is_loopback,
                               listening_sockets, sqlite_integrity, start, stop, wait_for_http)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
TRIALS, EPOCHS = 8, 40
METRICS = ("train_loss", "val_loss", "val_uar", "val_wa", "lr", "seconds", "epoch_single")
BURST, CONCURRENCY = 48, 8


def _loopback_only(process: subprocess.Popen, what: str) -> list[str]:
    sockets = listening_sockets([process.pid, *descendants(process.pid)])
    print(f"[reliability] {what} listens on {sorted({a for _, a in sockets})}")
    assert sockets and all(is_loopback(address) for _, address in sockets), sockets
    return [a for _, a in sockets]


def _mlflow_server(tmp_path: Path, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = start([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                    "--artifacts-destination", str(tmp_path / "server_artifacts")],
                   tmp_path, env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", 120, "the mlflow server to answer /health")
    return server, url


@pytest.mark.parametrize("store", ["sqlite", "server"])
def test_eight_concurrent_trials_lose_no_metric(store, tmp_path):
    env = child_env(tmp_path, "")
    server = None
    if store == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        server, uri = _mlflow_server(tmp_path, env)
    try:
        if server is not None:
            _loopback_only(server, "mlflow server")
        out = tmp_path / "load.json"
        done = subprocess.run([sys.executable, str(HERE / "load_trials.py"), uri, str(TRIALS), str(EPOCHS), str(out)],
                              cwd=tmp_path, env=env | {"MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)},
                              capture_output=True, text=True, timeout=600)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        result = json.loads(out.read_text())
        lock_errors = output.lower().count("database is locked")
        if server is not None:
            lock_errors += (tmp_path / "server.log").read_text(errors="replace").lower().count("database is locked")
        print(f"[reliability] {TRIALS} concurrent trials on {store}: {result['seconds']} s, "
              f"{len(result['trial_errors'])} trial errors, {len(result['tune_errors'])} Tune errors, "
              f"{lock_errors} 'database is locked'")
        assert result["trial_errors"] == [] and result["tune_errors"] == [] and lock_errors == 0

        client = MlflowClient(uri)
        runs = [r for r in all_runs(uri) if r.data.tags.get("paaan.step") == "load_trial"]
        assert sorted(r.info.run_id for r in runs) == sorted(result["run_ids"]) and len(runs) == TRIALS
        for run in runs:
            assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == result["parent"]
            assert len(run.data.params) == 20 and run.data.tags["paaan.load_trial"] == "done"
            for name in METRICS:
                steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, name))
                assert steps == list(range(EPOCHS)), (run.info.run_name, name, steps[:5], len(steps))
            assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["trial.json"]
        if store == "sqlite":
            assert sqlite_integrity(uri) == "ok"
        assert count_running(uri, f"{TRIALS} concurrent trials on {store}") == 0
    finally:
        if server is not None:
            stop(server)


def test_a_served_model_answers_a_burst_without_errors(small_run, tmp_path):
    """``mlflow models serve`` of the registered PAaAN_PP on 127.0.0.1: BURST requests, CONCURRENCY at a time,
    from another process; every answer is 200 with three rows of probabilities; a malformed request gets a
    message naming its row, and the server keeps serving. Then a client process sends the audio itself (base64,
    with word timings): answered as the same files by path; a corrupt base64 string and an oversize file get
    HTTP 400 naming the row."""
    port = free_port()
    # the server reads files only under the folder its operator names (registry.request.readable_path)
    env = child_env(tmp_path, small_run.tracking_uri,
                    PAAAN_SERVING_ROOT=os.path.commonpath([str(w.parent) for w in small_run.wavs[:3]]))
    started = time.perf_counter()
    server = start([sys.executable, "-m", "mlflow", "models", "serve", "-m", small_run.registered,
                    "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                   tmp_path, env, tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", 300, "the model server to answer /ping")
        ready_seconds = time.perf_counter() - started
        _loopback_only(server, "mlflow models serve")

        wavs = [str(w) for w in small_run.wavs[:3]]
        request = pd.DataFrame({"speaker": ["s1"] * 3, "audio_path": wavs,
                                "transcript": ["I can't believe it!", "Okay.", "That is wonderful news."]})
        body = {"dataframe_split": request.to_dict(orient="split")}
        body["dataframe_split"].pop("index")
        (tmp_path / "request.json").write_text(json.dumps(body))
        out = tmp_path / "burst.json"
        done = subprocess.run([sys.executable, str(HERE / "burst_client.py"), url, str(tmp_path / "request.json"),
                               str(BURST), str(CONCURRENCY), str(out)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        burst = json.loads(out.read_text())
        records = burst["records"]
        errors = [r for r in records if r["status"] != 200]
        latencies = sorted(r["seconds"] for r in records)
        figures = {"requests": len(records), "concurrency": CONCURRENCY, "errors": len(errors),
                   "p50_s": round(statistics.median(latencies), 3),
                   "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
                   "max_s": round(latencies[-1], 3), "mean_s": round(statistics.fmean(latencies), 3),
                   "throughput_rps": round(len(records) / burst["wall_seconds"], 2),
                   "server_ready_s": round(ready_seconds, 1)}
        (tmp_path / "latency.json").write_text(json.dumps(figures, indent=1))
        print(f"[reliability] served model burst: {figures}")
        assert errors == [], errors[:3]
        assert all(r["rows"] == 3 and all(abs(s - 1) < 1e-4 for s in r["probability_sums"]) for r in records)

        bad = dict(body)
        bad["dataframe_split"] = dict(body["dataframe_split"], data=[[r[0], "/no/such.wav", r[2]]
                                                                     for r in body["dataframe_split"]["data"]])
        answer = requests.post(f"{url}/invocations", json=bad, timeout=60)
        error = answer.json()
        print(f"[reliability] malformed request: HTTP {answer.status_code}: {error['message'][-160:]!r}")
        # the model's own message (naming the row and the column), and no stack trace of the server's files; a
        # path outside the serving root is refused alike whether the file exists or not
        assert answer.status_code == 400 and error["error_code"] == "INVALID_PARAMETER_VALUE"
        outside = "row 0, column 'audio_path': this server reads files only under the folder its operator named in " \
                  "PAAAN_SERVING_ROOT; {!r} is not under it"
        assert error["message"].endswith(outside.format("/no/such.wav"))
        assert "stack_trace" not in error and "Traceback" not in answer.text
        exists = dict(body)
        exists["dataframe_split"] = dict(body["dataframe_split"], data=[[r[0], sys.executable, r[2]]
                                                                        for r in body["dataframe_split"]["data"]])
        answer = requests.post(f"{url}/invocations", json=exists, timeout=60)
        assert answer.status_code == 400 and answer.json()["message"].endswith(outside.format(sys.executable))
        inside = dict(body)  # under the root, a missing file may be named as missing: the operator allowed it
        root = env["PAAAN_SERVING_ROOT"]
        inside["dataframe_split"] = dict(body["dataframe_split"], data=[[r[0], "missing.wav", r[2]]
                                                                        for r in body["dataframe_split"]["data"]])
        answer = requests.post(f"{url}/invocations", json=inside, timeout=60)
        assert answer.status_code == 400 and answer.json()["message"].endswith(
            f"row 0, column 'audio_path': {os.path.realpath(root)}/missing.wav is not a readable file")
        assert requests.post(f"{url}/invocations", json=body, timeout=60).status_code == 200

        _base64_audio_from_another_process(small_run, url, tmp_path, env)
        assert requests.post(f"{url}/invocations", json=body, timeout=60).status_code == 200
    finally:
        stop(server)
    assert count_running(small_run.tracking_uri, "served model burst") == 0


def _corpus_rows(small_run, wavs: list[Path]) -> dict:
    """Transcripts and word timings (the forced alignment featurize stored, one per token) of these wavs."""
    import mlflow

    from experiments.featurize import store_of

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(small_run.tracking_uri)
    try:
        store = store_of(small_run.upstream.featurize)
    finally:
        mlflow.set_tracking_uri(previous)
    table, words = store.utterances, store.words
    ids = table["utterance_id"].astype(str).tolist()
    out = {"transcripts": [], "word_starts": [], "word_ends": []}
    for wav in wavs:
        row = ids.index(wav.stem)
        mine = words[words["utterance"] == row].sort_values("position")
        out["transcripts"].append(str(table["transcript"].iloc[row]))
        for column, name in (("start", "word_starts"), ("end", "word_ends")):
            out[name].append([None if pd.isna(v) else float(v) for v in mine[column]])  # JSON null: no timing
    return out


def _base64_audio_from_another_process(small_run, url: str, tmp_path: Path, env: dict) -> None:
    """A remote client's requests (``base64_client.py``, its own process): one speaker's audio as base64 with
    transcripts and word timings gets one emotion per row, the same answer as the same files by path; a
    corrupt base64 string and a 17 MiB file each get HTTP 400 naming the row."""
    wavs = small_run.wavs[:3]
    rows = _corpus_rows(small_run, wavs)
    spec = {"speaker": "s1", "wavs": [str(w) for w in wavs], **rows}
    (tmp_path / "base64_spec.json").write_text(json.dumps(spec))
    out = tmp_path / "base64_answers.json"
    done = subprocess.run([sys.executable, str(HERE / "base64_client.py"), url, str(tmp_path / "base64_spec.json"),
                           str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(out.read_text())
    for case, record in answers.items():
        shown = record.get("message", "")[-200:] or [p["emotion"] for p in record["predictions"]]
        print(f"[reliability] base64 {case}: HTTP {record['status']} in {record['seconds']} s for a "
              f"{record['body_bytes'] / 1e6:.1f} MB body: {shown!r}")

    good = answers["good"]
    assert good["status"] == 200 and len(good["predictions"]) == 3
    assert all(p["emotion"] in ("ang", "hap", "neu", "sad") for p in good["predictions"])
    # The same audio by path, with the same transcripts and timings, sent from this process.
    columns = ["speaker", "transcript", "audio_path", "word_starts", "word_ends"]
    data = [["s1", t, str(w), s, e] for t, w, s, e in zip(rows["transcripts"], wavs, rows["word_starts"],
                                                           rows["word_ends"])]
    by_path = requests.post(f"{url}/invocations", json={"dataframe_split": {"columns": columns, "data": data}},
                            timeout=120)
    assert by_path.status_code == 200, by_path.text[-500:]
    for mine, theirs in zip(by_path.json()["predictions"], good["predictions"]):
        assert mine["emotion"] == theirs["emotion"]
        assert all(abs(mine[f"p_{e}"] - theirs[f"p_{e}"]) < 1e-6 for e in ("ang", "hap", "neu", "sad"))

    for case, message in (
            ("corrupt", r"Error: row 1, column 'audio_base64': not valid base64 \(.*\); expected standard base64"),
            ("oversize", r"Error: row 1, column 'audio_base64': 17825792 bytes \(17\.0 MiB\) of audio, over the "
                         r"limit of 16777216 bytes \(16\.0 MiB\) per utterance \(MAX_UTTERANCE_BYTES\)$")):
        record = answers[case]
        assert record["status"] == 400 and record["error_code"] == "INVALID_PARAMETER_VALUE", record
        assert re.search(message, record["message"]), record["message"][-400:]
        assert not record["has_stack_trace"]
