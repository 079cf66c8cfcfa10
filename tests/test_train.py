"""Training one variant on one fold: splits, batches, personality scaling, outputs (on the tiny corpus)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from paaan.config import Profile
from paaan.data.folds import get_fold
from paaan.personality import (EMBEDDING_COLUMNS, PersonalitySource, oracle_embeddings, shuffled_embeddings,
                               standardise, true_profiles)
from paaan.train import batches, corpus_tensors, fit_speakers, train_fold
from paaan.tuning import inner_fold, inner_validation, k_search_space
from paaan.variants import get_variant

TINY = Profile().replace(model={"blstm_hidden": 8, "dense": 16, "fusion_size": 16},
                         prev1={"lstm_hidden": 8, "filters": 4, "embedding": 8},
                         prev2={"audio_hidden": 8, "text_hidden": 8},
                         train={"epochs": 2, "lr": 0.01, "threads": 1})


def test_length_aware_batches_worked_by_hand():
    lengths = np.array([5, 1, 3, 2, 4])
    # sorted by length: rows 1 (1), 3 (2), 2 (3), 4 (4), 0 (5) -> batches of 2 in that order, no shuffling
    chunks = batches(np.arange(5), lengths, 2, rng=None, length_buckets=True)
    assert [c.tolist() for c in chunks] == [[1, 3], [2, 4], [0]]
    # shuffled: every row exactly once, each batch still a run of neighbours in length order
    chunks = batches(np.arange(5), lengths, 2, rng=np.random.default_rng(0), length_buckets=True)
    assert sorted(np.concatenate(chunks).tolist()) == [0, 1, 2, 3, 4]
    assert sorted(sorted(lengths[c].tolist()) for c in chunks) == [[1, 2], [3, 4], [5]]


def test_corpus_tensors_match_the_store(tiny_store):
    data = corpus_tensors(str(tiny_store.path.resolve()))
    table = tiny_store.utterances
    assert len(data.audio) == len(table)
    for i in (0, len(table) - 1):
        assert data.audio[i].shape == (table["lld_steps"].iloc[i], 45)
        assert data.words[i].shape == (max(1, table["n_words"].iloc[i]), tiny_store.word_dim)
        assert data.step_word[i].shape == (table["lld_steps"].iloc[i],)
        assert int(data.step_word[i].max()) < max(1, table["n_words"].iloc[i])
    assert set(data.labels.tolist()) <= {0, 1, 2, 3}


def test_train_fold_scores_only_the_test_session(tiny_store):
    result = train_fold(tiny_store, get_variant("IA+T"), 2, TINY, seed=0)
    fold = get_fold(tiny_store.utterances, 2)
    test_ids = set(tiny_store.utterances["utterance_id"].iloc[fold.test])
    assert set(result.predictions["utterance_id"]) == test_ids
    assert set(tiny_store.utterances.set_index("utterance_id").loc[list(test_ids), "session"]) == {2}
    assert set(result.metrics) >= {"uar", "wa", "recall_ang", "recall_hap", "recall_neu", "recall_sad"}
    assert 0.0 <= result.metrics["uar"] <= 1.0
    assert int(result.confusion.sum()) == len(test_ids)
    assert len(result.history) == 2 and all(np.isfinite(h["train_loss"]) for h in result.history)
    probs = result.predictions[["p_ang", "p_hap", "p_neu", "p_sad"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # attention: one weight per audio step / word of every test utterance, summing to one per utterance
    sums = result.attention_audio.groupby("utterance_id")["alpha"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-4)
    steps = tiny_store.utterances.set_index("utterance_id").loc[sums.index, "lld_steps"]
    assert result.attention_audio.groupby("utterance_id").size().loc[sums.index].tolist() == steps.tolist()


def test_training_is_seeded(tiny_store):
    a = train_fold(tiny_store, get_variant("Audio"), 1, TINY, seed=3, want_attention=False)
    b = train_fold(tiny_store, get_variant("Audio"), 1, TINY, seed=3, want_attention=False)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)


def _oracle_source(store, corpus, fold, profile, seed=0, kind="oracle"):
    return PersonalitySource(kind, seed=seed).fit(store, fit_speakers(store, fold, profile, seed),
                                                  traits=true_profiles(corpus / "ground_truth.json"))


def test_personality_is_standardised_with_the_training_speakers_only(tiny_store, tiny_corpus):
    embeddings = oracle_embeddings(tiny_corpus / "ground_truth.json")
    source = _oracle_source(tiny_store, tiny_corpus, 1, TINY)
    result = train_fold(tiny_store, get_variant("PAaAN_oracle"), 1, TINY, personality=source, seed=0,
                        want_attention=False)
    train_speakers = sorted(s for s in embeddings.index if not s.startswith("Ses01"))
    assert source.train_speakers_ == train_speakers and result.personality is source
    np.testing.assert_allclose(result.personality_stats["mean"], embeddings.loc[train_speakers].mean().to_numpy())
    with pytest.raises(ValueError, match="needs a fitted PersonalitySource"):
        train_fold(tiny_store, get_variant("PAaAN_PP"), 1, TINY, seed=0)
    with pytest.raises(ValueError, match="fitted on other training speakers"):  # fold 2's source on fold 1
        train_fold(tiny_store, get_variant("PAaAN_oracle"), 1, TINY, seed=0,
                   personality=_oracle_source(tiny_store, tiny_corpus, 2, TINY))


def test_all_sessions_model_trains_on_everything_for_its_epochs(tiny_store):
    result = train_fold(tiny_store, get_variant("Text"), "all", TINY, seed=0)
    assert result.metrics == {} and result.predictions.empty
    assert result.train_utterances == len(tiny_store.utterances) and result.validation_utterances == 0
    assert result.epochs_run == result.best_epoch == TINY.train.epochs  # no validation: every epoch, the last kept


def test_early_stopping_stops_patience_epochs_after_the_best(tiny_store):
    # lr 0: the weights never move, so the validation UAR is the same every epoch and only epoch 1 improves on
    # "nothing yet". With patience 2 training stops at epoch 1 + 2 = 3 of the 10 allowed, and epoch 1 is chosen.
    frozen = TINY.replace(train={"epochs": 10, "lr": 0.0, "patience": 2, "validation": "speakers"})
    result = train_fold(tiny_store, get_variant("IA+T"), 2, frozen, seed=0, want_attention=False)
    assert result.epochs_run == 3 and result.best_epoch == 1
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert len({h["val_uar"] for h in result.history}) == 1
    assert all(h["best_val_uar"] == result.history[0]["val_uar"] and h["lr"] == 0.0 for h in result.history)


def test_validation_on_held_out_speakers(tiny_store):
    profile = TINY.replace(train={"validation": "speakers"})
    result = train_fold(tiny_store, get_variant("Text"), 2, profile, seed=0, want_attention=False)
    fold = get_fold(tiny_store.utterances, 2)  # test session 2, validation session 3, training 1, 4, 5
    assert fold.validation_sessions == (3,) and fold.train_sessions == (1, 4, 5)
    assert (result.train_utterances, result.validation_utterances) == (len(fold.train), len(fold.validation))


def test_a_resumed_fit_continues_exactly_where_its_snapshot_left_off(tiny_store, tiny_corpus):
    profile = TINY.replace(train={"epochs": 4, "validation": "speakers", "patience": 3})
    snapshots = {}

    def keep(record, snapshot):
        snapshots[record["epoch"]] = snapshot()

    source = _oracle_source(tiny_store, tiny_corpus, 1, profile, seed=5)
    whole = train_fold(tiny_store, get_variant("PAaAN_oracle"), 1, profile, personality=source, seed=5,
                       on_epoch=keep, want_attention=False)
    resumed = train_fold(tiny_store, get_variant("PAaAN_oracle"), 1, profile, personality=source, seed=5,
                         resume=snapshots[2], want_attention=False)
    assert resumed.resumed_from_epoch == 2 and resumed.epochs_run == whole.epochs_run
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    pd.testing.assert_frame_equal(resumed.predictions, whole.predictions)


def test_alignment_dropout_of_every_batch_trains_the_time_average_fallback(tiny_store):
    # aligned mode with no step_word is mean mode (test_models), so dropping every batch's alignment trains
    # exactly the network that mean mode trains; the dropout's own random stream moves no other draw.
    dropped = TINY.replace(train={"alignment_dropout": 1.0})
    mean = TINY.replace(model={"time_alignment": "mean"})
    a = train_fold(tiny_store, get_variant("IA+T"), "all", dropped, seed=0)
    b = train_fold(tiny_store, get_variant("IA+T"), "all", mean, seed=0)
    aligned = train_fold(tiny_store, get_variant("IA+T"), "all", TINY, seed=0)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert any(not torch.equal(v, aligned.model.state_dict()[k]) for k, v in a.model.state_dict().items())


def test_the_shuffled_control_hands_every_speaker_another_speakers_profile(tiny_corpus):
    oracle = oracle_embeddings(tiny_corpus / "ground_truth.json")
    a, b, other, other_fold = (shuffled_embeddings(oracle, seed, fold) for seed, fold in ((3, 1), (3, 1), (4, 1), (3, 2)))
    pd.testing.assert_frame_equal(a, b)  # seeded
    assert not a.equals(other) and not a.equals(other_fold)  # a permutation per seed and per fold
    assert list(a.index) == list(oracle.index)
    for speaker in oracle.index:  # a derangement: nobody keeps their own row, every row is someone's
        assert not a.loc[speaker].equals(oracle.loc[speaker])
    assert sorted(map(tuple, a.to_numpy())) == sorted(map(tuple, oracle.to_numpy()))


def _session_table(speakers) -> pd.DataFrame:
    """One row per speaker with its session: enough for the session protocol's folds."""
    return pd.DataFrame({"speaker": [s.id for s in speakers], "session": [int(s.id[3:5]) for s in speakers],
                         "utterance_id": [s.id for s in speakers]})


