"""Summaries of a corpus that a user reads before spending hours on it (``paaan inspect``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from paaan.data.corpus import EmotionCorpus
from paaan.data.iemocap import LoadReport
from paaan.data.schema import EMOTIONS, TRAITS
from paaan.data.sspnet import load_sspnet


def _report_dict(report: LoadReport, max_files: int) -> dict:
    return {
        "skipped": dict(sorted(report.skipped.items())),
        "skipped_files": report.skipped_files[:max_files],
        "quirks": {k: v for k, v in sorted(report.quirks.items()) if v},
    }


def summarize_iemocap(root, max_files: int = 20) -> dict:
    return summarize_emotion(EmotionCorpus("iemocap", Path(root)), max_files)


def summarize_emotion(corpus: EmotionCorpus, max_files: int = 20) -> dict:
    """Counts, speakers and what is skipped of an emotion corpus of any layout (``paaan.data.corpus``)."""
    table, report = corpus.load()
    labels = table["label"].value_counts()
    per_speaker = table.groupby("speaker")["label"].value_counts().unstack(fill_value=0)
    extra = {} if corpus.layout == "iemocap" else {
        "layout": corpus.layout, "name": corpus.name, "transcripts": str(corpus.transcripts or ""),
        "utterances_with_transcript": int((table["transcript"].fillna("").astype(str).str.strip() != "").sum())}
    return {
        "root": str(corpus.root), **extra,
        "utterances": int(len(table)),
        "labels": {e: int(labels.get(e, 0)) for e in EMOTIONS},
        "raw_labels": {k: int(v) for k, v in table["raw_label"].value_counts().sort_index().items()},
        "sessions": sorted(int(s) for s in table["session"].unique()),
        "speakers": sorted(table["speaker"].unique().tolist()),
        "per_speaker": {s: {e: int(row.get(e, 0)) for e in EMOTIONS} for s, row in per_speaker.iterrows()},
        "hours": round(float(table["duration"].sum()) / 3600, 3),
        "aligned_utterances": int(table["align_words"].notna().sum()),
        **_report_dict(report, max_files),
    }


def summarize_sspnet(root, max_files: int = 20, scale: str = "auto") -> dict:
    """Counts and per-trait statistics (in the scale's units) of an SSPNet copy; ``scale`` as in load_sspnet."""
    clips = load_sspnet(root, scale=scale)
    ratings = clips.attrs["ratings"]
    return {
        "root": str(root),
        "scale": clips.attrs["scale"],
        "scale_detected_from": clips.attrs["scale_detected_from"],  # None when the scale was given
        "clips": int(len(clips)),
        "speakers": int(clips["speaker"].nunique()) if clips["speaker"].notna().any() else None,
        "raters": int(ratings["rater"].nunique()),
        "ratings": int(len(ratings)),
        "traits": {t: {"mean": round(float(clips[t].mean()), 3), "std": round(float(clips[t].std(ddof=0)), 3),
                       "min": float(clips[t].min()), "max": float(clips[t].max())} for t in TRAITS},
        **_report_dict(clips.attrs["report"], max_files),
    }


def format_summary(summary: dict) -> str:
    """A readable multi-line table of a summary dict."""
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            lines.append(f"{key}:")
            frame = pd.DataFrame(value).T
            lines += ["  " + line for line in frame.to_string().splitlines()]
        elif isinstance(value, dict):
            lines.append(f"{key}: " + (", ".join(f"{k}={v}" for k, v in value.items()) or "none"))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{key}:")
            lines += [f"  {v.get('reason', '')}: {v.get('path', '')} {v.get('detail', '')}" for v in value]
        elif isinstance(value, list):
            lines.append(f"{key}: " + (", ".join(str(v) for v in value) or "none"))
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)
