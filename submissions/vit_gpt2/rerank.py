"""Pick one program among several decoded for the same image (`--opt rerank=K`), with what
the image and the program text alone say (nothing is executed):

1. a program `cadbench.program` can read, whose sketch loops neither cross themselves nor
   each other, beats one that is unreadable or has crossing loops (those are what OCC turns
   into invalid solids: BRepCheck fails, or the mesh volume disagrees with OCC's);
2. among those, the one whose own box is closest in shape to the box regressor's, measured
   by sum over axes of |log(scale)| that box_fit would apply (a program that needs no
   stretching agrees with the image on proportions).

Ties keep the earlier candidate; the greedy decode comes first.
"""

from __future__ import annotations

import math

import numpy as np

from cadbench.program import Arc, CircleLoop, Line, Program, from_code

from .box_fit import axis_scales

BAD = 1e6          # the score of an unreadable program or one with crossing loops
ARC_POINTS = 8     # polyline points per arc / circle quarter for the crossing test


def _arc_points(p0, mid, p1) -> list[tuple[float, float]]:
    """Points along the circle through p0, mid, p1 (the segment itself when collinear)."""
    (ax, ay), (bx, by), (cx, cy) = p0, mid, p1
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    if abs(d) < 1e-12:
        return [p1]
    ux = ((ax * ax + ay * ay) * (by - cy) + (bx * bx + by * by) * (cy - ay)
          + (cx * cx + cy * cy) * (ay - by)) / d
    uy = ((ax * ax + ay * ay) * (cx - bx) + (bx * bx + by * by) * (ax - cx)
          + (cx * cx + cy * cy) * (bx - ax)) / d
    r = math.hypot(ax - ux, ay - uy)
    a0, am, a1 = (math.atan2(y - uy, x - ux) for x, y in (p0, mid, p1))
    # go from a0 to a1 the way that passes through am
    sweep = (a1 - a0) % (2 * math.pi)
    if (am - a0) % (2 * math.pi) > sweep:
        sweep -= 2 * math.pi
    return [(ux + r * math.cos(a0 + sweep * k / ARC_POINTS),
             uy + r * math.sin(a0 + sweep * k / ARC_POINTS)) for k in range(1, ARC_POINTS + 1)]


def loop_polyline(loop) -> list[tuple[float, float]]:
    """A closed polyline (first point repeated at the end) that follows the loop."""
    if isinstance(loop, CircleLoop):
        (cx, cy), r = loop.center, loop.radius
        n = 4 * ARC_POINTS
        # half a step off the axes: a sample exactly on a grid line through the centre
        # would only touch an edge lying on that line, and a touch is not a crossing
        pts = [(cx + r * math.cos(2 * math.pi * (k + 0.5) / n),
                cy + r * math.sin(2 * math.pi * (k + 0.5) / n)) for k in range(n)]
        return pts + [pts[0]]
    cur = loop.start if loop.start is not None else (0.0, 0.0)
    pts = [cur]
    for s in loop.segments:
        if isinstance(s, Line):
            pts.append(s.end)
        elif isinstance(s, Arc):
            pts += _arc_points(cur, s.mid, s.end)
        cur = s.end
    if pts[-1] != pts[0]:
        pts.append(pts[0])
    # a zero-length step would make its two neighbours touch
    return [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]


def _segments_cross(p, q, r, s) -> bool:
    """Proper crossing of segments pq and rs. Touching does not count: loops that touch
    (a hole tangent to an edge) are mostly valid, and counting them flagged 4x more valid
    programs on the val predictions of the committed model."""
    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return 0 if abs(v) < 1e-12 else (1 if v > 0 else -1)
    o1, o2, o3, o4 = orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q)
    return o1 * o2 < 0 and o3 * o4 < 0


def _polylines_cross(a: list, b: list | None = None) -> bool:
    """Whether polyline a crosses itself (b None) or crosses polyline b."""
    A = np.array(a)
    segs_a = list(zip(A[:-1], A[1:]))
    segs_b = segs_a if b is None else list(zip(np.array(b)[:-1], np.array(b)[1:]))
    for i, (p, q) in enumerate(segs_a):
        lo_a, hi_a = np.minimum(p, q), np.maximum(p, q)
        for j, (r, s) in enumerate(segs_b):
            if b is None and (j <= i + 1 or (i == 0 and j == len(segs_a) - 1)):
                continue  # a segment and its neighbours share end points
            if (np.maximum(r, s) < lo_a).any() or (np.minimum(r, s) > hi_a).any():
                continue
            if _segments_cross(p, q, r, s):
                return True
    return False


def has_crossing_loops(program: Program) -> bool:
    for body in program.bodies:
        lines = [loop_polyline(lp) for lp in body.loops]
        for i, a in enumerate(lines):
            if _polylines_cross(a) or any(_polylines_cross(a, b) for b in lines[i + 1:]):
                return True
    return False


def score(code: str, target_lo, target_hi) -> float:
    """Lower is better (see the module doc); without a target box only validity counts."""
    try:
        program = from_code(code)
    except ValueError:
        return BAD
    if has_crossing_loops(program):
        return BAD
    if target_lo is None:
        return 0.0
    lo, hi = program.bounds_hint()
    return sum(abs(math.log(s)) for s in axis_scales(lo, hi, target_lo, target_hi))


def pick(codes: list[str], target_lo, target_hi) -> int:
    """Index of the best candidate (the first of equals)."""
    scores = [score(c, target_lo, target_hi) for c in codes]
    return int(np.argmin(scores))
