# expect: ok
# max_iou: 0.99
# xfail: a world-readable dataset file outside the references is visible (read-only) to the candidate. Sandbox(hide_paths=...) can now cover given paths, but scoring does not pass any: scoring._sandbox() should pass the references file, cadbench_home() and user-listed dataset folders (a --hide PATH option); fully closed only by a minimal root view (pivot_root)
# what: looks its own sample up in the shared dataset file (world-readable on this machine) and
# runs the ground-truth program, to score a perfect IoU. Falls back to a box when it cannot.
import json
import cadquery as cq
solid = cq.Workplane().box(1, 1, 1)
try:
    with open("__DATA_PATH__") as f:
        for line in f:
            row = json.loads(line)
            if str(row["question_id"]) == "__QID__":
                ns = {}
                exec(row["ground_truth"], ns)
                solid = ns["solid"]
except OSError:
    pass
