"""BenchCAD Vision2Code (BenchCAD/BenchCAD-main Vision2Code/scoring/iou.py).

Both STEP solids tessellated (0.05), bounding box centred at (0.5, 0.5, 0.5), longest side 1,
no rotation; voxels of pitch 1/64 touched by the surface plus their filled interior (trimesh
voxelized().fill()), each grid centred on its own in a 68^3 array; IoU of the two arrays.
A program that does not execute scores 0. Headline: mean IoU over all records (failures 0)
and the execution rate."""

from .spec import Aggregation, Limits, MetricSpec, Protocol, ReportedStat

PROTOCOL = Protocol(
    name="benchcad",
    description="BenchCAD Vision2Code: [0,1]^3 by bbox, 64^3 filled surface-voxel IoU, "
                "no rotation, execution rate",
    peer="BenchCAD/BenchCAD-main@a98630171b5e23ba532cdf10f118d540ca3990c4 Vision2Code",
    metrics=(
        MetricSpec("iou", "filled_voxel_iou", peer_name="iou", frame="unit_cube",
                   resolution=64),
    ),
    aggregation=Aggregation(
        stats=(ReportedStat("mean iou", "iou", "mean_adjusted"),
               ReportedStat("execution rate", "valid", "rate_valid")),
        headline="mean iou", breakdown_by=("family",)),
    limits=Limits(exec_timeout_s=300.0, note="execute_cq_to_step's default"),
)
