"""The benchmarks' own folder layouts, read from local copies (no network, ever).

- CADBench (Doris et al. 2026, HF DeCoDELab/CADBench): a bench folder as its
  get_bench/upload_data_to_hf scripts lay it out, `<root>/<bench>/[<label>/]<file_id>.<ext>`
  with <ext> in step, stl, obj and <label> a difficulty (easy, medium, hard) or absent;
  images, when downloaded with its download_from_hf.py, under
  `<root>/benchmark_data/singleview/<bench>/[<label>/]<file_id>.png`.
- BenchCAD Vision2Code (HF BenchCAD/BenchCAD, config code_gen): its
  tools/download_codegen_bench.py layout, `<root>/records.jsonl` ({record_id, family,
  code_path, step_path}), `codes/<id>.py`, `steps/<id>.step`, and the cached input
  composite `steps/<id>.png` when the runner has rendered it.
- CAD-Recode / cadrille test sets (HF maksimko123/deepcad_test_mesh, fusion360_test_mesh;
  filapro/cad-recode-v1.5): `<root>/<split>/<id>.stl` (meshes already in the unit cube),
  with `<id>.py` beside them for cad-recode-v1.5/val.

Each loader returns cadbench Samples: the id, the image where the layout has one, the
ground-truth program where it has one (else code ""), and `meta["reference_path"]`, the
geometry file that is the ground truth. `read_cadbench2026_outputs` and
`read_cadrille_outputs` read model outputs saved in those peers' layouts (runs r1-r3,
candidates <id>+<k>.py) for scoring under their protocols."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetNotFound, InputError
from ..inputs import GEOMETRY_FORMATS
from .base import Sample

# The suffixes a layout's reference files may have, in the order one is preferred when an id
# has several: inputs.GEOMETRY_FORMATS decides which formats exist and their order (the B-rep,
# STEP, before the meshes STL, OBJ, PLY, glTF).
GEOMETRY_SUFFIXES = tuple(GEOMETRY_FORMATS)
CADBENCH_LABELS = ("easy", "medium", "hard")

CADBENCH_HOW = """\
CADBench (Doris et al. 2026) is not available locally; cadbench never downloads it. On a
machine with internet access, clone github.com/anniedoris/CADBench and, in CADBenchEval, run
`python scripts/download_from_hf.py --split {split} --out data/{split} --format stl` (or
`--format step`; images: `--model_type image`), then pass the folder holding `{split}/`
as root (layout <root>/{split}/[easy|medium|hard/]<file_id>.stl)."""

BENCHCAD_HOW = """\
BenchCAD Vision2Code data is not available locally; cadbench never downloads it. On a machine
with internet access, clone github.com/BenchCAD/BenchCAD-main and run, in Vision2Code,
`uv run python tools/download_codegen_bench.py --out data`; pass that folder (it holds
records.jsonl, codes/ and steps/) as root."""

CADRILLE_HOW = """\
The CAD-Recode/cadrille test set {split!r} is not available locally; cadbench never downloads
it. On a machine with internet access: `git lfs install && git clone
https://huggingface.co/datasets/maksimko123/{split}` (deepcad_test_mesh, fusion360_test_mesh;
cad-recode-v1.5 from filapro/cad-recode-v1.5), then pass the folder that holds `{split}/`
as root (layout <root>/{split}/<id>.stl, meshes in the unit cube)."""


def _root(root: str | Path | None, how: str) -> Path:
    if root is None:
        raise DatasetNotFound(f"no root folder given.\n{how}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetNotFound(f"{path} does not exist or is not a folder.\n{how}")
    return path


def _image(path: Path) -> np.ndarray | None:
    if not path.exists():
        return None
    from PIL import Image
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise InputError(f"{path}: not a readable image ({e})") from None


def _geometry_files(folder: Path) -> dict[str, Path]:
    """id -> geometry file in `folder`, one format per id (GEOMETRY_SUFFIXES' order: STEP
    before STL before OBJ, PLY, glTF)."""
    found: dict[str, Path] = {}
    for suffix in GEOMETRY_SUFFIXES:
        for f in sorted(folder.glob(f"*{suffix}")):
            found.setdefault(f.stem, f)
    return found


def load_cadbench2026(split: str = "bench0", root: str | Path | None = None,
                      with_images: bool = True, limit: int | None = None) -> list[Sample]:
    """CADBench samples of one bench split; meta: label (difficulty), family (the bench)."""
    how = CADBENCH_HOW.format(split=split)
    base = _root(root, how)
    folder = base / split
    if not folder.is_dir():
        raise DatasetNotFound(f"no CADBench split {split!r} under {base} (looked for "
                              f"{folder}).\n{how}")
    groups = [(label, folder / label) for label in CADBENCH_LABELS if (folder / label).is_dir()]
    if not groups:
        groups = [("", folder)]
    image_root = base / "benchmark_data" / "singleview" / split
    samples = []
    for label, sub in groups:
        for file_id, path in sorted(_geometry_files(sub).items()):
            image_dir = image_root / label if label else image_root
            image = _image(image_dir / f"{file_id}.png") if with_images else None
            meta = {"source": "cadbench2026", "split": split, "family": split,
                    "label": label or "none", "reference_path": str(path),
                    "reference_format": GEOMETRY_FORMATS[path.suffix.lower()],
                    "image_source": "dataset" if image is not None else "missing"}
            samples.append(Sample(file_id, "", image, meta))
    if not samples:
        raise DatasetNotFound(f"{folder}: no <file_id>.step/.stl/.obj files.\n{how}")
    return samples[:limit]


def load_benchcad(split: str = "code_gen", root: str | Path | None = None,
                  with_images: bool = True, limit: int | None = None) -> list[Sample]:
    """BenchCAD Vision2Code records; the STEP file is the reference, the program beside it."""
    base = _root(root, BENCHCAD_HOW)
    manifest = base / "records.jsonl"
    if not manifest.exists():
        raise DatasetNotFound(f"{manifest} is missing.\n{BENCHCAD_HOW}")
    samples = []
    for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            rid, step_rel = str(rec["record_id"]), rec["step_path"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise InputError(f"{manifest}:{n}: not a BenchCAD record ({e})") from None
        step = base / step_rel
        if not step.exists():
            raise InputError(f"{manifest}:{n}: record {rid}: {step} is missing")
        code = ""
        if rec.get("code_path") and (base / rec["code_path"]).exists():
            code = (base / rec["code_path"]).read_text(encoding="utf-8")
        image = _image(step.with_suffix(".png")) if with_images else None
        meta = {"source": "benchcad", "split": split, "family": rec.get("family") or "unknown",
                "reference_path": str(step), "reference_format": "step",
                "image_source": "dataset" if image is not None else "missing"}
        samples.append(Sample(rid, code, image, meta))
    if not samples:
        raise DatasetNotFound(f"{manifest} lists no records.\n{BENCHCAD_HOW}")
    return samples[:limit]


def load_cadrille_testset(split: str = "deepcad_test_mesh", root: str | Path | None = None,
                          with_images: bool = True, limit: int | None = None) -> list[Sample]:
    """A CAD-Recode/cadrille test folder of `<id>.stl` (and `<id>.py`) files. The layout has
    no images (cadrille renders its inputs from the meshes)."""
    how = CADRILLE_HOW.format(split=split)
    base = _root(root, how)
    folder = base / split
    if not folder.is_dir():
        raise DatasetNotFound(f"no folder {folder}.\n{how}")
    meshes = sorted(folder.glob("*.stl"), key=lambda p: (len(p.stem), p.stem))
    if not meshes:
        raise DatasetNotFound(f"{folder}: no <id>.stl files.\n{how}")
    samples = []
    for stl in meshes[:limit]:
        py = stl.with_suffix(".py")
        code = py.read_text(encoding="utf-8") if py.exists() else ""
        meta = {"source": "cadrille", "split": split, "family": split,
                "reference_path": str(stl), "reference_format": "stl",
                "reference_frame": "unit_cube", "image_source": "missing"}
        samples.append(Sample(stl.stem, code, None, meta))
    return samples


@dataclass(frozen=True)
class PeerPrediction:
    """One model output in a peer's own folder layout, for scoring under its protocol."""

    id: str              # the reference it answers
    code: str            # the CadQuery program
    run: str = "r1"      # repeated run (CADBench r1, r2, r3)
    family: str = ""     # the benchmark subset (CADBench bench0, benchM, ...)
    candidate: int = 0   # several candidates per id (cadrille's <id>+<k>.py)
    path: str = ""       # where it was read (file, and line for JSONL)


