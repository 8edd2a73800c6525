"""The only code that runs candidate programs: exec, pick the result, validate, tessellate;
and the only code that parses geometry files (references and predictions given as STEP or
mesh files, see evaluate_file).

Runs inside the forked, limited candidate process (see zygote.py). Everything it writes to
`out_dir` is untrusted by construction (the candidate shares this process): a small JSON status
and two plain .npy arrays, which the trusted side parses with allow_pickle=False and validates."""

from __future__ import annotations

import io
import json
import os
import sys
import time

import numpy as np

from ..config import ExecConfig
from . import status as S

RESULT_FILE = "result.json"
VERTICES_FILE = "vertices.npy"
FACES_FILE = "faces.npy"
OUTPUT_FILE = "output.log"
RESULT_WRITE_FAILED_EXIT = 74  # exit code when the result could not be written (folder full)
MAX_ERROR_CHARS = 300
# A solid that fails BRepCheck is still accepted when its tessellation encloses OCC's volume
# within this relative tolerance (see validate()).
BREP_INVALID_VOLUME_TOLERANCE = 0.02


class CappedWriter(io.RawIOBase):
    """Python-level stdout/stderr: writes through to a file descriptor up to `budget` bytes,
    then keeps only the last `tail` bytes in memory (flushed at the end), so flooding stdout
    costs neither disk nor time."""

    def __init__(self, fd: int, budget: int, tail: int):
        self.fd, self.budget, self.tail = fd, budget, tail
        self.written = 0
        self.dropped = 0
        self.ring = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = bytes(b)
        if self.written + len(data) <= self.budget:
            try:
                os.write(self.fd, data)
            except OSError:
                pass
            self.written += len(data)
        else:
            self.ring += data
            if len(self.ring) > self.tail:
                self.dropped += len(self.ring) - self.tail
                del self.ring[: len(self.ring) - self.tail]
        return len(data)

    def finish(self) -> None:
        if self.ring or self.dropped:
            try:
                os.write(self.fd, f"\n[... {self.dropped} bytes dropped ...]\n".encode() + bytes(self.ring))
            except OSError:
                pass
            self.ring.clear()


def install_capped_output(budget: int) -> CappedWriter:
    raw = CappedWriter(1, budget, budget)
    stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors="replace",
                              line_buffering=False, write_through=False)
    sys.stdout = sys.stderr = stream
    return raw


def short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def _is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, MemoryError) or "OutOfMemory" in name or "bad_alloc" in str(exc)


def pick_result(ns: dict, shown: list, config: ExecConfig):
    """The result-variable rule (ExecConfig.result_vars): the configured variable whatever it
    holds; then the first fallback variable that holds a CadQuery object; then everything passed
    to show_object(). Returns (object, picked_by) or (None, None)."""
    import cadquery as cq

    cad_types = (cq.Workplane, cq.Shape, cq.Assembly)
    names = config.result_vars()
    if names[0] in ns:
        return ns[names[0]], f"var:{names[0]}"
    for name in names[1:]:
        if isinstance(ns.get(name), cad_types):
            return ns[name], f"var:{name}"
    if shown:
        return list(shown), "show_object"
    return None, None


def collect_solids(obj) -> tuple[list, list[str]]:
    """All solids in obj (a Workplane contributes every solid on its stack); also the type names
    of what was not a solid, for the error message."""
    import cadquery as cq

    solids, other = [], []
    stack = [obj]
    while stack:
        o = stack.pop(0)
        if isinstance(o, (list, tuple)):
            stack[:0] = list(o)
        elif isinstance(o, cq.Workplane):
            stack[:0] = list(o.vals())
        elif isinstance(o, cq.Assembly):
            stack.insert(0, o.toCompound())
        elif isinstance(o, cq.Solid):
            solids.append(o)
        elif isinstance(o, cq.Shape):  # Compound, CompSolid, Shell, Face, Wire...
            inner = o.Solids()
            if inner:
                solids.extend(inner)
            else:
                other.append(type(o).__name__)
        else:
            other.append(type(o).__name__)
    return solids, other


