"""Typed IR of GenCAD-Code programs: write them (`Program.to_code`) and read them back
(`from_code`) in exactly the idiom of the `CADCODER/GenCAD-Code` dataset.

A program is a list of bodies. Each body is a sketch on a plane (one or more closed loops of
lines, three-point arcs or a circle) extruded by a distance, and joined to the result so far
with `union` or `cut` (the first body is `new`). The idiom, as the real data writes it:

    import cadquery as cq
    # Generating a workplane for sketch 0
    wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.29, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
    loop0=wp_sketch0.moveTo(0.67, 0.0).lineTo(0.67, 0.25).lineTo(0.0, 0.25).lineTo(0.0, 0.0).close()
    loop1=wp_sketch0.moveTo(0.3, 0.1).circle(0.05)
    solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.03125)
    solid=solid0
    # Generating a workplane for sketch 1
    ...
    solid=solid.union(solid1)          # or solid.cut(solid1)

Loops are numbered across the whole program (loop3 may belong to sketch 1); numbers are
written with Python's `repr` (0.0, 1.0, 6.123233995736766e-17). A body extruded to both sides
by different amounts (DeepCAD's two extents) is written as the same sketch extruded a second
time by a signed distance and unioned (through `solid_temp` after the first body); the IR keeps
that as `Body.second_distance`.

`from_code` reads the idiom with Python's `ast` (nothing is executed) and raises
`ProgramParseError` naming the line for anything outside it.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field, replace
from typing import Union

from .errors import InputError

Vec2 = tuple[float, float]
Vec3 = tuple[float, float, float]

OPS = ("new", "union", "cut")
GRID = 1.0 / 128.0  # GenCAD-Code quantises origins and extrude distances to this grid


class ProgramParseError(InputError, ValueError):
    """Code that is not in the GenCAD-Code idiom this IR reads; the message names the line."""


def snap(x: float, grid: float = GRID) -> float:
    """Round to the grid (GenCAD-Code's 1/128 by default); -0.0 becomes 0.0."""
    v = round(x / grid) * grid
    return v + 0.0


# ---------------------------------------------------------------------------- planes

@dataclass(frozen=True)
class Plane:
    origin: Vec3
    x_dir: Vec3
    normal: Vec3

    # The principal planes exactly as GenCAD-Code writes them (DeepCAD's Euler angles leave
    # float noise such as 6.123233995736766e-17 in the vectors; keeping it makes synthetic
    # programs read like real ones).
    @classmethod
    def xy(cls, origin: Vec3 = (0.0, 0.0, 0.0)) -> "Plane":
        """Sketch in XY, extrude along +Z (local x = +X, local y = +Y)."""
        return cls(_v3(origin), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0))

    @classmethod
    def xz(cls, origin: Vec3 = (0.0, 0.0, 0.0)) -> "Plane":
        """Sketch in XZ, extrude along -Y (local x = +X, local y = +Z)."""
        e = 6.123233995736766e-17
        return cls(_v3(origin), (1.0, e, -e), (e, -1.0, e))

    @classmethod
    def yz(cls, origin: Vec3 = (0.0, 0.0, 0.0)) -> "Plane":
        """Sketch in YZ, extrude along +X (local x = +Y, local y = +Z)."""
        e = 6.123233995736766e-17
        return cls(_v3(origin), (3.749399456654644e-33, 1.0, -e), (1.0, 0.0, e))

    def y_dir(self) -> Vec3:
        n, x = self.normal, self.x_dir
        return (n[1] * x[2] - n[2] * x[1], n[2] * x[0] - n[0] * x[2], n[0] * x[1] - n[1] * x[0])

    def to_world(self, p: Vec2) -> Vec3:
        """A local sketch point in world coordinates."""
        y = self.y_dir()
        return tuple(self.origin[i] + p[0] * self.x_dir[i] + p[1] * y[i] for i in range(3))

    def to_code(self) -> str:
        return (f"cq.Plane(cq.Vector({_f3(self.origin)}), cq.Vector({_f3(self.x_dir)}), "
                f"cq.Vector({_f3(self.normal)}))")


# ---------------------------------------------------------------------------- sketch

@dataclass(frozen=True)
class Line:
    end: Vec2


