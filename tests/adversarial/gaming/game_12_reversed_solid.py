# class: negative volume (own)
# what: the honest part plus a reversed (inside-out) solid, hoping its volume cancels
#       what the honest part gets wrong
# reference: ref_plate
# honest: honest_plate_off
# expect: invalid_geometry
import cadquery as cq
part = (cq.Workplane().box(1.4, 0.9, 0.3).translate((0.12, 0.05, 0.05))
        .faces(">Z").workplane().pushPoints([(-0.3, 0.0)]).hole(0.3)).val()
inside_out = cq.Solid(cq.Solid.makeBox(0.3, 0.3, 0.3, pnt=cq.Vector(0.5, 0.2, -0.1))
                      .wrapped.Reversed())
solid = cq.Compound.makeCompound([part, inside_out])
