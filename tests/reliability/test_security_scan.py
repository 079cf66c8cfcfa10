"""Security: no credentials or home paths in what a run logs; local servers on 127.0.0.1; the model reads audio only.

Issue 9, part 4. Fast: the small run is shared with the bad-input matrix; the Ray check starts a local
Ray cluster and waits for a stranger's connection to be refused (~30 s). The servers the slow load tests
start are checked there (their listening sockets are all on 127.0.0.1).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from reliability_tools import FAKE_SECRETS, REPO, child_env, count_running, is_loopback, sqlite_path

pytestmark = pytest.mark.reliability


def _needles(small_run) -> dict[str, bytes]:
    return {"home folder": str(small_run.home).encode(),
            **{f"secret {name}": value.encode() for name, value in FAKE_SECRETS.items()}}


# MLflow's own record of where an experiment keeps its artifacts (its "Default" experiment's is the working
# folder's ./mlruns/0 when the database is created): the store's location, not the user's data.
ALLOWED_COLUMNS = {("experiments", "artifact_location")}


def find_in_database(db: Path, needles: dict[str, bytes]) -> list[str]:
    """'<table>.<column>: <needle name>' for every column of every table of an MLflow sqlite store holding a
    needle (params, tags, metrics, runs, logged models, registered models and versions...)."""
    found = []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [c[1] for c in con.execute(f'PRAGMA table_info("{table}")')]:
                if (table, column) in ALLOWED_COLUMNS:
                    continue
                for name, needle in needles.items():
                    hit = con.execute(f'SELECT 1 FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0 LIMIT 1',
                                      (needle.decode(),)).fetchone()
                    if hit:
                        found.append(f"mlflow.db {table}.{column}: {name}")
    return found


def find_needles(folder: Path, needles: dict[str, bytes]) -> list[str]:
    """'<file>: <needle name>' for every file under ``folder`` whose bytes hold a needle."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(folder)}: {name}" for name, needle in needles.items() if needle in data]
    return found


def test_a_run_logs_no_home_path_and_no_credentials(small_run):
    """Params, tags, metrics, model versions (the sqlite file, byte by byte) and every artifact file of a
    featurize -> shla -> retrieve -> train -> pyfunc run, made from a home folder with secrets in the
    environment, hold neither the home folder nor any of the secrets."""
    needles = _needles(small_run)
    db = sqlite_path(small_run.tracking_uri)
    artifacts = small_run.store / "mlartifacts"
    # The scan can see: the database holds the corpus' relative paths in params and as the source of the
    # logged datasets, the model its variant.
    assert find_in_database(db, {"param": b"~/corpora/tiny/SSPNet"}) == [
        "mlflow.db params.value: param", "mlflow.db datasets.dataset_source: param"]
    assert find_needles(artifacts, {"variant": b'"variant": "PAaAN_PP"'})
    leaks = find_in_database(db, needles) + find_needles(artifacts, needles)
    print(f"[reliability] scanned {db.stat().st_size} bytes of mlflow.db and "
          f"{sum(1 for p in artifacts.rglob('*') if p.is_file())} artifact files: {len(leaks)} findings")
    assert leaks == [], leaks
    assert count_running(small_run.tracking_uri, "small run (featurize -> pyfunc)") == 0


def test_paths_under_home_are_logged_as_tilde(small_run):
    params = MlflowClient(small_run.tracking_uri).get_run(small_run.upstream.featurize).data.params
    assert params["iemocap_root"] == "~/corpora/tiny/IEMOCAP_full_release"
    assert params["sspnet_root"] == "~/corpora/tiny/SSPNet"
    assert params["glove"] == "~/vectors/glove.small.50d.txt"
    trial = MlflowClient(small_run.tracking_uri).get_run(small_run.fold_run).data.params
    assert trial["features.glove"] == "~/vectors/glove.small.50d.txt"


