"""CadQuery/OCC shape -> welded triangle Mesh. Used by the sandbox child and by trusted tools
(dataset generation, rendering) alike, so both see the same tessellation."""

from __future__ import annotations

import numpy as np

from .mesh import Mesh


def shape_to_mesh(shape, linear_tolerance: float = 1e-3, angular_tolerance: float = 0.2) -> Mesh:
    """Tessellate a cadquery Shape; linear_tolerance is relative to the bounding-box diagonal.

    OCC tessellates face by face, so vertices on shared edges are duplicated: weld them so the
    mesh is closed (needed by mesh booleans, harmless for ray parity)."""
    bb = shape.BoundingBox()
    diag = max(float(bb.DiagonalLength), 1e-9)
    verts, tris = shape.tessellate(linear_tolerance * diag, angular_tolerance)
    v = np.array([(p.x, p.y, p.z) for p in verts], dtype=np.float64).reshape(-1, 3)
    f = np.array(tris, dtype=np.int64).reshape(-1, 3)
    return weld(v, f, tol=1e-9 * diag + 1e-12)


def solids_to_mesh(solids, linear_tolerance: float = 1e-3,
                   angular_tolerance: float = 0.2) -> tuple[Mesh, list[Mesh]]:
    """Tessellate each solid on its own and concatenate: vertices are welded within a solid,
    never across solids, so touching or overlapping solids stay separate closed components
    (the trusted side fuses them, geometry/solid.make_solid). The linear tolerance is
    relative to the bounding-box diagonal of all solids together, so every solid gets the
    same absolute tolerance. Returns (all, per solid)."""
    import cadquery as cq

    solids = list(solids)
    whole = solids[0] if len(solids) == 1 else cq.Compound.makeCompound(solids)
    diag = max(float(whole.BoundingBox().DiagonalLength), 1e-9)
    parts = []
    for solid in solids:
        verts, tris = solid.tessellate(linear_tolerance * diag, angular_tolerance)
        v = np.array([(p.x, p.y, p.z) for p in verts], dtype=np.float64).reshape(-1, 3)
        f = np.array(tris, dtype=np.int64).reshape(-1, 3)
        parts.append(weld(v, f, tol=1e-9 * diag + 1e-12))
    offsets = np.cumsum([0] + [len(m.vertices) for m in parts[:-1]])
    mesh = Mesh.from_arrays(np.concatenate([m.vertices for m in parts]),
                            np.concatenate([m.faces + o for m, o in zip(parts, offsets)]))
    return mesh, parts


def has_free_edges(solid) -> bool:
    """True when a solid's boundary is not closed: no shell, a shell OCC does not call closed,
    or an edge bounded by one face only (BRep_Tool.IsClosed, ShapeAnalysis_Shell)."""
    from OCP.BRep import BRep_Tool
    from OCP.ShapeAnalysis import ShapeAnalysis_Shell

    shells = solid.Shells()
    if not shells or not all(BRep_Tool.IsClosed_s(sh.wrapped) for sh in shells):
        return True
    check = ShapeAnalysis_Shell()
    check.LoadShells(solid.wrapped)
    check.CheckOrientedShells(solid.wrapped, True)
    return bool(check.HasFreeEdges())


def weld(vertices: np.ndarray, faces: np.ndarray, tol: float) -> Mesh:
    """Merge vertices closer than ~tol (by rounding to a grid) and drop degenerate faces."""
    key = np.round(vertices / tol).astype(np.int64) if tol > 0 else vertices
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    merged = np.zeros((len(uniq), 3))
    np.add.at(merged, inverse, vertices)
    counts = np.bincount(inverse, minlength=len(uniq))[:, None]
    merged /= counts
    f = inverse[faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return Mesh.from_arrays(merged, f[keep])
