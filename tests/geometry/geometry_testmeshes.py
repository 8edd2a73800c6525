"""Test meshes for the geometry tests, built directly as arrays or with manifold3d (fast)."""

from __future__ import annotations

import numpy as np
from cadbench.geometry.mesh import Mesh


def from_manifold(man) -> Mesh:
    m = man.to_mesh64()
    return Mesh.from_arrays(m.vert_properties[:, :3], m.tri_verts.astype(np.int64))


def box(size=(1.0, 1.0, 1.0), at=(0.0, 0.0, 0.0)) -> Mesh:
    import manifold3d

    return from_manifold(manifold3d.Manifold.cube(tuple(size)).translate(tuple(at)))


def chiral_tripod():
    """Three arms of different lengths along x, y, z from one corner: no mirror symmetry."""
    import manifold3d as m3

    return (m3.Manifold.cube((3.0, 0.5, 0.5)) + m3.Manifold.cube((0.5, 2.0, 0.5))
            + m3.Manifold.cube((0.5, 0.5, 1.2)))


def plate_with_hole(scale=1.0):
    import manifold3d as m3

    body = m3.Manifold.cube((2.0, 1.4, 0.6))
    hole = m3.Manifold.cylinder(2.0, 0.3, 0.3, 64).translate((0.6, 0.7, -0.5))
    return (body - hole).scale((scale, scale, scale))


def square_plate_four_holes():
    """Two equal second moments: principal axes in the plate's plane are arbitrary."""
    import manifold3d as m3

    plate = m3.Manifold.cube((2.0, 2.0, 0.3))
    for x, y in [(0.4, 0.4), (1.6, 0.4), (1.6, 1.6), (0.4, 1.6)]:
        plate = plate - m3.Manifold.cylinder(1.0, 0.2, 0.2, 32).translate((x, y, -0.3))
    return plate
