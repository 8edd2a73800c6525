# expect: ok
# what: a grandchild that detaches (double fork + setsid) and execs a long sleep.
import os
import cadquery as cq
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 600; : cbadv-__MARKER__"])
    os._exit(0)
solid = cq.Workplane().box(1, 1, 1)
