"""Fixtures of the reliability suite: one small but complete MLflow run of the pipeline, and its served model.

``small_run`` plays a user whose corpora, GloVe file and working folder live in their home folder and whose
shell holds credentials: HOME is a folder of the test, and fake secrets sit in the environment while
featurize -> shla -> retrieve -> a PAaAN_PP fold -> the all-session model (logged as a pyfunc, registered
as ``paaan-PAaAN_PP@champion``) run. The security scan then looks for that home folder and those secrets
in everything the run logged; the bad-input matrix and the serving test use its model.
"""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import mlflow
import pytest

from reliability_tools import FAKE_SECRETS, write_glove_text

REGISTERED = "paaan-PAaAN_PP"


@pytest.fixture(scope="session")
def small_run(tiny_corpus, tmp_path_factory):
    from experiments import tracking
    from experiments.corpora import resolve_corpora
    from experiments.profiles import load_profile
    from experiments.train import prepare_upstream, train_and_log
    from paaan.variants import get_variant
    from experiments.featurize import store_of
    from registry.package import log_pyfunc

    base = tmp_path_factory.mktemp("small_run")
    home = base / "home" / "alice"
    corpus = home / "corpora" / "tiny"
    shutil.copytree(tiny_corpus, corpus)
    glove = write_glove_text(home / "vectors" / "glove.small.50d.txt")
    work = home / "work"
    work.mkdir()
    # The store lives outside HOME: MLflow itself records where its store is (the artifact location), which
    # is not the user's data; everything paaan logs must be free of the home folder.
    store = base / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"

    profile, _ = load_profile("demo")
    profile = profile.replace(features={"glove": str(glove)}, shla={"epochs": 2}, train={"epochs": 2},
                              tune={"k_max": 10})
    variant = get_variant("PAaAN_PP")
    k = 5
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        for name, value in FAKE_SECRETS.items():
            mp.setenv(name, value)
        mp.chdir(work)
        mp.setattr(tracking, "_EXPERIMENT_ID", None)
        mp.setattr(tracking, "_ENTRY_RUN", {})
        experiment_id = tracking.setup_tracking(uri)
        corpora = resolve_corpora(str(corpus / "IEMOCAP_full_release"), str(corpus / "SSPNet"))
        upstream = prepare_upstream(corpora, profile, [get_variant("PAaAN_PP")], workers=2)
        with tracking.step_run("PAaAN_PP-fold1-seed0", "trial", tags={"paaan.variant": variant.name}) as run:
            train_and_log(variant, 1, 0, k, profile, upstream)
            fold_run = run.info.run_id
        with tracking.step_run("PAaAN_PP-final", "trial", tags={"paaan.variant": variant.name}) as run:
            result = train_and_log(variant, "all", 0, k, profile, upstream, log_model=True, want_attention=False)
            model_uri = log_pyfunc(result, variant, k, profile, store_of(upstream.featurize), upstream.featurize)
            mlflow.set_tag("paaan.model_uri", model_uri)
            final_run = run.info.run_id
        version = mlflow.register_model(model_uri, REGISTERED)
        mlflow.MlflowClient().set_registered_model_alias(REGISTERED, "champion", version.version)
        os.environ.pop("MLFLOW_TRACKING_URI", None)  # setup_tracking exported it; the session had none
    return SimpleNamespace(
        base=base, home=home, corpus=corpus, glove=glove, store=store, tracking_uri=uri,
        experiment_id=experiment_id, upstream=upstream, fold_run=fold_run, final_run=final_run,
        model_uri=model_uri, registered=f"models:/{REGISTERED}@champion", profile=profile,
        wavs=sorted(p for p in (corpus / "IEMOCAP_full_release").glob("Session1/sentences/wav/*/*.wav")
                    if not p.name.startswith("._")),
    )


@pytest.fixture(scope="session")
def pyfunc_model(small_run):
    """The registered PAaAN_PP model, loaded through ``mlflow.pyfunc`` as a user would."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(small_run.tracking_uri)
    try:
        return mlflow.pyfunc.load_model(small_run.registered)
    finally:
        mlflow.set_tracking_uri(previous)
