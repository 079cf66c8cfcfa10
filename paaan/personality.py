"""Per-speaker personality embeddings as the networks see them: the oracle profile and fold-wise scaling.

The retrieved embeddings (PP, NA) come from ``paaan.retrieval``; this module adds the oracle (the demo
corpus' true Big-Five profile, in the same 25-d format) and the standardisation applied before training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from paaan.data.schema import TRAITS
from paaan.errors import PaaanError
from paaan.retrieval import EMBEDDING_COLUMNS, STATISTICS

STD_FLOOR = 0.1  # trait-score units (scores span [-4, 4]); keeps near-constant dimensions from exploding


def true_profiles(ground_truth: str | Path | dict) -> pd.DataFrame:
    """Each IEMOCAP speaker's true Big-Five profile from a demo corpus' ``ground_truth.json`` (speaker x TRAITS)."""
    if not isinstance(ground_truth, dict):
        path = Path(ground_truth)
        if not path.is_file():
            raise PaaanError(f"{path}: the PAaAN_oracle variant needs the demo corpus' ground_truth.json, "
                             "which this corpus does not have (real corpora have no true personality)")
        ground_truth = json.loads(path.read_text())
    speakers = (ground_truth.get("iemocap") or {}).get("speakers")
    if not speakers:
        raise PaaanError("ground truth has no IEMOCAP speaker profiles (iemocap.speakers)")
    rows = {speaker: [float(info["traits"][t]) for t in TRAITS] for speaker, info in speakers.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(TRAITS)).sort_index()


def oracle_embeddings(profiles: pd.DataFrame | str | Path | dict) -> pd.DataFrame:
    """The true Big-Five profile of each speaker as a 25-d embedding (PAaAN_oracle).

    A single "retrieved" score per trait: mean = median = max = min = the true score, std = 0, so the oracle
    has the format of the retrieved embeddings and the same network reads either. ``profiles``: speaker x
    TRAITS, or a ground truth (path or dict) to read them from.
    """
    if not isinstance(profiles, pd.DataFrame):
        profiles = true_profiles(profiles)
    rows = {speaker: [0.0 if stat == "std" else float(row[trait]) for trait in TRAITS for stat in STATISTICS]
            for speaker, row in profiles.iterrows()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(EMBEDDING_COLUMNS)).sort_index()


def standardise(embeddings: pd.DataFrame, train_speakers) -> pd.DataFrame:
    """Z-score each of the 25 dimensions with the mean and std of the TRAINING speakers only.

    Retrieved embeddings cluster near the SSPNet average, so the between-speaker differences are small in
    raw units; scaling them to unit spread lets the 16-unit pre-layer read them. Statistics come from the
    fold's training speakers, never the test speakers (their embeddings are only transformed).
    """
    train = embeddings.loc[sorted(set(train_speakers))]
    mean = train.mean(axis=0)
    std = train.std(axis=0, ddof=0).clip(lower=STD_FLOOR)
    return (embeddings - mean) / std


def as_array(embeddings: pd.DataFrame | None, speakers) -> np.ndarray:
    """(n, 25) float32 rows for these speakers (zeros when the variant uses no personality)."""
    if embeddings is None:
        return np.zeros((len(speakers), len(EMBEDDING_COLUMNS)), dtype=np.float32)
    missing = sorted(set(speakers) - set(embeddings.index))
    if missing:
        raise PaaanError(f"no personality embedding for speakers {missing[:5]}")
    return embeddings.loc[list(speakers), list(EMBEDDING_COLUMNS)].to_numpy(dtype=np.float32)
