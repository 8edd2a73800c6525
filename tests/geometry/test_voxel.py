"""Ray-parity voxelizer: known volumes, winding independence, no parity streaks."""

from __future__ import annotations

import numpy as np
import pytest

from cadbench.geometry.mesh import Mesh
from cadbench.geometry.voxel import VoxelizeError, voxelize
from geometry_testmeshes import box, from_manifold


def test_box_fills_exactly_the_voxels_whose_centre_is_inside():
    # Box [0.3, 2.7] x [0.3, 1.7] x [0.3, 3.2] on a unit grid: centres at i + 0.5.
    vox = voxelize(box((2.4, 1.4, 2.9), at=(0.3, 0.3, 0.3)), origin=(0, 0, 0), pitch=1.0, n=4)
    expected = np.zeros((4, 4, 4), bool)
    expected[0:3, 0:2, 0:3] = True  # x centres 0.5..2.5, y 0.5..1.5, z 0.5..2.5 (3.5 > 3.2)
    assert np.array_equal(vox, expected)


def test_winding_does_not_matter():
    mesh = from_manifold(__import__("manifold3d").Manifold.sphere(1.0, 48))
    flipped = Mesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    a = voxelize(mesh, (-1.2,) * 3, 2.4 / 32, 32)
    b = voxelize(flipped, (-1.2,) * 3, 2.4 / 32, 32)
    assert np.array_equal(a, b)


def test_sphere_volume_matches():
    import manifold3d as m3

    mesh = from_manifold(m3.Manifold.sphere(1.0, 96))
    n = 64
    vox = voxelize(mesh, (-1.0,) * 3, 2.0 / n, n)
    vol = vox.sum() * (2.0 / n) ** 3
    assert abs(vol - mesh.volume()) / mesh.volume() < 0.01


def test_edges_and_vertices_on_ray_positions_leave_no_streaks():
    """Faces, edges and vertices exactly on voxel-centre columns: every column must close
    (an odd crossing count would fill the column up to the top of the grid)."""
    import manifold3d as m3

    shapes = [
        m3.Manifold.cube((2.0, 2.0, 2.0)).translate((0.5, 0.5, 0.5)),  # faces through centres
        m3.Manifold.sphere(1.5, 8).translate((2.5, 2.5, 2.5)),         # octahedral fans
        (m3.Manifold.cube((4.0, 4.0, 1.0)) - m3.Manifold.cylinder(1.0, 1.0, 1.0, 8)
         .translate((2.0, 2.0, 0.0))).translate((0.5, 0.5, 0.5)),
    ]
    for man in shapes:
        mesh = from_manifold(man)
        vox = voxelize(mesh, (0, 0, 0), 0.5, 14)  # centres at 0.25 + 0.5 i: hits vertices
        assert vox.any()
        assert not vox[:, :, -1].any(), "parity streak reached the top of the grid"
        vol = vox.sum() * 0.125
        assert abs(vol - mesh.volume()) / mesh.volume() < 0.35


def _box_with_fan_vertex_on_a_ray() -> Mesh:
    """A box whose top face is a fan around a vertex lying exactly on a ray column (x, y =
    0.75, 1.25 for centres at 0.25 + 0.5 i) while the bottom face is split by an edge that
    misses every column: without a robust rule that ray sees an odd number of crossings."""
    x0, x1, y0, y1, z0, z1 = 0.1, 2.3, 0.2, 2.4, 0.1, 2.1
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1], [0.75, 1.25, z1]])
    f = [[0, 2, 1], [0, 3, 2],                                   # bottom, diagonal y = x + 0.1
         [8, 4, 5], [8, 5, 6], [8, 6, 7], [8, 7, 4],             # top fan
         [0, 1, 5], [0, 5, 4], [1, 2, 6], [1, 6, 5],             # sides
         [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]]
    return Mesh.from_arrays(v, f)


def test_vertex_exactly_on_a_ray_is_counted_once():
    mesh = _box_with_fan_vertex_on_a_ray()
    vox = voxelize(mesh, (0, 0, 0), 0.5, 6)
    assert not vox[:, :, -1].any()
    # Column through (0.75, 1.25): z centres 0.25 .. 1.75 are inside, 2.25+ are not.
    assert vox[1, 2, :].tolist() == [True, True, True, True, False, False]
    assert vox.sum() * 0.125 == pytest.approx(mesh.volume(), rel=0.3)


def test_mesh_outside_grid_gives_empty_and_partial_overlap_is_clipped():
    mesh = box((1, 1, 1), at=(5, 5, 5))
    assert not voxelize(mesh, (0, 0, 0), 0.1, 8).any()
    half = voxelize(box((2, 2, 2), at=(-1, -1, -1)), (0, 0, 0), 0.25, 8)  # covers 4^3 cells
    assert half.sum() == 64


def test_anisotropic_pitch():
    vox = voxelize(box((1.0, 2.0, 4.0)), (0, 0, 0), (1 / 8, 2 / 8, 4 / 8), 8)
    assert vox.all()


def test_bad_grid_raises_clear_error():
    with pytest.raises(VoxelizeError, match="pitch"):
        voxelize(box(), (0, 0, 0), 0.0, 8)


def test_chunked_processing_gives_the_same_grid(monkeypatch):
    import manifold3d as m3

    import cadbench.geometry.voxel as voxel

    mesh = from_manifold(m3.Manifold.sphere(1.0, 64))
    whole = voxelize(mesh, (-1.1,) * 3, 2.2 / 48, 48)
    monkeypatch.setattr(voxel, "CHUNK_PAIRS", 3000)
    assert np.array_equal(whole, voxelize(mesh, (-1.1,) * 3, 2.2 / 48, 48))


def test_too_much_work_is_refused(monkeypatch):
    import cadbench.geometry.voxel as voxel

    monkeypatch.setattr(voxel, "MAX_PAIRS", 10)
    with pytest.raises(VoxelizeError, match="too large"):
        voxelize(box(), (0, 0, 0), 1 / 16, 16)


def test_winding_numbers_are_one_inside_and_follow_orientation():
    from cadbench.geometry.voxel import winding_numbers

    cube = box()
    w = winding_numbers(cube, (-0.1,) * 3, 1.2 / 16, 16)
    assert set(np.unique(w)) == {0, 1}
    assert np.array_equal(w == 1, voxelize(cube, (-0.1,) * 3, 1.2 / 16, 16))
    inverted = Mesh(cube.vertices, cube.faces[:, ::-1].copy())
    assert np.array_equal(winding_numbers(inverted, (-0.1,) * 3, 1.2 / 16, 16), -w)
    # two overlapping boxes in one array: 2 where they overlap
    other = box(at=(0.5, 0.0, 0.0))
    both = Mesh(np.concatenate([cube.vertices, other.vertices]),
                np.concatenate([cube.faces, other.faces + len(cube.vertices)]))
    w2 = winding_numbers(both, (-0.1,) * 3, 1.7 / 17, 17)
    assert w2.max() == 2
