"""The synth benchmark: determinism, validity, split isolation, caching, and v2's depth
convention (every part's box centre on the plane D . c = 0 of the view direction D)."""

import json
from collections import Counter

import numpy as np
import pytest

from cadbench.datasets import synth
from cadbench.datasets.synth_families import FAMILIES, generate_candidate
from cadbench.geometry.tessellate import shape_to_mesh
from cadbench.program import from_code
from cadbench.render import VIEWS, render_mesh

SMALL = {"test": 6, "val": 5, "train": 12}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _lines(d):
    return [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines() if x]


def test_generator_is_deterministic_and_covers_every_family():
    seen, planes, ops, both = Counter(), Counter(), Counter(), 0
    for i in range(600):
        fam, prog, params = generate_candidate(0, i)
        fam2, prog2, params2 = generate_candidate(0, i)
        assert (fam, prog, params) == (fam2, prog2, params2)
        seen[fam] += 1
        code = prog.to_code()
        assert from_code(code) == prog  # written through the IR, reads back
        for b in prog.bodies:
            planes[b.plane.normal] += 1
            ops[b.op] += 1
            both += b.both
    assert set(seen) == set(FAMILIES)
    assert len(planes) >= 3 and ops["union"] and ops["cut"] and both
    assert generate_candidate(1, 0) != generate_candidate(0, 0)


def test_split_assignment_is_a_function_of_the_program_text():
    counts = Counter(synth.split_of(generate_candidate(0, i)[1].to_code()) for i in range(2000))
    assert 120 < counts["test"] < 290 and 120 < counts["val"] < 290  # ~10% each


def test_small_build_is_valid_and_splits_share_no_geometry(home):
    spec = synth.make_spec("train", sizes=SMALL)
    dirs = {s: synth.build_split(s, spec, n_jobs=1, progress=False) for s in synth.SPLITS}
    rows = {s: _lines(d) for s, d in dirs.items()}
    for split, rs in rows.items():
        assert len(rs) == SMALL[split]
        # the split is the hash of the candidate as generated (before the depth move)
        assert all(synth.split_of(generate_candidate(0, int(r["id"].split("_")[1]))[1]
                                  .to_code()) == split for r in rs)
        assert len({r["geom_key"] for r in rs}) == len(rs)  # no duplicate inside a split
        assert all((dirs[split] / r["image"]).exists() for r in rs)
    keys = {s: {r["geom_key"] for r in rs} for s, rs in rows.items()}
    ids = {s: {r["id"] for r in rs} for s, rs in rows.items()}
    for a, b in (("test", "val"), ("test", "train"), ("val", "train")):
        assert not keys[a] & keys[b] and not ids[a] & ids[b]
    # A kept program really is one valid non-degenerate solid with the recorded volume.
    r = rows["test"][0]
    solid = synth._execute_trusted(r["code"])
    assert solid.isValid() and abs(solid.Volume() - r["volume"]) < 1e-9
    manifest = json.loads((dirs["train"] / "manifest.json").read_text())
    assert manifest["n_samples"] == SMALL["train"] and manifest["spec"]["sizes"] == SMALL


def test_test_split_builds_alone_and_loads_from_cache(home):
    samples = synth.load_synth("test", size=4, n_jobs=1, progress=False)
    root = synth.SynthSpec().root()
    assert sorted(p.name for p in root.iterdir()) == ["test-4"]  # neither val nor train
    assert len(samples) == 4 and samples[0].image.shape == (224, 224, 3)
    assert samples[0].image.dtype == np.uint8 and samples[0].meta["split"] == "test"
    assert {"family", "params", "geom_key"} <= set(samples[0].meta)
    # Same content again, now read from the cache (no rebuild: mtime unchanged).
    mtime = (root / "test-4" / "samples.jsonl").stat().st_mtime
    again = synth.load_synth("test", size=4, n_jobs=1, progress=False)
    assert [s.code for s in again] == [s.code for s in samples]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(again, samples))
    assert (root / "test-4" / "samples.jsonl").stat().st_mtime == mtime
    # A bigger test split starts with the same samples (a prefix of the same stream).
    bigger = synth.load_synth("test", size=6, n_jobs=1, progress=False)
    assert [s.id for s in bigger[:4]] == [s.id for s in samples]


def test_same_geometry_never_crosses_splits(home, monkeypatch):
    """Force collisions: with the family as 'geometry key', val may not reuse a test family."""
    real = synth.make_sample

    def by_family(seed, index, image_size):
        r = real(seed, index, image_size)
        if "geom_key" in r:
            r["geom_key"] = r["family"]
        return r

    monkeypatch.setattr(synth, "make_sample", by_family)
    spec = synth.make_spec("val", sizes={"test": 3, "val": 3, "train": 1})
    t = _lines(synth.build_split("test", spec, n_jobs=1, progress=False))
    v = _lines(synth.build_split("val", spec, n_jobs=1, progress=False))
    assert len({r["family"] for r in t}) == 3 and len(v) == 3
    assert not {r["family"] for r in t} & {r["family"] for r in v}
    assert json.loads((synth.make_spec("val", sizes={"test": 3, "val": 3}).split_dir("val")
                       / "manifest.json").read_text())["rejected"].get("duplicate", 0) > 0


def test_bad_split_and_missing_build_are_clear(home):
    from cadbench.errors import DatasetNotFound, InputError
    with pytest.raises(InputError, match="synth has splits"):
        synth.load_synth("dev")
    with pytest.raises(DatasetNotFound, match="cadbench data build --split test"):
        synth.load_synth("test", size=3, build=False)


