"""The simple model's output representation: a fixed-length token sequence that always decodes
to a valid GenCAD-Code program.

A program is described by up to `N_BODIES` body slots of `FIELDS` tokens each:

    op      none | union | cut           (slot 0 is always union: the first body is `new`)
    plane   xy | xz | yz                 (sketch plane; the extrusion runs along its normal)
    shape   the outer loop: rect, circle, L, T, U, rrect (rounded rect), slot (stadium),
            ngon3..ngon8 (regular polygons, `r` = rotated by pi/n)
    x0 x1 y0 y1 z0 z1   the body's world bounding box, on the 1/128 grid (what an image shows)
    p1 p2   shape fractions in [0, 1] (1/64 steps): circle/ngon centre bore, L/T/U flange and
            web thickness, rrect corner radius
    holes   none | gridNxM | boltN[r] | vslotK: a pattern of inner loops cut through the body
    h1 h2   hole fractions: hole radius, bolt-circle radius

Every position has a type and only the tokens of that type are allowed there, so a decoded
sequence is always well-formed; `specs_to_program` then repairs what the numbers can still get
wrong (empty boxes, bores larger than the part, holes that cross edges, cuts that would remove
everything) and counts each repair. The sketch is written in the plane's canonical local frame
with its origin at the bounding box's corner, exactly as GenCAD-Code writes sketches.

`encode_program` maps any IR program to this representation: exactly (up to the grids) for
the shapes above on principal planes, else approximately (unknown loops become their bounding
rectangle, unrecognised holes are dropped, bodies past N_BODIES are dropped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cadbench.program import (Arc, Body, CircleLoop, Line, PathLoop, Plane, Program,
                              stadium_loop, stadium_points)

N_BODIES = 4
FIELDS = ("op", "plane", "shape", "x0", "x1", "y0", "y1", "z0", "z1", "p1", "p2",
          "holes", "h1", "h2")
SEQ_LEN = N_BODIES * len(FIELDS)

COORD_STEP = 1.0 / 128.0
COORD_MAX = 0.875                      # the synth parts live in +-0.75; a margin for others
N_COORD = int(round(2 * COORD_MAX / COORD_STEP)) + 1   # 225 grid values
N_FRAC = 65                            # fractions k/64, k = 0..64
MIN_SIZE = 2 * COORD_STEP              # the smallest box side a repair leaves

OPS = ("none", "union", "cut")
PLANES = ("xy", "xz", "yz")
NGONS = (3, 4, 5, 6, 8)
SHAPES = ("rect", "circle", "L", "T", "U", "rrect", "slot") + tuple(
    f"ngon{n}{r}" for n in NGONS for r in ("", "r"))
GRIDS = tuple((nx, ny) for ny in (1, 2) for nx in (1, 2, 3))
HOLES = ("none",) + tuple(f"grid{nx}x{ny}" for nx, ny in GRIDS) + tuple(
    f"bolt{n}{r}" for n in NGONS for r in ("", "r")) + ("vslot1", "vslot2")

# Token types and their values, in vocabulary order.
TYPE_VALUES: dict[str, tuple[str, ...]] = {
    "op": OPS,
    "plane": PLANES,
    "shape": SHAPES,
    "coord": tuple(f"{-COORD_MAX + i * COORD_STEP:+.7f}" for i in range(N_COORD)),
    "frac": tuple(f"{k}/64" for k in range(N_FRAC)),
    "holes": HOLES,
}
FIELD_TYPE = {"op": "op", "plane": "plane", "shape": "shape", "p1": "frac", "p2": "frac",
              "holes": "holes", "h1": "frac", "h2": "frac",
              **{c: "coord" for c in ("x0", "x1", "y0", "y1", "z0", "z1")}}
NUMERIC_TYPES = ("coord", "frac")

# The global vocabulary: "type:value" strings; each type is one contiguous id range.
VOCAB: tuple[str, ...] = tuple(f"{t}:{v}" for t, vals in TYPE_VALUES.items() for v in vals)
TYPE_RANGE: dict[str, tuple[int, int]] = {}
_start = 0
for _t, _vals in TYPE_VALUES.items():
    TYPE_RANGE[_t] = (_start, _start + len(_vals))
    _start += len(_vals)
VOCAB_SIZE = len(VOCAB)


def position_types() -> list[str]:
    """The token type of every position of the sequence."""
    return [FIELD_TYPE[f] for _ in range(N_BODIES) for f in FIELDS]


def allowed_mask() -> np.ndarray:
    """(SEQ_LEN, VOCAB_SIZE) bool: the tokens each position may hold (slot 0 must be union)."""
    mask = np.zeros((SEQ_LEN, VOCAB_SIZE), dtype=bool)
    for pos, t in enumerate(position_types()):
        lo, hi = TYPE_RANGE[t]
        mask[pos, lo:hi] = True
    u = TYPE_RANGE["op"][0] + OPS.index("union")
    mask[0, :] = False
    mask[0, u] = True
    return mask


# ----------------------------------------------------------------------------- body specs

@dataclass(frozen=True)
class BodySpec:
    """One body slot, decoded (numbers in world units / fractions)."""
    op: str                      # "union" or "cut" (the first body is written as `new`)
    plane: str                   # "xy", "xz", "yz"
    shape: str
    box: tuple[float, float, float, float, float, float]  # x0, x1, y0, y1, z0, z1
    p1: float = 0.0
    p2: float = 0.0
    holes: str = "none"
    h1: float = 0.0
    h2: float = 0.0


# (u axis, v axis, normal axis, normal sign) of each canonical sketch plane
PLANE_AXES = {"xy": (0, 1, 2, 1.0), "xz": (0, 2, 1, -1.0), "yz": (1, 2, 0, 1.0)}
PLANE_CTOR = {"xy": Plane.xy, "xz": Plane.xz, "yz": Plane.yz}


def quant_coord(x: float) -> int:
    return int(np.clip(round((x + COORD_MAX) / COORD_STEP), 0, N_COORD - 1))


def coord_value(i: int) -> float:
    return -COORD_MAX + i * COORD_STEP


def quant_frac(x: float) -> int:
    return int(np.clip(round(x * (N_FRAC - 1)), 0, N_FRAC - 1))


def frac_value(k: int) -> float:
    return k / (N_FRAC - 1)


def specs_to_tokens(specs: list[BodySpec]) -> list[int]:
    """Body specs (at most N_BODIES; the first one is the base) -> SEQ_LEN token ids."""
    if not specs:
        raise ValueError("a token sequence needs at least one body")
    ids: list[int] = []
    for k in range(N_BODIES):
        s = specs[k] if k < len(specs) else None
        for f in FIELDS:
            t = FIELD_TYPE[f]
            lo = TYPE_RANGE[t][0]
            if s is None:
                ids.append(lo)  # op "none"; the other fields of an empty slot are ignored
                continue
            if f == "op":
                ids.append(lo + OPS.index("union" if k == 0 else s.op))
            elif f == "plane":
                ids.append(lo + PLANES.index(s.plane))
            elif f == "shape":
                ids.append(lo + SHAPES.index(s.shape))
            elif f == "holes":
                ids.append(lo + HOLES.index(s.holes))
            elif t == "coord":
                ids.append(lo + quant_coord(s.box[("x0", "x1", "y0", "y1", "z0", "z1").index(f)]))
            else:
                ids.append(lo + quant_frac(getattr(s, f)))
    return ids


def tokens_to_specs(ids) -> list[BodySpec]:
    """SEQ_LEN token ids -> body specs (empty slots skipped). Raises on ill-typed ids."""
    ids = [int(i) for i in ids]
    if len(ids) != SEQ_LEN:
        raise ValueError(f"expected {SEQ_LEN} tokens, got {len(ids)}")
    types = position_types()
    for pos, (i, t) in enumerate(zip(ids, types)):
        lo, hi = TYPE_RANGE[t]
        if not lo <= i < hi:
            raise ValueError(f"token {i} at position {pos} is not of type {t}")
    specs = []
    nf = len(FIELDS)
    for k in range(N_BODIES):
        vals = {f: ids[k * nf + j] - TYPE_RANGE[FIELD_TYPE[f]][0] for j, f in enumerate(FIELDS)}
        op = "union" if k == 0 else OPS[vals["op"]]
        if op == "none":
            continue
        box = tuple(coord_value(vals[c]) for c in ("x0", "x1", "y0", "y1", "z0", "z1"))
        specs.append(BodySpec(op, PLANES[vals["plane"]], SHAPES[vals["shape"]], box,  # type: ignore[arg-type]
                              frac_value(vals["p1"]), frac_value(vals["p2"]),
                              HOLES[vals["holes"]], frac_value(vals["h1"]),
                              frac_value(vals["h2"])))
    return specs


# ----------------------------------------------------------------------------- decoding

@dataclass
class Repairs:
    """What the detokenizer had to fix (counts, by kind)."""
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.counts)


def _r6(x: float) -> float:
    # No rounding: grid values are exact binary fractions, and rounding them would leave
    # near-coincident faces (slivers) between bodies that should share a face.
    return float(x) + 0.0


def _rect(w: float, h: float) -> PathLoop:
    return _poly([(w, 0.0), (w, h), (0.0, h), (0.0, 0.0)])


def _poly(pts) -> PathLoop:
    p = [(_r6(x), _r6(y)) for x, y in pts]
    return PathLoop(p[0], tuple(Line(q) for q in p[1:]))


def _circle(cx: float, cy: float, r: float) -> CircleLoop:
    return CircleLoop((_r6(cx), _r6(cy)), _r6(r))


def _arc_mid(cx, cy, r, a0, a1):
    a = (a0 + a1) / 2
    return (_r6(cx + r * math.cos(a)), _r6(cy + r * math.sin(a)))


def _rounded_rect(w: float, h: float, r: float) -> PathLoop:
    P = _r6
    segs = (Line((P(w - r), 0.0)),
            Arc(_arc_mid(w - r, r, r, -math.pi / 2, 0), (P(w), P(r))),
            Line((P(w), P(h - r))),
            Arc(_arc_mid(w - r, h - r, r, 0, math.pi / 2), (P(w - r), P(h))),
            Line((P(r), P(h))),
            Arc(_arc_mid(r, h - r, r, math.pi / 2, math.pi), (0.0, P(h - r))),
            Line((0.0, P(r))),
            Arc(_arc_mid(r, r, r, math.pi, 1.5 * math.pi), (P(r), 0.0)))
    return PathLoop((P(r), 0.0), segs)


def _stadium(cx: float, cy: float, length: float, r: float, vertical: bool) -> PathLoop:
    """Two semicircles of radius r whose centres are `length` apart, joined by lines."""
    return stadium_loop([(_r6(x), _r6(y)) for x, y in stadium_points(cx, cy, length, r,
                                                                        vertical)])


def _ngon_unit(n: int, rotated: bool) -> np.ndarray:
    phase = math.pi / n if rotated else 0.0
    a = phase + 2 * math.pi * np.arange(n) / n
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def _ngon_fit(n: int, rotated: bool, w: float, h: float):
    """Regular n-gon stretched onto [0, w] x [0, h]: (vertices, centre, inscribed radius)."""
    pts = _ngon_unit(n, rotated)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scale = np.array([w, h]) / (hi - lo)
    out = (pts - lo) * scale
    centre = -lo * scale
    # distance from the centre to each edge (the polygon may be stretched)
    d = []
    for i in range(n):
        a, b = out[i], out[(i + 1) % n]
        e = b - a
        d.append(abs(e[0] * (centre[1] - a[1]) - e[1] * (centre[0] - a[0])) / np.hypot(*e))
    return out, centre, float(min(d))


def _profile_points(shape: str, w: float, h: float, a: float, b: float):
    if shape == "L":
        return [(w, 0), (w, a), (b, a), (b, h), (0, h), (0, 0)]
    if shape == "T":
        c = (w - b) / 2
        return [(c + b, 0), (c + b, h - a), (w, h - a), (w, h), (0, h), (0, h - a),
                (c, h - a), (c, 0)]
    return [(w, 0), (w, h), (w - b, h), (w - b, a), (b, a), (b, h), (0, h), (0, 0)]  # U


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _fix_box(box, repairs: Repairs):
    out = list(box)
    for i in (0, 2, 4):
        lo, hi = out[i], out[i + 1]
        if hi < lo:
            lo, hi = hi, lo
            repairs.add("box_swapped")
        if hi - lo < MIN_SIZE:
            mid = (lo + hi) / 2
            lo, hi = mid - MIN_SIZE / 2, mid + MIN_SIZE / 2
            repairs.add("box_widened")
        out[i], out[i + 1] = lo, hi
    return tuple(out)


def _outer_loop(s: BodySpec, w: float, h: float, repairs: Repairs):
    """(outer loop, the centre a bore would have or None, the room around that centre)."""
    m = min(w, h)
    if s.shape == "rect":
        return _rect(w, h), None, 0.0
    if s.shape == "circle":
        if abs(w - h) > 1e-9:
            repairs.add("circle_in_non_square_box")
        return _circle(w / 2, h / 2, m / 2), (w / 2, h / 2), m / 2
    if s.shape in ("L", "T", "U"):
        # flange thickness a (along v) and web thickness b (along u), kept inside the box
        a = _clamp(s.p1 * h, COORD_STEP, h - COORD_STEP)
        b_max = (w / 2 - COORD_STEP) if s.shape == "U" else (w - COORD_STEP)
        b = _clamp(s.p2 * w, COORD_STEP, b_max)
        if (a, b) != (s.p1 * h, s.p2 * w):
            repairs.add("profile_thickness_clamped")
        return _poly(_profile_points(s.shape, w, h, a, b)), None, 0.0
    if s.shape == "rrect":
        r = _clamp(s.p1 * m / 2, COORD_STEP / 2, 0.45 * m)
        if r != s.p1 * m / 2:
            repairs.add("corner_radius_clamped")
        return _rounded_rect(w, h, r), None, 0.0
    if s.shape == "slot":
        r = m / 2
        if abs(w - h) < 1e-9:   # a stadium of zero length is a circle
            return _circle(w / 2, h / 2, r), (w / 2, h / 2), r
        vertical = h > w
        return _stadium(w / 2, h / 2, abs(w - h), r, vertical), None, 0.0
    n = int(s.shape[4])
    pts, centre, inner = _ngon_fit(n, s.shape.endswith("r"), w, h)
    return _poly([tuple(p) for p in pts]), (float(centre[0]), float(centre[1])), inner


def _inner_loops(s: BodySpec, w: float, h: float, bore_centre, room: float,
                 repairs: Repairs) -> list:
    loops: list = []
    bore = 0.0
    if bore_centre is not None and s.p1 > 0:
        bore = min(s.p1 * min(w, h) / 2, room - COORD_STEP / 2)
        if bore < COORD_STEP / 2:
            repairs.add("bore_dropped")
            bore = 0.0
        else:
            if bore < s.p1 * min(w, h) / 2:
                repairs.add("bore_clamped")
            loops.append(_circle(bore_centre[0], bore_centre[1], bore))
    if s.holes == "none":
        return loops
    if s.holes.startswith("grid"):
        if s.shape != "rect":
            repairs.add("holes_dropped_for_shape")
            return loops
        nx, ny = int(s.holes[4]), int(s.holes[6])
        cw, ch = w / (2 * nx), h / (2 * ny)
        r = min(s.h1 * min(cw, ch), 0.9 * min(cw, ch))
        if r < COORD_STEP / 2:
            repairs.add("holes_dropped_too_small")
            return loops
        for j in range(ny):
            for i in range(nx):
                loops.append(_circle(cw * (2 * i + 1), ch * (2 * j + 1), r))
        return loops
    if s.holes.startswith("bolt"):
        if s.shape != "circle":
            repairs.add("holes_dropped_for_shape")
            return loops
        n, rotated = int(s.holes[4]), s.holes.endswith("r")
        R = min(w, h) / 2
        pcd = s.h2 * R
        r = s.h1 * R
        # the holes must clear the rim, the bore and each other
        r = min(r, 0.9 * (R - pcd), 0.9 * (pcd - bore), 0.9 * pcd * math.sin(math.pi / n))
        if r < COORD_STEP / 2:
            repairs.add("holes_dropped_too_small")
            return loops
        phase = math.pi / n if rotated else 0.0
        for k in range(n):
            a = phase + 2 * math.pi * k / n
            loops.append(_circle(w / 2 + pcd * math.cos(a), h / 2 + pcd * math.sin(a), r))
        return loops
    # vertical slots across a rect / rounded rect, spread evenly along u
    if s.shape not in ("rect", "rrect"):
        repairs.add("holes_dropped_for_shape")
        return loops
    n = int(s.holes[5])
    sr = min(s.h1 * h / 4, 0.45 * w / (n + 1), 0.24 * h)
    length = h / 2 - 2 * sr
    if sr < COORD_STEP / 2 or length <= 0:
        repairs.add("holes_dropped_too_small")
        return loops
    for k in range(n):
        loops.append(_stadium(w * (k + 1) / (n + 1), h / 2, length, sr, vertical=True))
    return loops


def spec_to_body(s: BodySpec, op: str, repairs: Repairs) -> Body:
    """One body in GenCAD-Code form: a canonical plane whose origin is the box's corner."""
    box = _fix_box(s.box, repairs)
    ui, vi, ni, sign = PLANE_AXES[s.plane]
    u0, u1 = box[2 * ui], box[2 * ui + 1]
    v0, v1 = box[2 * vi], box[2 * vi + 1]
    n0, n1 = box[2 * ni], box[2 * ni + 1]
    w, h, d = u1 - u0, v1 - v0, n1 - n0
    origin = [0.0, 0.0, 0.0]
    origin[ui], origin[vi] = u0, v0
    origin[ni] = n0 if sign > 0 else n1          # extrude along the normal across the box
    outer, centre, room = _outer_loop(s, w, h, repairs)
    loops = [outer] + _inner_loops(s, w, h, centre, room, repairs)
    plane = PLANE_CTOR[s.plane](tuple(_r6(c) for c in origin))
    return Body(plane, tuple(loops), _r6(d), False, op)


