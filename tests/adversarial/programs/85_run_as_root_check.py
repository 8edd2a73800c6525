# expect: ok
# requires: root
# what: checks that it is not root and cannot become root again (setuid(0), a user namespace).
import ctypes
import os
import cadquery as cq
leaks = []
if os.geteuid() == 0:
    leaks.append("euid 0")
try:
    os.setuid(0)
    leaks.append("setuid(0)")
except OSError:
    pass
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0 and os.geteuid() == 0:
    leaks.append("user namespace root")
if leaks:
    raise RuntimeError(f"LEAK: {leaks}")
solid = cq.Workplane().box(1, 1, 1)
