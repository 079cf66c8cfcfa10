"""The dimensional task: valence, activation and dominance with a CCC loss, every variant, served on 1-5.

On the tiny demo corpus (its ratings follow what each utterance renders: paaan.demo.ratings).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from paaan.config import Profile
from paaan.data.schema import DIMENSIONS
from paaan.demo import ratings
from paaan.personality import PersonalitySource
from paaan.tasks import TASKS, ccc_loss, get_task
from paaan.train import corpus_tensors, fit_speakers, train_fold
from paaan.variants import VARIANTS, get_variant

DIM = Profile().replace(model={"blstm_hidden": 8, "dense": 16, "fusion_size": 16},
                        prev1={"lstm_hidden": 8, "filters": 4, "embedding": 8},
                        prev2={"audio_hidden": 8, "text_hidden": 8},
                        train={"epochs": 2, "lr": 0.01, "threads": 1, "task": "dimensional"})


def test_the_tasks_table():
    assert [t.name for t in TASKS] == ["categorical", "dimensional"]
    categorical, dimensional = get_task("categorical"), get_task("dimensional")
    assert categorical.outputs == 4 and categorical.selection == "uar" and categorical.metrics[0] == "uar"
    assert dimensional.targets == DIMENSIONS and dimensional.outputs == 3 and dimensional.center == 3.0
    assert dimensional.metrics[0] == "ccc" and dimensional.best_metric == "best_val_ccc"
    assert dimensional.tune_metric("best_val_uar") == "best_val_ccc"
    with pytest.raises(Exception, match="unknown task"):
        get_task("ordinal")


def test_cli_knows_every_task():
    from experiments.options import TASKS as CLI_TASKS

    assert CLI_TASKS == tuple(t.name for t in TASKS)


def test_ccc_loss_worked_by_hand():
    # identical columns: CCC 1, loss 0
    x = torch.tensor([[1.0], [2.0], [3.0]])
    assert float(ccc_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    # a zero-mean column against its negation: CCC -1, loss 2
    z = torch.tensor([[-1.0], [0.0], [1.0]])
    assert float(ccc_loss(z, -z)) == pytest.approx(2.0, abs=1e-6)
    # x + 1: var 2/3 each, cov 2/3, mean gap 1 -> CCC (4/3) / (4/3 + 1) = 4/7; two columns averaged
    both = torch.cat([x, z], dim=1)
    target = torch.cat([x + 1, z], dim=1)
    assert float(ccc_loss(both, target)) == pytest.approx(1 - (4 / 7 + 1) / 2, abs=1e-6)


def test_rating_model_worked_by_hand():
    # an extravert's anger (EXTRAVERT_STYLE["ang"]), no noise: activation 3 + .15*1.5 + .15*1.3 + .2*.8 + .25*2
    # + .2*.9 - .1*(-.4) = 4.30
    departure = np.array([1.5, 1.3, 0.8, 2.0, 0.9, -0.4, 0.0, 0.0])
    v, a, d = ratings.expected_ratings([departure], "I am so tired of this", {"agreeableness": 0.0})
    assert a == pytest.approx(4.30, abs=1e-9)
    # valence: 3 + .1*1.5 + .1*1.3 - .25*.9 + .05*(-.4) = 3.035; no emotion word
    assert v == pytest.approx(3.035, abs=1e-9)
    # words: one anger word (-0.6 valence), two happy words (+1.2), capped per dimension at +-1.2
    assert ratings.emotion_words("This is ridiculous and wonderful, amazing") == {"ang": 1, "hap": 2, "sad": 0}
    assert ratings.word_part("happy wonderful amazing great").tolist() == pytest.approx([1.2, 0.6, 0.4])
    # the scenario's shift: 0.25 per unit of agreeableness on valence only, clipped to the scale
    shifted = ratings.expected_ratings([np.zeros(8)], "fine", {"agreeableness": 4.0}, "agreeableness", 0.25)
    assert shifted == (4.0, 3.0, 3.0)
    assert ratings.expected_ratings([np.zeros(8)], "fine", {"agreeableness": -4.0}, "agreeableness", 1.0)[0] == 1.0


def test_the_demo_ratings_follow_what_is_rendered(tiny_corpus):
    truth = json.loads((tiny_corpus / "ground_truth.json").read_text())
    expected = truth["iemocap"]["utterance_expected_ratings"]
    assert truth["iemocap"]["ratings"]["rater_sd"] == ratings.RATER_SD
    from paaan.data.iemocap import load_iemocap

    table = load_iemocap(tiny_corpus / "IEMOCAP_full_release")
    rated = np.array([expected[u] for u in table["utterance_id"]])
    mean = table[list(DIMENSIONS)].to_numpy()
    # two rounded votes with noise 0.6 around the expected value: within about two points, and correlated
    assert np.abs(mean - rated).max() <= 2.5
    for i, d in enumerate(DIMENSIONS):
        assert np.corrcoef(rated[:, i], mean[:, i])[0, 1] > 0.5, d
    # the ratings vary within a class (they are not the label's typical value any more)
    assert table[table["label"] == "ang"]["activation"].nunique() > 2


@pytest.mark.parametrize("variant", [v.name for v in VARIANTS if not v.uses_retrieval])
def test_every_variant_trains_on_the_three_dimensions(tiny_store, tiny_corpus, variant):
    v = get_variant(variant)
    personality = None
    if v.uses_personality:
        from paaan.personality import true_profiles

        personality = PersonalitySource.for_variant(v).fit(
            tiny_store, fit_speakers(tiny_store, 1, DIM), traits=true_profiles(tiny_corpus / "ground_truth.json"))
    result = train_fold(tiny_store, v, 1, DIM, personality=personality, seed=0, want_attention=False)
    assert set(get_task("dimensional").metrics) <= set(result.metrics)
    assert all(-1.0 <= result.metrics[f"ccc_{d}"] <= 1.0 for d in DIMENSIONS)
    assert {"val_ccc", "best_val_ccc", "val_ccc_valence"} <= set(result.history[0])
    assert "val_uar" not in result.history[0]
    linears = [m for m in result.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[-1].out_features == 3  # the output layer (every family defines it last)
    p = result.predictions
    assert {"valence", "pred_valence", "activation", "pred_dominance"} <= set(p.columns)
    assert "prediction" not in p and p["valence"].between(1, 5).all()


def test_dimensional_scores_are_the_metrics_of_the_predictions(tiny_store):
    from paaan.metrics import ccc

    result = train_fold(tiny_store, get_variant("IA+T"), 2, DIM, seed=1, want_attention=False)
    p = result.predictions
    for d in DIMENSIONS:
        assert result.metrics[f"ccc_{d}"] == pytest.approx(ccc(p[d], p[f"pred_{d}"]), abs=1e-5)
    assert result.metrics["ccc"] == pytest.approx(np.mean([result.metrics[f"ccc_{d}"] for d in DIMENSIONS]))


def test_the_categorical_task_is_untouched(tiny_store):
    """The same trial with task categorical written out and left at its default gives the same numbers."""
    base = DIM.replace(train={"task": "categorical"})
    default = Profile().replace(model=dict(DIM.model.__dict__), prev1=dict(DIM.prev1.__dict__),
                                prev2=dict(DIM.prev2.__dict__), train={"epochs": 2, "lr": 0.01, "threads": 1})
    a = train_fold(tiny_store, get_variant("IA+T"), 1, base, seed=0, want_attention=False)
    b = train_fold(tiny_store, get_variant("IA+T"), 1, default, seed=0, want_attention=False)
    assert a.metrics == b.metrics and "uar" in a.metrics and "ccc" not in a.metrics
    assert list(a.predictions.columns[:4]) == ["utterance_id", "speaker", "label", "prediction"]


def test_unrated_utterances_are_refused_by_name(tiny_store):
    data = corpus_tensors(str(tiny_store.path.resolve()))
    saved = data.ratings.copy()
    try:
        data.ratings[3] = np.nan
        with pytest.raises(Exception, match=f"first: {data.utterance_ids[3]}"):
            train_fold(tiny_store, get_variant("A+T"), 1, DIM, seed=0, want_attention=False)
    finally:
        data.ratings[:] = saved


def test_a_dimensional_model_serves_three_ratings_on_the_1_to_5_scale(tiny_store, tiny_corpus):
    from experiments.profiles import load_profile
    from paaan.config import FeatureConfig
    from paaan.features.text import WordVectors
    from registry.package import signature
    from registry.pyfunc import PaaanModel

    profile, _ = load_profile("demo")
    spec = {"variant": "IA+T", "k": None, "features": FeatureConfig().__dict__, "model": profile.model.__dict__,
            "prev1": profile.prev1.__dict__, "prev2": profile.prev2.__dict__, "word_dim": tiny_store.word_dim,
            "task": "dimensional"}
    vectors = WordVectors(list(tiny_store.vocab["word"]), np.asarray(tiny_store.vectors, np.float32), source="store")
    torch.manual_seed(0)
    model = PaaanModel().configure(spec, None, vectors)
    table = tiny_store.utterances
    rows = table[table["speaker"] == sorted(table["speaker"].unique())[0]].head(3)
    root = tiny_corpus / "IEMOCAP_full_release"
    import pandas as pd

    request = pd.DataFrame({"speaker": rows["speaker"].astype(str), "transcript": rows["transcript"].astype(str),
                            "audio_path": [str(root / p) for p in rows["wav_path"]]})
    out = model.predict(None, request)
    assert list(out.columns) == ["utterance_id", "speaker", *DIMENSIONS]
    assert out[list(DIMENSIONS)].apply(lambda c: c.between(1, 5)).all().all()
    outputs = [c.name for c in signature(task="dimensional").outputs.inputs]
    assert outputs == ["utterance_id", "speaker", *DIMENSIONS]
