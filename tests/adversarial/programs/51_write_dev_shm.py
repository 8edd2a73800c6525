# expect: ok
# what: tries to create a file in /dev/shm (RAM-backed: a way around the memory cap).
import os
import cadquery as cq
p = "/dev/shm/cbadv-__MARKER__-__NAME__"
try:
    with open(p, "w") as f:
        f.write("written by a candidate")
except OSError:
    pass
else:
    raise RuntimeError(f"LEAK: wrote {p}")
solid = cq.Workplane().box(1, 1, 1)
