# class: stacked copies (own)
# what: the honest part with a smaller copy of itself inside it (hidden inner surfaces)
# reference: ref_bracket
# honest: honest_bracket_off
# expect: ok
import cadquery as cq
base = cq.Workplane().box(1.1, 0.8, 0.25).translate((0.05, 0.05, 0.12))
wall = cq.Workplane().box(1.1, 0.12, 0.7).translate((0.05, -0.28, 0.35))
part = base.union(wall)
inner = cq.Workplane().box(0.9, 0.6, 0.15).translate((0.05, 0.05, 0.12))
solid = part.add(inner.vals())
