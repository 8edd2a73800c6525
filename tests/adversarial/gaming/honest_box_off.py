# Honest: an imperfect reading of the plain plate: a little small and shifted.
import cadquery as cq
solid = cq.Workplane().box(1.4, 0.95, 0.2).translate((0.03, 0.02, 0.01))
