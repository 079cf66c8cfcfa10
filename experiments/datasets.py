"""The corpora a training run reads, logged as MLflow datasets: the schema and size of the rows it read, the
corpus root as the source, the corpus fingerprint as the digest (the run's **Datasets** in the UI)."""

from __future__ import annotations

import functools
import json
import random
import time
import warnings

import mlflow
import mlflow.data
import numpy as np
from mlflow.tracking import MlflowClient


# Columns of the utterance table shown as the dataset's schema (the store's offsets are not the corpus').
_DATASET_COLUMNS = ("utterance_id", "session", "speaker", "label", "transcript", "wav_path", "audio_seconds")


@functools.lru_cache(maxsize=16)
def featurize_corpora(featurize_run_id: str) -> dict[str, tuple[str, str]]:
    """corpus -> (root as logged, data fingerprint hash) of a featurize run (its params and fingerprint tag)."""
    run = MlflowClient().get_run(featurize_run_id)
    prints = json.loads(run.data.tags.get("paaan.data_fingerprint", "{}"))
    params = run.data.params
    return {corpus: (params.get(f"{corpus}_root.resolved", params.get(f"{corpus}_root", "")),
                     prints.get(corpus, {}).get("hash", ""))
            for corpus in ("iemocap", "sspnet")}


def corpus_dataset(name: str, table, root: str, digest: str):
    """An MLflow dataset: the table's schema and size, the corpus root as its source, the fingerprint as digest."""
    return mlflow.data.from_pandas(table, source=root or name, name=name, digest=digest or None)


def _log_input(dataset, context: str, attempts: int = 5) -> None:
    """``mlflow.log_input``, retried: trials started together all create the corpus' dataset (same name and
    digest) in the experiment, and on sqlite all but one insert fail with a UNIQUE constraint; the dataset
    then exists and the next attempt links to it."""
    for attempt in range(attempts):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except Exception as exc:  # MLflow wraps the store's IntegrityError differently across versions
            if "UNIQUE constraint" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + random.random() * 0.2)


def log_corpus_inputs(store, upstream, fold=None) -> None:
    """Log the corpora a training run reads as its inputs: IEMOCAP for training (its training and validation
    rows), the fold's test rows for evaluation (a dataset of their own, "iemocap: test <fold>": MLflow keeps one
    context per dataset and run), SSPNet for training when the run's personality is retrieved from it. Each
    digest is the corpus fingerprint; the schema and row count are those of the rows logged."""
    corpora = featurize_corpora(upstream.featurize)
    table = store.utterances[[c for c in _DATASET_COLUMNS if c in store.utterances.columns]]
    test = np.asarray(getattr(fold, "test", ()), dtype=np.int64)
    with warnings.catch_warnings():  # MLflow warns that a local path is not a registered dataset source
        warnings.simplefilter("ignore")
        rows = np.setdiff1d(np.arange(len(table)), test)
        _log_input(corpus_dataset("iemocap", table.iloc[rows], *corpora["iemocap"]), "training")
        if len(test):
            name = f"iemocap: test {getattr(fold, 'name', '')}".strip()
            _log_input(corpus_dataset(name, table.iloc[test], *corpora["iemocap"]), "evaluation")
        if upstream.retrieve:
            clips = store.clips.drop(columns=[c for c in ("wav_path",) if c in store.clips.columns])
            _log_input(corpus_dataset("sspnet", clips, *corpora["sspnet"]), "training")
