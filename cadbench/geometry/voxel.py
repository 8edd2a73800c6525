"""Inside/outside voxelization of a closed triangle mesh by ray parity, in plain numpy.

Rays are cast along +z through the centres of the (x, y) voxel columns. Every triangle finds
the columns whose centre lies inside its xy projection (edge functions), the z of the
crossing is computed, and a voxel centre is inside when an odd number of crossings lie below
it (a toggle array + cumulative sum). Cost grows with the projected area of the surface in
voxel columns, not with n^3 ray/triangle pairs.

Robustness: a ray through a shared edge or vertex could count a crossing twice or not at all.
The ray origins are shifted by a tiny deterministic offset (irrational fractions of a voxel),
so exact hits on CAD edges, which sit on "round" coordinates, do not happen in practice; the
edge functions are exactly antisymmetric, so two triangles sharing an edge never both claim
(or both miss) a ray. Triangles parallel to the rays (zero projected area) never cross one.
"""

from __future__ import annotations

import numpy as np

from .mesh import Mesh

# Ray offsets inside a voxel column, in voxel units: small, fixed, "irrational".
_JITTER_X = 1.0e-4 * np.sqrt(2.0)
_JITTER_Y = 1.0e-4 * np.sqrt(3.0)
# Upper bound on (triangle, column) candidate pairs (time on hostile input), and the pairs
# handled at once (memory: ~100 bytes each).
MAX_PAIRS = 50_000_000
CHUNK_PAIRS = 2_000_000


class VoxelizeError(ValueError):
    """The mesh or the grid cannot be voxelized (bad grid, too much work)."""


def grid_pitch(pitch, n: int) -> np.ndarray:
    """Pitch as a (3,) array (anisotropic voxels are allowed: IoU does not care)."""
    p = np.broadcast_to(np.asarray(pitch, dtype=np.float64), (3,)).astype(np.float64)
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise VoxelizeError(f"voxel pitch must be finite and > 0, got {p.tolist()}")
    if int(n) < 1:
        raise VoxelizeError(f"grid resolution must be >= 1, got {n}")
    return p


def voxelize(mesh: Mesh, origin, pitch, n: int) -> np.ndarray:
    """Filled-solid occupancy of `mesh` on an n^3 grid.

    Voxel (i, j, k) has centre origin + (i + 0.5, j + 0.5, k + 0.5) * pitch; `pitch` is a
    scalar or a (3,) per-axis pitch. Returns bool (n, n, n) indexed [x, y, z]. The mesh must
    be closed; the winding direction does not matter (parity)."""
    n, tri, xy, area2 = _grid_triangles(mesh, origin, pitch, n)
    # parity only: toggles mod 2 accumulated by XOR on bytes (an eighth of the memory of the
    # integer cumulative sum winding_numbers needs)
    toggles = _toggles(tri, n, xy, area2, None)
    parity = (toggles & 1).astype(np.uint8).reshape(n, n, n + 1)
    return np.bitwise_xor.accumulate(parity, axis=2)[:, :, :n].view(bool)


def winding_numbers(mesh: Mesh, origin, pitch, n: int) -> np.ndarray:
    """Winding number of `mesh` at every voxel centre of the grid (int (n, n, n), [x, y, z]):
    signed crossings below each centre, +1 entering through a face wound outwards (normal
    -z), -1 leaving. A closed, outward, non-self-intersecting surface gives 0 outside and 1
    inside; 2 or -1 mean the surface passes through itself."""
    n, tri, xy, area2 = _grid_triangles(mesh, origin, pitch, n)
    toggles = _toggles(tri, n, xy, area2, -np.sign(area2).astype(np.int64))
    return np.cumsum(toggles.reshape(n, n, n + 1), axis=2)[:, :, :n]


def _grid_triangles(mesh: Mesh, origin, pitch, n: int):
    """Triangles in grid coordinates (voxel centre (i, j, k) at integer (i, j, k), rays at
    integer (i, j), shifted by the jitter), with their signed doubled xy areas."""
    n = int(n)
    p = grid_pitch(pitch, n)
    o = np.asarray(origin, dtype=np.float64).reshape(3)
    g = (mesh.vertices - o) / p - 0.5
    g[:, 0] -= _JITTER_X
    g[:, 1] -= _JITTER_Y
    tri = g[mesh.faces]
    ax, ay = tri[:, 0, 0], tri[:, 0, 1]
    bx, by = tri[:, 1, 0], tri[:, 1, 1]
    cx, cy = tri[:, 2, 0], tri[:, 2, 1]
    area2 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    return n, tri, (ax, ay, bx, by, cx, cy), area2


