"""The synth benchmark: determinism, validity, split isolation, caching."""

import json
from collections import Counter

import numpy as np
import pytest

from cadbench.datasets import synth
from cadbench.datasets.synth_families import FAMILIES, generate_candidate
from cadbench.program import from_code

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
        assert all(synth.split_of(r["code"]) == split for r in rs)
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
