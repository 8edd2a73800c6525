"""Real data: local copies of the Hugging Face dataset `CADCODER/GenCAD-Code`, and files in
the dataset authors' evaluation format (`question_id`, `image`, `ground_truth`).

No network access, ever. GenCAD-Code is read from one of two layouts:
- a `datasets.save_to_disk` folder: `dataset_dict.json` + `<split>/data-*.arrow`
  (Arrow IPC stream files), or a single split's folder;
- the hub's parquet layout: `data/<split>-*.parquet`.
Both are read with pyarrow (the `datasets` package is not needed). Its location: the `root`
argument, else `$CADBENCH_GENCAD_DIR`, else `cadbench_home()/datasets/gencad-code`.

With `geometry_root`, each sample's ground truth is also a geometry file (STEP or a mesh) of
that folder, named by DeepCAD id in DeepCAD's nested layout (`<root>/0067/00675497.step`) or
flat (`<root>/00675497.stl`), recorded in `meta["reference_path"]`;
`inputs.references_from_samples` then makes geometry references of them, parsed in the sandbox
like any reference.

Where an evaluation file's images are missing, they are rendered from the ground-truth
program (`meta["image_source"] = "rendered"`). Rendering runs only code regenerated from
the program IR (`from_code(...).to_code()`: nothing but cadquery sketch/extrude/boolean
calls); a program outside that idiom goes to the sandbox, if available, never to exec here.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from ..config import cadbench_home
from ..errors import DatasetNotFound, InputError
from .base import Sample

GENCAD_SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}
COLUMNS = ("image", "deepcad_id", "cadquery", "token_count", "prompt", "hundred_subset")
RENDER_CACHE_VERSION = "r1"

HOW_TO_GET = """\
GenCAD-Code (Hugging Face dataset CADCODER/GenCAD-Code, ~163k samples) is not available
locally. cadbench never downloads it. On a machine with internet access, either
  python -c "import datasets; datasets.load_dataset('CADCODER/GenCAD-Code').save_to_disk('gencad-code')"
or download the hub's parquet files (data/train-*.parquet, data/validation-*.parquet,
data/test-*.parquet) with `huggingface-cli download CADCODER/GenCAD-Code --repo-type dataset
--local-dir gencad-code`, then copy the folder to {default} (or point $CADBENCH_GENCAD_DIR
at it, or pass root=...)."""


def gencad_root(root: str | Path | None = None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CADBENCH_GENCAD_DIR")
    if env:
        return Path(env).expanduser()
    return cadbench_home() / "datasets" / "gencad-code"


def _canonical_split(split: str) -> str:
    s = SPLIT_ALIASES.get(split, split)
    if s not in GENCAD_SPLITS:
        raise InputError(f"GenCAD-Code has splits {', '.join(GENCAD_SPLITS)}; got {split!r}")
    return s


def find_split_files(root: Path, split: str) -> tuple[str, list[Path]]:
    """("arrow" | "parquet", files) of one split, or DatasetNotFound saying how to get it."""
    candidates = [
        ("arrow", sorted((root / split).glob("*.arrow"))),
        ("parquet", sorted((root / "data").glob(f"{split}-*.parquet"))),
        ("parquet", sorted((root / split).glob("*.parquet"))),
    ]
    if (root / "state.json").exists():  # root is itself one split's save_to_disk folder
        candidates.append(("arrow", sorted(root.glob("*.arrow"))))
    for kind, files in candidates:
        if files:
            return kind, files
    msg = HOW_TO_GET.format(default=gencad_root(None))
    if root.exists():
        raise DatasetNotFound(f"no GenCAD-Code '{split}' split under {root} (looked for "
                              f"{split}/*.arrow and data/{split}-*.parquet).\n{msg}")
    raise DatasetNotFound(f"{root} does not exist.\n{msg}")


def _pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise DatasetNotFound("reading GenCAD-Code needs pyarrow: pip install pyarrow") from None
    return pyarrow


def read_table(kind: str, files: list[Path], columns=COLUMNS):
    """All rows of the files as one pyarrow Table (only the columns present of `columns`)."""
    pa = _pyarrow()
    tables = []
    for f in files:
        try:
            if kind == "parquet":
                import pyarrow.parquet as pq
                names = pq.read_schema(f).names
                t = pq.read_table(f, columns=[c for c in columns if c in names])
            else:
                with pa.memory_map(str(f)) as src:
                    try:
                        t = pa.ipc.open_stream(src).read_all()
                    except pa.ArrowInvalid:  # the random-access file format
                        t = pa.ipc.open_file(src).read_all()
                t = t.select([c for c in columns if c in t.column_names])
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(f"{f}: cannot read as {kind} ({e})") from None
        tables.append(t)
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def load_gencad(split: str = "test", root: str | Path | None = None, subset: str | None = None,
                with_images: bool = True, limit: int | None = None,
                geometry_root: str | Path | None = None) -> list[Sample]:
    """Samples of a local GenCAD-Code copy. subset="hundred" keeps the hundred_subset rows.
    geometry_root: a folder of the parts' STEP/STL files (see attach_geometry)."""
    split = _canonical_split(split)
    if subset not in (None, "hundred", "all"):
        raise InputError(f"subset must be 'hundred' (or None), got {subset!r}")
    base = gencad_root(root)
    kind, files = find_split_files(base, split)
    cols = COLUMNS if with_images else tuple(c for c in COLUMNS if c != "image")
    table = read_table(kind, files, cols)
    missing = {"cadquery"} - set(table.column_names)
    if missing:
        raise InputError(f"{files[0]}: GenCAD-Code file lacks column(s) {sorted(missing)}")
    if subset == "hundred":
        if "hundred_subset" not in table.column_names:
            raise InputError(f"{files[0]}: no hundred_subset column to select the subset")
        mask = np.asarray(table.column("hundred_subset").to_pylist(), dtype=bool)
        table = table.filter(mask)
    if limit is not None:
        table = table.slice(0, limit)
    rows = table.to_pylist()
    samples, seen = [], set()
    for i, r in enumerate(rows):
        sid = str(r.get("deepcad_id") if r.get("deepcad_id") is not None else f"{split}-{i}")
        if sid in seen:          # keep ids unique even if a deepcad_id repeats
            sid = f"{sid}#{i}"
        seen.add(sid)
        image = _decode_image(r.get("image"), f"{files[0]} row {i}") if with_images else None
        samples.append(Sample(sid, r["cadquery"], image, {
            "source": "gencad", "split": split, "deepcad_id": r.get("deepcad_id"),
            "token_count": r.get("token_count"), "prompt": r.get("prompt"),
            "hundred_subset": r.get("hundred_subset"), "family": "gencad",
            "image_source": "dataset" if image is not None else "missing"}))
    return attach_geometry(samples, geometry_root) if geometry_root is not None else samples


