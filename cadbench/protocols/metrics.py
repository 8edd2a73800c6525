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


def _filled_surface_voxels(solid: Solid, pitch: float) -> np.ndarray:
    """trimesh's `voxelized(pitch).fill()` matrix: the voxels (centres on multiples of pitch)
    touched by the surface subdivided to edges below pitch / 2, with enclosed holes filled."""
    return np.asarray(solid.mesh.to_trimesh().voxelized(pitch).fill().matrix, dtype=bool)


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
