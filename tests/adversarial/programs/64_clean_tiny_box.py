# expect: ok
# what: a plain small box: the twin that the patching programs below must score exactly like.
import cadquery as cq
solid = cq.Workplane().box(0.3, 0.2, 0.1)
