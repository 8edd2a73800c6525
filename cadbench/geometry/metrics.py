"""Metrics between a reference solid and a predicted solid, both given as closed `Mesh`es.

Runs in the trusted parent process, on arrays only. `compute_metrics` never lets one failing
metric lose the others: a metric that cannot be computed is None and its reason is recorded
under `metric_errors`. See docs/metrics.md for definitions and caveats."""

from __future__ import annotations

import numpy as np

from ..config import MetricConfig
from .align import (PROPER_SIGN_PATTERNS, mass_properties, principal_frame,
                    rotation_about_axis, sign_label)
from .mesh import Mesh
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
# iou_best's search about the distinct axis of a part with two equal second moments.
SPIN_STEP_DEG = 2.0
SPIN_MAP_CELLS = 32


class MetricError(ValueError):
    """A metric is undefined for this pair (e.g. both solids empty on the grid)."""


# ---------------------------------------------------------------- volumetric voxel IoU

def _grid_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    if union == 0:
        raise MetricError("both solids are empty on the voxel grid")
    return np.count_nonzero(a & b) / union


def voxel_iou(ref: Mesh, pred: Mesh, n: int = 64) -> float:
    """Volumetric IoU on an n^3 grid spanning the joint bounding box, dataset frame.

    Each axis gets n cells (anisotropic voxels): IoU is a ratio of volumes, unchanged by a
    per-axis scaling, and thin plates keep n cells across their thickness."""
    lo = np.minimum(ref.vertices.min(axis=0), pred.vertices.min(axis=0))
    hi = np.maximum(ref.vertices.max(axis=0), pred.vertices.max(axis=0))
    extent = hi - lo
    if not np.all(np.isfinite(extent)) or np.any(extent <= 0):
        raise MetricError(f"joint bounding box is degenerate (extent {extent.tolist()})")
    # Bounding boxes that do not overlap: the solids are disjoint, IoU is exactly 0 (and the
    # grid, stretched over both, could be too coarse to see either of them).
    overlap = (np.minimum(ref.vertices.max(axis=0), pred.vertices.max(axis=0))
               - np.maximum(ref.vertices.min(axis=0), pred.vertices.min(axis=0)))
    if np.any(overlap <= 0):
        return 0.0
    pitch = extent / n
    return _grid_iou(voxelize(ref, lo, pitch, n), voxelize(pred, lo, pitch, n))


def _best_flip(vr: np.ndarray, vp: np.ndarray) -> tuple[float, tuple[int, int, int]]:
    """Best IoU over the proper sign patterns; on a grid symmetric about the origin a sign
    pattern is an exact flip of the voxel array."""
    best, best_signs = -1.0, PROPER_SIGN_PATTERNS[0]
    for signs in PROPER_SIGN_PATTERNS:
        flip_axes = tuple(ax for ax, s in enumerate(signs) if s < 0)
        v = _grid_iou(vr, np.flip(vp, axis=flip_axes) if flip_axes else vp)
        if v > best:
            best, best_signs = v, signs
    return best, best_signs


def _symmetric_voxels(points: np.ndarray, faces: np.ndarray, half: np.ndarray, n: int):
    return voxelize(Mesh(points, faces), -half, 2.0 * half / n, n)


