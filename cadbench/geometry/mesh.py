"""A plain triangle mesh: the only thing that crosses from the sandbox to the trusted side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class MeshError(ValueError):
    """Raised when arrays handed back by a candidate are not a usable mesh."""


@dataclass(frozen=True)
class Mesh:
    vertices: np.ndarray  # (n, 3) float64
    faces: np.ndarray     # (m, 3) int64, indices into vertices, outward winding

    @classmethod
    def from_arrays(cls, vertices, faces) -> "Mesh":
        """Validate untrusted arrays (shape, dtype, finiteness, index range) and copy them."""
        v = np.array(vertices, dtype=np.float64, copy=True)
        f = np.array(faces, dtype=np.int64, copy=True)
        if v.ndim != 2 or v.shape[1] != 3:
            raise MeshError(f"vertices must be (n, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise MeshError(f"faces must be (m, 3), got {f.shape}")
        if len(v) == 0 or len(f) == 0:
            raise MeshError("empty mesh")
        if not np.isfinite(v).all():
            raise MeshError("non-finite vertex coordinates")
        if f.min() < 0 or f.max() >= len(v):
            raise MeshError("face index out of range")
        return cls(v, f)

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3): min and max corner."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])

    def triangles(self) -> np.ndarray:
        """(m, 3, 3) vertex coordinates per face."""
        return self.vertices[self.faces]

    def volume(self) -> float:
        """Signed volume by the divergence theorem (positive for outward winding)."""
        t = self.triangles()
        return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)

    def to_trimesh(self):
        import trimesh
        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        return {"vertices": self.vertices, "faces": self.faces}
