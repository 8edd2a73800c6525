"""Protocols: one benchmark's published convention as data, and the two functions that read it.

    from cadbench.protocols import get_protocol, evaluate_pair, aggregate
    p = get_protocol("cadrille")
    row = evaluate_pair(p, ref_solid, pred_solid, seed=0)   # {"iou": ..., "cd": ..., "flags": [...]}
    summary = aggregate(p, rows)                            # the peer's headline table

Protocols: `cadbench` (the default), `cadrille` (CAD-Recode/cadrille), `cadbench2026` (Doris
et al.'s CADBench), `benchcad` (BenchCAD Vision2Code), `mecagent` (the Mecagent technical
test). docs/protocols.md says what each reproduces exactly and what differs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..geometry.mesh import Mesh
from ..geometry.metrics import MetricError, prepare_solid
from ..geometry.solid import Solid
from . import benchcad, cadbench, cadbench2026, cadrille, mecagent
from .align import align_cadbench2026
from .frames import normalise
from .metrics import METRIC_KINDS
from .repair import apply_repair
from .spec import Aggregation, Limits, MetricSpec, Protocol, ReportedStat
from .stats import aggregate_rows

from ..config import DEFAULT_PROTOCOL  # noqa: E402 - one place names it
_REGISTRY: dict[str, Protocol] = {m.PROTOCOL.name: m.PROTOCOL for m in
                                  (cadbench, cadrille, cadbench2026, benchcad, mecagent)}


class UnknownProtocol(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_protocol(name: str) -> Protocol:
    """The registered protocol called `name` (UnknownProtocol lists the known ones)."""
    if name not in _REGISTRY:
        raise UnknownProtocol(f"unknown protocol {name!r}; known: {', '.join(list_protocols())}")
    return _REGISTRY[name]


def list_protocols() -> list[str]:
    return sorted(_REGISTRY)


def register_protocol(protocol: Protocol, replace: bool = False) -> None:
    if protocol.name in _REGISTRY and not replace:
        raise ValueError(f"protocol {protocol.name!r} is already registered")
    for spec in protocol.metrics:
        if spec.kind not in METRIC_KINDS:
            raise ValueError(f"protocol {protocol.name!r}, metric {spec.name!r}: unknown kind "
                             f"{spec.kind!r}; known: {', '.join(METRIC_KINDS)}")
    _REGISTRY[protocol.name] = protocol


def _better(spec: MetricSpec, a: float, b: float) -> float:
    return max(a, b) if spec.higher_is_better else min(a, b)


class _Pair:
    """The pair in every frame a protocol asks for, each computed once."""

    def __init__(self, protocol: Protocol, ref: Solid, pred: Solid):
        self.protocol, self.ref, self.pred = protocol, ref, pred
        self._frames: dict[str, tuple[Solid, Solid]] = {}
        self._aligned: dict[str, Any] = {}

    def framed(self, frame: str) -> tuple[Solid, Solid]:
        if frame not in self._frames:
            ref = normalise(self.ref, frame) if self.protocol.normalise_reference else self.ref
            self._frames[frame] = (ref, normalise(self.pred, frame))
        return self._frames[frame]

    def aligned(self, alignment: str, frame: str):
        key = f"{alignment}@{frame}"
        if key not in self._aligned:
            if alignment != "cadbench2026_principal":
                raise ValueError(f"unknown alignment {alignment!r}")
            ref, pred = self.framed(frame)
            self._aligned[key] = align_cadbench2026(ref, pred)
        return self._aligned[key]


def _one(pair: _Pair, spec: MetricSpec, seed: int, flags: list[str]) -> float:
    fn = METRIC_KINDS[spec.kind]
    ref, pred = pair.framed(spec.frame)
    if spec.alignment != "none":
        try:
            aligned = pair.aligned(spec.alignment, spec.frame)
        except Exception as exc:  # noqa: BLE001 - the peer falls back to its naive values
            flags.append(f"alignment_failed_naive_used ({type(exc).__name__})")
            return _naive(pair, spec, seed, flags)
        if aligned.reflection:
            flags.append("aligned_by_reflection")
        if spec.kind == "exact_iou":
            return aligned.iou
        return fn(ref, aligned.pred, spec, seed)
    if spec.best_with_raw_prediction:
        return _naive(pair, spec, seed, flags)
    return fn(ref, pred, spec, seed)


def _naive(pair: _Pair, spec: MetricSpec, seed: int, flags: list[str]) -> float:
    """CADBench's naive value: the prediction normalised, and (for IoU and CD) also as it
    came, the better of the two kept."""
    fn = METRIC_KINDS[spec.kind]
    ref, pred = pair.framed(spec.frame)
    value = fn(ref, pred, spec, seed)
    if spec.best_with_raw_prediction:
        raw = fn(ref, pair.pred, spec, seed + 7)
        if _better(spec, raw, value) != value:
            flags.append(f"{spec.name}_from_unnormalised_prediction")
        value = _better(spec, raw, value)
    return value


def evaluate_pair(protocol: Protocol, ref: Solid | Mesh, pred: Solid | Mesh,
                  seed: int = 0) -> dict[str, Any]:
    """The protocol's per-sample metrics for one pair, in the protocol's reported units.

    Returns {metric name: value or None, "flags": [...], "metric_errors": {name: reason}}.
    `flags` names every place where the peer's convention decided the value in a way a
    reader should know (a silent zero, a reflection, a repair not applied, ...). A mesh is
    made a Solid first (the reference through make_reference_solid: a defective ground truth
    is kept and flagged); an invalid prediction raises, as for any cadbench metric."""
    ref = prepare_solid(ref, "reference")
    pred = prepare_solid(pred)
    flags: list[str] = []
    ref, pred = apply_repair(protocol.repair, ref, pred, flags)
    if ref.defect is not None:
        flags.append("reference_not_a_valid_solid")
    pair = _Pair(protocol, ref, pred)
    row: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in protocol.metrics:
        try:
            with np.errstate(all="ignore"):
                value = _one(pair, spec, seed, flags)
            row[spec.name] = float(value) * spec.scale
        except (MetricError, ValueError) as exc:
            if ref.defect is not None and spec.defective_reference_value is not None:
                row[spec.name] = spec.defective_reference_value
                flags.append(f"{spec.name}_silently_{spec.defective_reference_value:g}"
                             "_for_a_reference_that_is_not_watertight")
                continue
            row[spec.name] = None
            errors[spec.name] = f"{type(exc).__name__}: {exc}"[:300]
    if pred.n_components > 1 or ref.n_components > 1:
        flags.append("several_components_fused" if protocol.name == "cadbench"
                     else "several_components_fused_peer_may_count_overlaps_twice")
    row["flags"] = sorted(set(flags))
    row["metric_errors"] = errors
    return row


def aggregate(protocol: Protocol, rows: list[dict]) -> dict[str, Any]:
    """The protocol's headline table over per-sample rows (see cadbench.protocols.stats)."""
    return aggregate_rows(protocol, rows)


__all__ = ["Aggregation", "Limits", "MetricSpec", "Protocol", "ReportedStat",
           "DEFAULT_PROTOCOL", "UnknownProtocol", "aggregate", "evaluate_pair",
           "get_protocol", "list_protocols", "register_protocol"]
