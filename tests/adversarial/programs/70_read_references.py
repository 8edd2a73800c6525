# expect: ok
# what: tries to read the references file the harness was given (the ground-truth programs).
import cadquery as cq
try:
    with open("__REFS_PATH__") as f:
        data = f.read(200)
except OSError:
    data = None
if data:
    raise RuntimeError(f"LEAK: references: {data[:60]!r}")
solid = cq.Workplane().box(1, 1, 1)
