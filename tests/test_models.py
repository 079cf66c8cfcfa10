"""The models of Table I: shapes, attention, padding, where the personality enters, time alignment, sizes, learning.

Tiny sizes and random tensors keep the whole file to seconds; the paper's sizes appear only in the
parameter counts, which are worked out by hand below.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from paaan.config import ModelConfig
from paaan.errors import InputError
from paaan.models import (NO_WORD, Batch, Prev1Config, Prev2Config, blstm_units, build_model, embedding_loss,
                          make_batch, n_parameters, prosodic_statistics)
from paaan.models.layers import (BLSTM, attention_context, last_state, length_mask, masked_max, masked_mean,
                                 masked_softmax, masked_std, reverse_within_length)
from paaan.models.paaan import PAaAN, steps_at_words, valid_step_words, word_at_steps
from paaan.variants import VARIANTS, get_variant

TINY = ModelConfig(blstm_hidden=8, prelayer=4, dense=16, fusion_size=16)
TINY_PREV1 = Prev1Config(lstm_hidden=8, kernel_widths=(1, 3), filters=4, embedding=8)
TINY_PREV2 = Prev2Config(audio_hidden=8, text_hidden=8, audio_dropout=0.0, text_dropout=0.0)
AUDIO_DIM, WORD_DIM, P_DIM = 45, 6, 25
PAAAN_VARIANTS = [v for v in VARIANTS if v.family == "paaan"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The machine is shared: tiny models gain nothing from a second thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(variant, config=TINY, seed=0):
    model = build_model(variant, config, word_dim=WORD_DIM, prev1=TINY_PREV1, prev2=TINY_PREV2, seed=seed)
    return model.eval()


def utterance(T_A: int, T_W: int, gen: torch.Generator, leading_silence: int = 2):
    """Random LLD steps, word vectors, and a forced alignment: silence, then each word over consecutive steps."""
    audio = torch.randn(T_A, AUDIO_DIM, generator=gen)
    words = torch.randn(T_W, WORD_DIM, generator=gen)
    step_word = torch.full((T_A,), NO_WORD, dtype=torch.int64)
    spoken = T_A - leading_silence
    step_word[leading_silence:] = (torch.arange(spoken) * T_W) // spoken  # word w covers a run of steps
    return audio, words, step_word


def random_batch(lengths, seed=0, labels=None):
    gen = torch.Generator().manual_seed(seed)
    utts = [utterance(T_A, T_W, gen) for T_A, T_W in lengths]
    personality = torch.randn(len(lengths), P_DIM, generator=gen)
    return make_batch(*zip(*utts), personality=personality, labels=labels)


def sub_batch(batch: Batch, i: int) -> Batch:
    """Utterance i alone, cut to its own lengths (no padding at all)."""
    T_A, T_W = int(batch.audio_lengths[i]), int(batch.word_lengths[i])
    return make_batch([batch.audio[i, :T_A]], [batch.words[i, :T_W]], [batch.step_word[i, :T_A]],
                      personality=batch.personality[i:i + 1])


def extra_padding(batch: Batch, more_steps: int, more_words: int) -> Batch:
    """The same batch with more zero padding (and NO_WORD for the padded steps)."""
    return replace(
        batch,
        audio=F.pad(batch.audio, (0, 0, 0, more_steps)),
        words=F.pad(batch.words, (0, 0, 0, more_words)),
        step_word=F.pad(batch.step_word, (0, more_steps), value=NO_WORD),
    )


LENGTHS = [(7, 3), (12, 5), (4, 1), (9, 4)]


# ----------------------------------------------------------------------------------------------------------------
# small numerics, worked by hand


def test_masked_softmax_is_zero_on_padding_and_normalised_over_valid_steps():
    scores = torch.tensor([[0.0, math.log(3.0), 5.0]])  # the third step is padding
    mask = length_mask(torch.tensor([2]), 3)
    assert mask.tolist() == [[True, True, False]]
    # exp(0) : exp(ln 3) = 1 : 3 -> 0.25, 0.75; the padded 5.0 gets nothing
    assert torch.allclose(masked_softmax(scores, mask), torch.tensor([[0.25, 0.75, 0.0]]))


def test_masked_mean_std_max_ignore_padding():
    x = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [100.0, -100.0]]])  # (1, 3, 2), last step padding
    mask = length_mask(torch.tensor([2]), 3)
    assert masked_mean(x, mask).tolist() == [[2.0, 4.0]]  # (1+3)/2, (2+6)/2
    assert masked_std(x, mask).tolist() == [[1.0, 2.0]]  # sqrt(((1-2)^2 + (3-2)^2)/2) = 1; likewise 2
    assert masked_max(x, mask).tolist() == [[3.0, 6.0]]


def test_context_vector_is_the_attention_weighted_sum_of_states():
    alpha = torch.tensor([[0.25, 0.75, 0.0]])
    h = torch.tensor([[[4.0, 0.0], [0.0, 4.0], [9.0, 9.0]]])
    assert attention_context(alpha, h).tolist() == [[1.0, 3.0]]  # 0.25*4, 0.75*4


def test_prosodic_statistics_are_mean_then_std_of_each_lld_over_valid_steps():
    audio = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [0.0, 0.0]], [[5.0, 7.0], [0.0, 0.0], [0.0, 0.0]]])
    stats = prosodic_statistics(audio, torch.tensor([2, 1]))
    assert stats.tolist() == [[2.0, 4.0, 1.0, 2.0], [5.0, 7.0, 0.0, 0.0]]  # a one-step utterance has std 0


def test_aligned_word_at_each_audio_step_falls_back_to_the_word_average():
    g_T = torch.tensor([[[1.0], [3.0]]])  # (B=1, T_W=2, P=1)
    step_word = torch.tensor([[0, 0, 1, NO_WORD, 1]])  # the last step is padding
    audio_mask = length_mask(torch.tensor([4]), 5)
    valid = valid_step_words(step_word, audio_mask, torch.tensor([2]))
    assert valid.tolist() == [[True, True, True, False, False]]
    mean_t = torch.tensor([[2.0]])  # (1 + 3) / 2
    assert word_at_steps(g_T, step_word, valid, mean_t).squeeze(-1).tolist() == [[1.0, 1.0, 3.0, 2.0, 2.0]]


def test_aligned_audio_at_each_word_is_the_mean_of_its_steps():
    g_A = torch.tensor([[[2.0], [4.0], [6.0], [8.0], [50.0]]])  # (1, T_A=5, 1), the last step is padding
    step_word = torch.tensor([[0, 0, 2, NO_WORD, 1]])  # word 1 has only the padded step -> no valid step
    audio_mask = length_mask(torch.tensor([4]), 5)
    valid = valid_step_words(step_word, audio_mask, torch.tensor([3]))
    mean_a = torch.tensor([[5.0]])  # (2 + 4 + 6 + 8) / 4
    got = steps_at_words(g_A, step_word, valid, n_words=4, fallback=mean_a).squeeze(-1)
    assert got.tolist() == [[3.0, 5.0, 6.0, 5.0]]  # (2+4)/2; fallback; 6; word 3 is padding -> fallback


def test_step_word_past_the_utterance_words_counts_as_no_word():
    valid = valid_step_words(torch.tensor([[0, 1, 2]]), length_mask(torch.tensor([3]), 3), torch.tensor([2]))
    assert valid.tolist() == [[True, True, False]]


def test_embedding_loss_pulls_same_emotions_together_and_pushes_others_apart():
    labels = torch.tensor([0, 0, 1])
    # same-emotion pair identical, different emotions orthogonal: nothing to correct
    assert embedding_loss(torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]), labels).item() == 0.0
    # pairs: (0,1) same, cos 0 -> 1; (0,2) and (1,2) different, cos 1/sqrt(2) -> 0.7071 each
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    expected = (1.0 + 2 * (1 / math.sqrt(2))) / 3  # 0.8047
    assert embedding_loss(e, labels).item() == pytest.approx(expected, abs=1e-6)
    # a margin of 0.8 forgives different-emotion pairs up to cosine 0.8
    assert embedding_loss(e, labels, margin=0.8).item() == pytest.approx(1.0 / 3, abs=1e-6)
    assert embedding_loss(e[:1], labels[:1]).item() == 0.0  # no pair in a batch of one


# ----------------------------------------------------------------------------------------------------------------
# the BLSTM without packing on the CPU (BENCHMARKS.md, "Training": the fused kernel instead of a packed sequence)


def test_reverse_within_length_worked_by_hand():
    index = reverse_within_length(torch.tensor([3, 1, 2]), 3)
    assert index.tolist() == [[2, 1, 0], [0, 1, 2], [1, 0, 2]]  # padding positions stay where they are
    x = torch.tensor([[10, 11, 12], [20, 0, 0], [30, 31, 0]])
    once = torch.gather(x, 1, index)
    assert once.tolist() == [[12, 11, 10], [20, 0, 0], [31, 30, 0]]
    assert torch.equal(torch.gather(once, 1, index), x)  # its own inverse


def _packed_reference(lstm, x, lengths):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


def test_blstm_without_packing_equals_the_packed_blstm():
    """The CPU path of BLSTM (fused kernel, per-utterance reversal) gives the packed LSTM's outputs and
    gradients: every direction reads only its utterance's steps, padding is zero."""
    torch.manual_seed(0)
    blstm = BLSTM(5, 4)
    lengths = torch.tensor([7, 3, 1, 7, 5])
    x = torch.randn(5, 7, 5)
    x[1, 3:] = 99.0  # garbage in the padding must not matter
    ours = blstm(x, lengths)
    reference = _packed_reference(blstm.lstm, x, lengths)
    assert ours.shape == (5, 7, 8)
    assert torch.allclose(ours, reference, atol=1e-6)
    assert torch.count_nonzero(ours[1, 3:]) == 0 and torch.count_nonzero(ours[2, 1:]) == 0
    grads = torch.autograd.grad(ours.pow(2).sum(), list(blstm.parameters()))
    expected = torch.autograd.grad(reference.pow(2).sum(), list(blstm.parameters()))
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU])
def test_last_state_without_packing_equals_the_packed_state(cell):
    """Prev1's LSTM and Prev2's GRUs: on the CPU the state after each utterance's last step is read from the
    padded run at step lengths-1; it equals h_n of the packed sequence, values and gradients."""
    torch.manual_seed(0)
    rnn = cell(5, 4, batch_first=True)
    lengths = torch.tensor([7, 3, 1, 7, 5])
    x = torch.randn(5, 7, 5)
    x[1, 3:] = 99.0  # garbage in the padding must not matter
    ours = last_state(rnn, x, lengths)
    _, state = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    reference = (state[0] if isinstance(state, tuple) else state)[-1]
    assert ours.shape == (5, 4)
    assert torch.allclose(ours, reference, atol=1e-6)
    single, _ = rnn(x[2:3, :1])  # a one-step utterance: its state is the output of that one step
    assert torch.allclose(ours[2], single[0, 0], atol=1e-6)
    grads = torch.autograd.grad(ours.pow(2).sum(), list(rnn.parameters()))
    expected = torch.autograd.grad(reference.pow(2).sum(), list(rnn.parameters()))
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# the batch


