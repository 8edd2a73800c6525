"""Pose-invariant volumetric IoU: the best voxel IoU over proper rotations (no mirrors),
translation and uniform scale, and never below the unaligned `iou`.

Why no principal axes: a cube, a cylinder or a square plate has two or three equal second
moments, so its eigenvectors are arbitrary and change completely under 1e-9 vertex noise.
Every decision here is made in frames that noise cannot turn (each solid's own dataset axes,
centred on its volume centroid, scaled by its radius of gyration), from fixed rotations:

0. the prediction's frame comes from its core (`core`): its moments cut to a box around its
   centre, iterated, so geometry far from it changes neither the frame nor the samples;
1. coarse: fixed rotations covering SO(3) (the 24 of the cube, then a super-Fibonacci
   spiral: 1,024 in all, every rotation within 21 deg of one) score the prediction's
   interior points in a blurred occupancy field of the reference (nearest cell); the best
   `keep` distinct ones are refined there by compass search (fixed half-angle steps);
2. each refined pose and its half-turns about the reference's axes are ranked by the overlap
   of the interior points with the reference's own voxels (trilinear); the best `icp` are
   snapped by point-to-plane ICP (lattice crossings of the prediction against area samples of
   the reference, smooth weights), and all are ranked again;
3. the best `final` poses, and the first after a joint compass search over rotation, offset
   and log scale, are voxelized on the reference's grid (n cells across its bounding box,
   padded, as `metrics.voxel_iou`), the prediction's volume off the grid counted exactly;
   the best of them and of the unaligned pose (the dataset frame as given) is returned.

Determinism: the start rotations and every step are fixed matrices, so two runs make the same
comparisons; scores within TIE_TOL (relative) of the best go to the earliest candidate, so
exact ties (symmetric parts) cannot flip on rounding; the coarse scores read the nearest cell
and change only when a sample point crosses a cell boundary; ICP's weights are smooth. Under
1e-9 vertex noise the chosen rotation is the same matrix, or ICP's fixed point moved by ~1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .align import mass_properties, rotation_about_axis
from .mesh import Mesh
from .solid import Solid, box_manifold, transformed
from .voxel import voxelize

# Scores closer than this (relative) are ties, won by the earlier candidate.
TIE_TOL = 1e-9
# ICP pairs a prediction sample with a reference sample only when their normals are within
# ~37 degrees (never at 45, 60 or 90, the angles between faces that CAD parts tend to have).
FACING_COS = 0.8
# ICP: directions whose curvature is below this fraction of the largest are not moved; a
# step below ICP_CONVERGED radians ends it. Only a converged ICP, or one whose weighted RMS
# point-to-plane residual is below ICP_FIT (normalised units), counts: on a mismatched pair
# (residuals 0.06-0.2) its nearest-neighbour assignments keep switching, and where it stops
# would depend on rounding. Copies: below 1e-5, faceted cylinders ~1e-3.
ICP_FREEZE = 1e-4
ICP_CONVERGED = 1e-10
ICP_FIT = 3e-3
# (steps, residual): an ICP whose residual is still above this after that many steps stops
# (a cost bound on mismatched pairs; copies are below 1e-3 by their third step).
ICP_GIVE_UP = (5, 0.03)
# ICP pairs points at most this many Cauchy widths (icp_sigma) apart.
ICP_REACH = 5.0


class PoseError(ValueError):
    """The pair has no usable pose normalisation (degenerate reference box or moments)."""


@dataclass(frozen=True)
class PoseSearch:
    """Search settings (defaults measured in benchmarks/bench_pose.py)."""

    coarse_rotations: int = 1000    # super-Fibonacci rotations, plus the 24 of the cube
    field_cells: int = 24           # blurred reference field: cells per axis
    field_blur_cells: float = 0.8   # Gaussian blur of that field (widens the basins)
    coarse_points: int = 256        # prediction sample points for the coarse scoring
    interior_points: int = 1500     # at least this many interior voxel centres are drawn
    keep: int = 6                   # coarse candidates refined in the blurred field
    icp: int = 2                    # of those, refined by ICP
    final: int = 2                  # poses voxelized (the first also refined in scale, offset)
    coarse_steps_deg: tuple[float, ...] = (8.0, 4.0, 2.0)
    surface_rays: int = 14          # prediction surface samples for the ICP: rays per axis,
    surface_points: int = 400       # doubled until there are this many crossings
    core_reach: float = 1.5         # the prediction's core: this x the reference grid's radius
    ref_surface_points: int = 4000  # reference surface samples (nearest-neighbour targets)
    icp_iterations: int = 10       # a copy converges in 3-7; a cylinder's free spin never
    icp_sigma: float = 0.05         # Cauchy weight scale, normalised units
    icp_neighbours: int = 4
    seed: int = 0
    # translation and scale: a joint compass search from the best poses, steps halved per level
    similarity_levels: int = 5
    similarity_points: int = 500
    similarity_rotation_deg: float = 2.0
    similarity_offset: float = 0.02      # normalised units (radius of gyration 1)
    similarity_log_scale: float = 0.02
    max_moves: int = 12             # moves per step size (a bound on the cost)
    distinct_deg: float = 15.0      # coarse candidates closer than this count as one


DEFAULT_SEARCH = PoseSearch()


# ---------------------------------------------------------------- fixed rotation sets

def quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """(k, 4) unit quaternions (x, y, z, w) -> (k, 3, 3) rotation matrices."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    x, y, z, w = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def cube_rotations() -> np.ndarray:
    """The 24 proper rotations mapping the coordinate axes onto themselves, identity first."""
    out = []
    for perm in ((0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3))
            for row, (col, s) in enumerate(zip(perm, signs)):
                m[row, col] = -1.0 if s else 1.0
            if np.linalg.det(m) > 0:
                out.append(m)
    out.sort(key=lambda m: (not np.allclose(m, np.eye(3)),))  # stable: identity first
    return np.array(out)


