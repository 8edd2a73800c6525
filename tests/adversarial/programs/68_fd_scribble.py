# expect: ok
# what: writes forged perfect results into every inherited file descriptor above 2 (a pipe back
# to the harness, an open results.jsonl) and reports any it finds pointing outside its folder.
import json
import os
import cadquery as cq
forged = ("\n" + json.dumps({"id": "__NAME__", "candidate": 0, "status": "ok",
                             "metrics": {"iou": 1.0}, "schema_version": 2}) + "\n").encode()
found = []
for fd in range(3, 1024):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target.startswith(os.getcwd()) or target.startswith("/proc/"):
        continue
    found.append(f"{fd}->{target}")
    try:
        os.write(fd, forged)
    except OSError:
        pass
if found:
    raise RuntimeError(f"LEAK: inherited fds {found[:5]}")
solid = cq.Workplane().box(1, 1, 1)
