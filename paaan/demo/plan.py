"""What a demo corpus holds, decided before any audio is made: profiles, speakers, dialogs, utterances, clips.

Everything here is cheap and pure (seed in, plan out), so the counts of even the ``iemocap-scale``
profile are tested without synthesising a sample.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

import numpy as np

from paaan.data.iemocap import LABEL_MAP, SESSIONS
from paaan.data.schema import TRAITS
from paaan.demo.expression import CONTROLS
from paaan.errors import row_of

# Paper II-A1 and IEMOCAP's label files: utterances per label code, 10039 in all; the 4-class task keeps
# ang 1103, hap 595 + exc 1041 = 1636, neu 1708, sad 1084 (5531).
IEMOCAP_LABEL_COUNTS: dict[str, int] = {
    "ang": 1103, "hap": 595, "exc": 1041, "neu": 1708, "sad": 1084,
    "fru": 1849, "sur": 107, "fea": 40, "dis": 2, "oth": 3, "xxx": 2507,
}
# The codes the 4-class task keeps, in the reader's order (ang, hap, exc, neu, sad): the order breaks
# largest-remainder ties, so it fixes the planned counts.
FOUR_CLASS_CODES: tuple[str, ...] = tuple(LABEL_MAP)
GENDERS: tuple[str, ...] = ("F", "M")

# IEMOCAP and SSPNet voices come from disjoint pools of espeak variants (different people in each corpus).
IEMOCAP_VOICES: dict[str, tuple[str, ...]] = {"F": ("f1", "f2", "f3", "f4", "f5"), "M": ("m1", "m2", "m3", "m4", "m6")}
SSPNET_VOICES: dict[str, tuple[str, ...]] = {  # variants whose pitch track and voicing look like a human's
    "F": ("Alicia", "Andrea", "Annie", "anika", "belinda", "linda", "steph", "steph2", "aunty", "shelby"),
    "M": ("m5", "m7", "m8", "Denis", "Diogo", "Henrique", "Hugo", "Lee", "antonio", "michel", "miguel", "sandro",
          "travis", "victor", "john", "norbert", "pablo", "pedro", "gustave", "iven", "ed", "Reed", "Gene"),
}


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` that sum to ``total`` exactly.

    Floors first, then one more to the largest remainders (ties to the lower index): 10 by (1, 1, 1) ->
    (4, 3, 3).
    """
    weights = np.asarray(weights, dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def scaled_label_counts(four_class: int) -> dict[str, int]:
    """IEMOCAP's label mix scaled so the 4-class codes sum to ``four_class`` exactly; every other code keeps
    at least one utterance (so readers meet each code)."""
    codes = list(IEMOCAP_LABEL_COUNTS)
    four = largest_remainder(four_class, np.array([IEMOCAP_LABEL_COUNTS[c] for c in FOUR_CLASS_CODES]))
    counts = dict(zip(FOUR_CLASS_CODES, (int(n) for n in four)))
    factor = four_class / sum(IEMOCAP_LABEL_COUNTS[c] for c in FOUR_CLASS_CODES)
    for code in codes:
        if code not in counts:
            counts[code] = max(1, int(round(IEMOCAP_LABEL_COUNTS[code] * factor)))
    return {c: counts[c] for c in codes}


# IEMOCAP's ten speakers: two per session, five sessions. A demo corpus may have more (``DemoProfile.
# with_speakers``), in more sessions of two speakers each, always a multiple of the five folds' sessions.
IEMOCAP_SPEAKERS = 2 * len(SESSIONS)
MAX_SPEAKERS = 190  # utterance ids write the session in two digits (Ses01F ... Ses95M)


def check_speakers(speakers) -> int:
    """The number of IEMOCAP speakers of a demo corpus: a multiple of 10 (two per session, the sessions split
    evenly over five folds), 10 (IEMOCAP's own) up to 190; anything else is a ValueError that says so."""
    if isinstance(speakers, bool) or not isinstance(speakers, (int, np.integer)) or speakers < IEMOCAP_SPEAKERS \
            or speakers % IEMOCAP_SPEAKERS or speakers > MAX_SPEAKERS:
        raise ValueError(f"demo speakers must be a multiple of {IEMOCAP_SPEAKERS} from {IEMOCAP_SPEAKERS} to "
                         f"{MAX_SPEAKERS} (two per session, the sessions split evenly over five folds), "
                         f"not {speakers!r}")
    return int(speakers)


@dataclass(frozen=True)
class DemoProfile:
    """Sizes of one demo corpus."""

    name: str
    label_counts: dict[str, int]  # IEMOCAP label code -> utterances (all speakers)
    dialogs_per_session: int
    sspnet_clips: int
    sspnet_speakers: int
    clip_seconds: tuple[float, float]  # SSPNet clip length range
    raters: int = 11  # SSPNet: every clip scored by 11 raters (paper II-A2)
    speakers: int = IEMOCAP_SPEAKERS  # IEMOCAP speakers, two per session

    @property
    def four_class(self) -> int:
        return sum(self.label_counts[c] for c in FOUR_CLASS_CODES)

    @property
    def utterances(self) -> int:
        return sum(self.label_counts.values())

    @property
    def sessions(self) -> tuple[int, ...]:
        """The session numbers, 1..speakers / 2 (IEMOCAP's 1..5 for ten speakers)."""
        return tuple(range(1, self.speakers // 2 + 1))

    def with_speakers(self, speakers: int) -> "DemoProfile":
        """This profile with ``speakers`` IEMOCAP speakers, each with as many utterances of every label as
        with ten (the label counts scaled by speakers / 10; dialogs per session and SSPNet unchanged). Ten
        gives the profile itself, so a ten-speaker corpus is the same whatever asked for it."""
        speakers = check_speakers(speakers)
        if speakers == self.speakers:
            return self
        factor = speakers // IEMOCAP_SPEAKERS
        return dataclasses.replace(self, label_counts={c: n * factor for c, n in self.label_counts.items()},
                                   speakers=speakers)


PROFILES: dict[str, DemoProfile] = {
    # fast unit tests of other modules: ~6 four-class utterances per speaker and a few others
    "tiny": DemoProfile(
        "tiny",
        {**scaled_label_counts(60), "fru": 4, "sur": 1, "fea": 1, "dis": 1, "oth": 1, "xxx": 4},
        dialogs_per_session=2, sspnet_clips=20, sspnet_speakers=14, clip_seconds=(2.0, 3.0),
    ),
    # the whole ablation in minutes: ~60 four-class utterances per speaker, IEMOCAP's mix scaled down
    "demo": DemoProfile(
        "demo", scaled_label_counts(600),
        dialogs_per_session=4, sspnet_clips=160, sspnet_speakers=80, clip_seconds=(3.0, 5.0),
    ),
    # IEMOCAP's and SSPNet's sizes
    "iemocap-scale": DemoProfile(
        "iemocap-scale", dict(IEMOCAP_LABEL_COUNTS),
        dialogs_per_session=30, sspnet_clips=640, sspnet_speakers=322, clip_seconds=(9.0, 11.0),
    ),
}


def get_profile(name: str) -> DemoProfile:
    return row_of(PROFILES, name, "demo profile")


def rng_for(seed: int, stream: str, index: int = 0) -> np.random.Generator:
    """An independent generator per (seed, named stream, index): the same draws whatever runs before it."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode()), index])


# ---------------------------------------------------------------------------------------------------------
# Speakers


@dataclass(frozen=True)
class Speaker:
    id: str  # IEMOCAP: "Ses01F"; SSPNet: "spk001"
    gender: str
    voice: str  # espeak voice name, e.g. "en-us+f1"
    traits: dict[str, float]  # TRAITS -> true score in [-4, 4]
    identity: tuple[float, ...]  # (K,) control offsets that make this voice this person, not personality


# The two traits that drive the planted effect, one sign pattern (F, M) per session: within a session the
# speakers are on opposite sides of both axes, and over the 5 sessions each side of each axis has 5 speakers.
_SIGN_PATTERNS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((+1, +1), (-1, -1)),
    ((-1, +1), (+1, -1)),
    ((+1, -1), (-1, +1)),
    ((-1, -1), (+1, +1)),
    ((+1, +1), (-1, -1)),
)


# The "paired" designs: the one trait in which the two speakers of a session differ (every other trait is the
# session's): extraversion for the effects planted on E, agreeableness for the valence shift planted on A.
PAIRED_ON: dict[str, str] = {"paired": "extraversion", "paired_agreeableness": "agreeableness",
                              "paired_openness": "openness"}
TRAIT_DESIGNS: tuple[str, ...] = ("random", "balanced", *PAIRED_ON)


def _opposite_sessions_adjacent(order: list[int]) -> bool:
    """Whether the two sign patterns with agreeableness opposite to extraversion sit on neighbouring sessions
    (cyclically: 5 and 1 are neighbours). Fold f trains on the three sessions after f + 1, three neighbours,
    so only then can a fold train on three same-sign sessions."""
    opposite = [s for s, pattern in enumerate(order) if _SIGN_PATTERNS[pattern][0][0] != _SIGN_PATTERNS[pattern][0][1]]
    return (opposite[1] - opposite[0]) % len(order) in (1, len(order) - 1)


def iemocap_speakers(seed: int, identity_sd: float, trait_design: str = "random",
                     speakers: int = IEMOCAP_SPEAKERS) -> list[Speaker]:
    """The IEMOCAP speakers (Ses01F, Ses01M, ..., Ses05M for ten) with true Big-Five profiles.

    Extraversion has magnitude 2.0-3.8 and the signs of ``_SIGN_PATTERNS`` (sessions shuffled by the seed),
    so leave-one-session-out always trains on both sides of it (but under "paired_agreeableness", where
    agreeableness takes that role). ``trait_design``:

    - "random": agreeableness also has magnitude 2.0-3.8 and the patterns' signs; the other traits are
      uniform in [-3, 3], drawn per speaker. Three of the five patterns give agreeableness the sign of
      extraversion, so for half of the seeds' session orders some fold trains on three such sessions and
      cannot tell the two traits apart (seed 0: fold 5).
    - "balanced" (the input_flip corpus): "random", but the patterns go to sessions in an order whose two
      opposite-sign sessions are not neighbours (drawn from a stream of its own; every other draw is the
      random design's): then every fold's three training sessions hold both kinds, and E and A are never
      confounded (measured on input_flip: under "random", P-T_oracle gained 0.04-0.09 UAR on four folds and
      lost 0.08 on fold 5).
    - "paired": the two speakers of a session share every trait but extraversion (drawn once per session,
      uniform in [-3, 3]). Each session then pairs an extravert with an introvert of the same other traits,
      so no other trait, nor any combination of them, separates the two sides of extraversion in any fold's
      training speakers: an effect planted on extraversion is identifiable from any three sessions. (Under
      "random", three of the five sign patterns give agreeableness the sign of extraversion, so a fold whose
      training sessions are those three cannot tell the two traits apart, and with six training speakers a
      uniform trait separates them by chance too.)
    - "paired_openness": the same with openness, drawn like agreeableness (magnitude 2.0-3.8, the sign of the
      speaker's agreeableness pattern: opposite within a session) from a stream of its own, so every other
      draw is the other designs'. The valence_openness scenario plants its shift on it: a trait the voice
      hardly carries (``expression.TRAIT_VOICE``), unlike agreeableness.
    - "paired_agreeableness": the same with agreeableness as the one trait that differs within a session
      (magnitude 2.0-3.8, opposite signs), extraversion shared with the other traits: an effect planted on A
      (the valence scenario's shift) is identifiable from any three sessions. Under "paired" the two speakers
      share A, so a fold tests on one value of A and trains on three, each shared with four other traits: the
      shift cannot be told from any combination of them (measured: the valence scenario's P-D_oracle lost
      0.06 valence CCC to IA+T on both the design and the held-out draws).

    More than ten ``speakers`` (``check_speakers``): sessions 6, 7, ... in blocks of five, each block with the
    five sign patterns in an order of its own (for "balanced", an order of its own without neighbouring
    opposite-sign sessions) and the five voices of each gender in an order of its own, so a voice variant is
    shared by one speaker of every block (told apart by their traits and identity offsets). Every draw of the
    first block is the ten-speaker corpus' own: its ten speakers are the same whatever ``speakers`` is.
    """
    if trait_design not in TRAIT_DESIGNS:
        raise ValueError(f"unknown trait design {trait_design!r}; known: {', '.join(TRAIT_DESIGNS)}")
    sessions = check_speakers(speakers) // 2
    rng = rng_for(seed, "iemocap-speakers")
    orders = [[int(i) for i in rng.permutation(len(_SIGN_PATTERNS))]]
    voices = {g: [rng.permutation(len(IEMOCAP_VOICES[g]))] for g in GENDERS}
    for block in range(1, -(-sessions // len(_SIGN_PATTERNS))):  # blocks after the first: streams of their own
        extra = rng_for(seed, "iemocap-speakers-block", block)
        orders.append([int(i) for i in extra.permutation(len(_SIGN_PATTERNS))])
        for g in GENDERS:
            voices[g].append(extra.permutation(len(IEMOCAP_VOICES[g])))
    if trait_design == "balanced":
        for block, order in enumerate(orders):
            balanced = rng_for(seed, "iemocap-session-order", block)
            while _opposite_sessions_adjacent(order):
                order[:] = [int(i) for i in balanced.permutation(len(_SIGN_PATTERNS))]
    shared = rng_for(seed, "iemocap-session-traits")  # its own stream: the random design's draws stay as they were
    paired_draws = rng_for(seed, "iemocap-paired-trait")  # the same, for a paired trait other than E and A
    out = []
    for s in range(sessions):
        session = s + 1
        block, within = divmod(s, len(_SIGN_PATTERNS))
        pattern = _SIGN_PATTERNS[orders[block][within]]
        session_traits = {t: float(np.round(shared.uniform(-3.0, 3.0), 2)) for t in TRAITS}
        for g, gender in enumerate(GENDERS):
            e_sign, a_sign = pattern[g]
            traits = {t: float(np.round(rng.uniform(-3.0, 3.0), 2)) for t in TRAITS}
            traits["extraversion"] = float(np.round(e_sign * rng.uniform(2.0, 3.8), 2))
            traits["agreeableness"] = float(np.round(a_sign * rng.uniform(2.0, 3.8), 2))
            if trait_design in PAIRED_ON:
                kept = PAIRED_ON[trait_design]
                if kept not in ("extraversion", "agreeableness"):  # its own sign pattern: A's
                    traits[kept] = float(np.round(a_sign * paired_draws.uniform(2.0, 3.8), 2))
                traits = {t: (traits[t] if t == kept else session_traits[t]) for t in TRAITS}
            voice = IEMOCAP_VOICES[gender][voices[gender][block][within]]
            identity = tuple(float(v) for v in np.round(rng.normal(0.0, identity_sd, len(CONTROLS)), 3))
            out.append(Speaker(speaker_id(session, gender), gender, f"en-us+{voice}", traits, identity))
    return out


def speaker_id(session: int, gender: str) -> str:
    """IEMOCAP's speaker id: the session in two digits and the gender letter (``Ses01F``, ``Ses12M``)."""
    return f"Ses{session:02d}{gender}"


def sspnet_speakers(seed: int, n: int, identity_sd: float, trait_sd: float) -> list[Speaker]:
    """``n`` SSPNet speakers: half women, voices from SSPNET_VOICES, traits ~ N(0, trait_sd) within [-3.8, 3.8]."""
    rng = rng_for(seed, "sspnet-speakers")
    speakers = []
    for i in range(n):
        gender = GENDERS[int(rng.integers(2))]
        pool = SSPNET_VOICES[gender]
        voice = f"fr+{pool[int(rng.integers(len(pool)))]}"
        traits = {t: float(np.round(np.clip(rng.normal(0.0, trait_sd), -3.8, 3.8), 2)) for t in TRAITS}
        identity = tuple(float(v) for v in np.round(rng.normal(0.0, identity_sd, len(CONTROLS)), 3))
        speakers.append(Speaker(f"spk{i + 1:03d}", gender, voice, traits, identity))
    return speakers


def clip_speakers(seed: int, clips: int, speakers: int) -> list[int]:
    """Speaker index of each clip: every speaker has one clip, the rest go to a few prolific ones (news
    anchors), drawn with weights ~ 1 / sqrt(rank). Clips are in speaker order, like a corpus cut show by show."""
    if clips < speakers:
        raise ValueError(f"{clips} clips cannot cover {speakers} speakers")
    rng = rng_for(seed, "sspnet-clips")
    weights = 1.0 / np.sqrt(np.arange(1, speakers + 1))
    extra = rng.choice(speakers, size=clips - speakers, p=weights / weights.sum())
    counts = np.ones(speakers, dtype=int) + np.bincount(extra, minlength=speakers)
    order = rng.permutation(speakers)
    return [int(spk) for spk in order for _ in range(counts[spk])]


# ---------------------------------------------------------------------------------------------------------
# IEMOCAP dialogs and utterances


@dataclass(frozen=True)
class PlannedUtterance:
    index: int  # position in the plan: picks this utterance's random stream
    session: int
    dialog: str  # "Ses01F_impro01"
    id: str  # "Ses01F_impro01_M003"
    speaker: str  # "Ses01M": session + the gender letter of the id's last part (plan.speaker_id)
    label: str  # IEMOCAP label code (ang, hap, exc, ..., xxx)


def dialog_names(session: int, n: int) -> list[str]:
    """``n`` dialog names of a session: Ses01F_impro01, Ses01M_impro01, Ses01F_script01_2, ... (unique)."""
    names = []
    for i in range(n):
        marker = GENDERS[i % 2]
        number = i // 4 + 1
        if (i // 2) % 2 == 0:
            names.append(f"{speaker_id(session, marker)}_impro{number:02d}")
        else:
            names.append(f"{speaker_id(session, marker)}_script{number:02d}_{number % 3 + 1}")
    return names


def per_speaker_counts(profile: DemoProfile, seed: int) -> dict[str, dict[str, int]]:
    """speaker id -> label code -> utterances: each label's total split as evenly as possible over the
    speakers (the odd ones out drawn by the seed), so every speaker has every 4-class emotion.

    Block by block of ten speakers (five sessions), each block with the ten-speaker profile's totals and a
    stream of its own: the first block's counts are the ten-speaker corpus' own, and a corpus of more
    speakers holds the smaller ones (with ``plan_utterances`` and the generator, its first sessions are the
    smaller corpus' files, byte for byte)."""
    factor = profile.speakers // IEMOCAP_SPEAKERS
    out: dict[str, dict[str, int]] = {}
    for block in range(factor):
        rng = rng_for(seed, "label-split", block)
        ids = [speaker_id(s, g) for s in profile.sessions[block * len(SESSIONS):(block + 1) * len(SESSIONS)]
               for g in GENDERS]
        mine = {sid: {} for sid in ids}
        for code, total in profile.label_counts.items():
            total //= factor  # the ten-speaker total (with_speakers multiplied it)
            counts = np.full(len(ids), total // len(ids))
            counts[rng.permutation(len(ids))[: total % len(ids)]] += 1
            for sid, n in zip(ids, counts):
                mine[sid][code] = int(n)
        out |= mine
    return out


def plan_utterances(profile: DemoProfile, seed: int) -> list[PlannedUtterance]:
    """Every IEMOCAP utterance of the corpus: its session, dialog, id, speaker and label, in dialog order.

    Each speaker's utterances are shuffled and dealt over the session's dialogs; within a dialog the two
    speakers' turns are interleaved at random and numbered F000, F001, ... / M000, ... in turn order.
    """
    rng = rng_for(seed, "utterance-plan")
    counts = per_speaker_counts(profile, seed)
    planned: list[PlannedUtterance] = []
    for session in profile.sessions:
        dialogs = dialog_names(session, profile.dialogs_per_session)
        turns: dict[str, list[tuple[str, str]]] = {d: [] for d in dialogs}  # dialog -> [(gender, label)]
        for gender in GENDERS:
            labels = [code for code, n in counts[speaker_id(session, gender)].items() for _ in range(n)]
            labels = [labels[i] for i in rng.permutation(len(labels))]
            for i, label in enumerate(labels):
                turns[dialogs[i % len(dialogs)]].append((gender, label))
        for dialog in dialogs:
            order = rng.permutation(len(turns[dialog]))
            numbers = {g: 0 for g in GENDERS}
            for j in order:
                gender, label = turns[dialog][j]
                utt = f"{dialog}_{gender}{numbers[gender]:03d}"
                numbers[gender] += 1
                planned.append(PlannedUtterance(len(planned), session, dialog, utt, speaker_id(session, gender), label))
    return planned
