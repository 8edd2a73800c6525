# class: unfused touching pieces (own)
# what: the honest box cut into 8 touching cells, never fused (touching faces must not
#       leave internal surface or double counts)
# reference: ref_plate
# honest: honest_plate_box
# expect: ok
import cadquery as cq
cells = [cq.Solid.makeBox(0.75, 0.5, 0.1, pnt=cq.Vector(-0.75 + 0.75 * i, -0.5 + 0.5 * j,
                                                         -0.1 + 0.1 * k))
         for i in range(2) for j in range(2) for k in range(2)]
solid = cq.Workplane().add(cells)
