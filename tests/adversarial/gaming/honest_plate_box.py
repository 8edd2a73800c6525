# Honest: the plate's bounding box (a model that reads the box exactly, not the holes).
import cadquery as cq
solid = cq.Workplane().box(1.5, 1.0, 0.2)
