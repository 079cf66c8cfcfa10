"""``write_emobox_demo``: a second demo corpus, in EmoBox's layout, with the same planted personality effects.

The emotion corpus is rendered by ``paaan.demo.generate_demo_corpus`` (a black box here) in IEMOCAP's layout,
with a seed of its own (``SEED_OFFSET + seed``: seeds below ``SEED_OFFSET`` are the IEMOCAP-layout demo
corpora's, and a corpus of more speakers holds its seed's smaller ones, so an offset keeps the two demo
corpora from sharing a speaker or an utterance) and more speakers (20 by default), so the scenario's
effects are planted on new people. It is then read back with ``load_iemocap`` (the four classes) and laid out
as EmoBox lays out a corpus (``paaan.data.emobox``, docs/corpus_formats.md "EmoBox layout")::

    OUT/acted_demo/acted_demo.jsonl           one utterance a line, wav paths relative to acted_demo/
    OUT/acted_demo/label_map.json             ANG, EXC, HAP, NEU, SAD -> Angry, Happy, Happy, Neutral, Sad
    OUT/acted_demo/data.seg.wrd.stm           speakers
    OUT/acted_demo/fold_N/acted_demo_{train,test}_fold_N.jsonl   five folds, leave-speaker-group-out
    OUT/acted_demo/wav/<speaker>/<speaker>-<NNNN>.wav
    OUT/acted_demo/transcripts.csv            utterance_id,transcript,words,starts,ends (not EmoBox's: it has none)
    OUT/SSPNet/                               the render's SSPNet, as the IEMOCAP-layout demo writes it
    OUT/ground_truth.json                     the render's ground truth, keyed by the new speaker ids and keys

Speakers are renamed ``1001``, ``1002``, ... (CREMA-D's style) in the render's speaker order, keys are
``acted_demo-<speaker>-<NNNN>`` (numbered per speaker, so a key says nothing about its emotion). The folds
test on consecutive groups of the render's sessions (``paaan.data.folds.session_groups``: with 20 speakers,
four speakers a fold), the same groups the render's own leave-one-session-out uses, so every fold trains on
both sides of the planted traits as the generator arranged. Only the four-class utterances are kept (as in
EmoBox's own IEMOCAP metadata), and of those every second one of each speaker and label (``UTTERANCE_SHARE``):
an acted corpus has more speakers and fewer utterances each. ``exc`` stays a code of its own (``EXC``) that the
label map merges into Happy.

The corpus is built in ``OUT/.partial-emobox-*`` and moved into place at the end, ground truth last; ``OUT``
must be missing, empty, or an earlier EmoBox demo (replaced).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import soundfile as sf

from paaan.data.folds import session_groups
from paaan.data.iemocap import load_iemocap
from paaan.demo import plan
from paaan.demo.generator import GROUND_TRUTH, IEMOCAP_DIR, SSPNET_DIR, generate_demo_corpus
from paaan.errors import CorpusError

GENERATOR = "paaan.demo.emobox"
VERSION = "2"  # 2: half of each speaker's utterances of every label (UTTERANCE_SHARE)
NAME = "acted_demo"
SEED_OFFSET = 1000
FOLDS = 5
DEFAULT_SPEAKERS = 20  # more speakers than the IEMOCAP-layout demo's ten, as acted corpora have
# ... and fewer utterances each: of each speaker's rendered utterances of a label, every second one (in id order)
# is kept, so twenty speakers hold as many utterances as the IEMOCAP-layout demo's ten (and a study of it takes
# as long: 11.4 min on 2 cores with all of them, over the ten minutes a demo study may take; BENCHMARKS.md 13)
UTTERANCE_SHARE = 2
FIRST_SPEAKER = 1001
CODES: dict[str, str] = {"ang": "ANG", "hap": "HAP", "exc": "EXC", "neu": "NEU", "sad": "SAD"}  # IEMOCAP -> demo code
LABEL_MAP: dict[str, str] = {"ANG": "Angry", "EXC": "Happy", "HAP": "Happy", "NEU": "Neutral", "SAD": "Sad"}
_PARTIAL_PREFIX, _PARTIAL_MARKER = ".partial-emobox-", "PARTIAL_EMOBOX_DEMO"


def is_emobox_demo(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished EmoBox demo corpus: a ground_truth.json written by this module."""
    try:
        return json.loads((Path(folder) / GROUND_TRUTH).read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def emobox_demo_matches(folder: str | Path, seed: int, profile: str, scenario: str, speakers: int) -> bool:
    """True when ``folder`` holds a finished EmoBox demo corpus of this module's version, rendered by this version
    of the generator, with this seed, profile, scenario (name and knobs) and number of speakers: otherwise it is
    stale (``generator.matches``)."""
    from paaan.demo import generator

    if not generator.matches(folder, seed, profile, scenario, speakers, generator=GENERATOR, version=VERSION):
        return False
    return (json.loads((Path(folder) / GROUND_TRUTH).read_text()).get("render") or {}).get("version") == generator.VERSION


def write_emobox_demo(out: str | Path, seed: int = 0, scenario: str = "input_flip", speakers: int = DEFAULT_SPEAKERS,
                      workers: int = 0, profile: str = "demo", progress: bool = False) -> Path:
    """Write ``out/acted_demo`` (EmoBox's layout), ``out/SSPNet`` and ``out/ground_truth.json``; return ``out``.

    ``scenario``, ``speakers`` (``plan.check_speakers``: 10, 20, ... 190), ``workers``, ``profile`` and
    ``progress`` go to ``generate_demo_corpus``, which renders with seed ``SEED_OFFSET + seed``. Deterministic:
    the same arguments give the same files.
    """
    plan.check_speakers(speakers)
    out = Path(out)
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    for partial in _our_partials(out):
        shutil.rmtree(partial, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=out))
    try:
        (staging / _PARTIAL_MARKER).write_text(f"{GENERATOR} {VERSION}: unfinished, safe to delete\n")
        render = staging / "render"
        generate_demo_corpus(render, seed=SEED_OFFSET + seed, profile=profile, scenario=scenario,
                             progress=progress, workers=workers, speakers=speakers)
        table = load_iemocap(render / IEMOCAP_DIR)
        layout = _layout(table)
        _write_corpus(staging / NAME, layout)
        os.replace(render / SSPNET_DIR, staging / SSPNET_DIR)
        truth = _ground_truth(json.loads((render / GROUND_TRUTH).read_text()), layout, seed)
        (staging / GROUND_TRUTH).write_text(json.dumps(truth, indent=1) + "\n")
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------------


