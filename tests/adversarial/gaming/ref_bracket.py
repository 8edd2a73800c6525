# A reference: an L bracket with a boss, about 1.2 x 0.8 x 0.8.
import cadquery as cq
base = cq.Workplane().box(1.2, 0.8, 0.2).translate((0.0, 0.0, 0.1))
wall = cq.Workplane().box(1.2, 0.2, 0.8).translate((0.0, -0.3, 0.4))
boss = cq.Workplane().circle(0.15).extrude(0.3).translate((0.3, 0.15, 0.2))
solid = base.union(wall).union(boss)
