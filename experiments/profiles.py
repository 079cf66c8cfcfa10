"""Profiles: the YAML files in ``experiments/profiles/`` (``paper``, ``demo``) or a path to one's own.

A profile may name a ``base`` profile and override some of its values. The ``ablation`` and ``testbed``
sections hold settings of the experiments (seeds, k tuning, the testbed's plan) rather than of the library,
and are returned apart (``load_profile``'s second value is the ablation section; ``experiment_sections``
gives both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from paaan.config import Profile

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


def _read(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no profile {name_or_path!r} (known: {', '.join(known)}, or a YAML path)")
    data = yaml.safe_load(path.read_text()) or {}
    base = data.pop("base", None)
    if base:
        merged = _read(base)
        for key, value in data.items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        return merged
    return data


EXPERIMENT_SECTIONS = ("ablation", "testbed")


def load_profile(name_or_path: str = "demo") -> tuple[Profile, dict[str, Any]]:
    """(library Profile, ablation settings) of a named profile or a YAML file."""
    data = _read(name_or_path)
    sections = {name: data.pop(name, {}) or {} for name in EXPERIMENT_SECTIONS}
    return Profile.from_dict(data), sections["ablation"]


def experiment_sections(name_or_path: str = "demo") -> dict[str, dict[str, Any]]:
    """The experiment sections of a profile: {"ablation": {...}, "testbed": {...}} (empty when absent)."""
    data = _read(name_or_path)
    return {name: data.get(name, {}) or {} for name in EXPERIMENT_SECTIONS}