def super_fibonacci_rotations(count: int) -> np.ndarray:
    """`count` rotations spread evenly over SO(3) (Alexa, "Super-Fibonacci spirals", 2022)."""
    phi, psi = np.sqrt(2.0), 1.533751168755204288118041
    s = np.arange(count) + 0.5
    t, d = s / count, 2.0 * np.pi * s
    r, big_r = np.sqrt(t), np.sqrt(1.0 - t)
    q = np.stack([r * np.sin(d / phi), r * np.cos(d / phi),
                  big_r * np.sin(d / psi), big_r * np.cos(d / psi)], axis=1)
    return quaternion_matrices(q)


@lru_cache(maxsize=4)
def start_rotations(count: int) -> np.ndarray:
    out = np.concatenate([cube_rotations(), super_fibonacci_rotations(count)])
    out.flags.writeable = False  # shared by every call
    return out


def compass_moves(step_deg: float) -> np.ndarray:
    """(6, 3, 3): +-step about x, y and z (applied on the left, in the reference frame)."""
    a = np.radians(step_deg)
    return np.array([rotation_about_axis(ax, sgn * a) for ax in range(3) for sgn in (1.0, -1.0)])


# The identity and the half-turns about x, y and z.
HALF_TURNS = np.array([np.diag(d) for d in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))],
                      dtype=np.float64)


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def first_best(values: np.ndarray) -> int:
    """Index of the best value; values within TIE_TOL (relative) of it go to the earliest."""
    top = float(np.max(values))
    return int(np.nonzero(values >= top - TIE_TOL * max(abs(top), 1e-300))[0][0])


# ---------------------------------------------------------------- the two solids' frames

@dataclass(frozen=True)
class Normalised:
    """x_normalised = (x - centroid) / scale, in the solid's own dataset axes."""

    centroid: np.ndarray
    scale: float      # radius of gyration
    volume: float     # exact volume in normalised units (volume / scale^3)


def normalisation(solid: Solid) -> Normalised:
    mp = mass_properties(solid.mesh)
    scale = mp.radius_of_gyration
    if not (np.isfinite(scale) and scale > 0):
        raise PoseError(f"bad radius of gyration {scale}")
    return Normalised(mp.centroid, scale, solid.volume / scale ** 3)


@dataclass(frozen=True)
class Core:
    """The prediction's frame from the part of it near its own centre, and that part's box."""

    frame: Normalised
    lo: np.ndarray
    hi: np.ndarray


def _moments_frame(mesh: Mesh, whole_volume: float) -> Normalised:
    mp = mass_properties(mesh)
    scale = mp.radius_of_gyration
    return Normalised(mp.centroid, scale, whole_volume / scale ** 3)


def _mesh_of(manifold) -> Mesh:
    out = manifold.to_mesh64()
    return Mesh(np.asarray(out.vert_properties, dtype=np.float64)[:, :3],
                np.asarray(out.tri_verts, dtype=np.int64))


