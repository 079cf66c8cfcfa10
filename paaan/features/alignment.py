"""Word <-> audio time alignment for PAaAN's time-aligned attention (paper II-C3, eq. 2).

Eq. 2 concatenates g_T,t, g_A,t and g_P,t at one time step t, but the text runs over words and the audio over
40 ms steps (II-B1). With IEMOCAP's forced alignment (``.wdseg``) the two axes can be tied: each audio step
sees the word it falls in, and each word sees the mean of its audio steps. This module computes that tie:

1. ``align_tokens``: the transcript's tokens (``tokenize``) -> start/end seconds, from the aligner's words;
2. ``token_steps``: seconds -> the first and last 40 ms step of each token;
3. ``step_to_word``: for each 40 ms step, the token it falls in (-1 for none).

A token the aligner has no word for (punctuation, a word it skipped, an utterance without ``.wdseg``) gets
NaN times and step -1: absent alignment is recorded, never invented.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

STEP_SECONDS = 0.04  # II-B1: one BLSTM time step is the mean of four 10 ms LLD frames

# Tokens and aligner words are compared on letters and digits only, lower-cased: the tokenizer writes
# "n't" where the aligner writes "DON'T", and hyphens ("UM-HMM" / "um-hmm") may be written or not.
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# The most pieces joined into one side of a match: "y'all're"-like splits have at most 3 pieces.
_MAX_PIECES = 4


def match_key(word: str) -> str:
    """The comparison form of a token or aligner word: lower case, letters and digits only ("n't" -> "nt")."""
    return _NOT_ALNUM.sub("", word.lower())


def align_tokens(tokens: Sequence[str], align_words: Sequence[str] | None,
                 align_starts: Sequence[float] | None,
                 align_ends: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end seconds of each token from the forced alignment; NaN where a token has none.

    Tokens and aligner words are matched in order on ``match_key`` by a small DP (``_match``) that leaves the
    fewest items unmatched and may join up to 4 consecutive pieces on one side to equal one item on the
    other, so
    - tokenizer splits: ``do`` + ``n't`` vs ``DON'T``, ``I`` + ``'m`` vs ``I'M``, ``gon`` + ``na`` vs ``GONNA``
      -> every piece gets the whole word's span (the aligner does not time the pieces);
    - aligner splits: ``um-hmm`` vs ``UM`` + ``HMM`` -> the token spans from the first word's start to the
      last word's end;
    - anything else that differs (a word missing on either side, a different spelling) is left unmatched.
    Tokens with an empty key (punctuation) are never matched.

    Returns ``(starts, ends)``: (N,) float64 each.
    """
    n = len(tokens)
    starts = np.full(n, np.nan)
    ends = np.full(n, np.nan)
    if align_words is None or align_starts is None or align_ends is None:
        return starts, ends
    if not (len(align_words) == len(align_starts) == len(align_ends)):
        raise ValueError(f"alignment lists differ in length: {len(align_words)} words, "
                         f"{len(align_starts)} starts, {len(align_ends)} ends")

    # Only tokens and words with letters or digits take part; `t_pos` / `w_pos` map back to positions.
    t_keys, t_pos = _keys(tokens)
    w_keys, w_pos = _keys(align_words)
    for t_span, w_span in _match(t_keys, w_keys):
        first_word, last_word = w_pos[w_span[0]], w_pos[w_span[-1]]
        for t in t_span:
            starts[t_pos[t]] = align_starts[first_word]
            ends[t_pos[t]] = align_ends[last_word]
    return starts, ends


def _keys(words: Sequence[str]) -> tuple[list[str], list[int]]:
    keys, positions = [], []
    for i, w in enumerate(words):
        k = match_key(w)
        if k:
            keys.append(k)
            positions.append(i)
    return keys, positions


