# expect: runtime_error
# what: a zero-length extrusion (degenerate sweep).
import cadquery as cq
solid = cq.Workplane().rect(1, 1).extrude(0)
