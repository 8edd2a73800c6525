# expect: ok
# what: tries to list and read the cached reference meshes under cadbench_home()/gt.
import os
import cadquery as cq
def _npz(d):
    try:
        return [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".npz")]
    except OSError:
        return []
seen = []
try:
    seen = os.listdir("__GT_DIR__")
except OSError:
    pass
for p in _npz("__GT_DIR__"):
    try:
        with open(p, "rb") as f:
            seen.append(f.read(4))
    except OSError:
        pass
if seen:
    raise RuntimeError(f"LEAK: gt cache: {seen[:3]}")
solid = cq.Workplane().box(1, 1, 1)
