"""Personality embedding retrieval (paper II-C2): cosine top-k, the 25 statistics, k bounds, leakage."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from paaan.data import load_sspnet
from paaan.data.schema import TRAITS
from paaan.retrieval import (EMBEDDING_COLUMNS, STATISTICS, PersonalityRetriever, cosine_topk,
                             embeddings_from_neighbors, k_bounds, personality_embedding, standardise_pooled,
                             standardise_scores, trait_correlations, validate_k)


def brute_force_topk(queries, bank, k):
    """Pair by pair: sort bank rows by (-cosine, index)."""
    indices, sims = [], []
    for q in queries:
        cos = [float(np.dot(q, b)) / (np.linalg.norm(q) * np.linalg.norm(b)) for b in bank]
        order = sorted(range(len(bank)), key=lambda j: (-cos[j], j))[:k]
        indices.append(order)
        sims.append([cos[j] for j in order])
    return np.array(indices), np.array(sims)


# ------------------------------------------------------------------------------------- the 25 statistics
def test_embedding_has_25_dimensions_in_trait_major_order():
    assert STATISTICS == ("mean", "std", "median", "max", "min")
    assert len(EMBEDDING_COLUMNS) == 25
    assert EMBEDDING_COLUMNS[0] == "openness_mean"
    assert EMBEDDING_COLUMNS[7] == "conscientiousness_median"  # t=1, s=2 -> 1*5 + 2
    assert EMBEDDING_COLUMNS[24] == "neuroticism_min"


def test_personality_embedding_of_three_retrieved_clips_by_hand():
    scores = np.array([
        # O     C     E     A     N
        [1.0, -2.0, 0.0, 3.0, -1.0],
        [2.0, -2.0, 1.0, 1.0, -3.0],
        [3.0, -2.0, 4.0, -1.0, -4.0],
    ])
    expected = [
        # openness 1, 2, 3: population std sqrt((1 + 0 + 1) / 3)
        2.0, np.sqrt(2 / 3), 2.0, 3.0, 1.0,
        # conscientiousness constant -2
        -2.0, 0.0, -2.0, -2.0, -2.0,
        # extraversion 0, 1, 4: mean 5/3, deviations -5/3, -2/3, 7/3 -> variance 78/27 -> std sqrt(26)/3
        5 / 3, np.sqrt(26) / 3, 1.0, 4.0, 0.0,
        # agreeableness 3, 1, -1: variance (4 + 0 + 4) / 3
        1.0, np.sqrt(8 / 3), 1.0, 3.0, -1.0,
        # neuroticism -1, -3, -4: mean -8/3, deviations 5/3, -1/3, -4/3 -> variance 42/27 -> std sqrt(14)/3
        -8 / 3, np.sqrt(14) / 3, -3.0, -1.0, -4.0,
    ]
    np.testing.assert_allclose(personality_embedding(scores), expected, rtol=1e-12)


def test_std_is_the_population_std_so_one_clip_gives_zero():
    np.testing.assert_array_equal(personality_embedding(np.array([[1.0, 2, 3, 4, -4]]))[1::5], np.zeros(5))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        personality_embedding(np.zeros((3, 4)))


# ------------------------------------------------------------------------------------------- cosine top-k
@pytest.mark.parametrize("k", [1, 5, 23])
def test_cosine_topk_matches_brute_force_in_small_blocks(k):
    rng = np.random.default_rng(k)
    queries, bank = rng.normal(size=(37, 6)), rng.normal(size=(23, 6))
    # block_bytes for 4 query rows per block: 37 rows -> 10 blocks, the last one short
    indices, sims = cosine_topk(queries, bank, k, block_bytes=4 * 8 * 23)
    expected_idx, expected_sims = brute_force_topk(queries, bank, k)
    assert indices.dtype == np.int64 and indices.shape == sims.shape == (37, k)
    np.testing.assert_array_equal(indices, expected_idx)
    np.testing.assert_allclose(sims, expected_sims, rtol=1e-12)


def test_cosine_topk_breaks_ties_by_lower_bank_index():
    # query (1, 0); cosines: (0,1) 0, (2,0) 1, (1,1) 1/sqrt(2), (1,0) 1, (4,0) 1 -> 1, 3, 4 tie at 1
    bank = np.array([[0, 1], [2, 0], [1, 1], [1, 0], [4, 0]], dtype=float)
    indices, sims = cosine_topk(np.array([[1.0, 0.0]]), bank, 5)
    assert indices.tolist() == [[1, 3, 4, 2, 0]]
    np.testing.assert_allclose(sims, [[1, 1, 1, 1 / np.sqrt(2), 0]])
    # k cuts inside the tie: the lower indices win
    assert cosine_topk(np.array([[1.0, 0.0]]), bank, 2)[0].tolist() == [[1, 3]]


def test_cosine_topk_with_many_exact_ties_matches_brute_force():
    rng = np.random.default_rng(0)
    base = rng.integers(-3, 4, size=(6, 4)).astype(float)
    base[np.all(base == 0, axis=1)] = 1.0
    bank = np.concatenate([base, base[::-1], 2 * base, 4 * base])  # duplicates and power-of-2 multiples: exact ties
    queries = rng.integers(-3, 4, size=(15, 4)).astype(float) + 0.5
    for k in (1, 4, 13, 24):
        indices, _ = cosine_topk(queries, bank, k, block_bytes=8 * 24 * 2)
        np.testing.assert_array_equal(indices, brute_force_topk(queries, bank, k)[0])


def test_zero_vectors_have_similarity_zero():
    bank = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    indices, sims = cosine_topk(np.array([[1.0, 0.0], [-2.0, 0.0], [0.0, 0.0]]), bank, 3)
    assert indices.tolist() == [[0, 1, 2], [2, 1, 0], [0, 1, 2]]  # zero query: all 0, index order
    np.testing.assert_array_equal(sims, [[1, 0, -1], [1, 0, -1], [0, 0, 0]])


def test_cosine_topk_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="expected 3 dimensions"):
        cosine_topk(np.ones((2, 4)), np.ones((5, 3)), 1)


# ---------------------------------------------------------------------------------------------- k bounds
def test_k_bounds_cap_at_the_number_of_clips():
    assert k_bounds(640, 50) == (1, 50)
    assert k_bounds(30, 50) == (1, 30)


@pytest.mark.parametrize("k, message", [
    (0, "k must be >= 1, got k=0"),
    (11, r"k=11 exceeds the 10 clips available to retrieve from \(k <= 10\)"),
    (2.5, "k must be an integer, got 2.5"),
    (3.0, "k must be an integer, got 3.0"),
    ("3", "k must be an integer"),
    (True, "k must be an integer"),
])
def test_bad_k_is_a_clear_error(k, message):
    with pytest.raises(ValueError, match=message):
        validate_k(k, 10)


def test_validate_k_accepts_numpy_integers():
    assert validate_k(np.int64(10), 10) == 10


# ------------------------------------------------------------------------------------ the retriever
# Four clips on the unit circle and their Big-Five scores (O, C, E, A, N)
BANK = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
SCORES = np.array([
    [1.0, 0.0, 2.0, -1.0, 3.0],
    [3.0, 0.0, -2.0, -1.0, 1.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [4.0, -4.0, 2.0, 2.0, -2.0],
])


def test_retrieve_pools_the_k_x_n_scores_of_each_speaker_by_hand():
    # A's utterances retrieve clips (0, 1) and (1, 0); B's utterance retrieves (2, 3).
    X = np.array([[1.0, 0.1], [-1.0, -0.2], [0.1, 1.0]])
    speakers = ["A", "B", "A"]
    retriever = PersonalityRetriever(k=2).fit(BANK, SCORES)
    emb = retriever.retrieve(X, speakers)
    assert emb.index.tolist() == ["A", "B"] and emb.index.name == "speaker"
    assert emb.columns.tolist() == list(EMBEDDING_COLUMNS)
    expected_a = [  # pooled: clip 0, clip 1, clip 1, clip 0
        2, 1, 2, 3, 1,      # O: 1, 3, 3, 1
        0, 0, 0, 0, 0,      # C: all 0
        0, 2, 0, 2, -2,     # E: 2, -2, -2, 2
        -1, 0, -1, -1, -1,  # A: all -1
        2, 1, 2, 3, 1,      # N: 3, 1, 1, 3
    ]
    expected_b = [  # pooled: clip 2, clip 3
        2, 2, 2, 4, 0,      # O: 0, 4
        -2, 2, -2, 0, -4,   # C: 0, -4
        1, 1, 1, 2, 0,      # E: 0, 2
        1, 1, 1, 2, 0,      # A: 0, 2
        -1, 1, -1, 0, -2,   # N: 0, -2
    ]
    np.testing.assert_allclose(emb.loc["A"].to_numpy(), expected_a)
    np.testing.assert_allclose(emb.loc["B"].to_numpy(), expected_b)


def random_problem(seed=0, n=60, m=25, d=8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    bank = rng.normal(size=(m, d))
    scores = rng.uniform(-4, 4, size=(m, 5))
    speakers = rng.choice(["s1", "s2", "s3", "s4"], size=n)
    return X, bank, scores, speakers


def test_embeddings_from_neighbors_equal_retrieve_for_every_k():
    X, bank, scores, speakers = random_problem()
    retriever = PersonalityRetriever(k=3).fit(bank, scores)
    neighbors, _ = retriever.kneighbors(X, k=12)
    for k in range(1, 13):
        pd.testing.assert_frame_equal(embeddings_from_neighbors(neighbors, scores, speakers, k),
                                      retriever.retrieve(X, speakers, k=k))
    with pytest.raises(ValueError, match=r"k=13 exceeds the 12 precomputed neighbours"):
        embeddings_from_neighbors(neighbors, scores, speakers, 13)


def test_an_utterance_of_speaker_a_never_changes_speaker_bs_embedding():
    X, bank, scores, speakers = random_problem()
    retriever = PersonalityRetriever(k=5).fit(bank, scores)
    before = retriever.retrieve(X, speakers)
    extra = np.random.default_rng(9).normal(size=(3, X.shape[1]))
    after = retriever.retrieve(np.concatenate([X, extra]), np.concatenate([speakers, ["s1"] * 3]))
    pd.testing.assert_frame_equal(after.drop(index="s1"), before.drop(index="s1"))
    assert not np.allclose(after.loc["s1"], before.loc["s1"])
    # and the order of the rows does not matter, only whose they are
    order = np.random.default_rng(1).permutation(len(X))
    pd.testing.assert_frame_equal(retriever.retrieve(X[order], speakers[order]), before)


def test_neighbors_table_is_long_with_ranks_from_one():
    retriever = PersonalityRetriever(k=2).fit(BANK, SCORES, clip_ids=["c0", "c1", "c2", "c3"])
    table = retriever.neighbors_table(np.array([[1.0, 0.1], [-1.0, -0.2]]), ["u1", "u2"])
    assert table.columns.tolist() == ["utterance_id", "rank", "clip_index", "clip_id", "similarity"]
    assert table["utterance_id"].tolist() == ["u1", "u1", "u2", "u2"]
    assert table["rank"].tolist() == [1, 2, 1, 2]
    assert table["clip_index"].tolist() == [0, 1, 2, 3]
    assert table["clip_id"].tolist() == ["c0", "c1", "c2", "c3"]
    # cos((1, 0.1), (1, 0)) = 1 / sqrt(1.01); cos((-1, -0.2), (0, -1)) = 0.2 / sqrt(1.04)
    np.testing.assert_allclose(table["similarity"], [1 / np.sqrt(1.01), 0.1 / np.sqrt(1.01),
                                                     1 / np.sqrt(1.04), 0.2 / np.sqrt(1.04)])


def test_retriever_defaults_and_input_errors():
    assert PersonalityRetriever().get_params() == {"k": 10, "space": "PP"}
    with pytest.raises(ValueError, match="k=5 exceeds the 4 clips"):
        PersonalityRetriever(k=5).fit(BANK, SCORES)
    with pytest.raises(ValueError, match="space must be one of"):
        PersonalityRetriever(k=1, space="raw").fit(BANK, SCORES)
    bad = SCORES.copy()
    bad[2, 4] = np.nan
    with pytest.raises(ValueError, match="bank_scores: non-finite value at row 2, column 4"):
        PersonalityRetriever(k=1).fit(BANK, bad)
    with pytest.raises(ValueError, match="bank_scores: expected 5 dimensions per row, got 4"):
        PersonalityRetriever(k=1).fit(BANK, SCORES[:, :4])
    # Standardised scores have no range: a clip 4.5 standard deviations out is a valid bank score.
    bad[2, 4] = 4.5
    PersonalityRetriever(k=1).fit(BANK, bad)
    with pytest.raises(ValueError, match="one speaker per row"):
        PersonalityRetriever(k=1).fit(BANK, SCORES).retrieve(BANK, ["a", "b"])
    with pytest.raises(RuntimeError, match="not fitted"):
        PersonalityRetriever().retrieve(BANK, list("abcd"))


# ------------------------------------------------------------------------------------- NA space, diagnostics
def test_standardise_pooled_uses_the_union_and_keeps_the_corpus_offset():
    # union 0, 2, 4, 6: mean 3, population std sqrt((9 + 1 + 1 + 9) / 4) = sqrt(5)
    out = standardise_pooled({"iemocap": np.array([[0.0], [2.0]]), "sspnet": np.array([[4.0], [6.0]])})
    np.testing.assert_allclose(out["iemocap"], np.array([[-3.0], [-1.0]]) / np.sqrt(5))
    np.testing.assert_allclose(out["sspnet"], np.array([[1.0], [3.0]]) / np.sqrt(5))


def test_trait_correlations_by_hand():
    emb = pd.DataFrame({f"{t}_mean": v for t, v in zip(TRAITS, [
        [1, 2, 3], [1, 2, 3], [1, 2, 3], [0, 0, 1], [1, 2, 3]])}, index=["a", "b", "c"])
    truth = pd.DataFrame({t: v for t, v in zip(TRAITS, [
        [6, 2, 4], [1, 3, 2], [2, 1, 3], [3, 1, 2], [5, 5, 5]])}, index=["c", "a", "b"])  # other row order
    r = trait_correlations(emb, truth)
    # aligned truth (a, b, c): O 2, 4, 6 -> r 1; C 3, 2, 1 -> r -1;
    # E 1, 3, 2: deviations (-1, 0, 1) . (-1, 1, 0) = 1, variances 2 and 2 -> r 0.5;
    # A x 0, 0, 1 vs 1, 2, 3: cov 1, var_x 2/3, var_y 2 -> r 1 / sqrt(4/3) = sqrt(3)/2; N constant truth -> NaN
    assert r.index.tolist() == list(TRAITS)
    np.testing.assert_allclose(r.to_numpy()[:4], [1.0, -1.0, 0.5, np.sqrt(3) / 2])
    assert np.isnan(r["neuroticism"])
    with pytest.raises(ValueError, match=r"without a true profile: \['d'\]"):
        trait_correlations(pd.concat([emb, emb.iloc[[0]].rename(index={"a": "d"})]), truth)


# ------------------------------------------------------------------------------------- score scales
def test_standardise_scores_by_hand():
    scores = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])  # (3 clips, 2 traits); the second is constant
    z, mean, std = standardise_scores(scores)
    # column 0: mean 3, population variance (4 + 0 + 4) / 3 = 8/3, so z = -+2 / sqrt(8/3) = -+sqrt(3/2);
    # column 1: constant, std 0 is floored to 1, so z = 0
    np.testing.assert_allclose(mean, [3.0, 2.0])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 1.0])
    np.testing.assert_allclose(z, [[-np.sqrt(1.5), 0.0], [0.0, 0.0], [np.sqrt(1.5), 0.0]])
    np.testing.assert_allclose(z * std + mean, scores)  # undone exactly (the bias metrics rely on it)
    # the same clips on another scale, x -> (x + 4) * 12.5: the same z-scores
    np.testing.assert_allclose(standardise_scores((scores + 4) * 12.5)[0], z, atol=1e-12)
    with pytest.raises(ValueError, match="non-finite value at row 1, column 0"):
        standardise_scores(np.array([[1.0, 2.0], [np.inf, 2.0]]))


def rescaled_copy(sspnet: Path, out: Path, rescale) -> Path:
    """A copy of an SSPNet folder whose every rater file's scores are rescaled (x -> rescale(x))."""
    shutil.copytree(sspnet, out)
    files = sorted((out / "Personality_Scores").glob("*.csv"))
    assert files
    for path in files:
        table = pd.read_csv(path, dtype={"clip": str})
        traits = [c for c in table.columns if c != "clip"]  # full names, or initials (the demo's quirk)
        assert len(traits) == len(TRAITS)
        table[traits] = rescale(table[traits].astype(float))
        table.to_csv(path, index=False)
    return out