@dataclass(frozen=True)
class Arc:
    """threePointArc from the current point through `mid` to `end`."""
    mid: Vec2
    end: Vec2


Segment = Union[Line, Arc]


@dataclass(frozen=True)
class PathLoop:
    """A closed loop of segments. `start=None` is GenCAD's rare loop without `moveTo`
    (it starts at the sketch origin)."""
    start: Vec2 | None
    segments: tuple[Segment, ...]

    def to_code(self) -> str:
        parts = [f".moveTo({_f2(self.start)})"] if self.start is not None else []
        for s in self.segments:
            if isinstance(s, Line):
                parts.append(f".lineTo({_f2(s.end)})")
            else:
                parts.append(f".threePointArc(({_f2(s.mid)}), ({_f2(s.end)}))")
        return "".join(parts) + ".close()"

    def points(self) -> list[Vec2]:
        """The loop's vertices and arc midpoints, in order (used for bounds)."""
        pts: list[Vec2] = [self.start if self.start is not None else (0.0, 0.0)]
        for s in self.segments:
            if isinstance(s, Arc):
                pts.append(s.mid)
            pts.append(s.end)
        return pts


def stadium_points(cx: float, cy: float, length: float, r: float,
                   vertical: bool = False) -> list[Vec2]:
    """The six key points of a stadium (slot): two semicircles of radius r whose centres are
    `length` apart, joined by straight sides. Order: line start, line end, arc middle, line
    start, line end, arc middle. Callers round them to their own grid, then `stadium_loop`."""
    h = length / 2
    if not vertical:
        return [(cx - h, cy - r), (cx + h, cy - r), (cx + h + r, cy), (cx + h, cy + r),
                (cx - h, cy + r), (cx - h - r, cy)]
    return [(cx + r, cy - h), (cx + r, cy + h), (cx, cy + h + r), (cx - r, cy + h),
            (cx - r, cy - h), (cx, cy - h - r)]


def stadium_loop(pts: list[Vec2]) -> "PathLoop":
    """A closed loop through the six points of `stadium_points`."""
    return PathLoop(pts[0], (Line(pts[1]), Arc(pts[2], pts[3]), Line(pts[4]),
                             Arc(pts[5], pts[0])))


@dataclass(frozen=True)
class CircleLoop:
    center: Vec2
    radius: float

    def to_code(self) -> str:
        return f".moveTo({_f2(self.center)}).circle({_f(self.radius)})"

    def points(self) -> list[Vec2]:
        c, r = self.center, self.radius
        return [(c[0] - r, c[1] - r), (c[0] + r, c[1] + r)]


Loop = Union[PathLoop, CircleLoop]


# ---------------------------------------------------------------------------- bodies

@dataclass(frozen=True)
class Body:
    plane: Plane
    loops: tuple[Loop, ...]
    distance: float
    both: bool = False                   # extrude(d, both=True): symmetric, d to each side
    op: str = "union"                    # "new" (first body), "union", "cut"
    second_distance: float | None = None  # same sketch extruded again by this signed distance

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"op must be one of {OPS}, got {self.op!r}")
        if not self.loops:
            raise ValueError("a body needs at least one loop")


