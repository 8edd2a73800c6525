# expect: ok
# what: tries to create files in the harness's home, the cadbench package, site-packages (a .pth
# file there would run code in every later Python) and the harness's temporary folder.
import os
import sys
import cadquery as cq
targets = ["/root", "__REPO__", "__REPO__/cadbench", "__REPO__/cadbench/execute",
           os.path.dirname(os.path.dirname(cq.__file__)), os.path.dirname(os.getcwd()),
           "__HARNESS_TMP__"]
made = []
for d in targets:
    p = os.path.join(d, "cbadv-__MARKER__-__NAME__.pth")
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        made.append(p)
    except OSError:
        pass
if made:
    raise RuntimeError(f"LEAK: wrote {made}")
solid = cq.Workplane().box(1, 1, 1)