def _box_contains(outer, inner) -> bool:
    return all(outer[2 * i] <= inner[2 * i] + 1e-9 and outer[2 * i + 1] >= inner[2 * i + 1] - 1e-9
               for i in range(3))


def _box_union(a, b):
    return tuple(min(a[i], b[i]) if i % 2 == 0 else max(a[i], b[i]) for i in range(6))


def specs_to_program(specs: list[BodySpec]) -> tuple[Program, Repairs]:
    """Body specs -> a Program that runs and yields a solid, with the repairs it took."""
    repairs = Repairs()
    if not specs:
        repairs.add("fallback_box")
        specs = [BodySpec("union", "xy", "rect", (-0.5, 0.5, -0.375, 0.375, -0.125, 0.125))]
    bodies: list[Body] = []
    solid_box = None
    for k, s in enumerate(specs):
        op = "new" if not bodies else s.op
        box = _fix_box(s.box, Repairs())
        if op == "cut" and _box_contains(box, solid_box):
            repairs.add("cut_dropped_covers_all")   # it could leave nothing behind
            continue
        bodies.append(spec_to_body(s, op, repairs))
        if op in ("new", "union"):
            solid_box = box if solid_box is None else _box_union(solid_box, box)
    return Program(tuple(bodies)), repairs


def decode_tokens(ids) -> tuple[str, Repairs]:
    """Token ids -> (GenCAD-Code program text, repairs)."""
    program, repairs = specs_to_program(tokens_to_specs(ids))
    return program.to_code(), repairs