@pytest.mark.parametrize("scale, rescale", [
    ("continuous100", lambda x: (x + 4) * 12.5),  # [-4, 4] -> [0, 100]
    ("likert5", lambda x: (x + 4) / 2 + 1),       # [-4, 4] -> [1, 5]
])
def test_a_rescaled_corpus_gives_the_same_retrieved_embeddings_after_standardisation(tiny_corpus, tmp_path,
                                                                                     scale, rescale):
    original = load_sspnet(tiny_corpus / "SSPNet")
    copy = load_sspnet(rescaled_copy(tiny_corpus / "SSPNet", tmp_path / "SSPNet", rescale))
    assert original.attrs["scale"] == "bfi10" and copy.attrs["scale"] == scale
    assert copy["clip"].tolist() == original["clip"].tolist()
    raw, raw_copy = (c[list(TRAITS)].to_numpy(np.float64) for c in (original, copy))
    np.testing.assert_allclose(raw_copy, rescale(raw), atol=1e-9)  # the clips table keeps the scale's units
    assert not np.allclose(raw_copy, raw)
    z, z_copy = standardise_scores(raw)[0], standardise_scores(raw_copy)[0]
    np.testing.assert_allclose(z_copy, z, rtol=0, atol=1e-9)
    # the same neighbour lists pooled from either bank: the same 25-d embeddings
    rng = np.random.default_rng(0)
    neighbors = rng.integers(0, len(raw), size=(40, 6))  # (40 utterances, k_max 6)
    speakers = rng.choice(["s1", "s2", "s3", "s4", "s5"], size=40)
    for k in (1, 3, 6):
        a = embeddings_from_neighbors(neighbors, z, speakers, k)
        b = embeddings_from_neighbors(neighbors, z_copy, speakers, k)
        np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0, atol=1e-9)
    # undoing the standardisation of a retrieved mean gives the raw scores' mean (what truth_bias_* logs)
    _, mean, std = standardise_scores(raw)
    from_raw = embeddings_from_neighbors(neighbors, raw, speakers, 6)
    for i, t in enumerate(TRAITS):
        np.testing.assert_allclose(a[f"{t}_mean"] * std[i] + mean[i], from_raw[f"{t}_mean"], atol=1e-9)
    # ... while the raw scores would not give the same embeddings
    assert not np.allclose(embeddings_from_neighbors(neighbors, raw_copy, speakers, 3).to_numpy(),
                           embeddings_from_neighbors(neighbors, raw, speakers, 3).to_numpy())