def test_make_batch_pads_and_reports_lengths():
    b = random_batch([(3, 2), (5, 1)])
    assert b.audio.shape == (2, 5, AUDIO_DIM) and b.words.shape == (2, 2, WORD_DIM)
    assert b.audio_lengths.tolist() == [3, 5] and b.word_lengths.tolist() == [2, 1]
    assert b.step_word[0, 3:].tolist() == [NO_WORD, NO_WORD]  # padded steps lie in no word
    assert b.audio[0, 3:].abs().sum().item() == 0.0 and b.words[1, 1:].abs().sum().item() == 0.0
    moved = b.to("meta")
    assert moved.audio.device.type == "meta" and moved.labels is None and b.audio.device.type == "cpu"


def test_batch_validation_names_the_field_and_problem():
    b = random_batch([(3, 2), (5, 1)])
    with pytest.raises(InputError, match="step_word.*past"):
        replace(b, step_word=torch.ones_like(b.step_word) * 1).validate()  # utterance 1 has a single word
    with pytest.raises(InputError, match="audio_lengths"):
        replace(b, audio_lengths=torch.tensor([0, 5])).validate()
    with pytest.raises(InputError, match=r"words\[1\]"):
        make_batch([torch.zeros(2, 45), torch.zeros(2, 45)], [torch.zeros(1, 6), torch.zeros(0, 6)])


