"""Geometry on the trusted side: meshes, voxelization, pose normalisation and metrics."""

from .mesh import Mesh, MeshError
from .metrics import METRIC_KEYS, compute_metrics
from .voxel import voxelize

__all__ = ["Mesh", "MeshError", "METRIC_KEYS", "compute_metrics", "voxelize"]
