# A reference: a plate with two holes, box [-0.75, 0.75] x [-0.5, 0.5] x [-0.1, 0.1].
import cadquery as cq
solid = (cq.Workplane().box(1.5, 1.0, 0.2)
         .faces(">Z").workplane().pushPoints([(-0.4, 0.0), (0.4, 0.0)]).hole(0.25))