def read_cadbench2026_outputs(model_dir: str | Path, modality: str) -> list[PeerPrediction]:
    """CADBench's tested_models layout: <model_dir>/<modality>/r<N>/<bench>.jsonl, one
    {"file_id", "generated"} object a line (README, "Test Your Model")."""
    base = Path(model_dir).expanduser() / modality
    if not base.is_dir():
        raise InputError(f"{base}: no such folder (CADBench outputs are "
                         "<model>/<modality>/r1/<bench>.jsonl)")
    out = []
    runs = sorted(p for p in base.iterdir() if p.is_dir() and p.name[:1] == "r"
                  and p.name[1:].isdigit())
    if not runs:
        raise InputError(f"{base}: no run folders r1, r2, ...")
    for run in runs:
        for jsonl in sorted(run.glob("*.jsonl")):
            for n, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line.rstrip(","))  # the peer accepts a trailing comma
                    out.append(PeerPrediction(str(rec["file_id"]), str(rec["generated"]),
                                              run.name, jsonl.stem, 0, f"{jsonl}:{n}"))
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise InputError(f"{jsonl}:{n}: not a CADBench output "
                                     f"({{file_id, generated}}): {e}") from None
    return out


def read_cadrille_outputs(pred_py_path: str | Path) -> list[PeerPrediction]:
    """cadrille's test.py output: <pred_py_path>/<file_name>+<index>.py, several candidates
    per reference (evaluate.py keeps the best)."""
    base = Path(pred_py_path).expanduser()
    if not base.is_dir():
        raise InputError(f"{base}: no such folder (cadrille outputs are <id>+<k>.py files)")
    out = []
    for py in sorted(base.glob("*.py")):
        stem, sep, index = py.stem.rpartition("+")
        if not sep or not index.isdigit():
            raise InputError(f"{py}: not named <id>+<index>.py as cadrille's test.py writes")
        out.append(PeerPrediction(stem, py.read_text(encoding="utf-8"), "r1", "", int(index),
                                  str(py)))
    return out


def _from_kw(fn, default_split: str):
    @functools.wraps(fn)  # __wrapped__: datasets/options.py reads the options off `fn`
    def loader(split: str = default_split, **kw) -> list[Sample]:
        return fn(split if split != "test" else default_split, **kw)
    return loader


# Registered in cadbench/datasets/__init__.py (names -> loaders with `root=` required).
LOADERS = {
    "cadbench2026": (_from_kw(load_cadbench2026, "bench0"),
                     "local copy of CADBench (Doris et al. 2026): root=..., split=bench0.."),
    "benchcad": (_from_kw(load_benchcad, "code_gen"),
                 "local copy of BenchCAD Vision2Code data (records.jsonl, codes/, steps/): root=..."),
    "cadrille_test": (_from_kw(load_cadrille_testset, "deepcad_test_mesh"),
                      "local copy of the CAD-Recode/cadrille test meshes: root=..., "
                      "split=deepcad_test_mesh|fusion360_test_mesh"),
}