def _layout(table: pd.DataFrame) -> pd.DataFrame:
    """The render's four-class table with its EmoBox names: speaker, key, wav (relative), code, fold."""
    old_speakers = sorted(set(table["speaker"]))
    speaker_of = {old: str(FIRST_SPEAKER + i) for i, old in enumerate(old_speakers)}
    groups = session_groups(table["session"].tolist(), FOLDS)
    fold_of = {session: f for f, group in enumerate(groups, start=1) for session in group}
    table = table.sort_values("utterance_id", kind="stable")
    table = table[table.groupby(["speaker", "raw_label"]).cumcount() % UTTERANCE_SHARE == 0]
    rows = []
    for old, utts in table.groupby("speaker", sort=True):
        speaker = speaker_of[old]
        for n, (_, row) in enumerate(utts.iterrows(), start=1):
            stem = f"{speaker}-{n:04d}"
            rows.append({"key": f"{NAME}-{stem}", "source_id": row["utterance_id"], "speaker": speaker,
                         "source_speaker": old, "emo": CODES[row["raw_label"]], "fold": fold_of[row["session"]],
                         "wav": f"wav/{speaker}/{stem}.wav", "source_wav": row["wav_path"],
                         "transcript": row["transcript"], "words": row["align_words"],
                         "starts": row["align_starts"], "ends": row["align_ends"]})
    return pd.DataFrame(rows).sort_values("key", kind="stable").reset_index(drop=True)


def _jsonl_line(row, rate: int, frames: int) -> str:
    """A line of EmoBox's ``<name>.jsonl``, fields in EmoBox's order."""
    return json.dumps({"key": row.key, "dataset": NAME, "wav": row.wav, "type": "raw", "sample_rate": rate,
                       "num_frame": float(frames), "task": "category", "length": frames / rate, "emo": row.emo,
                       "channel": 1})


