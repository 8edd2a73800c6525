"""Reading the two inputs of scoring: references and predictions.

References: JSONL rows {"id", "code"} or {"id", "path"} (a geometry file: STEP, STL, OBJ, PLY,
glTF/GLB; relative to the JSONL's folder, or absolute), mixed freely; the GenCAD-Code
evaluation format {"question_id", "ground_truth"}; a folder of `<id>.<ext>` geometry files
(and `<id>.py` programs); or a dataset spec `NAME[:SPLIT]` (e.g. `synth:test`; its loader's
options as `dataset_options`, `--dataset-opt root=DIR`), whose samples' references are their
`meta["reference_path"]` geometry files where they name one, else their programs.
Predictions: JSONL rows {"id", "code"} or {"id", "path"} (a mesh or STEP file, for models that
output geometry), optionally "candidate"; several rows per id allowed.

A geometry file is only located and hashed here: it is parsed inside the sandbox
(execute/child.py), since a STEP file can crash OCC.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import InputError
from .records import read_jsonl

# File suffix -> the format the sandbox parses it as (the one place that decides which
# geometry files are accepted). glTF: a .glb, or a .gltf whose buffers are embedded (the
# sandbox sees only the file itself). The order is the preference where a layout holds one id
# in several formats (datasets/peers.py, gencad.attach_geometry): the B-rep (STEP) first, then
# the meshes STL, OBJ, PLY, glTF.
GEOMETRY_FORMATS: dict[str, str] = {".step": "step", ".stp": "step", ".stl": "stl",
                                    ".obj": "obj", ".ply": "ply", ".glb": "glb", ".gltf": "gltf"}


@dataclass(frozen=True)
class GeometryFile:
    """A geometry file named by a reference or a prediction: where it is, its format, and the
    sha256 of its bytes (read once, when the input is loaded; the sandbox checks the bytes it
    parses against it)."""

    path: str      # absolute
    format: str    # a value of GEOMETRY_FORMATS
    sha256: str    # of the file's bytes
    size: int      # bytes

    @classmethod
    def read(cls, path: str | Path, where: str = "") -> "GeometryFile":
        """Locate and hash `path`; InputError (prefixed by `where`, e.g. "file:line") when it
        is missing, not a file or not a known geometry format."""
        p = Path(path).expanduser()
        prefix = f"{where}: " if where else ""
        fmt = GEOMETRY_FORMATS.get(p.suffix.lower())
        if fmt is None:
            raise InputError(f"{prefix}{p}: not a geometry file this version reads (suffix "
                             f"{p.suffix or '(none)'}; known: {', '.join(GEOMETRY_FORMATS)})")
        if not p.exists():
            raise InputError(f"{prefix}{p}: no such file")
        if not p.is_file():
            raise InputError(f"{prefix}{p}: not a regular file")
        h = hashlib.sha256()
        size = 0
        try:
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
        except OSError as e:
            raise InputError(f"{prefix}{p}: cannot read ({e.strerror or e})") from None
        return cls(os.path.abspath(p), fmt, h.hexdigest(), size)

    def identity(self) -> list[str]:
        """What identifies the geometry in hashes (cache key, references hash, resume): its
        format and content, not where it lies."""
        return ["geometry", self.format, self.sha256]


Source = str | GeometryFile  # what the sandbox runs: a program, or a geometry file it parses


def _one_source(kind: str, code: str, geometry: GeometryFile | None) -> None:
    if geometry is not None and code:
        raise ValueError(f"a {kind} has code or a geometry file, not both")


@dataclass(frozen=True)
class Reference:
    id: str
    code: str = ""
    geometry: GeometryFile | None = None   # set instead of code for a geometry reference

    def __post_init__(self) -> None:
        _one_source("reference", self.code, self.geometry)

    @property
    def source(self) -> Source:
        return self.geometry if self.geometry is not None else self.code

    def identity(self) -> list:
        """(id, code) for code (as before geometry references existed), else (id, geometry)."""
        return [self.id, self.code] if self.geometry is None else [self.id, *self.geometry.identity()]


@dataclass(frozen=True)
class Prediction:
    id: str
    code: str = ""
    candidate: int = 0
    geometry: GeometryFile | None = None   # set instead of code for a mesh or STEP prediction

    def __post_init__(self) -> None:
        _one_source("prediction", self.code, self.geometry)

    @property
    def source(self) -> Source:
        return self.geometry if self.geometry is not None else self.code


def _text_field(obj: dict, names: tuple[str, ...], where: str, what: str, allow_empty=False):
    for name in names:
        if name in obj:
            value = obj[name]
            if value is None and allow_empty:
                return ""
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise InputError(f"{where}: field '{name}' must be a string, "
                                 f"got {type(value).__name__}")
            return str(value)
    raise InputError(f"{where}: no {what} field (expected one of {', '.join(names)})")


CODE_FIELDS_REFERENCE = ("code", "ground_truth", "cadquery")
CODE_FIELDS_PREDICTION = ("code", "prediction", "completion")
PATH_FIELD = "path"


def _geometry_field(obj: dict, code_fields: tuple[str, ...], base: Path, where: str
                    ) -> GeometryFile | None:
    """The row's geometry file when it has a "path" field (relative to `base`), else None."""
    if PATH_FIELD not in obj:
        return None
    both = [n for n in code_fields if n in obj]
    if both:
        raise InputError(f"{where}: a row has '{PATH_FIELD}' or '{both[0]}', not both")
    value = obj[PATH_FIELD]
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: field '{PATH_FIELD}' must be a non-empty string "
                         f"(a geometry file), got {value!r}"[:300])
    return GeometryFile.read(base / Path(value).expanduser(), where)


