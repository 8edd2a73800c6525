"""Metrics between a reference solid and a predicted solid, both validated, fused `Solid`s.

Runs in the trusted parent process, on arrays only. Each metric is a plain function
`(ref: Solid, pred: Solid, cfg: MetricConfig) -> float` (METRIC_FUNCTIONS); `compute_metrics`
never lets one failing metric lose the others: a metric that cannot be computed is None and
its reason is recorded under `metric_errors`. A `Mesh` passed instead of a `Solid` goes through
`prepare_solid` first (the validity rule of geometry/solid.py). See docs/metrics.md for the
definitions and what each metric guarantees."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import MetricConfig
from .align import mass_properties
from .mesh import Mesh
from .solid import (
    Solid,
    make_reference_solid,
    make_solid,
    volume_inside_box,
    volume_outside_box,
)
from .voxel import voxelize

METRIC_KEYS: tuple[str, ...] = (
    "iou", "iou_best", "iou_best_rotation", "iou_exact", "iou_mecagent", "chamfer")

# Mecagent technical-test settings: surface voxels of pitch 0.05 in r_g-normalised units.
MECAGENT_PITCH = 0.05
# Its four sign patterns, applied between two eigenvector bases of arbitrary handedness:
# diag(s) has det +1 once and -1 three times, so both rotations and reflections are tried
# (mirror images can score 1) and a point inversion is missing (rotated copies can fail).
MECAGENT_SIGN_PATTERNS: tuple[tuple[int, int, int], ...] = (
    (1, 1, 1), (1, 1, -1), (1, -1, 1), (-1, 1, 1))
MAX_SURFACE_POINTS = 5_000_000  # ~120 MB of float64 points at most
# `iou`'s grid: n cells across the reference's bounding box on each axis, plus this many
# cells of padding on each side (so a prediction slightly larger than the reference is still
# seen by voxels; whatever lies beyond is counted exactly, see voxel_iou).
GRID_PAD_CELLS = 2
# `iou`'s voxel intersection may exceed the exact intersection volume, scaled by the grid's
# over-count of the reference's own volume, by this fraction at most (voxel rounding).
INTERSECTION_SLACK = 0.02
# Chamfer: each query point's exact distance is taken to the triangles of its
# CHAMFER_CANDIDATES nearest points of a dense candidate cloud of the other surface
# (CHAMFER_CLOUD_FACTOR x the query count, plus every triangle's centroid).
CHAMFER_CANDIDATES = 16
CHAMFER_CLOUD_FACTOR = 8
RING_WIDTH = 24  # triangles around a vertex looked at, at most


class MetricError(ValueError):
    """A metric is undefined for this pair (e.g. the reference is not a valid manifold)."""


def prepare_solid(shape: Solid | Mesh, what: str = "prediction") -> Solid:
    """A Solid as it is; a Mesh through the validity rule and component union (make_solid;
    a reference through make_reference_solid, which keeps a defective ground truth)."""
    if isinstance(shape, Solid):
        return shape
    return make_reference_solid(shape) if what == "reference" else make_solid(shape, what)


# ---------------------------------------------------------------- volumetric voxel IoU

def reference_grid(ref: Solid, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(origin, pitch, cells): n cells across the reference's bounding box per axis plus
    GRID_PAD_CELLS on each side (anisotropic voxels: a thin plate keeps n cells across its
    thickness). Depends on the reference only: no prediction can move or coarsen it."""
    n = int(n)
    if n < 1:
        raise MetricError(f"grid resolution must be >= 1, got {n}")
    lo, hi = ref.bounds
    extent = hi - lo
    if not np.all(np.isfinite(extent)) or np.any(extent <= 0):
        raise MetricError(f"reference bounding box is degenerate (extent {extent.tolist()})")
    pitch = extent / n
    return lo - GRID_PAD_CELLS * pitch, pitch, n + 2 * GRID_PAD_CELLS


class _LastCall:
    """A one-entry memo keyed by the identity of its arguments (held, so that no id is reused
    while stored): `iou` and `iou_best` of one pair share the reference's voxels and the
    unaligned value instead of computing them twice."""

    def __init__(self, fn):
        self.fn, self.key, self.args, self.value = fn, None, None, None

    def __call__(self, *args):
        key = tuple(id(a) if isinstance(a, Solid) else a for a in args)
        if key != self.key:
            self.key, self.args, self.value = None, None, self.fn(*args)
            self.key, self.args = key, args
        return self.value


