"""Corpus readers and splits: IEMOCAP, SSPNet, leave-one-session-out folds (data -> features -> ...)."""

from paaan.data.folds import Fold, get_fold, inner_split, leave_one_session_out, validation_split
from paaan.data.iemocap import LoadReport, load_iemocap, scan_iemocap
from paaan.data.schema import EMOTIONS, TRAITS
from paaan.data.sspnet import load_sspnet, load_sspnet_ratings

__all__ = [
    "EMOTIONS", "TRAITS", "Fold", "LoadReport", "get_fold", "inner_split", "leave_one_session_out",
    "load_iemocap", "load_sspnet", "load_sspnet_ratings", "scan_iemocap", "validation_split",
]
