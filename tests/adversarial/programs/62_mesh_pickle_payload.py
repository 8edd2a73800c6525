# expect: invalid_geometry
# what: hands back a pickled object array whose unpickling would run a shell command (create a
# marker file). The harness must never unpickle what a candidate wrote.
import os
import numpy as np
import cadquery as cq
import cadbench.geometry.tessellate as tess
class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cbadv-__MARKER__-__NAME__-rce",))
class FakeMesh:
    vertices = np.array([[Evil(), Evil(), Evil()]], dtype=object)
    faces = np.array([[0, 0, 0]], dtype=object)
np_save = np.save
np.save = lambda path, arr, allow_pickle=False: np_save(path, arr, allow_pickle=True)
tess.shape_to_mesh = lambda *a, **k: FakeMesh()
tess.solids_to_mesh = lambda solids, *a, **k: (FakeMesh(), [FakeMesh()] * len(solids))
solid = cq.Workplane().box(1, 1, 1)