def deepcad_id_of(sample: Sample) -> str | None:
    """The DeepCAD id ("0067/00675497") of a GenCAD-Code sample: its deepcad_id, else the
    evaluation file's image name without the view suffix ("0067/00675497_0.png")."""
    if sample.meta.get("deepcad_id"):
        return str(sample.meta["deepcad_id"])
    image = sample.meta.get("image_ref")
    if image:
        stem = str(Path(str(image)).with_suffix("").as_posix())
        head, sep, tail = stem.rpartition("_")
        return head if sep and tail.isdigit() else stem
    return None


def attach_geometry(samples: list[Sample], geometry_root: str | Path) -> list[Sample]:
    """Name each sample's geometry file in `meta["reference_path"]`: `<root>/<deepcad_id>.<ext>`
    (DeepCAD's nested layout) or `<root>/<last part of the id>.<ext>` (flat), STEP first, then
    STL, OBJ, PLY, glTF. Every sample must have one (InputError naming the first missing)."""
    from ..inputs import GEOMETRY_FORMATS
    root = Path(geometry_root).expanduser()
    if not root.is_dir():
        raise DatasetNotFound(f"{root}: no such folder of GenCAD-Code STEP/STL files")
    missing = []
    for s in samples:
        did = deepcad_id_of(s) or s.id
        found = next((p for name in dict.fromkeys((did, did.rsplit("/", 1)[-1], s.id))
                      for suffix in GEOMETRY_FORMATS
                      for p in (root / f"{name}{suffix}",) if p.is_file()), None)
        if found is None:
            missing.append(f"{s.id} ({did})")
            continue
        s.meta["reference_path"] = str(found)
        s.meta["reference_format"] = GEOMETRY_FORMATS[found.suffix.lower()]
    if missing:
        raise InputError(f"{root}: no geometry file for {len(missing)} of {len(samples)} "
                         f"sample(s), e.g. {', '.join(missing[:3])} (looked for "
                         f"<root>/<deepcad_id>.step|.stl|... and <root>/<id>.step|.stl|...)")
    return samples