# ----------------------------------------------------------------------------- encoding

TOL = 6e-3  # synth points are snapped to 1/128 (up to 0.0055 off a template)


def _canonical_plane(p: Plane) -> str | None:
    n = np.asarray(p.normal, dtype=float)
    k = int(np.argmax(np.abs(n)))
    if abs(abs(n[k]) - 1.0) > 1e-6:
        return None
    return {2: "xy", 1: "xz", 0: "yz"}[k]


def _world_points(p: Plane, pts) -> np.ndarray:
    return np.array([p.to_world(q) for q in pts], dtype=float)


def _loop_local(loop, p: Plane, ui: int, vi: int):
    """A loop in the canonical frame (u, v) of its plane kind: points or (centre, radius)."""
    if isinstance(loop, CircleLoop):
        c = _world_points(p, [loop.center])[0]
        return ("circle", (c[ui], c[vi]), abs(loop.radius))
    start = loop.start if loop.start is not None else (0.0, 0.0)
    kinds, pts = [], [start]
    for s in loop.segments:
        if isinstance(s, Arc):
            kinds.append("arc")
            pts += [s.mid, s.end]
        else:
            kinds.append("line")
            pts.append(s.end)
    w = _world_points(p, pts)
    return ("path", kinds, np.stack([w[:, ui], w[:, vi]], axis=1))


