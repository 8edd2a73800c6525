# class: open shell
# what: a box with two faces removed, wrapped as a Solid (BRepCheck fails, OCC and mesh
#       volumes agree: was accepted with IoU 1.0)
# reference: ref_plate
# honest: honest_plate_box
# expect: invalid_geometry
import cadquery as cq
faces = cq.Workplane().box(1.5, 1.0, 0.2).val().Faces()
solid = cq.Solid.makeSolid(cq.Shell.makeShell(faces[:-2]))
