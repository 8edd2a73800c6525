"""A protocol's aggregation: per-sample rows -> the peer's headline table.

A row is a dict with `id`, `status` ("ok" for a scored sample, anything else for a failure)
and one value per metric (None where it could not be computed), plus whatever keys the
breakdown and the repeated runs read (`label`, `family`, `run`, `candidate`)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any, Iterable

from .spec import MetricSpec, Protocol, ReportedStat


def _ok(row: dict) -> bool:
    return row.get("status", "ok") == "ok"


def _value(row: dict, name: str) -> float | None:
    v = row.get(name)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def best_of_candidates(protocol: Protocol, rows: list[dict]) -> list[dict]:
    """One row per id: each metric's best value over the id's candidates (max when higher is
    better, min otherwise); `status` ok when some candidate has a value (cadrille keeps the
    lowest CD and, separately, the highest IoU)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[str(row["id"])].append(row)
    out = []
    for key, group in groups.items():
        merged: dict[str, Any] = {k: v for k, v in group[0].items()
                                  if k not in {m.name for m in protocol.metrics}}
        merged["id"] = key
        any_ok = False
        for spec in protocol.metrics:
            values = [v for r in group if _ok(r) and (v := _value(r, spec.name)) is not None]
            merged[spec.name] = ((max if spec.higher_is_better else min)(values)
                                 if values else None)
            any_ok = any_ok or bool(values)
        merged["status"] = "ok" if any_ok else "failed"
        out.append(merged)
    return out


def statistic(stat: ReportedStat, spec: MetricSpec | None, rows: list[dict]) -> float | None:
    """One number over rows; None when no row contributes."""
    if stat.statistic == "rate_valid":
        if not rows:
            return None
        if spec is None:  # the share of samples that were scored at all
            return sum(_ok(r) for r in rows) / len(rows)
        return sum(_ok(r) and _value(r, spec.name) is not None for r in rows) / len(rows)
    if spec is None:
        raise ValueError(f"statistic {stat.statistic!r} needs a metric, got {stat.metric!r}")
    if stat.statistic.endswith("_valid"):
        values = [v for r in rows if _ok(r) and (v := _value(r, spec.name)) is not None]
    elif stat.statistic.endswith("_adjusted"):
        values = []
        for r in rows:
            v = _value(r, spec.name) if _ok(r) else None
            if v is None:
                v = spec.failure_value
            if v is not None:
                values.append(v)
    else:
        raise ValueError(f"unknown statistic {stat.statistic!r}")
    if not values:
        return None
    reduce = statistics.fmean if stat.statistic.startswith("mean") else statistics.median
    return float(reduce(values))  # rows are in reported units already (evaluate_pair)


def table(protocol: Protocol, rows: list[dict]) -> dict[str, float | None]:
    specs = {m.name: m for m in protocol.metrics}
    return {s.label: statistic(s, specs.get(s.metric), rows) for s in protocol.aggregation.stats}


def _mean_std(values: Iterable[float | None]) -> dict[str, float | int | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n_runs": 0}
    return {"mean": statistics.fmean(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n_runs": len(vals)}


def _per_run(protocol: Protocol, rows: list[dict]) -> dict[str, dict[str, float | None]]:
    runs: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        runs[str(row.get("run", "r1"))].append(row)
    return {run: table(protocol, group) for run, group in sorted(runs.items())}


def _summary(protocol: Protocol, rows: list[dict]) -> dict[str, Any]:
    """The table over `rows`, as plain values, or mean/std over runs for a runs protocol."""
    if protocol.aggregation.runs != "mean_std":
        return table(protocol, rows)
    per_run = _per_run(protocol, rows)
    return {label: _mean_std(t[label] for t in per_run.values())
            for label in (s.label for s in protocol.aggregation.stats)}


def _point(value: Any) -> float | None:
    return value["mean"] if isinstance(value, dict) else value


def aggregate_rows(protocol: Protocol, rows: list[dict]) -> dict[str, Any]:
    agg = protocol.aggregation
    if agg.best_of_candidates:
        rows = best_of_candidates(protocol, rows)
    out: dict[str, Any] = {"protocol": protocol.name, "n": len(rows)}
    out["stats"] = _summary(protocol, rows)
    out["headline"] = {"label": agg.headline, "value": _point(out["stats"][agg.headline])}
    if protocol.aggregation.runs == "mean_std":
        out["runs"] = _per_run(protocol, rows)
    by: dict[str, dict[str, Any]] = {}
    for key in agg.breakdown_by:
        groups: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            groups[str(row.get(key, "unknown"))].append(row)
        by[key] = {g: _summary(protocol, grows) for g, grows in sorted(groups.items())}
    if by:
        out["by"] = by
    if agg.cell_keys:
        out["weighted"] = _weighted(protocol, rows)
    return out


def _weighted(protocol: Protocol, rows: list[dict]) -> dict[str, float | None]:
    """Each stat per cell (a combination of cell_keys), then the weighted mean of the cells
    (CADBench's summary: bench families x difficulty labels, benchM and benchO weigh 3)."""
    agg = protocol.aggregation
    weights = dict(agg.cell_weights)
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        cells[tuple(str(row.get(k, "")) for k in agg.cell_keys)].append(row)
    out: dict[str, float | None] = {}
    for stat in agg.stats:
        num = den = 0.0
        for key, group in cells.items():
            value = _point(_summary(protocol, group)[stat.label])
            if value is None:
                continue
            w = float(weights.get(key[0], 1.0))
            num, den = num + w * value, den + w
        out[stat.label] = num / den if den > 0 else None
    return out
