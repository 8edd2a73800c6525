"""Typed configuration: the one place that holds execution and metric defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

# The variables a candidate's solid is looked up in, after the configured one.
# GenCAD-Code names its final solid `solid`; CadQuery examples use `result`.
FALLBACK_RESULT_VARS: tuple[str, ...] = ("result", "r", "shape", "part")


@dataclass(frozen=True)
class ExecConfig:
    """Limits and rules for running one candidate program in the sandbox."""

    timeout_s: float = 10.0          # wall clock, per candidate
    memory_mb: int = 2048            # address-space growth allowed beyond the warm worker
    cpu_s: float | None = None       # CPU seconds; None = timeout_s + 2
    max_output_bytes: int = 64 * 1024  # captured stdout+stderr kept per candidate
    result_var: str = "solid"
    # Tessellation tolerances: linear is relative to the shape's bounding-box diagonal.
    linear_tolerance: float = 1e-3
    angular_tolerance: float = 0.2
    max_mesh_faces: int = 2_000_000  # bigger candidate meshes are refused (metric cost bound)
    max_mesh_vertices: int = 2_000_000  # checked with the faces, from the headers, before loading
    # Each candidate writes into a tmpfs of its own (as root): posix_fallocate and many files
    # stop there. Large enough for the biggest mesh the caps above allow.
    workdir_mb: int = 256
    workdir_max_files: int = 4096
    drop_privileges: bool = True     # as root: run the candidate as an unprivileged user
    isolate_network: bool = True     # new network namespace where the kernel allows
    readonly_filesystem: bool = True  # read-only view of the file system, private /tmp
    # The trusted side's bound per candidate (checking arrays, union, validity, metrics): a
    # prediction over it gets status `too_costly` and the run goes on.
    trusted_timeout_s: float = 30.0
    trusted_memory_mb: int = 1024

    @property
    def cpu_limit_s(self) -> float:
        return self.cpu_s if self.cpu_s is not None else self.timeout_s + 2.0

    def result_vars(self) -> tuple[str, ...]:
        """The result-variable rule, in order of preference (the single place that decides it)."""
        rest = tuple(v for v in FALLBACK_RESULT_VARS if v != self.result_var)
        return (self.result_var, *rest)

    def to_dict(self) -> dict:
        return asdict(self)


# cadbench's own convention, the default protocol (cadbench/protocols/cadbench.py).
DEFAULT_PROTOCOL = "cadbench"


@dataclass(frozen=True)
class MetricConfig:
    """Which metrics to compute and with what settings."""

    voxel_resolution: int = 64       # N for the N^3 grid of `iou` and `iou_best`
    compute_best: bool = True        # pose-invariant iou_best
    compute_exact: bool = True       # manifold3d mesh-boolean IoU
    compute_mecagent: bool = False   # compatibility metric (surface voxels, not volumetric)
    compute_chamfer: bool = True
    chamfer_points: int = 1024       # per surface; exact point-to-surface distances (metrics.md)
    seed: int = 0
    # A peer benchmark's convention computed beside cadbench's own metrics (cadbench.protocols:
    # cadrille, cadbench2026, benchcad, mecagent); "cadbench" adds nothing.
    protocol: str = DEFAULT_PROTOCOL

    def for_protocol(self, all_metrics: bool = False) -> "MetricConfig":
        """The metrics a run under `protocol` computes: under a peer's protocol its metrics
        (cadbench.protocols) with cadbench's VSR and `iou`, and cadbench's own iou_best,
        iou_exact and chamfer only when `all_metrics` (they are not the peer's convention,
        and iou_best alone costs more than every metric of most peers). The one place that
        decides it; cadbench's own protocol keeps every switch as given."""
        if self.protocol == DEFAULT_PROTOCOL or all_metrics:
            return self
        return replace(self, compute_best=False, compute_exact=False, compute_chamfer=False)

    def to_dict(self) -> dict:
        return asdict(self)


def cadbench_home() -> Path:
    """Root of cadbench's cache (datasets, ground-truth meshes). One place decides it."""
    env = os.environ.get("CADBENCH_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cadbench"


@dataclass(frozen=True)
class ScoreConfig:
    """Everything that decides a scoring run's numbers (recorded with every result)."""

    exec: ExecConfig = field(default_factory=ExecConfig)
    metrics: MetricConfig = field(default_factory=MetricConfig)
    workers: int = 2
    bootstrap_samples: int = 1000
    seed: int = 0

    def to_dict(self) -> dict:
        return {"exec": self.exec.to_dict(), "metrics": self.metrics.to_dict(),
                "workers": self.workers, "bootstrap_samples": self.bootstrap_samples,
                "seed": self.seed}
