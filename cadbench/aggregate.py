"""Aggregate per-sample results into run metrics: VSR, IoU means and medians, bootstrap CIs,
best-of-N and pass@k.

Primary metrics use candidate 0 of each reference id (the model's first answer); a reference
with no prediction counts as a failure. With several candidates per id, best-of-N takes the best
candidate per id and pass@k uses the unbiased estimator of Chen et al. (2021).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from math import comb

import numpy as np

from .execute.status import ALL_STATUSES, MISSING, OK
from .records import SampleResult, round_floats

# Metrics averaged per sample; "higher is better" for all but chamfer.
IOU_KEYS = ("iou", "iou_best", "iou_exact", "iou_mecagent")
CI_KEYS = ("vsr", "iou_all_mean", "iou_valid_mean", "iou_best_all_mean", "iou_exact_all_mean")
PASS_K = (1, 5, 10)


def _metric(r: SampleResult | None, key: str) -> float | None:
    if r is None or r.status != OK:
        return None
    v = r.metrics.get(key)
    return None if v is None else float(v)


def per_reference_table(results: list[SampleResult], reference_ids: list[str]):
    """Candidate-0 result per reference id (None where missing), in reference order."""
    first = {r.id: r for r in results if r.candidate == 0}
    return [first.get(i) for i in reference_ids]


def bootstrap_ci(values: np.ndarray, n_boot: int, seed: int) -> list[float] | None:
    if len(values) == 0 or n_boot <= 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) is correct."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def summarize(results: list[SampleResult], reference_ids: list[str],
              n_boot: int = 1000, seed: int = 0) -> dict:
    rows = per_reference_table(results, reference_ids)
    n = len(reference_ids)
    ok = np.array([r is not None and r.status == OK for r in rows], dtype=float)
    out: dict = {"n": n, "n_valid": int(ok.sum()), "vsr": float(ok.mean()) if n else 0.0}
    per_key_all: dict[str, np.ndarray] = {"vsr": ok}

    for key in IOU_KEYS:
        vals = [_metric(r, key) for r in rows]
        if all(v is None for v in vals):
            continue
        valid = np.array([v for v in vals if v is not None])
        all_ = np.array([0.0 if v is None else v for v in vals])
        out[f"{key}_valid_mean"] = float(valid.mean()) if len(valid) else None
        out[f"{key}_valid_median"] = float(np.median(valid)) if len(valid) else None
        out[f"{key}_all_mean"] = float(all_.mean()) if n else None
        out[f"{key}_all_median"] = float(np.median(all_)) if n else None
        per_key_all[f"{key}_all_mean"] = all_
        per_key_all[f"{key}_valid_mean"] = valid

    chamfer = np.array([v for v in (_metric(r, "chamfer") for r in rows) if v is not None])
    if len(chamfer):
        out["chamfer_valid_mean"] = float(chamfer.mean())
        out["chamfer_valid_median"] = float(np.median(chamfer))

    for i, key in enumerate(CI_KEYS):
        if key in per_key_all:
            out[f"{key}_ci95"] = bootstrap_ci(per_key_all[key], n_boot, seed + i)

    out.update(_multi_candidate(results, reference_ids))
    return round_floats(out, 6)


def _multi_candidate(results: list[SampleResult], reference_ids: list[str]) -> dict:
    by_id: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        by_id[r.id].append(r)
    n_cands = [len(by_id.get(i, [])) for i in reference_ids]
    if not n_cands or max(n_cands) <= 1:
        return {}
    out: dict = {"candidates_per_id": max(n_cands)}
    best = [max((_metric(r, "iou") or 0.0 for r in by_id.get(i, [])), default=0.0)
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
