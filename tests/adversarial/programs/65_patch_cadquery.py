# expect: ok
# twin: 64_clean_tiny_box
# what: monkeypatches cadquery (Volume, isValid, BoundingBox) to claim a huge valid solid; the
# score comes from the mesh, so it must equal the clean twin's.
import cadquery as cq
cq.Shape.Volume = lambda self: 1e9
cq.Shape.isValid = lambda self: True
solid = cq.Workplane().box(0.3, 0.2, 0.1)
