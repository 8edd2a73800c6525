# class: stacked copies
# what: a compound of 12 slightly shifted copies of the honest prediction (raised iou_exact
#       from 0.39 to 0.79: overlapping components were counted more than once)
# reference: ref_plate
# honest: honest_plate_off
# expect: ok
import cadquery as cq
one = (cq.Workplane().box(1.4, 0.9, 0.3).translate((0.12, 0.05, 0.05))
       .faces(">Z").workplane().pushPoints([(-0.3, 0.0)]).hole(0.3)).val()
copies = [one.translate(cq.Vector(-0.01 * i, -0.005 * i, -0.004 * i)) for i in range(12)]
solid = cq.Compound.makeCompound(copies)
