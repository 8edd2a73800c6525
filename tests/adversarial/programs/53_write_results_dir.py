# expect: ok
# what: tries to append a forged perfect result to results.jsonl and drop a file in the run
# folder.
import json
import os
import cadquery as cq
out = "__OUT_DIR__"
forged = json.dumps({"id": "__NAME__", "candidate": 0, "status": "ok", "metrics": {"iou": 1.0},
                     "schema_version": 2})
made = []
try:
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(forged + "\n")
    made.append("results.jsonl")
except OSError:
    pass
try:
    with open(os.path.join(out, "cbadv-__MARKER__-__NAME__"), "w") as f:
        f.write("x")
    made.append("new file")
except OSError:
    pass
if made:
    raise RuntimeError(f"LEAK: wrote {made}")
solid = cq.Workplane().box(1, 1, 1)
