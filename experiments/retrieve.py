"""The ``retrieve`` step: top-k SSPNet clips per IEMOCAP utterance and the 25-d embedding per speaker (II-C2).

``space`` "PP" compares SHLA latents (from a shla run), "NA" the functionals z-scored over both corpora.
Logs the embeddings table for the given ``k``, the neighbour lists up to ``k_max`` (so any k <= k_max can
be pooled later without retrieving again, which is how the ablation tunes k), and on the demo corpus the
correlation between retrieved and true trait means across speakers. The bank's scores are z-scored per
trait over the SSPNet clips (``bank_scores``): the embeddings are in standard deviations of the clip
scores, whatever scale the corpus' scores came on.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from experiments import tracking
from experiments.cache import cache_key
from experiments.featurize import store_of
from experiments.shla import latents_of
from paaan.data.schema import TRAITS
from paaan.features.store import FeatureStore
from paaan.personality import true_profiles
from paaan.retrieval import bank_scores as library_bank_scores
from paaan.retrieval import PersonalityRetriever, cross_correlations, embeddings_from_neighbors, k_bounds, \
    standardise_pooled, standardise_scores, trait_correlations, validate_k

STEP = "retrieve"


def retrieval_space(store: FeatureStore, space: str, shla_run_id: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(IEMOCAP utterances, SSPNet clips) in the retrieval space: SHLA latents (PP) or pooled z-scores (NA)."""
    if space == "PP":
        if not shla_run_id:
            raise ValueError("space PP needs a shla run")
        return latents_of(shla_run_id, "iemocap"), latents_of(shla_run_id, "sspnet")
    if space == "NA":
        pooled = standardise_pooled({"iemocap": np.asarray(store.functionals("iemocap")),
                                     "sspnet": np.asarray(store.functionals("sspnet"))})
        return pooled["iemocap"], pooled["sspnet"]
    raise ValueError(f"space must be PP or NA, got {space!r}")


def clip_scores(store: FeatureStore) -> np.ndarray:
    """The SSPNet clips' Big-Five scores (n_clips, 5) in TRAITS order, in their scale's own units."""
    return store.clips[list(TRAITS)].to_numpy(np.float64)


def bank_scores(store: FeatureStore) -> np.ndarray:
    """The bank's scores as retrieval pools them (n_clips, 5): each trait z-scored over the SSPNet clips
    (``paaan.retrieval.bank_scores``, which the personality source and the registered model use too)."""
    return library_bank_scores(store.clips)


def sspnet_scale(store: FeatureStore) -> str:
    """The scale the store's SSPNet scores were read on (stores written before scales existed: bfi10)."""
    return store.manifest.get("summary", {}).get("sspnet_scale", "bfi10")


@dataclass
class Neighbours:
    """Precomputed top-k_max neighbours of every utterance, and the bank's scores: embeddings for any k."""

    indices: np.ndarray  # (n_utterances, k_max) indices into the SSPNet clips
    bank_scores: np.ndarray  # (n_clips, 5), standardised (``bank_scores``)
    speakers: np.ndarray  # (n_utterances,)

    def embeddings(self, k: int) -> pd.DataFrame:
        return embeddings_from_neighbors(self.indices, self.bank_scores, self.speakers, k)


def truth_table(ground_truth: str | Path | None) -> pd.DataFrame | None:
    if not ground_truth or not Path(ground_truth).is_file():
        return None
    return true_profiles(ground_truth)


def run_retrieve(featurize_run_id: str, space: str, k: int, k_max: int, shla_run_id: str | None = None,
                 ground_truth: str | Path | None = None, parent_run_id: str | None = None,
                 entry: bool = False) -> str:
    store = store_of(featurize_run_id)
    n_clips = len(store.clips)
    _, k_max = k_bounds(n_clips, k_max)
    k = validate_k(k, k_max, "neighbours kept per utterance (k_max)")
    inputs = {"featurize_run": featurize_run_id, "shla_run": shla_run_id if space == "PP" else None,
              "space": space, "k": k, "k_max": k_max}
    key = cache_key(STEP, inputs)
    cached = tracking.cached_step(STEP, key, entry)
    if cached is not None:
        return cached
    with tracking.step_run(f"retrieve-{space}", STEP, parent_run_id=parent_run_id,
                           tags={tracking.TAG_KEY: key, "paaan.featurize_run": featurize_run_id,
                                 "paaan.space": space}, entry=entry) as run:
        tracking.log_params({k_: v for k_, v in inputs.items() if v is not None} | {"n_clips": n_clips})
        queries, bank = retrieval_space(store, space, shla_run_id)
        scores = bank_scores(store)  # (n_clips, 5) z-scores
        retriever = PersonalityRetriever(k=k, space=space).fit(bank, scores, clip_ids=store.clips["clip"].to_numpy())
        utterances = store.utterances
        neighbors = retriever.neighbors_table(queries, utterances["utterance_id"].to_numpy(), k=k_max)
        embeddings = retriever.retrieve(queries, utterances["speaker"].to_numpy(), k=k)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            neighbors.to_parquet(tmp / "neighbors.parquet", index=False)
            embeddings.to_csv(tmp / "embeddings.csv")
            mlflow.log_artifact(str(tmp / "neighbors.parquet"))
            mlflow.log_artifact(str(tmp / "embeddings.csv"))
        truth = truth_table(ground_truth)
        if truth is not None:
            r = trait_correlations(embeddings, truth)
            mlflow.log_metrics({f"truth_r_{t}": float(v) for t, v in r.items() if np.isfinite(v)})
            # Correlation ignores an offset (and the standardisation); a channel-biased space shifts every
            # speaker's retrieved scores. The bias is in the scale's units (the z-scores undone), to compare
            # with the ground truth, which is in BFI-10 units: on another scale the two share no unit, so
            # there is no bias to log.
            if sspnet_scale(store) == "bfi10":
                _, mean, std = standardise_scores(clip_scores(store))  # (5,), (5,)
                bias = {t: float((embeddings[f"{t}_mean"] * std[i] + mean[i] - truth.loc[embeddings.index, t]).mean())
                        for i, t in enumerate(TRAITS)}
                mlflow.log_metrics({f"truth_bias_{t}": v for t, v in bias.items()})
            mlflow.log_metric("truth_r_mean", float(np.nanmean(r.to_numpy())))
            # where each retrieved trait's information comes from, and how the draw's true traits go together
            mlflow.log_text(cross_correlations(embeddings, truth).round(3).to_csv(), "truth_cross_r.csv")
            mlflow.log_text(truth.loc[embeddings.index].corr().round(3).rename_axis("trait").to_csv(),
                            "truth_trait_r.csv")
            print(f"retrieve {space}, k={k}: r(retrieved mean, true) per trait: "
                  + ", ".join(f"{t[:4]} {v:+.2f}" for t, v in r.items()), flush=True)
        return run.info.run_id


def neighbours_of(run_id: str, featurize_run_id: str) -> Neighbours:
    """The neighbour lists of a retrieve run, in the feature store's utterance order."""
    store = store_of(featurize_run_id)
    table = pd.read_parquet(tracking.local_artifact_dir(run_id, "neighbors.parquet"))
    k_max = int(table["rank"].max())
    order = {u: i for i, u in enumerate(store.utterances["utterance_id"])}
    indices = np.zeros((len(order), k_max), dtype=np.int64)
    rows = table["utterance_id"].map(order).to_numpy()
    indices[rows, table["rank"].to_numpy() - 1] = table["clip_index"].to_numpy()
    return Neighbours(indices, bank_scores(store), store.utterances["speaker"].to_numpy())
