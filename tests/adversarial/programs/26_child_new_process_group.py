# expect: ok
# what: a child in its own process group (escapes a process-group kill) that ignores SIGTERM.
import os
import signal
import time
import cadquery as cq
if os.fork() == 0:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
solid = cq.Workplane().box(1, 1, 1)
