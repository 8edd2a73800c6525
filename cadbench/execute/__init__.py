"""Isolated execution of candidate CadQuery programs (see sandbox.Sandbox), and the bound on the
trusted side's own work (trusted.run_bounded)."""

from .isolation import private_dir
from .sandbox import ExecResult, Sandbox
from .trusted import BoundedResult, run_bounded

__all__ = ["BoundedResult", "ExecResult", "Sandbox", "private_dir", "run_bounded"]