def load_references(spec: str | Path, dataset_options: dict | None = None) -> list[Reference]:
    """Load references from a JSONL file, a folder of files named by id, or a dataset spec
    `NAME[:SPLIT]` (or a dataset folder of programs). `dataset_options`: the dataset's loader
    options (`--dataset-opt root=DIR`); only a dataset takes them."""
    path = Path(spec)
    if path.is_dir():
        return _references_from_folder(path, dataset_options)
    if not path.exists() and not str(spec).endswith(".jsonl"):
        return _references_from_dataset(str(spec), dataset_options)
    _no_options(spec, dataset_options)
    refs: list[Reference] = []
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        rid = _text_field(obj, ("id", "question_id"), where, "id")
        geometry = _geometry_field(obj, CODE_FIELDS_REFERENCE, path.parent, where)
        code = "" if geometry is not None else _text_field(obj, CODE_FIELDS_REFERENCE, where,
                                                           "code")
        if rid in seen:
            raise InputError(f"{where}: duplicate reference id '{rid}' "
                             f"(first on line {seen[rid]})")
        seen[rid] = lineno
        refs.append(Reference(rid, code, geometry))
    if not refs:
        raise InputError(f"{path}: no references in file")
    return refs


def _no_options(spec: str | Path, dataset_options: dict | None) -> None:
    if dataset_options:
        raise InputError(f"--dataset-opt {', '.join(sorted(dataset_options))}: {spec} is a "
                         f"references file or folder, not a dataset; dataset options apply "
                         f"to --references NAME[:SPLIT] (e.g. cadrille_test)")


def _references_from_folder(folder: Path, dataset_options: dict | None = None
                            ) -> list[Reference]:
    """`<id>.<ext>` geometry files, found in subfolders too (the id is then the path below
    `folder` without the suffix: `0067/00675497` in the DeepCAD/GenCAD layout), and `<id>.py`
    programs for ids that have no geometry file. A folder with no geometry file is a dataset
    folder (datasets/folder.py)."""
    geometry: dict[str, Path] = {}
    for f in sorted(folder.rglob("*")):
        if f.suffix.lower() not in GEOMETRY_FORMATS or not f.is_file():
            continue
        rid = f.relative_to(folder).with_suffix("").as_posix()
        if rid in geometry:
            raise InputError(f"{folder}: reference '{rid}' has two geometry files, "
                             f"{geometry[rid].name} and {f.name}; keep one")
        geometry[rid] = f
    if not geometry:
        return _references_from_dataset(str(folder), dataset_options)
    _no_options(folder, dataset_options)
    refs = [Reference(rid, geometry=GeometryFile.read(p)) for rid, p in geometry.items()]
    for py in sorted(folder.rglob("*.py")):
        rid = py.relative_to(folder).with_suffix("").as_posix()
        if rid not in geometry:  # beside a geometry file, a program is not the reference
            try:
                refs.append(Reference(rid, py.read_text(encoding="utf-8")))
            except UnicodeDecodeError as e:
                raise InputError(f"{py}: not UTF-8 text ({e.reason})") from None
    return sorted(refs, key=lambda r: r.id)


def references_from_samples(samples: Iterable) -> list[Reference]:
    """References of dataset Samples: the geometry file a loader names in
    `meta["reference_path"]` (the peers' layouts, GenCAD-Code with geometry_root) when there
    is one, else the program."""
    out = []
    for s in samples:
        p = (s.meta or {}).get("reference_path")
        out.append(Reference(str(s.id), geometry=GeometryFile.read(p, f"sample {s.id}"))
                   if p else Reference(str(s.id), s.code))
    return out


def _references_from_dataset(spec: str, dataset_options: dict | None = None
                             ) -> list[Reference]:
    from .datasets import load_reference_samples  # lazy: may build a split
    return references_from_samples(load_reference_samples(spec, **(dataset_options or {})))


def load_predictions(path: str | Path, allow_empty: bool = False) -> list[Prediction]:
    """Rows {"id", "code"[, "candidate"]} or {"id", "path"[, "candidate"]} (a geometry file,
    relative to the file's folder); without "candidate", rows of one id are numbered in file
    order. Empty code is kept: it scores as a failure, not a crash. A missing geometry file is
    an error naming the line. A file with no prediction at all is an error (a wrong path or a
    generation that wrote nothing would otherwise score as a model that failed everything)
    unless `allow_empty`."""
    path = Path(path)
    preds: list[Prediction] = []
    next_index: dict[str, int] = {}
    used: dict[tuple[str, int], int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        pid = _text_field(obj, ("id", "question_id"), where, "id")
        geometry = _geometry_field(obj, CODE_FIELDS_PREDICTION, path.parent, where)
        code = "" if geometry is not None else _text_field(
            obj, CODE_FIELDS_PREDICTION, where, "code", allow_empty=True)
        cand = obj.get("candidate")
        if cand is None:
            cand = next_index.get(pid, 0)
        elif not isinstance(cand, int) or cand < 0:
            raise InputError(f"{where}: 'candidate' must be a non-negative integer")
        if (pid, cand) in used:
            raise InputError(f"{where}: duplicate prediction for id '{pid}' candidate {cand} "
                             f"(first on line {used[(pid, cand)]})")
        used[(pid, cand)] = lineno
        next_index[pid] = max(next_index.get(pid, 0), cand + 1)
        preds.append(Prediction(pid, code, cand, geometry))
    if not preds and not allow_empty:
        raise InputError(f"{path}: no predictions in file (expected JSONL rows {{id, code}} "
                         f"or {{id, path}})")
    return preds