def test_every_step_pools_the_same_standardised_bank_scores():
    from experiments.retrieve import bank_scores, clip_scores, sspnet_scale

    clips = pd.DataFrame(SCORES, columns=list(TRAITS)).assign(clip=["c0", "c1", "c2", "c3"])
    store = SimpleNamespace(clips=clips, manifest={"summary": {"sspnet_scale": "likert5"}})
    np.testing.assert_array_equal(clip_scores(store), SCORES)
    np.testing.assert_allclose(bank_scores(store), standardise_scores(SCORES)[0])
    np.testing.assert_allclose(bank_scores(store).mean(axis=0), 0, atol=1e-12)
    assert sspnet_scale(store) == "likert5"
    assert sspnet_scale(SimpleNamespace(manifest={"summary": {}})) == "bfi10"  # stores from before scales


def test_the_feature_store_records_the_scale_and_keeps_raw_scores(tiny_store):
    from experiments.retrieve import bank_scores, clip_scores, sspnet_scale

    assert tiny_store.manifest["feature_config"]["sspnet_scale"] == "auto"  # asked for
    assert tiny_store.manifest["summary"]["sspnet_scale"] == "bfi10" == sspnet_scale(tiny_store)  # detected
    raw = clip_scores(tiny_store)
    assert raw.min() >= -4 and raw.max() <= 4 and raw.std(axis=0).min() > 1  # BFI-10 units, not z-scores
    np.testing.assert_allclose(bank_scores(tiny_store), standardise_scores(raw)[0])
    np.testing.assert_allclose(bank_scores(tiny_store).std(axis=0), 1.0)


