"""Personality embedding retrieval, paper II-C2.

IEMOCAP has no personality labels, so each IEMOCAP speaker is described from the SSPNet corpus' point of
view: every utterance of the speaker retrieves its top-k most cosine-similar SSPNet clips, and the
Big-Five scores of all k x n retrieved clips (n = the speaker's utterances) are summarised by five
statistics per trait into a 25-d personality embedding.

Units: the bank's scores are z-scored per trait over the SSPNet clips first (``standardise_scores``), so
the embedding's columns are in standard deviations of the SSPNet clip scores, and a corpus whose scores
come on another scale (1-5 Likert, 0-100 ratings: ``paaan.data.schema.SCALES``) retrieves the same
embeddings. The functions here take scores in any units and keep them; the pipeline's steps
(``experiments.retrieve.bank_scores``, the registry's bank) pass standardised ones.

The comparison space is either the SHLA code ("PP", ``paaan.shla.SHLA.transform``, paper II-C1) or the
functionals z-scored over the union of both corpora ("NA", ``standardise_pooled``, Table I's PAaAN_NA).

LEAKAGE RULE: a speaker's embedding is computed only from that speaker's own utterances (the pooling in
``embeddings_from_neighbors`` selects the rows of one speaker at a time), and nothing here ever receives
emotion labels: the inputs are acoustic features, speaker ids and SSPNet personality scores only.

Usage in a notebook::

    z, _, _ = standardise_scores(sspnet_scores)                                       # (640, 5), any scale
    retriever = PersonalityRetriever(k=10, space="PP").fit(Z_sspnet, z)                 # (640, 128), (640, 5)
    embeddings = retriever.retrieve(Z_iemocap, iemocap_speakers)                     # (10 speakers, 25)
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from paaan.config import RetrievalConfig
from paaan.data.schema import TRAITS
from paaan.numerics import check_matrix, standardisation_stats

_PAPER = RetrievalConfig()

SPACES = ("PP", "NA")

# II-C2: "mean, standard deviation, median, maximum and minimum", in that order.
STATISTICS: tuple[str, ...] = ("mean", "std", "median", "max", "min")

# The 25 embedding columns, trait-major: column t*5 + s is trait TRAITS[t], statistic STATISTICS[s].
EMBEDDING_COLUMNS: tuple[str, ...] = tuple(f"{t}_{s}" for t in TRAITS for s in STATISTICS)

# cosine_topk works on blocks of query rows whose (block, m) float64 similarity matrix takes about this
# many bytes; the block's peak is about 3x that (similarities, their negation, the argsort's int64 order).
_BLOCK_BYTES = 8 * 2**20


# ------------------------------------------------------------------------------------------ numerics
def cosine_topk(queries: np.ndarray, bank: np.ndarray, k: int,
                block_bytes: int = _BLOCK_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """The k bank rows most cosine-similar to each query: (indices (n, k) int64, similarities (n, k)).

    Sorted by similarity, descending; equal similarities are ordered by the lower bank index (a stable
    sort over the whole row, so the rule also holds at the k-th place). Zero vectors: cosine is undefined
    for them, and here a zero query or zero bank row has similarity 0 with everything (its norm is taken
    as 1), so a zero query retrieves bank rows 0..k-1. Queries are processed in blocks of rows so the
    (block, m) similarity matrix stays near ``block_bytes`` whatever n is (working memory about 3x that,
    plus float64 copies of the inputs and the (n, k) outputs). Similarities are float64.
    """
    B = check_matrix(bank, "bank")
    Q = check_matrix(queries, "queries", B.shape[1])
    k = validate_k(k, B.shape[0])
    q_norm = np.linalg.norm(Q, axis=1)  # (n,)
    b_norm = np.linalg.norm(B, axis=1)  # (m,)
    q_norm[q_norm == 0] = 1.0
    b_norm[b_norm == 0] = 1.0
    n, m = Q.shape[0], B.shape[0]
    rows_per_block = max(1, block_bytes // (8 * m))
    indices = np.empty((n, k), dtype=np.int64)
    similarities = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, rows_per_block):
        stop = min(start + rows_per_block, n)
        # Raw dot products divided by both norms: equal rows give bit-equal similarities (exact ties).
        sim = (Q[start:stop] @ B.T) / q_norm[start:stop, None] / b_norm[None, :]  # (block, m)
        order = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (block, k); stable: lower index first
        indices[start:stop] = order
        similarities[start:stop] = np.take_along_axis(sim, order, axis=1)
    return indices, similarities


def bank_scores(clips: pd.DataFrame) -> np.ndarray:
    """The SSPNet bank's scores as retrieval pools them (n_clips, 5): the clips' trait scores (a feature
    store's ``clips`` table, any scale) z-scored per trait over the clips (``standardise_scores``)."""
    return standardise_scores(clips[list(TRAITS)].to_numpy(np.float64))[0]


def standardise_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score each trait over the bank's clips: (z (m, T), mean (T,), std (T,)) of scores (m, T), T = 5 here.

    The SSPNet scores come on one of several scales (BFI-10 sums in [-4, 4], 1-5 Likert, 0-100 ratings);
    z-scoring makes the retrieved embedding the same for any of them: an affine rescaling x -> a x + b
    (a > 0) of a trait leaves its z-scores unchanged. Population std (ddof=0), as every z-normalisation here;
    a (numerically) constant trait (std below ``paaan.numerics.STD_FLOOR``) gets std 1, so its z-scores
    are 0 instead of float noise blown up. ``z * std + mean`` gives the scores back.
    """
    scores = check_matrix(scores, "scores", unit="traits")
    mean, std = standardisation_stats(scores)  # (T,), (T,)
    return (scores - mean) / std, mean, std


def personality_embedding(scores: np.ndarray) -> np.ndarray:
    """The 25-d personality embedding (II-C2) of retrieved Big-Five scores (N, 5) in TRAITS order.

    Trait-major: element t*5 + s is statistic STATISTICS[s] of trait TRAITS[t]. The standard deviation is
    the population one (ddof=0): the N = k x n retrieved scores are the whole set being described, not a
    sample of a larger one, and it stays defined (0) when N = 1 (k = 1 and a one-utterance speaker).

    The statistics are in the units of ``scores``. The pipeline's are standardised (``standardise_scores``),
    so mean, median, max and min are in standard deviations of the SSPNet clip scores from the clips'
    average (0), and std is a spread in those units.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(TRAITS) or scores.shape[0] == 0:
        raise ValueError(f"scores: expected a non-empty (N, {len(TRAITS)}) array in TRAITS order, "
                         f"got shape {scores.shape}")
    stats = np.stack([
        scores.mean(axis=0),
        scores.std(axis=0, ddof=0),
        np.median(scores, axis=0),
        scores.max(axis=0),
        scores.min(axis=0),
    ], axis=1)  # (5 traits, 5 statistics)
    return stats.reshape(-1)  # (25,), trait-major


def k_bounds(n_clips: int, k_max: int) -> tuple[int, int]:
    """The range (1, min(k_max, n_clips)) that k may take when it is tuned (a clip is retrieved once at most)."""
    if n_clips < 1 or k_max < 1:
        raise ValueError(f"k_bounds: need n_clips >= 1 and k_max >= 1, got n_clips={n_clips}, k_max={k_max}")
    return 1, min(int(k_max), int(n_clips))


def validate_k(k, n_clips: int, bound: str = "clips available to retrieve from") -> int:
    """``k`` as an int, or ValueError naming k and the bound it breaks (1 <= k <= n_clips, an integer)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be an integer, got {k!r} ({type(k).__name__})")
    if k < 1:
        raise ValueError(f"k must be >= 1, got k={k}")
    if k > n_clips:
        raise ValueError(f"k={k} exceeds the {n_clips} {bound} (k <= {n_clips})")
    return int(k)


def embeddings_from_neighbors(neighbor_indices: np.ndarray, bank_scores: np.ndarray, speakers, k: int) -> pd.DataFrame:
    """Per-speaker 25-d embeddings from precomputed neighbour lists (n, k_max), using the first k columns.

    The fast path for tuning k: retrieve once with k_max, then every k <= k_max costs one pooling pass and
    gives exactly what ``PersonalityRetriever.retrieve`` gives with that k (neighbour lists are sorted, so
    the top k are the first k of the top k_max). Rows of ``neighbor_indices`` and ``speakers`` align.

    Leakage rule: each speaker's embedding pools the k x n scores retrieved by that speaker's own n
    utterances, and nothing else. Returns a DataFrame indexed by speaker (sorted) with EMBEDDING_COLUMNS.
    """
    neighbor_indices = np.asarray(neighbor_indices)
    bank_scores = _check_scores(bank_scores)
    if neighbor_indices.ndim != 2:
        raise ValueError(f"neighbor_indices: expected (n, k_max), got shape {neighbor_indices.shape}")
    k = validate_k(k, neighbor_indices.shape[1], "precomputed neighbours per utterance (k_max)")
    if neighbor_indices.size and (neighbor_indices.min() < 0 or neighbor_indices.max() >= len(bank_scores)):
        raise ValueError(f"neighbor_indices must index the {len(bank_scores)} bank clips")
    codes, names = _speaker_codes(speakers, neighbor_indices.shape[0])
    retrieved = bank_scores[neighbor_indices[:, :k]]  # (n, k, 5)
    rows = []
    for code in range(len(names)):
        own = retrieved[codes == code]  # (n_s, k, 5): this speaker's utterances only
        rows.append(personality_embedding(own.reshape(-1, len(TRAITS))))  # pool k x n_s scores -> (25,)
    return pd.DataFrame(np.array(rows).reshape(len(names), len(EMBEDDING_COLUMNS)),
                        index=pd.Index(names, name="speaker"), columns=list(EMBEDDING_COLUMNS))


def pooled_stats(corpora: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(mean (F,), std (F,)) of the UNION of all corpora's rows: the statistics of the "NA" space
    (``standardise_pooled``), kept by a model that serves NA retrieval."""
    if not isinstance(corpora, dict) or not corpora:
        raise ValueError("corpora must be a non-empty dict: corpus name -> (n, F) array")
    data = {name: check_matrix(X, f"features of {name!r}") for name, X in corpora.items()}
    widths = {name: X.shape[1] for name, X in data.items()}
    if len(set(widths.values())) != 1:
        raise ValueError(f"all corpora must have the same functionals; widths per corpus: {widths}")
    return standardisation_stats(np.concatenate(list(data.values())))


def standardise_pooled(corpora: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The "NA" retrieval space: every corpus z-scored with the mean and std of the UNION of all corpora.

    Table I's PAaAN_NA retrieves "using the 1583 dimensional acoustic features without SHLA". Cosine on
    raw functionals would be dominated by the columns with the largest units, so they are put on one
    scale, but with statistics pooled over both corpora (``pooled_stats``): no per-corpus correction, so the
    channel difference between IEMOCAP and SSPNet stays in the space. That difference is what the SHLA is
    there to remove, and keeping it is what "no adaptation" means here. Returns name -> (n, F) float64.
    """
    mean, std = pooled_stats(corpora)  # (F,), (F,) over the union
    return {name: (np.asarray(X, dtype=np.float64) - mean) / std for name, X in corpora.items()}


def trait_correlations(embeddings: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Pearson r per trait, across speakers, between the retrieved ``<trait>_mean`` and the true score.

    A diagnostic for the demo corpus, whose ground_truth.json knows each speaker's Big-Five profile.
    ``embeddings``: indexed by speaker, with ``<trait>_mean`` columns; ``truth``: indexed by speaker, one
    column per trait. Rows are matched by speaker; every embedded speaker must be in ``truth``. r is NaN
    for a trait whose retrieved means or true scores are constant across speakers (r is undefined there).
    """
    missing_cols = [f"{t}_mean" for t in TRAITS if f"{t}_mean" not in embeddings.columns]
    missing_cols += [t for t in TRAITS if t not in truth.columns]
    if missing_cols:
        raise ValueError(f"trait_correlations: missing columns {missing_cols}")
    missing = [s for s in embeddings.index if s not in truth.index]
    if missing:
        raise ValueError(f"trait_correlations: speakers without a true profile: {missing}")
    if len(embeddings) < 2:
        raise ValueError(f"trait_correlations: need at least 2 speakers, got {len(embeddings)}")
    true = truth.loc[embeddings.index]
    r = {}
    for t in TRAITS:
        x = embeddings[f"{t}_mean"].to_numpy(np.float64)
        y = true[t].to_numpy(np.float64)
        r[t] = np.nan if x.std() == 0 or y.std() == 0 else float(np.corrcoef(x, y)[0, 1])
    return pd.Series(r, name="pearson_r").rename_axis("trait")


def cross_correlations(embeddings: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Pearson r across speakers of every retrieved ``<trait>_mean`` (rows) with every true trait (columns).

    The diagonal is ``trait_correlations``; the rest says where a retrieved trait's information comes from. On
    the demo corpus openness is barely audible (its ``TRAIT_VOICE`` row is the weakest), so retrieved openness
    follows the traits the voice does carry (agreeableness, extraversion), and its diagonal r is whatever the
    draw's correlation between true openness and those traits makes it (seed 0: r(O, A) = -0.81 among the ten
    speakers, so r(retrieved O, true O) is negative).
    """
    true = truth.loc[embeddings.index, list(TRAITS)].astype(float)
    rows = {}
    for t in TRAITS:
        x = embeddings[f"{t}_mean"].to_numpy(np.float64)
        rows[t] = {u: (np.nan if x.std() == 0 or true[u].std() == 0 else float(np.corrcoef(x, true[u])[0, 1]))
                   for u in TRAITS}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("retrieved")


# ------------------------------------------------------------------------------------- the estimator
class PersonalityRetriever(BaseEstimator):
    """Top-k cosine retrieval of SSPNet clips and the per-speaker 25-d personality embedding (II-C2).

    ``fit(bank_features (m, d), bank_scores (m, 5))`` stores the bank: SSPNet clips in the retrieval space
    (``space``: "PP" = SHLA latents, "NA" = pooled-standardised functionals; the retriever does not compute
    the space, it records which one its inputs are in) and their Big-Five scores averaged over raters, in
    TRAITS order, in any units (the embedding keeps them): paaan passes them z-scored over the clips
    (``standardise_scores``), which makes the embedding independent of the corpus' score scale. Queries
    must be in the same space.

    LEAKAGE RULE: a speaker's embedding is computed only from that speaker's own utterances (see
    ``embeddings_from_neighbors``), and the API never receives emotion labels: ``retrieve`` takes features
    and speaker ids only.

    Learned attributes: ``bank_features_``, ``bank_scores_``, ``clip_ids_`` (None unless given),
    ``n_clips_``.
    """

    def __init__(self, k: int = _PAPER.k, space: str = _PAPER.space):
        self.k = k
        self.space = space

    @classmethod
    def from_config(cls, config: RetrievalConfig) -> "PersonalityRetriever":
        return cls(k=config.k, space=config.space)

    def fit(self, bank_features: np.ndarray, bank_scores: np.ndarray, clip_ids=None) -> "PersonalityRetriever":
        """Store the bank; ``clip_ids`` (optional, length m) name the clips in ``neighbors_table``."""
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        features = check_matrix(bank_features, "bank_features")
        scores = _check_scores(bank_scores)
        if len(scores) != len(features):
            raise ValueError(f"bank_features has {len(features)} clips but bank_scores has {len(scores)}")
        if clip_ids is not None and len(clip_ids) != len(features):
            raise ValueError(f"clip_ids has {len(clip_ids)} entries for {len(features)} clips")
        validate_k(self.k, len(features))
        self.bank_features_ = features
        self.bank_scores_ = scores
        self.clip_ids_ = None if clip_ids is None else np.asarray(clip_ids)
        self.n_clips_ = len(features)
        return self

    def kneighbors(self, X: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices (n, k) into the bank, cosine similarities (n, k)), most similar first (as cosine_topk)."""
        self._check_fitted()
        return cosine_topk(X, self.bank_features_, self._k(k))

    def retrieve(self, X: np.ndarray, speakers, k: int | None = None) -> pd.DataFrame:
        """Per-speaker 25-d embeddings (DataFrame indexed by speaker, EMBEDDING_COLUMNS) of utterances X (n, d).

        ``speakers`` (length n) names the speaker of each row of X. Each speaker's k x n retrieved scores are
        pooled and summarised by ``personality_embedding``; no other speaker's rows enter it.
        """
        k = self._k(k)
        indices, _ = self.kneighbors(X, k)  # (n, k)
        return embeddings_from_neighbors(indices, self.bank_scores_, speakers, k)

    def neighbors_table(self, X: np.ndarray, utterance_ids, k: int | None = None) -> pd.DataFrame:
        """Long table for logging: utterance_id, rank (1 = most similar), clip_index, [clip_id,] similarity."""
        indices, similarities = self.kneighbors(X, k)  # (n, k) each
        n, k = indices.shape
        utterance_ids = np.asarray(utterance_ids)
        if utterance_ids.shape != (n,):
            raise ValueError(f"utterance_ids has shape {utterance_ids.shape}, expected ({n},) for {n} rows of X")
        table = pd.DataFrame({
            "utterance_id": np.repeat(utterance_ids, k),
            "rank": np.tile(np.arange(1, k + 1), n),
            "clip_index": indices.reshape(-1),
        })
        if self.clip_ids_ is not None:
            table["clip_id"] = self.clip_ids_[indices.reshape(-1)]
        table["similarity"] = similarities.reshape(-1)
        return table

    def _k(self, k: int | None) -> int:
        self._check_fitted()
        return validate_k(self.k if k is None else k, self.n_clips_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "bank_features_"):
            raise RuntimeError("this PersonalityRetriever is not fitted yet: call fit(bank_features, bank_scores)")


# ------------------------------------------------------------------------------------------ helpers
def _check_scores(scores: np.ndarray) -> np.ndarray:
    # Finite (m, 5) only: no range, since standardised scores (z) have none, and the corpus reader
    # (paaan.data.sspnet) has already checked the raw scores against their scale's range.
    return check_matrix(scores, "bank_scores", len(TRAITS))


def _speaker_codes(speakers, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per row (n,) and the sorted unique speaker names."""
    speakers = np.asarray(speakers)
    if speakers.shape != (n,):
        raise ValueError(f"speakers has shape {speakers.shape}, expected ({n},): one speaker per row of X")
    codes, names = pd.factorize(speakers, sort=True)
    return codes, np.asarray(names)
