"""Isolated execution of candidate CadQuery programs (see sandbox.Sandbox), and the bound on the
trusted side's own work (trusted.run_bounded).

The names below are imported on first use, so that `python -m cadbench.execute.zygote` and
`python -m cadbench.execute.hatchery` load nothing heavy (numpy, the mesh checks) before they
re-exec themselves with a fixed address layout (isolation.fixed_layout)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {"private_dir": "isolation", "ExecResult": "sandbox", "Sandbox": "sandbox",
            "BoundedResult": "trusted", "run_bounded": "trusted"}

if TYPE_CHECKING:
    from .isolation import private_dir
    from .sandbox import ExecResult, Sandbox
    from .trusted import BoundedResult, run_bounded


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BoundedResult", "ExecResult", "Sandbox", "private_dir", "run_bounded"]
