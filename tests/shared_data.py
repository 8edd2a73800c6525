"""Where tests and benchmarks find the shared data: `<project root>/../shared`, or
`$CADBENCH_SHARED` when set. The one place that knows; nothing else spells a path to it.

Importable as `shared_data` from tests (pytest puts tests/ on sys.path through conftest.py) and
from benchmarks (they put tests/ on sys.path themselves).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    env = os.environ.get("CADBENCH_SHARED")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT.parent / "shared"


def shared_file(*parts: str) -> Path:
    return shared_root().joinpath(*parts)


def missing_message(path: Path) -> str:
    """The text a test skips (or, under CI, fails) with when a shared file is absent."""
    return (
        f"shared data file {path} not found: the tests look in <project root>/../shared "
        f"({shared_root()}); put a copy of the shared folder there or set CADBENCH_SHARED"
    )


def require(path: Path) -> Path:
    """`path` if it exists; otherwise skip the calling test with `missing_message`."""
    if not path.exists():
        import pytest

        pytest.skip(missing_message(path))
    return path


# 50 real GenCAD-Code test programs (see shared/data/README.md).
GENCAD_SUBSET50 = shared_file("data", "gencad_subset50.jsonl")