def _reference_voxels(ref: Solid, n: int) -> tuple[tuple[np.ndarray, np.ndarray, int], np.ndarray]:
    grid = reference_grid(ref, n)
    return grid, voxelize(ref.mesh, *grid)


reference_voxels = _LastCall(_reference_voxels)


def voxel_iou(ref: Solid | Mesh, pred: Solid | Mesh, n: int = 64) -> float:
    """Volumetric IoU on the reference's grid, dataset frame.

    Intersection and union are counted on the grid (voxel centres inside each solid); the
    prediction's volume outside the grid's box is added to the union exactly (manifold3d
    boolean), and the intersection is capped by the exact intersection volume. The reference
    lies inside the grid, so geometry that does not overlap the reference can only grow the
    union: it can only lower the score."""
    return _solid_voxel_iou(prepare_solid(ref, "reference"), prepare_solid(pred), int(n))


def _voxel_iou_of_solids(ref: Solid, pred: Solid, n: int) -> float:
    plo, phi = pred.bounds
    rlo, rhi = ref.bounds
    if np.any(np.minimum(rhi, phi) <= np.maximum(rlo, plo)):
        return 0.0  # bounding boxes apart: disjoint solids
    (origin, pitch, cells), vr = reference_voxels(ref, n)
    n_ref = np.count_nonzero(vr)
    if n_ref == 0:  # a sliver no voxel centre falls in: the grid cannot see it
        if ref.manifold is None:
            raise MetricError("no voxel centre falls inside the reference")
        return exact_iou(ref, pred)
    return anchored_grid_iou(ref, vr, (origin, pitch, cells), pred)


_solid_voxel_iou = _LastCall(_voxel_iou_of_solids)


def anchored_grid_iou(ref: Solid, ref_voxels: np.ndarray, grid, pred: Solid,
                      beat: float | None = None) -> float:
    """The one formula of `iou` (and of every pose `iou_best` scores) on the reference's grid
    `grid` = (origin, pitch, cells), `ref_voxels` the reference voxelized on it: intersection
    and union counted on the grid, the prediction's volume outside the grid's box added to the
    union exactly, and the intersection capped by the exact one.

    beat: a pose search's best so far. When the grid counts alone (an upper bound: the exact
    terms only lower the value) cannot exceed it, that bound is returned without the exact
    booleans: it is not the pose's value, only proof that the pose does not win."""
    origin, pitch, cells = grid
    top = origin + cells * pitch
    vp = voxelize(pred.mesh, origin, pitch, cells)
    cell = float(np.prod(pitch))
    n_ref = np.count_nonzero(ref_voxels)
    inter = np.count_nonzero(ref_voxels & vp) * cell
    union = np.count_nonzero(ref_voxels | vp) * cell
    if beat is not None and union > 0 and inter / union <= beat:
        return float(inter / union)
    union += volume_outside_box(pred, origin, top)
    if not union > 0:
        return 0.0
    # Voxel centres are samples a prediction could be built around (thin rods through them
    # fill every voxel with almost no volume): the voxel intersection is capped by the exact
    # one (a cheap boolean), scaled by how much the grid over-counts the reference itself (a
    # thin-walled reference's voxels exceed its volume: its own copy must still score 1), plus
    # the slack that honest rounding needs (a defective reference: an exact upper bound).
    if inter > 0:
        ref_scale = max(1.0, n_ref * cell / ref.volume)
        inter = min(inter, (1.0 + INTERSECTION_SLACK) * ref_scale
                    * exact_intersection(ref, pred, origin, top))
    return float(min(inter / union, 1.0))


def exact_intersection(ref: Solid, pred: Solid, lo=None, hi=None) -> float:
    """vol(ref and pred) exactly; for a defective reference (no manifold) an upper bound:
    the prediction's volume inside the box [lo, hi] (the reference's grid)."""
    if ref.manifold is None:
        if lo is None:
            raise MetricError(f"no exact intersection with a defective reference ({ref.defect})")
        return volume_inside_box(pred, lo, hi)
    return _intersection_volume(ref, pred)


def _boolean_intersection_volume(ref: Solid, pred: Solid) -> float:
    return float((ref.manifold ^ pred.manifold).volume())


_intersection_volume = _LastCall(_boolean_intersection_volume)  # `iou`'s cap and `iou_exact`


