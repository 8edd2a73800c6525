"""The embedded default benchmark `synth`: procedurally generated GenCAD-Code programs,
executed, validated, rendered and cached.

How a split is made (deterministic from the seed):
- Candidate i of the stream is `synth_families.generate_candidate(seed, i)`.
- Its split is decided by a hash of that program's text (10% test, 10% val, 80% train), so a
  split can be built alone (the test split does not need train) without executing anything.
- Depth convention (v2): the images are single orthographic views along D = (1, -1, 1)/sqrt(3)
  (render.VIEWS["iso"]); a move along D changes no pixel. So each candidate is executed and
  moved through the IR until the centre c of its exact bounding box lies on the plane
  D . c = 0 (`canonical_offset`): along D alone when that keeps it in the cube, else to the
  nearest centre on the plane that does. The moved program is the ground truth; it is
  executed again and that solid is the one checked, keyed and rendered.
- It is kept only if it gives exactly one valid solid with volume >= MIN_VOLUME, every side
  >= MIN_SIDE, inside the +-0.75 cube (after the move: the renderer's fixed frame is that cube,
  so the image is exactly the stored program's render). Its geometry key (rounded volume,
  area, bounding box) must not be in the split already, nor in a split of higher priority
  (test > val > train): two different programs that make the same solid (or, in v1, the same
  solid at two depths) cannot cross splits either. So val is built after test, train after
  both, and each split's content does not depend on which command built it.
- The first `size` kept candidates, in stream order, form the split.

Cache: `cadbench_home()/datasets/synth/<version>-seed<S>-px<P>/<split dir>/` with
`samples.jsonl` (one sample a line), `images/<id>.png` and `manifest.json`. The split dir
names the sizes it depends on, e.g. `test-500`, `val-500_test-500`,
`train-5000_test-500_val-500`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..config import cadbench_home
from ..errors import CadbenchError, InputError
from .base import Sample

# v2: every part placed at the canonical depth along the view (v1's caches are not reused).
VERSION = "v2"
SPLITS = ("test", "val", "train")          # priority order: earlier splits win duplicates
DEFAULT_SIZES = {"train": 5000, "val": 500, "test": 500}
SPLIT_PERCENT = {"test": 10, "val": 10}    # the rest goes to train
MIN_VOLUME = 1e-4
MIN_SIDE = 1.0 / 128.0
EXTENT = 0.75
BATCH = 24                                  # candidates per worker task
# The renders' direction towards the camera, unnormalised (render.VIEWS["iso"]).
VIEW_AXIS = (1.0, -1.0, 1.0)
CONVENTION_TOL = 1e-9  # |D . c| of a kept part's box centre, checked after the move
# Moves are rounded to this dyadic grid: OCC's box of a boolean result varies in its last bits
# between processes, and that noise must not reach the program text (same seed, same bytes).
# Sums with the 1/128-grid origins stay exact; |D . c| stays below 3 / 2**35 ~ 1e-10.
MOVE_GRID = 2.0 ** 34


@dataclass(frozen=True)
class SynthSpec:
    seed: int = 0
    image_size: int = 224
    sizes: dict = field(default_factory=lambda: dict(DEFAULT_SIZES))

    def root(self) -> Path:
        return (cadbench_home() / "datasets" / "synth" /
                f"{VERSION}-seed{self.seed}-px{self.image_size}")

    def split_dir(self, split: str) -> Path:
        _check_split(split)
        parts = [f"{split}-{self.sizes[split]}"]
        for higher in SPLITS[:SPLITS.index(split)]:
            parts.append(f"{higher}-{self.sizes[higher]}")
        return self.root() / "_".join(parts)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InputError(f"synth has splits {', '.join(SPLITS)}; got {split!r}")


def split_of(code: str) -> str:
    """The split a program belongs to, by a hash of its text."""
    bucket = int(hashlib.sha1(code.encode()).hexdigest()[:8], 16) % 100
    if bucket < SPLIT_PERCENT["test"]:
        return "test"
    if bucket < SPLIT_PERCENT["test"] + SPLIT_PERCENT["val"]:
        return "val"
    return "train"


def candidate_indices(split: str, seed: int, start: int = 0):
    """Indices (and programs) of the candidate stream that belong to `split`, from `start`."""
    from .synth_families import generate_candidate
    i = start
    while True:
        try:
            family, program, params = generate_candidate(seed, i)
        except ValueError:  # a family's parameters that make no program: skip the candidate
            i += 1
            continue
        if split_of(program.to_code()) == split:
            yield i
        i += 1


# ----------------------------------------------------------------------------- worker side

def make_samples(seed: int, indices: list[int], image_size: int) -> list[dict]:
    """Execute, validate and render candidates (runs in a worker process)."""
    return [make_sample(seed, i, image_size) for i in indices]


def make_sample(seed: int, index: int, image_size: int) -> dict:
    from ..geometry.tessellate import shape_to_mesh
    from ..render import render_mesh
    from .synth_families import generate_candidate

    family, program, params = generate_candidate(seed, index)
    out = {"index": index, "family": family}
    try:
        first = _execute_trusted(program.to_code())
    except Exception as e:  # a generator bug or an OCC failure: reject, counted in manifest
        return {**out, "rejected": f"exec:{type(e).__name__}"}
    try:
        offset, placement = canonical_move(first)
    except ValueError:  # larger than the cube: it fits nowhere
        return {**out, "rejected": "outside_cube"}
    program = program.translated(tuple(offset))
    code = program.to_code()
    try:
        solid = _execute_trusted(code)  # the stored program itself: what gets rendered
    except Exception as e:
        return {**out, "rejected": f"exec_moved:{type(e).__name__}"}
    reason = _reject_reason(solid)
    if reason:
        return {**out, "rejected": reason}
    mesh = shape_to_mesh(solid)
    image = render_mesh(mesh, size=image_size)
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return {**out, "code": code, "placement": placement,
            "params": {**params, "placement": placement,
                       "canonical_move": [float(v) for v in offset]},
            # 12 significant digits: OCC's volume varies in its last bits between processes
            "geom_key": geometry_key(solid), "volume": float(f"{solid.Volume():.12g}"),
            "png": buf.getvalue()}


def tight_bounds(shape) -> tuple[np.ndarray, np.ndarray]:
    """The exact axis-aligned box of an OCC shape: extrema of its curves and surfaces, with
    no tolerance margin and never from a triangulation (cadquery's BoundingBox uses one when
    the shape has been tessellated)."""
    from OCP.Bnd import Bnd_Box
    from OCP.BRepBndLib import BRepBndLib

    box = Bnd_Box()
    BRepBndLib.AddOptimal_s(shape.wrapped, box, False, False)
    v = box.Get()
    return np.array(v[:3], dtype=np.float64), np.array(v[3:], dtype=np.float64)


def depth_of(lo, hi) -> float:
    """D . c (unnormalised: x - y + z) of the centre c of the box [lo, hi]."""
    c = (np.asarray(lo, dtype=np.float64) + np.asarray(hi, dtype=np.float64)) / 2
    return float(c @ np.asarray(VIEW_AXIS))


def canonical_offset(lo, hi) -> tuple[np.ndarray, str]:
    """The move that puts the box [lo, hi] on the plane D . c = 0, inside the +-EXTENT cube.

    "depth": the move along D alone (no pixel changes). When that leaves the cube (a part
    that is large along an axis and off-centre in the view; 90% of the 1.5-wide parts), the
    centre goes to the nearest point of the plane that keeps the box inside ("screen"): the
    part also slides across the image, but is not dropped, so the size mix stays v1's.
    Raises ValueError for a box that fits the cube nowhere."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    a = np.asarray(VIEW_AXIS)
    c, half = (lo + hi) / 2, (hi - lo) / 2
    if (half > EXTENT + 1e-6).any():
        raise ValueError(f"box sides {(2 * half).tolist()} exceed the cube")
    room = np.maximum(EXTENT - half, 0.0)          # allowed |centre| per axis
    t = float(np.round(-(c @ a) / 3.0 * MOVE_GRID) / MOVE_GRID)
    if (np.abs(c + t * a) <= room + 1e-10).all():  # slack: t rounded, a part touching the cube
        return t * a, "depth"
    # Euclidean projection onto {|x_i| <= room_i, a . x = 0}: x(mu) = clip(c - mu a), with
    # a . x(mu) decreasing in mu; bisect for the sign change, then solve mu on the free axes.
    def x_of(mu):
        return np.clip(c - mu * a, -room, room)

    lo_mu, hi_mu = -10.0, 10.0
    for _ in range(200):
        mid = (lo_mu + hi_mu) / 2
        lo_mu, hi_mu = (mid, hi_mu) if x_of(mid) @ a > 0 else (lo_mu, mid)
    x = x_of((lo_mu + hi_mu) / 2)
    free = np.abs(x) < room - 1e-12
    if free.any():  # exact on the free axes: sum_bound a x + sum_free a (c - mu a) = 0
        mu = (x[~free] @ a[~free] + c[free] @ a[free]) / free.sum()
        x[free] = c[free] - mu * a[free]
    return np.round((x - c) * MOVE_GRID) / MOVE_GRID, "screen"


