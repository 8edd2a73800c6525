"""Pose normalisation of a solid: volume centroid, radius of gyration, principal axes.

All moments are of the filled solid (divergence theorem over the closed surface, exact for
the mesh), not of the surface or the vertices, so the tessellation density does not bias
them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh import Mesh

# The proper (det +1) sign patterns of three principal axes: identity and the three
# half-turns about a principal axis. Mirror patterns (det -1) are deliberately excluded.
PROPER_SIGN_PATTERNS: tuple[tuple[int, int, int], ...] = (
    (1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))


def sign_label(signs) -> str:
    return "".join("+" if s > 0 else "-" for s in signs)


# Two second moments closer than this (relative to the largest) are treated as equal.
DEGENERACY_TOL = 0.05


class AlignError(ValueError):
    """The solid has no usable mass properties (zero or negative volume)."""


@dataclass(frozen=True)
class MassProperties:
    volume: float              # > 0
    centroid: np.ndarray       # (3,)
    second_moment: np.ndarray  # (3, 3): integral of (x - c)(x - c)^T dV

    @property
    def radius_of_gyration(self) -> float:
        """sqrt(integral |x - c|^2 dV / V)."""
        return float(np.sqrt(np.trace(self.second_moment) / self.volume))


def mass_properties(mesh: Mesh) -> MassProperties:
    """Volume, centroid and central second moment of the enclosed solid.

    Sums signed tetrahedra (ref point, a, b, c). A mesh wound inwards (negative volume) is
    treated as flipped; a mesh enclosing (almost) no volume raises AlignError."""
    ref = mesh.vertices.mean(axis=0)  # local origin: keeps the sums well conditioned
    t = mesh.vertices[mesh.faces] - ref
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    det = np.einsum("ij,ij->i", a, np.cross(b, c))  # 6 x signed tetra volume
    vol = det.sum() / 6.0
    extent = float(np.ptp(mesh.vertices, axis=0).max())
    if not np.isfinite(vol) or abs(vol) <= 1e-12 * max(extent, 1e-300) ** 3:
        raise AlignError(f"solid encloses no volume (signed volume {vol:.3g})")
    s = a + b + c
    centroid_local = (det[:, None] * s).sum(axis=0) / 24.0 / vol
    # integral x x^T over tetra (0, a, b, c) = det/120 * (a a^T + b b^T + c c^T + s s^T)
    outer = (np.einsum("i,ij,ik->jk", det, a, a) + np.einsum("i,ij,ik->jk", det, b, b)
             + np.einsum("i,ij,ik->jk", det, c, c) + np.einsum("i,ij,ik->jk", det, s, s))
    second_origin = outer / 120.0
    second = second_origin - vol * np.outer(centroid_local, centroid_local)
    if vol < 0:  # inward winding: every signed integral flips together
        vol, second = -vol, -second
    if not np.all(np.isfinite(second)):
        raise AlignError("non-finite second moments")
    return MassProperties(float(vol), centroid_local + ref, second)


@dataclass(frozen=True)
class PrincipalFrame:
    """x_normalised = axes.T @ (x - centroid) / scale; axes columns sorted by increasing
    second moment (so the first axis is the thinnest direction), det(axes) = +1."""

    centroid: np.ndarray
    axes: np.ndarray
    scale: float
    moments: np.ndarray  # (3,) eigenvalues of the second moment, increasing

    def symmetric_axis(self, tol: float = DEGENERACY_TOL) -> int | None:
        """Index of the distinct principal axis when exactly two second moments are (nearly)
        equal: the other two axes are then arbitrary within their plane. None otherwise
        (all distinct, or all three equal)."""
        w = self.moments
        close01 = (w[1] - w[0]) <= tol * w[1]
        close12 = (w[2] - w[1]) <= tol * w[2]
        if close01 and not close12:
            return 2
        if close12 and not close01:
            return 0
        return None

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (points - self.centroid) @ self.axes / self.scale


def principal_frame(mesh: Mesh) -> PrincipalFrame:
    mp = mass_properties(mesh)
    vals, vecs = np.linalg.eigh(mp.second_moment)
    if np.linalg.det(vecs) < 0:  # make it a proper rotation
        vecs[:, 2] = -vecs[:, 2]
    scale = mp.radius_of_gyration
    if not np.isfinite(scale) or scale <= 0:
        raise AlignError(f"bad radius of gyration {scale}")
    return PrincipalFrame(mp.centroid, vecs, scale, vals)


def rotation_about_axis(axis: int, angle: float) -> np.ndarray:
    """Proper rotation matrix by `angle` radians about coordinate axis 0, 1 or 2."""
    i, j = [k for k in range(3) if k != axis]
    c, s = np.cos(angle), np.sin(angle)
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def normalised(mesh: Mesh, frame: PrincipalFrame | None = None) -> Mesh:
    """The mesh in its own principal frame, unit radius of gyration."""
    frame = frame or principal_frame(mesh)
    return Mesh(frame.apply(mesh.vertices), mesh.faces)