def best_iou(ref: Solid | Mesh, pred: Solid | Mesh, n: int = 64) -> tuple[float, str]:
    """Pose-invariant voxel IoU, (value, label), by the pose search of geometry/pose.py: the
    best over proper rotations with centroid and scale matched, or the unaligned pose (one of
    its candidates, scored exactly as `voxel_iou`, so iou_best >= iou without a floor rule)."""
    from . import pose

    value, label = pose.best_iou(prepare_solid(ref, "reference"), prepare_solid(pred), n)
    return float(value), label


# ---------------------------------------------------------------- exact IoU

def exact_iou(ref: Solid | Mesh, pred: Solid | Mesh) -> float:
    """Volume IoU by mesh booleans on the fused solids:
    vol(A and B) / (vol A + vol B - vol(A and B)). Overlapping components were fused by
    make_solid, so nothing is counted twice. Undefined (MetricError) for a reference that is
    not a valid solid."""
    ref, pred = prepare_solid(ref, "reference"), prepare_solid(pred)
    if ref.manifold is None:
        raise MetricError(f"exact IoU undefined: the reference is not a valid solid "
                          f"({ref.defect})")
    va, vb = ref.volume, pred.volume
    inter = exact_intersection(ref, pred)
    union = va + vb - inter
    if not union > 0:
        raise MetricError(f"union volume is {union:.3g}")
    return float(min(max(inter / union, 0.0), 1.0))


# ---------------------------------------------------------------- Mecagent compatibility

