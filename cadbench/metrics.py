"""The metric specifications: one list, from which everything else is derived.

Each `MetricSpec` says what a per-sample metric is called, whether higher is better, which
`MetricConfig` switch turns it on, what a sample that has no value counts as, and which
aggregates the summary reports (with which get a bootstrap CI). The summary keys
(`iou_all_mean`, ...), the CLI tables, the leaderboard columns and the report headline are all
read off this list through `summary_key` and `headline_rows`; nothing else spells a key.

The per-sample values are computed by `cadbench.geometry.metrics.compute_metrics`, which walks
this list (`enabled_metrics`) and calls each spec's function by name
(`geometry.metrics.METRIC_FUNCTIONS`), on the trusted side, on validated solids;
`tests/test_metric_specs.py` checks that the two agree on the names. The specs must come first
in `METRICS` before any metric that names them as `fallback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .config import MetricConfig

# Aggregates, by name: "valid" is over samples whose status is ok, "all" over every reference
# (a failed, missing or un-computable sample counts as the spec's `failure_value`).
AGGREGATES = ("valid_mean", "valid_median", "all_mean", "all_median")


@dataclass(frozen=True)
class MetricSpec:
    name: str                          # key in SampleResult.metrics
    label: str                         # what tables call it
    higher_is_better: bool
    enabled: Callable[[MetricConfig], bool]
    # What a sample without a value counts as in every aggregate: failures, missing
    # predictions and ok samples whose metric could not be computed alike (no abstention).
    failure_value: float
    aggregates: tuple[str, ...]
    ci: tuple[str, ...] = ()           # aggregates that get a bootstrap 95% CI
    digits: int = 3
    # Per-reference exclusions apply (a reference on which the metric is undefined for every
    # prediction, e.g. exact IoU of a non-manifold reference, is left out for all models).
    excludable: bool = False
    # A metric whose value, when this one cannot be computed, is a valid lower bound of it
    # (iou_best: the unaligned pose is one of its candidates, so `iou` bounds it from below).
    fallback: str | None = None
    description: str = ""


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("iou", "IoU", True, lambda c: True, 0.0, AGGREGATES,
               ci=("valid_mean", "all_mean"),
               description="volumetric IoU on an n^3 grid anchored on the reference, "
                           "prediction volume outside the grid counted exactly"),
    MetricSpec("iou_best", "IoU best", True, lambda c: c.compute_best, 0.0, AGGREGATES,
               ci=("all_mean",), fallback="iou",
               description="pose-invariant IoU: best over proper rotations, translation and "
                           "uniform scale"),
    MetricSpec("iou_exact", "exact IoU", True, lambda c: c.compute_exact, 0.0, AGGREGATES,
               ci=("all_mean",), excludable=True,
               description="IoU by exact mesh booleans of the fused solids (manifold3d)"),
    MetricSpec("iou_mecagent", "Mecagent IoU", True, lambda c: c.compute_mecagent, 0.0,
               ("valid_mean", "all_mean"),
               description="re-implementation of the Mecagent test's surface-voxel best_iou"),
    MetricSpec("chamfer", "Chamfer", False, lambda c: c.compute_chamfer, float("inf"),
               ("valid_median", "all_median"), digits=4,
               description="symmetric Chamfer distance in dataset units (lower is better); "
                           "a sample without a value counts as infinitely far, so only "
                           "medians are reported"),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
HEADLINE = ("iou", "all_mean")         # what leaderboards sort by


def get_metric(name: str) -> MetricSpec:
    for m in METRICS:
        if m.name == name:
            return m
    raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")


def enabled_metrics(cfg: MetricConfig | None = None) -> tuple[MetricSpec, ...]:
    cfg = cfg or MetricConfig()
    return tuple(m for m in METRICS if m.enabled(cfg))


def summary_key(metric: str, aggregate: str) -> str:
    """The one place that spells a summary key: `iou` + `all_mean` -> `iou_all_mean`."""
    if aggregate not in AGGREGATES:
        raise KeyError(f"unknown aggregate {aggregate!r}")
    return f"{metric}_{aggregate}"


def ci_key(metric: str, aggregate: str) -> str:
    return summary_key(metric, aggregate) + "_ci95"


# The rows every summary table shows, in order: (label, metric name, aggregate).
HEADLINE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("IoU (valid)", "iou", "valid_mean"),
    ("IoU (all)", "iou", "all_mean"),
    ("IoU median (valid)", "iou", "valid_median"),
    ("IoU best (all)", "iou_best", "all_mean"),
    ("exact IoU (all)", "iou_exact", "all_mean"),
    ("Mecagent IoU (all)", "iou_mecagent", "all_mean"),
    ("Chamfer median (valid)", "chamfer", "valid_median"),
)


def headline_rows(summary: dict) -> list[tuple[str, str, str]]:
    """(label, key, ci key) of the HEADLINE_ROWS present in a summary."""
    out = []
    for label, metric, agg in HEADLINE_ROWS:
        key = summary_key(metric, agg)
        if key in summary:
            n_of = summary.get(f"{metric}_n_references")
            if n_of is not None and n_of != summary.get("n"):
                label = f"{label} over {n_of} of {summary.get('n')}"
            out.append((label, key, ci_key(metric, agg)))
    return out


def format_value(metric: str, value) -> str:
    if value is None:
        return "–"
    if value == float("inf"):
        return "∞"
    return f"{value:.{get_metric(metric).digits}f}"
