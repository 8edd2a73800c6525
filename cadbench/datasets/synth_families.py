"""Procedural part families for the `synth` dataset: each turns a numpy Generator into a
`Program` (the GenCAD-Code IR) and the parameters that made it.

Conventions borrowed from GenCAD-Code: each sketch's plane origin sits at the sketch's
lower-left corner, loop coordinates are local and mostly >= 0, rectangles start at (w, 0)
and run counter-clockwise to (0, 0) before `close()`; lengths and origins are multiples of
1/128; arc midpoints are rounded to 4 decimals (they rarely fall on the grid). After building,
the whole part is moved (on the grid) to a random place inside the +-0.75 cube. The dataset
(synth.py) then moves it once more, off the grid, to the canonical depth along the view.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np

from ..program import (Arc, Body, CircleLoop, Line, PathLoop, Plane, Program, snap,
                       stadium_loop, stadium_points)

EXTENT = 0.75
MIN = 1.0 / 32.0  # smallest wall / feature we generate (4 grid steps)

Family = Callable[[np.random.Generator], tuple[Program, dict]]


# ----------------------------------------------------------------------------- helpers

def u(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Uniform on the 1/128 grid inside [lo, hi] (lo when the range is empty)."""
    return snap(float(rng.uniform(lo, max(lo, hi))))


def _m(x: float) -> float:
    return round(float(x), 4) + 0.0


def rect(x0: float, y0: float, w: float, h: float) -> PathLoop:
    return PathLoop((snap(x0 + w), snap(y0)), (Line((snap(x0 + w), snap(y0 + h))),
                                              Line((snap(x0), snap(y0 + h))),
                                              Line((snap(x0), snap(y0)))))


def polygon(points) -> PathLoop:
    pts = [(snap(x), snap(y)) for x, y in points]
    return PathLoop(pts[0], tuple(Line(p) for p in pts[1:]))


def circle(cx: float, cy: float, r: float) -> CircleLoop:
    return CircleLoop((snap(cx), snap(cy)), snap(r))


def _arc_mid(cx, cy, r, a0, a1) -> tuple[float, float]:
    a = (a0 + a1) / 2
    return (_m(cx + r * math.cos(a)), _m(cy + r * math.sin(a)))


def rounded_rect(x0: float, y0: float, w: float, h: float, r: float) -> PathLoop:
    """Rectangle with quarter-circle corners (lines + threePointArc)."""
    x1, y1 = x0 + w, y0 + h
    segs = [Line((snap(x1 - r), snap(y0))),
            Arc(_arc_mid(x1 - r, y0 + r, r, -math.pi / 2, 0), (snap(x1), snap(y0 + r))),
            Line((snap(x1), snap(y1 - r))),
            Arc(_arc_mid(x1 - r, y1 - r, r, 0, math.pi / 2), (snap(x1 - r), snap(y1))),
            Line((snap(x0 + r), snap(y1))),
            Arc(_arc_mid(x0 + r, y1 - r, r, math.pi / 2, math.pi), (snap(x0), snap(y1 - r))),
            Line((snap(x0), snap(y0 + r))),
            Arc(_arc_mid(x0 + r, y0 + r, r, math.pi, 1.5 * math.pi), (snap(x0 + r), snap(y0)))]
    return PathLoop((snap(x0 + r), snap(y0)), tuple(segs))


def slot(cx: float, cy: float, length: float, r: float, vertical: bool = False) -> PathLoop:
    """Stadium: two semicircles joined by straight sides; `length` between arc centres."""
    pts = stadium_points(cx, cy, length, r, vertical)
    # line ends on the 1/128 grid, arc middles rounded finely (they are off-grid by nature)
    s = [(snap(x), snap(y)) for x, y in pts[:2]] + [(_m(pts[2][0]), _m(pts[2][1]))] + \
        [(snap(x), snap(y)) for x, y in pts[3:5]] + [(_m(pts[5][0]), _m(pts[5][1]))]
    return stadium_loop(s)