def evaluate(code: str, config: ExecConfig) -> dict:
    """Run `code` and turn its result into a status dict (+ "mesh" on success)."""
    try:
        compiled = compile(code, "<candidate>", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: source with NUL bytes
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", None) or str(exc)
        err = f"{type(exc).__name__}: {msg}" + (f" (line {line})" if line else "")
        return {"status": S.SYNTAX_ERROR, "error": err[:MAX_ERROR_CHARS]}

    shown: list = []

    def show_object(obj, *args, **kwargs):
        shown.append(obj)

    ns = {"__name__": "__main__", "__builtins__": __builtins__, "show_object": show_object}
    try:
        exec(compiled, ns)
    except BaseException as exc:  # SystemExit/KeyboardInterrupt included: the candidate's doing
        status = S.MEMORY_LIMIT if _is_out_of_memory(exc) else S.RUNTIME_ERROR
        return {"status": status, "error": short_error(exc)}

    try:
        return validate(ns, shown, config)
    except BaseException as exc:  # picking/tessellating a hostile object can raise anything
        status = S.MEMORY_LIMIT if _is_out_of_memory(exc) else S.INVALID_GEOMETRY
        return {"status": status, "error": short_error(exc)}


def validate(ns: dict, shown: list, config: ExecConfig) -> dict:
    obj, picked_by = pick_result(ns, shown, config)
    if picked_by is None:
        return {"status": S.NO_RESULT, "error": f"none of {list(config.result_vars())} is set "
                "and show_object() was not called"}
    return validate_object(obj, picked_by, config)


def validate_object(obj, picked_by: str, config: ExecConfig) -> dict:
    """The picked object's solids -> status dict (+ "mesh" when ok): a program's result and a
    STEP file's contents take this same path."""
    from ..geometry.tessellate import has_free_edges, solids_to_mesh

    out: dict = {"picked_by": picked_by}
    solids, other = collect_solids(obj)
    out["n_solids"] = len(solids)
    if not solids:
        what = ", ".join(sorted(set(other))) or "nothing"
        return {**out, "status": S.NOT_A_SOLID, "error": f"no solid in result ({what})"}
    invalid = [i for i, s in enumerate(solids) if not s.isValid()]
    out["brep_valid"] = not invalid
    volumes = [float(s.Volume()) for s in solids]
    out["volume"] = float(sum(volumes))
    if min(volumes) < 0:
        return {**out, "status": S.INVALID_GEOMETRY, "error": f"solid {volumes.index(min(volumes))} "
                f"has negative volume {min(volumes):.6g}"}
    # Only "no volume at all" is decided here; whether a tiny solid is empty is judged on the
    # trusted side on the reference's scale (geometry/solid.is_empty).
    if not np.isfinite(out["volume"]) or out["volume"] <= 0:
        return {**out, "status": S.EMPTY, "error": f"zero volume ({out['volume']:.3g})"}
    try:
        # one closed component per solid, fused on the trusted side (geometry/solid.py)
        mesh, parts = solids_to_mesh(solids, config.linear_tolerance, config.angular_tolerance)
    except ValueError as exc:  # MeshError: OCC produced no usable triangles
        return {**out, "status": S.INVALID_GEOMETRY, "error": f"tessellation failed: {exc}"[:MAX_ERROR_CHARS]}
    for i in invalid:
        # BRepCheck is stricter than scoring needs: it rejects 4 of the 50 real GenCAD-Code
        # ground truths in the shared subset, whose meshes enclose exactly OCC's volume. The
        # exception holds for closed shells only: an open shell wrapped as a Solid has a
        # volume OCC and the mesh can agree on, yet bounds nothing.
        if has_free_edges(solids[i]):
            return {**out, "status": S.INVALID_GEOMETRY, "error": (
                f"solid {i} is not valid (BRepCheck) and its shell is open (free edges)")}
        # A broken closed solid (oversized fillet) shows as a mesh that disagrees with OCC's
        # own volume.
        mesh_volume = parts[i].volume()
        if abs(mesh_volume - volumes[i]) > BREP_INVALID_VOLUME_TOLERANCE * abs(volumes[i]):
            return {**out, "status": S.INVALID_GEOMETRY, "error": (
                f"solid {i} is not valid (BRepCheck) and its mesh volume {mesh_volume:.6g} "
                f"disagrees with its volume {volumes[i]:.6g}")}
    return {**out, "status": S.OK, "error": None, "mesh": mesh}


# Mesh formats read with trimesh (imported only for them); "step" goes through cadquery.
MESH_FORMATS = ("stl", "obj", "ply", "glb", "gltf")


def evaluate_file(path: str, fmt: str, config: ExecConfig) -> dict:
    """Parse a geometry file (a reference or a prediction given as geometry, not code) and turn
    it into the same status dict as a program's result. STEP: cadquery's importer, then the
    solids path of a program (validate_object). A mesh format: trimesh, every geometry of the
    file (transforms applied) merged into one vertex/face array and welded like a tessellation;
    whether it bounds a solid is decided on the trusted side (geometry/solid.py), as for any
    candidate's arrays. A file that does not parse is invalid_geometry, with the reason."""
    picked_by = f"file:{fmt}"
    try:
        if fmt == "step":
            import cadquery as cq
            obj = cq.importers.importStep(path)
        elif fmt in MESH_FORMATS:
            mesh = read_mesh_file(path, fmt)
        else:
            return {"status": S.INVALID_GEOMETRY, "picked_by": picked_by,
                    "error": f"unknown geometry format {fmt!r}"}
    except BaseException as exc:  # a hostile file can make a parser raise anything
        status = S.MEMORY_LIMIT if _is_out_of_memory(exc) else S.INVALID_GEOMETRY
        return {"status": status, "picked_by": picked_by,
                "error": f"cannot read the {fmt.upper()} file: {short_error(exc)}"[:MAX_ERROR_CHARS]}
    if fmt != "step":
        return {"status": S.OK, "error": None, "picked_by": picked_by, "mesh": mesh,
                "volume": mesh.volume()}
    try:
        return validate_object(obj, picked_by, config)
    except BaseException as exc:
        status = S.MEMORY_LIMIT if _is_out_of_memory(exc) else S.INVALID_GEOMETRY
        return {"status": status, "picked_by": picked_by, "error": short_error(exc)}


def read_mesh_file(path: str, fmt: str):
    """One welded Mesh of every triangle in a mesh file; ValueError when it holds none."""
    import trimesh

    from ..geometry.mesh import Mesh
    from ..geometry.tessellate import weld

    scene = trimesh.load(path, file_type=fmt, force="scene", process=False)
    if not isinstance(scene, trimesh.Scene):
        raise ValueError(f"not a scene: {type(scene).__name__}")
    parts = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    if not parts:
        raise ValueError("no triangles in the file")
    vertices, faces, offset = [], [], 0
    for g in parts:
        vertices.append(np.asarray(g.vertices, dtype=np.float64))
        faces.append(np.asarray(g.faces, dtype=np.int64) + offset)
        offset += len(g.vertices)
    v, f = np.concatenate(vertices), np.concatenate(faces)
    mesh = Mesh.from_arrays(v, f)  # finite, indices in range
    diag = float(np.linalg.norm(mesh.bounds[1] - mesh.bounds[0]))
    return weld(mesh.vertices, mesh.faces, tol=1e-9 * max(diag, 1e-9) + 1e-12)


def run_in_child(code: str, config: ExecConfig, out_dir: str,
                 geometry: tuple[str, str] | None = None) -> None:
    """Evaluate `code`, or parse the geometry file (name in out_dir, format) when one is
    given, and write result.json (+ vertices.npy, faces.npy when ok) into out_dir."""
    t0 = time.perf_counter()
    writer = install_capped_output(config.max_output_bytes)
    if geometry is not None:
        result = evaluate_file(os.path.join(out_dir, geometry[0]), geometry[1], config)
    else:
        result = evaluate(code, config)
    mesh = result.pop("mesh", None)
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    writer.finish()
    try:
        if mesh is not None:
            np.save(os.path.join(out_dir, VERTICES_FILE), mesh.vertices, allow_pickle=False)
            np.save(os.path.join(out_dir, FACES_FILE), mesh.faces, allow_pickle=False)
        result["child_s"] = time.perf_counter() - t0
        with open(os.path.join(out_dir, RESULT_FILE), "w") as f:
            json.dump(result, f)
    except OSError as exc:  # its folder is full (of what the candidate wrote) or not writable
        try:
            os.unlink(os.path.join(out_dir, RESULT_FILE))  # never a half-written result
        except OSError:
            pass
        os.write(2, f"cannot write the result: {exc}\n".encode())
        os._exit(RESULT_WRITE_FAILED_EXIT)
