# expect: ok
# what: tries to open its parent's (the warm worker's) memory and the harness's memory.
import os
import cadquery as cq
opened = []
def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
pid = os.getppid()
for _ in range(3):
    if pid <= 1:
        break
    try:
        with open(f"/proc/{pid}/mem", "rb") as f:
            opened.append(pid)
    except OSError:
        pass
    pid = parent_of(pid)
if opened:
    raise RuntimeError(f"LEAK: opened /proc/{opened}/mem")
solid = cq.Workplane().box(1, 1, 1)
