# Honest: an imperfect reading of the bracket: no boss, wall too thin and shifted.
import cadquery as cq
base = cq.Workplane().box(1.1, 0.8, 0.25).translate((0.05, 0.05, 0.12))
wall = cq.Workplane().box(1.1, 0.12, 0.7).translate((0.05, -0.28, 0.35))
solid = base.union(wall)
