"""MLproject: every entry point calls a real `paaan` command with options it has, and `mlflow run` works."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from experiments.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_an_entry_point_passes_only_declared_parameters_to_options_its_command_has(name):
    entry = ENTRY_POINTS[name]
    words = entry["command"].split()
    assert words[:3] == ["python", "-m", "experiments.cli"], entry["command"]
    command = cli.commands[words[3]]
    options = {opt for param in command.params for opt in param.opts}
    used = [w for w in words[4:] if w.startswith("--")]
    assert used and set(used) <= options, set(used) - options
    placeholders = set(re.findall(r"\{(\w+)\}", entry["command"]))
    assert placeholders == set(entry.get("parameters", {})), placeholders ^ set(entry.get("parameters", {}))


@pytest.mark.slow
def test_mlflow_run_of_the_ablation_entry_point(tiny_corpus, tmp_path):
    """The README's main command, reduced to one variant without k tuning: `mlflow run` nests the steps under
    its own run and finishes the grid (5 folds + the final model)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=uri, PAAAN_RAY_RESULTS=str(tmp_path / "ray_results"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(
        ["mlflow", "run", str(ROOT), "-e", "ablation", "--env-manager", "local", "--experiment-name", "paaan",
         "-P", f"iemocap_root={tiny_corpus / 'IEMOCAP_full_release'}", "-P", f"sspnet_root={tiny_corpus / 'SSPNet'}",
         "-P", "variants=Audio", "-P", "k_tuning=off"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("paaan")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    counts = collections.Counter((r.data.tags.get("paaan.step"), r.info.status) for r in runs)
    assert counts[("ablation", "FINISHED")] == 1 and counts[("trial", "FINISHED")] == 5 + 1
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "ablation")
    assert parent.data.tags.get("mlflow.project.entryPoint") == "ablation"  # the run mlflow run opened


@pytest.mark.parametrize(("given", "environment", "expected"), [
    ("", "10.0.0.5:6379", "10.0.0.5:6379"),   # what `mlflow run` passes when -P ray_address is not given
    ("head:6379", "10.0.0.5:6379", "head:6379"),
    ("", None, None),                          # a new local cluster
])
def test_the_ray_address_falls_back_to_RAY_ADDRESS(given, environment, expected, monkeypatch):
    import experiments.ablation as ablation
    import experiments.cli as cli_module
    from click.testing import CliRunner

    seen = {}
    monkeypatch.setattr(cli_module, "setup", lambda opts: (SimpleNamespace(tune=SimpleNamespace(k_trials=8)), {},
                                                           SimpleNamespace(ground_truth=None, has_text=True, test=None,
                                                                           emotion=SimpleNamespace(root="corpus"))))
    monkeypatch.setattr(ablation, "run_ablation", lambda corpora, profile, settings: seen.update(settings=settings))
    if environment is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", environment)
    result = CliRunner().invoke(cli, ["ablation", "--variants", "Audio", "--ray-address", given])
    assert result.exit_code == 0, result.output
    assert seen["settings"].ray_address == expected