def core(solid: Solid, half: float, iterations: int = 4) -> Core:
    """Moments of the solid cut to the box centroid +- half * radius of gyration, iterated from
    the moments of its largest connected component.

    A far speck drags the centroid and inflates the radius of gyration of the whole solid;
    cut away, it changes nothing: a solid inside its own box is its own core, and a solid
    plus geometry beyond that box gets the same frame and box as the solid alone (up to
    rounding), so the search runs as it would without it. `volume` stays the whole solid's
    (everything counts in the union)."""
    frame = normalisation(solid)
    if solid.n_components > 1:
        pieces = solid.manifold.decompose()
        if len(pieces) > 1:
            largest = max(pieces, key=lambda p: p.volume())
            frame = _moments_frame(_mesh_of(largest), solid.volume)
    lo, hi = solid.bounds
    for _ in range(iterations):
        blo, bhi = frame.centroid - half * frame.scale, frame.centroid + half * frame.scale
        if np.all(solid.bounds[0] >= blo) and np.all(solid.bounds[1] <= bhi):
            piece_mesh = solid.mesh
        else:
            piece = solid.manifold ^ box_manifold(blo, bhi)
            if piece.is_empty() or not piece.volume() > 0:
                break
            piece_mesh = _mesh_of(piece)
        frame = _moments_frame(piece_mesh, solid.volume)
        lo, hi = piece_mesh.bounds
        # converged when cutting the piece to its own new box would change nothing
        if (np.all(lo >= frame.centroid - half * frame.scale)
                and np.all(hi <= frame.centroid + half * frame.scale)):
            break
    return Core(frame, lo, hi)


@dataclass(frozen=True)
class Grid:
    origin: np.ndarray
    pitch: np.ndarray
    cells: int

    @property
    def top(self) -> np.ndarray:
        return self.origin + self.cells * self.pitch

    def index_coords(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) -> continuous voxel-centre coordinates (..., 3)."""
        return (points - self.origin) / self.pitch - 0.5


def reference_grid(ref: Solid, n: int) -> Grid:
    """`iou`'s grid (metrics.reference_grid, the one rule), as a Grid."""
    from .metrics import MetricError
    from .metrics import reference_grid as metric_grid
    try:
        origin, pitch, cells = metric_grid(ref, n)
    except MetricError as exc:
        raise PoseError(str(exc)) from None
    return Grid(origin, pitch, cells)


def interior_points(solid: Solid, part: Core, target: int,
                    fallback: Surface) -> tuple[np.ndarray, np.ndarray, float]:
    """At least ~`target` voxel centres inside the solid's core, normalised coordinates.

    The grid spans the core's box (the solid's own dataset axes: noise cannot turn it) with
    16, 32 or 64 cells per axis, the first that yields `target` points (a tilted thin plate
    needs the finer grids). A sliver no voxel centre falls in is represented by `fallback`
    (its surface samples). Returns the points, their integer keys (voxel indices) and the
    volume they stand for (normalised units)."""
    frame = part.frame
    lo, hi = (part.lo - frame.centroid) / frame.scale, (part.hi - frame.centroid) / frame.scale
    pts, keys, cell = np.zeros((0, 3)), np.zeros(0, dtype=np.int64), 0.0
    moved = Mesh((solid.mesh.vertices - frame.centroid) / frame.scale, solid.mesh.faces)
    for m in (16, 32, 64):
        pitch = (hi - lo) / m
        idx = np.argwhere(voxelize(moved, lo, pitch, m))
        pts, keys = lo + (idx + 0.5) * pitch, (idx[:, 0] * m + idx[:, 1]) * m + idx[:, 2]
        cell = float(np.prod(pitch))
        if len(pts) >= target:
            break
    if len(pts) == 0:
        return fallback.points, fallback.keys, frame.volume
    return pts, keys, len(pts) * cell


def spread_mask(keys: np.ndarray, count: int) -> np.ndarray:
    """A mask keeping about `count` of the samples, chosen by a fixed hash of their integer
    keys (voxel or ray indices): not by their order, nor by rounded coordinates, so that
    neither a sample more or less elsewhere nor 1e-9 of noise changes which are kept."""
    if len(keys) <= count:
        return np.ones(len(keys), dtype=bool)
    h = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    keep = (h % np.uint64(1_000_003)).astype(np.int64) < int(1_000_003 * count / len(keys))
    if not keep.any():
        keep[:count] = True
    return keep


