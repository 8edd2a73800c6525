"""Sampling floor, accuracy and cost of the chamfer distance, on real GenCAD parts.

- floor: a part against itself (different sample seeds), which is truly 0;
- a unit box against itself shifted by 0.05 along x, whose true value is computed by brute
  force (exact distances of 400k samples to all 12 triangles);
- every GenCAD part against itself shifted by 0.05 along x, against a 20k-sample value;
- the candidate search of `surface_distance` (the chamfer's own query count and cloud)
  against brute-force distances to every triangle;
- the time of one chamfer call, with the 2,048-point sample-to-sample estimate it replaced
  (`--old`) for comparison.

    nice -n 10 python benchmarks/bench_chamfer.py [--data FILE] [--limit N] [--points 2048]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_iou import DEFAULT_DATA, load_programs, run_program  # noqa: E402

from cadbench.config import MetricConfig  # noqa: E402
from cadbench.geometry.metrics import (chamfer_distance, point_triangle_distance,  # noqa: E402
                                       sample_surface, surface_distance)
from cadbench.geometry.solid import Solid, make_reference_solid, transformed  # noqa: E402

SEEDS = (0, 1, 2, 3, 4)
SHIFT = 0.05
DENSE = 20_000       # samples per surface of the reference value
BRUTE_POINTS = 200   # points checked against every triangle, per part


def old_chamfer(a: Solid, b: Solid, count: int, seed: int) -> float:
    """The estimate used before: nearest *sample* of the other surface, i.i.d. samples."""
    from scipy.spatial import cKDTree

    def samples(mesh, s):
        t = mesh.vertices[mesh.faces]
        area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)
        rng = np.random.default_rng(s)
        face = rng.choice(len(t), size=count, p=area / area.sum())
        r1, r2 = rng.random(count), rng.random(count)
        q = np.sqrt(r1)
        u, v = 1.0 - q, q * (1.0 - r2)
        tf = t[face]
        return u[:, None] * tf[:, 0] + v[:, None] * tf[:, 1] + (1 - u - v)[:, None] * tf[:, 2]

    pa, pb = samples(a.mesh, seed), samples(b.mesh, seed + 1)
    return float(0.5 * (cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean()))


def brute_distance(points: np.ndarray, solid: Solid, chunk: int = 256) -> np.ndarray:
    t = solid.mesh.vertices[solid.mesh.faces]
    out = np.full(len(points), np.inf)
    for i in range(0, len(t), chunk):
        tri = t[i:i + chunk]
        p = np.repeat(points, len(tri), axis=0)
        d = point_triangle_distance(p, *(np.tile(tri[:, k], (len(points), 1)) for k in range(3)))
        out = np.minimum(out, d.reshape(len(points), len(tri)).min(axis=1))
    return out


def shifted(solid: Solid) -> Solid:
    return transformed(solid, np.eye(3), np.array([SHIFT, 0.0, 0.0]))


def unit_box_case(points: int) -> str:
    import manifold3d as m3

    from cadbench.geometry.solid import make_solid
    from cadbench.geometry.tessellate import weld

    cube = m3.Manifold.cube((1.0, 1.0, 1.0)).to_mesh64()
    box = make_solid(weld(np.asarray(cube.vert_properties)[:, :3],
                          np.asarray(cube.tri_verts, dtype=np.int64), 1e-12))
    moved = shifted(box)
    dense = [sample_surface(s.mesh, 400_000, 99 + i) for i, s in enumerate((box, moved))]
    true = 0.5 * (brute_distance(dense[0], moved).mean() + brute_distance(dense[1], box).mean())
    new = [chamfer_distance(box, moved, points, s) for s in SEEDS]
    old = [old_chamfer(box, moved, points, s) for s in SEEDS]
    return (f"unit box vs shifted by {SHIFT}: true {true:.5f}; new {points} pts "
            f"{np.mean(new):.5f} (max |err| {np.max(np.abs(np.array(new) - true)):.5f}); old "
            f"{np.mean(old):.5f} (max |err| {np.max(np.abs(np.array(old) - true)):.5f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="first N programs only")
    ap.add_argument("--points", type=int, default=MetricConfig().chamfer_points)
    args = ap.parse_args(argv)

    print(unit_box_case(args.points))
    parts = []
    for pid, code in load_programs(args.data)[:args.limit]:
        parts.append((pid, make_reference_solid(run_program(code))))
    floor_new, floor_old, shift_err, shift_old_err, excess, bias, t_new, t_old = (
        [] for _ in range(8))
    for pid, part in parts:
        moved = shifted(part)
        for s in SEEDS[:3]:
            floor_new.append(chamfer_distance(part, part, args.points, s))
            floor_old.append(old_chamfer(part, part, args.points, s))
        dense = 0.5 * (surface_distance(sample_surface(part.mesh, DENSE, 7), moved.mesh, 8, 4)
                       .mean() + surface_distance(sample_surface(moved.mesh, DENSE, 9),
                                                  part.mesh, 10, 4).mean())
        for s in SEEDS[:3]:
            t = time.process_time()
            shift_err.append(abs(chamfer_distance(part, moved, args.points, s) - dense))
            t_new.append(time.process_time() - t)
            t = time.process_time()
            shift_old_err.append(abs(old_chamfer(part, moved, args.points, s) - dense))
            t_old.append(time.process_time() - t)
        # the chamfer's own configuration: args.points queries, its cloud; brute force on
        # the first BRUTE_POINTS of them
        pts = sample_surface(moved.mesh, args.points, 11)
        fast = surface_distance(pts, part.mesh, 12)[:BRUTE_POINTS]
        gap = fast - brute_distance(pts[:BRUTE_POINTS], part)
        excess.append(float(gap.max()))
        bias.append(float(gap.mean()))
    f = lambda xs: f"mean {np.mean(xs):.5f}, max {np.max(xs):.5f}"  # noqa: E731
    print(f"{len(parts)} GenCAD parts, {args.points} points per surface, seeds {SEEDS[:3]}")
    print(f"floor (part vs itself): new {f(floor_new)}; old {f(floor_old)}")
    print(f"part vs itself shifted by {SHIFT} (|err| vs a 20k-point value): new "
          f"{f(shift_err)}; old {f(shift_old_err)}")
    print(f"candidate search vs brute force on {BRUTE_POINTS} of the {args.points} points "
          f"per part: excess per point, per-part max: {f(excess)}; per-part mean (the bias "
          f"of a directed mean): {f(bias)}")
    print(f"CPU per chamfer call: new {1000 * np.mean(t_new):.1f} ms, old "
          f"{1000 * np.mean(t_old):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