@pytest.mark.parametrize("path, message", [
    ("/etc/passwd", r"row 1, column 'audio_path': /etc/passwd: unreadable audio: Format not recognised"),
    ("/etc", r"row 1, column 'audio_path': /etc is not a readable file"),
    ("/dev/zero", r"row 1, column 'audio_path': /dev/zero is not a readable file"),
    ("/proc/self/environ", r"row 1, column 'audio_path': /proc/self/environ: unreadable audio"),
])
def test_the_model_reads_audio_files_only_and_echoes_no_content(pyfunc_model, small_run, path, message):
    """A path that is not a readable audio file is refused with a message naming the row and the path, and
    nothing of the file's content (/etc/passwd's "root:", the environment's secrets) comes back."""
    from paaan.errors import InputError

    wavs = [str(w) for w in small_run.wavs[:3]]
    request = pd.DataFrame({"speaker": ["s1"] * 3, "audio_path": [wavs[0], path, wavs[2]],
                            "transcript": ["Hello there.", "Okay.", "Fine."]})
    with pytest.raises(InputError, match=message) as error:
        pyfunc_model.predict(request)
    text = str(error.value)
    assert "root:" not in text and "PATH=" not in text


RAY_PROBE = textwrap.dedent("""
    import json, os, subprocess, sys
    from pathlib import Path
    sys.path.insert(0, {tools!r})
    from reliability_tools import descendants, listening_sockets
    import ray  # imported before start_ray on purpose: it must still give the cluster a token

    from experiments.cluster import start_ray
    from experiments.settings import StudySettings

    start_ray(StudySettings(num_cpus=1))
    gcs = ray.get_runtime_context().gcs_address
    pids = [os.getpid(), *descendants(os.getpid())]
    sockets = listening_sockets(pids)
    # A second process on this machine without the cluster's token, as anyone on the network would be.
    env = {{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}}
    env["RAY_AUTH_MODE"] = "disabled"
    probe = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={{gcs!r}}); print('CONNECTED')"],
                           env=env, capture_output=True, text=True, timeout=120)
    ray.shutdown()
    print("RESULT " + json.dumps({{"sockets": sockets, "stranger_connected": "CONNECTED" in probe.stdout,
                                   "stranger_rc": probe.returncode,
                                   "token_file": (Path.home() / ".ray" / "auth_token").exists()}}))
""")


def test_the_local_ray_cluster_refuses_clients_without_its_token(tmp_path):
    """Ray 2.60's gRPC servers listen on every interface and Ray has no setting to change that; the local
    cluster paaan starts therefore requires a token that only its own processes hold (in their environment,
    never on disk), so a stranger cannot run code on it."""
    script = tmp_path / "probe.py"
    script.write_text(RAY_PROBE.format(tools=str(Path(__file__).parent)))
    env = child_env(tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}", HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    line = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    assert line, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(line[0][len("RESULT "):])
    exposed = [address for _, address in result["sockets"] if not is_loopback(address)]
    print(f"[reliability] local Ray: {len(result['sockets'])} listening sockets, {len(exposed)} not on loopback "
          f"(token required); a client without the token connected: {result['stranger_connected']}")
    assert not result["stranger_connected"] and result["stranger_rc"] != 0
    assert not result["token_file"]  # nothing written to ~/.ray


def test_every_server_command_paaan_prints_or_documents_binds_loopback():
    """The MLflow UI command the ablation prints, and every `mlflow ui|server|models serve` in the README
    (but its scale-out section, where the user deliberately runs a cluster's tracking server), carry
    --host/-h 127.0.0.1."""
    import inspect

    from experiments import ablation

    sections = ("\n" + (REPO / "README.md").read_text()).split("\n## ")
    readme = "\n".join(s for s in sections if not s.startswith("Scale-out"))
    texts = {"README.md": readme, "ablation._print_where": inspect.getsource(ablation._print_where)}
    commands = []
    for source, text in texts.items():
        for line in text.splitlines():
            if re.search(r"mlflow (ui|server|models serve)\b", line):
                commands.append((source, line.strip()))
    assert len(commands) >= 3
    for source, command in commands:
        assert re.search(r"(--host|-h) 127\.0\.0\.1\b", command), f"{source}: {command}"
