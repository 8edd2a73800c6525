# expect: ok
# what: builds a directory tree 3,000 levels deep in its own folder (allowed), then returns a
# valid solid; its folder must still be removed after the run.
import os
import cadquery as cq
for _ in range(3000):
    os.mkdir("cbadv__MARKER__")
    os.chdir("cbadv__MARKER__")
solid = cq.Workplane().box(1, 1, 1)
