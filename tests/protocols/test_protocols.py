"""Protocols as data: frames, the peers' quirks reproduced and flagged, aggregation."""

import dataclasses
import math
from dataclasses import replace

import numpy as np
import pytest
import trimesh

from cadbench.geometry.align import mass_properties
from cadbench.geometry.mesh import Mesh
from cadbench.geometry.metrics import prepare_solid
from cadbench.protocols import (
    MetricSpec,
    UnknownProtocol,
    aggregate,
    evaluate_pair,
    get_protocol,
    list_protocols,
    register_protocol,
)
from cadbench.protocols import frames


def box(extents, at=(0.0, 0.0, 0.0)) -> Mesh:
    m = trimesh.creation.box(extents)
    m.apply_translation(at)
    return Mesh.from_arrays(m.vertices, m.faces)


def union(*meshes: Mesh) -> Mesh:
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh.from_arrays(np.concatenate([m.vertices for m in meshes]),
                            np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]))


def test_registry_lists_the_five_and_names_the_known_ones():
    assert list_protocols() == ["benchcad", "cadbench", "cadbench2026", "cadrille", "mecagent"]
    with pytest.raises(dataclasses.FrozenInstanceError):  # protocols are data, not state
        get_protocol("cadrille").metrics[0].scale = 1.0  # type: ignore[misc]
    with pytest.raises(UnknownProtocol, match="known: benchcad, cadbench"):
        get_protocol("deepcad")
    bad = replace(get_protocol("cadrille"), name="bad",
                  metrics=(MetricSpec("x", "no_such_kind"),))
    with pytest.raises(ValueError, match="unknown kind 'no_such_kind'"):
        register_protocol(bad)


@pytest.mark.parametrize("as_solid", [False, True])
def test_frames(as_solid):
    shape = box((4.0, 2.0, 1.0), at=(10.0, -3.0, 5.0))
    if as_solid:
        shape = prepare_solid(shape)
    mesh = lambda s: s.mesh if as_solid else s  # noqa: E731
    lo, hi = mesh(frames.unit_cube(shape)).bounds
    assert np.allclose(lo, [0.0, 0.25, 0.375]) and np.allclose(hi, [1.0, 0.75, 0.625])
    lo, hi = mesh(frames.pm1(shape)).bounds
    assert np.allclose(lo, [-1.0, -0.5, -0.25]) and np.allclose(hi, [1.0, 0.5, 0.25])
    mp = mass_properties(mesh(frames.gyration(shape)))
    assert np.allclose(mp.centroid, 0.0, atol=1e-12) and math.isclose(mp.radius_of_gyration, 1.0)
    if as_solid:  # the exact volume follows the scale
        assert math.isclose(frames.unit_cube(shape).volume, 8.0 / 64.0)


def test_a_moved_and_scaled_copy_scores_1_where_the_peer_normalises():
    ref = box((1.5, 1.0, 0.25))
    copy = box((3.0, 2.0, 0.5), at=(0.4, -0.3, 0.2))
    assert evaluate_pair(get_protocol("cadrille"), ref, copy)["iou"] == pytest.approx(1.0)
    assert evaluate_pair(get_protocol("benchcad"), ref, copy)["iou"] == pytest.approx(1.0)
    # cadbench's own IoU stays in the dataset frame: the copy is not the part
    assert evaluate_pair(get_protocol("cadbench"), ref, copy)["iou"] < 0.3


def test_cadrille_chamfer_is_squared_summed_and_x1000():
    ref, pred = box((1.0, 1.0, 1.0)), box((1.0, 1.0, 0.5))
    p = get_protocol("cadrille")
    row = evaluate_pair(p, ref, pred)
    plain = evaluate_pair(replace(p, metrics=(replace(p.metric("cd"), squared=False,
                                                      scale=1.0),)), ref, pred)
    # in the unit cube the half-height box is the same half box: distances < 1, squares smaller
    assert 0 < row["cd"] / 1000.0 < plain["cd"]
    assert row["iou"] == pytest.approx(0.5)


