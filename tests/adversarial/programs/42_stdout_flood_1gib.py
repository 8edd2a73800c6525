# expect: ok
# what: prints 1 GiB through Python's stdout, then sets a valid solid; the harness keeps only
# a capped tail.
import sys
import cadquery as cq
chunk = "y" * (1 << 20)
for _ in range(1024):
    sys.stdout.write(chunk)
solid = cq.Workplane().box(1, 1, 1)
