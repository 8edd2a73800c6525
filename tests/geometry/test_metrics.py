"""Known-answer tests of the metrics and robustness of compute_metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_testmeshes import (
    box,
    chiral_tripod,
    from_manifold,
    plate_with_hole,
    square_plate_four_holes,
)

from cadbench.config import MetricConfig
from cadbench.geometry.align import mass_properties
from cadbench.geometry.mesh import Mesh
from cadbench.geometry.metrics import (
    METRIC_FUNCTIONS,
    METRIC_KEYS,
    _surface_lattice_points,
    _surface_voxel_keys,
    chamfer_distance,
    compute_metrics,
    exact_iou,
    point_triangle_distance,
    reference_grid,
    sample_surface,
    surface_distance,
    voxel_iou,
)
from cadbench.geometry.solid import Solid, is_empty, make_reference_solid, make_solid

ALL = MetricConfig(compute_best=True, compute_exact=True, compute_mecagent=True,
                   compute_chamfer=True)
NO_MECA = MetricConfig(compute_best=True, compute_exact=True, compute_mecagent=False,
                       compute_chamfer=True)  # the compatibility metric is the slow one
VOXEL_TOL = 0.02  # voxel IoU at 64^3 vs exact, for simple parts


def solid(mesh_or_manifold) -> Solid:
    mesh = mesh_or_manifold if isinstance(mesh_or_manifold, Mesh) else from_manifold(
        mesh_or_manifold)
    return make_solid(mesh)


def test_identical_solids_score_one_everywhere():
    m = solid(plate_with_hole())
    out = compute_metrics(m, m, ALL)
    for key in ("iou", "iou_best", "iou_exact", "iou_mecagent"):
        assert out[key] == pytest.approx(1.0), key
    # exact distances to the other surface: only the candidate search can miss, by << 1e-3
    assert 0.0 <= out["chamfer"] < 1e-3
    assert out["metric_errors"] == {}


def test_unit_cubes_offset_by_half_a_side_give_one_third():
    a, b = solid(box()), solid(box(at=(0.5, 0.0, 0.0)))
    out = compute_metrics(a, b, NO_MECA)
    assert out["iou_exact"] == pytest.approx(1 / 3, abs=1e-9)
    assert out["iou"] == pytest.approx(1 / 3, abs=VOXEL_TOL)
    assert voxel_iou(a, b, 128) == pytest.approx(1 / 3, abs=0.01)
    assert out["iou_best"] == pytest.approx(1.0)  # same cube once centred
    assert out["chamfer"] > 0.1


def test_meshes_are_accepted_and_validated_like_solids():
    a, b = box(), box(at=(0.5, 0.0, 0.0))
    assert compute_metrics(a, b, NO_MECA) == compute_metrics(solid(a), solid(b), NO_MECA)


def test_box_vs_box_with_hole_from_cadquery():
    cq = pytest.importorskip("cadquery")
    from cadbench.geometry.tessellate import shape_to_mesh

    body = cq.Workplane("XY").box(3.0, 2.0, 1.0)
    holed = body.faces(">Z").workplane().hole(1.2)
    a, b = make_solid(shape_to_mesh(body.val())), make_solid(shape_to_mesh(holed.val()))
    analytic = 1.0 - math.pi * 0.6 ** 2 / 6.0
    out = compute_metrics(a, b, NO_MECA)
    assert out["iou_exact"] == pytest.approx(analytic, abs=2e-3)
    assert out["iou"] == pytest.approx(out["iou_exact"], abs=VOXEL_TOL)
    assert out["iou_best"] >= out["iou"]


def test_scaled_copy_is_penalised_by_iou_but_not_by_iou_best():
    ref, pred = solid(plate_with_hole()), solid(plate_with_hole(1.6))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou"] < 0.5
    assert out["iou_exact"] < 0.5
    assert abs(out["iou"] - out["iou_exact"]) < VOXEL_TOL  # the part outside the grid is exact
    assert out["iou_best"] > 0.98


def test_rotated_and_moved_copy_recovered_by_a_proper_rotation():
    man = chiral_tripod()
    ref = solid(man)
    pred = solid(man.rotate((30.0, 40.0, 50.0)).translate((2.0, -1.0, 0.5)))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou"] < 0.3
    assert out["iou_best"] > 0.95


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_part_with_equal_moments_is_spun_into_place(angle):
    """A square plate with 4 holes has no preferred in-plane axes: a moved copy needs a search
    about its distinct axis (without it iou_best was ~0.52 here)."""
    man = square_plate_four_holes()
    ref, pred = solid(man), solid(man.rotate((0, 0, angle)).translate((1, 2, 3)))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou_best"] > 0.95


def test_mirror_image_is_not_a_rotation():
    man = chiral_tripod()
    ref, mirrored = solid(man), solid(man.mirror((1.0, 0.0, 0.0)))
    out = compute_metrics(ref, mirrored, ALL)
    assert out["iou_exact"] == 0.0  # the mirror lies at negative x: disjoint
    assert out["iou_best"] < 0.9
    # The Mecagent compatibility metric tries mirror sign patterns: it scores the mirror 1.
    assert out["iou_mecagent"] == pytest.approx(1.0)


def test_iou_best_is_at_least_unaligned_iou():
    ref, pred = solid(box((1.0, 1.0, 1.0))), solid(box((1.0, 1.0, 1.02)))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou_best"] >= out["iou"] > 0.95


def test_metric_functions_give_the_compute_metrics_values():
    ref, pred = solid(plate_with_hole()), solid(plate_with_hole(1.1))
    out = compute_metrics(ref, pred, ALL)
    for name, fn in METRIC_FUNCTIONS.items():
        value = fn(ref, pred, ALL)
        if isinstance(value, tuple):           # (value, extra keys): iou_best's pose label
            value, extra = value
            assert all(out[k] == v for k, v in extra.items()), name
        assert value == pytest.approx(out[name], abs=1e-12), name


# ---------------------------------------------------------------- the reference's grid

def test_grid_is_the_reference_box_padded_whatever_the_prediction():
    ref = solid(box((2.0, 1.0, 0.5), at=(1.0, 2.0, 3.0)))
    origin, pitch, cells = reference_grid(ref, 64)
    assert cells == 64 + 4
    assert np.allclose(pitch, np.array([2.0, 1.0, 0.5]) / 64)
    assert np.allclose(origin, np.array([1.0, 2.0, 3.0]) - 2 * pitch)


def test_far_specks_cannot_coarsen_the_grid():
    """Grid hijack: two tiny boxes far away used to stretch the joint grid until the
    reference covered about one voxel."""
    import manifold3d as m3

    ref = solid(box((1.0, 0.6, 0.4)))
    honest = m3.Manifold.cube((0.5, 0.5, 0.3))
    specks = (m3.Manifold.cube((1e-3,) * 3).translate((500.0, 500.0, 500.0))
              + m3.Manifold.cube((1e-3,) * 3).translate((-500.0, -500.0, -500.0)))
    a, b = compute_metrics(ref, solid(honest), NO_MECA), compute_metrics(
        ref, solid(honest + specks), NO_MECA)
    for key in ("iou", "iou_best", "iou_exact"):
        assert b[key] <= a[key] + 1e-9, key
    # chamfer weighs surface by area: specks of 6e-6 of the area move it by sampling noise only
    assert b["chamfer"] == pytest.approx(a["chamfer"], rel=0.02)


def voxel_centre_comb(ref: Solid, n: int):
    """Thin rods through every column of voxel centres of ref's grid inside its box: every
    voxel filled, 0.04% of the volume."""
    import manifold3d as m3

    origin, pitch, cells = reference_grid(ref, n)
    lo, hi = ref.bounds
    xs = [x for x in origin[0] + (np.arange(cells) + 0.5) * pitch[0] if lo[0] < x < hi[0]]
    ys = [y for y in origin[1] + (np.arange(cells) + 0.5) * pitch[1] if lo[1] < y < hi[1]]
    w = 0.02 * pitch[:2]
    rods = [m3.Manifold.cube((w[0], w[1], hi[2] - lo[2])).translate(
        (x - w[0] / 2, y - w[1] / 2, lo[2])) for x in xs for y in ys]
    return solid(m3.Manifold.batch_boolean(rods, m3.OpType.Add))


def test_voxel_centre_comb_cannot_fill_the_grid():
    """An attacker who knows the reference's box (so its grid) fills every voxel with almost no
    volume: the voxel intersection is capped by the exact one."""
    ref = solid(box((1.0, 1.0, 1.0)))
    comb = voxel_centre_comb(ref, 32)
    assert comb.volume < 1e-3
    assert voxel_iou(ref, comb, 32) <= 1.02 * exact_iou(ref, comb) < 1e-3


def test_thin_walled_reference_still_scores_one_against_itself():
    """The cap scales with the grid's over-count of the reference: here its voxels hold 4%
    more than its volume, and its own copy must not be capped below 1."""
    import manifold3d as m3

    from cadbench.geometry.voxel import voxelize

    shell = (m3.Manifold.cube((1.0, 1.0, 1.0))
             - m3.Manifold.cube((0.96, 0.96, 0.96)).translate((0.02, 0.02, 0.02)))
    ref = solid(shell.rotate((35.0, 17.5, 0.0)))
    origin, pitch, cells = reference_grid(ref, 16)
    over = voxelize(ref.mesh, origin, pitch, cells).sum() * np.prod(pitch) / ref.volume
    assert over > 1.02  # the case the scale is for
    assert voxel_iou(ref, ref, 16) == pytest.approx(1.0, abs=1e-12)


def test_prediction_beyond_the_grid_counts_exactly():
    # The prediction is 3x the reference on x: 2/3 of it lies outside the grid's box.
    ref, pred = solid(box((1.0, 1.0, 1.0))), solid(box((3.0, 1.0, 1.0), at=(-1.0, 0.0, 0.0)))
    assert voxel_iou(ref, pred, 32) == pytest.approx(1 / 3, abs=1e-9)


def test_no_abstention_a_prediction_missing_every_voxel_centre_scores_zero():
    """A valid prediction placed between voxel centres used to give iou None; it gives the
    (tiny) true value now: zero on the grid, its whole volume in the union."""
    ref = solid(box((1.0, 1.0, 1.0)))
    origin, pitch, _ = reference_grid(ref, 64)
    # a thin slab between two layers of voxel centres, inside the reference
    z0 = origin[2] + 10.6 * pitch[2]  # centres at 10.5 and 11.5 pitches
    slab = solid(box((0.5, 0.5, 0.7 * pitch[2]), at=(0.2, 0.2, z0)))
    out = compute_metrics(ref, slab, NO_MECA)
    assert out["iou"] == 0.0
    assert out["iou_exact"] == pytest.approx(slab.volume / ref.volume, rel=1e-6)


def test_reference_between_voxel_centres_falls_back_to_exact():
    """A thin triangular plate in the plane x + y + z = 1: every voxel centre's coordinate sum
    is (integer + 1.5) / n plus the padding, so none falls inside; iou is then the exact IoU."""
    import manifold3d as m3

    from cadbench.geometry.voxel import voxelize

    corners = np.eye(3)
    plate = np.concatenate([corners, corners + 1e-3 * np.ones(3) / np.sqrt(3)])
    ref = solid(m3.Manifold.hull_points(plate.tolist()))
    origin, pitch, cells = reference_grid(ref, 64)
    assert not voxelize(ref.mesh, origin, pitch, cells).any()
    pred = solid(m3.Manifold.hull_points((plate * 1.001).tolist()))
    assert voxel_iou(ref, pred, 64) == pytest.approx(exact_iou(ref, pred), abs=1e-12)


# ---------------------------------------------------------------- exact IoU, references

def test_overlapping_pieces_count_once_in_every_metric():
    """The same box added twice scored iou 0.0 (parity) and iou_exact 1.0 (double count)."""
    ref = box((1.0, 1.0, 1.0))
    twice = Mesh.from_arrays(np.concatenate([ref.vertices, ref.vertices + [0.3, 0.0, 0.0]]),
                             np.concatenate([ref.faces, ref.faces + len(ref.vertices)]))
    fused = box((1.3, 1.0, 1.0))
    a, b = compute_metrics(ref, twice, NO_MECA), compute_metrics(ref, fused, NO_MECA)
    for key in ("iou", "iou_best", "iou_exact", "chamfer"):
        assert a[key] == pytest.approx(b[key], abs=0.01), key
    assert a["iou_exact"] == pytest.approx(1 / 1.3, abs=1e-9)


def test_defective_reference_keeps_its_voxel_metrics_and_has_no_exact_iou():
    import manifold3d as m3

    # a reference with a crack (like one GenCAD ground truth's tessellation): one triangle
    # uses a copy of a vertex, so three of its edges are open
    cube = from_manifold(m3.Manifold.cube((1.0, 1.0, 1.0)).refine(6))
    verts = np.concatenate([cube.vertices, cube.vertices[cube.faces[0, :1]] + 1e-7])
    faces = cube.faces.copy()
    faces[0, 0] = len(cube.vertices)
    ref = make_reference_solid(Mesh.from_arrays(verts, faces))
    assert ref.manifold is None and "2-manifold" in ref.defect
    out = compute_metrics(ref, solid(box(at=(0.5, 0.0, 0.0))), NO_MECA)
    assert out["iou_exact"] is None and "undefined" in out["metric_errors"]["iou_exact"]
    assert out["iou"] == pytest.approx(1 / 3, abs=VOXEL_TOL)
    assert out["chamfer"] is not None


def test_is_empty_on_the_reference_scale():
    ref = solid(box((1.0, 1.0, 1.0)))
    big = solid(box((2.0, 2.0, 2.0)))
    speck = solid(box((1e-4, 1e-4, 1e-4)))       # 1e-12 of the reference
    assert is_empty(speck, ref)
    assert not is_empty(big, ref)
    # a real part plus a far speck has a huge bounding box, and is not empty
    import manifold3d as m3
    far = solid(m3.Manifold.cube((1.0, 1.0, 1.0))
                + m3.Manifold.cube((1e-3,) * 3).translate((1e4, 0.0, 0.0)))
    assert not is_empty(far, ref)


# ---------------------------------------------------------------- chamfer

def test_point_triangle_distance_known_answers():
    a, b, c = np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    pts = np.array([[0.2, 0.2, 0.5],    # above the face
                    [-1.0, -1.0, 0.0],  # vertex a region
                    [2.0, 0.0, 0.0],    # vertex b region
                    [0.5, -1.0, 0.0],   # edge ab
                    [1.0, 1.0, 0.0],    # edge bc
                    [-0.5, 0.5, 0.0]])  # edge ca
    want = [0.5, math.sqrt(2), 1.0, 1.0, math.sqrt(2) / 2, 0.5]
    k = len(pts)
    got = point_triangle_distance(pts, np.tile(a, (k, 1)), np.tile(b, (k, 1)),
                                  np.tile(c, (k, 1)))
    assert np.allclose(got, want)


def test_surface_distance_matches_brute_force():
    mesh = solid(plate_with_hole()).mesh
    pts = sample_surface(solid(box((2.5, 1.5, 1.0), at=(-0.2, -0.1, -0.2))).mesh, 500, 1)
    t = mesh.vertices[mesh.faces]
    brute = np.full(len(pts), np.inf)
    for tri in t:
        rows = [np.broadcast_to(v, pts.shape) for v in tri]
        brute = np.minimum(brute, point_triangle_distance(pts, *rows))
    fast = surface_distance(pts, mesh, 0)
    assert np.all(fast >= brute - 1e-12)
    # a miss costs at most the gap to the nearest cloud point; measured 7e-4 at worst here
    assert np.abs(fast - brute).max() < 2e-3 and np.abs(fast - brute).mean() < 2e-5


def test_chamfer_of_a_shifted_box_has_no_sampling_floor():
    """Unit cube vs the cube shifted 0.05 along x: the true value is
    (0.05 + E[min(0.05, d)] + 4 * 0.05 * 0.025) / 6 per direction (d: distance to the border
    of the unit square), 0.016694; 2048 points used to give ~0.03."""
    n = 2000
    y = (np.arange(n) + 0.5) / n
    yy, zz = np.meshgrid(y, y)
    border = np.minimum.reduce([yy, 1 - yy, zz, 1 - zz])
    true = (0.05 + np.minimum(0.05, border).mean() + 4 * 0.05 * 0.025) / 6
    a, b = solid(box()), solid(box(at=(0.05, 0.0, 0.0)))
    values = [chamfer_distance(a, b, 2048, seed) for seed in range(3)]
    assert all(abs(v - true) < 0.002 for v in values), (values, true)


def test_chamfer_is_seeded_and_scales_with_offset():
    a = solid(box())
    near, far = solid(box(at=(0.1, 0, 0))), solid(box(at=(0.4, 0, 0)))
    assert chamfer_distance(a, near, 1024, 3) == chamfer_distance(a, near, 1024, 3)
    assert 0 < chamfer_distance(a, near) < chamfer_distance(a, far)


def test_chamfer_of_a_part_with_itself_is_near_zero_for_any_seed():
    m = solid(plate_with_hole())
    assert max(chamfer_distance(m, m, 2048, seed) for seed in range(3)) < 1e-3


# ---------------------------------------------------------------- Mecagent, switches

def test_mecagent_surface_voxels_match_trimesh_voxelized():
    """The surface voxel set is the one trimesh's voxelized(pitch) (subdivision) gives."""
    m = box((1.0, 2.0, 0.5))
    mp = mass_properties(m)
    norm = Mesh((m.vertices - mp.centroid) / mp.radius_of_gyration, m.faces)
    ours = _surface_voxel_keys(_surface_lattice_points(norm, 0.025), 0.05)
    grid = norm.to_trimesh().voxelized(0.05)
    theirs = _surface_voxel_keys(np.asarray(grid.points), 0.05)
    assert np.array_equal(ours, theirs)


