# Honest: an imperfect reading of the plate: shifted, too thick, one hole.
import cadquery as cq
solid = (cq.Workplane().box(1.4, 0.9, 0.3).translate((0.12, 0.05, 0.05))
         .faces(">Z").workplane().pushPoints([(-0.3, 0.0)]).hole(0.3))
