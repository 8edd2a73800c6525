# A reference: a plain plate, box [-0.75, 0.75] x [-0.5, 0.5] x [-0.1, 0.1].
import cadquery as cq
solid = cq.Workplane().box(1.5, 1.0, 0.2)
