# expect: ok
# requires: root
# what: sends SIGUSR1 to every ancestor (worker, harness, test runner); the test runner records
# any it receives. Never signals as root, and never pid 1.
import os
import signal
import cadquery as cq
if os.geteuid() == 0 and __HARNESS_IS_ROOT__:
    raise RuntimeError("LEAK: candidate runs as root")
def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
hit = []
pid = os.getppid()
while pid > 1:
    try:
        os.kill(pid, signal.SIGUSR1)
        hit.append(pid)
    except OSError:
        pass
    try:
        pid = parent_of(pid)
    except OSError:
        break
if hit:
    raise RuntimeError(f"LEAK: signalled {hit}")
solid = cq.Workplane().box(1, 1, 1)