def test_cross_correlations_say_which_true_trait_a_retrieved_trait_follows():
    from paaan.retrieval import EMBEDDING_COLUMNS, cross_correlations

    speakers = ["s1", "s2", "s3"]
    embeddings = pd.DataFrame(0.0, index=speakers, columns=list(EMBEDDING_COLUMNS))
    embeddings["openness_mean"] = [1.0, 2.0, 3.0]
    embeddings["extraversion_mean"] = [0.0, 1.0, 5.0]
    truth = pd.DataFrame({"openness": [3.0, 2.0, 1.0], "conscientiousness": [1.0, 1.0, 1.0],
                          "extraversion": [0.0, 1.0, 5.0], "agreeableness": [1.0, 2.0, 3.0],
                          "neuroticism": [2.0, 1.0, 2.0]}, index=speakers)
    table = cross_correlations(embeddings, truth)
    # retrieved openness rises 1, 2, 3: true openness falls (r = -1), agreeableness rises with it (r = +1)
    assert table.loc["openness", "openness"] == pytest.approx(-1.0)
    assert table.loc["openness", "agreeableness"] == pytest.approx(1.0)
    assert table.loc["extraversion", "extraversion"] == pytest.approx(1.0)
    # neuroticism 2, 1, 2 against 1, 2, 3: deviations (+1/3, -2/3, +1/3) and (-1, 0, 1): covariance 0
    assert table.loc["openness", "neuroticism"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(table.loc["openness", "conscientiousness"])  # a constant true trait: undefined
    assert np.isnan(table.loc["agreeableness", "openness"])  # a constant retrieved trait (all 0): undefined
