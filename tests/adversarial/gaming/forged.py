"""Forged result arrays: what a candidate could write in place of the child's vertices.npy and
faces.npy. Each function takes the honest prediction's (closed, valid) mesh arrays and returns
the forged pair; `FORGED` says whether the trusted side must refuse it ("refused") or score it
("ok", then no better than the honest mesh)."""

from __future__ import annotations

import numpy as np


def _join(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    return (np.concatenate([v for v, _ in parts]),
            np.concatenate([f + o for (_, f), o in zip(parts, offsets)]))


def single_open_triangle(v, f):
    """One open triangle (was accepted as a valid solid: VSR credit)."""
    return np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0]]), np.array([[0, 1, 2]])


def open_shell(v, f):
    """The honest mesh with a few faces removed (vertices kept only where used)."""
    keep = f[5:]
    used = np.unique(keep)
    remap = np.full(len(v), -1)
    remap[used] = np.arange(len(used))
    return v[used], remap[keep]


def stray_triangle(v, f):
    """The honest mesh plus one triangle floating beside it."""
    tri = v.max(axis=0) + np.array([[0.1, 0, 0], [0.4, 0, 0], [0.1, 0.3, 0]])
    return _join((v, f), (tri, np.array([[0, 1, 2]])))


def unreferenced_vertex(v, f):
    """The honest mesh plus a vertex no face uses (far away: a grid hijack by the box)."""
    return np.concatenate([v, [[500.0, 500.0, 500.0]]]), f


def inverted(v, f):
    """The honest mesh wound inside out (parity voxelizers ignore winding)."""
    return v, f[:, ::-1].copy()


def both_windings(v, f):
    """The honest mesh twice, once inside out: a zero-volume sandwich."""
    return _join((v, f), (v, f[:, ::-1].copy()))


def stacked_arrays(v, f):
    """Ten slightly shifted copies of the honest mesh side by side, never fused."""
    return _join(*[(v + 0.004 * i, f) for i in range(10)])


def far_cavity(v, f):
    """The honest mesh plus an inside-out copy far away (a cavity in nothing)."""
    return _join((v, f), (v + 100.0, f[:, ::-1].copy()))


def inner_cavity(v, f):
    """The honest mesh plus an inside-out shrunken copy inside it: a real cavity."""
    c = v.mean(axis=0)
    return _join((v, f), (c + 0.3 * (v - c), f[:, ::-1].copy()))


FORGED = {
    "single_open_triangle": (single_open_triangle, "refused"),
    "open_shell": (open_shell, "refused"),
    "stray_triangle": (stray_triangle, "refused"),
    "unreferenced_vertex": (unreferenced_vertex, "refused"),
    "inverted": (inverted, "refused"),
    "both_windings": (both_windings, "refused"),
    "stacked_arrays": (stacked_arrays, "ok"),
    "far_cavity": (far_cavity, "ok"),
    "inner_cavity": (inner_cavity, "ok"),
}


def folded(v, f):
    """The honest mesh with half its top vertices pushed through the bottom: one component
    that passes through itself (winding numbers -1 and 2; its signed volume is nonsense)."""
    v = v.copy()
    top = np.flatnonzero(v[:, 2] >= v[:, 2].max() - 1e-9)
    depth = v[:, 2].max() - v[:, 2].min()
    v[top[: len(top) // 2], 2] -= 2.0 * depth
    return v, f


FORGED["folded"] = (folded, "refused")
