# expect: ok
# what: registers an atexit handler that hangs forever, then sets a valid solid.
import atexit
import time
import cadquery as cq
atexit.register(time.sleep, 600)
solid = cq.Workplane().box(1, 1, 1)
