"""The embedded default benchmark `synth`: procedurally generated GenCAD-Code programs,
executed, validated, rendered and cached.

How a split is made (deterministic from the seed):
- Candidate i of the stream is `synth_families.generate_candidate(seed, i)`.
- Its split is decided by a hash of its program text (10% test, 10% val, 80% train), so a
  split can be built alone (the test split does not need train) and the same program can never
  land in two splits.
- Each candidate of the split is executed in-process (our own trusted code) and kept only if
  it gives exactly one valid solid with volume >= MIN_VOLUME, every side >= MIN_SIDE, inside the
  +-0.75 cube. Its geometry key (rounded volume, area, bounding box) must not be in the split
  already, nor in a split of higher priority (test > val > train): two different programs
  that make the same solid cannot cross splits either. So val is built after test, train after
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

VERSION = "v1"
SPLITS = ("test", "val", "train")          # priority order: earlier splits win duplicates
DEFAULT_SIZES = {"train": 5000, "val": 500, "test": 500}
SPLIT_PERCENT = {"test": 10, "val": 10}    # the rest goes to train
MIN_VOLUME = 1e-4
MIN_SIDE = 1.0 / 128.0
EXTENT = 0.75
BATCH = 24                                  # candidates per worker task


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
    code = program.to_code()
    out = {"index": index, "family": family}
    try:
        solid = _execute_trusted(code)
    except Exception as e:  # a generator bug or an OCC failure: reject, counted in manifest
        return {**out, "rejected": f"exec:{type(e).__name__}"}
    reason = _reject_reason(solid)
    if reason:
        return {**out, "rejected": reason}
    mesh = shape_to_mesh(solid)
    image = render_mesh(mesh, size=image_size)
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return {**out, "code": code, "params": params, "geom_key": geometry_key(solid),
            "volume": float(solid.Volume()), "png": buf.getvalue()}


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
    bb = solid.BoundingBox()
    if min(bb.xlen, bb.ylen, bb.zlen) < MIN_SIDE:
        return "thin"
    if max(abs(bb.xmin), abs(bb.xmax), abs(bb.ymin), abs(bb.ymax), abs(bb.zmin),
           abs(bb.zmax)) > EXTENT + 1e-6:
        return "outside_cube"
    return None


def geometry_key(solid) -> str:
    """Rounded volume, area and bounding box: equal for the same solid in the same place."""
    bb = solid.BoundingBox()
    vals = [solid.Volume(), solid.Area(), bb.xmin, bb.ymin, bb.zmin, bb.xmax, bb.ymax, bb.zmax]
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
    kept, rejected = _generate(split, spec, target, excluded, n_jobs, progress)
    _write_split(out, split, spec, kept, rejected, time.perf_counter() - t0)
    return out


def _generate(split, spec, target, excluded, n_jobs, progress):
    from joblib import Parallel, delayed
    from tqdm import tqdm

    stream = candidate_indices(split, spec.seed)
    seen = set(excluded)
    kept: list[dict] = []
    rejected: dict[str, int] = {}
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
                        bar.update(1)
    bar.close()
    return kept, rejected


def _write_split(out: Path, split: str, spec: SynthSpec, kept: list[dict],
                 rejected: dict, seconds: float) -> None:
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
                "n_samples": len(kept), "rejected": rejected, "build_seconds": round(seconds, 1),
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
