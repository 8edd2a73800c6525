# class: grid hijack
# what: an imperfect prediction replaced by a box at its deepest point plus far specks
#       (raised iou on synth test from 0.39 to 0.72)
# reference: ref_plate
# honest: honest_plate_off
# expect: ok
import cadquery as cq
core = cq.Workplane().box(0.3, 0.3, 0.15).translate((0.12, 0.05, 0.05))
speck = cq.Workplane().box(1e-3, 1e-3, 1e-3)
solid = (core.add(speck.translate((25.0, 25.0, 25.0)).vals())
         .add(speck.translate((-25.0, -25.0, -25.0)).vals()))
