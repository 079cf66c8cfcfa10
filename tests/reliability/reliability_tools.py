"""Tools the reliability tests share: MLflow store checks, process trees, listening sockets, local servers.

Linux only (``/proc``): psutil is not a dependency of paaan, and ``/proc`` says everything these tests need.
Every process these tools signal is one the test started (a ``Popen`` it holds) or a descendant of one.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[2]
# Values no real credential has; the security scan fails if any of them reaches the tracking store.
FAKE_SECRETS = {
    "MLFLOW_TRACKING_PASSWORD": "paaan-fake-password-4e1b9c",
    "MLFLOW_TRACKING_TOKEN": "paaan-fake-token-77d0aa",
    "AWS_SECRET_ACCESS_KEY": "paaan/fake/aws/secret/key/0c3f",
    "HF_TOKEN": "hf_paaanfaketoken91b2",
}


def write_glove_text(path: Path, n_words: int = 3000) -> Path:
    """A GloVe text file of the first ``n_words`` rows of the packaged GloVe 6B 50-d (a user-given path)."""
    import numpy as np

    from paaan.features.text import WordVectors

    table = WordVectors.default()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for word, vector in zip(table.words[:n_words], np.asarray(table.vectors[:n_words])):
            out.write(word + " " + " ".join(f"{v:.5f}" for v in vector) + "\n")
    return path


# --- the tracking store --------------------------------------------------------------------------------


def all_runs(tracking_uri: str) -> list:
    """Every run of every experiment in the store (deleted runs included: they must not stay RUNNING either)."""
    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=mlflow.entities.ViewType.ALL)]
    if not experiments:
        return []
    return client.search_runs(experiments, run_view_type=mlflow.entities.ViewType.ALL, max_results=50000)


def count_running(tracking_uri: str, label: str) -> int:
    """The number of runs left RUNNING in the store, printed with the test's label (the issue asks for it)."""
    running = [r for r in all_runs(tracking_uri) if r.info.status == "RUNNING"]
    print(f"[reliability] {label}: {len(running)} runs RUNNING afterwards"
          + (f" ({', '.join(r.info.run_name or r.info.run_id for r in running)})" if running else ""), flush=True)
    return len(running)


def sqlite_path(tracking_uri: str) -> Path:
    assert tracking_uri.startswith("sqlite:///"), tracking_uri
    return Path(tracking_uri[len("sqlite:///"):])


def sqlite_integrity(tracking_uri: str) -> str:
    """SQLite's own consistency check of the store ("ok" when the file is sound)."""
    with sqlite3.connect(f"file:{sqlite_path(tracking_uri)}?mode=ro", uri=True) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def wait_for_experiment(tracking_uri: str, timeout: float, name: str = "paaan") -> None:
    """Wait, reading the sqlite file read-only, until the process under test has created the experiment.

    Only then may the test open an MlflowClient on the store: a client meeting a store that does not exist
    yet creates its tables, and two processes creating them at once fail ("table ... already exists").
    """
    def created():
        path = sqlite_path(tracking_uri)
        if not path.exists():
            return False
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
                return db.execute("SELECT 1 FROM experiments WHERE name = ?", (name,)).fetchone() is not None
        except sqlite3.Error:  # not created yet, or being created
            return False
    wait_until(created, timeout, f"experiment {name!r} in {tracking_uri}", interval=0.3)


def tree_digest(folder: Path) -> str:
    """Hash of every file's relative path and bytes under ``folder``: changes if anything is touched."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# --- Ray Tune's trial folders ----------------------------------------------------------------------------


def trial_results(trial_dir: Path) -> list[dict]:
    """The results Tune's driver recorded for a trial (its ``result.json``, one JSON object a line, each with
    the worker's ``pid`` and the ``checkpoint_dir_name`` the report carried); a line being written is skipped."""
    import json

    rows = []
    try:
        lines = (Path(trial_dir) / "result.json").read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    return rows


def held_checkpoint_epochs(rows: list[dict], pid: int) -> tuple[int, int]:
    """(surely held, at most held): the epochs of the newest checkpoint Tune's driver surely holds for the
    attempt run by ``pid``, and of the newest it may hold, from that attempt's recorded results.

    A function trial's report waits until the driver has taken its result, and the driver takes a checkpoint
    before it lets the trial go on: a checkpointed result followed by another result is surely held; the
    attempt's last result, if checkpointed, may or may not be. 0 when there is none.
    """
    mine = [r for r in rows if r.get("pid") == pid]
    checkpointed = [i for i, r in enumerate(mine) if r.get("checkpoint_dir_name")]
    surely = [int(mine[i]["epoch"]) for i in checkpointed if i + 1 < len(mine)]
    return (max(surely, default=0), max((int(mine[i]["epoch"]) for i in checkpointed), default=0))


def checkpointed_trial(results: Path, experiment: str) -> tuple[Path, dict] | None:
    """A trial of a Tune experiment (``results/<experiment glob>/<trial>``) still training, whose driver surely
    holds a checkpoint of it (``held_checkpoint_epochs``), with its newest recorded result; else None."""
    for trial in sorted(Path(results).glob(f"{experiment}/*")):
        rows = trial_results(trial) if trial.is_dir() else []
        if not rows or rows[-1].get("done") or "epochs_run" in rows[-1]:  # none yet, or its training is over
            continue
        if held_checkpoint_epochs(rows, rows[-1].get("pid"))[0] > 0:
            return trial, rows[-1]
    return None


# --- processes -----------------------------------------------------------------------------------------


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state letter


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                parents.setdefault(parent, []).append(int(entry))
    found, frontier = [], [pid]
    while frontier:
        for child in parents.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    except OSError:
        pass
    return inodes


def _decode_address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:  # little-endian IPv4
        return f"{socket.inet_ntop(socket.AF_INET, raw[::-1])}:{int(port, 16)}"
    # IPv6: four little-endian 32-bit words
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return f"[{socket.inet_ntop(socket.AF_INET6, words)}]:{int(port, 16)}"


def listening_sockets(pids: list[int]) -> list[tuple[int, str]]:
    """(pid, "address:port") of every TCP socket in LISTEN state held by one of ``pids``."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in owner:  # 0A = TCP_LISTEN
                found.append((owner[fields[9]], _decode_address(fields[1])))
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host.startswith("127.") or host == "::1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float, what: str) -> None:
    """Wait until a GET of ``url`` answers 200 (a server that is starting refuses or fails the request)."""
    import requests

    def answers():
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_until(answers, timeout, what, interval=0.5)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start(args: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    """Start a command in its own process group, SIGINT at its default (the trap: a process a
    non-interactive shell starts in the background ignores SIGINT, and Python then never raises
    KeyboardInterrupt)."""
    handle = open(log, "w")
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """End a process this test started, and its process group (its workers), by that group's id."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left (Ray daemons, server workers)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait(10)


def child_env(base: Path, tracking_uri: str, **extra: str) -> dict:
    """Environment of a ``paaan`` subprocess: every store and cache in ``base``, nothing from the shell's MLflow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_", "TUNE_"))}
    env.update({"MLFLOW_TRACKING_URI": tracking_uri, "PAAAN_DATA": str(base / "data"),
                "PAAAN_CACHE": os.environ.get("PAAAN_CACHE", str(base / "cache")),
                "PAAAN_RAY_RESULTS": str(base / "ray_results"), "PYTHONUNBUFFERED": "1",
                "PYTHONWARNINGS": "ignore", "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    env.update(extra)
    return env


def paaan_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "experiments.cli", *args]
