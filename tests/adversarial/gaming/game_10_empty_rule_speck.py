# class: empty rule
# what: a real part plus a far speck: the old rule (volume <= 1e-9 x own bounding-box
#       diagonal cubed) called it empty; it must be scored like the part
# reference: ref_bracket
# honest: honest_bracket_off
# expect: ok
import cadquery as cq
base = cq.Workplane().box(1.1, 0.8, 0.25).translate((0.05, 0.05, 0.12))
wall = cq.Workplane().box(1.1, 0.12, 0.7).translate((0.05, -0.28, 0.35))
speck = cq.Workplane().box(1e-3, 1e-3, 1e-3).translate((2e3, 0.0, 0.0))
solid = base.union(wall).add(speck.vals())
