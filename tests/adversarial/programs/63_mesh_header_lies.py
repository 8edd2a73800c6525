# expect: invalid_geometry
# what: hands back a .npy whose header claims 10^12 x 3 vertices (24 TB) over a few bytes of
# data; the harness must reject it from the header, before allocating anything.
import numpy as np
import cadquery as cq
def lying_save(path, arr, allow_pickle=False):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(np.dtype(arr.dtype)),
                "fortran_order": False, "shape": (10**12, 3)})
        f.write(b"\0" * 48)
np.save = lying_save
solid = cq.Workplane().box(1, 1, 1)
