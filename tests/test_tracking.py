"""MLflow glue: cache keys, reuse, run statuses, parameter logging, fingerprints."""

import os
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from experiments import cache as cache_mod
from experiments import datasets as datasets_mod
from experiments import tracking as tracking_mod
from experiments.corpora import redact


def tracking_module():
    return tracking_mod


def test_runs_end_finished_killed_or_failed(tracking):
    with tracking_module().step_run("ok", "demo") as run:
        ok = run.info.run_id
    with pytest.raises(KeyboardInterrupt):
        with tracking_module().step_run("interrupted", "demo") as run:
            killed = run.info.run_id
            raise KeyboardInterrupt
    with pytest.raises(ValueError):
        with tracking_module().step_run("crashed", "demo") as run:
            failed = run.info.run_id
            raise ValueError("boom")
    status = {r: MlflowClient().get_run(r).info.status for r in (ok, killed, failed)}
    assert status == {ok: "FINISHED", killed: "KILLED", failed: "FAILED"}


def test_cached_run_is_found_only_when_finished_with_the_same_key(tracking):
    key = cache_mod.cache_key("featurize", {"a": 1})
    assert key != cache_mod.cache_key("featurize", {"a": 2})
    with pytest.raises(KeyboardInterrupt):
        with tracking_module().step_run("x", "featurize", tags={tracking_module().TAG_KEY: key}):
            raise KeyboardInterrupt
    assert tracking_module().find_cached_run("featurize", key) is None  # a KILLED run is never reused
    with tracking_module().step_run("y", "featurize", tags={tracking_module().TAG_KEY: key}) as run:
        good = run.info.run_id
    assert tracking_module().find_cached_run("featurize", key).info.run_id == good
    assert tracking_module().find_cached_run("shla", key) is None
    assert tracking_module().cached_step("featurize", key) == good and tracking_module().cached_step("shla", key) is None


def test_entry_run_params_are_kept_and_resolved_values_added(tracking):
    run = MlflowClient().create_run(tracking)
    MlflowClient().log_param(run.info.run_id, "glove", "")
    os.environ["MLFLOW_RUN_ID"] = run.info.run_id
    tracking_module()._ENTRY_RUN.clear()
    with tracking_module().step_run("entry", "featurize", entry=True) as active:
        assert active.info.run_id == run.info.run_id
        tracking_module().log_params({"glove": "glove-6b-50d", "frame_size": 0.06})
    params = MlflowClient().get_run(run.info.run_id).data.params
    assert params == {"glove": "", "glove.resolved": "glove-6b-50d", "frame_size": "0.06"}
    assert "MLFLOW_RUN_ID" not in os.environ  # never leaks to child processes


def test_fingerprint_changes_with_any_file(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"1234")
    (tmp_path / "._a.wav").write_bytes(b"mac")
    first = cache_mod.fingerprint_tree(tmp_path)
    assert first["files"] == 1 and first["bytes"] == 4  # the macOS resource file does not count
    time.sleep(0.01)
    (tmp_path / "a.wav").write_bytes(b"1235")
    assert cache_mod.fingerprint_tree(tmp_path)["hash"] != first["hash"]


def test_tracking_uri_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_module().resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert tracking_module().resolve_tracking_uri("sqlite:///x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert tracking_module().resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_artifacts_go_beside_the_database_not_to_mlruns(tracking, tmp_path):
    location = mlflow.get_experiment(tracking).artifact_location
    assert location == (tmp_path / "mlartifacts").as_uri()
    assert not (tmp_path / "mlruns").exists()


def test_redact_hides_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert redact(tmp_path / "corpora" / "IEMOCAP") == "~/corpora/IEMOCAP"
    assert redact("/data/IEMOCAP") == "/data/IEMOCAP"


def test_a_step_key_covers_the_paaan_modules_its_roots_import():
    """shla's roots are paaan/shla.py and experiments/shla.py; paaan/shla.py imports config, errors and numerics
    (where standardisation_stats lives), and experiments/shla.py's own experiments imports are not followed."""
    names = {str(p.relative_to(cache_mod.PROJECT_ROOT)) for p in cache_mod._sources("shla")}
    assert names == {"experiments/shla.py", "paaan/shla.py", "paaan/config.py", "paaan/errors.py", "paaan/numerics.py"}


def test_module_imports_are_followed_in_every_form(tmp_path, monkeypatch):
    for name in ("a", "b", "c", "d"):
        (tmp_path / "paaan" / "sub").mkdir(parents=True, exist_ok=True)
        (tmp_path / "paaan" / "sub" / f"{name}.py").write_text("")
    (tmp_path / "paaan" / "sub" / "__init__.py").write_text("")
    (tmp_path / "root.py").write_text("import os\nimport paaan.sub.a\nfrom paaan.sub import b, not_a_module\n"
                                      "def f():\n    from paaan.sub.c import thing\n")
    monkeypatch.setattr(cache_mod, "PROJECT_ROOT", tmp_path)
    found = {str(p.relative_to(tmp_path)) for p in cache_mod._paaan_imports(tmp_path / "root.py")}
    assert found == {"paaan/sub/a.py", "paaan/sub/b.py", "paaan/sub/c.py", "paaan/sub/__init__.py"}


def test_a_dataset_insert_that_loses_the_sqlite_race_is_retried(monkeypatch):
    import mlflow

    calls = []

    def log_input(dataset, context):
        calls.append(context)
        if len(calls) == 1:  # the first trial to start created the dataset a moment before us
            raise mlflow.exceptions.MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.x")

    monkeypatch.setattr(mlflow, "log_input", log_input)
    datasets_mod._log_input(object(), "training")
    assert calls == ["training", "training"]

    def broken(dataset, context):
        raise mlflow.exceptions.MlflowException("something else")

    monkeypatch.setattr(mlflow, "log_input", broken)
    with pytest.raises(mlflow.exceptions.MlflowException, match="something else"):
        datasets_mod._log_input(object(), "training")


def test_registered_model_names_keep_every_variant_apart():
    from registry.register import model_name
    from paaan.variants import VARIANTS

    assert [model_name(v) for v in ("A+T", "IA+T", "IA+T+", "PAaAN+_oracle", "P-T_oracle")] == [
        "paaan-A_T", "paaan-IA_T", "paaan-IA_Tplus", "paaan-PAaANplus_oracle", "paaan-P-T_oracle"]
    names = [model_name(v.name) for v in VARIANTS]
    assert len(set(names)) == len(names) and not any("+" in n for n in names)
