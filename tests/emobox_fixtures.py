"""A hand-written corpus in EmoBox's layout (``data/<name>/``), small enough to count by hand.

The lines below are EmoBox's own formats (``data/cremad/cremad.jsonl``, ``data.seg.wrd.stm``, ``label_map.json``,
``fold_N/cremad_{train,test}_fold_N.jsonl``), cut down to four speakers and twelve utterances, with the odd
cases a reader meets: a dataset name with a dash in every key (``crema-d-1001_DFA_ANG_XX``), one absolute wav
path, an utterance without an emotion, emotions outside the four classes, a speaker in no test fold, a fold
without a train file, and an stm line of a key the jsonl does not have.

    key                        speaker  emo   kept as   fold (test)
    crema-d-1001_DFA_ANG_XX    1001     ANG   ang       1
    crema-d-1001_DFA_HAP_XX    1001     HAP   hap       1
    crema-d-1001_IEO_NEU_XX    1001     NEU   neu       1
    crema-d-1001_IEO_SAD_LO    1001     SAD   sad       1
    crema-d-1001_TIE_DIS_XX    1001     DIS   skipped   1
    crema-d-1002_DFA_ANG_XX    1002     ANG   ang       2   (absolute wav path)
    crema-d-1002_DFA_SAD_XX    1002     SAD   sad       2
    crema-d-1002_ITS_FEA_XX    1002     FEA   skipped   2
    crema-d-1003_DFA_HAP_XX    1003     HAP   hap       2
    crema-d-1003_DFA_NEU_XX    1003     NEU   neu       2
    crema-d-1003_MTI_XXX       1003     -     skipped   2   (no "emo": missing_label)
    crema-d-1004_WSI_ANG_XX    1004     ANG   ang       -   (session 0)

Kept: 9 (ang 3, hap 2, neu 2, sad 2); skipped: label:DIS 1, label:FEA 1, missing_label 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

NAME = "crema-d"
RATE = 16000
ABSOLUTE_KEY = "crema-d-1002_DFA_ANG_XX"
NO_FOLD_KEY = "crema-d-1004_WSI_ANG_XX"

# (key, speaker, emo or None, seconds)
UTTERANCES = [
    ("crema-d-1001_DFA_ANG_XX", "1001", "ANG", 0.5),
    ("crema-d-1001_DFA_HAP_XX", "1001", "HAP", 0.625),
    ("crema-d-1001_IEO_NEU_XX", "1001", "NEU", 0.5),
    ("crema-d-1001_IEO_SAD_LO", "1001", "SAD", 0.75),
    ("crema-d-1001_TIE_DIS_XX", "1001", "DIS", 0.5),
    ("crema-d-1002_DFA_ANG_XX", "1002", "ANG", 0.5),
    ("crema-d-1002_DFA_SAD_XX", "1002", "SAD", 0.5),
    ("crema-d-1002_ITS_FEA_XX", "1002", "FEA", 0.5),
    ("crema-d-1003_DFA_HAP_XX", "1003", "HAP", 0.5),
    ("crema-d-1003_DFA_NEU_XX", "1003", "NEU", 0.875),
    ("crema-d-1003_MTI_XXX", "1003", None, 0.5),
    ("crema-d-1004_WSI_ANG_XX", "1004", "ANG", 0.5),
]
KEPT = {"ang": 3, "hap": 2, "neu": 2, "sad": 2}
FOLD_TEST = {1: [u[0] for u in UTTERANCES if u[1] == "1001"],
             2: [u[0] for u in UTTERANCES if u[1] in ("1002", "1003")]}
FOLD_1_TRAIN = FOLD_TEST[2]  # fold 2 has no train file: its train set is every other utterance

LABEL_MAP = """{
    "ANG": "Angry",
    "DIS": "Disgust",
    "FEA": "Fear",
    "HAP": "Happy",
    "NEU": "Neutral",
    "SAD": "Sad"
}"""

TRANSCRIPTS = """utterance_id,transcript,words,starts,ends
crema-d-1001_DFA_ANG_XX,Don't forget a jacket.,DON'T FORGET A JACKET,0.02 0.12 0.3 0.34,0.12 0.3 0.34 0.48
crema-d-1001_DFA_HAP_XX,Don't forget a jacket.,,,
crema-d-1001_IEO_NEU_XX,"It's eleven o'clock, then.",,,
crema-d-1001_IEO_SAD_LO,It's eleven o'clock.,,,
crema-d-1001_TIE_DIS_XX,That is exactly what happened.,,,
crema-d-1002_DFA_ANG_XX,Don't forget a jacket.,,,
crema-d-1002_DFA_SAD_XX,Don't forget a jacket.,DON'T FORGET,0.0 0.2,0.2 0.45
crema-d-1003_DFA_HAP_XX,Don't forget a jacket.,,,
crema-d-1003_DFA_NEU_XX,Don't forget a jacket.,,,
crema-d-1004_WSI_ANG_XX,We'll stop in a couple of minutes.,,,
"""


def wav_name(key: str) -> str:
    return key[len(NAME) + 1:] + ".wav"  # "crema-d-1001_DFA_ANG_XX" -> "1001_DFA_ANG_XX.wav"


def jsonl_line(key: str, emo: str | None, seconds: float, wav: str) -> str:
    """One line of ``<name>.jsonl`` exactly as EmoBox writes it (field order, floats, ``type``, ``task``)."""
    emo_field = f', "emo": "{emo}"' if emo is not None else ""
    return (f'{{"key": "{key}", "dataset": "{NAME}", "wav": "{wav}", "type": "raw", "sample_rate": {RATE}, '
            f'"num_frame": {seconds * RATE:.1f}, "task": "category", "length": {seconds}{emo_field}, "channel": 1}}')


def stm_line(key: str, speaker: str, emo: str | None, seconds: float) -> str:
    tag = f"<id={key},lang=en,spk={speaker}" + (f",emotion={emo}>" if emo else ">")
    return f"{key} 1 {speaker} 0 {seconds} {tag} {emo or ''}".rstrip()


def write_tone(path: Path, seconds: float, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * rate))) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 200.0 * t)).astype(np.float32), rate, subtype="PCM_16")


def write_emobox(root: Path) -> dict[str, Path]:
    """EmoBox's layout under ``root``: ``EmoBox/data/crema-d/`` (metadata), ``EmoBox/downloads/crema-d/AudioWAV``
    (the wavs the relative paths name, from ``wav_root`` = ``EmoBox``), one wav elsewhere (the absolute path)
    and a transcripts CSV. Returns {"folder", "wav_root", "transcripts", "absolute_wav"}."""
    wav_root = root / "EmoBox"
    folder = wav_root / "data" / NAME
    folder.mkdir(parents=True)
    absolute_wav = (root / "elsewhere" / wav_name(ABSOLUTE_KEY)).resolve()
    lines, stm = [], []
    by_key = {}
    for key, speaker, emo, seconds in UTTERANCES:
        if key == ABSOLUTE_KEY:
            wav = str(absolute_wav)
            write_tone(absolute_wav, seconds)
        else:
            wav = f"downloads/{NAME}/AudioWAV/{wav_name(key)}"
            write_tone(wav_root / wav, seconds)
        by_key[key] = jsonl_line(key, emo, seconds, wav)
        lines.append(by_key[key])
        stm.append(stm_line(key, speaker, emo, seconds))
    stm.append(stm_line("crema-d-1099_DFA_ANG_XX", "1099", "ANG", 0.5))  # a key the jsonl does not have
    (folder / f"{NAME}.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "data.seg.wrd.stm").write_text("\n".join(stm) + "\n")
    (folder / "label_map.json").write_text(LABEL_MAP)
    for fold, keys in FOLD_TEST.items():
        fold_dir = folder / f"fold_{fold}"
        fold_dir.mkdir()
        (fold_dir / f"{NAME}_test_fold_{fold}.jsonl").write_text("".join(by_key[k] + "\n" for k in keys))
    (folder / "fold_1" / f"{NAME}_train_fold_1.jsonl").write_text("".join(by_key[k] + "\n" for k in FOLD_1_TRAIN))
    transcripts = root / "transcripts.csv"
    transcripts.write_text(TRANSCRIPTS)
    return {"folder": folder, "wav_root": wav_root, "transcripts": transcripts, "absolute_wav": absolute_wav}
