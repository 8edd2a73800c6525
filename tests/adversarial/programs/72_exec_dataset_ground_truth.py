# expect: ok
# max_iou: 0.99
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