def _match(a: list[str], b: list[str]) -> list[tuple[range, range]]:
    """Pairs (span of a, span of b) of matched items, in order; one side of each pair has length 1.

    A DP over the whole two sequences, not difflib's greedy longest-block anchoring: with tokens
    ``do n't do`` and words ``DON'T DO`` difflib would first pair the token "do" with the word "DO" and
    strand the rest, where the DP leaves nothing unmatched. cost[i][j] = fewest items of a[i:] and b[j:]
    left unmatched; skipping an item costs 1, a (joined) match 0; among equally good choices the match
    (then the shortest join) is taken. 100 x 100 words take ~15 ms.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return []
    INF = n + m + 1
    cost = [[INF] * (m + 1) for _ in range(n + 1)]
    move: list[list[tuple[int, int]]] = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n and j == m:
                cost[i][j] = 0
                continue
            best, step = INF, (0, 0)
            if i < n and j < m:
                for la in range(1, min(_MAX_PIECES, n - i) + 1):  # a[i:i+la] joined == b[j]
                    if cost[i + la][j + 1] < best and "".join(a[i:i + la]) == b[j]:
                        best, step = cost[i + la][j + 1], (la, 1)
                for lb in range(2, min(_MAX_PIECES, m - j) + 1):  # a[i] == b[j:j+lb] joined
                    if cost[i + 1][j + lb] < best and a[i] == "".join(b[j:j + lb]):
                        best, step = cost[i + 1][j + lb], (1, lb)
            if i < n and cost[i + 1][j] + 1 < best:
                best, step = cost[i + 1][j] + 1, (1, 0)  # a[i] left unmatched
            if j < m and cost[i][j + 1] + 1 < best:
                best, step = cost[i][j + 1] + 1, (0, 1)  # b[j] left unmatched
            cost[i][j], move[i][j] = best, step
    pairs, i, j = [], 0, 0
    while i < n or j < m:
        la, lb = move[i][j]
        if la and lb:
            pairs.append((range(i, i + la), range(j, j + lb)))
        i, j = i + la, j + lb
    return pairs


def token_steps(starts: np.ndarray, ends: np.ndarray, n_steps: int,
                step: float = STEP_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """First and last audio step of each token: ``(first_step, last_step)``, (N,) int64 each, -1 where the
    token has no alignment (NaN).

    Step k covers [k*step, (k+1)*step). A token covers every step its [start, end) overlaps: a word from
    0.05 s to 0.17 s covers steps 1..4 at 40 ms; one ending exactly at 0.16 s stops at step 3. A token of
    zero length still gets the step it starts in. Steps are clipped to [0, n_steps - 1] (the last, partial
    40 ms of an utterance is dropped by the pooling, so a word may end after the last step).
    """
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    aligned = ~(np.isnan(starts) | np.isnan(ends))
    first = np.full(starts.shape, -1, dtype=np.int64)
    last = np.full(starts.shape, -1, dtype=np.int64)
    if n_steps <= 0:
        return first, last
    # The tolerance keeps seconds that are exact step boundaries in decimal (0.16 / 0.04 = 3.9999999999999996)
    # on their boundary.
    eps = 1e-9
    s = np.floor(starts[aligned] / step + eps).astype(np.int64)
    e = np.ceil(ends[aligned] / step - eps).astype(np.int64) - 1
    e = np.maximum(e, s)
    first[aligned] = np.clip(s, 0, n_steps - 1)
    last[aligned] = np.clip(e, 0, n_steps - 1)
    return first, last


def alignment_overrun(align_ends: Sequence[float] | None, duration: float) -> float:
    """Seconds by which the last aligned word ends after the audio does (0.0 when it ends within it, or when
    there is no alignment).

    A ``.wdseg`` times words from the start of its own utterance's wav, so its words end inside that wav
    (the demo corpus: 0.18 s or more before the end). A word ending well after the audio means the file
    belongs to other audio; ``token_steps`` would silently pin such words to the last step.
    """
    if align_ends is None or len(align_ends) == 0:
        return 0.0
    return max(0.0, float(max(align_ends)) - float(duration))


def step_to_word(first_step: np.ndarray, last_step: np.ndarray, n_steps: int) -> np.ndarray:
    """(n_steps,) int64: for each audio step, the index of the token it falls in, or -1 (silence, no
    alignment).

    Where tokens share a step (tokenizer pieces of one aligner word, or a step straddling a word boundary)
    the earlier token keeps it.
    """
    word = np.full(n_steps, -1, dtype=np.int64)
    # Written from the last token back to the first, so the earlier token's write is the one that stays.
    for index in range(len(first_step) - 1, -1, -1):
        if first_step[index] >= 0:
            word[first_step[index]:last_step[index] + 1] = index
    return word