def _build_all(home_dir, monkeypatch, n_jobs=1):
    monkeypatch.setenv("CADBENCH_HOME", str(home_dir))
    spec = synth.make_spec("train", sizes=SMALL)
    return {s: synth.build_split(s, spec, n_jobs=n_jobs, progress=False) for s in synth.SPLITS}


def test_every_kept_part_is_at_the_canonical_depth_and_builds_are_reproducible(
        tmp_path, monkeypatch):
    dirs = _build_all(tmp_path / "a", monkeypatch)
    placements = Counter()
    for split, d in dirs.items():
        manifest = json.loads((d / "manifest.json").read_text())
        assert manifest["version"] == "v2" and d.parent.name.startswith("v2-")
        assert sum(manifest["placement"].values()) == SMALL[split]
        for r in _lines(d):
            solid = synth._execute_trusted(r["code"])  # the stored program itself
            lo, hi = synth.tight_bounds(solid)
            assert abs(synth.depth_of(lo, hi)) < 1e-9, r["id"]
            assert np.abs(np.concatenate([lo, hi])).max() <= synth.EXTENT + 1e-6, r["id"]
            placements[r["params"]["placement"]] += 1
    assert set(placements) <= {"depth", "screen"} and placements["depth"]
    # Same seed, another cache, another worker count: the same bytes.
    again = _build_all(tmp_path / "b", monkeypatch, n_jobs=2)
    for split in synth.SPLITS:
        a, b = dirs[split], again[split]
        assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
        for r in _lines(a):
            assert (a / r["image"]).read_bytes() == (b / r["image"]).read_bytes()


def test_a_move_along_the_view_changes_no_pixel_and_the_convention_undoes_it():
    r = synth.make_sample(0, 3, 96)
    assert "code" in r, r
    program = from_code(r["code"])
    view = np.asarray(VIEWS["iso"])
    assert tuple(view) == synth.VIEW_AXIS
    base = synth._execute_trusted(r["code"])
    lo, hi = synth.tight_bounds(base)
    # a depth that keeps the part in the cube (the fixed frame is the cube)
    t = 0.5 * min(((synth.EXTENT - hi) / np.maximum(view, 1e-12))[view > 0].min(),
                  ((lo + synth.EXTENT) / np.maximum(-view, 1e-12))[view < 0].min())
    assert t > 0
    moved = synth._execute_trusted(program.translated(tuple(t * view)).to_code())
    images = [render_mesh(shape_to_mesh(s), size=96) for s in (base, moved)]
    assert np.array_equal(*images)
    offset, kind = synth.canonical_move(moved)
    assert kind == "depth" and offset == pytest.approx(-t * view, abs=1e-10)


def test_canonical_offset_moves_along_the_view_or_to_the_nearest_point_that_fits():
    a = np.array(synth.VIEW_AXIS)
    # a small box: the move along D keeps it in the cube
    lo, hi = np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.3, 0.5])
    off, kind = synth.canonical_offset(lo, hi)
    assert kind == "depth" and np.cross(off, a) == pytest.approx(np.zeros(3), abs=1e-15)
    assert synth.depth_of(lo + off, hi + off) == pytest.approx(0, abs=1e-10)
    # on the dyadic move grid: OCC's last-bit noise in a box does not reach the program text
    assert (off * synth.MOVE_GRID == np.round(off * synth.MOVE_GRID)).all()
    noisy, _ = synth.canonical_offset(lo * (1 + 1e-15), hi * (1 - 1e-15))
    assert np.array_equal(noisy, off)
    # 1.5 wide in x, off-centre in y and z: moving along D would push x out of the cube
    lo, hi = np.array([-0.75, 0.1, 0.2]), np.array([0.75, 0.5, 0.6])
    off, kind = synth.canonical_offset(lo, hi)
    new_lo, new_hi = lo + off, hi + off
    assert kind == "screen" and abs(synth.depth_of(new_lo, new_hi)) < 1e-10
    assert np.abs(np.concatenate([new_lo, new_hi])).max() <= synth.EXTENT + 1e-10
    # nearest: no feasible centre on the plane is closer (a fine scan of the plane's box)
    c, half = (lo + hi) / 2, (hi - lo) / 2
    room = synth.EXTENT - half
    g = np.linspace(-1, 1, 401)
    ys, zs = np.meshgrid(g * room[1], g * room[2])
    xs = zs - ys  # x - y + z = 0 -> x = y - z; here room_x = 0, so only x = 0 is feasible
    cand = np.stack([-xs, ys, zs], axis=-1).reshape(-1, 3)
    cand = cand[(np.abs(cand) <= room + 1e-12).all(axis=1)]
    best = np.linalg.norm(cand - c, axis=1).min()
    assert np.linalg.norm(off) <= best + 1e-9
    assert (off * synth.MOVE_GRID == np.round(off * synth.MOVE_GRID)).all()
    with pytest.raises(ValueError, match="exceed the cube"):
        synth.canonical_offset(np.array([-0.8, 0, 0]), np.array([0.8, 0.1, 0.1]))


def test_a_translated_program_is_the_same_part_moved():
    _, program, _ = generate_candidate(0, 5)
    offset = (0.1234567, -0.1234567, 0.1234567)
    moved = program.translated(offset)
    assert from_code(moved.to_code()) == moved  # repr numbers read back exactly
    (lo, hi), (lo2, hi2) = program.bounds_hint(), moved.bounds_hint()
    assert np.subtract(lo2, lo) == pytest.approx(offset) and \
        np.subtract(hi2, hi) == pytest.approx(offset)
    a, b = (synth._execute_trusted(p.to_code()) for p in (program, moved))
    assert b.Volume() == pytest.approx(a.Volume(), rel=1e-9)
    assert np.subtract(synth.tight_bounds(b), synth.tight_bounds(a)) == \
        pytest.approx(np.array([offset, offset]), abs=1e-9)
