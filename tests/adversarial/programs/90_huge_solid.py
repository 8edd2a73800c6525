# expect: ok
# what: a 10^7-unit cube (tessellation tolerance is relative, so this stays cheap).
import cadquery as cq
solid = cq.Workplane().box(1e7, 1e7, 1e7)
