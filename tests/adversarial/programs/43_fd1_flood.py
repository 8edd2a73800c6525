# expect: ok
# what: writes 64 MiB straight to file descriptor 1 (bypassing Python's capped stdout), then
# sets a valid solid; the harness keeps only a capped tail.
import os
import cadquery as cq
chunk = b"z" * (1 << 20)
for _ in range(64):
    os.write(1, chunk)
solid = cq.Workplane().box(1, 1, 1)