def best_iou(ref: Mesh, pred: Mesh, n: int = 64) -> tuple[float, str]:
    """Pose-invariant voxel IoU: the best over proper rotations that align principal axes.

    Both solids are centred on their volume centroid, scaled to unit radius of gyration and
    expressed in their principal frame (axes sorted by second moment, det +1); the candidates
    are the 4 proper sign patterns of the axes. When two second moments are (nearly) equal
    (square plates, discs, parts with 3- or 4-fold symmetry), the axes in that plane are
    arbitrary, so the prediction is also spun about the distinct axis: a 2D search of the
    thickness maps every SPIN_STEP_DEG proposes two angles, which are checked in 3D.
    Returns (iou, label): the sign pattern, e.g. "+--", plus " spin2=36.0" when spun."""
    fr, fp = principal_frame(ref), principal_frame(pred)
    qr, qp = fr.apply(ref.vertices), fp.apply(pred.vertices)
    spin = fr.symmetric_axis()
    if spin is None:
        spin = fp.symmetric_axis()
    half = np.maximum(np.abs(qr).max(axis=0), np.abs(qp).max(axis=0))
    if spin is not None:  # the in-plane extent must hold the prediction at any spin angle
        i, j = [k for k in range(3) if k != spin]
        radius = max(np.hypot(qr[:, i], qr[:, j]).max(), np.hypot(qp[:, i], qp[:, j]).max())
        half[i] = half[j] = radius
    if not np.all(np.isfinite(half)) or np.any(half <= 0):
        raise MetricError(f"degenerate normalised extent {half.tolist()}")
    vr = _symmetric_voxels(qr, ref.faces, half, n)
    vp = _symmetric_voxels(qp, pred.faces, half, n)
    if spin is None:
        value, signs = _best_flip(vr, vp)
        return value, sign_label(signs)

    def spun(angle: float):
        rotated = qp @ rotation_about_axis(spin, angle).T
        return _best_flip(vr, _symmetric_voxels(rotated, pred.faces, half, n))

    best, best_signs = _best_flip(vr, vp)  # spin 0: free, vp is needed for the maps
    best_angle = 0.0
    for angle in _spin_candidates(vr, vp, spin):
        if angle == 0.0:
            continue
        value, signs = spun(angle)
        if value > best:
            best, best_signs, best_angle = value, signs, angle
    deg = float(np.degrees(best_angle)) % 180.0
    return best, f"{sign_label(best_signs)} spin{spin}={deg:.1f}"


def _spin_candidates(vr: np.ndarray, vp: np.ndarray, spin: int, keep: int = 2) -> list[float]:
    """Promising spin angles in [0, pi), from a cheap 2D search.

    The solids are summed along the spin axis into thickness maps; the prediction's map is
    resampled (nearest cell) under every rotation by SPIN_STEP_DEG over a full turn, with and
    without a mirror of one in-plane axis (that, with the 3D sign patterns, covers the
    half-turns reversing the spin axis); the score is sum(min) / sum(max) of the two maps.
    The `keep` best distinct angles (mod pi) are returned for exact 3D evaluation."""
    tr, tp = vr.sum(axis=spin).astype(np.float32), vp.sum(axis=spin).astype(np.float32)
    n = tr.shape[0]
    f = n // SPIN_MAP_CELLS
    if f > 1 and n % f == 0:  # pool to about SPIN_MAP_CELLS^2 cells: cost, not accuracy
        n //= f
        tr = tr.reshape(n, f, n, f).sum(axis=(1, 3))
        tp = tp.reshape(n, f, n, f).sum(axis=(1, 3))
    k = (np.arange(n) + 0.5 - n / 2.0).astype(np.float32)  # cell centres, in cells
    ci, cj = np.meshgrid(k, k, indexing="ij")
    # Both solids lie in the disc inscribed in the map (its half-size is their radius).
    disc = ci ** 2 + cj ** 2 <= (n / 2.0 + 1.0) ** 2
    ci, cj, tr = ci[disc], cj[disc], tr[disc]
    angles = np.radians(np.arange(0.0, 360.0, SPIN_STEP_DEG))
    c = np.cos(angles).astype(np.float32)[:, None]
    s = np.sin(angles).astype(np.float32)[:, None]
    scores = []
    for mirror in (1.0, -1.0):
        mi = mirror * ci
        # Map value at ref cell x is tp at R(-angle) F x (the inverse of the candidate F R).
        si = c * mi + s * cj
        sj = -s * mi + c * cj
        ii = np.floor(si + n / 2.0).astype(np.int64)
        jj = np.floor(sj + n / 2.0).astype(np.int64)
        ok = (ii >= 0) & (ii < n) & (jj >= 0) & (jj < n)
        moved = np.where(ok, tp[np.clip(ii, 0, n - 1), np.clip(jj, 0, n - 1)], 0.0)
        ref = tr[None, :]
        union = np.maximum(ref, moved).sum(axis=1)
        scores.append(np.minimum(ref, moved).sum(axis=1) / np.maximum(union, 1e-12))
    scores = np.max(scores, axis=0)            # per angle, the better of the two mirrors
    picked: list[float] = []
    for idx in np.argsort(-scores):
        a = float(angles[idx] % np.pi)
        far = all(min(abs(a - b), np.pi - abs(a - b)) > 1.5 * np.radians(SPIN_STEP_DEG)
                  for b in picked)
        if far:
            picked.append(a)
        if len(picked) == keep:
            break
    return picked


# ---------------------------------------------------------------- exact IoU