@pytest.mark.parametrize("speakers", [10, 20, 40])
def test_the_shuffled_control_hands_half_of_every_folds_training_speakers_their_own_sign_of_the_planted_trait(
        speakers):
    """Extraversion for the scenarios whose effects follow E; agreeableness for the valence scenario, whose
    shift follows A (and whose sessions share E, so a balance on E could not be drawn)."""
    from paaan.data.folds import leave_one_session_out
    from paaan.demo import plan
    from paaan.demo.scenarios import SCENARIOS
    from paaan.personality import shuffle_agreement, shuffle_trait

    kinds = sorted({(s.traits, shuffle_trait({"scenario": {"knobs": s.knobs()}})) for s in SCENARIOS})
    assert ("paired_agreeableness", "agreeableness") in kinds and ("paired", "extraversion") in kinds
    for design, trait in kinds:  # every scenario's corpus: its trait design, and the trait its effect follows
        for corpus_seed in range(3):
            people = plan.iemocap_speakers(corpus_seed, 0.2, design, speakers)
            truth = pd.DataFrame({s.id: s.traits for s in people}).T
            oracle = oracle_embeddings(truth)
            folds = leave_one_session_out(_session_table(people))
            assert len(folds) == 5
            drawn = []
            for fold in folds:
                for seed in range(3):
                    shuffled = shuffled_embeddings(oracle, seed, fold.number,
                                                   (fold.train_speakers, fold.validation_speakers), trait)
                    for group in (fold.train_speakers, fold.validation_speakers):
                        share = shuffle_agreement(oracle.loc[list(group), f"{trait}_mean"], shuffled[f"{trait}_mean"])
                        n = len(group)
                        assert share * n in (n // 2, (n + 1) // 2), (design, corpus_seed, fold.number, seed, share)
                    assert not (shuffled.to_numpy() == oracle.to_numpy()).all(axis=1).any()  # still a derangement
                    drawn.append(tuple(shuffled[f"{trait}_mean"]))
            assert len(set(drawn)) > len(drawn) // 2  # folds and seeds draw different permutations


def test_the_unbalanced_shuffle_of_seed_0_inverted_extraversion_for_most_speakers():
    """Why the shuffle is balanced: the plain derangement seed 0 drew (the old control) handed 8 of the 10
    speakers of segment_gate's corpus a profile of the opposite sign of E."""
    from paaan.demo import plan

    people = plan.iemocap_speakers(0, 0.2, "paired")
    oracle = oracle_embeddings(pd.DataFrame({s.id: s.traits for s in people}).T)
    rng = np.random.default_rng([0, 0x5348_5546])  # the old stream: the seed alone
    while True:
        order = rng.permutation(len(oracle))
        if not np.any(order == np.arange(len(oracle))):
            break
    handed = oracle["extraversion_mean"].to_numpy()[order]
    assert int((np.sign(handed) != np.sign(oracle["extraversion_mean"].to_numpy())).sum()) == 8


def test_oracle_embedding_is_the_true_profile_in_trait_major_order(tiny_corpus):
    truth = true_profiles(tiny_corpus / "ground_truth.json")
    embeddings = oracle_embeddings(truth)
    assert list(embeddings.columns) == list(EMBEDDING_COLUMNS) and len(EMBEDDING_COLUMNS) == 25
    speaker = truth.index[0]
    expected = [v for t in truth.columns for v in (truth.loc[speaker, t], 0.0, truth.loc[speaker, t],
                                                    truth.loc[speaker, t], truth.loc[speaker, t])]
    assert embeddings.loc[speaker].tolist() == expected


def test_standardise_by_hand():
    frame = pd.DataFrame({"a": [1.0, 3.0, 10.0], "b": [2.0, 2.0, 5.0]}, index=["s1", "s2", "test"])
    out = standardise(frame, ["s1", "s2"])
    # a: mean 2, std 1 -> s1 -1, s2 1, test 8; b: std 0 is floored at 0.1 -> test (5 - 2) / 0.1 = 30
    assert out["a"].tolist() == [-1.0, 1.0, 8.0]
    assert out["b"].tolist() == pytest.approx([0.0, 0.0, 30.0])


def test_k_objective_uses_the_inner_split_only(tiny_store):
    low, high = k_search_space(len(tiny_store.clips), 50)
    assert (low, high) == (1, len(tiny_store.clips))
    inner = inner_fold(tiny_store.utterances, 3)  # outer test session 3; its validation session 4 scores k
    sessions = tiny_store.utterances["session"]
    assert 3 not in set(sessions.iloc[inner.train]) | set(sessions.iloc[inner.test])
    assert set(sessions.iloc[inner.test]) == {4} and 4 not in set(sessions.iloc[inner.train])
    seen = []

    def personality_for_k(k):
        seen.append(k)
        return PersonalitySource("NA", k=k).fit(tiny_store, fit_speakers(tiny_store, inner, TINY))

    result = inner_validation(tiny_store, get_variant("PAaAN_NA"), 3, 2, TINY, personality_for_k)
    assert seen == [2] and result.personality.k == 2
    assert set(result.predictions["utterance_id"]) == set(tiny_store.utterances["utterance_id"].iloc[inner.test])
    with pytest.raises(ValueError, match="outside"):
        inner_validation(tiny_store, get_variant("PAaAN_NA"), 3, high + 1, TINY, personality_for_k)
    with pytest.raises(ValueError, match="no k to tune"):
        inner_validation(tiny_store, get_variant("IA+T"), 3, 2, TINY, personality_for_k)


def test_the_shuffle_balances_the_trait_a_corpus_plants_its_effect_on(tmp_path):
    from paaan.demo.scenarios import get_scenario
    from paaan.personality import shuffle_trait

    truth = tmp_path / "ground_truth.json"
    truth.write_text(json.dumps({"scenario": {"knobs": get_scenario("valence_agreeableness").knobs()}}))
    assert shuffle_trait(truth) == "agreeableness"
    truth.write_text(json.dumps({"scenario": {"knobs": get_scenario("segment_gate").knobs()}}))
    assert shuffle_trait(truth) == "extraversion"
    assert shuffle_trait(tmp_path / "traits.csv") == shuffle_trait(None) == "extraversion"  # nobody planted one