@dataclass(frozen=True)
class Program:
    bodies: tuple[Body, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "bodies", tuple(self.bodies))
        if not self.bodies:
            raise ValueError("a program needs at least one body")
        ops = [b.op for b in self.bodies]
        if ops[0] != "new" or "new" in ops[1:]:
            raise ValueError(f"the first body (and only it) must have op 'new', got {ops}")

    @classmethod
    def of(cls, *bodies: Body) -> "Program":
        """Build from bodies, setting the first one's op to 'new'."""
        bs = list(bodies)
        bs[0] = replace(bs[0], op="new")
        return cls(tuple(bs))

    def to_code(self) -> str:
        lines = ["import cadquery as cq"]
        loop_no = 0
        for k, b in enumerate(self.bodies):
            wp, sv = f"wp_sketch{k}", f"solid{k}"
            names = [f"loop{loop_no + i}" for i in range(len(b.loops))]
            loop_no += len(b.loops)
            ext = f"{_f(b.distance)}, both=True" if b.both else _f(b.distance)

            def sketch(distance_code: str, comment: bool) -> list[str]:
                out = [f"# Generating a workplane for sketch {k}"] if comment else []
                out.append(f"{wp} = cq.Workplane({b.plane.to_code()})")
                out += [f"{n}={wp}{lp.to_code()}" for n, lp in zip(names, b.loops)]
                adds = "".join(f".add({n})" for n in names)
                out.append(f"{sv}={wp}{adds}.extrude({distance_code})")
                return out

            lines += sketch(ext, comment=True)
            if b.second_distance is None:
                lines.append("solid=solid0" if b.op == "new" else f"solid=solid.{b.op}({sv})")
            elif b.op == "new":
                lines.append("solid=solid0")
                lines += sketch(_f(b.second_distance), comment=False)
                lines.append(f"solid=solid.union({sv})")
            else:
                lines.append(f"solid_temp={sv}")
                lines += sketch(_f(b.second_distance), comment=False)
                lines.append(f"solid_temp=solid_temp.union({sv})")
                lines.append(f"solid=solid.{b.op}(solid_temp)")
        return "\n".join(lines) + "\n"

    def translated(self, offset: Vec3) -> "Program":
        """The same part moved by `offset`: loops are local to their plane and extrusions
        follow its normal, so moving every plane origin moves the whole solid."""
        return Program(tuple(replace(b, plane=replace(b.plane, origin=tuple(
            b.plane.origin[i] + float(offset[i]) + 0.0 for i in range(3))))
            for b in self.bodies))

    def bounds_hint(self) -> tuple[Vec3, Vec3]:
        """Approximate world bounding box from sketch points and extrusions (no CAD kernel)."""
        pts: list[Vec3] = []
        for b in self.bodies:
            n = b.plane.normal
            dists = [b.distance, -b.distance if b.both else 0.0]
            if b.second_distance is not None:
                dists.append(b.second_distance)
            for lp in b.loops:
                for p in lp.points():
                    w = b.plane.to_world(p)
                    pts += [tuple(w[i] + d * n[i] for i in range(3)) for d in dists]
        lo = tuple(min(p[i] for p in pts) for i in range(3))
        hi = tuple(max(p[i] for p in pts) for i in range(3))
        return lo, hi


# ---------------------------------------------------------------------------- formatting

