"""Every paper number lives in paaan/config.py; experiments/profiles/paper.yaml spells out the same."""

import pytest

from experiments.profiles import load_profile
from paaan.config import Profile


def test_paper_profile_equals_the_library_defaults():
    profile, ablation = load_profile("paper")
    assert profile.to_dict() == Profile().to_dict()
    assert ablation["seeds"] == 1


def test_paper_numbers_from_section_III_A():
    p = Profile()
    assert p.shla.hidden_sizes == (512, 256, 128) and (p.shla.batch_size, p.shla.lr, p.shla.epochs) == (16, 1e-4, 10)
    assert (p.model.blstm_hidden, p.model.prelayer, p.model.dense) == (128, 16, 256)
    assert (p.train.epochs, p.train.batch_size, p.train.lr) == (50, 32, 1e-4)
    assert (p.features.frame_size, p.features.frame_step, p.features.pool_frames) == (0.060, 0.010, 4)


def test_demo_inherits_the_paper_and_overrides_some_values():
    demo, _ = load_profile("demo")
    assert demo.name == "demo"
    assert demo.model.prelayer == 16 and demo.train.val_fraction == 0.1  # inherited
    assert demo.model.blstm_hidden < 128  # overridden
    # the demo trains until its validation UAR on held-out training speakers stops improving; the paper's 50
    # epochs stay the paper's
    assert demo.train.patience > 0 and demo.train.validation == "speakers"
    paper, _ = load_profile("paper")
    assert paper.train.patience == 0 and paper.train.epochs == 50


def test_unknown_keys_are_rejected(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: paper\nmodel:\n  blstm_hiden: 64\n")
    with pytest.raises(ValueError, match="blstm_hiden"):
        load_profile(str(path))
    with pytest.raises(FileNotFoundError, match="known: demo, paper"):
        load_profile("nope")


def test_flat_params_for_mlflow():
    flat = Profile().flat()
    assert flat["model.blstm_hidden"] == 128 and flat["train.epochs"] == 50 and flat["profile"] == "paper"
