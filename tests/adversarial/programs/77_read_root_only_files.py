# expect: ok
# what: tries to read files only root may read: /etc/shadow and a 0600 file the test created.
import cadquery as cq
got = []
for p in ("/etc/shadow", "__ROOT_SECRET_JSON__"):
    try:
        with open(p, "rb") as f:
            got.append(f.read(40))
    except OSError:
        pass
if got:
    raise RuntimeError(f"LEAK: {got}")
solid = cq.Workplane().box(1, 1, 1)
