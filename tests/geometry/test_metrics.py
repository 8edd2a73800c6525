"""Known-answer tests of the metrics and robustness of compute_metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cadbench.config import MetricConfig
from cadbench.geometry.align import mass_properties
from cadbench.geometry.mesh import Mesh
from cadbench.geometry.metrics import (METRIC_KEYS, _surface_lattice_points,
                                       _surface_voxel_keys, chamfer_distance, compute_metrics,
                                       exact_iou, voxel_iou)
from geometry_testmeshes import (box, chiral_tripod, from_manifold, plate_with_hole,
                                square_plate_four_holes)

ALL = MetricConfig(compute_best=True, compute_exact=True, compute_mecagent=True,
                   compute_chamfer=True)
NO_MECA = MetricConfig(compute_best=True, compute_exact=True, compute_mecagent=False,
                       compute_chamfer=True)  # the compatibility metric is the slow one
VOXEL_TOL = 0.02  # voxel IoU at 64^3 vs exact, for simple parts


def test_identical_solids_score_one_everywhere():
    m = from_manifold(plate_with_hole())
    out = compute_metrics(m, m, ALL)
    for key in ("iou", "iou_best", "iou_exact", "iou_mecagent"):
        assert out[key] == pytest.approx(1.0), key
    assert out["chamfer"] == 0.0
    assert out["metric_errors"] == {}


def test_unit_cubes_offset_by_half_a_side_give_one_third():
    a, b = box(), box(at=(0.5, 0.0, 0.0))
    out = compute_metrics(a, b, NO_MECA)
    assert out["iou_exact"] == pytest.approx(1 / 3, abs=1e-9)
    assert out["iou"] == pytest.approx(1 / 3, abs=VOXEL_TOL)
    assert voxel_iou(a, b, 128) == pytest.approx(1 / 3, abs=0.01)
    assert out["iou_best"] == pytest.approx(1.0)  # same cube once centred
    assert out["chamfer"] > 0.1


def test_box_vs_box_with_hole_from_cadquery():
    cq = pytest.importorskip("cadquery")
    from cadbench.geometry.tessellate import shape_to_mesh

    solid = cq.Workplane("XY").box(3.0, 2.0, 1.0)
    holed = solid.faces(">Z").workplane().hole(1.2)
    a, b = shape_to_mesh(solid.val()), shape_to_mesh(holed.val())
    analytic = 1.0 - math.pi * 0.6 ** 2 / 6.0
    out = compute_metrics(a, b, NO_MECA)
    assert out["iou_exact"] == pytest.approx(analytic, abs=2e-3)
    assert out["iou"] == pytest.approx(out["iou_exact"], abs=VOXEL_TOL)
    assert out["iou_best"] >= out["iou"]


def test_scaled_copy_is_penalised_by_iou_but_not_by_iou_best():
    ref, pred = from_manifold(plate_with_hole()), from_manifold(plate_with_hole(1.6))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou"] < 0.5
    assert out["iou_exact"] < 0.5
    assert out["iou_best"] > 0.98


def test_rotated_and_moved_copy_recovered_by_a_proper_rotation():
    man = chiral_tripod()
    ref = from_manifold(man)
    pred = from_manifold(man.rotate((30.0, 40.0, 50.0)).translate((2.0, -1.0, 0.5)))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou"] < 0.3
    assert out["iou_best"] > 0.95
    assert out["iou_best_rotation"] in {"+++", "+--", "-+-", "--+"}


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_part_with_equal_moments_is_spun_into_place(angle):
    """A square plate with 4 holes has no preferred in-plane axes: a moved copy needs the
    spin search about its distinct axis (without it iou_best was ~0.52 here)."""
    man = square_plate_four_holes()
    ref, pred = from_manifold(man), from_manifold(man.rotate((0, 0, angle)).translate((1, 2, 3)))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou_best"] > 0.95
    assert "spin0=" in out["iou_best_rotation"]


def test_mirror_image_is_not_a_rotation():
    man = chiral_tripod()
    ref, mirrored = from_manifold(man), from_manifold(man.mirror((1.0, 0.0, 0.0)))
    out = compute_metrics(ref, mirrored, ALL)
    assert out["iou_exact"] == 0.0  # the mirror lies at negative x: disjoint
    assert out["iou_best"] < 0.9
    # The Mecagent compatibility metric tries mirror sign patterns: it scores the mirror 1.
    assert out["iou_mecagent"] == pytest.approx(1.0)


def test_iou_best_is_at_least_unaligned_iou():
    # Nearly identical parts: the unaligned IoU is the floor of iou_best.
    ref, pred = box((1.0, 1.0, 1.0)), box((1.0, 1.0, 1.02))
    out = compute_metrics(ref, pred, NO_MECA)
    assert out["iou_best"] >= out["iou"] > 0.95


def test_mecagent_surface_voxels_match_trimesh_voxelized():
    """The surface voxel set is the one trimesh's voxelized(pitch) (subdivision) gives."""
    m = box((1.0, 2.0, 0.5))
    mp = mass_properties(m)
    norm = Mesh((m.vertices - mp.centroid) / mp.radius_of_gyration, m.faces)
    ours = _surface_voxel_keys(_surface_lattice_points(norm, 0.025), 0.05)
    grid = norm.to_trimesh().voxelized(0.05)
    theirs = _surface_voxel_keys(np.asarray(grid.points), 0.05)
    assert np.array_equal(ours, theirs)


