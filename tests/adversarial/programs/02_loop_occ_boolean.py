# expect: timeout
# what: a huge boolean loop inside OCC (C++ code that never returns to Python in time).
import cadquery as cq
solid = cq.Workplane().box(1, 1, 1)
for i in range(10**6):
    solid = solid.union(cq.Workplane().sphere(0.3).translate((i * 0.01, 0.5, 0.5)))