def canonical_move(shape) -> tuple[np.ndarray, str]:
    """`canonical_offset` of the exact box of an OCC shape."""
    return canonical_offset(*tight_bounds(shape))


def _execute_trusted(code: str):
    ns: dict = {}
    exec(compile(code, "<synth program>", "exec"), ns)
    solids = ns["solid"].solids().vals()
    if len(solids) != 1:
        raise _NotOneSolid(len(solids))
    return solids[0]


class _NotOneSolid(Exception):
    def __init__(self, n):
        super().__init__(f"{n} solids")


def _reject_reason(solid) -> str | None:
    if not solid.isValid():
        return "invalid"
    if solid.Volume() < MIN_VOLUME:
        return "tiny_volume"
    lo, hi = tight_bounds(solid)
    if (hi - lo).min() < MIN_SIDE:
        return "thin"
    if max(np.abs(lo).max(), np.abs(hi).max()) > EXTENT + 1e-6:
        return "outside_cube"
    if abs(depth_of(lo, hi)) > CONVENTION_TOL:  # never seen; a guard on the v2 invariant
        return "off_convention"
    return None


def geometry_key(solid) -> str:
    """Rounded volume, area and bounding box: equal for the same solid in the same place."""
    lo, hi = tight_bounds(solid)
    vals = [solid.Volume(), solid.Area(), *lo, *hi]
    return "|".join(f"{v:.4f}" for v in vals).replace("-0.0000", "0.0000")