def _toggles(tri, n, xy, area2, weights) -> np.ndarray:
    """Crossings of the rays with the triangles, per column and height: (n * n * (n + 1),)
    int, the k-th entry of a column counting the crossings just below voxel centre k."""
    xs, ys = tri[:, :, 0], tri[:, :, 1]
    imin = np.maximum(np.ceil(xs.min(axis=1)), 0)
    imax = np.minimum(np.floor(xs.max(axis=1)), n - 1)
    jmin = np.maximum(np.ceil(ys.min(axis=1)), 0)
    jmax = np.minimum(np.floor(ys.max(axis=1)), n - 1)
    keep = (imax >= imin) & (jmax >= jmin) & (area2 != 0)
    idx = np.nonzero(keep)[0]
    occ_toggle = np.zeros(n * n * (n + 1), dtype=np.int64)
    if len(idx):
        ni = (imax[idx] - imin[idx]).astype(np.int64) + 1
        nj = (jmax[idx] - jmin[idx]).astype(np.int64) + 1
        counts = ni * nj
        total = int(counts.sum())
        if total > MAX_PAIRS:
            raise VoxelizeError(f"voxelization needs {total} ray/triangle pairs "
                                f"(limit {MAX_PAIRS}): mesh too large for this grid")
        # Bounded memory: triangles in chunks of about CHUNK_PAIRS candidate pairs.
        ends = np.searchsorted(np.cumsum(counts), np.arange(CHUNK_PAIRS, total, CHUNK_PAIRS))
        for sel in np.split(np.arange(len(idx)), np.unique(ends)):
            if len(sel):
                occ_toggle += _crossings(tri, idx[sel], imin, jmin, ni[sel], nj[sel], n,
                                         xy, weights)
    return occ_toggle


def _crossings(tri, idx, imin, jmin, ni, nj, n, xy, weights=None) -> np.ndarray:
    """Toggle counts (n * n * (n + 1),) of the crossings of triangles `idx` with the rays
    through their candidate columns (the integer points of their xy bounding box); each
    crossing counts weights[triangle] (1 when None)."""
    ax, ay, bx, by, cx, cy = xy
    counts = ni * nj
    total = int(counts.sum())
    t = np.repeat(idx, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(total, dtype=np.int64) - starts
    njr = np.repeat(nj, counts)
    ci = np.repeat(imin[idx].astype(np.int64), counts) + local // njr
    cj = np.repeat(jmin[idx].astype(np.int64), counts) + local % njr
    px, py = ci.astype(np.float64), cj.astype(np.float64)
    # Edge functions: each depends only on its edge's endpoints (exactly antisymmetric).
    ea = (bx[t] - px) * (cy[t] - py) - (by[t] - py) * (cx[t] - px)
    eb = (cx[t] - px) * (ay[t] - py) - (cy[t] - py) * (ax[t] - px)
    ec = (ax[t] - px) * (by[t] - py) - (ay[t] - py) * (bx[t] - px)
    hit = ((ea > 0) & (eb > 0) & (ec > 0)) | ((ea < 0) & (eb < 0) & (ec < 0))
    t, ci, cj = t[hit], ci[hit], cj[hit]
    ea, eb, ec = ea[hit], eb[hit], ec[hit]
    z = (ea * tri[t, 0, 2] + eb * tri[t, 1, 2] + ec * tri[t, 2, 2]) / (ea + eb + ec)
    # Voxel centres strictly above the crossing are toggled.
    k = np.clip(np.floor(z) + 1, 0, n).astype(np.int64)
    w = None if weights is None else weights[t]
    out = np.bincount((ci * n + cj) * (n + 1) + k, weights=w, minlength=n * n * (n + 1))
    return out if w is None else np.rint(out).astype(np.int64)  # unweighted: already int64