# ----------------------------------------------------------------------------------------------------------------
# every variant of Table I


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_every_variant_gives_four_logits_and_proper_attention(variant):
    b = random_batch(LENGTHS)
    with torch.no_grad():
        out = tiny_model(variant)(b)
    assert out.logits.shape == (4, 4)
    has_attention = variant.family in ("blstm_attention", "paaan")
    for alpha, lengths, used in ((out.alpha_audio, b.audio_lengths, variant.uses_audio),
                                 (out.alpha_text, b.word_lengths, variant.uses_text)):
        if not (has_attention and used):
            assert alpha is None
            continue
        mask = length_mask(lengths, alpha.shape[1])
        assert (alpha >= 0).all()
        assert (alpha[~mask] == 0).all()  # exactly zero on padding
        assert torch.allclose(alpha.sum(1), torch.ones(4), atol=1e-6)


# time alignment is PAaAN's setting only: the other families run once
PADDING_CASES = [(v, a) for v in VARIANTS for a in (("aligned", "mean") if v.family == "paaan" else ("aligned",))]


@pytest.mark.parametrize("variant,alignment", PADDING_CASES, ids=lambda c: getattr(c, "name", c))
def test_padding_never_changes_a_prediction(variant, alignment):
    model = tiny_model(variant, replace(TINY, time_alignment=alignment))
    b = random_batch(LENGTHS)
    with torch.no_grad():
        in_batch = model(b).logits
        padded = model(extra_padding(b, more_steps=6, more_words=3)).logits
        for i in range(len(LENGTHS)):
            alone = model(sub_batch(b, i)).logits
            assert torch.allclose(alone[0], in_batch[i], atol=1e-5)
    assert torch.allclose(padded, in_batch, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_personality_is_used_exactly_by_the_variants_that_integrate_it(variant):
    model = tiny_model(variant)
    b = random_batch(LENGTHS)
    other = replace(b, personality=b.personality + 1.0)
    with torch.no_grad():
        before, after = model(b).logits, model(other).logits
    if variant.integration == "none":
        assert torch.equal(before, after)
    else:
        # Untrained attention is nearly uniform, so PAaAN's logits move little (about 1e-5 here); the others
        # above are bit-identical, so any change is the personality's doing.
        assert (before - after).abs().max() > 1e-6


def _paaan(activation: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = PAaAN(TINY, integration="attention", word_dim=WORD_DIM, attention_activation=activation).eval()
    with torch.no_grad():
        model.fc_a.weight.mul_(10.0)  # scores of a trained network's size, so saturation shows
    return model


def test_a_time_constant_personality_cancels_in_a_linear_score_but_not_through_tanh():
    # g_P is the same at every step: a linear score adds w_P g_P to all steps alike and the softmax removes it.
    b = random_batch(LENGTHS)
    other = replace(b, personality=-b.personality)
    with torch.no_grad():
        linear, tanh = _paaan("linear"), _paaan("tanh")
        assert torch.allclose(linear(b).alpha_audio, linear(other).alpha_audio, atol=1e-6)
        assert (tanh(b).alpha_audio - tanh(other).alpha_audio).abs().max() > 1e-2


def _ranks(alpha: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Each utterance's valid steps in decreasing order of attention."""
    return [torch.argsort(alpha[i, : int(n)], descending=True).tolist() for i, n in enumerate(lengths)]


@pytest.mark.parametrize("seed", range(5))
def test_the_fc_score_never_reorders_steps_by_personality_and_the_mlp_score_does(seed):
    # fc: score_t = tanh(u_t + w_P g_P); tanh is monotone and w_P g_P is the same at every step, so the order of an
    # utterance's steps is the order of u_t for every personality (only the sharpness changes). The mlp score mixes
    # g_P into a hidden layer with each step's state, so the personality can put other steps first.
    b = random_batch(LENGTHS, seed=seed)
    others = [replace(b, personality=torch.randn(b.personality.shape, generator=torch.Generator().manual_seed(k)) * 3)
              for k in range(4)]
    for kind in ("fc", "mlp"):
        torch.manual_seed(seed)
        model = PAaAN(replace(TINY, attention_score=kind), integration="attention", word_dim=WORD_DIM).eval()
        with torch.no_grad():
            for layer in model.modules():  # weights of a trained network's size, so the scores spread
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.mul_(3.0)
            base = _ranks(model(b).alpha_audio, b.audio_lengths) + _ranks(model(b).alpha_text, b.word_lengths)
            moved = [_ranks(model(o).alpha_audio, o.audio_lengths) + _ranks(model(o).alpha_text, o.word_lengths)
                     for o in others]
        if kind == "fc":
            assert all(m == base for m in moved)
        else:
            assert any(m != base for m in moved)


def _segment_toy(n: int, seed: int, T: int = 8):
    """Two marked segments of T steps, each with its own emotion (features 0-3 one-hot, feature 4 the segment's
    sign); the label is the first segment's emotion when the trait is positive, the second's when negative."""
    gen = torch.Generator().manual_seed(seed)
    first = torch.randint(0, 4, (n,), generator=gen)
    second = (first + torch.randint(1, 4, (n,), generator=gen)) % 4  # always another emotion
    trait = (torch.rand(n, generator=gen) + 1.0) * (torch.randint(0, 2, (n,), generator=gen) * 2 - 1)  # |E| in [1, 2]
    audio = 0.3 * torch.randn(n, 2 * T, 8, generator=gen)
    audio[:, :T, :4] += 1.5 * F.one_hot(first, 4)[:, None, :]
    audio[:, T:, :4] += 1.5 * F.one_hot(second, 4)[:, None, :]
    audio[:, :T, 4] += 1.0
    audio[:, T:, 4] -= 1.0
    words = 0.3 * torch.randn(n, 2, 4, generator=gen)  # uninformative
    personality = 0.1 * torch.randn(n, P_DIM, generator=gen)
    personality[:, 10] += trait  # the extraversion mean of the 25-d layout
    labels = torch.where(trait > 0, first, second)
    return make_batch(list(audio), list(words), personality=personality, labels=labels), trait


def test_a_trait_chosen_segment_is_learned_with_personality_and_only_the_mlp_attention_moves_to_it():
    # Without the trait the emotion is one of the two segments' at random: 0.5 at best. With it, fc reaches the
    # answer through the attention's sharpness (sharp on one segment for one sign, split for the other, which
    # the head reads back); mlp re-ranks the steps: its attention sits on the carrier segment for either sign.
    train, _ = _segment_toy(192, seed=0)
    test, trait = _segment_toy(256, seed=1)
    config = ModelConfig(blstm_hidden=8, prelayer=4, dense=16, fusion_size=16)
    results = {}
    for name in ("IA+T", "IA+T+", "PAaAN_oracle", "PAaAN+_oracle"):
        model = build_model(get_variant(name), config, audio_dim=8, word_dim=4, seed=0).train()
        optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(200):
            loss = model.loss(model(train), train.labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            out = model.eval()(test)
        carrier = torch.where(trait > 0, out.alpha_audio[:, :8].sum(1), out.alpha_audio[:, 8:].sum(1))
        results[name] = ((out.logits.argmax(1) == test.labels).float().mean().item(),
                         carrier[trait > 0].mean().item(), carrier[trait < 0].mean().item())
    assert results["IA+T"][0] < 0.6 and results["IA+T+"][0] < 0.6, results
    assert results["PAaAN_oracle"][0] > 0.9 and results["PAaAN+_oracle"][0] > 0.9, results
    assert min(results["PAaAN+_oracle"][1:]) > 0.8, results  # on the carrier, whichever sign
    assert min(results["PAaAN_oracle"][1:]) < 0.6, results  # fc: split evenly for one of the signs


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_unimodal_baselines_read_only_their_modality(variant):
    model = tiny_model(variant)
    b = random_batch(LENGTHS)
    with torch.no_grad():
        base = model(b).logits
        no_audio = model(replace(b, audio=torch.randn_like(b.audio))).logits
        no_text = model(replace(b, words=torch.randn_like(b.words))).logits
    assert torch.equal(base, no_audio) == (not variant.uses_audio)
    assert torch.equal(base, no_text) == (not variant.uses_text)


@pytest.mark.parametrize("variant", PAAAN_VARIANTS, ids=lambda v: v.name)
def test_time_alignment_matters_only_in_aligned_mode(variant):
    b = random_batch(LENGTHS)
    shifted = replace(b, step_word=torch.where(b.step_word >= 0, (b.step_word + 1) % b.word_lengths[:, None],
                                               b.step_word))
    for alignment, changes in (("aligned", True), ("mean", False)):
        model = tiny_model(variant, replace(TINY, time_alignment=alignment))
        with torch.no_grad():
            before, after = model(b).logits, model(shifted).logits
        if changes:
            assert (before - after).abs().max() > 1e-4
        else:
            assert torch.equal(before, after)


def test_aligned_mode_without_any_alignment_is_mean_mode():
    # With every step NO_WORD, "aligned" falls back to the time-averages everywhere: the "mean" network.
    variant = get_variant("PAaAN_PP")
    aligned = tiny_model(variant, replace(TINY, time_alignment="aligned"))
    mean = tiny_model(variant, replace(TINY, time_alignment="mean"))
    mean.load_state_dict(aligned.state_dict())
    b = random_batch(LENGTHS)
    b = replace(b, step_word=torch.full_like(b.step_word, NO_WORD))
    with torch.no_grad():
        assert torch.allclose(aligned(b).logits, mean(b).logits, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------
# sizes


def test_both_readings_of_the_128_node_concatenation():
    paper = ModelConfig()
    assert blstm_units(paper) == 128  # "projection": 128 units per direction, [C_A, C_T] = 512 -> 128
    split = replace(paper, fusion="split")
    assert blstm_units(split) == 32  # "split": 32 per direction, [C_A, C_T] = 2 x 2 x 32 = 128 nodes
    with pytest.raises(ValueError, match="divisible by 4"):
        blstm_units(replace(paper, fusion="split", fusion_size=130))

    b = random_batch(LENGTHS)
    for name, extra in (("A+T", 0), ("PAaAN_PP", 0), ("P-D", 25)):
        proj = build_model(get_variant(name), paper, word_dim=WORD_DIM, seed=0).eval()
        assert proj.head.fusion[0].in_features == 4 * 128 + extra and proj.head.fusion[0].out_features == 128
        assert proj.head.dense.in_features == 128 and proj.head.dense.out_features == 256
        spl = build_model(get_variant(name), split, word_dim=WORD_DIM, seed=0).eval()
        assert spl.head.dense.in_features == 128 + extra and spl.head.dense.out_features == 256
        with torch.no_grad():
            out_proj, out_split = proj(b), spl(b)
        assert out_proj.embedding.shape == (4, 512 + extra) and out_split.embedding.shape == (4, 128 + extra)
        assert out_proj.logits.shape == out_split.logits.shape == (4, 4)


def test_p_t_appends_the_personality_to_every_blstm_input_step():
    model = tiny_model(get_variant("P-T"))
    assert model.blstm_a.lstm.input_size == AUDIO_DIM + 25 and model.blstm_t.lstm.input_size == WORD_DIM + 25


def _lstm(inputs: int, hidden: int, directions: int = 2) -> int:
    # 4 gates x (input weights + recurrent weights + two bias vectors), per direction
    return directions * 4 * hidden * (inputs + hidden + 2)


def _linear(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


@pytest.mark.parametrize("word_dim", [300, 50])
def test_parameter_counts_at_paper_sizes(word_dim):
    H, P, HEAD = 128, 16, _linear(4 * 128, 128) + _linear(128, 256) + _linear(256, 4)
    ia_t = (_lstm(45, H) + _lstm(word_dim, H) + 2 * _linear(2 * H, P)  # BLSTM-A, BLSTM-T, eq. 1 pre-layers
            + 2 * _linear(2 * P, 1) + HEAD)  # FC_A, FC_T on [g_T, g_A]; the head
    paaan = ia_t + _linear(25, P) + 2 * P  # + g_P and its 16 inputs to each of FC_A, FC_T
    # by hand for 300-d GloVe: BLSTM-A 2*512*175 = 179200, BLSTM-T 2*512*430 = 440320, pre-layers 2*4112,
    # FC 2*33, head 65664 + 33024 + 1028 -> IA+T 727526; g_P 416 + 32 more FC weights -> PAaAN 727974
    if word_dim == 300:
        assert (ia_t, paaan) == (727526, 727974)
    assert n_parameters(build_model(get_variant("IA+T"), ModelConfig(), word_dim=word_dim)) == ia_t
    assert n_parameters(build_model(get_variant("PAaAN_PP"), ModelConfig(), word_dim=word_dim)) == paaan


def test_seeded_builds_are_identical_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(get_variant("PAaAN_PP"), TINY, word_dim=WORD_DIM, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_model(get_variant("PAaAN_PP"), TINY, word_dim=WORD_DIM, seed=7)
    c = build_model(get_variant("PAaAN_PP"), TINY, word_dim=WORD_DIM, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters()))


def test_prev1_trains_on_cross_entropy_plus_weighted_embedding_loss():
    model = tiny_model(get_variant("Prev1"))
    b = random_batch(LENGTHS, labels=[0, 0, 1, 2])
    out = model(b)
    ce = F.cross_entropy(out.logits, b.labels)
    emb = embedding_loss(out.embedding, b.labels)
    assert emb.item() > 0
    expected = ce + TINY_PREV1.embedding_weight * emb
    assert model.loss(out, b.labels).item() == pytest.approx(expected.item(), rel=1e-6)
    other = tiny_model(get_variant("A+T"))
    out2 = other(b)
    assert other.loss(out2, b.labels).item() == pytest.approx(F.cross_entropy(out2.logits, b.labels).item())


def test_mismatched_variant_rows_are_refused():
    with pytest.raises(ValueError, match="needs audio\\+text"):
        build_model(replace(get_variant("PAaAN_PP"), modalities="audio"), TINY, word_dim=WORD_DIM)
    with pytest.raises(ValueError, match="no personality integration"):
        build_model(replace(get_variant("A+T"), integration="attention"), TINY, word_dim=WORD_DIM)
    with pytest.raises(ValueError, match="time_alignment"):
        build_model(get_variant("PAaAN_PP"), replace(TINY, time_alignment="nearest"), word_dim=WORD_DIM)
    with pytest.raises(ValueError, match="fusion"):
        build_model(get_variant("A+T"), replace(TINY, fusion="sum"), word_dim=WORD_DIM)


# ----------------------------------------------------------------------------------------------------------------
# learning


@pytest.mark.parametrize("name", [v.name for v in VARIANTS])
def test_each_variant_learns_sixteen_examples(name):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    lengths = [(int(torch.randint(4, 12, (1,), generator=gen)), int(torch.randint(1, 5, (1,), generator=gen)))
               for _ in range(16)]
    b = random_batch(lengths, seed=2, labels=torch.arange(16) % 4)
    model = tiny_model(get_variant(name)).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(200):
        out = model(b)
        if (out.logits.argmax(1) == b.labels).all():
            break
        optimiser.zero_grad()
        model.loss(out, b.labels).backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(b).logits.argmax(1) == b.labels).float().mean().item()
    assert accuracy == 1.0, f"{name}: {accuracy:.2f} training accuracy after {step} Adam steps"
