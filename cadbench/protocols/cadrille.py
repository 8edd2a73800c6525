"""CAD-Recode / cadrille (col14m/cadrille evaluate.py; filaPro/cad-recode's demo is the same).

Frame: the prediction's bounding box centred at (0.5, 0.5, 0.5), longest side 1; the test
meshes are already in that frame (we normalise the reference the same way, which leaves such
a mesh as it is). IoU by mesh booleans; CD = mean squared nearest-neighbour distance of 8,192
surface samples each way, the two summed, reported x1000. Several candidates per id: the
lowest CD and the highest IoU are kept. Headline: mean IoU over ids with a valid IoU, median
CD x1000, invalid ratio (ids with no valid CD). Peer pitfalls reproduced and flagged: a
reference that is not watertight scores IoU 0 (trimesh 4.5.3's split() keeps watertight
pieces only); components are intersected pairwise, so overlapping pieces count twice."""

from .spec import Aggregation, Limits, MetricSpec, Protocol, ReportedStat

PROTOCOL = Protocol(
    name="cadrille",
    description="CAD-Recode/cadrille: unit cube, exact IoU, CD x1000 (8,192 pts, squared, sum)",
    peer="col14m/cadrille@68e79b7235e075ea7023b3a721935923eaba8563 evaluate.py",
    metrics=(
        MetricSpec("iou", "exact_iou", peer_name="iou", frame="unit_cube",
                   defective_reference_value=0.0),
        MetricSpec("cd", "chamfer", peer_name="cd", frame="unit_cube", points=8192,
                   squared=True, reduce="sum", scale=1000.0, higher_is_better=False,
                   failure_value=None),
    ),
    aggregation=Aggregation(
        stats=(ReportedStat("mean iou", "iou", "mean_valid"),
               ReportedStat("median cd x1000", "cd", "median_valid"),
               ReportedStat("mean cd x1000", "cd", "mean_valid"),
               ReportedStat("valid cd rate", "cd", "rate_valid")),
        headline="mean iou", best_of_candidates=True),
    limits=Limits(exec_timeout_s=3.0, note="each program in its own process, 3 s, inside a "
                  "pool of 16: on fewer cores the limit binds and the invalid ratio grows"),
)
