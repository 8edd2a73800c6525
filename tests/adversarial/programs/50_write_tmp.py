# expect: ok
# what: tries to create files in the world-writable shared folders /tmp and /var/tmp (outside
# its own temporary folder). Any success is reported through the error message.
import os
import cadquery as cq
made = []
for d in ("/tmp", "/var/tmp"):
    p = os.path.join(d, "cbadv-__MARKER__-__NAME__")
    try:
        with open(p, "w") as f:
            f.write("written by a candidate")
        made.append(p)
    except OSError:
        pass
if made:
    raise RuntimeError(f"LEAK: wrote {made}")
solid = cq.Workplane().box(1, 1, 1)
