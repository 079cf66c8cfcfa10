"""Tuning k, the number of SSPNet clips each utterance retrieves (paper II-C2 leaves k open).

The objective is the UAR on an inner validation session: for outer fold f, the model is trained on three
of f's four training sessions and scored on the fourth (``paaan.data.folds.inner_split``), so the test
session of f is never looked at while choosing k. The search space is k in [1, min(k_max, SSPNet clips)].
Any optimiser can drive it: the ablation runs it under Ray Tune's Optuna searcher, ``tune_k`` under
plain Optuna.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from paaan.config import Profile
from paaan.data.folds import Fold, get_fold, inner_split
from paaan.features.store import FeatureStore
from paaan.retrieval import k_bounds
from paaan.train import FoldResult, train_fold
from paaan.variants import Variant

OBJECTIVE = "val_uar"


def k_search_space(n_clips: int, k_max: int) -> tuple[int, int]:
    """Inclusive bounds of k: 1 .. min(k_max, n_clips) (a clip can be retrieved once per utterance)."""
    return k_bounds(n_clips, k_max)


def inner_fold(utterances: pd.DataFrame, outer_fold: int) -> Fold:
    """The split k is tuned on for ``outer_fold``: three of its training sessions vs the fourth."""
    return inner_split(utterances, get_fold(utterances, outer_fold))


def inner_validation(store: FeatureStore, variant: Variant, outer_fold: int, k: int, profile: Profile,
                     personality_for_k: Callable[[int], pd.DataFrame], seed: int = 0) -> FoldResult:
    """Train ``variant`` with embeddings retrieved at ``k`` on the inner split of ``outer_fold``.

    The returned result's ``metrics["uar"]`` is the objective (UAR on the inner validation session).
    """
    if not variant.uses_retrieval:
        raise ValueError(f"variant {variant.name} retrieves no personality: there is no k to tune")
    low, high = k_search_space(len(store.clips), 10**9)
    if not low <= k <= high:
        raise ValueError(f"k={k} is outside [{low}, {high}] (the SSPNet bank has {high} clips)")
    return train_fold(store, variant, inner_fold(store.utterances, outer_fold), profile,
                      personality=personality_for_k(k), seed=seed, want_attention=False)
