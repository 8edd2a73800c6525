# expect: ok
# what: reads /proc/self/environ and the environ of every ancestor (worker, harness, test
# runner) for the secret.
import os
import cadquery as cq
def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
pids, pid = ["self"], os.getppid()
while pid > 1:
    pids.append(pid)
    try:
        pid = parent_of(pid)
    except OSError:
        break
for p in pids:
    try:
        with open(f"/proc/{p}/environ", "rb") as f:
            env = f.read()
    except OSError:
        continue
    for item in env.split(b"\0"):
        if item.startswith(b"__SECRET_NAME__="):
            raise RuntimeError(f"LEAK: {item.decode()!r} from /proc/{p}/environ")
solid = cq.Workplane().box(1, 1, 1)
