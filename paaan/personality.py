"""Per-speaker personality embeddings as the networks see them: the oracle profile and fold-wise scaling.

The retrieved embeddings (PP, NA) come from ``paaan.retrieval`` (in standard deviations of the SSPNet clip
scores); this module adds the oracle (the demo corpus' true Big-Five profile in the same 25-d format, in
BFI-10 trait units: it is not retrieved) and the standardisation applied before training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from paaan.data.schema import TRAITS
from paaan.errors import PaaanError
from paaan.retrieval import EMBEDDING_COLUMNS, STATISTICS

# The floor of ``standardise``'s std; keeps near-constant dimensions (a max or min stuck at the bank's most
# extreme clip for every speaker) from exploding. Its units are the embedding's: retrieved embeddings are in
# standard deviations of the SSPNet clip scores (``paaan.retrieval.standardise_scores``), so 0.1 is a tenth
# of the clips' spread of a trait (0.14-0.17 BFI-10 units on the demo corpus, whose clip scores have std
# 1.4-1.7: about the 0.1 trait units this floor was in before the scores were standardised, so kept). The
# oracle stays in BFI-10 trait units, where 0.1 only meets its std column (0 for every speaker).
STD_FLOOR = 0.1


def true_profiles(ground_truth: str | Path | dict) -> pd.DataFrame:
    """Each IEMOCAP speaker's true Big-Five profile from a demo corpus' ``ground_truth.json`` (speaker x TRAITS)."""
    if not isinstance(ground_truth, dict):
        path = Path(ground_truth)
        if not path.is_file():
            raise PaaanError(f"{path}: the PAaAN_oracle variant needs the demo corpus' ground_truth.json, "
                             "which this corpus does not have (real corpora have no true personality)")
        ground_truth = json.loads(path.read_text())
    speakers = (ground_truth.get("iemocap") or {}).get("speakers")
    if not speakers:
        raise PaaanError("ground truth has no IEMOCAP speaker profiles (iemocap.speakers)")
    rows = {speaker: [float(info["traits"][t]) for t in TRAITS] for speaker, info in speakers.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(TRAITS)).sort_index()


def oracle_embeddings(profiles: pd.DataFrame | str | Path | dict) -> pd.DataFrame:
    """The true Big-Five profile of each speaker as a 25-d embedding (PAaAN_oracle).

    A single "retrieved" score per trait: mean = median = max = min = the true score, std = 0, so the oracle
    has the format of the retrieved embeddings and the same network reads either. ``profiles``: speaker x
    TRAITS, or a ground truth (path or dict) to read them from.
    """
    if not isinstance(profiles, pd.DataFrame):
        profiles = true_profiles(profiles)
    rows = {speaker: [0.0 if stat == "std" else float(row[trait]) for trait in TRAITS for stat in STATISTICS]
            for speaker, row in profiles.iterrows()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(EMBEDDING_COLUMNS)).sort_index()


# The trait whose sign the planted effects follow (paaan.demo.scenarios: the gates, the style blend): the
# shuffled control hands it out so that it tells nothing about a speaker.
SHUFFLE_TRAIT = "extraversion"
_MAX_SHUFFLE_DRAWS = 1_000_000


def shuffle_agreement(own: pd.Series, handed: pd.Series) -> float:
    """The share of speakers whose handed-out profile has the sign of their own trait (``own``, ``handed``:
    speaker -> that trait's value)."""
    return float((np.sign(own.to_numpy()) == np.sign(handed.loc[own.index].to_numpy())).mean()) if len(own) else 0.0


def shuffled_embeddings(embeddings: pd.DataFrame, seed: int, fold: int = 0, groups=(),
                        trait: str = SHUFFLE_TRAIT) -> pd.DataFrame:
    """The same rows handed to other speakers, drawn per seed and fold, so that they carry no information.

    The control for the oracle: the same values (so the same capacity and the same spread after
    standardisation), and a speaker-specific constant the network can memorise, but one that says nothing
    true about the speaker. A permutation drawn uniformly from those that (a) leave no speaker its own row
    (a derangement) and (b) within every group of speakers in ``groups`` (the fold's training speakers, its
    validation speakers) hand exactly half of the group, rounded either way, a row whose ``trait`` has the
    sign of the speaker's own (``shuffle_agreement``). Without (b) one draw can invert the sign of E for
    most training speakers (seed 0 did for 8 of 10 speakers, all six of one fold's), and an inverted gate is
    as learnable as the true one; with it, the sign of E a training speaker is handed is a coin toss the
    network cannot learn a rule from. Drawn by rejection from the stream (seed, fold): another fold or seed
    is another permutation. Speakers in no group are only deranged.
    """
    speakers = list(embeddings.index)
    if len(speakers) < 2:
        raise PaaanError(f"cannot shuffle the personalities of {len(speakers)} speaker(s) across speakers")
    column = f"{trait}_mean"
    if column not in embeddings.columns:
        raise PaaanError(f"cannot balance the shuffle on {trait}: the embeddings have no {column} column")
    signs = np.sign(embeddings[column].to_numpy())
    position = {speaker: i for i, speaker in enumerate(speakers)}
    members = []
    for group in groups:
        missing = sorted(set(group) - set(position))
        if missing:
            raise PaaanError(f"cannot shuffle for speakers without a profile: {missing[:5]}")
        members.append(np.array([position[s] for s in sorted(set(group))], dtype=np.int64))
    rng = np.random.default_rng([int(seed), int(fold), 0x5348_5546])  # "SHUF": a stream of its own
    identity = np.arange(len(speakers))
    for _ in range(_MAX_SHUFFLE_DRAWS):
        order = rng.permutation(len(speakers))
        if np.any(order == identity):
            continue
        agree = signs[order] == signs
        if all(int(agree[m].sum()) in (len(m) // 2, (len(m) + 1) // 2) for m in members):
            break
    else:
        raise PaaanError(f"no derangement of {len(speakers)} speakers hands half of each group a profile with its "
                         f"own sign of {trait} (groups of {[len(m) for m in members]})")
    shuffled = embeddings.iloc[order].copy()
    shuffled.index = embeddings.index
    return shuffled


def counterfactual_partners(sessions: Mapping[str, int], traits: Mapping[str, float]) -> dict[str, str]:
    """Speaker -> the speaker of its session on the other side of ``traits`` (speaker -> extraversion, say):
    whose personality a test speaker is handed in the testbed's counterfactual (``paaan.testbed``). A speaker
    whose session has no single such partner is left out."""
    partners = {}
    for speaker, session in sessions.items():
        other = [s for s, n in sessions.items() if n == session and s != speaker
                 and np.sign(traits[s]) == -np.sign(traits[speaker]) != 0]
        if len(other) == 1:
            partners[speaker] = other[0]
    return partners


def standardise(embeddings: pd.DataFrame, train_speakers) -> pd.DataFrame:
    """Z-score each of the 25 dimensions with the mean and std of the TRAINING speakers only.

    Retrieved embeddings cluster near the SSPNet average, so the between-speaker differences are small next
    to the clips' spread (the embedding's unit); scaling them to unit spread lets the 16-unit pre-layer read them. Statistics come from the
    fold's training speakers, never the test speakers (their embeddings are only transformed).
    """
    train = embeddings.loc[sorted(set(train_speakers))]
    mean = train.mean(axis=0)
    std = train.std(axis=0, ddof=0).clip(lower=STD_FLOOR)
    return (embeddings - mean) / std


def as_array(embeddings: pd.DataFrame | None, speakers) -> np.ndarray:
    """(n, 25) float32 rows for these speakers (zeros when the variant uses no personality)."""
    if embeddings is None:
        return np.zeros((len(speakers), len(EMBEDDING_COLUMNS)), dtype=np.float32)
    missing = sorted(set(speakers) - set(embeddings.index))
    if missing:
        raise PaaanError(f"no personality embedding for speakers {missing[:5]}")
    return embeddings.loc[list(speakers), list(EMBEDDING_COLUMNS)].to_numpy(dtype=np.float32)