def _surface_lattice_points(mesh: Mesh, spacing: float) -> np.ndarray:
    """Points of a barycentric lattice on every triangle, edge steps <= spacing: the
    vertices of the triangle subdivided until no edge exceeds `spacing`."""
    t = mesh.vertices[mesh.faces]
    edges = np.linalg.norm(t[:, [1, 2, 0]] - t, axis=2).max(axis=1)
    k = np.maximum(np.ceil(edges / spacing), 1).astype(np.int64)
    total = int(((k + 1) * (k + 2) // 2).sum())
    if total > MAX_SURFACE_POINTS:
        raise MetricError(f"surface needs {total} sample points (limit {MAX_SURFACE_POINTS})")
    out = []
    for kk in np.unique(k):
        sel = t[k == kk]
        i, j = np.meshgrid(np.arange(kk + 1), np.arange(kk + 1), indexing="ij")
        m = (i + j) <= kk
        u, v = i[m] / kk, j[m] / kk                      # (P,)
        a, b, c = sel[:, 0:1], sel[:, 1:2], sel[:, 2:3]  # (T, 1, 3)
        pts = a + u[None, :, None] * (b - a) + v[None, :, None] * (c - a)
        out.append(pts.reshape(-1, 3))
    return np.concatenate(out)


def _surface_voxel_keys(points: np.ndarray, pitch: float) -> np.ndarray:
    idx = np.round(points / pitch).astype(np.int64)
    # Pack the three indices into one int64 (|index| < 2^20 is checked).
    if np.abs(idx).max() >= 1 << 20:
        raise MetricError("normalised solid too large for the surface-voxel grid")
    idx += 1 << 20
    return np.unique((idx[:, 0] << 42) | (idx[:, 1] << 21) | idx[:, 2])


def mecagent_iou(ref: Solid | Mesh, pred: Solid | Mesh, pitch: float = MECAGENT_PITCH) -> float:
    """Re-implementation of the Mecagent technical test's `best_iou` (not volumetric).

    Each solid is translated to its volume centroid and scaled by 1 / radius of gyration;
    principal axes are eigenvectors of the inertia tensor with whatever handedness the
    eigen-solver returns; the prediction is rotated by E_ref diag(s) E_pred^T for the four
    patterns s of MECAGENT_SIGN_PATTERNS; each surface is turned into the set of voxels of
    pitch 0.05 touched by points of the surface subdivided to edges <= pitch / 2; the score is
    the best IoU of those voxel *sets* (shells, interiors ignored)."""
    def norm(mesh: Mesh):
        mp = mass_properties(mesh)
        inertia = np.trace(mp.second_moment) * np.eye(3) - mp.second_moment
        _, vecs = np.linalg.eigh(inertia)
        return Mesh((mesh.vertices - mp.centroid) / mp.radius_of_gyration, mesh.faces), vecs

    mr, er = norm(prepare_solid(ref, "reference").mesh)
    mp_, ep = norm(prepare_solid(pred).mesh)
    keys_r = _surface_voxel_keys(_surface_lattice_points(mr, pitch / 2.0), pitch)
    pts_p = _surface_lattice_points(mp_, pitch / 2.0)
    best = 0.0
    for signs in MECAGENT_SIGN_PATTERNS:
        rot = er @ np.diag(signs) @ ep.T
        keys_p = _surface_voxel_keys(pts_p @ rot.T, pitch)
        inter = np.intersect1d(keys_r, keys_p, assume_unique=True).size
        union = keys_r.size + keys_p.size - inter
        if union:
            best = max(best, inter / union)
    return float(best)


# ---------------------------------------------------------------- chamfer

def _triangle_areas(t: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)


def sample_surface(mesh: Mesh, count: int, seed: int,
                   with_faces: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """`count` points distributed uniformly over the surface area (seeded); with_faces: also
    the index of the triangle each point lies on."""
    t = mesh.vertices[mesh.faces]
    area = _triangle_areas(t)
    total = area.sum()
    if not (np.isfinite(total) and total > 0):
        raise MetricError(f"mesh surface area is {total:.3g}")
    rng = np.random.default_rng(seed)
    # Stratified by area: the i-th point falls in the i-th of `count` equal slices of the
    # cumulative area (uniform overall, far less variance in per-region counts than i.i.d.).
    cum = np.cumsum(area) / total
    u = (np.arange(count) + rng.random(count)) / count
    face = np.minimum(np.searchsorted(cum, u, side="right"), len(t) - 1)
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    u, v = 1.0 - s, s * (1.0 - r2)  # uniform barycentric coordinates
    w = 1.0 - u - v
    tf = t[face]
    points = u[:, None] * tf[:, 0] + v[:, None] * tf[:, 1] + w[:, None] * tf[:, 2]
    return (points, face) if with_faces else points


def point_triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray,
                            c: np.ndarray) -> np.ndarray:
    """Euclidean distance from points p (k, 3) to triangles (a, b, c) (k, 3 each), row by row:
    the closest point by Voronoi regions of the triangle (Ericson, Real-Time Collision
    Detection, 5.1.5). A degenerate triangle falls back to its nearest vertex or edge."""
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c
    dot = lambda x, y: np.einsum("ij,ij->i", x, y)
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def ratio(num, den):
        return np.divide(num, den, out=np.zeros_like(num), where=den != 0)

    denom = va + vb + vc
    closest = a + ab * ratio(vb, denom)[:, None] + ac * ratio(vc, denom)[:, None]
    # Ericson tests the regions in the order A, B, AB, C, AC, BC, face: applied here in
    # reverse, each overriding the later ones.
    regions = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
         b + (c - b) * ratio(d4 - d3, (d4 - d3) + (d5 - d6))[:, None]),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * ratio(d2, d2 - d6)[:, None]),
        ((d6 >= 0) & (d5 <= d6), c),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * ratio(d1, d1 - d3)[:, None]),
        ((d3 >= 0) & (d4 <= d3), b),
        ((d1 <= 0) & (d2 <= 0), a),
    ]
    for mask, point in regions:
        closest = np.where(mask[:, None], point, closest)
    dist = np.linalg.norm(p - closest, axis=1)
    # Safety net for near-degenerate slivers: never above the nearest vertex.
    corner = np.minimum(np.minimum(np.linalg.norm(ap, axis=1), np.linalg.norm(bp, axis=1)),
                        np.linalg.norm(cp, axis=1))
    return np.minimum(dist, corner)