def test_switched_off_metrics_are_none():
    m = solid(box())
    out = compute_metrics(m, m, MetricConfig(compute_best=False, compute_exact=False,
                                             compute_mecagent=False, compute_chamfer=False))
    assert out["iou"] == pytest.approx(1.0)
    for key in ("iou_best", "iou_best_rotation", "iou_exact", "iou_mecagent", "chamfer"):
        assert out[key] is None


# ---------------------------------------------------------------- invalid predictions

def _invalid_predictions():
    cube = box()
    flat = Mesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 1]])
    open_box = Mesh.from_arrays(cube.vertices, cube.faces[:-2])  # two faces missing
    inverted = Mesh(cube.vertices, cube.faces[:, ::-1].copy())
    triangle = Mesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    point = Mesh.from_arrays([[0.2, 0.2, 0.2]] * 3, [[0, 1, 2]])
    stray = Mesh.from_arrays(np.concatenate([cube.vertices, [[5, 5, 5], [6, 5, 5], [5, 6, 5]]]),
                             np.concatenate([cube.faces, [[8, 9, 10]]]))
    unreferenced = Mesh.from_arrays(np.concatenate([cube.vertices, [[9.0, 9.0, 9.0]]]),
                                    cube.faces)
    return {"flat": flat, "open_box": open_box, "inverted": inverted, "triangle": triangle,
            "point": point, "stray_triangle": stray, "unreferenced_vertex": unreferenced}


