"""Per-speaker personality embeddings as the networks see them: where they come from, and fold-wise scaling.

``PersonalitySource`` is the one place that decides where a variant's 25-d embedding comes from (the
variants table's ``personality``): none; PP or NA, retrieved from SSPNet (``paaan.retrieval``, in standard
deviations of the SSPNet clip scores) in the SHLA space or the pooled-standardised functionals; oracle, the
demo corpus' true Big-Five profile in the same 25-d format (BFI-10 trait units: it is not retrieved); or
shuffled, the oracle profiles handed to other speakers. It is fitted on a training corpus (the bank, the
encoder or the pooled statistics, the traits, the permutation, and the standardisation with the training
speakers' statistics), used by training (``paaan.train``), saved inside a registered model and used again
by the served model, so that training, packaging and serving read the same numbers from the same code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from paaan.data.schema import TRAITS
from paaan.data.traits import read_traits
from paaan.errors import PaaanError
from paaan.retrieval import EMBEDDING_COLUMNS, STATISTICS, PersonalityRetriever, bank_scores, pooled_stats
from paaan.shla import SHLA

# The floor of ``standardise``'s std; keeps near-constant dimensions (a max or min stuck at the bank's most
# extreme clip for every speaker) from exploding. Its units are the embedding's: retrieved embeddings are in
# standard deviations of the SSPNet clip scores (``paaan.retrieval.standardise_scores``), so 0.1 is a tenth
# of the clips' spread of a trait (0.14-0.17 BFI-10 units on the demo corpus, whose clip scores have std
# 1.4-1.7: about the 0.1 trait units this floor was in before the scores were standardised, so kept). The
# oracle stays in BFI-10 trait units, where 0.1 only meets its std column (0 for every speaker).
STD_FLOOR = 0.1


def true_profiles(ground_truth: str | Path | dict) -> pd.DataFrame:
    """Each IEMOCAP speaker's true Big-Five profile (speaker x TRAITS, BFI-10 units [-4, 4]).

    ``ground_truth``: a demo corpus' ``ground_truth.json`` (path or dict), or a traits CSV (a path ending in
    ``.csv``) of a real corpus' speakers, read by ``paaan.data.traits.read_traits`` (scale detected,
    converted to BFI-10 units, averaged per speaker), so that everything reading true traits accepts either.
    """
    if isinstance(ground_truth, (str, Path)) and Path(ground_truth).suffix.lower() == ".csv":
        return read_traits(ground_truth)
    if not isinstance(ground_truth, dict):
        path = Path(ground_truth)
        if not path.is_file():
            raise PaaanError(f"{path}: the PAaAN_oracle variant needs the demo corpus' ground_truth.json, "
                             "which this corpus does not have (real corpora have no true personality; give "
                             "their speakers' traits as a CSV, paaan.data.traits)")
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
# shuffled control hands it out so that it tells nothing about a speaker. A scenario that plants its effect on
# another trait (the valence scenario's ``valence_trait``) is balanced on that one (``shuffle_trait``).
SHUFFLE_TRAIT = "extraversion"


def shuffle_trait(ground_truth: str | Path | dict | None) -> str:
    """The trait the shuffled control balances for a corpus: the one its planted effect follows, read from a
    demo corpus' ground truth (the scenario's ``valence_trait`` when it has one), else ``SHUFFLE_TRAIT`` (also
    for a real corpus' traits CSV, whose effects nobody planted)."""
    if isinstance(ground_truth, (str, Path)):
        path = Path(ground_truth)
        if path.suffix.lower() != ".json" or not path.is_file():
            return SHUFFLE_TRAIT
        ground_truth = json.loads(path.read_text())
    knobs = ((ground_truth or {}).get("scenario") or {}).get("knobs") or {}
    return knobs.get("valence_trait") or SHUFFLE_TRAIT
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


def standardisation(embeddings: pd.DataFrame, train_speakers) -> tuple[pd.Series, pd.Series]:
    """(mean, std) per dimension over the TRAINING speakers' rows; std population (ddof 0), floored."""
    train = embeddings.loc[sorted(set(train_speakers))]
    return train.mean(axis=0), train.std(axis=0, ddof=0).clip(lower=STD_FLOOR)


def standardise(embeddings: pd.DataFrame, train_speakers) -> pd.DataFrame:
    """Z-score each of the 25 dimensions with the mean and std of the TRAINING speakers only.

    Retrieved embeddings cluster near the SSPNet average, so the between-speaker differences are small next
    to the clips' spread (the embedding's unit); scaling them to unit spread lets the 16-unit pre-layer read them. Statistics come from the
    fold's training speakers, never the test speakers (their embeddings are only transformed).
    """
    mean, std = standardisation(embeddings, train_speakers)
    return (embeddings - mean) / std


def as_array(embeddings: pd.DataFrame | None, speakers) -> np.ndarray:
    """(n, 25) float32 rows for these speakers (zeros when the variant uses no personality)."""
    if embeddings is None:
        return np.zeros((len(speakers), len(EMBEDDING_COLUMNS)), dtype=np.float32)
    missing = sorted(set(speakers) - set(embeddings.index))
    if missing:
        raise PaaanError(f"no personality embedding for speakers {missing[:5]}")
    return embeddings.loc[list(speakers), list(EMBEDDING_COLUMNS)].to_numpy(dtype=np.float32)


# --------------------------------------------------------------------------------------------- the source
SOURCES = ("none", "PP", "NA", "oracle", "shuffled")  # paaan.variants.PERSONALITY_SOURCES
_SOURCE_FILE = "personality_source.json"


class PersonalitySource(BaseEstimator):
    """Where a variant's 25-d personality embedding comes from, fitted on a training corpus.

    ``kind`` is the variants table's ``personality``; ``k`` the clips retrieved per utterance (PP, NA);
    ``seed`` and ``fold`` draw the shuffled control's permutation. ``fit`` takes the training corpus' feature
    store and its training speakers (whose statistics standardise every speaker's embedding), and what the
    kind needs: the fitted SHLA ``encoder`` (PP), the true ``traits`` (oracle, shuffled: speaker x TRAITS),
    the shuffle's balance ``groups``. ``space`` may hand over the corpora already in the retrieval space
    (the shla step's logged latents) so training retrieves from exactly the numbers the retrieve step did.

    After ``fit``: ``embeddings_`` (every corpus speaker's standardised embedding), ``mean_`` / ``std_``
    (the standardisation), and for the retrieval kinds the bank. ``embeddings(functionals, speakers, traits)``
    describes new speakers the way training described the corpus': the same space, bank, k and scaling
    (``embed`` gives one row per utterance); ``save`` / ``load`` keep all of it in a folder, as a
    registered model does. Usage in a notebook::

        source = PersonalitySource("PP", k=10).fit(store, train_speakers, encoder=shla)
        rows = source.embed(functionals, speakers)                       # (n, 25) float32
    """

    def __init__(self, kind: str = "none", k: int | None = None, seed: int = 0, fold: int = 0):
        self.kind = kind
        self.k = k
        self.seed = seed
        self.fold = fold

    @classmethod
    def for_variant(cls, variant, k: int | None = None, seed: int = 0, fold: int = 0) -> "PersonalitySource":
        """The source of a row of the variants table (k only for the retrieval kinds)."""
        return cls(variant.personality, k if variant.personality in ("PP", "NA") else None, seed, fold)

    @property
    def retrieves(self) -> bool:
        """Whether the embedding is retrieved from SSPNet (so k matters and the request's audio is read)."""
        return self.kind in ("PP", "NA")

    @property
    def needs(self) -> tuple[str, ...]:
        """What ``fit`` needs besides the store: "encoder" (the fitted SHLA) and "space" (the corpora in its
        latent space, as the shla step logged them) for PP; "traits" for the oracle and the shuffle."""
        return {"PP": ("encoder", "space"), "oracle": ("traits",), "shuffled": ("traits", "balance")}.get(self.kind, ())

    @property
    def needs_traits(self) -> bool:
        """Whether new speakers must come with their true traits (the oracle's requests carry them)."""
        return self.kind == "oracle"

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, store, train_speakers, *, encoder=None, traits: pd.DataFrame | None = None, groups=None,
            space: tuple[np.ndarray, np.ndarray] | None = None, balance: str = SHUFFLE_TRAIT) -> "PersonalitySource":
        if self.kind not in SOURCES:
            raise ValueError(f"unknown personality source {self.kind!r}; known: {', '.join(SOURCES)}")
        speakers = store.utterances["speaker"].to_numpy()
        train_speakers = sorted(set(train_speakers))
        self.train_speakers_ = train_speakers
        if self.kind == "none":
            self.embeddings_ = None
            self.mean_ = pd.Series(0.0, index=list(EMBEDDING_COLUMNS))
            self.std_ = pd.Series(1.0, index=list(EMBEDDING_COLUMNS))
            return self
        if self.retrieves:
            if self.k is None:
                raise ValueError(f"personality source {self.kind} needs k (clips retrieved per utterance)")
            functionals = {"iemocap": np.asarray(store.functionals("iemocap")),
                           "sspnet": np.asarray(store.functionals("sspnet"))}
            self.encoder_ = encoder if self.kind == "PP" else None
            if self.kind == "PP" and encoder is None and space is None:
                raise ValueError("personality source PP needs the fitted SHLA encoder")
            if self.kind == "NA":
                self.pooled_mean_, self.pooled_std_ = pooled_stats(functionals)
            queries, bank = space if space is not None else (self.to_space(functionals["iemocap"], "iemocap"),
                                                             self.to_space(functionals["sspnet"], "sspnet"))
            self.retriever_ = PersonalityRetriever(k=int(self.k), space=self.kind).fit(
                bank, bank_scores(store.clips), clip_ids=store.clips["clip"].to_numpy())
            self.queries_ = queries  # the corpus' utterances in the retrieval space
            raw = self.retriever_.retrieve(queries, speakers)
        else:
            if traits is None:
                raise PaaanError(f"personality source {self.kind} needs the true traits (the demo corpus' "
                                 "ground_truth.json); real corpora have none")
            raw = oracle_embeddings(traits)
            if self.kind == "shuffled":
                raw = shuffled_embeddings(raw, self.seed, self.fold, groups if groups is not None else (train_speakers,),
                                          trait=balance)
        self.mean_, self.std_ = standardisation(raw, train_speakers)
        self.raw_ = raw
        self.embeddings_ = (raw - self.mean_) / self.std_
        return self

    def to_space(self, functionals: np.ndarray, corpus: str = "iemocap") -> np.ndarray:
        """Rows of functionals in the retrieval space: SHLA latents as float32 (as the shla step logs them), or
        z-scores with the statistics pooled over both training corpora (NA)."""
        if self.kind == "PP":
            return self.encoder_.transform(functionals, corpus).astype(np.float32)
        if self.kind == "NA":
            return (np.asarray(functionals, dtype=np.float64) - self.pooled_mean_) / self.pooled_std_
        raise ValueError(f"personality source {self.kind} has no retrieval space")

    # ------------------------------------------------------------------------------------------ using it
    def embeddings(self, functionals: np.ndarray | None = None, speakers=None,
                   traits: pd.DataFrame | None = None) -> pd.DataFrame | None:
        """Standardised speaker x 25 embeddings of new speakers: retrieved from their utterances'
        ``functionals`` (PP, NA; ``speakers`` names each row's speaker), or from their true ``traits``
        (oracle). Without inputs: the fitted corpus' own (``embeddings_``). None for "none"."""
        if self.kind == "none":
            return None
        if functionals is None and traits is None:
            return self.embeddings_
        if self.retrieves:
            raw = self.retriever_.retrieve(self.to_space(functionals, "iemocap"), np.asarray(speakers))
        elif self.kind == "oracle":
            raw = oracle_embeddings(traits)
        else:
            raise PaaanError("the shuffled control hands the training corpus' profiles to its own speakers; it "
                             "has no personality for new speakers")
        return (raw[list(EMBEDDING_COLUMNS)] - self.mean_) / self.std_

    def embed(self, functionals: np.ndarray | None, speakers, traits: pd.DataFrame | None = None) -> np.ndarray:
        """(n, 25) float32: each row's speaker's standardised embedding (zeros for "none", fitted or not).
        With neither ``functionals`` nor ``traits`` the rows' speakers must be the fitted corpus' own."""
        speakers = list(speakers)
        return as_array(None if self.kind == "none" else self.embeddings(functionals, speakers, traits), speakers)

    # ---------------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Everything ``embeddings`` needs in ``folder``: a JSON of the kind, k, seed, fold and scaling; the
        bank (and NA's pooled statistics) in bank.npz; PP's encoder in shla.pt (``paaan.shla.SHLA.save``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        spec = {"kind": self.kind, "k": self.k, "seed": self.seed, "fold": self.fold,
                "mean": [float(v) for v in self.mean_], "std": [float(v) for v in self.std_],
                "columns": list(EMBEDDING_COLUMNS)}
        if self.retrieves:
            arrays = {"features": self.retriever_.bank_features_, "scores": self.retriever_.bank_scores_}
            if self.kind == "NA":
                arrays |= {"pooled_mean": self.pooled_mean_, "pooled_std": self.pooled_std_}
            np.savez(folder / "bank.npz", **arrays)
            if self.kind == "PP":
                self.encoder_.save(folder / "shla.pt")
        (folder / _SOURCE_FILE).write_text(json.dumps(spec, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "PersonalitySource":
        folder = Path(folder)
        spec = json.loads((folder / _SOURCE_FILE).read_text())
        source = cls(spec["kind"], spec["k"], spec["seed"], spec["fold"])
        source.mean_ = pd.Series(spec["mean"], index=spec["columns"])
        source.std_ = pd.Series(spec["std"], index=spec["columns"])
        source.embeddings_ = None
        source.train_speakers_ = None  # a loaded source serves new speakers; it trains nothing
        if source.retrieves:
            bank = np.load(folder / "bank.npz")
            if source.kind == "NA":
                source.pooled_mean_, source.pooled_std_ = bank["pooled_mean"], bank["pooled_std"]
            else:
                source.encoder_ = SHLA.load(folder / "shla.pt")
            source.retriever_ = PersonalityRetriever(k=int(source.k), space=source.kind).fit(bank["features"],
                                                                                              bank["scores"])
        return source
