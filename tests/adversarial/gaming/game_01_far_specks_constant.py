# class: grid hijack
# what: the constant box plus two tiny boxes far away (coarsened the joint grid: iou 0.28-0.36)
# reference: ref_plate
# honest: honest_small_box
# expect: ok
import cadquery as cq
speck = cq.Workplane().box(1e-3, 1e-3, 1e-3)
solid = (cq.Workplane().box(0.6, 0.5, 0.2)
         .add(speck.translate((40.0, 40.0, 40.0)).vals())
         .add(speck.translate((-40.0, -40.0, -40.0)).vals()))
