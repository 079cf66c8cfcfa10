"""The corpora a training run reads, logged as MLflow datasets: the schema and size of the rows it read, the
corpus root as the source, the corpus fingerprint as the digest (the run's **Datasets** in the UI)."""

from __future__ import annotations

import functools
import json
import random
import time
import warnings
from pathlib import Path

import mlflow
import mlflow.data
import numpy as np
from mlflow.tracking import MlflowClient

from paaan.data.corpus import EmotionCorpus, parse_spec


# Columns of the utterance table shown as the dataset's schema (the store's offsets are not the corpus').
_DATASET_COLUMNS = ("utterance_id", "corpus", "session", "speaker", "label", "transcript", "wav_path", "audio_seconds")


@functools.lru_cache(maxsize=16)
def featurize_corpora(featurize_run_id: str) -> dict[str, tuple[str, str]]:
    """corpus name (``iemocap``, an EmoBox corpus' name, ``sspnet``) -> (root as logged, data fingerprint hash) of a
    featurize run (its params and fingerprint tag)."""
    run = MlflowClient().get_run(featurize_run_id)
    prints = json.loads(run.data.tags.get("paaan.data_fingerprint", "{}"))
    params = run.data.params

    def param(key: str) -> str:
        return params.get(f"{key}.resolved", params.get(key, ""))

    roots = {"iemocap": param("iemocap_root"), "sspnet": param("sspnet_root")}
    for key in ("emotion_corpus", "test_corpus"):
        if param(key):
            layout, where = parse_spec(param(key))
            roots[EmotionCorpus(layout, Path(where)).name] = where
    return {name: (root, prints.get(name, {}).get("hash", "")) for name, root in roots.items()}


def corpus_dataset(name: str, table, root: str, digest: str):
    """An MLflow dataset: the table's schema and size, the corpus root as its source, the fingerprint as digest."""
    return mlflow.data.from_pandas(table, source=root or name.split(":")[0], name=name, digest=digest or None)


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
    names = store.utterances["corpus"].astype(str).to_numpy() if "corpus" in store.utterances else \
        np.full(len(table), "iemocap")
    test = np.asarray(getattr(fold, "test", ()), dtype=np.int64)
    with warnings.catch_warnings():  # MLflow warns that a local path is not a registered dataset source
        warnings.simplefilter("ignore")
        rows = np.setdiff1d(np.arange(len(table)), test)
        for name in sorted(set(names[rows].tolist())):  # under the cross-corpus protocol: the training corpus
            part = rows[names[rows] == name]
            _log_input(corpus_dataset(name, table.iloc[part], *corpora.get(name, ("", ""))), "training")
        for name in sorted(set(names[test].tolist())):
            part = test[names[test] == name]
            label = f"{name}: test {getattr(fold, 'name', '')}".strip()
            _log_input(corpus_dataset(label, table.iloc[part], *corpora.get(name, ("", ""))), "evaluation")
        if upstream.retrieve:
            clips = store.clips.drop(columns=[c for c in ("wav_path",) if c in store.clips.columns])
            _log_input(corpus_dataset("sspnet", clips, *corpora["sspnet"]), "training")
