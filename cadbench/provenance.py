"""Provenance of a run: versions, git state, machine. Recorded with every result."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_PACKAGES = ("cadbench", "cadquery", "cadquery-ocp", "trimesh", "manifold3d", "numpy")


def package_versions(names=_PACKAGES) -> dict[str, str | None]:
    out = {}
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
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        # Records and the tables made from them are outputs, not code: writing one run's record
        # must not mark the next run of the same commit dirty.
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                    ":!leaderboards", ":!docs", ":!README.md")
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def machine() -> dict[str, object]:
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"system": platform.system(), "machine": platform.machine(),
            "python": platform.python_version(), "cpus": os.cpu_count(), "memory_gib": mem_gib}


def collect_provenance() -> dict[str, object]:
    return {"versions": package_versions(), "git": git_state(), "machine": machine()}


def content_hash(pairs) -> str:
    """Order-independent hash of (id, code) pairs: identifies a reference or prediction set."""
    h = hashlib.sha256()
    for item in sorted(json.dumps(list(p)) for p in pairs):
        h.update(item.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]
