# class: unfused overlaps
# what: an assembly of the honest part twice, its base and its wall: parts overlapping
# reference: ref_bracket
# honest: honest_bracket_off
# expect: ok
import cadquery as cq
base = cq.Workplane().box(1.1, 0.8, 0.25).translate((0.05, 0.05, 0.12))
wall = cq.Workplane().box(1.1, 0.12, 0.7).translate((0.05, -0.28, 0.35))
part = base.union(wall)
solid = (cq.Assembly().add(part, name="a").add(part, name="b")
         .add(base, name="c").add(wall, name="d"))
