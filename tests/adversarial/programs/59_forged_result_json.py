# expect: ok
# max_iou: 0.5
# what: writes its own result.json claiming status ok and perfect metrics, next to a one-
# triangle-fan tetrahedron mesh, and exits. Metrics are computed by the trusted side from the
# mesh, so the claim changes nothing: the tetrahedron scores what a tetrahedron scores.
import json
import os
import sys
import numpy as np
f = sys._getframe()
while f is not None and "out_dir" not in f.f_locals:
    f = f.f_back
out_dir = f.f_locals["out_dir"] if f is not None else os.getcwd()
v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64) * 0.1
fc = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int64)
np.save(os.path.join(out_dir, "vertices.npy"), v)
np.save(os.path.join(out_dir, "faces.npy"), fc)
with open(os.path.join(out_dir, "result.json"), "w") as fh:
    json.dump({"status": "ok", "error": None, "picked_by": "var:solid", "volume": 1.0,
               "n_solids": 1, "metrics": {"iou": 1.0, "iou_exact": 1.0}}, fh)
os._exit(0)
