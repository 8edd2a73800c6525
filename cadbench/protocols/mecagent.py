"""The Mecagent technical test (metrics/best_iou.py, get_iou_best / evaluate).

Each solid centred on its volume centroid and scaled by 1 / radius of gyration; the
prediction rotated by E_ref diag(s) E_pred^T for four sign patterns (eigenvectors of the
inertia tensor, any handedness: mirror images can score 1); surface voxels of pitch 0.05
(shells, interiors ignored); the best IoU of the voxel sets. Headline: mean over programs
that executed, and the valid syntax rate. The peer has no time limit."""

from .spec import Aggregation, Limits, MetricSpec, Protocol, ReportedStat

PROTOCOL = Protocol(
    name="mecagent",
    description="Mecagent technical test: gyration frame, 4 principal-axis sign patterns, "
                "surface-voxel IoU (pitch 0.05)",
    peer="yvss2359/mecagent-technical-test@45988092c1daaee562c0e936512edf4bcda1429c "
         "metrics/best_iou.py",
    metrics=(
        MetricSpec("iou_best", "surface_voxel_iou", peer_name="iou_best", pitch=0.05),
    ),
    aggregation=Aggregation(
        stats=(ReportedStat("Mean IOU_best", "iou_best", "mean_valid"),
               ReportedStat("Valid Syntax Rate", "valid", "rate_valid")),
        headline="Mean IOU_best"),
    limits=Limits(exec_timeout_s=None, note="no limit: a hanging program stops the run"),
    normalise_reference=False,
)