def surface_distance(points: np.ndarray, mesh: Mesh, seed: int,
                     cloud_factor: int = CHAMFER_CLOUD_FACTOR,
                     candidates: int = CHAMFER_CANDIDATES) -> np.ndarray:
    """Distance from each point to the surface of `mesh` (not to samples of it).

    Candidate triangles come from a k-d tree over a dense seeded cloud on the surface
    (cloud_factor points per query point, spread by area) plus every triangle's centroid (so
    small triangles are candidates too): each point takes the exact point-to-triangle distance
    to the triangles of its `candidates` nearest cloud points, then to every triangle around
    the vertices of the best of them (long thin triangles, which few cloud points land on,
    are found that way). The result is never below the true distance and never above the
    distance to the nearest cloud point."""
    from scipy.spatial import cKDTree

    t = mesh.vertices[mesh.faces]
    cloud, cloud_face = sample_surface(mesh, cloud_factor * len(points), seed, with_faces=True)
    cloud = np.concatenate([cloud, t.mean(axis=1)])
    cloud_face = np.concatenate([cloud_face, np.arange(len(t))])
    k = min(candidates, len(cloud))
    # unbalanced: half the build time, the same exact neighbours
    _, idx = cKDTree(cloud, balanced_tree=False, compact_nodes=False).query(points, k=k)
    face = cloud_face[np.asarray(idx).reshape(len(points), k)]
    dist, best = _nearest_of_faces(points, t, face)
    ring = _vertex_rings(mesh)[mesh.faces[best]].reshape(len(points), -1)
    ring = np.where(ring < 0, best[:, None], ring)  # padding: the best face again
    return np.minimum(dist, _nearest_of_faces(points, t, ring, _FaceBounds.of(t), dist)[0])


class _FaceBounds:
    """Per triangle, what gives a cheap lower bound on a point's distance to it: the distance
    to its plane, and the distance to its circumscribing sphere (centroid, radius)."""

    def __init__(self, normal: np.ndarray, offset: np.ndarray, centroid: np.ndarray,
                 radius: np.ndarray):
        self.normal, self.offset, self.centroid, self.radius = normal, offset, centroid, radius

    @classmethod
    def of(cls, t: np.ndarray) -> "_FaceBounds":
        cross = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        norm = np.linalg.norm(cross, axis=1)
        normal = np.divide(cross, norm[:, None], out=np.zeros_like(cross),
                           where=norm[:, None] > 0)  # a degenerate face: no plane bound
        centroid = t.mean(axis=1)
        radius = np.linalg.norm(t - centroid[:, None], axis=2).max(axis=1)
        return cls(normal, np.einsum("ij,ij->i", normal, t[:, 0]), centroid, radius)

    def lower(self, points: np.ndarray, face: np.ndarray) -> np.ndarray:
        plane = np.abs(np.einsum("ij,ij->i", points, self.normal[face]) - self.offset[face])
        sphere = np.linalg.norm(points - self.centroid[face], axis=1) - self.radius[face]
        return np.maximum(plane, sphere)


