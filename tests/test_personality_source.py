"""The personality source: one object decides where a variant's embedding comes from, and the served model
describes new speakers exactly as training described the corpus'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paaan.data.schema import TRAITS
from paaan.errors import PaaanError
from paaan.personality import PersonalitySource, oracle_embeddings, standardise, true_profiles
from paaan.retrieval import EMBEDDING_COLUMNS, PersonalityRetriever, bank_scores, standardise_pooled
from paaan.shla import SHLA
from paaan.variants import VARIANTS


def test_every_variant_has_a_source_of_its_kind():
    for variant in VARIANTS:
        source = PersonalitySource.for_variant(variant, k=7, seed=3, fold=2)
        assert source.kind == variant.personality and source.retrieves == variant.uses_retrieval
        assert source.k == (7 if variant.uses_retrieval else None)


def _speakers(store):
    return sorted(store.utterances["speaker"].unique())


def test_na_retrieves_and_standardises_as_the_retrieve_step_and_training_did(tiny_store):
    train = _speakers(tiny_store)[2:]
    source = PersonalitySource("NA", k=3).fit(tiny_store, train)
    pooled = standardise_pooled({"iemocap": np.asarray(tiny_store.functionals("iemocap")),
                                 "sspnet": np.asarray(tiny_store.functionals("sspnet"))})
    raw = PersonalityRetriever(k=3, space="NA").fit(pooled["sspnet"], bank_scores(tiny_store.clips)).retrieve(
        pooled["iemocap"], tiny_store.utterances["speaker"].to_numpy())
    pd.testing.assert_frame_equal(source.embeddings_, standardise(raw, train))
    # a served request of one speaker's utterances: the same embedding as that speaker had in training
    mine = (tiny_store.utterances["speaker"] == "Ses01F").to_numpy()
    served = source.embeddings(np.asarray(tiny_store.functionals("iemocap"))[mine], ["Ses01F"] * int(mine.sum()))
    pd.testing.assert_frame_equal(served, source.embeddings_.loc[["Ses01F"]])


def test_pp_with_the_logged_latents_and_after_saving_serves_the_training_embeddings(tiny_store, tmp_path):
    functionals = {c: np.asarray(tiny_store.functionals(c)) for c in ("iemocap", "sspnet")}
    shla = SHLA(hidden_sizes=(32, 16, 8), epochs=2, batch_size=8, seed=0).fit(functionals)
    space = tuple(shla.transform(functionals[c], c).astype(np.float32) for c in ("iemocap", "sspnet"))
    train = _speakers(tiny_store)[:8]
    source = PersonalitySource("PP", k=4).fit(tiny_store, train, encoder=shla, space=space)
    loaded = PersonalitySource.load(source.save(tmp_path / "source"))
    assert (loaded.kind, loaded.k) == ("PP", 4) and loaded.train_speakers_ is None
    speakers = tiny_store.utterances["speaker"].to_numpy()
    served = loaded.embed(functionals["iemocap"], speakers)
    np.testing.assert_allclose(served, source.embed(None, speakers), rtol=0, atol=1e-6)
    assert served.shape == (len(speakers), 25) and served.dtype == np.float32


def test_the_oracle_reads_the_request_traits_and_the_shuffle_serves_no_new_speaker(tiny_store, tiny_corpus, tmp_path):
    truth = true_profiles(tiny_corpus / "ground_truth.json")
    train = _speakers(tiny_store)[2:]
    oracle = PersonalitySource("oracle").fit(tiny_store, train, traits=truth)
    pd.testing.assert_frame_equal(oracle.embeddings_, standardise(oracle_embeddings(truth), train))
    request = pd.DataFrame([truth.loc["Ses01F"].to_numpy()], index=["new speaker"], columns=list(TRAITS))
    served = PersonalitySource.load(oracle.save(tmp_path / "oracle")).embeddings(traits=request)
    np.testing.assert_allclose(served.to_numpy(), oracle.embeddings_.loc[["Ses01F"], list(EMBEDDING_COLUMNS)].to_numpy())
    shuffled = PersonalitySource("shuffled", seed=1).fit(tiny_store, train, traits=truth)
    with pytest.raises(PaaanError, match="no personality for new speakers"):
        shuffled.embeddings(traits=request)
    with pytest.raises(PaaanError, match="true traits"):
        PersonalitySource("oracle").fit(tiny_store, train)
    assert not PersonalitySource("none").fit(tiny_store, train).embed(None, ["a", "b"]).any()  # zeros
