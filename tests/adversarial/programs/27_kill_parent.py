# expect: ok
# requires: root
# what: tries to SIGKILL its parent (the warm worker) and its parent's parent; must be refused.
import os
import signal
import cadquery as cq
def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
killed = []
pid = os.getppid()
for _ in range(2):
    if pid <= 1:
        break
    try:
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    except OSError:
        pass
    pid = parent_of(pid)
if killed:
    raise RuntimeError(f"LEAK: killed {killed}")
solid = cq.Workplane().box(1, 1, 1)
