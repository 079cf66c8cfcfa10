"""Shared fixtures: a tiny demo corpus and its feature store, built once per test session.

Every test runs with PAAAN_CACHE in a session folder (openSMILE config, NLTK tagger), so nothing is read
from or written to the user's home, and with no MLflow/Ray variables leaking in from the shell.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    cache = tmp_path_factory.mktemp("paaan_cache")
    saved = {k: os.environ.get(k) for k in ("PAAAN_CACHE", "MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID",
                                             "MLFLOW_EXPERIMENT_ID", "PAAAN_DATA")}
    os.environ["PAAAN_CACHE"] = str(cache)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "PAAAN_DATA"):
        os.environ.pop(key, None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _no_mlflow_variables_between_tests():
    """``mlflow.set_experiment`` exports MLFLOW_EXPERIMENT_ID into os.environ: without this, a test that ran the
    pipeline in-process would hand that id to every later test's subprocesses (and `mlflow run --experiment-name`
    refuses both). Whatever MLFLOW_* variable a test leaves behind is removed after it."""
    before = {k for k in os.environ if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_") and k not in before]:
        del os.environ[key]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The ``tiny`` demo corpus (10 speakers, ~60 four-class utterances, 20 SSPNet clips), seed 0."""
    from paaan.demo import generate_demo_corpus

    return generate_demo_corpus(tmp_path_factory.mktemp("corpus") / "tiny", seed=0, profile="tiny")


@pytest.fixture(scope="session")
def tiny_store(tiny_corpus, tmp_path_factory):
    """The feature store of the tiny corpus (openSMILE on two workers)."""
    from paaan.features.pipeline import featurize
    from paaan.features.store import FeatureStore

    out = tmp_path_factory.mktemp("store") / "features"
    featurize(tiny_corpus / "IEMOCAP_full_release", tiny_corpus / "SSPNet", out, workers=2, progress=False)
    return FeatureStore(out)


@pytest.fixture()
def tracking(tmp_path, monkeypatch):
    """A fresh sqlite MLflow store in tmp_path, the working directory of the test."""
    from experiments import tracking as tracking_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tracking_module, "_EXPERIMENT_ID", None)
    monkeypatch.setattr(tracking_module, "_ENTRY_RUN", {})
    experiment_id = tracking_module.setup_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield experiment_id
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()
