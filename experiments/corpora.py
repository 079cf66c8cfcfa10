"""Which corpora a step reads: the emotion corpus (the user's IEMOCAP or EmoBox-layout corpus, or a demo corpus,
generated on first use), SSPNet, and under the cross-corpus protocol the corpus it tests on."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from paaan.data.corpus import EmotionCorpus, emotion_corpus, parse_spec

DEMO = "demo"  # the spec of a demo corpus: "demo" (IEMOCAP's layout) or "emobox:demo" (the acted corpus)


@dataclass(frozen=True)
class Corpora:
    emotion: EmotionCorpus  # the labelled emotion corpus a study trains on (and, within a corpus, tests on)
    sspnet: Path
    ground_truth: Path | None  # the true personalities (a demo's ground_truth.json, a traits CSV); None for real corpora
    demo: bool  # synthetic (written by paaan.demo): the report says so
    scenario: str | None = None  # the demo corpus' planted-effect scenario (paaan.demo.scenarios)
    test: EmotionCorpus | None = None  # the cross-corpus protocol's test corpus (featurized with the emotion corpus)

    @property
    def emotion_corpora(self) -> tuple[EmotionCorpus, ...]:
        """What featurize reads: the emotion corpus, and the test corpus when there is one."""
        return (self.emotion,) if self.test is None else (self.emotion, self.test)

    @property
    def has_text(self) -> bool:
        """Whether every emotion corpus read has transcripts (the text and multimodal variants need them)."""
        return all(c.has_text for c in self.emotion_corpora)


def data_root() -> Path:
    """Where generated demo data lives: ``$PAAAN_DATA``, or ``./demo_corpus``."""
    return Path(os.environ.get("PAAAN_DATA", Path.cwd() / "demo_corpus")).resolve()


def demo_dir(seed: int = 0, profile: str = "demo", scenario: str = "input_flip", speakers: int = 10,
             layout: str = "iemocap") -> Path:
    """Where a demo corpus lives: ``$PAAAN_DATA`` or ``./demo_corpus``, one folder per layout, profile, number of
    speakers (when not the layout's default), seed and scenario (its slug: the name, and the gate's
    carrier_share), e.g. ``demo-seed0-input_flip``, ``demo-40spk-seed3-segment_gate-carrier_share1``,
    ``acted-demo-seed0-input_flip`` (EmoBox's layout)."""
    from paaan.demo import get_scenario
    from paaan.demo.emobox import DEFAULT_SPEAKERS

    default = 10 if layout == "iemocap" else DEFAULT_SPEAKERS
    size = "" if speakers == default else f"-{speakers}spk"
    prefix = "" if layout == "iemocap" else "acted-"
    return data_root() / f"{prefix}{profile}{size}-seed{seed}-{get_scenario(scenario).slug}"


def _recorded_scenario(folder: Path) -> str | None:
    try:
        return json.loads((folder / "ground_truth.json").read_text())["scenario"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class DemoKnobs:
    """The demo corpus a ``demo`` spec means: seed, size profile, scenario, speakers (0: the layout's default)."""

    seed: int = 0
    profile: str = "demo"
    scenario: str = "input_flip"
    speakers: int = 0
    workers: int = 0
    progress: bool = True


def _iemocap_demo(knobs: DemoKnobs) -> tuple[EmotionCorpus, Path, Path]:
    """The IEMOCAP-layout demo corpus of ``knobs`` (generated if missing or stale): corpus, SSPNet, ground truth."""
    from paaan.demo import generate_demo_corpus, matches

    speakers = knobs.speakers or 10
    root = demo_dir(knobs.seed, knobs.profile, knobs.scenario, speakers)
    if not matches(root, knobs.seed, knobs.profile, knobs.scenario, speakers):
        print(f"generating the demo corpus ({knobs.profile}, {speakers} speakers, seed {knobs.seed}, scenario "
              f"{knobs.scenario}) in {root} ...", flush=True)
        generate_demo_corpus(root, seed=knobs.seed, profile=knobs.profile, scenario=knobs.scenario,
                             progress=knobs.progress, workers=knobs.workers, speakers=speakers)
    return emotion_corpus("iemocap", root / "IEMOCAP_full_release"), root / "SSPNet", root / "ground_truth.json"


def _emobox_demo(knobs: DemoKnobs) -> tuple[EmotionCorpus, Path, Path]:
    """The acted demo corpus in EmoBox's layout (``paaan.demo.emobox``) of ``knobs``, generated if missing or
    stale: corpus (with its transcripts CSV), SSPNet, ground truth."""
    from paaan.demo.emobox import DEFAULT_SPEAKERS, NAME, emobox_demo_matches, write_emobox_demo

    speakers = knobs.speakers or DEFAULT_SPEAKERS
    root = demo_dir(knobs.seed, knobs.profile, knobs.scenario, speakers, layout="emobox")
    if not emobox_demo_matches(root, knobs.seed, knobs.profile, knobs.scenario, speakers):
        print(f"generating the acted demo corpus in EmoBox's layout ({knobs.profile}, {speakers} speakers, seed "
              f"{knobs.seed}, scenario {knobs.scenario}) in {root} ...", flush=True)
        write_emobox_demo(root, seed=knobs.seed, scenario=knobs.scenario, speakers=speakers, workers=knobs.workers,
                          profile=knobs.profile, progress=knobs.progress)
    return emotion_corpus("emobox", root / NAME), root / "SSPNet", root / "ground_truth.json"


def resolve_emotion_corpus(spec: str, knobs: DemoKnobs, wav_root: str = "",
                           transcripts: str = "") -> tuple[EmotionCorpus, Path | None, Path | None]:
    """An emotion corpus from its spec (``demo``, ``emobox:demo``, ``iemocap:DIR`` or a bare IEMOCAP root,
    ``emobox:DIR``), with the SSPNet and ground truth of a demo corpus (None for a real one)."""
    layout, where = parse_spec(spec)
    if where == DEMO:
        if wav_root or transcripts:
            raise ValueError("--wav-root and --transcripts are for your own EmoBox corpus; the demo has its own")
        return (_iemocap_demo if layout == "iemocap" else _emobox_demo)(knobs)
    corpus = emotion_corpus(layout, where, wav_root or None, transcripts or None)
    from paaan.demo import is_demo_corpus
    from paaan.demo.emobox import is_emobox_demo

    # a demo corpus given by path is still synthetic
    folder = corpus.root.parent
    demo = is_demo_corpus(folder) if layout == "iemocap" else is_emobox_demo(folder)
    return corpus, (folder / "SSPNet") if demo else None, (folder / "ground_truth.json") if demo else None


def resolve_corpora(iemocap_root: str | None = None, sspnet_root: str | None = None, demo_seed: int = 0,
                    demo_profile: str = "demo", progress: bool = True, demo_scenario: str = "input_flip",
                    workers: int = 0, demo_speakers: int = 10, emotion_corpus: str = "", wav_root: str = "",
                    transcripts: str = "", test_corpus: str = "", test_wav_root: str = "",
                    test_transcripts: str = "") -> Corpora:
    """The corpora to use.

    The emotion corpus: ``emotion_corpus`` (a spec, ``resolve_emotion_corpus``) or ``iemocap_root``; with neither,
    the demo corpus of ``demo_scenario`` with ``demo_speakers`` IEMOCAP speakers (generated if missing, and
    generated again if the folder's corpus was made with other knobs or another generator) by ``workers``
    synthesis processes (0: every core; the files are the same for any number). A real emotion corpus needs
    ``sspnet_root``; a demo one brings its own SSPNet. ``test_corpus``: the cross-corpus protocol's test corpus
    (a spec; its demo is drawn with the same seed and scenario), read beside the emotion corpus; the true
    traits are both demo corpora's when both are demos."""
    if iemocap_root and emotion_corpus:
        raise ValueError("give --iemocap-root or --emotion-corpus, not both")
    if not emotion_corpus and bool(iemocap_root) != bool(sspnet_root):
        raise ValueError("give both --iemocap-root and --sspnet-root, or neither (then the demo corpus is used)")
    spec = emotion_corpus or iemocap_root or DEMO
    layout, where = parse_spec(spec)
    if where == DEMO and sspnet_root:
        raise ValueError("the demo corpora bring their own SSPNet: give --sspnet-root with your own corpus only")
    knobs = DemoKnobs(demo_seed, demo_profile, demo_scenario, demo_speakers if layout == "iemocap" else 0, workers,
                      progress)
    emotion, demo_sspnet, truth = resolve_emotion_corpus(spec, knobs, wav_root, transcripts)
    if not sspnet_root and where != DEMO:
        raise ValueError(f"give --sspnet-root with your own emotion corpus ({emotion.root})")
    sspnet = Path(sspnet_root).resolve() if sspnet_root else demo_sspnet
    demo = demo_sspnet is not None  # a demo corpus, generated or given by path
    scenario = _recorded_scenario(Path(truth).parent) if demo else None
    test = None
    if test_corpus:
        test_knobs = dataclasses.replace(knobs, speakers=demo_speakers if parse_spec(test_corpus)[0] == "iemocap" else 0)
        test, _, test_truth = resolve_emotion_corpus(test_corpus, test_knobs, test_wav_root, test_transcripts)
        if test.name == emotion.name:
            raise ValueError(f"the test corpus is the emotion corpus ({emotion.name}): cross-corpus needs two corpora")
        truth = merged_ground_truth(truth, test_truth) if truth and test_truth else None
    return Corpora(emotion, sspnet, truth, demo=demo, scenario=scenario, test=test)


def merged_ground_truth(first: Path, second: Path) -> Path:
    """One ground_truth.json holding the speakers (and segments) of two demo corpora, for a study that reads both
    (the cross-corpus protocol): written once beside ``$PAAAN_DATA``'s corpora, named by both files' content."""
    truths = [json.loads(Path(p).read_text()) for p in (first, second)]
    digest = hashlib.sha256(b"".join(Path(p).read_bytes() for p in (first, second))).hexdigest()[:12]
    out = data_root() / f"cross-corpus-{digest}"
    path = out / "ground_truth.json"
    if path.is_file():
        return path
    emotion: dict = {}
    for field in ("speakers", "utterance_segments", "utterance_text_cue"):
        emotion[field] = {}
        for truth in truths:
            overlap = set(emotion[field]) & set(truth["iemocap"].get(field) or {})
            if overlap:
                raise ValueError(f"the two demo corpora share {field} ({sorted(overlap)[:3]}): draw them apart")
            emotion[field].update(truth["iemocap"].get(field) or {})
    merged = {"generator": "cross-corpus", "scenario": truths[0]["scenario"], "iemocap": emotion,
              "sources": [str(first), str(second)]}
    out.mkdir(parents=True, exist_ok=True)
    partial = out / ".ground_truth.json.partial"
    partial.write_text(json.dumps(merged, indent=1) + "\n")
    os.replace(partial, path)
    return path


def with_traits(corpora: Corpora, traits: str | Path) -> Corpora:
    """A real corpus with its true traits from a CSV (``paaan.data.traits``), read wherever the demo corpus'
    ground_truth.json is (the oracle and shuffled variants, retrieval's trait correlations)."""
    from paaan.errors import PaaanError

    if corpora.demo:
        raise PaaanError("--traits gives a real corpus' true traits; the demo corpus has its own (ground_truth.json)")
    path = Path(traits).expanduser().resolve()
    if not path.is_file():
        raise PaaanError(f"{path}: no such traits file")
    return dataclasses.replace(corpora, ground_truth=path)


def redact(path: str | Path | None) -> str:
    """A path (or a corpus spec, ``emobox:PATH``) as it may be logged: the home folder shown as ``~`` (no user
    names in params or artifacts)."""
    if path is None:
        return ""
    text = str(path)
    home = str(Path.home())
    layout, sep, rest = text.partition(":")
    if sep and layout in ("iemocap", "emobox") and rest.startswith(home):
        return f"{layout}:{redact(rest)}"
    if home not in ("/", "") and text.startswith(home):
        return "~" + text[len(home):]
    return text
