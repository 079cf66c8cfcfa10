"""Which corpora a step reads: the user's IEMOCAP and SSPNet roots, or the demo corpus, generated on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Corpora:
    iemocap: Path
    sspnet: Path
    ground_truth: Path | None  # the demo corpus' true personalities; None for real corpora
    demo: bool  # synthetic (written by paaan.demo): the report says so
    scenario: str | None = None  # the demo corpus' planted-effect scenario (paaan.demo.scenarios)


def demo_dir(seed: int = 0, profile: str = "demo", scenario: str = "input_flip", speakers: int = 10) -> Path:
    """Where a demo corpus lives: ``$PAAAN_DATA`` or ``./demo_corpus``, one folder per profile, number of
    speakers (when not IEMOCAP's ten), seed and scenario (its slug: the name, and the gate's carrier_share),
    e.g. ``demo-seed0-input_flip``, ``demo-40spk-seed3-segment_gate-carrier_share1``."""
    from paaan.demo import get_scenario

    base = Path(os.environ.get("PAAAN_DATA", Path.cwd() / "demo_corpus"))
    size = "" if speakers == 10 else f"-{speakers}spk"
    return (base / f"{profile}{size}-seed{seed}-{get_scenario(scenario).slug}").resolve()


def _recorded_scenario(folder: Path) -> str | None:
    import json

    try:
        return json.loads((folder / "ground_truth.json").read_text())["scenario"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resolve_corpora(iemocap_root: str | None = None, sspnet_root: str | None = None, demo_seed: int = 0,
                    demo_profile: str = "demo", progress: bool = True, demo_scenario: str = "input_flip",
                    workers: int = 0, demo_speakers: int = 10) -> Corpora:
    """The corpus roots to use. With neither root given, the demo corpus of ``demo_scenario`` with
    ``demo_speakers`` IEMOCAP speakers (generated if missing, and generated again if the folder's corpus was
    made with other knobs or another generator) by ``workers`` synthesis processes (0: every core; the files
    are the same for any number)."""
    if bool(iemocap_root) != bool(sspnet_root):
        raise ValueError("give both --iemocap-root and --sspnet-root, or neither (then the demo corpus is used)")
    from paaan.demo import is_demo_corpus, matches

    if iemocap_root:
        iemocap, sspnet = Path(iemocap_root).resolve(), Path(sspnet_root).resolve()
        truth = iemocap.parent / "ground_truth.json"
        demo = is_demo_corpus(iemocap.parent)  # a demo corpus given by path is still synthetic
        return Corpora(iemocap, sspnet, truth if demo else None, demo=demo,
                       scenario=_recorded_scenario(iemocap.parent) if demo else None)
    root = demo_dir(demo_seed, demo_profile, demo_scenario, demo_speakers)
    if not matches(root, demo_seed, demo_profile, demo_scenario, demo_speakers):
        from paaan.demo import generate_demo_corpus

        print(f"generating the demo corpus ({demo_profile}, {demo_speakers} speakers, seed {demo_seed}, scenario "
              f"{demo_scenario}) in {root} ...", flush=True)
        generate_demo_corpus(root, seed=demo_seed, profile=demo_profile, scenario=demo_scenario, progress=progress,
                             workers=workers, speakers=demo_speakers)
    return Corpora(root / "IEMOCAP_full_release", root / "SSPNet", root / "ground_truth.json", demo=True,
                   scenario=demo_scenario)


def with_traits(corpora: Corpora, traits: str | Path) -> Corpora:
    """A real corpus with its true traits from a CSV (``paaan.data.traits``), read wherever the demo corpus'
    ground_truth.json is (the oracle and shuffled variants, retrieval's trait correlations)."""
    import dataclasses

    from paaan.errors import PaaanError

    if corpora.demo:
        raise PaaanError("--traits gives a real corpus' true traits; the demo corpus has its own (ground_truth.json)")
    path = Path(traits).expanduser().resolve()
    if not path.is_file():
        raise PaaanError(f"{path}: no such traits file")
    return dataclasses.replace(corpora, ground_truth=path)


def redact(path: str | Path | None) -> str:
    """A path as it may be logged: the home folder shown as ``~`` (no user names in params or artifacts)."""
    if path is None:
        return ""
    text = str(path)
    home = str(Path.home())
    if home not in ("/", "") and text.startswith(home):
        return "~" + text[len(home):]
    return text
