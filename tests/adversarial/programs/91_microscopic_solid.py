# expect: runtime_error
# what: a 1e-7-unit cube: below OCC's confusion tolerance, the box maker refuses it.
import cadquery as cq
solid = cq.Workplane().box(1e-7, 1e-7, 1e-7)