def _to_manifold(mesh: Mesh, what: str):
    import manifold3d

    if hasattr(manifold3d, "Mesh64"):  # manifold3d >= 3: float64 vertices
        data = manifold3d.Mesh64(np.ascontiguousarray(mesh.vertices, dtype=np.float64),
                                 np.ascontiguousarray(mesh.faces, dtype=np.uint64))
    else:
        data = manifold3d.Mesh(np.ascontiguousarray(mesh.vertices, dtype=np.float32),
                               np.ascontiguousarray(mesh.faces, dtype=np.uint32))
    m = manifold3d.Manifold(data)
    status = m.status()
    if status != manifold3d.Error.NoError:
        raise MetricError(f"{what} mesh is not a closed manifold ({status.name})")
    return m


def exact_iou(ref: Mesh, pred: Mesh) -> float:
    """Volume IoU by mesh booleans: vol(A and B) / (vol A + vol B - vol(A and B))."""
    a, b = _to_manifold(ref, "reference"), _to_manifold(pred, "prediction")
    va, vb = a.volume(), b.volume()
    inter = (a ^ b).volume()
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


def mecagent_iou(ref: Mesh, pred: Mesh, pitch: float = MECAGENT_PITCH) -> float:
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

    mr, er = norm(ref)
    mp_, ep = norm(pred)
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

def sample_surface(mesh: Mesh, count: int, seed: int) -> np.ndarray:
    """`count` points uniformly distributed over the surface area (seeded)."""
    t = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
    total = area.sum()
    if not (np.isfinite(total) and total > 0):
        raise MetricError(f"mesh surface area is {total:.3g}")
    rng = np.random.default_rng(seed)
    face = rng.choice(len(t), size=count, p=area / total)
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    u, v = 1.0 - s, s * (1.0 - r2)  # uniform barycentric coordinates
    w = 1.0 - u - v
    tf = t[face]
    return u[:, None] * tf[:, 0] + v[:, None] * tf[:, 1] + w[:, None] * tf[:, 2]


def chamfer_distance(ref: Mesh, pred: Mesh, count: int = 2048, seed: int = 0) -> float:
    """Symmetric chamfer distance in dataset units: the mean of the two directed mean
    nearest-neighbour Euclidean (not squared) distances between surface samples."""
    from scipy.spatial import cKDTree

    a, b = sample_surface(ref, count, seed), sample_surface(pred, count, seed)
    d_ab = cKDTree(b).query(a)[0]
    d_ba = cKDTree(a).query(b)[0]
    return float(0.5 * (d_ab.mean() + d_ba.mean()))


# ---------------------------------------------------------------- all together

def compute_metrics(ref: Mesh, pred: Mesh, cfg: MetricConfig | None = None) -> dict:
    """All configured metrics for one pair. Keys: METRIC_KEYS plus `metric_errors`
    ({metric: "ErrorType: message"}, empty when all went well). Never raises for bad
    geometry: a metric that fails is None."""
    cfg = cfg or MetricConfig()
    out: dict = {key: None for key in METRIC_KEYS}
    errors: dict[str, str] = {}

    def attempt(name, fn):
        try:
            with np.errstate(all="ignore"):  # overflow etc. end as a recorded error instead
                value = fn()
        except Exception as exc:  # noqa: BLE001 - one bad metric must not lose the others
            errors[name] = f"{type(exc).__name__}: {exc}"[:300]
            return None
        if isinstance(value, float) and not np.isfinite(value):
            errors[name] = f"non-finite value {value}"
            return None
        return value

    n = cfg.voxel_resolution
    out["iou"] = attempt("iou", lambda: float(voxel_iou(ref, pred, n)))
    if cfg.compute_best:
        res = attempt("iou_best", lambda: best_iou(ref, pred, n))
        if res is not None:
            value, label = res
            if out["iou"] is not None and out["iou"] > value:
                value, label = out["iou"], "unaligned"  # unaligned IoU is a floor
            out["iou_best"], out["iou_best_rotation"] = float(value), label
        elif out["iou"] is not None:
            out["iou_best"], out["iou_best_rotation"] = out["iou"], "unaligned"
    if cfg.compute_exact:
        out["iou_exact"] = attempt("iou_exact", lambda: exact_iou(ref, pred))
    if cfg.compute_mecagent:
        out["iou_mecagent"] = attempt("iou_mecagent", lambda: mecagent_iou(ref, pred))
    if cfg.compute_chamfer:
        out["chamfer"] = attempt(
            "chamfer", lambda: chamfer_distance(ref, pred, cfg.chamfer_points, cfg.seed))
    out["metric_errors"] = errors
    return out
