"""Common sampling controls and deterministic candidates: `Sampling` reaches every submission,
each sample is seeded from the run seed and its id alone, so an interrupted and resumed run
and another batch size give the same predictions (issue 15.6, 17.3)."""

import json
import textwrap

import pytest

from baselines.constant import box_program
from cadbench.cli import main
from cadbench.errors import InputError
from cadbench.run import RunSettings, run_model
from cadbench.submissions import Sampling, get_submission

PROGRAMS = {f"p{i}": box_program(0.3 + 0.1 * i, 0.5, 0.25) for i in range(5)}

# A sampling submission: each candidate's box side comes from its own seeded generator.
SAMPLER = textwrap.dedent('''
    import random

    from cadbench.submissions import Sampling, Submission

    class Sampler(Submission):
        name = "tmp_sampler"
        stochastic = True
        default_options = {"batch_size": 2}
        interrupt_after = None     # set by a test: KeyboardInterrupt after this many batches
        calls = 0
        seen = []                  # the Sampling objects generate_many got

        def generate(self, samples):
            return [c[0] for c in self.generate_many(samples, Sampling())]

        def generate_many(self, samples, sampling):
            cls = type(self)
            if cls.interrupt_after is not None and cls.calls >= cls.interrupt_after:
                raise KeyboardInterrupt
            cls.calls += 1
            cls.seen.append(sampling)
            out = []
            for s in samples:
                cands = []
                for c in range(sampling.k):
                    rng = random.Random(sampling.seed_for(s.id, c))
                    side = round(rng.uniform(0.2, 1.0) * (sampling.temperature or 1.0), 4)
                    cands.append("import cadquery as cq\\n"
                                 f"solid = cq.Workplane().box({side}, {side}, {side})\\n")
                out.append(cands)
            return out
''')


@pytest.fixture()
def setup(tmp_path):
    data = tmp_path / "tiny"
    data.mkdir()
    for pid, code in PROGRAMS.items():
        (data / f"{pid}.py").write_text(code)
    module = tmp_path / "sampler.py"
    module.write_text(SAMPLER)
    cls = get_submission(f"{module}:Sampler")
    cls.interrupt_after, cls.calls, cls.seen = None, 0, []
    return tmp_path, data, f"{module}:Sampler", cls


def predictions(run_dir):
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text()
            .splitlines()]
    return sorted((r["id"], r["candidate"], r["code"]) for r in rows)


def test_seed_for_depends_on_run_seed_id_and_candidate_only():
    a = Sampling(k=4, seed=7)
    assert a.seed_for("x", 1) == Sampling(k=1, temperature=0.3, seed=7).seed_for("x", 1)
    seeds = {a.seed_for(i, c) for i in ("x", "y") for c in range(4)}
    assert len(seeds) == 8 and all(0 <= s < 2 ** 32 for s in seeds)
    assert Sampling(seed=8).seed_for("x", 1) != a.seed_for("x", 1)
    assert a.to_dict() == {"k": 4, "temperature": None, "top_p": None, "seed": 7}


@pytest.mark.parametrize("bad", [dict(k=0), dict(temperature=-1.0), dict(top_p=0.0),
                                 dict(top_p=1.5)])
def test_sampling_rejects_bad_settings(bad):
    with pytest.raises(InputError, match="sampling:"):
        Sampling(**bad)


def test_interrupted_resumed_and_rebatched_runs_give_identical_candidates(setup):
    tmp, data, spec, cls = setup
    common = dict(model=spec, dataset=str(data), samples=3, seed=5)
    kw = dict(workers=1, progress=False, write_record=False)
    whole = run_model(RunSettings(**common), run_dir=tmp / "whole", **kw)

    # batch size 3, interrupted after its first batch, then resumed
    cls.interrupt_after, cls.calls = 1, 0
    other = RunSettings(**common, options={"batch_size": "3"})
    with pytest.raises(KeyboardInterrupt):
        run_model(other, run_dir=tmp / "resumed", **kw)
    assert len(predictions(tmp / "resumed")) == 3 * 3     # one batch of 3 samples written
    cls.interrupt_after = None
    run_model(other, run_dir=tmp / "resumed", **kw)

    first, second = predictions(tmp / "whole"), predictions(tmp / "resumed")
    assert len(first) == 5 * 3 and first == second
    # the candidates do differ (the test would not notice seeding by batch position otherwise)
    assert len({code for _, _, code in first}) > 5
    assert whole.config["run"]["candidates"] == 3 and whole.metrics["candidates_per_id"] == 3
    # generate_many got the run's own Sampling, whatever the batch
    assert all(s == Sampling(k=3, seed=5) for s in cls.seen)


