# expect: invalid_geometry
# what: a bow-tie (self-intersecting) profile extruded.
import cadquery as cq
solid = cq.Workplane().polyline([(0, 0), (1, 1), (1, 0), (0, 1)]).close().extrude(1)
