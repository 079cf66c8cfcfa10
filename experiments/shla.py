"""The ``shla`` step: the shared-hidden-layer autoencoder over both corpora's functionals (paper II-C1).

Logs per-epoch reconstruction loss for each corpus, the fitted SHLA (``shla/shla.pt``), the shared
encoder as an MLflow (PyTorch) model, and the 128-d latents of both corpora (``latents/``).
Reused when a FINISHED shla run has the same featurize run, SHLA settings, seed and code version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import torch
import pandas as pd

from experiments import tracking
from experiments.cache import cache_key
from experiments.featurize import store_of
from paaan.config import SHLAConfig
from paaan.shla import SHLA

STEP = "shla"


def run_shla(featurize_run_id: str, config: SHLAConfig, seed: int = 0, parent_run_id: str | None = None,
             entry: bool = False) -> str:
    key = cache_key(STEP, {"featurize_run": featurize_run_id, "shla": config.__dict__, "seed": seed})
    cached = tracking.cached_step(STEP, key, entry)
    if cached is not None:
        return cached
    store = store_of(featurize_run_id)
    with tracking.step_run("shla", STEP, parent_run_id=parent_run_id,
                           tags={tracking.TAG_KEY: key, "paaan.featurize_run": featurize_run_id}, entry=entry) as run:
        tracking.log_params({"featurize_run": featurize_run_id, "hidden_sizes": list(config.hidden_sizes),
                           "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": seed})
        corpora = {"iemocap": np.asarray(store.functionals("iemocap")), "sspnet": np.asarray(store.functionals("sspnet"))}
        shla = SHLA.from_config(config, seed=seed).fit(corpora)
        for epoch, losses in enumerate(shla.history_, start=1):
            mlflow.log_metrics({f"reconstruction_mse_{corpus}": loss for corpus, loss in losses.items()}, step=epoch)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            shla.save(tmp / "shla.pt")
            mlflow.log_artifact(str(tmp / "shla.pt"), "shla")
            latents = tmp / "latents"
            latents.mkdir()
            ids = {"iemocap": store.utterances["utterance_id"], "sspnet": store.clips["clip"]}
            for corpus, X in corpora.items():
                Z = shla.transform(X, corpus).astype(np.float32)  # (n, 128)
                np.save(latents / f"{corpus}.npy", Z)
                pd.DataFrame({"id": ids[corpus]}).to_parquet(latents / f"{corpus}_ids.parquet", index=False)
            mlflow.log_artifacts(str(latents), "latents")
        # The shared encoder alone, on standardised functionals (shla.pt holds the per-corpus statistics).
        example = np.zeros((1, corpora["iemocap"].shape[1]), dtype=np.float32)
        mlflow.pytorch.log_model(shla.module_.encoder.cpu(), name="encoder", input_example=example,
                                 pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
        print(f"shla: final reconstruction MSE {shla.history_[-1]}", flush=True)
        return run.info.run_id


def load_shla(run_id: str) -> SHLA:
    return SHLA.load(tracking.local_artifact_dir(run_id, "shla") / "shla.pt")


def latents_of(run_id: str, corpus: str) -> np.ndarray:
    return np.load(tracking.local_artifact_dir(run_id, "latents") / f"{corpus}.npy")
