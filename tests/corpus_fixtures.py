"""Hand-built corpora in the real on-disk formats (docs/corpus_formats.md), small enough to count by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from paaan.data.schema import TRAITS

# Per session: one improvised dialog whose utterances carry these labels, in this order. The speaker
# letter of each utterance alternates F, M, F, M, ... (the id's last part), so each session has both.
DIALOG_LABELS = ["neu", "exc", "hap", "fru", "ang", "xxx", "sad"]
# Kept per session: neu, exc->hap, hap, ang, sad -> ang 1, hap 2, neu 1, sad 1; skipped: fru 1, xxx 1.

# Per utterance (same order): its dimensional rating lines (rater, val, act, dom). ``E*`` are the external
# evaluators, whose mean the reader takes; ``F1``/``M1`` the actors' self-ratings, which it ignores. The
# last utterance (sad) has only a self-rating, so its rating falls back to the label line's [V, A, D].
DIALOG_RATINGS = [
    [("E1", 3, 2, 2), ("F1", 1, 5, 1), ("E2", 4, 2, 3)],
    [("E1", 4, 4, 3), ("E2", 5, 4, 3), ("E3", 3, 5, 3), ("M1", 1, 1, 1)],
    [("E1", 4, 3, 3), ("E3", 5, 3, 4)],
    [("E2", 2, 4, 4), ("E3", 2, 5, 4)],
    [("E1", 1, 5, 4), ("E2", 2, 4, 5), ("E4", 2, 5, 5), ("F1", 5, 5, 5)],
    [("E1", 3, 3, 3), ("E2", 3, 3, 3)],
    [("F1", 1, 1, 1)],
]
HEADER_VAD = "[2.5000, 3.0000, 2.0000]"  # every label line's [V, A, D]


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000, freq: float = 220.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, subtype="PCM_16")


def utterance_ids(session: int) -> list[str]:
    dialog = f"Ses0{session}F_impro01"
    counts = {"F": 0, "M": 0}
    ids = []
    for i, _ in enumerate(DIALOG_LABELS):
        gender = "F" if i % 2 == 0 else "M"
        ids.append(f"{dialog}_{gender}{counts[gender]:03d}")
        counts[gender] += 1
    return ids


def write_iemocap(root: Path, sessions=(1, 2, 3, 4, 5), quirks: bool = True) -> Path:
    """A 5-session IEMOCAP_full_release with DIALOG_LABELS per session, real formats and real quirks."""
    for session in sessions:
        base = root / f"Session{session}"
        dialog = f"Ses0{session}F_impro01"
        label_lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        transcript_lines = []
        for i, (utt, label, ratings) in enumerate(zip(utterance_ids(session), DIALOG_LABELS, DIALOG_RATINGS)):
            start, end = 1.0 + 2 * i, 1.5 + 2 * i
            label_lines += [f"[{start:.4f} - {end:.4f}]\t{utt}\t{label}\t{HEADER_VAD}",
                            "C-E2:\tNeutral;\t()", "C-E3:\tNeutral;\t()"]
            label_lines += [f"A-{rater}:\tval {v}; act {a}; dom  {d};\t()" for rater, v, a, d in ratings]
            label_lines.append("")
            transcript_lines.append(f"{utt} [{start:08.4f}-{end:08.4f}]: I don't know, really.")
            write_tone(base / "sentences" / "wav" / dialog / f"{utt}.wav")
            wdseg = base / "sentences" / "ForcedAlignment" / dialog / f"{utt}.wdseg"
            wdseg.parent.mkdir(parents=True, exist_ok=True)
            wdseg.write_text(" SFrm  EFrm    SegAScr Word\n    0     4     -1000 <s>\n    5    14     -2000 I\n"
                             "   15    29     -3000 DON'T\n   30    31      -100 <sil>\n   32    40     -4000 KNOW\n"
                             "   41    49     -1000 ++BREATHING++\n   50    59     -5000 REALLY(2)\n"
                             "   60    63     -1000 </s>\n Total score:    -17100\n")
        if quirks:
            transcript_lines.insert(1, "M: [LAUGHTER]")
            transcript_lines.append(f"{dialog}_MXX0 [020.0000-020.5000]: Yeah.")
        (base / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        (base / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        (base / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(label_lines) + "\n")
        (base / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(transcript_lines) + "\n")
        if quirks:
            (base / "dialog" / "EmoEvaluation" / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07Mac OS X")
            categorical = base / "dialog" / "EmoEvaluation" / "Categorical" / f"{dialog}_e1_cat.txt"
            categorical.parent.mkdir(parents=True, exist_ok=True)
            categorical.write_text(f"{utterance_ids(session)[0]} :Neutral state; ()\n")
    return root


def write_sspnet(root: Path, n_clips: int = 6, raters: int = 3, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Per-rater layout; returns the root and the (raters, clips, 5) integer scores written."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(-4, 5, size=(raters, n_clips, len(TRAITS)))
    clips = [f"{i + 1:04d}" for i in range(n_clips)]
    for clip in clips:
        write_tone(root / "Audio_clips" / f"{clip}.wav", seconds=0.5, rate=8000, freq=150.0)
    (root / "Personality_Scores").mkdir(parents=True, exist_ok=True)
    for r in range(raters):
        lines = ["clip," + ",".join(TRAITS)]
        lines += [clip + "," + ",".join(str(v) for v in scores[r, i]) for i, clip in enumerate(clips)]
        (root / "Personality_Scores" / f"Annotator_{r + 1:02d}.csv").write_text("\n".join(lines) + "\n")
    (root / "Speaker_IDs.csv").write_text("clip,speaker\n" + "".join(f"{c},spk{i // 2}\n" for i, c in enumerate(clips)))
    return root, scores
