# Honest: an imperfect reading of the plate as a plain box (shifted, too thick, no holes).
import cadquery as cq
solid = cq.Workplane().box(1.4, 0.9, 0.3).translate((0.12, 0.05, 0.05))
