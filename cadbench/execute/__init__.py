"""Isolated execution of candidate CadQuery programs (see sandbox.Sandbox)."""

from .sandbox import ExecResult, Sandbox

__all__ = ["ExecResult", "Sandbox"]
