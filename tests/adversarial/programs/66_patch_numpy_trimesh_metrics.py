# expect: ok
# twin: 64_clean_tiny_box
# what: patches numpy, trimesh and cadbench's own metric and scoring functions to return a
# perfect score; none of that reaches the trusted side.
import numpy as np
import cadquery as cq
try:
    import trimesh
    trimesh.Trimesh.volume = property(lambda self: 1.0)
except Exception:
    pass
perfect = lambda *a, **k: {"iou": 1.0, "iou_best": 1.0, "iou_exact": 1.0, "chamfer": 0.0}
for module, attr in (("cadbench.geometry.metrics", "compute_metrics"),
                     ("cadbench.geometry.voxel", "voxelize"),
                     ("cadbench.scoring", "prediction_task")):
    try:  # some imports fail where the sandbox cannot read the Python installation
        setattr(__import__(module, fromlist=["x"]), attr, perfect)
    except Exception:
        pass
np.mean = lambda *a, **k: 1.0
np.logical_and = lambda a, b, *r, **k: a
solid = cq.Workplane().box(0.3, 0.2, 0.1)