def spread_subset(points: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
    return points[spread_mask(keys, count)]


@dataclass(frozen=True)
class Field:
    """Occupancy of the reference sampled on a grid, looked up at normalised points."""

    values: np.ndarray   # (c, c, c) float32
    grid: Grid           # in reference-normalised coordinates

    def lookup(self, points: np.ndarray) -> np.ndarray:
        """Field values at points (..., 3), trilinear; 0 outside the grid. (The nearest-cell
        scores of the coarse stage: _nearest_scores.)"""
        g = self.grid.index_coords(points).reshape(-1, 3)
        out = ndimage.map_coordinates(self.values, g.T, order=1, mode="constant", cval=0.0,
                                      prefilter=False)
        return out.reshape(points.shape[:-1])

    def _framed(self) -> np.ndarray:
        """The values framed by one cell of zeros, flat: every index outside the grid clipped
        onto the frame reads 0, so no mask is needed."""
        framed = self.__dict__.get("_framed_values")
        if framed is None:
            framed = np.pad(self.values, 1).reshape(-1)
            object.__setattr__(self, "_framed_values", framed)  # a cache on a frozen field
        return framed


def blurred_field(ref_vox: np.ndarray, grid: Grid, frame: Normalised,
                  cfg: PoseSearch) -> Field:
    """Fraction of each cell inside the reference, blurred, on a cube holding the normalised
    reference with a margin of three blur widths. The fractions are splatted from the
    reference's own (anisotropic) voxel grid, so a plate thinner than a cell still shows."""
    c = cfg.field_cells
    lo, hi = (grid.origin - frame.centroid) / frame.scale, (grid.top - frame.centroid) / frame.scale
    half = float(np.maximum(np.abs(lo), np.abs(hi)).max())
    half *= c / (c - 6.0 * cfg.field_blur_cells - 2.0)
    pitch = 2.0 * half / c
    # The field cell of a voxel centre depends on each axis alone, and grows with the voxel
    # index: the counts per cell are sums over runs of voxels, axis by axis.
    counts = ref_vox.astype(np.int64)
    cells = []
    for axis in range(3):
        centre = grid.origin[axis] + (np.arange(ref_vox.shape[axis]) + 0.5) * grid.pitch[axis]
        q = (centre - frame.centroid[axis]) / frame.scale
        cell = np.clip(np.floor((q + half) / pitch).astype(np.int64), 0, c - 1)
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        counts = np.add.reduceat(counts, starts, axis=axis)
        cells.append(cell[starts])
    binned = np.zeros((c, c, c), dtype=np.int64)
    binned[np.ix_(*cells)] = counts
    weight = float(np.prod(grid.pitch)) / frame.scale ** 3 / pitch ** 3
    values = ndimage.gaussian_filter((binned * weight).astype(np.float32), cfg.field_blur_cells,
                                     mode="constant")
    return Field(values, Grid(-np.full(3, half), np.full(3, pitch), c))


# ---------------------------------------------------------------- search

def _scores(field: Field, rotations: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Sum of (trilinear) field values at the rotated points, per rotation (k, 3, 3) -> (k,)."""
    moved = np.matmul(points[None], rotations.transpose(0, 2, 1))
    return field.lookup(moved).sum(axis=1)


def _nearest_scores(field: Field, rotations: np.ndarray, points: np.ndarray,
                    chunk: int = 128) -> np.ndarray:
    """Sum of the field's nearest-cell values at the rotated points, per rotation, for many
    rotations at once: the grid's scale and offset folded into the rotated coordinates,
    rotations taken a cache-sized chunk at a time (the coarse stage scores 1,024 rotations of
    256 points). Nearest cell: a score changes only when a point crosses a cell boundary."""
    c = field.values.shape[0] + 2              # the framed field (Field._framed)
    inv = 1.0 / field.grid.pitch
    shift = 1.0 - field.grid.origin * inv      # +1: the frame of zeros
    strides = np.array([c * c, c, 1], dtype=np.float64)
    framed = field._framed()
    out = np.empty(len(rotations))
    for start in range(0, len(rotations), chunk):
        scaled = rotations[start:start + chunk] * inv[None, :, None]
        g = np.matmul(points[None], scaled.transpose(0, 2, 1))
        g += shift
        np.floor(g, out=g)
        np.clip(g, 0, c - 1, out=g)
        lin = (g @ strides).astype(np.intp)
        out[start:start + chunk] = framed[lin].sum(axis=1)
    return out


def compass_search(field: Field, rotation: np.ndarray, points: np.ndarray,
                   steps_deg: tuple[float, ...], max_moves: int) -> tuple[np.ndarray, float]:
    best = float(_scores(field, rotation[None], points)[0])
    for step in steps_deg:
        moves = compass_moves(step)
        for _ in range(max_moves):
            cand = moves @ rotation
            vals = _scores(field, cand, points)
            j = first_best(vals)
            if not vals[j] > best + TIE_TOL * max(abs(best), 1e-300):
                break
            rotation, best = cand[j], float(vals[j])
    return rotation, best


@dataclass(frozen=True)
class Similarity:
    """p -> scale * rotation @ p + offset, from prediction- to reference-normalised units."""

    rotation: np.ndarray
    offset: np.ndarray
    scale: float = 1.0


def _similarity_moves(level: int, cfg: PoseSearch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 14 compass moves of one level: +-rotation about x, y, z, +-offset along x, y, z,
    +-log scale; (14, 3, 3) rotations, (14, 3) offsets, (14,) log scales."""
    f = 0.5 ** level
    rot = np.repeat(np.eye(3)[None], 14, axis=0)
    rot[:6] = compass_moves(cfg.similarity_rotation_deg * f)
    off = np.zeros((14, 3))
    off[6:12] = np.repeat(np.eye(3), 2, axis=0) * np.tile([1.0, -1.0], 3)[:, None]
    off *= cfg.similarity_offset * f
    log_scale = np.zeros(14)
    log_scale[12:] = np.array([1.0, -1.0]) * cfg.similarity_log_scale * f
    return rot, off, log_scale


def similarity_search(field: Field, start: Similarity, points: np.ndarray, inside_volume: float,
                      ref_volume: float, pred_volume: float, cfg: PoseSearch) -> Similarity:
    """Compass search of the estimated IoU over rotation, offset and log scale together.

    Intersection: the prediction's interior points (standing for `inside_volume`, scaled by
    scale^3) times the mean field value; union: the exact volumes minus it."""
    def iou(rots, offs, scales):
        moved = scales[:, None, None] * np.matmul(points[None], rots.transpose(0, 2, 1))
        inter = inside_volume * scales ** 3 * field.lookup(moved + offs[:, None, :]).mean(1)
        return inter / (ref_volume + pred_volume * scales ** 3 - inter)

    pose = start
    best = float(iou(pose.rotation[None], pose.offset[None], np.array([pose.scale]))[0])
    for level in range(cfg.similarity_levels):
        d_rot, d_off, d_log = _similarity_moves(level, cfg)
        for _ in range(cfg.max_moves):
            rots = d_rot @ pose.rotation
            offs = pose.offset + d_off
            scales = pose.scale * np.exp(d_log)
            vals = iou(rots, offs, scales)
            j = first_best(vals)
            if not vals[j] > best + TIE_TOL * max(abs(best), 1e-300):
                break
            pose, best = Similarity(rots[j], offs[j], float(scales[j])), float(vals[j])
    return pose


def _distinct_top(scores: np.ndarray, rotations: np.ndarray, keep: int,
                  min_deg: float) -> list[int]:
    order = np.argsort(-scores, kind="stable")  # ties: earlier rotation first
    picked: list[int] = []
    for i in order:
        if all(rotation_angle_deg(rotations[i], rotations[j]) > min_deg for j in picked):
            picked.append(int(i))
        if len(picked) == keep:
            break
    return picked


def _voxel_iou(ref: Solid, ref_vox: np.ndarray, grid: Grid, moved: Solid, beat: float) -> float:
    """A pose scored exactly as `iou` scores a prediction (metrics.anchored_grid_iou: the
    intersection capped by the exact one, so walls through voxel centres gain nothing); a
    pose whose grid counts alone cannot beat `beat` is not scored exactly (it cannot win)."""
    from .metrics import anchored_grid_iou
    return anchored_grid_iou(ref, ref_vox, (grid.origin, grid.pitch, grid.cells), moved, beat)


@dataclass(frozen=True)
class Surface:
    """Area-weighted surface samples (normalised coordinates) with their faces' unit normals."""

    points: np.ndarray
    normals: np.ndarray
    keys: np.ndarray   # integer keys for spread_mask (ray or draw indices)


def surface_samples(solid: Solid, frame: Normalised, count: int, seed: int) -> Surface:
    t = (solid.mesh.vertices[solid.mesh.faces] - frame.centroid) / frame.scale
    cross = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    keep = norm > 0
    t, cross, norm = t[keep], cross[keep], norm[keep]
    rng = np.random.default_rng(seed)
    face = rng.choice(len(t), size=count, p=norm / norm.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    u, v = 1.0 - s, s * (1.0 - r2)
    tf = t[face]
    pts = u[:, None] * tf[:, 0] + v[:, None] * tf[:, 1] + (1.0 - u - v)[:, None] * tf[:, 2]
    return Surface(pts, cross[face] / norm[face, None], np.arange(count))


# Ray offsets inside a lattice cell (fractions): fixed and irrational, so that rays do not
# run through the "round" edges and vertices of CAD parts.
_RAY_JITTER = (0.5 + 1e-4 * np.sqrt(2.0), 0.5 + 1e-4 * np.sqrt(3.0))


def lattice_surface(solid: Solid, part: Core, rays: int) -> Surface:
    """Where a rays x rays lattice of lines along each axis, across the core's box, crosses
    the surface, with the crossed faces' unit normals (normalised coordinates).

    The points depend on the geometry only, not on the triangulation or the face order, so
    the same solid with geometry added beyond the box yields the same samples."""
    frame = part.frame
    lo, hi = (part.lo - frame.centroid) / frame.scale, (part.hi - frame.centroid) / frame.scale
    t = (solid.mesh.vertices[solid.mesh.faces] - frame.centroid) / frame.scale
    cross = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    points, normals, keys = [], [], []
    for axis in range(3):
        u, v = [k for k in range(3) if k != axis]
        pu, pv = (hi[u] - lo[u]) / rays, (hi[v] - lo[v]) / rays
        # lattice coordinates: ray (i, j) at integer (i, j)
        gu = (t[:, :, u] - lo[u]) / pu - _RAY_JITTER[0]
        gv = (t[:, :, v] - lo[v]) / pv - _RAY_JITTER[1]
        imin = np.maximum(np.ceil(gu.min(axis=1)), 0).astype(np.int64)
        imax = np.minimum(np.floor(gu.max(axis=1)), rays - 1).astype(np.int64)
        jmin = np.maximum(np.ceil(gv.min(axis=1)), 0).astype(np.int64)
        jmax = np.minimum(np.floor(gv.max(axis=1)), rays - 1).astype(np.int64)
        ok = (imax >= imin) & (jmax >= jmin) & (norm > 0)
        idx = np.nonzero(ok)[0]
        ni, nj = imax[idx] - imin[idx] + 1, jmax[idx] - jmin[idx] + 1
        counts = ni * nj
        if counts.sum() == 0:
            continue
        tri = np.repeat(idx, counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        njr = np.repeat(nj, counts)
        ci = np.repeat(imin[idx], counts) + local // njr
        cj = np.repeat(jmin[idx], counts) + local % njr
        au, av = gu[tri] - ci[:, None], gv[tri] - cj[:, None]   # corners relative to the ray
        e = np.stack([au[:, 1] * av[:, 2] - av[:, 1] * au[:, 2],
                      au[:, 2] * av[:, 0] - av[:, 2] * au[:, 0],
                      au[:, 0] * av[:, 1] - av[:, 0] * au[:, 1]], axis=1)
        hit = np.all(e > 0, axis=1) | np.all(e < 0, axis=1)
        tri, e, ci, cj = tri[hit], e[hit], ci[hit], cj[hit]
        depth = (e * t[tri, :, axis]).sum(axis=1) / e.sum(axis=1)
        inside = (depth >= lo[axis]) & (depth <= hi[axis])
        pts = np.empty((int(inside.sum()), 3))
        pts[:, axis] = depth[inside]
        pts[:, u] = lo[u] + (ci[inside] + _RAY_JITTER[0]) * pu
        pts[:, v] = lo[v] + (cj[inside] + _RAY_JITTER[1]) * pv
        points.append(pts)
        normals.append(cross[tri[inside]] / norm[tri[inside], None])
        keys.append((axis * rays + ci[inside]) * rays + cj[inside])
    if not points:
        return Surface(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    return Surface(np.concatenate(points), np.concatenate(normals), np.concatenate(keys))


def rotation_vector_matrix(w: np.ndarray) -> np.ndarray:
    """exp([w]x): rotation by |w| radians about w (Rodrigues)."""
    angle = float(np.linalg.norm(w))
    if angle == 0.0:
        return np.eye(3)
    k = w / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * kx + (1.0 - np.cos(angle)) * (kx @ kx)


def icp_rotation(tree, ref_surface: Surface, pred: Surface, rotation: np.ndarray,
                 cfg: PoseSearch) -> tuple[np.ndarray, bool]:
    """Point-to-plane ICP over rotations about the (shared) centroid, from `rotation`.

    Smooth Cauchy weights instead of a rejection threshold: no point is in or out by a hair.
    Returns (rotation, usable): a copy converges in 3-10 steps to ~1e-13 rad, where every
    residual is zero; a pose neither converged nor on the surface is not used (ICP_FIT).
    """
    sigma2 = cfg.icp_sigma ** 2
    k = cfg.icp_neighbours
    rows = np.arange(len(pred.points))
    for it in range(cfg.icp_iterations):
        x = pred.points @ rotation.T
        # neighbours within ICP_REACH only (beyond it a pair's weight is below 1/26): the
        # search prunes early; a point with none there has no pair this step
        dists, idx = tree.query(x, k=k, distance_upper_bound=ICP_REACH * cfg.icp_sigma)
        found = idx < len(ref_surface.points)
        idx = np.where(found, idx, 0)
        # the nearest of the k that faces the same way (within ~37 deg): on a plate thinner
        # than the sample spacing the nearest sample can lie on the opposite face, and at an
        # edge on a face at 90 deg (whose dot product is 0 only up to rounding)
        facing = found & (np.einsum("ij,ikj->ik", pred.normals @ rotation.T,
                                    ref_surface.normals[idx]) > FACING_COS)
        pick = np.argmax(facing, axis=1)
        j, dist = idx[rows, pick], dists[rows, pick]
        n = ref_surface.normals[j]
        r = np.einsum("ij,ij->i", x - ref_surface.points[j], n)
        w = np.where(facing[rows, pick], 1.0 / (1.0 + dist ** 2 / sigma2), 0.0)
        fit = float(np.sqrt((w * r ** 2).sum() / max(w.sum(), 1e-300)))
        if it >= ICP_GIVE_UP[0] and fit > ICP_GIVE_UP[1]:
            return rotation, False  # far from any fit after several steps: a mismatch
        jac = np.cross(x, n)                       # d r / d w for x -> exp([w]x) x
        # a direction the surfaces barely constrain (a cylinder's spin) is frozen, so that
        # it neither drifts nor amplifies rounding-level differences by 1 / ~0
        vals, vecs = np.linalg.eigh((jac * w[:, None]).T @ jac)
        g = vecs.T @ ((jac * w[:, None]).T @ r)
        free = vals > ICP_FREEZE * max(float(vals[-1]), 1e-300)
        step = -vecs @ np.where(free, g / np.where(free, vals, 1.0), 0.0)
        rotation = rotation_vector_matrix(step) @ rotation
        if np.linalg.norm(step) < ICP_CONVERGED:
            return rotation, True
    # still moving, but on the surface (a faceted cylinder's spin): a copy, not a mismatch
    return rotation, fit < ICP_FIT


def pose_label(rotation: np.ndarray, scale: float) -> str:
    angle = rotation_angle_deg(np.eye(3), rotation)
    w = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                  rotation[1, 0] - rotation[0, 1]])
    if np.linalg.norm(w) < 1e-9:  # 0 or 180 degrees: axis from the symmetric part
        vals, vecs = np.linalg.eigh(rotation + rotation.T)
        w = vecs[:, -1]
    w = w / np.linalg.norm(w)
    return (f"rot {angle:.1f} deg about ({w[0]:+.3f},{w[1]:+.3f},{w[2]:+.3f}) "
            f"scale {scale:.4g}")


def best_iou(ref: Solid, pred: Solid, n: int = 64,
             cfg: PoseSearch = DEFAULT_SEARCH) -> tuple[float, str]:
    """Best voxel IoU of `pred` against `ref` over proper rotations (no mirrors), with the
    prediction's centroid and radius of gyration matched to the reference's, or unaligned.

    Returns (iou, label): "unaligned" when the dataset pose as given wins, else the rotation
    (applied to the centred prediction) and the scale factor, e.g.
    "rot 90.0 deg about (+0.000,+0.000,+1.000) scale 2"."""
    from .metrics import reference_voxels, voxel_iou

    fr = normalisation(ref)
    grid = reference_grid(ref, n)
    ref_vox = reference_voxels(ref, n)[1]  # shared with `iou` (one voxelization per pair)

    # unaligned: metrics.voxel_iou itself (the value `iou` computed), so iou_best >= iou
    best_value = voxel_iou(ref, pred, n)
    best_label = "unaligned"

    # 1. coarse: every start rotation scored in the blurred field (nearest cell), the best
    # few distinct ones refined there by compass search
    blurred = blurred_field(ref_vox, grid, fr, cfg)
    corners = (np.stack([grid.origin, grid.top]) - fr.centroid) / fr.scale
    reach = float(np.linalg.norm(np.abs(corners).max(axis=0)))  # the grid's bounding sphere
    part = core(pred, cfg.core_reach * reach)
    fp = part.frame
    for rays in (cfg.surface_rays, 2 * cfg.surface_rays, 4 * cfg.surface_rays):
        pred_surface = lattice_surface(pred, part, rays)  # a tilted sheet needs more rays
        if len(pred_surface.points) >= cfg.surface_points:
            break
    keep = spread_mask(pred_surface.keys, 2 * cfg.surface_points)
    pred_surface = Surface(pred_surface.points[keep], pred_surface.normals[keep],
                           pred_surface.keys[keep])
    inside, keys, inside_volume = interior_points(pred, part, cfg.interior_points, pred_surface)
    if len(inside) == 0:  # nothing to align (a sliver no ray or voxel centre meets)
        return best_value, best_label
    coarse_pts = spread_subset(inside, keys, cfg.coarse_points)
    starts = start_rotations(cfg.coarse_rotations)
    coarse = _nearest_scores(blurred, starts, coarse_pts)
    candidates = []
    for i in _distinct_top(coarse, starts, cfg.keep, cfg.distinct_deg):
        candidates.append(compass_search(blurred, starts[i], coarse_pts,
                                         cfg.coarse_steps_deg, cfg.max_moves)[0])

    # 2. ranked by the overlap of the prediction's interior points with the reference's own
    # voxels (trilinear; the blurred field cannot tell a plate with a lip from the plate
    # flipped); the best few refined by ICP, and all ranked again
    from scipy.spatial import cKDTree

    ref_field = Field(ref_vox.astype(np.float32),
                      Grid((grid.origin - fr.centroid) / fr.scale, grid.pitch / fr.scale,
                           grid.cells))
    fine_pts = spread_subset(inside, keys, cfg.interior_points)
    # with each candidate, its half-turns about the reference's axes: a thin sheet and the
    # sheet flipped fill the blurred field alike
    poses = np.concatenate([HALF_TURNS @ rot for rot in candidates])
    overlap = _scores(ref_field, poses, fine_pts)
    ref_surface = surface_samples(ref, fr, cfg.ref_surface_points, cfg.seed)
    tree = cKDTree(ref_surface.points, balanced_tree=False, compact_nodes=False)
    # ICP from the `icp` best starts, less those within distinct_deg of a better one (they
    # would converge to the same pose)
    starts_icp: list[int] = []
    for k in np.argsort(-overlap, kind="stable")[: cfg.icp]:
        if all(rotation_angle_deg(poses[k], poses[j]) > cfg.distinct_deg for j in starts_icp):
            starts_icp.append(int(k))
    snapped = [icp_rotation(tree, ref_surface, pred_surface, poses[k], cfg) for k in starts_icp]
    converged = np.array([rot for rot, ok in snapped if ok]).reshape(-1, 3, 3)
    poses = np.concatenate([converged, poses])
    overlap = np.concatenate([_scores(ref_field, converged, fine_pts), overlap])

    # 3. the best few voxelized on the reference grid, and the best of them also after a
    # joint refinement of rotation, offset and scale
    moment_scale = fr.scale / fp.scale
    search_pts = spread_subset(inside, keys, cfg.similarity_points)
    ranked = np.argsort(-overlap, kind="stable")[: cfg.final]
    trials = [Similarity(poses[k], np.zeros(3)) for k in ranked]
    trials.append(similarity_search(ref_field, trials[0], search_pts, inside_volume,
                                    fr.volume, fp.volume, cfg))
    for sim in trials:
        matrix = moment_scale * sim.scale * sim.rotation
        offset = fr.centroid + fr.scale * sim.offset - matrix @ fp.centroid
        beat = best_value + TIE_TOL * max(best_value, 1e-300)
        value = _voxel_iou(ref, ref_vox, grid, transformed(pred, matrix, offset), beat)
        if value > beat:
            best_value = value
            best_label = pose_label(sim.rotation, moment_scale * sim.scale)
    return best_value, best_label
