"""Corpus readers and splits: IEMOCAP, EmoBox's layout, SSPNet, cross-validation folds (data -> features -> ...)."""

from paaan.data.corpus import LAYOUTS, EmotionCorpus, emotion_corpus
from paaan.data.folds import (PROTOCOLS, Fold, get_fold, inner_fold, inner_split, leave_one_session_out,
                              leave_one_speaker_out, make_folds, read_folds_file, validation_split)
from paaan.data.iemocap import LoadReport, load_iemocap, scan_iemocap
from paaan.data.schema import EMOTIONS, TRAITS
from paaan.data.sspnet import load_sspnet, load_sspnet_ratings

__all__ = [
    "EMOTIONS", "LAYOUTS", "PROTOCOLS", "EmotionCorpus", "emotion_corpus", "TRAITS", "Fold", "LoadReport", "get_fold", "inner_fold", "inner_split",
    "leave_one_session_out", "leave_one_speaker_out", "make_folds", "read_folds_file",
    "load_iemocap", "load_sspnet", "load_sspnet_ratings", "scan_iemocap", "validation_split",
]
