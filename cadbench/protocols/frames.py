"""Frame normalisations of the field's evaluators, as functions on Solid or Mesh.

Each returns the shape moved by x -> s * x + t (a similarity: IoU is unchanged when both
shapes get the same one, but each peer applies it to each shape on its own, which is what
makes a translated or scaled copy score 1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, TypeVar

import numpy as np

from ..geometry.align import mass_properties
from ..geometry.mesh import Mesh
from ..geometry.solid import Solid, transformed

Shape = TypeVar("Shape", Solid, Mesh)


def _mesh(shape: Solid | Mesh) -> Mesh:
    return shape.mesh if isinstance(shape, Solid) else shape


def similarity(shape: Shape, scale: float, offset: np.ndarray) -> Shape:
    """x -> scale * x + offset on a Solid (volume and manifold follow) or a Mesh."""
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"normalisation scale must be finite and > 0, got {scale}")
    offset = np.asarray(offset, dtype=np.float64)
    if isinstance(shape, Solid):
        return transformed(shape, scale * np.eye(3), offset)
    return Mesh(shape.vertices * scale + offset, shape.faces)


def _bbox(shape: Solid | Mesh) -> tuple[np.ndarray, float]:
    lo, hi = _mesh(shape).bounds
    longest = float((hi - lo).max())
    if not longest > 1e-12:
        raise ValueError(f"degenerate bounding box (longest side {longest:.3g})")
    return (lo + hi) / 2.0, longest


def unit_cube(shape: Shape) -> Shape:
    """Bounding-box centre to (0.5, 0.5, 0.5), longest side to 1: inside [0, 1]^3
    (CAD-Recode/cadrille's test meshes and predictions; BenchCAD). The vertices are computed
    as (x - centre) / longest + 0.5, the peers' order of operations: voxel grids round
    coordinates at half-pitch boundaries, where the last bit decides (a plate whose faces
    sit on such a boundary)."""
    centre, longest = _bbox(shape)
    moved = similarity(shape, 1.0 / longest, 0.5 - centre / longest)
    vertices = (_mesh(shape).vertices - centre) / longest + 0.5
    if isinstance(moved, Solid):
        return replace(moved, mesh=Mesh(vertices, moved.mesh.faces))
    return Mesh(vertices, moved.faces)


def pm1(shape: Shape) -> Shape:
    """Bounding-box centre to the origin, longest side to 2: inside [-1, 1]^3 (CADBench)."""
    centre, longest = _bbox(shape)
    return similarity(shape, 2.0 / longest, -2.0 * centre / longest)


def gyration(shape: Shape) -> Shape:
    """Volume centroid to the origin, radius of gyration to 1 (Mecagent, CADBench's aligned
    metrics before rotation). Moments of the filled solid, not of the surface."""
    mp = mass_properties(_mesh(shape))
    s = 1.0 / mp.radius_of_gyration
    return similarity(shape, s, -s * mp.centroid)


def none(shape: Shape) -> Shape:
    return shape


FRAME_FUNCTIONS: dict[str, Callable] = {
    "none": none, "unit_cube": unit_cube, "pm1": pm1, "gyration": gyration}


def normalise(shape: Shape, frame: str) -> Shape:
    if frame not in FRAME_FUNCTIONS:
        raise ValueError(f"unknown frame {frame!r}; known: {', '.join(FRAME_FUNCTIONS)}")
    return FRAME_FUNCTIONS[frame](shape)
