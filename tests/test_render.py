"""Renderer: shape, determinism, framing, views, silhouettes."""

import numpy as np
import pytest

from cadbench.geometry.mesh import Mesh
from cadbench.render import render_mesh

BG = np.array([255, 255, 255], dtype=np.uint8)


def box(lo, hi) -> Mesh:
    """Axis-aligned box with outward-wound triangles."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], dtype=float)
    f = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                  [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])
    return Mesh.from_arrays(v, f)


def covered(img) -> np.ndarray:
    return np.any(img != BG, axis=2)


def test_output_format_and_determinism():
    m = box((-0.5, -0.25, 0), (0.5, 0.25, 0.2))
    a = render_mesh(m)
    assert a.shape == (224, 224, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_mesh(m))
    assert (a[0, 0] == BG).all() and covered(a).sum() > 2000
    assert render_mesh(m, size=64).shape == (64, 64, 3)


def test_iso_view_shows_three_distinct_face_shades():
    img = render_mesh(box((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)))
    shades = {tuple(c) for c in img[covered(img)]}
    assert len(shades) == 3  # flat shading: top, front, right faces


def test_fixed_frame_keeps_size_and_position_fit_frame_normalises():
    small = box((-0.2, -0.2, -0.2), (0.2, 0.2, 0.2))
    big = box((-0.6, -0.6, -0.6), (0.6, 0.6, 0.6))
    a, b = covered(render_mesh(small)), covered(render_mesh(big))
    assert 7 < b.sum() / a.sum() < 11  # area scales with size^2 (= 9)
    fa, fb = covered(render_mesh(small, frame="fit")), covered(render_mesh(big, frame="fit"))
    assert abs(int(fa.sum()) - int(fb.sum())) < 0.02 * fb.sum()
    moved = box((0.2, -0.2, -0.2), (0.6, 0.2, 0.2))
    assert not np.array_equal(covered(render_mesh(moved)), a)               # position kept
    assert np.array_equal(covered(render_mesh(moved, frame="fit")), fa)      # not in "fit"


def test_top_view_silhouette_of_a_plate_is_its_rectangle():
    img = render_mesh(box((-0.5, -0.25, 0), (0.5, 0.25, 0.1)), size=200, view="top")
    ys, xs = np.nonzero(covered(img))
    w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert abs(w / h - 2.0) < 0.05
    assert covered(img).sum() == w * h  # a full rectangle, no holes


def test_hidden_surfaces_are_removed():
    """A small box in front of a big one (towards the camera) must be visible over it."""
    back = box((-0.6, -0.6, -0.6), (0.0, 0.0, 0.0))
    front = box((0.3, -0.7, 0.3), (0.5, -0.5, 0.5))
    v = np.vstack([back.vertices, front.vertices])
    f = np.vstack([back.faces, front.faces + 8])
    img = render_mesh(Mesh.from_arrays(v, f), view="front")
    solo = render_mesh(front, view="front")
    assert np.array_equal(img[covered(solo)], solo[covered(solo)])


def test_inverted_mesh_still_renders_and_bad_args_fail_clearly():
    m = box((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))
    inverted = Mesh.from_arrays(m.vertices, m.faces[:, ::-1])
    assert covered(render_mesh(inverted)).sum() > 0.9 * covered(render_mesh(m)).sum()
    with pytest.raises(ValueError, match="unknown view"):
        render_mesh(m, view="diagonal")
    with pytest.raises(ValueError, match="frame"):
        render_mesh(m, frame="zoom")


def test_mesh_outside_the_cube_is_not_clipped():
    img = render_mesh(box((-2, -2, -2), (2, 2, 2)))
    c = covered(img)
    assert not c[0].any() and not c[-1].any() and not c[:, 0].any() and not c[:, -1].any()


def test_render_code_of_trusted_program():
    pytest.importorskip("cadquery")
    from cadbench.render import render_code
    code = "import cadquery as cq\nsolid = cq.Workplane('XY').box(0.5, 0.5, 0.5)\n"
    img = render_code(code, size=96)
    assert img.shape == (96, 96, 3) and covered(img).sum() > 100
    with pytest.raises(ValueError, match="no variable"):
        render_code("x = 1\n")