def _f(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite number {x!r} in a program")
    return repr(x + 0.0)  # + 0.0 turns -0.0 into 0.0


def _f2(p) -> str:
    return f"{_f(p[0])}, {_f(p[1])}"


def _f3(p) -> str:
    return f"{_f(p[0])}, {_f(p[1])}, {_f(p[2])}"


def _v3(p) -> Vec3:
    return (float(p[0]), float(p[1]), float(p[2]))


# ---------------------------------------------------------------------------- parsing

@dataclass
class _Extrusion:
    """What `solidN=wp.add(..).extrude(..)` defines, before it is joined to the result."""
    plane: Plane
    loops: tuple[Loop, ...]
    distance: float
    both: bool


def from_code(code: str) -> Program:
    """Parse a program in the GenCAD-Code idiom (see module doc). Nothing is executed."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ProgramParseError(f"line {e.lineno}: not valid Python ({e.msg})") from None
    planes: dict[str, Plane] = {}
    loops: dict[str, tuple[str, Loop]] = {}
    extrusions: dict[str, _Extrusion] = {}
    bodies: list[Body] = []
    temp: Body | None = None  # the solid_temp group being built
    body_vars: list[str] = []  # the variable each body came from

    for stmt in tree.body:
        ln = stmt.lineno
        if isinstance(stmt, ast.Import):
            if [(a.name, a.asname) for a in stmt.names] != [("cadquery", "cq")]:
                raise ProgramParseError(f"line {ln}: only 'import cadquery as cq' is supported")
            continue
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise ProgramParseError(f"line {ln}: expected 'name = expression', got "
                                    f"{type(stmt).__name__}")
        target = stmt.targets[0].id
        base, calls = _chain(stmt.value, ln)

        if base == "cq" and calls and calls[0][0] == "Workplane":
            planes[target] = _plane(calls, ln)
        elif base in planes and calls and calls[-1][0] in ("close", "circle"):
            loops[target] = (base, _loop(calls, ln))
        elif base in planes and calls and calls[-1][0] == "extrude":
            extrusions[target] = _extrusion(base, planes[base], calls, loops, ln)
        elif target == "solid" and not calls and base in extrusions:
            if bodies:
                raise ProgramParseError(f"line {ln}: 'solid={base}' after the first body")
            bodies.append(_body(extrusions[base], "new"))
            body_vars.append(base)
        elif target == "solid" and base == "solid" and len(calls) == 1 \
                and calls[0][0] in ("union", "cut"):
            op, args, _ = calls[0]
            arg = _name_arg(args, ln)
            if not bodies:
                raise ProgramParseError(f"line {ln}: 'solid.{op}' before 'solid' is defined")
            if arg == "solid_temp":
                if temp is None:
                    raise ProgramParseError(f"line {ln}: solid_temp used before it is defined")
                bodies.append(replace(temp, op=op))
                temp = None
                body_vars.append("solid_temp")
            elif arg in extrusions:
                e = extrusions[arg]
                prev = bodies[-1]
                if arg == body_vars[-1] and len(bodies) == 1 and op == "union":
                    # solid0 redefined and unioned: the first body's second extent
                    bodies[-1] = replace(prev, second_distance=e.distance)
                else:
                    bodies.append(_body(e, op))
                    body_vars.append(arg)
            else:
                raise ProgramParseError(f"line {ln}: '{arg}' is not an extruded solid")
        elif target == "solid_temp" and not calls and base in extrusions:
            temp = _body(extrusions[base], "union")
        elif target == "solid_temp" and base == "solid_temp" and len(calls) == 1 \
                and calls[0][0] == "union":
            arg = _name_arg(calls[0][1], ln)
            if temp is None or arg not in extrusions:
                raise ProgramParseError(f"line {ln}: unsupported solid_temp union")
            temp = replace(temp, second_distance=extrusions[arg].distance)
        else:
            raise ProgramParseError(f"line {ln}: statement '{target} = ...' is outside the "
                                    "GenCAD-Code idiom (workplane, loop, extrude, union/cut)")
    if temp is not None:
        raise ProgramParseError("solid_temp is built but never joined to solid")
    if not bodies:
        raise ProgramParseError("no 'solid=solidN' line: the program defines no result")
    return Program(tuple(bodies))


def _body(e: _Extrusion, op: str) -> Body:
    return Body(e.plane, e.loops, e.distance, e.both, op)


_Call = tuple[str, list[ast.expr], dict[str, ast.expr]]


def _chain(node: ast.expr, ln: int) -> tuple[str, list[_Call]]:
    """`a.f(x).g(y)` -> ("a", [("f", [x], {}), ("g", [y], {})])."""
    calls: list[_Call] = []
    while isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Attribute):
            raise ProgramParseError(f"line {ln}: unsupported call")
        calls.append((node.func.attr, node.args, {k.arg: k.value for k in node.keywords}))
        node = node.func.value
    if not isinstance(node, ast.Name):
        raise ProgramParseError(f"line {ln}: unsupported expression")
    return node.id, list(reversed(calls))


def _num(node: ast.expr, ln: int) -> float:
    try:
        v = ast.literal_eval(node)
    except ValueError:
        raise ProgramParseError(f"line {ln}: expected a number literal") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ProgramParseError(f"line {ln}: expected a number, got {v!r}")
    return float(v)


def _nums(args: list[ast.expr], n: int, what: str, ln: int) -> tuple[float, ...]:
    if len(args) != n:
        raise ProgramParseError(f"line {ln}: {what} takes {n} numbers, got {len(args)}")
    return tuple(_num(a, ln) for a in args)


def _pair(node: ast.expr, ln: int) -> Vec2:
    if not (isinstance(node, ast.Tuple) and len(node.elts) == 2):
        raise ProgramParseError(f"line {ln}: expected a point (x, y)")
    return (_num(node.elts[0], ln), _num(node.elts[1], ln))


def _name_arg(args: list[ast.expr], ln: int) -> str:
    if len(args) != 1 or not isinstance(args[0], ast.Name):
        raise ProgramParseError(f"line {ln}: expected one variable name as argument")
    return args[0].id


def _vector(node: ast.expr, ln: int) -> Vec3:
    if not isinstance(node, ast.Call):
        raise ProgramParseError(f"line {ln}: expected cq.Vector(x, y, z)")
    base, calls = _chain(node, ln)
    if base != "cq" or len(calls) != 1 or calls[0][0] != "Vector":
        raise ProgramParseError(f"line {ln}: expected cq.Vector(x, y, z)")
    return _nums(calls[0][1], 3, "cq.Vector", ln)  # type: ignore[return-value]


def _plane(calls: list[_Call], ln: int) -> Plane:
    if len(calls) != 1 or len(calls[0][1]) != 1:
        raise ProgramParseError(f"line {ln}: expected cq.Workplane(cq.Plane(...)) alone")
    inner = calls[0][1][0]
    if not isinstance(inner, ast.Call):
        raise ProgramParseError(f"line {ln}: only cq.Workplane(cq.Plane(o, x, n)) is supported "
                                "(named planes like 'XY' are not)")
    base, pc = _chain(inner, ln)
    if base != "cq" or len(pc) != 1 or pc[0][0] != "Plane" or len(pc[0][1]) != 3:
        raise ProgramParseError(f"line {ln}: expected cq.Plane(origin, x_dir, normal)")
    o, x, n = (_vector(a, ln) for a in pc[0][1])
    return Plane(o, x, n)


def _loop(calls: list[_Call], ln: int) -> Loop:
    names = [c[0] for c in calls]
    if names[-1] == "circle":
        if names == ["moveTo", "circle"]:
            center = _nums(calls[0][1], 2, "moveTo", ln)
        elif names == ["circle"]:
            center = (0.0, 0.0)
        else:
            raise ProgramParseError(f"line {ln}: a circle loop is 'moveTo(x, y).circle(r)'")
        (r,) = _nums(calls[-1][1], 1, "circle", ln)
        return CircleLoop(center, r)  # type: ignore[arg-type]
    start = None
    body = calls[:-1]
    if body and body[0][0] == "moveTo":
        start = _nums(body[0][1], 2, "moveTo", ln)
        body = body[1:]
    segs: list[Segment] = []
    for name, args, kw in body:
        if kw:
            raise ProgramParseError(f"line {ln}: {name} with keyword arguments is unsupported")
        if name == "lineTo":
            segs.append(Line(_nums(args, 2, "lineTo", ln)))  # type: ignore[arg-type]
        elif name == "threePointArc":
            if len(args) != 2:
                raise ProgramParseError(f"line {ln}: threePointArc takes two points")
            segs.append(Arc(_pair(args[0], ln), _pair(args[1], ln)))
        else:
            raise ProgramParseError(f"line {ln}: sketch operation '{name}' is unsupported "
                                    "(only moveTo, lineTo, threePointArc, circle, close)")
    if not segs:
        raise ProgramParseError(f"line {ln}: a loop needs at least one segment")
    return PathLoop(start, tuple(segs))  # type: ignore[arg-type]


def _extrusion(wp: str, plane: Plane, calls: list[_Call], loops: dict, ln: int) -> _Extrusion:
    used: list[Loop] = []
    for name, args, _ in calls[:-1]:
        if name != "add":
            raise ProgramParseError(f"line {ln}: expected {wp}.add(loopN)...extrude(d)")
        lname = _name_arg(args, ln)
        if lname not in loops:
            raise ProgramParseError(f"line {ln}: '{lname}' is not a defined loop")
        if loops[lname][0] != wp:
            raise ProgramParseError(f"line {ln}: '{lname}' was drawn on {loops[lname][0]}, "
                                    f"not {wp}")
        used.append(loops[lname][1])
    if not used:
        raise ProgramParseError(f"line {ln}: extrude without any loop")
    _, args, kw = calls[-1]
    (d,) = _nums(args, 1, "extrude", ln)
    extra = set(kw) - {"both"}
    if extra:
        raise ProgramParseError(f"line {ln}: extrude keyword(s) {sorted(extra)} unsupported")
    both = bool(ast.literal_eval(kw["both"])) if "both" in kw else False
    return _Extrusion(plane, tuple(used), d, both)
