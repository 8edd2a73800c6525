"""From checked arrays to one solid: the trusted side's validity rule and component union.

Every metric is computed on a `Solid`, never on raw arrays. A `Solid` is what `make_solid`
returns for a mesh that is a closed, consistently oriented 2-manifold (every edge shared by
exactly two faces, in opposite directions), with no unreferenced vertex and positive volume.
Its connected components are fused with exact mesh booleans (manifold3d): overlapping pieces
that were never fused (`Workplane.add`, `combine=False`, several `show_object` calls,
stacked copies) count once, so the same solid as one body or as pieces gets the same value.
Components wound inwards are cavities: they are subtracted, which can only remove volume.

References get one exception (`make_reference_solid`): a ground truth whose mesh is closed
but not a 2-manifold is still a reference for the voxel metrics and chamfer (ray parity and
surface samples need no manifold), with `manifold=None` and the defect recorded; the exact
IoU is then undefined for every model alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .mesh import Mesh, MeshError


class InvalidSolid(MeshError):
    """The arrays are a mesh, but not a closed, oriented, positive-volume solid."""


@dataclass(frozen=True)
class Solid:
    """A validated, fused solid: `mesh` is the union's surface, `volume` its exact volume."""

    mesh: Mesh
    volume: float
    manifold: Any           # manifold3d.Manifold of the union; None only for a defective reference
    n_components: int       # connected components before the union
    defect: str | None = None  # why a reference is not a valid solid (make_reference_solid)

    @property
    def bounds(self) -> np.ndarray:
        return self.mesh.bounds


def _manifold_of(vertices: np.ndarray, faces: np.ndarray):
    import manifold3d

    # fresh writable C arrays: the binding refuses read-only views
    data = manifold3d.Mesh64(np.array(vertices, dtype=np.float64, order="C"),
                             np.array(faces, dtype=np.uint64, order="C"))
    return manifold3d.Manifold(data)


def _mesh_of(manifold) -> Mesh:
    out = manifold.to_mesh64()
    v = np.asarray(out.vert_properties, dtype=np.float64)[:, :3]
    f = np.asarray(out.tri_verts, dtype=np.int64)
    return Mesh.from_arrays(v, f)


def make_solid(mesh: Mesh, what: str = "prediction") -> Solid:
    """Check `mesh` and fuse its components; raises InvalidSolid naming the defect."""
    import manifold3d

    used = np.zeros(len(mesh.vertices), dtype=bool)
    used[mesh.faces.reshape(-1)] = True
    if not used.all():
        raise InvalidSolid(f"{what} mesh has {int((~used).sum())} unreferenced vertices")
    whole = _manifold_of(mesh.vertices, mesh.faces)
    status = whole.status()
    if status != manifold3d.Error.NoError:
        raise InvalidSolid(f"{what} mesh is not a closed, consistently oriented 2-manifold "
                           f"({status.name})")
    parts = whole.decompose()
    solid_parts = [p for p in parts if p.volume() > 0]
    cavities = [p for p in parts if p.volume() < 0]
    if not solid_parts:
        raise InvalidSolid(f"{what} mesh encloses no positive volume")
    # booleans and volumes assume no component passes through itself (a doubly covered
    # region would count twice): checked on the largest components, by winding numbers
    checked = sorted(parts, key=lambda p: -abs(p.volume()))[:MAX_SELF_CHECKED]
    for i, part in enumerate(checked):
        own = mesh if len(parts) == 1 else Mesh(*_arrays(part))
        w = _self_overlap(own, 1 if part.volume() > 0 else -1)
        if w is not None:
            raise InvalidSolid(f"{what} mesh passes through itself (component {i} has winding "
                               f"number {w} inside)")
    fused = (solid_parts[0] if len(solid_parts) == 1
             else manifold3d.Manifold.batch_boolean(solid_parts, manifold3d.OpType.Add))
    if cavities:
        # an inward-wound shell reversed is a positive solid: cut it out
        holes = [_manifold_of(*_arrays(c, flip=True)) for c in cavities]
        fused = manifold3d.Manifold.batch_boolean([fused, *holes], manifold3d.OpType.Subtract)
    volume = float(fused.volume())
    if not (np.isfinite(volume) and volume > 0) or fused.is_empty():
        raise InvalidSolid(f"{what} encloses no volume after fusing its components")
    out_mesh = mesh if len(parts) == 1 else _mesh_of(fused)
    return Solid(out_mesh, volume, fused, len(parts))


# A defective reference is kept only when its defect is cracks: at most this fraction of its
# edges bounded by a single face (one GenCAD ground truth: 18 of 1,941 edges, 0.9%).
MAX_REFERENCE_OPEN_EDGES = 0.05


