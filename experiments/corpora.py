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


def demo_dir(seed: int = 0, profile: str = "demo") -> Path:
    """Where the demo corpus lives: ``$PAAAN_DATA`` or ``./demo_corpus``, one folder per profile and seed."""
    base = Path(os.environ.get("PAAAN_DATA", Path.cwd() / "demo_corpus"))
    return (base / f"{profile}-seed{seed}").resolve()


def resolve_corpora(iemocap_root: str | None = None, sspnet_root: str | None = None, demo_seed: int = 0,
                    demo_profile: str = "demo", progress: bool = True) -> Corpora:
    """The corpus roots to use. With neither root given, the demo corpus (generated if missing)."""
    if bool(iemocap_root) != bool(sspnet_root):
        raise ValueError("give both --iemocap-root and --sspnet-root, or neither (then the demo corpus is used)")
    from paaan.demo import is_demo_corpus

    if iemocap_root:
        iemocap, sspnet = Path(iemocap_root).resolve(), Path(sspnet_root).resolve()
        truth = iemocap.parent / "ground_truth.json"
        demo = is_demo_corpus(iemocap.parent)  # a demo corpus given by path is still synthetic
        return Corpora(iemocap, sspnet, truth if demo else None, demo=demo)
    root = demo_dir(demo_seed, demo_profile)
    if not is_demo_corpus(root):
        from paaan.demo import generate_demo_corpus

        print(f"generating the demo corpus ({demo_profile}, seed {demo_seed}) in {root} ...", flush=True)
        generate_demo_corpus(root, seed=demo_seed, profile=demo_profile, progress=progress)
    return Corpora(root / "IEMOCAP_full_release", root / "SSPNet", root / "ground_truth.json", demo=True)


def redact(path: str | Path | None) -> str:
    """A path as it may be logged: the home folder shown as ``~`` (no user names in params or artifacts)."""
    if path is None:
        return ""
    text = str(path)
    home = str(Path.home())
    if home not in ("/", "") and text.startswith(home):
        return "~" + text[len(home):]
    return text
