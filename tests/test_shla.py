"""SHLA (paper II-C1, III-A): shared encoder, corpus-specific decoders, per-corpus standardisation."""

import math

import numpy as np
import pytest
import torch

from paaan.config import SHLAConfig
from paaan.errors import FeatureError
from paaan.numerics import STD_FLOOR, standardisation_stats
from paaan.shla import SHLA, SharedHiddenLayerAutoencoder, batch_schedule, reconstruction_step

SMALL = dict(hidden_sizes=(32, 16, 4), batch_size=16)


def two_corpora(seed=0, n_a=120, n_b=40, n_features=20, rank=3):
    """Low-rank data (learnable by a 4-d code); corpus b sees the same kind of signal through another channel."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(rank, n_features))
    a = rng.normal(size=(n_a, rank)) @ mixing + 0.05 * rng.normal(size=(n_a, n_features))
    b = rng.normal(size=(n_b, rank)) @ mixing + 0.05 * rng.normal(size=(n_b, n_features))
    return {"a": a, "b": 3.0 * b + 10.0}


def linear_shapes(module):
    return [(m.in_features, m.out_features) for m in module if isinstance(m, torch.nn.Linear)]


def test_standardisation_stats_by_hand():
    # column 0: values 1, 3 -> mean 2, population std 1; column 1: constant 5 -> std 0 floored to 1
    mean, std = standardisation_stats(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(mean, [2.0, 5.0])
    np.testing.assert_array_equal(std, [1.0, 1.0])
    # a real but tiny spread above the floor is kept: values 0 and 4 * floor -> std 2 * floor
    _, std = standardisation_stats(np.array([[0.0], [4 * STD_FLOOR]]))
    np.testing.assert_allclose(std, [2 * STD_FLOOR])


def test_an_epoch_is_one_pass_over_the_larger_corpus_with_the_smaller_cycled():
    # sizes 5 and 2, batch 2: ceil(5 / 2) = 3 steps; a: batches of 2, 2, 1 covering rows 0..4 once;
    # b: 3 full batches = 6 draws = three permutations of its 2 rows, so each row is drawn 3 times.
    schedule = batch_schedule({"a": 5, "b": 2}, 2, np.random.default_rng(0))
    assert len(schedule) == 3
    assert [len(step["a"]) for step in schedule] == [2, 2, 1]
    assert sorted(np.concatenate([step["a"] for step in schedule])) == [0, 1, 2, 3, 4]
    assert [len(step["b"]) for step in schedule] == [2, 2, 2]
    assert np.bincount(np.concatenate([step["b"] for step in schedule])).tolist() == [3, 3]
    # corpora of equal size are both passed exactly once: 4 rows, batch 3 -> batches of 3 and 1
    schedule = batch_schedule({"a": 4, "b": 4}, 3, np.random.default_rng(0))
    for corpus in "ab":
        assert [len(step[corpus]) for step in schedule] == [3, 1]
        assert sorted(np.concatenate([step[corpus] for step in schedule])) == [0, 1, 2, 3]


def test_paper_sizes_1582_512_256_128_shared_encoder_and_one_decoder_per_corpus():
    module = SharedHiddenLayerAutoencoder(1582, (512, 256, 128), ("iemocap", "sspnet"))
    assert linear_shapes(module.encoder) == [(1582, 512), (512, 256), (256, 128)]
    for corpus in ("iemocap", "sspnet"):
        assert linear_shapes(module.decoders[corpus]) == [(128, 256), (256, 512), (512, 1582)]
    # ReLU between hidden layers, none on the 128-d code or on the output (see the SHLA docstring)
    assert isinstance(module.encoder[1], torch.nn.ReLU) and isinstance(module.encoder[-1], torch.nn.Linear)
    assert isinstance(module.decoders["sspnet"][-1], torch.nn.Linear)


def test_defaults_are_the_papers_and_latents_are_128_d():
    shla = SHLA()
    cfg = SHLAConfig()
    assert (shla.hidden_sizes, shla.epochs, shla.batch_size, shla.lr) == (cfg.hidden_sizes, 10, 16, 1e-4)
    # one epoch at paper sizes on tiny data: 3 steps of batch 16 for 40 rows
    rng = np.random.default_rng(0)
    data = {"iemocap": rng.normal(size=(40, 1582)), "sspnet": rng.normal(size=(8, 1582))}
    shla = SHLA(epochs=1).fit(data)
    assert shla.transform(data["iemocap"], "iemocap").shape == (40, 128)
    assert shla.transform(data["sspnet"], "sspnet").shape == (8, 128)
    assert shla.reconstruct(data["sspnet"], "sspnet").shape == (8, 1582)


def test_encoder_parameters_are_literally_shared_and_decoders_distinct():
    shla = SHLA(epochs=0, **SMALL).fit(two_corpora())
    branch_a, branch_b = shla.module_.branch("a"), shla.module_.branch("b")
    enc_a, enc_b = list(branch_a[0].parameters()), list(branch_b[0].parameters())
    assert len(enc_a) == 6 and all(p is q for p, q in zip(enc_a, enc_b))  # the same Parameter objects
    dec_a = {id(p) for p in branch_a[1].parameters()}
    dec_b = {id(p) for p in branch_b[1].parameters()}
    assert len(dec_a) == 6 and not dec_a & dec_b


def test_a_training_step_on_corpus_a_alone_moves_corpus_b_latents_but_not_b_decoder():
    corpora = two_corpora()
    shla = SHLA(epochs=1, **SMALL).fit(corpora)
    z_b_before = shla.transform(corpora["b"], "b")
    dec_a_before = [p.detach().clone() for p in shla.module_.decoders["a"].parameters()]
    dec_b_before = [p.detach().clone() for p in shla.module_.decoders["b"].parameters()]
    x_a = torch.as_tensor(shla._standardise(corpora["a"][:16], "a"), dtype=torch.float32)
    optimizer = torch.optim.Adam(shla.module_.parameters(), lr=1e-2)
    losses = reconstruction_step(shla.module_, optimizer, {"a": x_a})
    assert list(losses) == ["a"]
    assert not np.allclose(shla.transform(corpora["b"], "b"), z_b_before)  # shared encoder moved
    assert all(torch.equal(p, q) for p, q in zip(shla.module_.decoders["b"].parameters(), dec_b_before))
    assert not all(torch.equal(p, q) for p, q in zip(shla.module_.decoders["a"].parameters(), dec_a_before))


def test_history_has_one_finite_loss_per_epoch_and_corpus_and_it_decreases():
    shla = SHLA(epochs=6, lr=1e-2, **SMALL).fit(two_corpora())
    assert len(shla.history_) == 6
    assert all(set(h) == {"a", "b"} and all(math.isfinite(v) for v in h.values()) for h in shla.history_)
    for corpus in "ab":
        # standardised data: an untrained linear-output net starts near MSE 1; rank-3 data fits a 4-d code
        assert shla.history_[-1][corpus] < 0.5 * shla.history_[0][corpus]


def test_history_is_the_mse_of_the_whole_standardised_corpus():
    corpora = two_corpora()
    shla = SHLA(epochs=1, **SMALL).fit(corpora)
    for corpus, X in corpora.items():
        z = (X - X.mean(axis=0)) / X.std(axis=0)
        x_hat = (shla.reconstruct(X, corpus) - shla.mean_[corpus]) / shla.std_[corpus]
        assert shla.history_[0][corpus] == pytest.approx(np.mean((x_hat - z) ** 2), rel=1e-5)


def test_per_corpus_standardisation_removes_an_affine_channel_difference():
    # b2 is a's rows seen through a gain-3, offset-10 channel: after per-corpus z-scoring both corpora are the
    # same numbers, and the shared encoder maps them to the same latents.
    a = two_corpora()["a"]
    shla = SHLA(epochs=1, **SMALL).fit({"a": a, "b": 3.0 * a + 10.0})
    np.testing.assert_allclose(shla.transform(3.0 * a + 10.0, "b"), shla.transform(a, "a"), atol=1e-5)
    np.testing.assert_allclose(shla.mean_["b"], 3.0 * shla.mean_["a"] + 10.0)
    np.testing.assert_allclose(shla.std_["b"], 3.0 * shla.std_["a"])


def test_same_seed_same_latents_other_seed_other_latents():
    corpora = two_corpora()
    z1 = SHLA(epochs=2, seed=7, **SMALL).fit(corpora).transform(corpora["b"], "b")
    z2 = SHLA(epochs=2, seed=7, **SMALL).fit(corpora).transform(corpora["b"], "b")
    z3 = SHLA(epochs=2, seed=8, **SMALL).fit(corpora).transform(corpora["b"], "b")
    np.testing.assert_array_equal(z1, z2)
    assert not np.allclose(z1, z3)


def test_fit_leaves_torchs_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SHLA(epochs=1, **SMALL).fit(two_corpora())
    assert torch.equal(torch.rand(3), expected)


def test_save_load_round_trip_gives_identical_latents(tmp_path):
    corpora = two_corpora()
    shla = SHLA(epochs=2, seed=3, **SMALL).fit(corpora)
    path = shla.save(tmp_path / "sub" / "shla.pt")
    loaded = SHLA.load(path)
    for corpus, X in corpora.items():
        np.testing.assert_array_equal(loaded.transform(X, corpus), shla.transform(X, corpus))
        np.testing.assert_array_equal(loaded.std_[corpus], shla.std_[corpus])
    assert loaded.history_ == shla.history_
    assert loaded.get_params() == shla.get_params()
    assert loaded.corpora_ == ("a", "b") and loaded.n_features_in_ == 20


def test_load_names_the_file_and_the_problem(tmp_path):
    with pytest.raises(FeatureError, match="not found"):
        SHLA.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(FeatureError, match="junk.pt: not a readable SHLA file"):
        SHLA.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(FeatureError, match="not a paaan SHLA file"):
        SHLA.load(other)


def test_bad_inputs_are_clear_errors():
    corpora = two_corpora()
    with pytest.raises(ValueError, match="same functionals"):
        SHLA(**SMALL).fit({"a": corpora["a"], "b": corpora["b"][:, :5]})
    nan = corpora["a"].copy()
    nan[4, 2] = np.nan
    with pytest.raises(ValueError, match="'a': non-finite value at row 4, column 2"):
        SHLA(**SMALL).fit({"a": nan})
    with pytest.raises(RuntimeError, match="not fitted"):
        SHLA().transform(corpora["a"], "a")
    shla = SHLA(epochs=0, **SMALL).fit(corpora)
    with pytest.raises(ValueError, match="unknown corpus 'c'"):
        shla.transform(corpora["a"], "c")
    with pytest.raises(ValueError, match="expected 20 functionals per row, got 5"):
        shla.transform(corpora["a"][:, :5], "a")
    with pytest.raises(ValueError, match="batch_size"):
        SHLA(batch_size=0).fit(corpora)
