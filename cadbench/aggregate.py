"""Aggregate per-sample results into run metrics: VSR, the metric specs' means and medians,
bootstrap CIs, best-of-N, pass@k, status counts, faults and copies of the reference.

Primary metrics use candidate 0 of each reference id (the model's first answer). Rules, each
the same for every metric (the specs in cadbench/metrics.py say which aggregates exist):
- a reference with no prediction, a failed candidate, and an ok candidate whose metric could
  not be computed all count as the spec's `failure_value` (0 for IoU): no abstention;
- a harness fault (`harness_error`) is not a model result: its reference is left out of every
  denominator and counted apart (`n_faults`);
- a metric undefined on a reference for every model (e.g. exact IoU of a non-manifold
  reference) leaves that reference out of that metric only (`<metric>_n_references`).
With several candidates per id, best-of-N takes the best candidate per id and pass@k uses the
unbiased estimator of Chen et al. (2021).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from math import comb
from typing import Iterable, Mapping

import numpy as np

from .execute.status import ALL_STATUSES, HARNESS_ERROR, MISSING, OK
from .config import MetricConfig
from .metrics import METRICS, MetricSpec, ci_key, enabled_metrics, summary_key
from .records import SampleResult, round_floats

PASS_K = (1, 5, 10)
FAULT_STATUSES = (HARNESS_ERROR,)


def per_reference_table(results: list[SampleResult], reference_ids: list[str]):
    """Candidate-0 result per reference id (None where missing), in reference order."""
    first = {r.id: r for r in results if r.candidate == 0}
    return [first.get(i) for i in reference_ids]


def is_fault(r: SampleResult | None) -> bool:
    return r is not None and r.status in FAULT_STATUSES


def sample_value(r: SampleResult | None, spec: MetricSpec) -> float:
    """The value a sample contributes to every aggregate of `spec` (failures included)."""
    if r is None or r.status != OK:
        return spec.failure_value
    v = r.metrics.get(spec.name)
    return spec.failure_value if v is None else float(v)


def bootstrap_ci(values: np.ndarray, n_boot: int, seed: int,
                 stat=np.mean) -> list[float] | None:
    if len(values) == 0 or n_boot <= 0 or not np.all(np.isfinite(values)):
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = stat(values[idx], axis=1)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) is correct."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _aggregate(values: np.ndarray, how: str) -> float | None:
    if len(values) == 0:
        return None
    return float(np.mean(values) if how == "mean" else np.median(values))


def summarize(results: list[SampleResult], reference_ids: list[str],
              n_boot: int = 1000, seed: int = 0,
              exclusions: Mapping[str, Iterable[str]] | None = None,
              metric_config: MetricConfig | None = None,
              metrics: tuple[MetricSpec, ...] = METRICS,
              groups: Mapping[str, Mapping[str, str]] | None = None) -> dict:
    """Run metrics over `reference_ids` (see the module doc for the rules). `groups`: per
    reference id, meta fields (family, difficulty, ...) to break every metric down by, under
    `by` -> field -> value -> the same summary over that group's references."""
    exclusions = {k: set(v) for k, v in (exclusions or {}).items()}
    rows_all = per_reference_table(results, reference_ids)
    faults = [i for i, r in zip(reference_ids, rows_all) if is_fault(r)]
    ids = [i for i, r in zip(reference_ids, rows_all) if not is_fault(r)]
    rows = [r for r in rows_all if not is_fault(r)]
    n = len(ids)
    ok = np.array([r is not None and r.status == OK for r in rows], dtype=float)
    out: dict = {"n": n, "n_faults": len(faults), "n_valid": int(ok.sum()),
                 "vsr": float(ok.mean()) if n else 0.0}
    out["vsr_ci95"] = bootstrap_ci(ok, n_boot, seed)
    # The metrics the run's MetricConfig switched on are reported even when no sample has a
    # value (then IoU (all) is 0, not blank); the others are absent everywhere.
    on = {m.name for m in enabled_metrics(metric_config or MetricConfig())}
    for j, spec in enumerate(metrics, start=1):
        if spec.name not in on:
            continue
        excluded = exclusions.get(spec.name, set()) if spec.excludable else set()
        keep = [k for k, i in enumerate(ids) if i not in excluded]
        if excluded:
            out[f"{spec.name}_n_references"] = len(keep)
        vals = np.array([sample_value(rows[k], spec) for k in keep], dtype=float)
        okmask = np.array([ok[k] > 0 for k in keep], dtype=bool)
        subsets = {"valid": vals[okmask] if len(vals) else vals, "all": vals}
        for agg in spec.aggregates:
            group, how = agg.split("_")
            value = _aggregate(subsets[group], how)
            if value is None and group == "all" and n:
                value = spec.failure_value
            out[summary_key(spec.name, agg)] = value
            if agg in spec.ci:
                stat = np.mean if how == "mean" else np.median
                out[ci_key(spec.name, agg)] = bootstrap_ci(subsets[group], n_boot,
                                                           seed + j, stat)
    out.update(_copies(rows))
    out.update(_multi_candidate(results, ids))
    if groups:
        out["by"] = _breakdown(results, reference_ids, groups, exclusions, metric_config,
                               metrics)
    return round_floats(out, 6)


