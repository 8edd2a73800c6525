"""Per-sample metric functions in the peers' conventions, where cadbench's own differ.

Each is `fn(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float`, on shapes
already in the metric's frame (cadbench.protocols.evaluate_pair puts them there). Point
samples are i.i.d. area-uniform, as the peers' (trimesh.sample.sample_surface), not
cadbench's stratified ones: a point-cloud chamfer has a sampling floor that depends on how
the points are spread (stratified samples give identical shapes a lower CD), so the estimator
must be the peer's. The peers do not seed theirs, so their chamfer and surface-IoU values
vary from run to run; ours are seeded and match theirs within that spread."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..geometry import metrics as gm
from ..geometry.mesh import Mesh
from ..geometry.solid import Solid
from .spec import MetricSpec


def iid_surface_samples(mesh: Mesh, n: int, seed: int) -> np.ndarray:
    """n points i.i.d. uniform over the surface area: a triangle drawn by area, a point
    uniform in it (two uniforms folded back into the triangle when they sum past 1)."""
    if n < 1:
        raise ValueError(f"point count must be >= 1, got {n}")
    t = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    cum = np.cumsum(area)
    if not (np.isfinite(cum[-1]) and cum[-1] > 0):
        raise ValueError(f"mesh surface area is {cum[-1]:.3g}")
    rng = np.random.default_rng(seed)
    face = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1]), len(t) - 1)
    uv = rng.random((n, 2))
    fold = uv.sum(axis=1) > 1.0
    uv[fold] = 1.0 - uv[fold]
    tf = t[face]
    return tf[:, 0] + uv[:, :1] * (tf[:, 1] - tf[:, 0]) + uv[:, 1:] * (tf[:, 2] - tf[:, 0])


def _samples(ref: Solid, pred: Solid, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return iid_surface_samples(ref.mesh, n, seed), iid_surface_samples(pred.mesh, n, seed + 1)


def _nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances a -> nearest of b and b -> nearest of a (point clouds, as the peers do)."""
    from scipy.spatial import cKDTree

    return cKDTree(b).query(a, k=1)[0], cKDTree(a).query(b, k=1)[0]