@pytest.mark.parametrize("name", sorted(_invalid_predictions()))
def test_invalid_prediction_is_refused_with_a_reason_and_never_raises(name):
    pred = _invalid_predictions()[name]
    with pytest.raises(ValueError):
        make_solid(pred)
    out = compute_metrics(box(), pred, ALL)
    assert set(METRIC_KEYS) <= set(out)
    for key in ("iou", "iou_best", "iou_exact", "iou_mecagent", "chamfer"):
        assert out[key] is None and out["metric_errors"][key], key


def test_far_and_huge_predictions_give_the_expected_answers():
    far = compute_metrics(box(), box(at=(1e6, 1e6, 1e6)), ALL)
    assert far["iou"] == 0.0 and far["iou_exact"] == 0.0
    huge = compute_metrics(box(), box(size=(1e150, 1e150, 1e150)), ALL)
    for key in ("iou", "iou_exact"):
        assert huge[key] is None or 0.0 <= huge[key] <= 1e-9, (key, huge[key])
    assert exact_iou(box(), box()) == pytest.approx(1.0)


def test_far_speck_leaves_iou_best_computable():
    """A far speck inflates the prediction's radius of gyration and bounding box; the pose
    search must neither fail on it nor move."""
    import manifold3d as m3

    ref = solid(box((1.0, 0.6, 0.4)))
    part = m3.Manifold.cube((0.5, 0.5, 0.3))
    speck = m3.Manifold.cube((0.01,) * 3).translate((1e3, 0.0, 0.0))
    honest = compute_metrics(ref, solid(part), NO_MECA)
    gamed = compute_metrics(ref, solid(part + speck), NO_MECA)
    assert gamed["metric_errors"] == {}
    assert gamed["iou_best"] == pytest.approx(honest["iou_best"], abs=0.02)
