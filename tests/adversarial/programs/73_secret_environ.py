# expect: ok
# what: looks for a secret environment variable of the harness in os.environ, os.environb and
# posix.environ (the copy Python keeps from process start).
import os
import posix
import cadquery as cq
name = "__SECRET_NAME__"
found = [v for v in (os.environ.get(name), posix.environ.get(name.encode()),
                     getattr(os, "environb", {}).get(name.encode())) if v]
if found:
    raise RuntimeError(f"LEAK: {found[0]!r}")
solid = cq.Workplane().box(1, 1, 1)
