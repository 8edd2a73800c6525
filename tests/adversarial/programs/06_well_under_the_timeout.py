# expect: ok
# what: sleeps a quarter of the timeout, then returns a valid solid: not a timeout.
import time
import cadquery as cq
time.sleep(__TIMEOUT__ * 0.25)
solid = cq.Workplane().box(1, 1, 1)
