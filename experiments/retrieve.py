"""The ``retrieve`` step: top-k SSPNet clips per IEMOCAP utterance and the 25-d embedding per speaker (II-C2).

``space`` "PP" compares SHLA latents (from a shla run), "NA" the functionals z-scored over both corpora.
Logs the embeddings table for the given ``k``, the neighbour lists up to ``k_max`` (a record of what each
utterance retrieves; training fits its own ``PersonalitySource`` per fold and k from the same space), and on
the demo corpus the correlation between retrieved and true trait means across speakers. The bank's scores are z-scored per
trait over the SSPNet clips (``bank_scores``): the embeddings are in standard deviations of the clip
scores, whatever scale the corpus' scores came on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from experiments import tracking
from experiments.cache import cache_key
from experiments.featurize import store_of
from experiments.shla import latents_of, load_shla
from paaan.data.schema import TRAITS
from paaan.features.store import FeatureStore
from paaan.personality import PersonalitySource, shuffle_trait, true_profiles
from paaan.retrieval import bank_scores as library_bank_scores
from paaan.retrieval import cross_correlations, k_bounds, standardise_scores, trait_correlations, validate_k

STEP = "retrieve"


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


def truth_table(ground_truth: str | Path | None) -> pd.DataFrame | None:
    if not ground_truth or not Path(ground_truth).is_file():
        return None
    return true_profiles(ground_truth)


def source_inputs(source: PersonalitySource, shla_run: str | None, ground_truth: str | Path | None) -> dict:
    """What a personality source needs to be fitted (``PersonalitySource.needs``), from the upstream steps: the
    SHLA encoder and the latents the shla step logged, the demo corpus' true traits and the trait its planted
    effect follows (which the shuffled control balances)."""
    provide = {"encoder": lambda: load_shla(shla_run),
               "space": lambda: (latents_of(shla_run, "iemocap"), latents_of(shla_run, "sspnet")),
               "traits": lambda: true_profiles(ground_truth or "<no ground_truth.json>"),
               "balance": lambda: shuffle_trait(ground_truth)}
    return {name: provide[name]() for name in source.needs}


def run_retrieve(featurize_run_id: str, space: str, k: int, k_max: int, shla_run_id: str | None = None,
                 ground_truth: str | Path | None = None, parent_run_id: str | None = None,
                 entry: bool = False) -> str:
    store = store_of(featurize_run_id)
    n_clips = len(store.clips)
    _, k_max = k_bounds(n_clips, k_max)
    k = validate_k(k, k_max, "neighbours kept per utterance (k_max)")
    source = PersonalitySource(space, k_max)
    inputs = {"featurize_run": featurize_run_id, "shla_run": shla_run_id if "encoder" in source.needs else None,
              "space": space, "k": k, "k_max": k_max}
    key = cache_key(STEP, inputs)
    cached = tracking.cached_step(STEP, key, entry)
    if cached is not None:
        return cached
    with tracking.step_run(f"retrieve-{space}", STEP, parent_run_id=parent_run_id,
                           tags={tracking.TAG_KEY: key, "paaan.featurize_run": featurize_run_id,
                                 "paaan.space": space}, entry=entry) as run:
        tracking.log_params({k_: v for k_, v in inputs.items() if v is not None} | {"n_clips": n_clips})
        utterances = store.utterances
        # every speaker: the retrieved embeddings are logged as retrieved (training standardises per fold)
        source.fit(store, utterances["speaker"].unique(), **source_inputs(source, shla_run_id, None))
        retriever, queries = source.retriever_, source.queries_
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
