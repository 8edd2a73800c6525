"""Fit a generated program to a predicted bounding box (`--opt box_fit`).

The decoder writes a part's shape well before it writes its numbers precisely: on the synth
test split its pose-invariant IoU is close to the retrieval baseline's while its IoU in the
dataset frame is far below (position and size are off). The encoder's box head
(`train.GeometryHead`) regresses the part's box from the image directly; this module moves
and scales the decoded program so that its box becomes the predicted one.

The map is per-axis: world point w -> lo' + s * (w - lo), s = (hi' - lo') / (hi - lo). For a
sketch on an axis-aligned plane (all synth planes, most GenCAD ones) that is exact for lines
and extrusion distances; a circle keeps a circle (radius times the geometric mean of its two
in-plane scales) and a threePointArc still passes through its three moved points. A body on
a tilted plane is scaled uniformly (the geometric mean of the three scales) about its mapped
origin, so it stays the same shape.
"""

from __future__ import annotations

import math
from dataclasses import replace

from cadbench.program import Arc, Body, CircleLoop, Line, PathLoop, Plane, Program, from_code

Vec3 = tuple[float, float, float]
AXIS_TOL = 1e-6        # a unit vector within this of a world axis is that axis
MIN_EXTENT = 1e-3      # a box side shorter than this is not rescaled (scale 1 on that axis)
MAX_SCALE = 4.0        # scales are clamped to [1/MAX_SCALE, MAX_SCALE]: a box head's outlier
                       # should not blow a part up or flatten it


def _axis(v: Vec3) -> int | None:
    """The world axis a unit vector lies on (either sign), None when it is tilted."""
    k = max(range(3), key=lambda i: abs(v[i]))
    others = [abs(v[i]) for i in range(3) if i != k]
    return k if max(others) < AXIS_TOL else None


def axis_scales(lo: Vec3, hi: Vec3, target_lo: Vec3, target_hi: Vec3) -> Vec3:
    out = []
    for i in range(3):
        have, want = hi[i] - lo[i], target_hi[i] - target_lo[i]
        s = want / have if have > MIN_EXTENT and want > MIN_EXTENT else 1.0
        out.append(min(MAX_SCALE, max(1.0 / MAX_SCALE, s)))
    return tuple(out)


def _r(x: float) -> float:
    """Fitted numbers are rounded to 1e-6: exact enough, and the program stays readable."""
    return round(x, 6) + 0.0


def _scale_loop(loop, sx: float, sy: float):
    def pt(p):
        return (_r(p[0] * sx), _r(p[1] * sy))

    if isinstance(loop, CircleLoop):
        return CircleLoop(pt(loop.center), _r(loop.radius * math.sqrt(sx * sy)))
    segments = tuple(Line(pt(s.end)) if isinstance(s, Line) else Arc(pt(s.mid), pt(s.end))
                     for s in loop.segments)
    return PathLoop(None if loop.start is None else pt(loop.start), segments)


def _fit_body(body: Body, lo: Vec3, target_lo: Vec3, s: Vec3) -> Body:
    plane = body.plane
    origin = tuple(_r(target_lo[i] + s[i] * (plane.origin[i] - lo[i])) for i in range(3))
    ax_x, ax_y, ax_n = _axis(plane.x_dir), _axis(plane.y_dir()), _axis(plane.normal)
    if None in (ax_x, ax_y, ax_n):
        g = (s[0] * s[1] * s[2]) ** (1.0 / 3.0)
        sx = sy = sn = g
    else:
        sx, sy, sn = s[ax_x], s[ax_y], s[ax_n]
    second = None if body.second_distance is None else _r(body.second_distance * sn)
    return replace(body, plane=Plane(origin, plane.x_dir, plane.normal),
                   loops=tuple(_scale_loop(lp, sx, sy) for lp in body.loops),
                   distance=_r(body.distance * sn), second_distance=second)


def fit_to_box(program: Program, target_lo: Vec3, target_hi: Vec3) -> Program:
    """`program` moved and scaled per axis so that its `bounds_hint` box is the target's."""
    lo, hi = program.bounds_hint()
    s = axis_scales(lo, hi, target_lo, target_hi)
    return Program(tuple(_fit_body(b, lo, target_lo, s) for b in program.bodies))


def fit_code(code: str, target_lo: Vec3, target_hi: Vec3) -> str | None:
    """The program text fitted to the box, or None when `cadbench.program` cannot read it
    (then the caller keeps the text as generated: it will fail or pass on its own)."""
    try:
        program = from_code(code)
        fitted = fit_to_box(program, tuple(map(float, target_lo)), tuple(map(float, target_hi)))
        return fitted.to_code()
    except ValueError:  # ProgramParseError, or a program the IR refuses (no loop, nan, ...)
        return None
