"""Word <-> 40 ms step alignment for the time-aligned attention (paper II-B1 steps, II-C3 eq. 2)."""

from __future__ import annotations

import numpy as np
import pytest

from paaan.features.alignment import align_tokens, match_key, step_to_word, token_steps

NaN = np.nan


def _times(tokens, words, starts, ends):
    s, e = align_tokens(tokens, words, starts, ends)
    return [None if np.isnan(a) else (a, b) for a, b in zip(s, e)]


def test_match_key_keeps_lowercase_letters_and_digits():
    assert match_key("DON'T") == "dont" and match_key("n't") == "nt"
    assert match_key("Um-hmm") == "umhmm" and match_key("!") == "" and match_key("7") == "7"


def test_words_that_agree_take_the_aligner_times():
    assert _times(["Excuse", "me"], ["EXCUSE", "ME"], [0.12, 0.45], [0.45, 0.77]) == [(0.12, 0.45), (0.45, 0.77)]


def test_tokenizer_pieces_share_the_whole_aligner_word():
    tokens = ["I", "do", "n't", "know", "I", "'m", "gon", "na", "go"]
    words = ["I", "DON'T", "KNOW", "I'M", "GONNA", "GO"]
    starts = [0.0, 0.1, 0.3, 0.5, 0.8, 1.0]
    ends = [0.1, 0.3, 0.5, 0.8, 1.0, 1.2]
    assert _times(tokens, words, starts, ends) == [(0.0, 0.1), (0.1, 0.3), (0.1, 0.3), (0.3, 0.5), (0.5, 0.8),
                                                   (0.5, 0.8), (0.8, 1.0), (0.8, 1.0), (1.0, 1.2)]


def test_an_aligner_split_word_spans_from_first_start_to_last_end():
    # tokenizer keeps "um-hmm" whole; the aligner has UM (0.2-0.35) and HMM (0.35-0.6)
    assert _times(["um-hmm", "yes"], ["UM", "HMM", "YES"], [0.2, 0.35, 0.6], [0.35, 0.6, 0.9]) == [(0.2, 0.6),
                                                                                                 (0.6, 0.9)]


def test_punctuation_has_no_alignment():
    assert _times(["Yes", ",", "no", "!"], ["YES", "NO"], [0.0, 0.5], [0.4, 0.9]) == [(0.0, 0.4), None, (0.5, 0.9),
                                                                                     None]


def test_a_word_missing_from_the_alignment_is_left_unaligned():
    assert _times(["I", "really", "like", "it"], ["I", "LIKE", "IT"], [0.0, 0.3, 0.6], [0.3, 0.6, 0.8]) == [
        (0.0, 0.3), None, (0.3, 0.6), (0.6, 0.8)]


def test_an_extra_aligner_word_is_skipped():
    # the aligner heard "UH" that the transcript does not have
    assert _times(["well", "okay"], ["WELL", "UH", "OKAY"], [0.0, 0.4, 0.7], [0.4, 0.7, 1.1]) == [(0.0, 0.4),
                                                                                                (0.7, 1.1)]


def test_pieces_are_not_stranded_by_a_later_equal_word():
    # "Don't do it": a greedy longest-block matcher pairs the token "do" with the aligner's DO; the DP pairs
    # do+n't with DON'T and the second "do" with DO.
    assert _times(["Do", "n't", "do"], ["DON'T", "DO"], [0.0, 0.3], [0.3, 0.5]) == [(0.0, 0.3), (0.0, 0.3),
                                                                                  (0.3, 0.5)]


def test_a_different_spelling_is_recorded_as_unaligned_not_guessed():
    assert _times(["OK", "then"], ["OKAY", "THEN"], [0.0, 0.5], [0.5, 0.8]) == [None, (0.5, 0.8)]


def test_no_alignment_file_gives_all_nan():
    s, e = align_tokens(["hello", "there"], None, None, None)
    assert np.isnan(s).all() and np.isnan(e).all() and s.shape == e.shape == (2,)


def test_empty_inputs():
    s, e = align_tokens([], ["HI"], [0.0], [0.2])
    assert s.shape == e.shape == (0,)
    assert _times(["hi"], [], [], []) == [None]


def test_alignment_lists_of_different_lengths_are_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        align_tokens(["hi"], ["HI"], [0.0, 0.1], [0.2])


# --- 40 ms steps -----------------------------------------------------------------------------------------


def test_a_word_from_50_to_170_ms_covers_steps_1_to_4():
    # step k covers [0.04k, 0.04k + 0.04): 0.05 s is in step 1, 0.17 s in step 4
    first, last = token_steps(np.array([0.05]), np.array([0.17]), n_steps=10)
    assert first.tolist() == [1] and last.tolist() == [4]


def test_a_word_ending_on_a_step_boundary_does_not_enter_the_next_step():
    # [0.00, 0.16) ends exactly where step 4 begins; [0.16, 0.20) is exactly step 4
    first, last = token_steps(np.array([0.0, 0.16]), np.array([0.16, 0.20]), n_steps=10)
    assert first.tolist() == [0, 4] and last.tolist() == [3, 4]


def test_unaligned_zero_length_and_overlong_words():
    starts = np.array([NaN, 0.20, 0.30, 0.60])
    ends = np.array([NaN, 0.20, 0.50, 0.70])
    first, last = token_steps(starts, ends, n_steps=10)
    # NaN -> -1; zero length at 0.20 -> step 5 only; 0.30-0.50 -> steps 7..12 clipped to 9;
    # 0.60-0.70 -> steps 15..17, clipped to the last step 9
    assert first.tolist() == [-1, 5, 7, 9] and last.tolist() == [-1, 5, 9, 9]


def test_step_to_word_marks_each_step_with_its_word():
    # word 0 steps 1..2, word 1 (punctuation) unaligned, word 2 steps 4..5, 7 steps in all
    assert step_to_word(np.array([1, -1, 4]), np.array([2, -1, 5]), n_steps=7).tolist() == [-1, 0, 0, -1, 2, 2, -1]


def test_the_earlier_word_keeps_a_shared_step():
    # "do" and "n't" share DON'T's steps 2..4; "know" starts in step 4 too
    assert step_to_word(np.array([0, 2, 2, 4]), np.array([1, 4, 4, 6]), n_steps=8).tolist() == [0, 0, 1, 1, 1, 3,
                                                                                                3, -1]


def test_end_to_end_from_seconds_to_step_words():
    tokens = ["Excuse", "me", "."]
    starts, ends = align_tokens(tokens, ["EXCUSE", "ME"], [0.12, 0.45], [0.45, 0.77])
    first, last = token_steps(starts, ends, n_steps=20)
    # EXCUSE 0.12-0.45 -> steps 3..11 (0.45/0.04 = 11.25); ME 0.45-0.77 -> steps 11..19 (0.77/0.04 = 19.25)
    assert first.tolist() == [3, 11, -1] and last.tolist() == [11, 19, -1]
    words = step_to_word(first, last, n_steps=20)
    assert words.tolist() == [-1, -1, -1] + [0] * 9 + [1] * 8
