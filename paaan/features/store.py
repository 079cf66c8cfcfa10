"""The feature store: a folder of parquet tables and numpy arrays, written once, read by every later step.

Layout (``FORMAT_VERSION`` 1)::

    manifest.json                       written LAST: a store without it is incomplete and refused
    iemocap/utterances.parquet          one row per featurized 4-class utterance (reader columns, minus the
                                        alignment lists, plus lld_offset, lld_steps, word_offset, n_words)
    iemocap/lld.npy                     (sum of steps, 45) float32: 40 ms steps, z-normalised per speaker
                                        (with one's own frame-level features: (sum of steps, their dim))
    iemocap/lld_speaker_stats.parquet   per speaker: frame-level mean and std of each LLD (the z-norm)
    iemocap/functionals.npy             (n_utterances, 1582) float32, raw (not standardised), or one's own
    iemocap/words.parquet               one row per token: utterance, position, token, pos, vocab_id (-1 =
                                        out of vocabulary), start, end (NaN = not aligned), first_step,
                                        last_step (-1 = not aligned)
    sspnet/clips.parquet                one row per clip: clip, speaker, n_raters, five trait means
    sspnet/ratings.parquet              one row per (clip, rater)
    sspnet/functionals.npy              (n_clips, 1582) float32, raw
    vocab.parquet, vectors.npy          the word vectors of the corpus vocabulary (+ the most frequent words)
    skipped.csv                         every file left out, and why

Rows of ``lld.npy`` for utterance i are ``lld[lld_offset[i] : lld_offset[i] + lld_steps[i]]``; its words are
``words[word_offset[i] : word_offset[i] + n_words[i]]``. Arrays are memory-mapped on read.

A store built from one's own features (``paaan.features.own``) records their sets in the manifest, by name,
dimension and frame rate only (no paths: the store travels as an artifact): ``audio_features`` ({name, dim,
frame_rate_hz}, or null for openSMILE's LLDs; ``lld_names`` are then ``<name>_0 .. <name>_{dim-1}``) and
``functionals_features`` ({name, dim}, or null for openSMILE's IS10).
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from paaan.errors import FeatureError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class FeatureStore:
    """Read side of a finished store (``FeatureStore(path)``); refuses an incomplete or foreign folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise FeatureError(self.path, "not a finished feature store (no manifest.json; was featurize interrupted?)")
        self.manifest = json.loads(manifest.read_text())
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise FeatureError(self.path, f"feature store format {self.manifest.get('format_version')} "
                                          f"is not {FORMAT_VERSION}; run featurize again")

    # --- IEMOCAP ---
    @cached_property
    def utterances(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "iemocap" / "utterances.parquet")

    @cached_property
    def lld(self) -> np.ndarray:
        return np.load(self.path / "iemocap" / "lld.npy", mmap_mode="r")

    @cached_property
    def words(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "iemocap" / "words.parquet")

    @cached_property
    def lld_speaker_stats(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "iemocap" / "lld_speaker_stats.parquet")

    @property
    def lld_names(self) -> list[str]:
        return list(self.manifest["lld_names"])

    @property
    def audio_features(self) -> dict | None:
        """The own frame-level feature set the steps come from ({name, dim, frame_rate_hz}); None: openSMILE."""
        return self.manifest.get("audio_features")

    @property
    def functionals_features(self) -> dict | None:
        """The own functionals set of both corpora ({name, dim}); None: openSMILE's IS10 functionals."""
        return self.manifest.get("functionals_features")

    def utterance_lld(self, i: int) -> np.ndarray:
        row = self.utterances.iloc[i]
        return np.asarray(self.lld[row.lld_offset: row.lld_offset + row.lld_steps])

    def utterance_words(self, i: int) -> pd.DataFrame:
        row = self.utterances.iloc[i]
        return self.words.iloc[row.word_offset: row.word_offset + row.n_words]

    def functionals(self, corpus: str) -> np.ndarray:
        if corpus not in ("iemocap", "sspnet"):
            raise ValueError(f"corpus must be 'iemocap' or 'sspnet', got {corpus!r}")
        return np.load(self.path / corpus / "functionals.npy", mmap_mode="r")

    # --- SSPNet ---
    @cached_property
    def clips(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "sspnet" / "clips.parquet")

    @cached_property
    def ratings(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "sspnet" / "ratings.parquet")

    # --- words ---
    @cached_property
    def vocab(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "vocab.parquet")

    @cached_property
    def vectors(self) -> np.ndarray:
        return np.load(self.path / "vectors.npy", mmap_mode="r")

    @property
    def word_dim(self) -> int:
        return int(self.manifest["word_dim"])

    @cached_property
    def skipped(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "skipped.csv")


class StoreWriter:
    """Writes a store into ``<path>.partial`` and renames it into place with the manifest last.

    A killed writer leaves only the ``.partial`` folder, which nothing reads and the next writer removes.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        (self.partial / "iemocap").mkdir(parents=True)
        (self.partial / "sspnet").mkdir(parents=True)

    def table(self, name: str, frame: pd.DataFrame) -> None:
        frame = frame.copy(deep=False)
        frame.attrs = {}  # reader reports live in attrs; they are not part of the store
        frame.to_parquet(self.partial / name, index=False)

    def array(self, name: str, array: np.ndarray) -> None:
        if not np.all(np.isfinite(array)):
            raise FeatureError(self.partial / name, "refusing to store non-finite values (NaN or inf)")
        np.save(self.partial / name, np.ascontiguousarray(array))

    def csv(self, name: str, frame: pd.DataFrame) -> None:
        frame.to_csv(self.partial / name, index=False)

    def finish(self, manifest: dict) -> Path:
        manifest = {"format_version": FORMAT_VERSION, **manifest}
        tmp = self.partial / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        os.replace(tmp, self.partial / MANIFEST)
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.partial, self.path)
        return self.path