def exact_iou(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """Volume IoU by exact mesh booleans (manifold3d) on the fused solids."""
    return gm.exact_iou(ref, pred)


def voxel_iou(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """cadbench's own voxel IoU on the reference's grid (docs/metrics.md)."""
    return gm.voxel_iou(ref, pred, spec.resolution)


def cadbench_chamfer(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """cadbench's own chamfer: point-to-surface distances, mean of the two means."""
    return gm.chamfer_distance(ref, pred, spec.points, seed)


def chamfer(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """Point-cloud chamfer: `points` samples per surface, nearest-sample distances (squared
    when spec.squared), the two directed means summed or averaged (spec.reduce)."""
    a, b = _samples(ref, pred, spec.points, seed)
    d_ab, d_ba = _nearest(a, b)
    if spec.squared:
        d_ab, d_ba = d_ab ** 2, d_ba ** 2
    total = float(d_ab.mean() + d_ba.mean())
    if spec.reduce == "sum":
        return total
    if spec.reduce == "mean":
        return 0.5 * total
    raise ValueError(f"chamfer reduce must be 'sum' or 'mean', got {spec.reduce!r}")


def surface_iou(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """CADBench's surface IoU: the share of the 2 x `points` samples whose nearest sample of
    the other surface lies closer than `threshold` (not an IoU of anything)."""
    a, b = _samples(ref, pred, spec.points, seed)
    d_ab, d_ba = _nearest(a, b)
    return float((np.count_nonzero(d_ab < spec.threshold)
                  + np.count_nonzero(d_ba < spec.threshold)) / (2 * spec.points))


def _levels(length: np.ndarray, spacing: float) -> np.ndarray:
    """Smallest k >= 0 with length / 2^k <= spacing."""
    k = np.ceil(np.log2(np.maximum(length / spacing, 1.0))).astype(np.int64)
    return np.where(length / 2.0 ** k > spacing, k + 1, k)


def surface_points(mesh: Mesh, spacing: float) -> np.ndarray:
    """Points on every triangle no farther than `spacing` apart along its edges: from the
    vertex `a` opposite the longest edge, a lattice a + i/2^p (b - a) + j/2^q (c - a) with
    dyadic steps sized per edge (a long thin triangle gets few points across), plus the
    points of the long edge bc at its own dyadic step. Dense enough that the voxels of pitch
    2 x spacing holding a point are the voxels trimesh's voxelized() marks by subdividing the
    surface (docs/protocols.md gives the agreement)."""
    t = mesh.vertices[mesh.faces]
    edge = np.linalg.norm(t[:, [1, 2, 0]] - t, axis=2)       # |ab|, |bc|, |ca|
    first = (np.argmax(edge, axis=1) + 2) % 3                 # vertex opposite the longest
    rows = np.arange(len(t))
    a, b, c = (t[rows, (first + d) % 3] for d in range(3))
    kp, kq = _levels(np.linalg.norm(b - a, axis=1), spacing), _levels(
        np.linalg.norm(c - a, axis=1), spacing)
    kr = _levels(np.linalg.norm(c - b, axis=1), spacing)
    total = int(((2 ** kp + 1) * (2 ** kq + 1)).sum() + (2 ** kr + 1).sum())
    if total > gm.MAX_SURFACE_POINTS:
        raise ValueError(f"surface needs {total} points (limit {gm.MAX_SURFACE_POINTS})")
    out = [mesh.vertices]
    for p_, q_ in {(int(x), int(y)) for x, y in zip(kp, kq)}:
        n, m = 1 << p_, 1 << q_
        i, j = np.meshgrid(np.arange(n + 1), np.arange(m + 1), indexing="ij")
        keep = i * m + j * n <= n * m
        u, v = (i[keep] / n)[None, :, None], (j[keep] / m)[None, :, None]
        sel = (kp == p_) & (kq == q_)
        aa, bb, cc = a[sel][:, None], b[sel][:, None], c[sel][:, None]
        out.append((aa + u * (bb - aa) + v * (cc - aa)).reshape(-1, 3))
    for r_ in np.unique(kr):
        w = (np.arange((1 << int(r_)) + 1) / (1 << int(r_)))[None, :, None]
        sel = kr == r_
        out.append((b[sel][:, None] + w * (c[sel][:, None] - b[sel][:, None])).reshape(-1, 3))
    return np.concatenate(out)


def _filled_surface_voxels(solid: Solid, pitch: float) -> np.ndarray:
    """trimesh's `voxelized(pitch).fill()` matrix: the voxels (centres on multiples of pitch)
    holding a vertex of the surface subdivided to edges <= pitch / 2, enclosed holes filled
    (scipy's binary_fill_holes); the matrix spans the occupied index box."""
    from scipy.ndimage import binary_fill_holes

    idx = np.round(surface_points(solid.mesh, pitch / 2.0) / pitch).astype(np.int64)
    idx -= idx.min(axis=0)
    matrix = np.zeros(tuple(idx.max(axis=0) + 1), dtype=bool)
    matrix[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return binary_fill_holes(matrix)


def _centred(matrix: np.ndarray, size: int) -> tuple[np.ndarray, bool]:
    """The matrix placed in a size^3 grid with its own centre at the grid's centre (each
    shape on its own: BenchCAD's placement); also whether anything was clipped."""
    out = np.zeros((size, size, size), dtype=bool)
    s = np.array(matrix.shape)
    o = ((size - s) // 2).clip(0)
    e = (o + s).clip(max=size)
    out[o[0]:e[0], o[1]:e[1], o[2]:e[2]] = matrix[:e[0] - o[0], :e[1] - o[1], :e[2] - o[2]]
    return out, bool(np.any(s > size))


def filled_voxel_iou(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """BenchCAD's 64^3 IoU: surface voxels of pitch 1/resolution plus their filled interior,
    each grid centred on its own in a (resolution + 4)^3 array, on shapes in [0, 1]^3."""
    size = spec.resolution + 4
    pitch = 1.0 / spec.resolution
    a, _ = _centred(_filled_surface_voxels(ref, pitch), size)
    b, _ = _centred(_filled_surface_voxels(pred, pitch), size)
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def surface_voxel_iou(ref: Solid, pred: Solid, spec: MetricSpec, seed: int) -> float:
    """The Mecagent technical test's `iou_best` (cadbench.geometry.metrics.mecagent_iou)."""
    return gm.mecagent_iou(ref, pred, spec.pitch)


MetricFn = Callable[[Solid, Solid, MetricSpec, int], float]
METRIC_KINDS: dict[str, MetricFn] = {
    "exact_iou": exact_iou, "voxel_iou": voxel_iou, "cadbench_chamfer": cadbench_chamfer,
    "chamfer": chamfer, "surface_iou": surface_iou, "filled_voxel_iou": filled_voxel_iou,
    "surface_voxel_iou": surface_voxel_iou,
}
