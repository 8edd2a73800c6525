# Honest: the same small box at a fixed point for every sample (a `constant` submission).
import cadquery as cq
solid = cq.Workplane().box(0.6, 0.5, 0.2)
