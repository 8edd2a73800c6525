# class: unfused overlaps
# what: the honest box four times over with combine=False (never fused by CadQuery)
# reference: ref_plate
# honest: honest_plate_off_box
# expect: ok
import cadquery as cq
solid = (cq.Workplane().pushPoints([(0.12, 0.05)] * 4)
         .box(1.4, 0.9, 0.3, combine=False).translate((0.0, 0.0, 0.05)))
