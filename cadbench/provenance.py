"""Provenance of a run: versions, git state, machine, and the submission's own source files and
checkpoint. Recorded with every result."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("cadbench", "cadquery", "cadquery-ocp", "trimesh", "manifold3d", "numpy")


def package_versions(names=_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@lru_cache(maxsize=1)
def git_state() -> dict[str, object]:
    """Commit and dirty flag of the checkout cadbench runs from (None outside a git checkout)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        # Records and the tables made from them are outputs, not code: writing one run's record
        # must not mark the next run of the same commit dirty.
        dirty = git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!leaderboards",
            ":!docs",
            ":!README.md",
        )
        # An untracked module of the harness can be imported, so it counts; untracked files
        # elsewhere (a submission's, a user's notes) are judged per submission instead.
        untracked = git("status", "--porcelain", "--untracked-files=all", "--", "cadbench")
        return {
            "commit": head.stdout.strip(),
            "dirty": bool(dirty.stdout.strip() or untracked.stdout.strip()),
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def machine() -> dict[str, object]:
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "system": platform.system(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": mem_gib,
    }


def collect_provenance() -> dict[str, object]:
    return {"versions": package_versions(), "git": git_state(), "machine": machine()}


def content_hash(pairs) -> str:
    """Order-independent hash of (id, code) pairs: identifies a reference or prediction set."""
    h = hashlib.sha256()
    for item in sorted(json.dumps(list(p)) for p in pairs):
        h.update(item.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- submission

# Packages of this repository that hold several submissions side by side: a submission in one
# of them is its own sub-package (submissions/simple/) or its own module (baselines/gold.py).
_CONTAINERS = ("submissions", "baselines")
_SKIP_DIRS = ("__pycache__", ".git")
TRAIN_INFO_FILE = "train_info.json"  # rewritten by `cadbench train`: not part of the weights


def folder_hash(folder: Path, skip_names: tuple[str, ...] = ()) -> str:
    """Hash of every file's relative path and bytes under `folder` (16 hex digits)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        if f.name in skip_names:
            continue
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def checkpoint_hash(checkpoint: Path | str | None) -> str | None:
    """Content hash of a checkpoint folder (its training notes left out), None without one.
    The same number as the run folder's `checkpoint_sha`."""
    if not checkpoint or not Path(checkpoint).is_dir():
        return None
    return folder_hash(Path(checkpoint), skip_names=(TRAIN_INFO_FILE,))


def submission_source(cls: type) -> tuple[Path, list[Path]]:
    """The folder (or single file) that holds a submission class's own code, and its Python
    files. A sub-package of `submissions/` is the whole sub-package; a module directly in
    `submissions/` or `baselines/`, or a loose file, is that file; a class from another
    installed package is that package's top-level folder."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if not file:
        raise ValueError(f"{cls.__module__}:{cls.__qualname__}: no source file to hash")
    path = Path(file).resolve()
    parts = cls.__module__.split(".")
    n, is_pkg = len(parts), path.name == "__init__.py"

    def package_dir(k: int) -> Path:  # the folder of package parts[:k]
        return path.parents[n - k if is_pkg else n - 1 - k]

    if parts[0] in _CONTAINERS and n >= 2:
        root = package_dir(2) if (n >= 3 or is_pkg) else path
    else:
        root = package_dir(1) if (n >= 2 or is_pkg) else path
    if root.is_file():
        return root, [root]
    files = sorted(
        f for f in root.rglob("*.py") if not any(d in f.relative_to(root).parts for d in _SKIP_DIRS)
    )
    return root, files


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _git_dirty(watched: list[Path], committed: list[Path]) -> tuple[bool | None, list[str]]:
    """Whether the folders or files `watched` differ from the commit of the git checkout that
    holds the first one (modified, staged, untracked), or any file of `committed` is outside
    the index (git ignores it, so it is in no commit). None outside a git checkout."""
    first = watched[0]
    top = _git(first if first.is_dir() else first.parent, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return None, []
    top_dir = Path(top.stdout.strip()).resolve()

    def specs(paths: list[Path]) -> list[str]:  # a checkpoint may lie outside the checkout
        return [
            p.relative_to(top_dir).as_posix() or "." for p in paths if p.is_relative_to(top_dir)
        ]

    status = _git(top_dir, "status", "--porcelain", "--untracked-files=all", "--", *specs(watched))
    must_track = specs(committed)
    tracked = _git(top_dir, "ls-files", "--", *must_track) if must_track else None
    if status is None or status.returncode != 0 or (tracked and tracked.returncode != 0):
        return None, []
    changed = {line[3:] for line in status.stdout.splitlines() if line.strip()}
    known = set(tracked.stdout.splitlines()) if tracked else set()
    changed |= {s for s in must_track if s not in known}
    return bool(changed), sorted(changed)


def _shown(path: Path) -> str:
    """A path as records show it: relative to the project root when inside it, else its name
    (records hold no machine paths)."""
    try:
        return path.relative_to(_PROJECT_ROOT).as_posix()
    except ValueError:
        return path.name


_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def submission_provenance(cls: type, checkpoint: Path | str | None = None) -> dict[str, Any]:
    """What a record says about the code and weights behind a submission class.

    `source_hash` covers the submission's own Python files (`source_files`; see
    `submission_source`), `checkpoint_hash` the checkpoint folder the run loaded (None: none),
    and `dirty` is true when anything in the submission's folder or its checkpoint is not as
    committed (modified, staged, untracked), or a source or checkpoint file is ignored by git
    (so in no commit). None outside a git checkout. `dirty_files` says which.
    """
    root, files = submission_source(cls)
    h = hashlib.sha256()
    base = root if root.is_dir() else root.parent
    for f in files:
        h.update(f.relative_to(base).as_posix().encode() + b"\0" + f.read_bytes())
    ckpt = Path(checkpoint).resolve() if checkpoint else None
    watched, ckpt_files = [root], []
    if ckpt is not None and ckpt.is_dir():
        watched.append(ckpt)
        ckpt_files = sorted(f for f in ckpt.rglob("*") if f.is_file())
    dirty, dirty_files = _git_dirty(watched, files + ckpt_files)
    return {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "source_root": _shown(root),
        "source_files": [_shown(f) for f in files],
        "source_hash": h.hexdigest()[:16],
        "checkpoint_hash": checkpoint_hash(ckpt),
        "dirty": dirty,
        "dirty_files": dirty_files[:20],  # the first few, to say why
    }