def test_another_seed_gives_other_candidates(setup):
    tmp, data, spec, cls = setup
    kw = dict(workers=1, progress=False, write_record=False)
    run_model(RunSettings(model=spec, dataset=str(data), samples=2, seed=0, limit=2),
              run_dir=tmp / "s0", **kw)
    run_model(RunSettings(model=spec, dataset=str(data), samples=2, seed=1, limit=2),
              run_dir=tmp / "s1", **kw)
    assert predictions(tmp / "s0") != predictions(tmp / "s1")


def test_cli_sampling_flags_reach_the_submission_and_the_record(setup, capsys, monkeypatch):
    tmp, data, spec, cls = setup
    monkeypatch.chdir(tmp)
    record = tmp / "rec.json"
    assert main(["run", "--model", spec, "--dataset", str(data), "--samples", "2",
                 "--temperature", "0.5", "--top-p", "0.9", "--seed", "3", "--workers", "1",
                 "--no-progress", "--out", str(tmp / "cli"), "--record", str(record)]) == 0
    assert cls.seen and all(s == Sampling(k=2, temperature=0.5, top_p=0.9, seed=3)
                            for s in cls.seen)
    run = json.loads(record.read_text())["config"]["run"]
    assert run["sampling"] == {"k": 2, "temperature": 0.5, "top_p": 0.9, "seed": 3}
    assert run["candidates"] == 2 and run["stochastic"] is True
    assert "deterministic" not in capsys.readouterr().err
    # the default folder names the settings that change the candidates
    assert main(["run", "--model", spec, "--dataset", str(data), "--samples", "2",
                 "--temperature", "0.5", "--seed", "3", "--limit", "1", "--workers", "1",
                 "--no-progress", "--no-record"]) == 0
    assert [p.name for p in (tmp / "runs").iterdir()] == ["tmp_sampler-tiny-test-n1-k2-t0.5-seed3"]


def test_cli_rejects_out_of_range_sampling_flags(setup, capsys):
    tmp, data, spec, cls = setup
    for flags, msg in ((["--top-p", "0"], "--top-p 0: must be in (0, 1]"),
                       (["--temperature", "-1"], "--temperature -1: must be >= 0"),
                       (["--samples", "0"], "--samples must be at least 1")):
        assert main(["run", "--model", spec, "--dataset", str(data), "--out",
                     str(tmp / "never"), *flags]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp / "never").exists()
    assert not cls.seen


def test_vit_gpt2_samples_do_not_depend_on_the_batch(tmp_path):
    """vit_gpt2 used to seed a whole batch at once (seed 0 for the rerank samples, seed +
    batch position for --samples K): which images shared a batch changed each one's
    candidates. Now each image is seeded from its id alone."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import numpy as np

    from cadbench.datasets.base import Sample, TaskInput
    from submissions.vit_gpt2 import VitGpt2Submission
    sub = VitGpt2Submission(size="micro", batch_size=4, progress=False, max_new_tokens=24,
                            checkpoint_dir=str(tmp_path / "state"), rerank=2,
                            rerank_by="box", box_fit=False)
    sub._build(list(PROGRAMS.values()), tmp_path / "state", "fp")   # untrained: random output
    rng = np.random.default_rng(0)
    tasks = [TaskInput.of(Sample(f"s{i}", "", rng.integers(0, 256, (64, 64, 3), np.uint8)))
             for i in range(3)]
    sampling = Sampling(k=3, temperature=1.0, seed=4)
    together = sub.generate_many(tasks, sampling)
    alone = [sub.generate_many([t], sampling)[0] for t in tasks]
    assert together == alone and all(len(c) == 3 for c in together)
    assert sub.generate_many(tasks[::-1], sampling) == together[::-1]
    assert len({c for cands in together for c in cands}) > 1   # it does sample
    assert sub.generate_many(tasks, Sampling(k=3, temperature=1.0, seed=5)) != together
    # k = 1: greedy + rerank samples, seeded the same way
    one = sub.generate_many(tasks, Sampling(seed=4))
    assert one == [sub.generate_many([t], Sampling(seed=4))[0] for t in tasks]
    assert sub.stochastic


def test_the_old_generate_many_signature_is_named(setup, tmp_path, capsys):
    tmp, data, _, _ = setup
    old = tmp / "old.py"
    old.write_text(textwrap.dedent('''
        from cadbench.submissions import Submission

        class Old(Submission):
            name = "tmp_old"

            def generate_many(self, samples, k, seed):
                return [["solid = None"] * k for _ in samples]
    '''))
    assert main(["run", "--model", f"{old}:Old", "--dataset", str(data), "--out",
                 str(tmp / "old_run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "has the old signature (samples, k, seed)" in err
    assert "generate_many(self, samples, sampling)" in err
    assert not (tmp / "old_run").exists()
