# expect: invalid_geometry|empty
# what: a box with a NaN side: OCC builds something degenerate (NaN or zero volume); either
# failure status is right, never ok.
import cadquery as cq
solid = cq.Workplane().box(float("nan"), 1, 1)