def test_chamfer_is_seeded_and_scales_with_offset():
    a = box()
    near, far = box(at=(0.1, 0, 0)), box(at=(0.4, 0, 0))
    assert chamfer_distance(a, near, 1024, 3) == chamfer_distance(a, near, 1024, 3)
    assert 0 < chamfer_distance(a, near) < chamfer_distance(a, far)


def test_switched_off_metrics_are_none():
    m = box()
    out = compute_metrics(m, m, MetricConfig(compute_best=False, compute_exact=False,
                                             compute_mecagent=False, compute_chamfer=False))
    assert out["iou"] == pytest.approx(1.0)
    for key in ("iou_best", "iou_best_rotation", "iou_exact", "iou_mecagent", "chamfer"):
        assert out[key] is None


def _degenerate_predictions():
    flat = Mesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 1]])
    cube = box()
    open_box = Mesh.from_arrays(cube.vertices, cube.faces[:-2])  # two faces missing
    inverted = Mesh(cube.vertices, cube.faces[:, ::-1].copy())
    far = box(at=(1e6, 1e6, 1e6))
    point = Mesh.from_arrays([[0.2, 0.2, 0.2]] * 3, [[0, 1, 2]])
    huge = box(size=(1e150, 1e150, 1e150))
    return {"flat": flat, "open_box": open_box, "inverted": inverted, "far": far,
            "point": point, "huge": huge}


@pytest.mark.parametrize("name", sorted(_degenerate_predictions()))
def test_degenerate_prediction_never_raises(name):
    pred = _degenerate_predictions()[name]
    out = compute_metrics(box(), pred, ALL)
    assert set(METRIC_KEYS) <= set(out)
    for key, reason in out["metric_errors"].items():
        assert reason
        if key == "iou_best" and out["iou"] is not None:  # falls back to its floor
            assert out["iou_best"] == out["iou"] and out["iou_best_rotation"] == "unaligned"
        else:
            assert out[key] is None
    for key in ("iou", "iou_best", "iou_exact", "iou_mecagent"):
        assert out[key] is None or 0.0 <= out[key] <= 1.0, (key, out[key])


def test_degenerate_cases_give_the_expected_answers():
    preds = _degenerate_predictions()
    flat = compute_metrics(box(), preds["flat"], ALL)
    assert flat["iou"] == 0.0                     # encloses nothing
    assert "iou_exact" in flat["metric_errors"]   # not a closed manifold / no volume
    assert flat["chamfer"] is not None
    inverted = compute_metrics(box(), preds["inverted"], ALL)
    assert inverted["iou"] == pytest.approx(1.0)  # parity ignores winding
    assert inverted["iou_best"] == pytest.approx(1.0)
    far = compute_metrics(box(), preds["far"], ALL)
    assert far["iou"] == 0.0 and far["iou_exact"] == 0.0
    assert exact_iou(box(), box()) == pytest.approx(1.0)
