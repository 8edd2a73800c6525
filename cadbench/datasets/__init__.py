"""Datasets: one small API over the embedded `synth` benchmark, GenCAD-Code copies, the
authors' evaluation files and users' folders.

    load_dataset("synth", "test")                     # built into the cache on first use
    load_dataset("synth", "test", size=20)            # a small split (tests)
    load_dataset("gencad", "test", subset="hundred")  # a local copy of CADCODER/GenCAD-Code
    load_dataset("gencad_eval:/path/file.jsonl")      # the authors' evaluation file format
    load_dataset("/path/to/folder")                   # <id>.py (+ <id>.png) files
    load_dataset("/path/to/file.jsonl")               # an evaluation-format file

`register_dataset(name, loader, description)` adds a name; a loader is
`loader(split: str, **kw) -> list[Sample]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError
from .base import Sample

Loader = Callable[..., "list[Sample]"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Loader
    description: str
    splits: tuple[str, ...]


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(name: str, loader: Loader, description: str = "",
                     splits: tuple[str, ...] = ("test",), replace: bool = False) -> None:
    if name in _REGISTRY and not replace:
        raise InputError(f"dataset name {name!r} is already registered")
    _REGISTRY[name] = DatasetInfo(name, loader, description, tuple(splits))


def list_datasets() -> list[DatasetInfo]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_dataset_info(name: str) -> DatasetInfo:
    if name not in _REGISTRY:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))} "
                         "(or give a folder of <id>.py files or an evaluation .jsonl file)")
    return _REGISTRY[name]


def load_dataset(name_or_path: str, split: str = "test", **kw) -> list[Sample]:
    """Samples of a registered dataset's split, or of a folder / evaluation JSONL file."""
    name = str(name_or_path)
    if name in _REGISTRY:
        return _REGISTRY[name].loader(split, **kw)  # the loader checks its split names
    if name.startswith("gencad_eval:"):
        from .gencad import load_eval_file
        return load_eval_file(name.split(":", 1)[1], **kw)
    path = Path(name).expanduser()
    if path.is_dir():
        from .folder import load_folder
        return load_folder(path, **kw)
    if path.is_file() and path.suffix == ".jsonl":
        from .gencad import load_eval_file
        return load_eval_file(path, **kw)
    get_dataset_info(name)  # raises the "unknown dataset" message
    raise AssertionError("unreachable")


def load_reference_samples(spec: str, split: str | None = None, **kw) -> list[Sample]:
    """The samples whose references scoring uses, from a dataset spec, without images.

    `spec` is a registered name (`synth`, `synth:val`, `gencad:test`), a folder, or an
    evaluation JSONL (`question_id`/`ground_truth`). `name:split` picks the split; an explicit
    `split=` wins. `kw`: the dataset's options (checked against its loader, see options.py).
    A sample's reference is its `meta["reference_path"]` geometry file when it names one
    (`inputs.references_from_samples`), else its program."""
    from .options import check_dataset_options
    head, _, tail = str(spec).partition(":")
    name, sp = (head, tail) if tail and head in _REGISTRY else (str(spec), "")
    kw = check_dataset_options(name, kw)
    kw.setdefault("with_images", False)
    return load_dataset(name, split or sp or "test", **kw)


def load_references(spec: str, split: str | None = None, **kw) -> list[tuple[str, str]]:
    """(id, code) pairs of `load_reference_samples` (code references only)."""
    return [(s.id, s.code) for s in load_reference_samples(spec, split, **kw)]


def _lazy(target: str) -> Loader:
    """A loader that imports `module:function` on first call and passes the split on;
    `target` is also where options.py reads the dataset's options off."""
    def loader(split: str, **kw) -> list[Sample]:
        import importlib
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)(split, **kw)
    loader.target = target  # type: ignore[attr-defined]
    return loader


def _load_gencad50(split: str, **kw) -> list[Sample]:
    from .gencad import load_shared_subset50
    return load_shared_subset50(**kw)


_load_gencad50.target = "cadbench.datasets.gencad:load_eval_file"  # type: ignore[attr-defined]


register_dataset("synth", _lazy("cadbench.datasets.synth:load_synth"),
                 "embedded procedural GenCAD-style parts, built locally (train/val/test)",
                 splits=("train", "val", "test"))
register_dataset("gencad", _lazy("cadbench.datasets.gencad:load_gencad"),
                 "local copy of HF CADCODER/GenCAD-Code (save_to_disk or parquet); "
                 "subset='hundred' for hundred_subset", splits=("train", "validation", "test"))
register_dataset("gencad50", _load_gencad50,
                 "50 real GenCAD-Code test programs from shared/data (images rendered)",
                 splits=("test",))

__all__ = ["Sample", "DatasetInfo", "register_dataset", "list_datasets", "load_dataset",
           "load_references", "load_reference_samples", "get_dataset_info"]

from .peers import LOADERS as _PEER_LOADERS  # noqa: E402 - the peers' layouts (datasets/peers.py)
for _name, (_loader, _desc) in _PEER_LOADERS.items():
    register_dataset(_name, _loader, _desc, splits=("test",))
