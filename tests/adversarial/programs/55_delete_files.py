# expect: ok
# what: tries to delete the references, the run's results, the cached reference meshes and a
# root-owned file in /tmp. The test checks that they all still exist.
import os
import cadquery as cq
def _npz(d):
    try:
        return [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".npz")]
    except OSError:
        return []
victims = ["__REFS_PATH__", "__OUT_DIR__/results.jsonl", "__OUT_DIR__/score_config.json",
           "__VICTIM__"] + _npz("__GT_DIR__")
gone = []
for p in victims:
    try:
        os.unlink(p)
        gone.append(p)
    except OSError:
        pass
if gone:
    raise RuntimeError(f"LEAK: deleted {gone}")
solid = cq.Workplane().box(1, 1, 1)
