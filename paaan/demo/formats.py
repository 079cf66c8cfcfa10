"""The text files of the demo corpus, written exactly as docs/corpus_formats.md describes them.

Pure functions from values to lines, so each format has a test against the spec's own example.
"""

from __future__ import annotations

import re

# IEMOCAP label codes -> the word evaluators write on their per-rater lines.
CATEGORY_WORDS: dict[str, str] = {
    "ang": "Anger", "hap": "Happiness", "exc": "Excited", "neu": "Neutral", "sad": "Sadness",
    "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other",
}

LABEL_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
WDSEG_HEADER = " SFrm  EFrm    SegAScr Word"


def label_line(start: float, end: float, utterance: str, emotion: str, vad: tuple[float, float, float]) -> str:
    """``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``."""
    v, a, d = vad
    return f"[{start:.4f} - {end:.4f}]\t{utterance}\t{emotion}\t[{v:.4f}, {a:.4f}, {d:.4f}]"


def categorical_rater_line(rater: str, category: str) -> str:
    """``C-E2:<TAB>Neutral;<TAB>()``."""
    return f"C-{rater}:\t{category};\t()"


def attribute_rater_line(rater: str, val: int, act: int, dom: int) -> str:
    """``A-E3:<TAB>val 3; act 2; dom  2;<TAB>()`` (two spaces before dom's value, as in the real files)."""
    return f"A-{rater}:\tval {val}; act {act}; dom  {dom};\t()"


def transcript_line(utterance: str, start: float, end: float, text: str) -> str:
    """``Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`` (times zero-padded to 8 characters)."""
    return f"{utterance} [{start:08.4f}-{end:08.4f}]: {text}"


def seconds_to_frame(seconds: float) -> int:
    """The 10 ms frame holding time ``seconds`` (frame f starts at f / 100 s): 0.125 s -> 12."""
    return int(seconds * 100 + 1e-9)


def wdseg_lines(segments: list[tuple[int, int, int, str]]) -> list[str]:
    """A forced-alignment file from ``(first_frame, last_frame, score, token)`` rows, with the header and
    the closing ``Total score`` line (the sum of the rows' scores)."""
    lines = [WDSEG_HEADER]
    lines += [f"{s:5d} {e:5d} {score:9d} {token}" for s, e, score, token in segments]
    lines.append(f" Total score: {sum(seg[2] for seg in segments):10d}")
    return lines


_NOT_A_LETTER = re.compile(r"[^A-Za-z]")


def alignment_word(word: str) -> str:
    """A spoken word as the aligner writes it: upper case, letters only (``forms?`` -> ``FORMS``)."""
    return _NOT_A_LETTER.sub("", word).upper()


def rater_csv(rows: list[tuple[str, tuple[int, ...]]], columns: tuple[str, ...]) -> str:
    """A per-rater score file: header ``clip,<columns>`` then one ``clip,score,...`` row per clip."""
    lines = [",".join(("clip", *columns))]
    lines += [",".join((clip, *(str(int(s)) for s in scores))) for clip, scores in rows]
    return "\n".join(lines) + "\n"


# macOS resource-fork stubs ("AppleDouble"), as left by copying the corpus from a Mac.
APPLE_DOUBLE = (
    b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002\x00\x00\x0e\xb0"
    b"\x00\x00\x00\x02\x00\x00\x0e\xe2\x00\x00\x01\x1e" + b"\x00" * 48
)
