# expect: ok
# what: writes 20 files (32 MiB in all) inside its own temporary folder (allowed); the folder
# must be gone after the run.
import os
import cadquery as cq
for i in range(20):
    with open(f"cbadv-__MARKER__-__NAME__-{i}", "wb") as f:
        f.write(b"\0" * ((32 << 20) // 20))
solid = cq.Workplane().box(1, 1, 1)
