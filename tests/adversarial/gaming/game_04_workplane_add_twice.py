# class: unfused overlaps
# what: the same box added twice with Workplane.add (scored iou 0.0 and iou_exact 1.0)
# reference: ref_plate
# honest: honest_plate_box
# expect: ok
import cadquery as cq
box = cq.Workplane().box(1.5, 1.0, 0.2)
solid = box.add(cq.Workplane().box(1.5, 1.0, 0.2).vals())
