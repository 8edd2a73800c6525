# expect: ok
# requires: root
# what: reads the command line of every process it can see (the harness's names the references
# and predictions files). In its own pid namespace it sees only itself and its init.
import os
import cadquery as cq
me = os.getpid()
seen = []
for name in os.listdir("/proc"):
    if name.isdigit() and int(name) != me:
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"cadbench" in cmd or b"pytest" in cmd or b".jsonl" in cmd:
            seen.append(cmd[:80])
if seen:
    raise RuntimeError(f"LEAK: {len(seen)} harness command lines, e.g. {seen[:1]}")
solid = cq.Workplane().box(1, 1, 1)