def test_cadbench2026_naive_takes_the_unnormalised_prediction_when_it_is_better():
    ref = box((2.0, 1.0, 1.0))                      # already in [-1, 1]
    spike = box((0.05, 0.05, 0.05), at=(6.0, 0.0, 0.0))
    pred = union(box((2.0, 1.0, 1.0)), spike)       # the part, plus a far speck
    p = get_protocol("cadbench2026")
    p = replace(p, metrics=(p.metric("naive_iou"),), repair="none")
    row = evaluate_pair(p, ref, pred)
    assert row["naive_iou"] > 0.99                   # raw frame wins over the shrunk copy
    assert "naive_iou_from_unnormalised_prediction" in row["flags"]


def test_cadbench2026_repair_is_flagged_when_it_cannot_run():
    p = get_protocol("cadbench2026")
    p = replace(p, metrics=(p.metric("aligned_iou"),))
    row = evaluate_pair(p, box((2.0, 1.0, 0.5)), box((1.0, 0.5, 2.0), at=(3.0, 0.0, 0.0)))
    assert row["aligned_iou"] == pytest.approx(1.0, abs=1e-6)   # principal axes find it
    try:
        import pymeshlab  # noqa: F401
        assert "alpha_wrap_changes_volume" in row["flags"]
    except ImportError:
        assert "repair_not_applied (pymeshlab not installed)" in row["flags"]


def test_cadrille_aggregate_keeps_the_best_candidate_per_id():
    p = get_protocol("cadrille")
    rows = [
        {"id": "a", "candidate": 0, "status": "ok", "iou": 0.5, "cd": 3.0},
        {"id": "a", "candidate": 1, "status": "ok", "iou": 0.7, "cd": 5.0},
        {"id": "b", "candidate": 0, "status": "ok", "iou": None, "cd": 1.0},
        {"id": "c", "candidate": 0, "status": "failed", "iou": None, "cd": None},
    ]
    out = aggregate(p, rows)
    assert out["n"] == 3
    assert out["stats"]["mean iou"] == pytest.approx(0.7)
    # rows carry cd x1000 already (evaluate_pair's units): per-id minima 3.0 and 1.0
    assert out["stats"]["median cd x1000"] == pytest.approx(2.0)
    assert out["stats"]["valid cd rate"] == pytest.approx(2 / 3)
    assert out["headline"] == {"label": "mean iou", "value": pytest.approx(0.7)}


def test_cadbench2026_aggregate_runs_labels_and_weighted_cells():
    p = get_protocol("cadbench2026")
    rows = []
    values = {("benchB", "easy"): [0.9, 0.8, 0.7], ("benchM", "none"): [0.2, 0.4, 0.0]}
    for (family, label), vals in values.items():
        for run, scale in (("r1", 1.0), ("r2", 0.5)):
            for i, v in enumerate(vals):
                failed = v == 0.0
                rows.append({"id": f"{family}{i}", "family": family, "label": label,
                             "run": run, "status": "failed" if failed else "ok",
                             "aligned_iou": None if failed else v * scale,
                             "aligned_cd": None if failed else 0.1,
                             "aligned_surface_iou": None if failed else v,
                             "naive_iou": None if failed else v})
    out = aggregate(p, rows)
    # the adjusted median counts the failure as 0: benchM medians 0.2 (r1) and 0.1 (r2)
    assert out["by"]["label"]["none"]["aligned_iou_adjusted_median"]["mean"] == \
        pytest.approx(0.15)
    assert out["by"]["label"]["none"]["aligned_iou_adjusted_median"]["std"] == \
        pytest.approx(np.std([0.2, 0.1], ddof=1))
    assert out["by"]["label"]["none"]["vsr"]["mean"] == pytest.approx(2 / 3)
    # weighted summary: benchB/easy 0.6 (mean of 0.8 and 0.4), benchM weighs 3
    assert out["weighted"]["aligned_iou_adjusted_median"] == \
        pytest.approx((0.6 * 1 + 0.15 * 3) / 4)
    assert set(out["runs"]) == {"r1", "r2"}


def test_benchcad_counts_failures_as_zero():
    p = get_protocol("benchcad")
    rows = [{"id": "a", "status": "ok", "iou": 0.8, "family": "bolt"},
            {"id": "b", "status": "exec_fail", "iou": None, "family": "bolt"}]
    out = aggregate(p, rows)
    assert out["stats"] == {"mean iou": pytest.approx(0.4), "execution rate": 0.5}
    assert out["by"]["family"]["bolt"]["mean iou"] == pytest.approx(0.4)
