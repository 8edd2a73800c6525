"""The trusted side's validity rule, component union and exact box volumes (geometry/solid.py)."""

from __future__ import annotations

import manifold3d as m3
import numpy as np
import pytest
from geometry_testmeshes import box, from_manifold

from cadbench.geometry.mesh import Mesh
from cadbench.geometry.solid import (
    EMPTY_VOLUME_FRACTION,
    InvalidSolid,
    is_empty,
    make_reference_solid,
    make_solid,
    transformed,
    volume_inside_box,
    volume_outside_box,
)


def pieces(*meshes: Mesh) -> Mesh:
    """Meshes side by side in one array pair, never fused (what the sandbox sends for
    `combine=False`, `Workplane.add`, several `show_object` calls)."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh.from_arrays(np.concatenate([m.vertices for m in meshes]),
                            np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]))


def test_closed_box_is_a_solid_with_its_exact_volume():
    s = make_solid(box((2.0, 1.0, 0.5)))
    assert s.volume == pytest.approx(1.0) and s.n_components == 1 and s.defect is None


def test_overlapping_pieces_are_fused_once():
    s = make_solid(pieces(box(), box(at=(0.5, 0.0, 0.0)), box(at=(0.25, 0.0, 0.0))))
    assert s.n_components == 3
    assert s.volume == pytest.approx(1.5)
    assert s.manifold.volume() == pytest.approx(1.5)
    assert make_solid(s.mesh).n_components == 1  # the surface of the union


def test_stacked_identical_copies_count_once():
    s = make_solid(pieces(*[box()] * 10))
    assert s.volume == pytest.approx(1.0)


def test_touching_pieces_fuse_to_their_union():
    s = make_solid(pieces(box(), box(at=(1.0, 0.0, 0.0))))
    assert s.volume == pytest.approx(2.0)


def test_inward_wound_component_is_a_cavity():
    inner = box((0.5, 0.5, 0.5), at=(0.25, 0.25, 0.25))
    hollow = pieces(box(), Mesh(inner.vertices, inner.faces[:, ::-1].copy()))
    assert make_solid(hollow).volume == pytest.approx(1.0 - 0.125)


def _open_box() -> Mesh:
    cube = box()
    return Mesh.from_arrays(cube.vertices, cube.faces[:-2])


@pytest.mark.parametrize("name, mesh, reason", [
    ("open shell", _open_box(), "2-manifold"),
    ("single open triangle", Mesh.from_arrays(np.eye(3), [[0, 1, 2]]), "2-manifold"),
    ("inverted", Mesh(box().vertices, box().faces[:, ::-1].copy()), "no positive volume"),
    ("stray triangle", pieces(box(), Mesh.from_arrays(np.eye(3) + 5, [[0, 1, 2]])),
     "2-manifold"),
    ("unreferenced vertex", Mesh.from_arrays(np.concatenate([box().vertices, [[9.0, 9, 9]]]),
                                             box().faces), "unreferenced"),
    ("two faces both ways", Mesh.from_arrays(np.eye(3), [[0, 1, 2], [0, 2, 1]]), None),
])
def test_invalid_meshes_are_refused_naming_the_defect(name, mesh, reason):
    with pytest.raises(InvalidSolid, match=reason):
        make_solid(mesh, "prediction")


def test_a_valid_part_with_an_open_piece_is_refused():
    with pytest.raises(InvalidSolid):
        make_solid(pieces(box(), _open_box()))


def _cracked_box() -> Mesh:
    """A finely meshed box but for one triangle that uses a copy of a vertex (3 open edges)."""
    cube = from_manifold(m3.Manifold.cube((1.0, 1.0, 1.0)).refine(6))
    verts = np.concatenate([cube.vertices, cube.vertices[cube.faces[0, :1]] + 1e-7])
    faces = cube.faces.copy()
    faces[0, 0] = len(cube.vertices)
    return Mesh.from_arrays(verts, faces)


def test_reference_with_cracks_is_kept_with_its_defect():
    cracked = _cracked_box()
    with pytest.raises(InvalidSolid):
        make_solid(cracked)  # as a prediction: refused
    ref = make_reference_solid(cracked)
    assert ref.manifold is None and "2-manifold" in ref.defect
    assert ref.volume == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InvalidSolid):
        volume_outside_box(ref, (0, 0, 0), (1, 1, 1))


@pytest.mark.parametrize("mesh", [Mesh.from_arrays(np.eye(3), [[0, 1, 2]]), _open_box()])
def test_reference_that_is_not_closed_up_to_cracks_is_refused(mesh):
    with pytest.raises(InvalidSolid, match="edges are open"):
        make_reference_solid(mesh)


def test_volume_inside_and_outside_a_box():
    s = make_solid(box((2.0, 1.0, 1.0)))
    assert volume_inside_box(s, (-1, -1, -1), (3, 3, 3)) == pytest.approx(2.0)
    assert volume_inside_box(s, (0.5, -1, -1), (1.0, 3, 3)) == pytest.approx(0.5)
    assert volume_outside_box(s, (0.5, -1, -1), (1.0, 3, 3)) == pytest.approx(1.5)
    assert volume_inside_box(s, (5, 5, 5), (6, 6, 6)) == 0.0


def test_transformed_scales_volume_and_keeps_mirrors_positive():
    s = make_solid(box((2.0, 1.0, 1.0)))
    moved = transformed(s, np.diag([2.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    assert moved.volume == pytest.approx(4.0) and moved.manifold.volume() == pytest.approx(4.0)
    mirror = transformed(s, np.diag([-1.0, 1.0, 1.0]), np.zeros(3))
    assert mirror.volume == pytest.approx(2.0) and mirror.mesh.volume() == pytest.approx(2.0)


def test_is_empty_is_tied_to_the_reference_volume():
    ref = make_solid(box((10.0, 10.0, 10.0)))           # volume 1000
    side = (EMPTY_VOLUME_FRACTION * 1000.0) ** (1 / 3)
    assert is_empty(make_solid(box((side * 0.9,) * 3)), ref)
    assert not is_empty(make_solid(box((side * 1.1,) * 3)), ref)
    # a part plus a far speck: a huge bounding box, a real volume
    far = make_solid(from_manifold(m3.Manifold.cube((1.0, 1.0, 1.0))
                                   + m3.Manifold.cube((1e-3,) * 3).translate((1e5, 0, 0))))
    assert not is_empty(far, ref)


def test_touching_cadquery_solids_arrive_as_separate_closed_components():
    """The child tessellates each solid on its own: two boxes sharing a face stay two closed
    components (welded together they would share edges four ways: not a 2-manifold)."""
    cq = pytest.importorskip("cadquery")
    from cadbench.geometry.tessellate import has_free_edges, solids_to_mesh

    a = cq.Solid.makeBox(1, 1, 1)
    b = cq.Solid.makeBox(1, 1, 1, pnt=cq.Vector(1, 0, 0))
    c = cq.Solid.makeBox(1, 1, 1, pnt=cq.Vector(0.5, 0, 0))  # overlapping both
    mesh, parts = solids_to_mesh([a, b, c])
    assert len(parts) == 3 and all(make_solid(p).n_components == 1 for p in parts)
    s = make_solid(mesh)
    assert s.n_components == 3 and s.volume == pytest.approx(2.0, rel=1e-9)
    assert not has_free_edges(a)
    open_shell = cq.Solid.makeSolid(cq.Shell.makeShell(a.Faces()[:-2]))
    assert has_free_edges(open_shell)


def test_a_component_passing_through_itself_is_refused():
    """Two top corners of a box pushed below its bottom: topologically a closed, oriented
    2-manifold, but regions of winding number -1 (manifold3d's booleans assume none)."""
    cube = box()
    v = cube.vertices.copy()
    top = np.flatnonzero(v[:, 2] > 0.5)
    v[top[:2], 2] = -0.5
    with pytest.raises(InvalidSolid, match="passes through itself"):
        make_solid(Mesh.from_arrays(v, cube.faces))
