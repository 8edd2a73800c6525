# expect: invalid_geometry
# what: patches the tessellator (inside its own process) so the mesh handed back has NaN
# vertices; the trusted side must reject it.
import numpy as np
import cadquery as cq
import cadbench.geometry.tessellate as tess
class FakeMesh:
    vertices = np.full((4, 3), np.nan)
    faces = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)
tess.shape_to_mesh = lambda *a, **k: FakeMesh()
tess.solids_to_mesh = lambda solids, *a, **k: (FakeMesh(), [FakeMesh()] * len(solids))
solid = cq.Workplane().box(1, 1, 1)
