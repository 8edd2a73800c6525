# class: unfused overlaps
# what: show_object called five times: the honest part, its base and its wall, overlapping
# reference: ref_bracket
# honest: honest_bracket_off
# expect: ok
import cadquery as cq
base = cq.Workplane().box(1.1, 0.8, 0.25).translate((0.05, 0.05, 0.12))
wall = cq.Workplane().box(1.1, 0.12, 0.7).translate((0.05, -0.28, 0.35))
part = base.union(wall)
for shown in (part, base, wall, part, base):
    show_object(shown)  # noqa: F821 - provided by the sandbox
