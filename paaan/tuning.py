"""Tuning k, the number of SSPNet clips each utterance retrieves (paper II-C2 leaves k open).

The objective is the UAR on the outer fold's held-out training speakers: for outer fold f, the model is
trained on f's training speakers and scored on its validation speakers (``paaan.data.folds.inner_fold``:
under leave-one-session-out three training sessions and the fourth), so the test speakers of f are never
looked at while choosing k. The search space is k in [1, min(k_max, SSPNet clips)].
Any optimiser can drive it: the ablation runs it under Ray Tune's Optuna searcher, ``tune_k`` under
plain Optuna.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from paaan.config import Profile
from paaan.data import folds as folds_
from paaan.data.folds import Fold, get_fold
from paaan.features.store import FeatureStore
from paaan.personality import PersonalitySource
from paaan.retrieval import k_bounds
from paaan.train import FoldResult, train_fold
from paaan.variants import Variant

OBJECTIVE = "val_uar"


def k_search_space(n_clips: int, k_max: int) -> tuple[int, int]:
    """Inclusive bounds of k: 1 .. min(k_max, n_clips) (a clip can be retrieved once per utterance)."""
    return k_bounds(n_clips, k_max)


def inner_fold(utterances: pd.DataFrame, outer_fold: int, protocol: str = "session",
               folds_file: str | None = None) -> Fold:
    """The split k is tuned on for ``outer_fold`` of ``protocol``: its training speakers vs its validation ones."""
    return folds_.inner_fold(get_fold(utterances, outer_fold, protocol, folds_file))


def inner_validation(store: FeatureStore, variant: Variant, outer_fold: int, k: int, profile: Profile,
                     personality_for_k: Callable[[int], PersonalitySource], seed: int = 0) -> FoldResult:
    """Train ``variant`` with embeddings retrieved at ``k`` (``personality_for_k(k)``: a PersonalitySource
    fitted with the inner split's training speakers) on the inner split of ``outer_fold``.

    The returned result's ``metrics["uar"]`` is the objective (UAR on the inner validation session).
    """
    if not variant.uses_retrieval:
        raise ValueError(f"variant {variant.name} retrieves no personality: there is no k to tune")
    low, high = k_search_space(len(store.clips), 10**9)
    if not low <= k <= high:
        raise ValueError(f"k={k} is outside [{low}, {high}] (the SSPNet bank has {high} clips)")
    return train_fold(store, variant, inner_fold(store.utterances, outer_fold), profile,
                      personality=personality_for_k(k), seed=seed, want_attention=False)
