"""Mass properties and principal frames of solids."""

from __future__ import annotations

import numpy as np
import pytest

from cadbench.geometry.align import (PROPER_SIGN_PATTERNS, AlignError, mass_properties,
                                     principal_frame)
from cadbench.geometry.mesh import Mesh
from geometry_testmeshes import box


def test_box_mass_properties():
    mp = mass_properties(box((1.0, 2.0, 3.0), at=(10.0, -4.0, 2.0)))
    assert mp.volume == pytest.approx(6.0)
    assert np.allclose(mp.centroid, [10.5, -3.0, 3.5])
    # integral of (x - c)^2 over a box of side a is V a^2 / 12
    assert np.allclose(mp.second_moment, np.diag([6 / 12, 6 * 4 / 12, 6 * 9 / 12]), atol=1e-9)
    assert mp.radius_of_gyration == pytest.approx(np.sqrt((1 + 4 + 9) / 12))


def test_inward_winding_gives_the_same_properties():
    m = box((1.0, 2.0, 3.0))
    inv = mass_properties(Mesh(m.vertices, m.faces[:, ::-1].copy()))
    assert inv.volume == pytest.approx(6.0)
    assert np.allclose(inv.second_moment, mass_properties(m).second_moment)


def test_principal_frame_is_a_proper_rotation_sorted_by_moment():
    rot = np.array([[0.0, -1.0, 0.0], [0.6, 0.0, -0.8], [0.8, 0.0, 0.6]])  # det +1
    m = box((1.0, 2.0, 3.0), at=(-0.5, -1.0, -1.5))
    fr = principal_frame(Mesh(m.vertices @ rot.T, m.faces))
    assert np.linalg.det(fr.axes) == pytest.approx(1.0)
    # thinnest direction first: box x (side 1) was sent to rot[:, 0]
    assert abs(fr.axes[:, 0] @ rot[:, 0]) == pytest.approx(1.0)
    assert abs(fr.axes[:, 2] @ rot[:, 2]) == pytest.approx(1.0)


def test_proper_sign_patterns_are_rotations():
    assert all(np.prod(s) == 1 for s in PROPER_SIGN_PATTERNS)
    assert len(set(PROPER_SIGN_PATTERNS)) == 4


def test_flat_mesh_raises():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    with pytest.raises(AlignError, match="no volume"):
        mass_properties(Mesh.from_arrays(v, [[0, 1, 2], [0, 2, 1]]))


def test_symmetric_axis_flags_only_equal_moment_pairs():
    square = principal_frame(box((2.0, 2.0, 0.3)))
    assert square.symmetric_axis() == 0            # thin axis is distinct, the plane is not
    rod = principal_frame(box((0.3, 0.3, 3.0)))
    assert rod.symmetric_axis() == 2
    # 0.3 x 0.4 x 3: moments differ by ~40% of each other, though by < 5% of the largest
    assert principal_frame(box((0.3, 0.4, 3.0))).symmetric_axis() is None
    assert principal_frame(box((1.0, 1.0, 1.0))).symmetric_axis() is None  # all equal
    assert principal_frame(box((1.0, 2.0, 3.0))).symmetric_axis() is None
