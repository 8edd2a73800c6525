"""Reading the two inputs of scoring: references and predictions.

References: JSONL rows {"id", "code"}, the GenCAD-Code evaluation format
{"question_id", "ground_truth"}, or a dataset spec `NAME[:SPLIT]` (e.g. `synth:test`).
Predictions: JSONL rows {"id", "code"} (optionally "candidate"); several rows per id allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .records import read_jsonl


@dataclass(frozen=True)
class Reference:
    id: str
    code: str


@dataclass(frozen=True)
class Prediction:
    id: str
    code: str
    candidate: int = 0


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


def load_references(spec: str | Path) -> list[Reference]:
    """Load references from a JSONL file or a dataset spec `NAME[:SPLIT]`."""
    path = Path(spec)
    if not path.exists() and not str(spec).endswith(".jsonl"):
        return _references_from_dataset(str(spec))
    refs: list[Reference] = []
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        rid = _text_field(obj, ("id", "question_id"), where, "id")
        code = _text_field(obj, ("code", "ground_truth", "cadquery"), where, "code")
        if rid in seen:
            raise InputError(f"{where}: duplicate reference id '{rid}' "
                             f"(first on line {seen[rid]})")
        seen[rid] = lineno
        refs.append(Reference(rid, code))
    if not refs:
        raise InputError(f"{path}: no references in file")
    return refs


def _references_from_dataset(spec: str) -> list[Reference]:
    from .datasets import load_references as dataset_references  # lazy: may build a split
    return [Reference(i, code) for i, code in dataset_references(spec)]


def load_predictions(path: str | Path, allow_empty: bool = False) -> list[Prediction]:
    """Rows {"id", "code"[, "candidate"]}; without "candidate", rows of one id are numbered
    in file order. Empty code is kept: it scores as a failure, not a crash. A file with no
    prediction at all is an error (a wrong path or a generation that wrote nothing would
    otherwise score as a model that failed everything) unless `allow_empty`."""
    path = Path(path)
    preds: list[Prediction] = []
    next_index: dict[str, int] = {}
    used: dict[tuple[str, int], int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        pid = _text_field(obj, ("id", "question_id"), where, "id")
        code = _text_field(obj, ("code", "prediction", "completion"), where, "code",
                           allow_empty=True)
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
        preds.append(Prediction(pid, code, cand))
    if not preds and not allow_empty:
        raise InputError(f"{path}: no predictions in file (expected JSONL rows {{id, code}})")
    return preds