# ----------------------------------------------------------------------------- build

def build_split(split: str, spec: SynthSpec = SynthSpec(), n_jobs: int = 2,
                progress: bool = True, force: bool = False) -> Path:
    """Build one split into the cache (higher-priority splits first); return its folder."""
    _check_split(split)
    out = spec.split_dir(split)
    if (out / "manifest.json").exists() and not force:
        return out
    excluded: set[str] = set()
    for higher in SPLITS[:SPLITS.index(split)]:
        hdir = build_split(higher, spec, n_jobs=n_jobs, progress=progress)
        excluded |= {json.loads(line)["geom_key"]
                     for line in (hdir / "samples.jsonl").read_text().splitlines() if line}
    target = int(spec.sizes[split])
    if target < 1:
        raise InputError(f"synth {split} size must be >= 1, got {target}")
    t0 = time.perf_counter()
    kept, rejected, placements = _generate(split, spec, target, excluded, n_jobs, progress)
    _write_split(out, split, spec, kept, rejected, placements, time.perf_counter() - t0)
    return out


def _generate(split, spec, target, excluded, n_jobs, progress):
    from joblib import Parallel, delayed
    from tqdm import tqdm

    stream = candidate_indices(split, spec.seed)
    seen = set(excluded)
    kept: list[dict] = []
    rejected: dict[str, int] = {}
    placements: dict[str, int] = {}   # kept parts moved along D only / also across the image
    bar = tqdm(total=target, desc=f"synth {split}", unit="sample", file=sys.stderr,
               disable=not progress)
    with Parallel(n_jobs=n_jobs, return_as="generator") as parallel:
        tried = 0
        while len(kept) < target:
            if tried > 20 * target + 1000:  # a broken generator must not loop forever
                raise CadbenchError(f"synth {split}: only {len(kept)} of {target} samples "
                                    f"after {tried} candidates (rejected: {rejected})")
            need = target - len(kept)
            # ~1% of candidates are rejected: ask for a little more than needed per round.
            n = int(need * 1.05) + 4
            indices = [next(stream) for _ in range(n)]
            tried += n
            batches = [indices[k:k + BATCH] for k in range(0, len(indices), BATCH)]
            jobs = (delayed(make_samples)(spec.seed, b, spec.image_size) for b in batches)
            for results in parallel(jobs):
                for r in results:  # results come in stream order: deterministic
                    if len(kept) >= target:
                        break
                    if "rejected" in r:
                        rejected[r["rejected"]] = rejected.get(r["rejected"], 0) + 1
                    elif r["geom_key"] in seen:
                        rejected["duplicate"] = rejected.get("duplicate", 0) + 1
                    else:
                        seen.add(r["geom_key"])
                        kept.append(r)
                        placements[r["placement"]] = placements.get(r["placement"], 0) + 1
                        bar.update(1)
    bar.close()
    return kept, rejected, placements


