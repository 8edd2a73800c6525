"""The data a protocol is made of: frozen dataclasses, no behaviour.

A protocol says how one benchmark turns a (reference, prediction) pair into numbers and
those numbers into a headline: the frame both shapes are put in, the alignment, each metric
with its settings, the aggregation, and the limits the peer ran under. The functions that
read this data live in `cadbench.protocols` (evaluate_pair, aggregate)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Frame normalisations (cadbench/protocols/frames.py).
FRAMES = ("none", "unit_cube", "pm1", "gyration")
# Metric kinds (cadbench/protocols/metrics.py, METRIC_KINDS).
KINDS = ("voxel_iou", "exact_iou", "chamfer", "cadbench_chamfer", "surface_iou",
         "filled_voxel_iou", "surface_voxel_iou")
# Statistics `aggregate` knows (cadbench/protocols/stats.py).
STATISTICS = ("mean_valid", "median_valid", "mean_adjusted", "median_adjusted", "rate_valid")


@dataclass(frozen=True)
class MetricSpec:
    """One per-sample number. `name` is the key in the per-sample row; `peer_name` the key the
    peer prints. Settings a kind does not use stay at their defaults."""

    name: str
    kind: str
    peer_name: str = ""
    frame: str = "none"            # frame both shapes are put in (frames.FRAME_FUNCTIONS)
    # Also try the prediction in its own (unnormalised) frame and keep the better value: a
    # quirk of CADBench's "naive" metrics, reproduced and flagged when it decides the value.
    best_with_raw_prediction: bool = False
    alignment: str = "none"        # "none" | "cadbench2026_principal"
    points: int = 0                # surface samples per shape (chamfer, surface IoU)
    squared: bool = False          # chamfer of squared distances
    reduce: str = "sum"            # chamfer: "sum" or "mean" of the two directed means
    scale: float = 1.0             # reported value = scale x computed value (cadrille: x1000)
    resolution: int = 0            # voxel cells across the unit cube / the reference
    pitch: float = 0.0             # voxel pitch (surface voxels)
    threshold: float = 0.0         # surface IoU distance threshold, in the metric's frame
    higher_is_better: bool = True
    failure_value: float | None = 0.0  # value of a failed sample in failure-adjusted stats
    # What the peer reports when the reference is not a valid solid (cadrille: 0.0, silently).
    defective_reference_value: float | None = None


@dataclass(frozen=True)
class ReportedStat:
    """One number of the headline table: `statistic` of metric `metric` over the samples."""

    label: str                     # the peer's wording, e.g. "median cd x1000"
    metric: str                    # a MetricSpec name, or "valid" for a validity rate
    statistic: str                 # one of STATISTICS


@dataclass(frozen=True)
class Aggregation:
    stats: tuple[ReportedStat, ...]
    headline: str                  # the label of the headline stat
    # Several candidates per id: keep the best value per id and metric (cadrille: min CD,
    # max IoU over candidates); an id with no valid candidate counts as invalid.
    best_of_candidates: bool = False
    breakdown_by: tuple[str, ...] = ()  # row keys to break every stat down by ("label", ...)
    # Cells (family, label) averaged with weights into one number (CADBench's summary row);
    # families not listed weigh 1.
    cell_keys: tuple[str, ...] = ()
    cell_weights: tuple[tuple[str, float], ...] = ()
    runs: str = "single"           # "single" | "mean_std" (rows carry `run`: r1, r2, r3)


@dataclass(frozen=True)
class Limits:
    exec_timeout_s: float | None   # None: the peer has no limit
    covers_metrics: bool = False   # the peer's limit also bounds metric time (load-dependent)
    note: str = ""


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    peer: str                      # repository@commit of the evaluator reproduced
    metrics: tuple[MetricSpec, ...]
    aggregation: Aggregation
    limits: Limits
    normalise_reference: bool = True  # False: the reference is taken to be in the frame already
    repair: str = "none"           # "none" | "alpha_wrap" (CADBench: pymeshlab, optional)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def metric(self, name: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.name == name:
                return spec
        raise KeyError(f"protocol {self.name!r} has no metric {name!r}; "
                       f"it has {', '.join(m.name for m in self.metrics)}")
