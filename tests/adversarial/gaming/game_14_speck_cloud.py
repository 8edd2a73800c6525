# class: speck cloud (own)
# what: the honest part plus 200 specks scattered around it (not far): more grid-visible
#       pieces, more surface to sample
# reference: ref_bracket
# honest: honest_bracket_off
# expect: ok
import cadquery as cq
import random
rng = random.Random(7)
base = cq.Workplane().box(1.1, 0.8, 0.25).translate((0.05, 0.05, 0.12))
wall = cq.Workplane().box(1.1, 0.12, 0.7).translate((0.05, -0.28, 0.35))
part = base.union(wall)
specks = [cq.Solid.makeBox(0.004, 0.004, 0.004,
                           pnt=cq.Vector(rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5),
                                         rng.uniform(-1.0, 2.0)))
          for _ in range(200)]
solid = part.add(specks)
