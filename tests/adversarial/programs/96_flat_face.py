# expect: not_a_solid
# what: a face, not a solid.
import cadquery as cq
solid = cq.Workplane().rect(1, 1).val()
solid = cq.Face.makeFromWires(solid)