def _nearest_of_faces(points: np.ndarray, t: np.ndarray, face: np.ndarray,
                      bounds: _FaceBounds | None = None,
                      upper: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each point p, the least distance to its candidate triangles t[face[p]] and which
    triangle gives it (inf where none is computed). Each distinct (point, triangle) pair is
    computed once; with `bounds` and `upper` (a distance each point already has), pairs whose
    lower bound reaches `upper` are skipped: they cannot come closer. (A lower bound is below
    the true distance by construction; rounding could put it a few ulps above it, which moves
    a minimum by as much.)"""
    face = np.sort(face, axis=1)
    fresh = np.ones(face.shape, dtype=bool)
    fresh[:, 1:] = face[:, 1:] != face[:, :-1]
    r, c = np.nonzero(fresh)
    f = face[r, c]
    if bounds is not None and upper is not None:
        keep = bounds.lower(points[r], f) < upper[r]
        r, c, f = r[keep], c[keep], f[keep]
    dist = np.full(face.shape, np.inf)
    dist[r, c] = point_triangle_distance(points[r], t[f, 0], t[f, 1], t[f, 2])
    j = dist.argmin(axis=1)
    rows = np.arange(len(points))
    return dist[rows, j], face[rows, j]


def _vertex_rings(mesh: Mesh, width: int = RING_WIDTH) -> np.ndarray:
    """(n_vertices, width) the triangles around each vertex, -1 padded (the first `width` of
    a vertex with more: a bound on the cost for hostile fans)."""
    flat = mesh.faces.reshape(-1)
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=len(mesh.vertices))
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(flat)) - np.repeat(starts, counts)
    keep = rank < width
    rings = np.full((len(mesh.vertices), width), -1, dtype=np.int64)
    rings[flat[order][keep], rank[keep]] = (order // 3)[keep]
    return rings


def chamfer_distance(ref: Solid | Mesh, pred: Solid | Mesh, count: int = 1024,
                     seed: int = 0) -> float:
    """Symmetric chamfer distance in dataset units: the mean of the two directed means of
    Euclidean (not squared) distances from `count` area-uniform samples of one surface to the
    other *surface* (exact point-to-triangle distances, see surface_distance), so the
    estimate has no sampling floor beyond the variance of a mean of `count` values.
    Deterministic for a seed."""
    ref, pred = prepare_solid(ref, "reference"), prepare_solid(pred)
    a = sample_surface(ref.mesh, count, seed)
    b = sample_surface(pred.mesh, count, seed + 1)
    d_ab = surface_distance(a, pred.mesh, seed + 2)
    d_ba = surface_distance(b, ref.mesh, seed + 3)
    return float(0.5 * (d_ab.mean() + d_ba.mean()))


# ---------------------------------------------------------------- all together

def iou_metric(ref: Solid, pred: Solid, cfg: MetricConfig) -> float:
    return voxel_iou(ref, pred, cfg.voxel_resolution)


def iou_best_metric(ref: Solid, pred: Solid, cfg: MetricConfig) -> tuple[float, dict]:
    value, label = best_iou(ref, pred, cfg.voxel_resolution)
    return value, {"iou_best_rotation": label}


def iou_exact_metric(ref: Solid, pred: Solid, cfg: MetricConfig) -> float:
    return exact_iou(ref, pred)


def iou_mecagent_metric(ref: Solid, pred: Solid, cfg: MetricConfig) -> float:
    return mecagent_iou(ref, pred)


def chamfer_metric(ref: Solid, pred: Solid, cfg: MetricConfig) -> float:
    return chamfer_distance(ref, pred, cfg.chamfer_points, cfg.seed)


# Each metric as a plain function (ref, pred, cfg) -> float, for the metric specifications.
# A metric function returns its value, or (value, extra result keys) like iou_best's pose.
MetricFunction = Callable[[Solid, Solid, MetricConfig], "float | tuple[float, dict]"]
METRIC_FUNCTIONS: dict[str, MetricFunction] = {
    "iou": iou_metric, "iou_best": iou_best_metric, "iou_exact": iou_exact_metric,
    "iou_mecagent": iou_mecagent_metric, "chamfer": chamfer_metric,
}


def compute_metrics(ref: Solid | Mesh, pred: Solid | Mesh,
                    cfg: MetricConfig | None = None) -> dict:
    """Every metric the metric specs (cadbench/metrics.py) switch on for `cfg`, one pair.
    Keys: METRIC_KEYS plus `metric_errors` ({metric: "ErrorType: message"}, empty when all went
    well). Never raises for bad geometry: a metric that fails is None (or its spec's fallback,
    with the reason kept). A prediction Mesh that fails the validity rule gets None everywhere
    with the reason under every metric."""
    from ..metrics import enabled_metrics

    cfg = cfg or MetricConfig()
    specs = enabled_metrics(cfg)
    out: dict = {key: None for key in METRIC_KEYS}
    errors: dict[str, str] = {}
    try:
        ref, pred = prepare_solid(ref, "reference"), prepare_solid(pred)
    except Exception as exc:  # noqa: BLE001 - bad geometry is a recorded reason, not a crash
        reason = f"{type(exc).__name__}: {exc}"[:300]
        out["metric_errors"] = {spec.name: reason for spec in specs}
        return out

    for spec in specs:
        value: float | None
        try:
            with np.errstate(all="ignore"):  # overflow etc. end as a recorded error instead
                got = METRIC_FUNCTIONS[spec.name](ref, pred, cfg)
        except Exception as exc:  # noqa: BLE001 - one bad metric must not lose the others
            errors[spec.name] = f"{type(exc).__name__}: {exc}"[:300]
            got = None
        if isinstance(got, tuple):  # (value, extra keys such as the pose label)
            value, extra = got
            out.update(extra)
        else:
            value = got
        if value is not None and not np.isfinite(value):
            errors[spec.name] = f"non-finite value {value}"
            value = None
        if value is None and spec.fallback and out.get(spec.fallback) is not None:
            # e.g. iou_best's search failed: the unaligned pose is one of its candidates
            value = out[spec.fallback]
            out.update(FALLBACK_LABELS.get(spec.name, {}))
        out[spec.name] = None if value is None else float(value)
    out["metric_errors"] = errors
    return out


# What a metric that fell back to its spec's `fallback` says about itself.
FALLBACK_LABELS = {"iou_best": {"iou_best_rotation": "unaligned"}}
