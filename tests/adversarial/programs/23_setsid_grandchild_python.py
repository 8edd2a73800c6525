# expect: ok
# what: a detached grandchild that stays Python, ignores SIGTERM/SIGHUP, closes its fds and sleeps.
import os
import signal
import time
import cadquery as cq
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.closerange(0, 1024)
        time.sleep(600)
    os._exit(0)
solid = cq.Workplane().box(1, 1, 1)
