# expect: ok
# what: tries to replace the cached reference meshes (cadbench_home()/gt) with its own, so that
# every later score is computed against a mesh it chose.
import os
import cadquery as cq
def _npz(d):
    try:
        return [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".npz")]
    except OSError:
        return []
gt = "__GT_DIR__"
done = []
try:
    with open(os.path.join(gt, "cbadv-__MARKER__-__NAME__.npz"), "wb") as f:
        f.write(b"PK")
    done.append("created")
except OSError:
    pass
for p in _npz(gt):
    try:
        with open(p, "r+b") as f:
            done.append("opened for writing")
    except OSError:
        pass
if done:
    raise RuntimeError(f"LEAK: {done}")
solid = cq.Workplane().box(1, 1, 1)
