"""cadbench's own convention (the default): metrics in the dataset's frame, no alignment.

IoU on a 64^3 grid anchored on the reference (prediction volume outside it counted exactly),
exact IoU by mesh booleans, chamfer as the mean of the two directed means of point-to-surface
distances (1,024 points, dataset units). Headline: mean IoU over every reference, a failure
counting 0 (docs/metrics.md)."""

from .spec import Aggregation, Limits, MetricSpec, Protocol, ReportedStat

PROTOCOL = Protocol(
    name="cadbench",
    description="cadbench's default: dataset frame, voxel IoU 64^3, exact IoU, chamfer",
    peer="cadbench (this project)",
    metrics=(
        MetricSpec("iou", "voxel_iou", peer_name="iou", resolution=64),
        MetricSpec("iou_exact", "exact_iou", peer_name="iou_exact"),
        MetricSpec("chamfer", "cadbench_chamfer", peer_name="chamfer", points=1024,
                   reduce="mean", higher_is_better=False, failure_value=float("inf")),
    ),
    aggregation=Aggregation(
        stats=(ReportedStat("iou all mean", "iou", "mean_adjusted"),
               ReportedStat("iou valid mean", "iou", "mean_valid"),
               ReportedStat("iou_exact all mean", "iou_exact", "mean_adjusted"),
               ReportedStat("chamfer all median", "chamfer", "median_adjusted"),
               ReportedStat("valid rate", "valid", "rate_valid")),
        headline="iou all mean"),
    limits=Limits(exec_timeout_s=None, note="ExecConfig decides (cadbench's sandbox)"),
    normalise_reference=False,
)