def _decode_image(value, where: str) -> np.ndarray | None:
    """A datasets Image value ({"bytes", "path"}), raw bytes, or None -> RGB uint8 array."""
    if value is None:
        return None
    data = value.get("bytes") if isinstance(value, dict) else value
    if data is None and isinstance(value, dict) and value.get("path") and \
            Path(value["path"]).exists():
        data = Path(value["path"]).read_bytes()
    if data is None:
        return None
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise InputError(f"{where}: image bytes are not a readable image ({e})") from None


# ----------------------------------------------------------------------------- eval files

def load_eval_file(path: str | Path, image_root: str | Path | None = None,
                   render_missing: bool = True, with_images: bool = True,
                   image_size: int = 224, limit: int | None = None,
                   geometry_root: str | Path | None = None) -> list[Sample]:
    """Samples of an evaluation-format JSONL (question_id, image, ground_truth, text, ...).

    Images are read from `image_root/<image>` when present; otherwise (render_missing) they
    are rendered from the ground truth and marked meta["image_source"] = "rendered".
    geometry_root: a folder of the parts' STEP/STL files named by DeepCAD id (attach_geometry):
    the reference of each sample is then that file."""
    from ..records import read_jsonl
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such evaluation file")
    samples, seen = [], set()
    for lineno, obj in read_jsonl(path):
        for key in ("question_id", "ground_truth"):
            if key not in obj:
                raise InputError(f"{path}:{lineno}: missing field '{key}'")
        sid = str(obj["question_id"])
        if sid in seen:
            raise InputError(f"{path}:{lineno}: duplicate question_id {sid}")
        seen.add(sid)
        meta = {"source": "gencad_eval", "file": str(path), "image_ref": obj.get("image"),
                "prompt": obj.get("text"), "category": obj.get("category"),
                "family": "gencad"}
        image = None
        if with_images:
            if image_root is not None and obj.get("image"):
                p = Path(image_root).expanduser() / obj["image"]
                if p.exists():
                    from PIL import Image
                    with Image.open(p) as im:
                        image = np.asarray(im.convert("RGB"))
                    meta["image_source"] = "dataset"
            if image is None and render_missing:
                image = render_reference(obj["ground_truth"], image_size, where=f"{path}:{lineno}")
                meta["image_source"] = "rendered" if image is not None else "missing"
            meta.setdefault("image_source", "missing")
        samples.append(Sample(sid, obj["ground_truth"], image, meta))
        if limit is not None and len(samples) >= limit:
            break
    return attach_geometry(samples, geometry_root) if geometry_root is not None else samples


def render_reference(code: str, size: int = 224, where: str = "") -> np.ndarray | None:
    """Render a reference program, cached on disk by its text. Only IR-regenerated code runs
    in this process; other programs go through the sandbox when it exists, else None."""
    key = hashlib.sha1(f"{RENDER_CACHE_VERSION}|{size}|{code}".encode()).hexdigest()
    cache = cadbench_home() / "render_cache" / f"{key}.png"
    from PIL import Image
    if cache.exists():
        with Image.open(cache) as im:
            return np.asarray(im.convert("RGB"))
    from ..program import ProgramParseError, from_code
    from ..render import render_code, render_mesh
    try:
        safe_code = from_code(code).to_code()
        image = render_code(safe_code, size=size)
    except ProgramParseError:
        mesh = _mesh_via_sandbox(code)
        if mesh is None:
            return None
        image = render_mesh(mesh, size=size)
    except Exception:  # a reference the kernel cannot build: no image, not a crash
        return None
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.png")
    Image.fromarray(image).save(tmp)
    os.replace(tmp, cache)
    return image


def _mesh_via_sandbox(code: str):
    try:
        from ..config import ExecConfig
        from ..execute.sandbox import Sandbox
    except ImportError:
        return None
    with Sandbox(ExecConfig()) as sb:
        res = sb.run(code)
    return res.mesh if res.status == "ok" else None


# ----------------------------------------------------------------------------- shared 50

def shared_subset50_path() -> Path:
    env = os.environ.get("CADBENCH_GENCAD50")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "gencad_subset50.jsonl"


def load_shared_subset50(**kw) -> list[Sample]:
    """The 50 real GenCAD-Code test programs shipped in shared/data (images rendered)."""
    p = shared_subset50_path()
    if not p.exists():
        raise DatasetNotFound(f"{p} not found: the 50 shared GenCAD-Code programs live in "
                              "shared/data/ beside the repository (or set $CADBENCH_GENCAD50)")
    samples = load_eval_file(p, **kw)
    for s in samples:
        s.meta["source"] = "gencad50"
    return samples

