"""Choosing one of several decoded programs: the text-only rule (rerank.py: readable, no
crossing loops, proportions closest to the box) and the render judge (render_judge.py:
run in the sandbox, render like the dataset, compare with the input image)."""

import math

import numpy as np
import pytest

from cadbench.program import from_code
from submissions.vit_gpt2.rerank import BAD, has_crossing_loops, pick, score
from tests.submissions.test_vit_gpt2_geometry import PLATE_AND_BOSS

BOW_TIE = PLATE_AND_BOSS.replace(
    "loop0=wp_sketch0.moveTo(1.0, 0.0).lineTo(1.0, 0.5).lineTo(0.0, 0.5).lineTo(0.0, 0.0)",
    "loop0=wp_sketch0.moveTo(1.0, 0.0).lineTo(0.0, 0.5).lineTo(1.0, 0.5).lineTo(0.0, 0.0)")
HOLE_ACROSS_THE_EDGE = PLATE_AND_BOSS.replace(
    "solid0=wp_sketch0.add(loop0)",
    "loop9=wp_sketch0.moveTo(1.0, 0.25).circle(0.1)\nsolid0=wp_sketch0.add(loop0).add(loop9)")


def test_crossing_loops_are_found():
    assert not has_crossing_loops(from_code(PLATE_AND_BOSS))
    assert has_crossing_loops(from_code(BOW_TIE))
    assert has_crossing_loops(from_code(HOLE_ACROSS_THE_EDGE))
    inner_hole = HOLE_ACROSS_THE_EDGE.replace("moveTo(1.0, 0.25).circle", "moveTo(0.5, 0.25).circle")
    assert not has_crossing_loops(from_code(inner_hole))


def test_the_text_rule_prefers_valid_programs_with_the_boxs_proportions():
    lo, hi = from_code(PLATE_AND_BOSS).bounds_hint()
    assert score(PLATE_AND_BOSS, lo, hi) == pytest.approx(0.0)
    assert score(BOW_TIE, lo, hi) == score("not python (", lo, hi) == BAD
    # a box twice as long in x: log 2 away
    stretched = (lo, (lo[0] + 2 * (hi[0] - lo[0]), hi[1], hi[2]))
    assert score(PLATE_AND_BOSS, *stretched) == pytest.approx(math.log(2))
    assert pick(["not python (", BOW_TIE, PLATE_AND_BOSS], lo, hi) == 2
    assert pick([PLATE_AND_BOSS, PLATE_AND_BOSS], lo, hi) == 0  # ties keep the first
    assert pick([BOW_TIE, PLATE_AND_BOSS], None, None) == 1     # without a box: validity only


def test_the_render_judge_prefers_the_program_the_image_was_rendered_from():
    pytest.importorskip("cadquery")
    from cadbench.render import render_mesh
    from submissions.vit_gpt2.render_judge import FAILED, RenderJudge
    judge = RenderJudge(size=64)
    try:
        made = judge._box().run(PLATE_AND_BOSS)
        assert made.status == "ok"
        image = render_mesh(made.mesh, size=224)
        moved = PLATE_AND_BOSS.replace("cq.Vector(-0.5, -0.25, 0.0)", "cq.Vector(-0.25, -0.25, 0.0)")
        same, other, broken = judge.distances([PLATE_AND_BOSS, moved, "solid = 1 / 0"], image)
    finally:
        judge.close()
    assert same < 2.0 < other      # mean |RGB difference|, 0-255; `same` differs by resampling only
    assert broken == FAILED
    assert (judge.runs, judge.failed) == (3, 1)  # the three judged; the first run is not


def test_refining_the_box_moves_a_misplaced_part_towards_the_image():
    pytest.importorskip("cadquery")
    from cadbench.render import camera_basis, render_mesh
    from submissions.vit_gpt2.box_fit import fit_code
    from submissions.vit_gpt2.render_judge import RenderJudge
    lo, hi = np.array(from_code(PLATE_AND_BOSS).bounds_hint())
    wrong_lo, wrong_hi = lo + [0.06, 0.0, 0.0], lo + (hi - lo) * [1.2, 1.0, 0.9] + [0.06, 0, 0]
    judge = RenderJudge(size=96)
    try:
        image = render_mesh(judge._box().run(PLATE_AND_BOSS).mesh, size=224)
        [(_, mesh)] = judge.judge([fit_code(PLATE_AND_BOSS, wrong_lo, wrong_hi)], image)
        sizes, centre, before, after = judge.refine(mesh, wrong_lo, wrong_hi, image,
                                                    camera_basis("iso"))
    finally:
        judge.close()
    assert after < before / 2
    assert np.abs(sizes - (hi - lo)).sum() < np.abs((wrong_hi - wrong_lo) - (hi - lo)).sum() / 2
    # the centre is only known up to the view direction: compare on the screen
    b = camera_basis("iso")[:2]
    assert np.abs(b @ (centre - (lo + hi) / 2)).max() < 0.02
