# expect: timeout
# what: sleeps exactly the configured timeout, then returns a valid solid: too late.
import time
import cadquery as cq
time.sleep(__TIMEOUT__)
solid = cq.Workplane().box(1, 1, 1)