def _write_split(out: Path, split: str, spec: SynthSpec, kept: list[dict],
                 rejected: dict, placements: dict, seconds: float) -> None:
    tmp = out.parent / f".{out.name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "images").mkdir(parents=True)
    lines = []
    for r in kept:
        sid = f"synth_{r['index']:06d}"
        (tmp / "images" / f"{sid}.png").write_bytes(r["png"])
        lines.append(json.dumps({"id": sid, "family": r["family"], "code": r["code"],
                                 "params": r["params"], "geom_key": r["geom_key"],
                                 "volume": r["volume"], "image": f"images/{sid}.png"},
                                sort_keys=True))
    (tmp / "samples.jsonl").write_text("\n".join(lines) + "\n")
    manifest = {"dataset": "synth", "version": VERSION, "split": split, "spec": asdict(spec),
                "n_samples": len(kept), "rejected": rejected, "placement": placements,
                "build_seconds": round(seconds, 1),
                "last_candidate_index": kept[-1]["index"] if kept else None}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    try:
        os.rename(tmp, out)
    except OSError:  # another process finished the same split first: keep theirs
        if (out / "manifest.json").exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            if out.exists():
                shutil.rmtree(out)
            os.rename(tmp, out)


# ----------------------------------------------------------------------------- load

def load_synth(split: str = "test", size: int | None = None, seed: int = 0,
               image_size: int = 224, sizes: dict | None = None, build: bool = True,
               with_images: bool = True, n_jobs: int = 2, progress: bool = True
               ) -> list[Sample]:
    """Samples of a synth split, building it into the cache on first use."""
    _check_split(split)
    spec = make_spec(split, size=size, seed=seed, image_size=image_size, sizes=sizes)
    d = spec.split_dir(split)
    if not (d / "manifest.json").exists():
        if not build:
            from ..errors import DatasetNotFound
            raise DatasetNotFound(f"synth {split} is not built at {d}; run "
                                  f"`cadbench data build --split {split}`")
        build_split(split, spec, n_jobs=n_jobs, progress=progress)
    return read_split(d, split, with_images=with_images)


def make_spec(split: str, size: int | None = None, seed: int = 0, image_size: int = 224,
              sizes: dict | None = None) -> SynthSpec:
    s = dict(DEFAULT_SIZES)
    if sizes:
        unknown = set(sizes) - set(SPLITS)
        if unknown:
            raise InputError(f"unknown synth split(s) in sizes: {sorted(unknown)}")
        s.update({k: int(v) for k, v in sizes.items()})
    if size is not None:
        s[split] = int(size)
    return SynthSpec(seed=seed, image_size=image_size, sizes=s)


def read_split(d: Path, split: str, with_images: bool = True) -> list[Sample]:
    from PIL import Image
    samples = []
    for line in (d / "samples.jsonl").read_text().splitlines():
        if not line:
            continue
        r = json.loads(line)
        image = None
        if with_images:
            with Image.open(d / r["image"]) as im:
                image = np.asarray(im.convert("RGB"))
        samples.append(Sample(r["id"], r["code"], image, {
            "family": r["family"], "params": r["params"], "split": split, "source": "synth",
            "geom_key": r["geom_key"], "volume": r["volume"], "image_source": "rendered",
            "image_path": str(d / r["image"])}))
    return samples
