"""What identifies a step's inputs, without MLflow: the code version, the data fingerprints, the cache keys.

The MLflow multistep example's idea, keyed better: a step's cache key hashes its parameters, the code
version (a hash of the sources the step depends on, so an edit invalidates it, committed or not), the data
fingerprint and the run ids of the steps it consumed. ``experiments.tracking.cached_step`` finds the
FINISHED run with a key; this room only computes keys.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SOURCE_DIRS = ("paaan", "experiments", "registry")


# The sources each step's results depend on: these roots and every paaan module they import, found by reading
# their imports (so a helper moved to another module cannot fall out of the key). A step's cache key hashes only
# these, so editing, say, the attention analysis does not invalidate the features. Steps not listed depend on
# everything except the demo generator (whose effect reaches them through the data fingerprint) and the analysis.
STEP_SOURCES: dict[str, tuple[str, ...]] = {
    "featurize": ("paaan/data", "paaan/features", "experiments/featurize.py"),
    "shla": ("paaan/shla.py", "experiments/shla.py"),
    "retrieve": ("paaan/retrieval.py", "paaan/shla.py", "paaan/personality.py", "experiments/retrieve.py"),
    "analyze": ("paaan/analysis.py", "experiments/analyze.py"),
}
_NOT_IN_DEFAULT = ("paaan/demo", "paaan/analysis.py", "experiments/analyze.py")


def _paaan_imports(path: Path) -> set[Path]:
    """The files of the paaan modules ``path`` imports (at module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from paaan import analysis`
    found = set()
    for name in names:
        if name == "paaan" or name.startswith("paaan."):
            base = PROJECT_ROOT.joinpath(*name.split("."))
            found.update(f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file())
    return found


def _sources(step: str | None) -> list[Path]:
    if step in STEP_SOURCES:
        files: set[Path] = set()
        for root in (PROJECT_ROOT / p for p in STEP_SOURCES[step]):
            files.update(root.rglob("*.py") if root.is_dir() else [root])
        todo = list(files)
        while todo:
            for imported in _paaan_imports(todo.pop()) - files:
                files.add(imported)
                todo.append(imported)
        return sorted(f for f in files if "__pycache__" not in f.parts)
    files = []
    for root in (PROJECT_ROOT / d for d in _SOURCE_DIRS):
        for path in sorted(root.rglob("*")):
            relative = str(path.relative_to(PROJECT_ROOT))
            if relative.startswith(_NOT_IN_DEFAULT) or "__pycache__" in path.parts:
                continue
            if path.suffix in (".py", ".yaml", ".csv"):
                files.append(path)
    return files


def code_version(step: str | None = None) -> str:
    """Hash of the sources ``step`` depends on (all of paaan/, experiments/, registry/ but the demo generator
    and the analysis when ``step`` has no list): changes with any edit, committed or not."""
    digest = hashlib.sha256()
    for path in _sources(step):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def fingerprint_tree(root: str | Path) -> dict[str, Any]:
    """Fingerprint of a corpus folder: relative path, size and mtime of every file (``._*`` excluded).

    Sizes and mtimes, not content hashes: hashing IEMOCAP's 10k wavs on every call would cost seconds;
    any rewrite of a file changes its mtime.
    """
    root = Path(root)
    return fingerprint_files(root, sorted(p for p in root.rglob("*") if p.is_file()))


def fingerprint_files(root: str | Path, files) -> dict[str, Any]:
    """``fingerprint_tree`` of a list of files (``._*`` excluded): each by its path relative to ``root`` (absolute
    when outside it), size and mtime."""
    root = Path(root)
    digest = hashlib.sha256()
    count = size = 0
    for path in files:
        path = Path(path)
        if path.is_file() and not path.name.startswith("._"):
            stat = path.stat()
            name = path.relative_to(root) if path.is_relative_to(root) else path
            digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            count += 1
            size += stat.st_size
    return {"hash": digest.hexdigest()[:16], "files": count, "bytes": size}


def cache_key(step: str, inputs: dict[str, Any]) -> str:
    """A step's key: its name, its inputs (JSON, sorted) and the code version of its sources, hashed."""
    payload = json.dumps({"step": step, "inputs": inputs, "code": code_version(step)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def folds_fingerprint(folds_file: str | None) -> str | None:
    """A fold file's (or EmoBox folder's) content hash: the folds are an input of every split."""
    if not folds_file:
        return None
    path = Path(folds_file)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