def _write_corpus(corpus: Path, layout: pd.DataFrame) -> None:
    lines, stm = {}, []
    for row in layout.itertuples(index=False):
        wav = corpus / row.wav
        wav.parent.mkdir(parents=True, exist_ok=True)
        os.replace(row.source_wav, wav)  # same file system: the render lies in the same staging folder
        info = sf.info(str(wav))
        rate, frames = int(info.samplerate), int(info.frames)
        lines[row.key] = _jsonl_line(row, rate, frames)
        stm.append(f"{row.key} 1 {row.speaker} 0 {frames / rate} "
                   f"<id={row.key},lang=en,spk={row.speaker},emotion={row.emo}> {row.emo}")
    (corpus / f"{NAME}.jsonl").write_text("".join(line + "\n" for line in lines.values()))
    (corpus / "data.seg.wrd.stm").write_text("".join(line + "\n" for line in stm))
    (corpus / "label_map.json").write_text(json.dumps(LABEL_MAP, indent=4))
    for fold in sorted(set(layout["fold"])):
        fold_dir = corpus / f"fold_{fold}"
        fold_dir.mkdir()
        test = layout["fold"] == fold
        for split, rows in (("train", layout[~test]), ("test", layout[test])):
            (fold_dir / f"{NAME}_{split}_fold_{fold}.jsonl").write_text(
                "".join(lines[key] + "\n" for key in rows["key"]))
    with open(corpus / "transcripts.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["utterance_id", "transcript", "words", "starts", "ends"])
        for row in layout.itertuples(index=False):
            aligned = isinstance(row.words, list) and row.words
            writer.writerow([row.key, row.transcript, " ".join(row.words) if aligned else "",
                             " ".join(f"{t:g}" for t in row.starts) if aligned else "",
                             " ".join(f"{t:g}" for t in row.ends) if aligned else ""])


def _ground_truth(truth: dict, layout: pd.DataFrame, seed: int) -> dict:
    """The render's ground truth keyed by the new speaker ids and keys. The emotion corpus' speakers stay under
    ``iemocap.speakers`` (where ``paaan.personality.true_profiles`` reads them), each with its render id as
    ``source_speaker``; ``emobox`` maps both ways and records the folds."""
    speakers = dict(zip(layout["source_speaker"], layout["speaker"]))
    keys = dict(zip(layout["source_id"], layout["key"]))
    emotion = dict(truth["iemocap"])
    emotion["speakers"] = {speakers[old]: {**info, "source_speaker": old}
                           for old, info in truth["iemocap"]["speakers"].items() if old in speakers}
    for field in ("utterance_text_cue", "utterance_segments"):
        emotion[field] = {keys[u]: v for u, v in sorted(truth["iemocap"].get(field, {}).items()) if u in keys}
    folds = {str(f): sorted(set(rows["speaker"])) for f, rows in layout.groupby("fold")}
    return {
        **truth,
        "generator": GENERATOR,
        "version": VERSION,
        "seed": seed,
        "render": {"generator": truth["generator"], "version": truth["version"], "seed": truth["seed"]},
        "iemocap": emotion,
        "emobox": {"corpus": NAME, "label_map": LABEL_MAP, "fold_speakers": folds,
                   "speakers": {new: old for old, new in speakers.items()},
                   "utterances": dict(sorted((k, u) for u, k in keys.items()))},
    }


def _our_partials(out: Path) -> list[Path]:
    return [p for p in out.glob(_PARTIAL_PREFIX + "*") if (p / _PARTIAL_MARKER).is_file()]


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CorpusError(out, "exists and is not a folder; give a new or empty folder for the EmoBox demo corpus")
    if not out.exists() or not any(out.iterdir()) or is_emobox_demo(out) or _our_partials(out):
        return
    found = ", ".join(sorted(p.name for p in out.iterdir())[:5])
    raise CorpusError(out, f"is not empty and is not an EmoBox demo corpus (it holds {found}); give a new or "
                           "empty folder, or the folder of an earlier EmoBox demo corpus to replace it")


def _publish(staging: Path, out: Path) -> None:
    """Move the finished corpus from ``staging`` into ``out``, replacing an earlier one; ground truth last."""
    (out / GROUND_TRUTH).unlink(missing_ok=True)  # from here until the end, ``out`` reads as unfinished
    old = staging / "replaced"
    old.mkdir()
    for name in (NAME, SSPNET_DIR):
        if (out / name).exists():
            os.replace(out / name, old / name)
        os.replace(staging / name, out / name)
    os.replace(staging / GROUND_TRUTH, out / GROUND_TRUTH)