def _breakdown(results, reference_ids, groups, exclusions, metric_config, metrics) -> dict:
    """Every metric per value of every grouping field (no CIs: groups are small)."""
    fields = sorted({f for labels in groups.values() for f in labels})
    out: dict = {}
    for f in fields:
        values = sorted({groups.get(i, {}).get(f, "unknown") for i in reference_ids})
        out[f] = {}
        for v in values:
            ids = [i for i in reference_ids if groups.get(i, {}).get(f, "unknown") == v]
            mine = set(ids)
            out[f][v] = summarize([r for r in results if r.id in mine], ids, n_boot=0,
                                  exclusions=exclusions, metric_config=metric_config,
                                  metrics=metrics)
    return out


def _copies(rows: list[SampleResult | None]) -> dict:
    """Candidate-0 predictions that reproduce their reference program (contamination)."""
    kinds = Counter(getattr(r, "copies_reference", None) for r in rows if r is not None)
    return {"n_copies_exact": kinds.get("exact", 0),
            "n_copies_normalized": kinds.get("exact", 0) + kinds.get("normalized", 0)}


def _multi_candidate(results: list[SampleResult], reference_ids: list[str]) -> dict:
    by_id: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        if not is_fault(r):
            by_id[r.id].append(r)
    n_cands = [len(by_id.get(i, [])) for i in reference_ids]
    if not n_cands or max(n_cands) <= 1:
        return {}
    iou = METRICS[0]
    out: dict = {"candidates_per_id": max(n_cands)}
    best = [max((sample_value(r, iou) for r in by_id.get(i, [])), default=0.0)
            for i in reference_ids]
    out["best_of_n_iou_all_mean"] = float(np.mean(best))
    for k in PASS_K:
        if k > max(n_cands):
            break
        scores = []
        for i in reference_ids:
            cands = by_id.get(i, [])
            c = sum(r.status == OK for r in cands)
            scores.append(pass_at_k(max(len(cands), k), c, k))
        out[f"pass@{k}"] = float(np.mean(scores))
    return out


def status_counts(results: list[SampleResult], reference_ids: list[str]) -> dict[str, int]:
    """Statuses of candidate 0 per reference id; ids without a prediction count as `missing`."""
    rows = per_reference_table(results, reference_ids)
    counts = Counter(MISSING if r is None else r.status for r in rows)
    return {s: counts[s] for s in ALL_STATUSES if counts[s]}


def status_counts_all(results: list[SampleResult]) -> dict[str, int]:
    """Statuses over every candidate of every id."""
    counts = Counter(r.status for r in results)
    return {s: counts[s] for s in ALL_STATUSES if counts[s]}
