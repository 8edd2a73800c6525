# expect: invalid_geometry
# what: hands back faces that index far outside the vertex array.
import numpy as np
import cadquery as cq
import cadbench.geometry.tessellate as tess
class FakeMesh:
    vertices = np.zeros((4, 3))
    faces = np.array([[0, 1, 10**9]], dtype=np.int64)
tess.shape_to_mesh = lambda *a, **k: FakeMesh()
tess.solids_to_mesh = lambda solids, *a, **k: (FakeMesh(), [FakeMesh()] * len(solids))
solid = cq.Workplane().box(1, 1, 1)