def regular_polygon(cx: float, cy: float, r: float, n: int, phase: float = 0.0) -> PathLoop:
    pts = [(cx + r * math.cos(phase + 2 * math.pi * k / n),
            cy + r * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]
    return PathLoop((_m(pts[0][0]), _m(pts[0][1])),
                    tuple(Line((_m(x), _m(y))) for x, y in pts[1:]))


def plane(kind: str, origin=(0.0, 0.0, 0.0)) -> Plane:
    return {"xy": Plane.xy, "xz": Plane.xz, "yz": Plane.yz}[kind](origin)


def pick_plane(rng: np.random.Generator) -> str:
    """The three principal planes, XY most often (as in GenCAD-Code)."""
    return str(rng.choice(["xy", "xz", "yz"], p=[0.55, 0.25, 0.20]))


def offset_plane(kind: str, du: float, dv: float, dn: float) -> Plane:
    """A plane of `kind` whose origin is at local (du, dv) and height dn along the normal."""
    p = plane(kind)
    w = p.to_world((du, dv))
    n = p.normal
    return plane(kind, tuple(snap(w[i] + dn * n[i]) for i in range(3)))


def place(program: Program, rng: np.random.Generator) -> tuple[Program, tuple]:
    """Move every body by one grid vector so the part sits at a random spot in the cube."""
    lo, hi = program.bounds_hint()
    shift = []
    for i in range(3):
        size = hi[i] - lo[i]
        slack = max(0.0, 2 * EXTENT - size - 2 * MIN)
        target_lo = -EXTENT + MIN + float(rng.uniform(0, slack)) if slack > 0 else -size / 2
        # Half the parts stay centred (as many GenCAD parts are) on that axis.
        if rng.random() < 0.5:
            target_lo = -size / 2
        shift.append(snap(target_lo - lo[i]))
    bodies = tuple(replace(b, plane=replace(
        b.plane, origin=tuple(snap(b.plane.origin[i] + shift[i]) for i in range(3))))
        for b in program.bodies)
    return Program(bodies), tuple(shift)


def _body(kind: str, loops, d: float, op: str = "union", both: bool = False,
          at=(0.0, 0.0, 0.0)) -> Body:
    return Body(offset_plane(kind, *at), tuple(loops), snap(d), both, op)


def _size(rng: np.random.Generator) -> float:
    """Overall size of a part (its largest sketch dimension). GenCAD-Code normalises most
    parts to a largest extent of 1.5 or 0.75 (measured on the 50 shared programs), so those
    two values come often; the rest is uniform in 0.375 .. 1.5."""
    x = rng.random()
    if x < 0.3:
        return 1.5
    if x < 0.4:
        return 0.75
    return u(rng, 0.375, 1.5)


# ----------------------------------------------------------------------------- families

def plate(rng):
    s = _size(rng)
    w, h = s, u(rng, 0.2, 1.0) * s
    t = u(rng, MIN, 0.5 * s) if rng.random() < 0.6 else u(rng, 0.2 * s, s)
    kind, both = pick_plane(rng), bool(rng.random() < 0.2)
    p = Program.of(_body(kind, [rect(0, 0, w, h)], t / 2 if both else t, both=both))
    return p, dict(w=w, h=h, t=t, plane=kind, both=both)


def plate_holes(rng):
    s = _size(rng)
    w, h = s, max(u(rng, 0.35, 1.0) * s, 0.25)
    t = u(rng, MIN, 0.25 * s)
    nx, ny = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    mx, my = w / (2 * nx), h / (2 * ny)
    r = u(rng, MIN / 2, max(MIN / 2, 0.6 * min(mx, my)))
    r = min(r, snap(0.8 * min(mx, my)))
    loops = [rect(0, 0, w, h)]
    for i in range(nx):
        for j in range(ny):
            loops.append(circle(mx * (2 * i + 1), my * (2 * j + 1), r))
    kind = pick_plane(rng)
    return Program.of(_body(kind, loops, t)), dict(w=w, h=h, t=t, nx=nx, ny=ny, r=r, plane=kind)


def _profile_points(shape: str, w: float, h: float, a: float, b: float):
    if shape == "L":
        return [(w, 0), (w, a), (b, a), (b, h), (0, h), (0, 0)]
    if shape == "T":
        c = (w - b) / 2
        return [(c + b, 0), (c + b, h - a), (w, h - a), (w, h), (0, h), (0, h - a), (c, h - a),
                (c, 0)]
    # U / channel
    return [(w, 0), (w, h), (w - b, h), (w - b, a), (b, a), (b, h), (0, h), (0, 0)]


def profile(rng):
    shape = str(rng.choice(["L", "T", "U"]))
    s = _size(rng)
    w, h = s, u(rng, 0.3, 1.0) * s
    a = u(rng, MIN, 0.4 * h)                     # flange / base thickness
    b = u(rng, MIN, (0.3 if shape == "U" else 0.6) * w)  # web thickness
    length = u(rng, 0.15, 1.0) * 1.5
    kind = pick_plane(rng)
    both = bool(rng.random() < 0.25)
    pts = [(snap(x), snap(y)) for x, y in _profile_points(shape, w, h, a, b)]
    p = Program.of(_body(kind, [polygon(pts)], length / 2 if both else length, both=both))
    return p, dict(shape=shape, w=w, h=h, a=a, b=b, length=length, plane=kind, both=both)


def cylinder(rng):
    r = u(rng, 0.05, 0.75)
    length = u(rng, MIN, 1.5)
    kind = pick_plane(rng)
    both = bool(rng.random() < 0.25)
    p = Program.of(_body(kind, [circle(r, r, r)], length / 2 if both else length, both=both))
    return p, dict(r=r, length=length, plane=kind, both=both)


def tube(rng):
    r = u(rng, 0.1, 0.75)
    ri = u(rng, 0.15 * r, r - MIN)
    length = u(rng, MIN, 1.5)
    kind = pick_plane(rng)
    p = Program.of(_body(kind, [circle(r, r, r), circle(r, r, ri)], length))
    return p, dict(r=r, ri=ri, length=length, plane=kind, ring=length < r)


def flange(rng):
    r = u(rng, 0.3, 0.75)
    bore = u(rng, 0.08 * r, 0.35 * r)
    t = u(rng, MIN, 0.2)
    n = int(rng.choice([3, 4, 5, 6, 8]))
    pcd = snap((bore + r) / 2 + (r - bore) * float(rng.uniform(-0.1, 0.15)))
    hole = u(rng, MIN / 2, max(MIN / 2, min(0.45 * (r - pcd), 0.45 * (pcd - bore),
                                           0.4 * pcd * math.sin(math.pi / n))))
    loops = [circle(r, r, r), circle(r, r, bore)]
    phase = float(rng.choice([0.0, math.pi / n]))
    for k in range(n):
        a = phase + 2 * math.pi * k / n
        loops.append(circle(r + pcd * math.cos(a), r + pcd * math.sin(a), hole))
    kind = pick_plane(rng)
    bodies = [_body(kind, loops, t)]
    hub = bool(rng.random() < 0.6)
    if hub:
        rh = u(rng, bore + MIN, max(bore + MIN, pcd - hole - MIN))
        hh = u(rng, MIN, 0.5)
        bodies.append(_body(kind, [circle(rh, rh, rh), circle(rh, rh, bore)], hh,
                            at=(r - rh, r - rh, t)))
    p = Program.of(*bodies)
    return p, dict(r=r, bore=bore, t=t, n=n, pcd=pcd, hole=hole, hub=hub, plane=kind)


def stepped_shaft(rng):
    n = int(rng.integers(2, 5))
    kind = pick_plane(rng)
    total = u(rng, 0.6, 1.5)
    radii = sorted((u(rng, 0.04, 0.45) for _ in range(n)), reverse=bool(rng.random() < 0.7))
    cuts = np.sort(rng.uniform(0, 1, n - 1))
    lengths = np.diff(np.concatenate([[0.0], cuts, [1.0]])) * total
    lengths = [max(MIN, snap(x)) for x in lengths]
    R = max(radii)
    bodies, z = [], 0.0
    for r, L in zip(radii, lengths):
        bodies.append(_body(kind, [circle(r, r, r)], L, at=(R - r, R - r, z)))
        z += L
    return Program.of(*bodies), dict(n=n, radii=radii, lengths=lengths, plane=kind)


def bracket(rng):
    """L-shaped angle bracket with holes drilled through both legs."""
    s = _size(rng)
    w, h = s, u(rng, 0.4, 1.0) * s
    t = u(rng, MIN, 0.15 * s)
    depth = u(rng, 0.25, 1.0) * s
    kind = str(rng.choice(["xz", "yz"]))  # profile stands up; holes go through the legs
    pts = [(w, 0), (w, t), (t, t), (t, h), (0, h), (0, 0)]
    bodies = [_body(kind, [polygon(pts)], depth)]
    r = u(rng, MIN / 2, max(MIN / 2, min(0.3 * depth, 0.25 * (w - t))))
    # Hole through the base leg: a circle on XY at the bottom, cut up through thickness t.
    if kind == "xz":   # profile local (u, v) = (x, z), extruded to -y over [-depth, 0]
        base_hole = Body(Plane.xy((0.0, snap(-depth), 0.0)),
                         (circle((w + t) / 2, depth / 2, r),), t, op="cut")
    else:              # "yz": local (u, v) = (y, z), extruded to +x over [0, depth]
        base_hole = Body(Plane.xy((0.0, 0.0, 0.0)),
                         (circle(depth / 2, (w + t) / 2, r),), t, op="cut")
    bodies.append(base_hole)
    if rng.random() < 0.7 and h - t > 4 * r:
        # And one through the upright leg, sketched on the plane perpendicular to it.
        if kind == "xz":   # leg spans x in [0, t]: sketch on YZ, extrude +x
            up = Body(Plane.yz((0.0, snap(-depth), 0.0)),
                      (circle(depth / 2, (h + t) / 2, r),), t, op="cut")
        else:              # leg spans y in [0, t]: sketch on XZ at y = t, extrude -y
            up = Body(Plane.xz((0.0, snap(t), 0.0)),
                      (circle(depth / 2, (h + t) / 2, r),), t, op="cut")
        bodies.append(up)
    return Program.of(*bodies), dict(w=w, h=h, t=t, depth=depth, r=r, plane=kind,
                                     n_holes=len(bodies) - 1)


def polygon_nut(rng):
    n = int(rng.choice([6, 6, 6, 5, 8, 3, 4]))
    r = u(rng, 0.15, 0.75)
    t = u(rng, MIN, 0.6)
    hole = bool(rng.random() < 0.75)
    loops = [regular_polygon(r, r, r, n, phase=float(rng.choice([0.0, math.pi / n])))]
    rh = 0.0
    if hole:
        rh = u(rng, 0.15 * r, 0.6 * r * math.cos(math.pi / n))
        loops.append(circle(r, r, rh))
    kind = pick_plane(rng)
    return Program.of(_body(kind, loops, t)), dict(n=n, r=r, t=t, hole_r=rh, plane=kind)


def rounded_plate(rng):
    s = _size(rng)
    w, h = s, max(u(rng, 0.3, 1.0) * s, 0.125)
    rc = u(rng, MIN, 0.45 * min(w, h))
    t = u(rng, MIN, 0.3 * s)
    loops = [rounded_rect(0, 0, w, h, rc)]
    n_slots = int(rng.integers(0, 3))
    for k in range(n_slots):
        sr = u(rng, MIN / 2, 0.12 * h)
        cx = w * (k + 1) / (n_slots + 1)
        sl = snap(min(0.5 * h - 2 * sr, 0.5 * h) if h > 4 * sr else 0.0)
        if sl <= 0 or w / (n_slots + 1) < 3 * sr:
            continue
        loops.append(slot(cx, h / 2, sl, sr, vertical=True))
    kind = pick_plane(rng)
    return Program.of(_body(kind, loops, t)), dict(w=w, h=h, corner_r=rc, t=t,
                                                   n_slots=len(loops) - 1, plane=kind)


def slot_plate(rng):
    """A bar with a slotted cut made by a second sketch (a cut body)."""
    s = _size(rng)
    w, h = s, max(u(rng, 0.25, 0.6) * s, 0.125)
    t = u(rng, MIN, 0.3 * s)
    kind = pick_plane(rng)
    rr = u(rng, MIN / 2, 0.3 * h)
    length = u(rng, MIN, max(MIN, w - 2 * rr - 4 * MIN))
    cut = slot(w / 2, h / 2, length, rr)
    bodies = [_body(kind, [rect(0, 0, w, h)], t),
              _body(kind, [cut], t, op="cut")]
    return Program.of(*bodies), dict(w=w, h=h, t=t, slot_r=rr, slot_len=length, plane=kind)


def block_boss_pocket(rng):
    """Multi-body: a block, a cylindrical boss unioned on top, a rectangular pocket cut."""
    s = _size(rng)
    w, h = s, u(rng, 0.4, 1.0) * s
    t = u(rng, 0.1 * s, 0.4 * s)
    kind = pick_plane(rng)
    bodies = [_body(kind, [rect(0, 0, w, h)], t)]
    rb = u(rng, MIN, 0.3 * min(w, h))
    cx, cy = u(rng, rb, w - rb), u(rng, rb, h - rb)
    hb = u(rng, MIN, 0.5)
    bodies.append(_body(kind, [circle(rb, rb, rb)], hb, at=(cx - rb, cy - rb, t)))
    if rng.random() < 0.7:
        pw, ph = u(rng, MIN, 0.4 * w), u(rng, MIN, 0.4 * h)
        px, py = u(rng, 0, w - pw), u(rng, 0, h - ph)
        depth = u(rng, MIN, t)
        bodies.append(_body(kind, [rect(0, 0, pw, ph)], -depth, op="cut", at=(px, py, t)))
    return Program.of(*bodies), dict(w=w, h=h, t=t, boss_r=rb, boss_h=hb, plane=kind,
                                     pocket=len(bodies) == 3)


def cross_union(rng):
    """Two extrusions on different principal planes unioned (and optionally a cut across)."""
    a, b = str(rng.choice(["xy", "xz", "yz"])), None
    b = str(rng.choice([k for k in ("xy", "xz", "yz") if k != a]))
    s = _size(rng)
    w1, h1, d1 = s, u(rng, 0.15, 0.6) * s, u(rng, 0.1, 0.5) * s
    w2, h2, d2 = u(rng, 0.2, 0.6) * s, u(rng, 0.3, 1.0) * s, u(rng, 0.1, 0.5) * s
    bodies = [_body(a, [rect(0, 0, w1, h1)], d1, both=True),
              _body(b, [rect(0, 0, w2, h2)], d2, both=True)]
    if rng.random() < 0.4:
        rc = u(rng, MIN, 0.3 * min(w1, h1))
        bodies.append(_body(a, [circle(rc, rc, rc)], d1, op="cut", both=True))
    return Program.of(*bodies), dict(planes=[a, b], w1=w1, h1=h1, d1=d1, w2=w2, h2=h2,
                                     d2=d2, n_bodies=len(bodies))


def two_sided(rng):
    """DeepCAD's two-extent extrusion: one sketch extruded by different amounts each side."""
    s = _size(rng)
    kind = pick_plane(rng)
    if rng.random() < 0.5:
        loop, desc = rect(0, 0, s, u(rng, 0.2, 1.0) * s), "rect"
    else:
        r = snap(s / 2)
        loop, desc = circle(r, r, r), "circle"
    d1, d2 = u(rng, MIN, 0.75), u(rng, MIN, 0.75)
    body = Body(plane(kind), (loop,), d1, False, "new", second_distance=-d2)
    return Program((body,)), dict(shape=desc, size=s, d1=d1, d2=d2, plane=kind)


FAMILIES: dict[str, Family] = {
    "plate": plate,
    "plate_holes": plate_holes,
    "profile": profile,
    "cylinder": cylinder,
    "tube": tube,
    "flange": flange,
    "stepped_shaft": stepped_shaft,
    "bracket": bracket,
    "polygon_nut": polygon_nut,
    "rounded_plate": rounded_plate,
    "slot_plate": slot_plate,
    "block_boss_pocket": block_boss_pocket,
    "cross_union": cross_union,
    "two_sided": two_sided,
}
# Relative frequency of each family in the stream of candidates.
WEIGHTS: dict[str, float] = {
    "plate": 1.0, "plate_holes": 1.2, "profile": 1.0, "cylinder": 0.8, "tube": 0.8,
    "flange": 1.0, "stepped_shaft": 0.8, "bracket": 1.0, "polygon_nut": 0.8,
    "rounded_plate": 1.0, "slot_plate": 0.8, "block_boss_pocket": 1.0, "cross_union": 0.8,
    "two_sided": 0.5,
}


def generate_candidate(seed: int, index: int) -> tuple[str, Program, dict]:
    """Candidate `index` of the stream for `seed`: (family, placed program, params)."""
    rng = np.random.default_rng([seed, index])
    names = list(FAMILIES)
    w = np.array([WEIGHTS[n] for n in names])
    family = names[int(rng.choice(len(names), p=w / w.sum()))]
    program, params = FAMILIES[family](rng)
    program, shift = place(program, rng)
    params = {k: _jsonable(v) for k, v in params.items()}
    params["shift"] = list(shift)
    return family, program, params


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v
