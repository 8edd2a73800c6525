"""The built-in baselines: gold scores perfectly, constant always runs, retrieval finds the
nearest training image."""

import numpy as np
import pytest

from baselines.constant import ConstantSubmission, box_program
from baselines.gold import GoldSubmission
from baselines.retrieval import RetrievalSubmission
from cadbench.datasets.base import Sample
from cadbench.errors import InputError
from cadbench.run import RunSettings, run_model
from cadbench.submissions import checkpoint_exists

CYLINDER = ("import cadquery as cq\n"
            "wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, -0.2), "
            "cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n"
            "loop0=wp_sketch0.circle(0.4)\n"
            "solid0=wp_sketch0.add(loop0).extrude(0.4)\n"
            "solid=solid0\n")
PROGRAMS = {"a": box_program(1.2, 0.6, 0.3), "b": box_program(0.5, 0.5, 0.5), "c": CYLINDER}


def samples():
    return [Sample(i, code) for i, code in PROGRAMS.items()]


def run(model, tmp_path, **kw):
    return run_model(RunSettings(model=model, dataset="tiny", split="test", **kw),
                     run_dir=tmp_path / model, record_path=tmp_path / f"{model}.json",
                     workers=1, progress=False, load_samples=lambda name, split: samples())


def test_gold_scores_perfectly(tmp_path):
    rec = run("gold", tmp_path)
    m = rec.metrics
    assert m["n"] == 3 and m["vsr"] == 1.0
    assert m["iou_all_mean"] == pytest.approx(1.0, abs=1e-6)
    assert m["iou_exact_all_mean"] == pytest.approx(1.0, abs=1e-6)
    assert rec.kind == "run" and rec.model == "gold"
    assert rec.submission["uses_ground_truth"] is True
    assert (tmp_path / "gold.json").exists()


def test_constant_always_runs_and_is_the_same_box(tmp_path):
    rec = run("constant", tmp_path)
    assert rec.metrics["vsr"] == 1.0
    assert 0.0 < rec.metrics["iou_all_mean"] < 1.0
    progs = ConstantSubmission().generate(samples())
    assert len(set(progs)) == 1 and "solid=solid0" in progs[0]
    assert ConstantSubmission().num_parameters() == 0


def test_gold_reads_the_answer_only_because_it_is_allowed():
    assert GoldSubmission().generate(samples()) == list(PROGRAMS.values())
    assert GoldSubmission.uses_ground_truth and not ConstantSubmission.uses_ground_truth


def _image_samples(n, seed=0, size=48):
    rng = np.random.default_rng(seed)
    return [Sample(f"s{i}", f"program {i}", rng.integers(0, 256, (size, size, 3), np.uint8))
            for i in range(n)]


def test_retrieval_returns_the_program_of_the_nearest_image(tmp_path):
    train = _image_samples(40)
    sub = RetrievalSubmission(dims=16)
    sub.fit(train)
    # A slightly noisy copy of a training image retrieves that image's program.
    rng = np.random.default_rng(1)
    queries = [Sample(f"q{i}", "", np.clip(train[i].image.astype(int) +
                                          rng.integers(-8, 9, train[i].image.shape),
                                          0, 255).astype(np.uint8)) for i in (3, 17, 29)]
    assert sub.generate(queries) == ["program 3", "program 17", "program 29"]
    assert sub.num_parameters() == 32 * 32 + 16 * 32 * 32 + 40 * 16

    sub.save(tmp_path / "ckpt")
    again = RetrievalSubmission.load(tmp_path / "ckpt")
    assert again.options["dims"] == 16
    assert again.generate(queries) == sub.generate(queries)
    with pytest.raises(InputError, match="dims=16, not 8"):
        RetrievalSubmission.load(tmp_path / "ckpt", dims="8")


def test_retrieval_needs_images():
    with pytest.raises(InputError, match="needs images.*'?x'?"):
        RetrievalSubmission().fit([Sample("x", "code")])
    with pytest.raises(InputError, match="not fitted"):
        RetrievalSubmission().generate(_image_samples(1))


def test_committed_retrieval_checkpoint_is_small_and_loads():
    ckpt = RetrievalSubmission.default_checkpoint()
    if not checkpoint_exists(ckpt):
        pytest.skip("no committed retrieval checkpoint")
    size = sum(p.stat().st_size for p in ckpt.iterdir())
    assert size < 8 * 2**20
    sub = RetrievalSubmission.load(ckpt)
    assert len(sub.programs) == len(sub.embeddings) > 0
    assert all("solid" in p for p in sub.programs[:20])