def _loop_bounds(loc) -> np.ndarray:
    if loc[0] == "circle":
        (cu, cv), r = loc[1], loc[2]
        return np.array([[cu - r, cv - r], [cu + r, cv + r]])
    pts = loc[2]
    return np.stack([pts.min(axis=0), pts.max(axis=0)])


def _same_points(a, b) -> bool:
    """Same set of 2-D points (order-free), within TOL."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return False
    used = np.zeros(len(b), dtype=bool)
    for p in a:
        d = np.hypot(*(b - p).T)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] > TOL:
            return False
        used[j] = True
    return True


def _vertices(kinds, pts) -> np.ndarray:
    """Corner points of an all-line loop (drops a closing point equal to the start)."""
    v = pts
    if len(v) > 1 and np.hypot(*(v[-1] - v[0])) < TOL:
        v = v[:-1]
    return v


def _distinct(values) -> list[float]:
    """Sorted values with those closer than TOL merged."""
    out: list[float] = []
    for x in sorted(float(v) for v in values):
        if not out or x - out[-1] > TOL:
            out.append(x)
    return out


def _recognise_outer(loc, lo, w, h) -> tuple[str, float, float, bool]:
    """(shape, p1, p2, exact) for the outer loop, relative to its box corner `lo`."""
    if loc[0] == "circle":
        return "circle", 0.0, 0.0, abs(w - h) < TOL
    kinds, pts = loc[1], loc[2] - lo
    if all(k == "line" for k in kinds):
        v = _vertices(kinds, pts)
        if _same_points(v, [(w, 0), (w, h), (0, h), (0, 0)]):
            return "rect", 0.0, 0.0, True
        xs = _distinct(x for x in v[:, 0] if min(abs(x), abs(x - w)) > TOL)
        ys = _distinct(y for y in v[:, 1] if min(abs(y), abs(y - h)) > TOL)
        if len(v) == 6 and len(xs) == 1 and len(ys) == 1:
            a, b = ys[0], xs[0]
            if _same_points(v, _profile_points("L", w, h, a, b)):
                return "L", a / h, b / w, True
        if len(v) == 8 and len(ys) == 1 and len(xs) == 2:
            a, b = h - ys[0], xs[1] - xs[0]
            if _same_points(v, _profile_points("T", w, h, a, b)):
                return "T", a / h, b / w, True
            a, b = ys[0], xs[0]
            if _same_points(v, _profile_points("U", w, h, a, b)):
                return "U", a / h, b / w, True
        if len(v) in NGONS:
            for rot in (False, True):
                fit, _, _ = _ngon_fit(len(v), rot, w, h)
                if _same_points(v, fit):
                    return f"ngon{len(v)}{'r' if rot else ''}", 0.0, 0.0, True
        return "rect", 0.0, 0.0, False
    if len(kinds) == 8 and kinds == ["line", "arc"] * 4:
        r = float(pts[0][0])
        m = min(w, h)
        if m > 0 and abs(pts[0][1]) < TOL:
            return "rrect", 2 * r / m, 0.0, True
    if len(kinds) == 4 and kinds == ["line", "arc", "line", "arc"]:
        return "slot", 0.0, 0.0, True
    return "rect", 0.0, 0.0, False


def _recognise_inner(shape, inner, lo, w, h) -> tuple[float, str, float, float, int]:
    """(bore fraction p1, holes, h1, h2, loops not represented) for the inner loops."""
    m = min(w, h)
    p1, dropped = 0.0, 0
    circles, slots = [], []
    for loc in inner:
        if loc[0] == "circle":
            circles.append((np.asarray(loc[1], float) - lo, loc[2]))
        elif loc[1] == ["line", "arc", "line", "arc"]:
            slots.append(loc)
        else:
            dropped += 1
    # a bore: the circle at the centre of a circle / polygon
    if shape == "circle" or shape.startswith("ngon"):
        centre = np.array([w / 2, h / 2])
        if shape.startswith("ngon"):
            centre = _ngon_fit(int(shape[4]), shape.endswith("r"), w, h)[1]
        for i, (c, r) in enumerate(circles):
            if np.hypot(*(c - centre)) < TOL:
                p1 = r / (m / 2)
                circles.pop(i)
                break
    holes, h1, h2 = "none", 0.0, 0.0
    if circles and not slots:
        radii = [r for _, r in circles]
        cs = np.array([c for c, _ in circles])
        same_r = max(radii) - min(radii) < TOL
        if same_r and shape == "rect":
            for nx, ny in GRIDS:
                if nx * ny != len(circles):
                    continue
                cw, ch = w / (2 * nx), h / (2 * ny)
                grid = [(cw * (2 * i + 1), ch * (2 * j + 1)) for j in range(ny) for i in range(nx)]
                if _same_points(cs, grid):
                    holes, h1 = f"grid{nx}x{ny}", radii[0] / min(cw, ch)
                    break
        if same_r and shape == "circle" and len(circles) in NGONS:
            n, R = len(circles), m / 2
            rel = cs - np.array([w / 2, h / 2])
            pcd = float(np.mean(np.hypot(rel[:, 0], rel[:, 1])))
            for rot in (False, True):
                if _same_points(rel, _ngon_unit(n, rot) * pcd):
                    holes, h1, h2 = f"bolt{n}{'r' if rot else ''}", radii[0] / R, pcd / R
                    break
        if holes == "none":
            dropped += len(circles)
    elif slots and not circles and shape in ("rect", "rrect") and len(slots) <= 2:
        n = len(slots)
        b = [_loop_bounds(s) - lo for s in slots]
        sr = (b[0][1, 0] - b[0][0, 0]) / 2
        expect = [(w * (k + 1) / (n + 1), h / 2) for k in range(n)]
        centres = [(bb[0] + bb[1]) / 2 for bb in b]
        if _same_points(centres, expect):
            holes, h1 = f"vslot{n}", sr / (h / 4)
        else:
            dropped += n
    else:
        dropped += len(circles) + len(slots)
    return p1, holes, h1, h2, dropped


@dataclass
class Encoding:
    specs: list[BodySpec]
    exact: bool                  # False: something was approximated or dropped
    notes: list[str] = field(default_factory=list)


def encode_body(b: Body) -> tuple[BodySpec, list[str]]:
    notes: list[str] = []
    kind = _canonical_plane(b.plane)
    if kind is None:
        n = np.abs(np.asarray(b.plane.normal, float))
        kind = {2: "xy", 1: "xz", 0: "yz"}[int(np.argmax(n))]
        notes.append("plane_not_principal")
    ui, vi, ni, _ = PLANE_AXES[kind]
    locs = [_loop_local(lp, b.plane, ui, vi) for lp in b.loops]
    bounds = [_loop_bounds(l) for l in locs]
    areas = [float(np.prod(bb[1] - bb[0])) for bb in bounds]
    oi = int(np.argmax(areas))
    (lo, hi) = bounds[oi]
    w, h = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    shape, p1, p2, exact = _recognise_outer(locs[oi], lo, w, h)
    if not exact:
        notes.append("outer_loop_approximated")
    inner = [l for i, l in enumerate(locs) if i != oi]
    bore, holes, h1, h2, dropped = _recognise_inner(shape, inner, lo, w, h)
    if dropped:
        notes.append(f"{dropped}_inner_loops_dropped")
    if shape in ("circle",) or shape.startswith("ngon"):
        p1 = bore
    # extent along the normal: every distance the body is extruded to
    origin_n = b.plane.origin[ni]
    nn = b.plane.normal[ni]
    dists = [0.0, b.distance] + ([-b.distance] if b.both else []) + (
        [b.second_distance] if b.second_distance is not None else [])
    ns = [origin_n + nn * d for d in dists]
    box = [0.0] * 6
    box[2 * ui], box[2 * ui + 1] = float(lo[0]), float(hi[0])
    box[2 * vi], box[2 * vi + 1] = float(lo[1]), float(hi[1])
    box[2 * ni], box[2 * ni + 1] = float(min(ns)), float(max(ns))
    op = b.op if b.op != "new" else "union"
    return BodySpec(op, kind, shape, tuple(box), float(np.clip(p1, 0, 1)),  # type: ignore[arg-type]
                    float(np.clip(p2, 0, 1)), holes, float(np.clip(h1, 0, 1)),
                    float(np.clip(h2, 0, 1))), notes


def encode_program(program: Program) -> Encoding:
    """An IR program -> body specs (exact within the representation, else approximated)."""
    specs, notes = [], []
    for k, b in enumerate(program.bodies):
        if k >= N_BODIES:
            notes.append(f"{len(program.bodies) - N_BODIES}_bodies_dropped")
            break
        spec, n = encode_body(b)
        specs.append(spec)
        notes += [f"body{k}:{x}" for x in n]
    return Encoding(specs, exact=not notes, notes=notes)


def encode_code(code: str) -> Encoding:
    from cadbench.program import from_code
    return encode_program(from_code(code))


def quantise(specs: list[BodySpec]) -> list[BodySpec]:
    """Specs as the tokens hold them (grid coordinates, 1/64 fractions)."""
    return tokens_to_specs(specs_to_tokens(specs))
