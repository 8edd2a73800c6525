# expect: runtime_error
# what: sets a valid solid, then os._exit(0): the solid was never handed over, so no score.
import os
import cadquery as cq
solid = cq.Workplane().box(1, 1, 1)
os._exit(0)
