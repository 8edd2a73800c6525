"""Dataset options from the command line: `--dataset-opt KEY=VALUE` on `cadbench run`,
`cadbench train` and `cadbench score --references NAME[:SPLIT]`.

The options a dataset accepts are its loader's keyword parameters (read off its signature):
`root=DIR` for the peers' layouts (cadbench2026, benchcad, cadrille_test) and GenCAD-Code,
`geometry_root=DIR` (GenCAD-Code's STEP/STL files as the references), `subset=hundred`,
`size=N` for synth, and so on. Each value is converted to the parameter's type (int, float,
bool, a path: `~` expanded and made absolute). Three are the harness's own, never a dataset
option: `split` (--split, or NAME:SPLIT), `limit` (`cadbench run --limit N`) and
`with_images` (images are loaded when a submission needs them).

A path option says where the data is, and `NEUTRAL` ones (progress, n_jobs, build) change
nothing; any other option (subset, size, render_missing, ...) makes other samples than the
split the leaderboard knows, so a run given one does not cover the whole split
(`changes_samples`; its record is then filed only with --record).
"""

from __future__ import annotations

import inspect
import os
import typing
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

# Parameters a loader has that the harness sets itself, with what to use instead.
RESERVED = {"split": "use --split (or --references NAME:SPLIT)",
            "limit": "use `cadbench run --limit N`",
            "with_images": "the harness loads images when a submission needs them"}


def parse_dataset_option_strings(pairs: list[str] | None) -> dict[str, str]:
    """`["root=~/data", "subset=hundred"]` -> {"root": "~/data", "subset": "hundred"}."""
    from ..keyvalue import parse_key_values
    return parse_key_values(pairs, "--dataset-opt", example="root=DIR")


def dataset_loader(spec: str) -> tuple[str, Callable]:
    """(what to call it in messages, the function that loads `spec`'s samples): a registered
    name, `gencad_eval:FILE`, a folder of programs or an evaluation JSONL file."""
    from . import _REGISTRY, get_dataset_info
    name = str(spec)
    if name in _REGISTRY:
        return f"dataset {name!r}", _unwrap(_REGISTRY[name].loader)
    from .gencad import load_eval_file
    if name.startswith("gencad_eval:"):
        return "an evaluation file (gencad_eval:)", load_eval_file
    path = Path(name).expanduser()
    if path.is_dir():
        from .folder import load_folder
        return f"the dataset folder {path}", load_folder
    if path.is_file() and path.suffix == ".jsonl":
        return f"the evaluation file {path}", load_eval_file
    get_dataset_info(name)  # raises the "unknown dataset" message
    raise AssertionError("unreachable")


def _unwrap(fn: Callable) -> Callable:
    """The function a registered loader calls: lazy loaders name it in `target`
    ("module:function"), wrappers in `__wrapped__`."""
    import importlib
    while True:
        target = getattr(fn, "target", None)
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__  # type: ignore[attr-defined]
        else:
            return fn


# Options that change neither where the data is nor which samples there are.
NEUTRAL = ("progress", "n_jobs", "build")
_FROM_TEXT = (str, Path, int, float, bool)   # what a KEY=VALUE string converts to


def accepted_options(fn: Callable) -> dict[str, inspect.Parameter]:
    """The loader's keyword parameters with a default that a string converts to, less the
    harness's own."""
    return {n: p for n, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty and n not in RESERVED
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and any(t in _FROM_TEXT for t in _types(fn, n))}


def _types(fn: Callable, name: str) -> tuple[type, ...]:
    try:
        hint = typing.get_type_hints(fn).get(name)
    except Exception:  # an annotation that does not evaluate: take the default's type
        hint = None
    if hint is None:
        default = inspect.signature(fn).parameters[name].default
        return (type(default),) if default is not None else (str,)
    args = typing.get_args(hint)
    return tuple(a for a in (args or (hint,)) if a is not type(None))


def is_path_option(spec: str, key: str) -> bool:
    _, fn = dataset_loader(spec)
    return Path in _types(fn, key)


def _convert(key: str, value: Any, types: tuple[type, ...], where: str) -> Any:
    if not isinstance(value, str):
        return value
    if Path in types:
        return os.path.abspath(os.path.expanduser(value)) if value else value
    if str in types:
        return value
    from ..keyvalue import text_to
    try:
        for kind in (bool, int, float):   # bool first: it is an int too
            if kind in types:
                return text_to(kind, value)
    except ValueError:
        names = "/".join(t.__name__ for t in types)
        raise InputError(f"dataset option {key}={value!r} of {where}: expected {names}"
                         ) from None
    raise AssertionError(f"{key}: {types}")  # accepted_options keeps convertible ones only


def check_dataset_options(spec: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """`options` checked against the loader of `spec` and converted to its parameters' types
    (paths absolute); InputError naming an unknown option and the ones the loader accepts."""
    if not options:
        return {}
    where, fn = dataset_loader(spec)
    accepted = accepted_options(fn)
    out = {}
    for key, value in options.items():
        if key in RESERVED:
            raise InputError(f"--dataset-opt {key}: not a dataset option ({RESERVED[key]})")
        if key not in accepted:
            known = ", ".join(sorted(accepted)) or "none"
            raise InputError(f"{where} has no option {key!r} (its options: {known})")
        out[key] = _convert(key, value, _types(fn, key), where)
    return out


def changes_samples(spec: str, options: dict[str, Any] | None) -> bool:
    """Whether some option picks the samples (subset, size...) rather than saying where the
    data is (a path: root, geometry_root, image_root)."""
    return any(key not in NEUTRAL and not is_path_option(spec, key) for key in options or {})