def open_edge_fraction(mesh: Mesh) -> float:
    """Fraction of the mesh's (undirected) edges that only one face uses."""
    e = np.sort(mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return float(np.count_nonzero(counts == 1) / len(counts))


def make_reference_solid(mesh: Mesh) -> Solid:
    """`make_solid` for a ground truth, which must never be dropped silently: a mesh that fails
    the validity rule but is closed up to cracks (MAX_REFERENCE_OPEN_EDGES) and encloses a
    positive volume is kept as a defective Solid (`manifold=None`, `defect` set; its volume
    from the divergence theorem). Anything else still raises InvalidSolid."""
    try:
        return make_solid(mesh, "reference")
    except InvalidSolid as exc:
        volume = mesh.volume()
        opened = open_edge_fraction(mesh)
        if not (np.isfinite(volume) and volume > 0) or opened > MAX_REFERENCE_OPEN_EDGES:
            raise InvalidSolid(f"{exc}; {100 * opened:.1f}% of its edges are open, volume "
                               f"{volume:.3g}: not usable as a reference") from exc
        return Solid(mesh, volume, None, 1, defect=str(exc))


# A prediction is `empty` when it encloses less than this fraction of the reference's volume:
# an absolute scale tied to the reference, never to the candidate's own bounding box (a real
# part plus a far speck has a huge box but is not empty).
EMPTY_VOLUME_FRACTION = 1e-9


def is_empty(pred: Solid, ref: Solid) -> bool:
    """True when `pred` encloses (numerically) nothing at the reference's scale."""
    return not pred.volume >= EMPTY_VOLUME_FRACTION * ref.volume


# The self-intersection check: a winding-number grid of SELF_CHECK_CELLS^3 over each
# component's own box, on the MAX_SELF_CHECKED largest components (by volume: what a doubly
# covered region could add is bounded by the components left out). A component is refused
# when more than SELF_CHECK_TOLERANCE of its inside samples (and at least 2) have a winding
# number other than 1: one ray hitting an edge cannot refuse an honest part.
SELF_CHECK_CELLS = 16
MAX_SELF_CHECKED = 200
SELF_CHECK_TOLERANCE = 0.005


def _self_overlap(mesh: Mesh, sign: int) -> int | None:
    """A winding number other than 0 or 1 (times `sign`: cavities are wound inwards) found
    inside the component, or None."""
    from .voxel import winding_numbers

    lo, hi = mesh.bounds
    extent = hi - lo
    if not np.all(extent > 0):
        return None
    w = sign * winding_numbers(mesh, lo, extent / SELF_CHECK_CELLS, SELF_CHECK_CELLS)
    bad = (w != 0) & (w != 1)
    count = int(np.count_nonzero(bad))
    if count >= 2 and count > SELF_CHECK_TOLERANCE * max(int(np.count_nonzero(w)), 1):
        values, counts = np.unique(w[bad], return_counts=True)
        return int(values[np.argmax(counts)])
    return None


def _arrays(manifold, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    out = manifold.to_mesh64()
    v = np.asarray(out.vert_properties, dtype=np.float64)[:, :3]
    f = np.asarray(out.tri_verts, dtype=np.int64)
    return v, (f[:, ::-1] if flip else f)


def box_manifold(lo, hi):
    import manifold3d

    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return manifold3d.Manifold.cube((hi - lo).tolist()).translate(lo.tolist())


def volume_inside_box(solid: Solid, lo, hi) -> float:
    """Exact volume of the part of `solid` inside the axis-aligned box [lo, hi]."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if solid.manifold is None:
        raise InvalidSolid(f"no exact volumes for a defective solid ({solid.defect})")
    blo, bhi = solid.bounds
    if np.all(blo >= lo) and np.all(bhi <= hi):
        return solid.volume
    if np.any(bhi <= lo) or np.any(blo >= hi):
        return 0.0
    return float((solid.manifold ^ box_manifold(lo, hi)).volume())


def volume_outside_box(solid: Solid, lo, hi) -> float:
    """Exact volume of the part of `solid` outside the box [lo, hi] (>= 0)."""
    return max(solid.volume - volume_inside_box(solid, lo, hi), 0.0)


def transformed(solid: Solid, matrix: np.ndarray, offset: np.ndarray) -> Solid:
    """x -> matrix @ x + offset applied to a solid (volume scales by |det matrix|)."""
    m = np.asarray(matrix, dtype=np.float64)
    o = np.asarray(offset, dtype=np.float64)
    v = solid.mesh.vertices @ m.T + o
    faces = solid.mesh.faces if np.linalg.det(m) > 0 else solid.mesh.faces[:, ::-1]
    affine = np.hstack([m, o[:, None]])
    moved = None if solid.manifold is None else solid.manifold.transform(affine.tolist())
    return Solid(Mesh(v, faces), solid.volume * abs(float(np.linalg.det(m))), moved,
                 solid.n_components, solid.defect)
