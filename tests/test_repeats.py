"""Repeated runs (issue 16.5): `cadbench run --repeats R` runs seeds S..S+R-1, each in its own
resumable run folder, and files one record of mean ± sample std per metric; the leaderboard,
the run's table and the report show `mean ± std`; a deterministic submission is refused."""

import json
import math
import statistics
import textwrap
from pathlib import Path

import numpy as np
import pytest

from baselines.constant import box_program
from cadbench.cli import main
from cadbench.config import MetricConfig
from cadbench.datasets.base import Sample
from cadbench.errors import InputError
from cadbench.leaderboard import render_tables
from cadbench.records import RecordError, RunRecord
from cadbench.repeats import MetricStats, RepeatSummary, combine_records, run_repeats
from cadbench.run import RunSettings, run_model
from cadbench.submissions import get_submission

REFS = {f"p{i}": box_program(0.4 + 0.2 * i, 0.5, 0.3) for i in range(4)}
FAMILY = {"p0": "a", "p1": "a", "p2": "b", "p3": "b"}

# Picks, per sample and candidate, one of two programs by its seed: seeds differ, so do runs.
PICKER = textwrap.dedent('''
    import random

    from baselines.constant import box_program
    from cadbench.submissions import Sampling, Submission

    class Picker(Submission):
        name = "tmp_picker"
        stochastic = True
        default_options = {"batch_size": 1}
        interrupt_after = None     # set by a test: KeyboardInterrupt after this many batches
        calls = 0

        def generate(self, samples):
            return [c[0] for c in self.generate_many(samples, Sampling())]

        def generate_many(self, samples, sampling):
            cls = type(self)
            if cls.interrupt_after is not None and cls.calls >= cls.interrupt_after:
                raise KeyboardInterrupt
            cls.calls += 1
            out = []
            for s in samples:
                cands = []
                for c in range(sampling.k):
                    pick = random.Random(sampling.seed_for(s.id, c)).random() < 0.5
                    cands.append(box_program(0.5, 0.5, 0.3) if pick else
                                 box_program(0.9, 0.6, 0.3))
                out.append(cands)
            return out
''')

FAST = MetricConfig(compute_best=False, compute_exact=False)   # iou and chamfer only


def samples():
    return [Sample(i, code, meta={"family": FAMILY[i]}) for i, code in REFS.items()]


def kw(**extra):
    return dict(workers=1, progress=False, load_samples=lambda name, split: samples(),
                metric_config=FAST, **extra)


@pytest.fixture(scope="module")
def picker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repeats")
    module = tmp / "picker.py"
    module.write_text(PICKER)
    return tmp, f"{module}:Picker", get_submission(f"{module}:Picker")


@pytest.fixture(scope="module")
def three(picker):
    """One --repeats 3 run (seeds 4, 5, 6) filed at a record path, and the three records."""
    tmp, spec, cls = picker
    cls.interrupt_after, cls.calls = None, 0
    s = RunSettings(model=spec, dataset="mem", seed=4)
    rec_path = tmp / "lb" / "mem" / "test" / "tmp_picker.json"
    combined = run_repeats(s, tmp / "r3", repeats=3, record_path=rec_path, **kw())
    runs = [RunRecord.load(tmp / "r3" / f"seed{seed}" / "record.json") for seed in (4, 5, 6)]
    return tmp, combined, runs, rec_path


def test_combined_record_is_mean_and_sample_std_of_the_runs(three):
    tmp, combined, runs, rec_path = three
    reps = combined.repeats
    assert reps is not None and reps.n_runs == 3 and reps.seeds == [4, 5, 6] and reps.ddof == 1
    values = [r.metrics["iou_all_mean"] for r in runs]
    assert len(set(values)) > 1          # the seeds did give other predictions
    stats = reps.metrics["iou_all_mean"]
    assert stats.values == values
    assert combined.metrics["iou_all_mean"] == pytest.approx(np.mean(values), abs=1e-6)
    assert stats.std == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    for key in ("vsr", "iou_valid_mean", "iou_all_median", "chamfer_valid_median"):
        vals = [r.metrics[key] for r in runs]
        assert reps.metrics[key].mean == pytest.approx(np.mean(vals), abs=1e-6), key
        assert reps.metrics[key].std == pytest.approx(np.std(vals, ddof=1), abs=1e-6), key
    # breakdowns too, per family
    for fam in ("a", "b"):
        vals = [r.metrics["by"]["family"][fam]["iou_all_mean"] for r in runs]
        st = reps.stats("iou_all_mean", ("family", fam))
        assert st is not None and st.values == vals
        assert combined.metrics["by"]["family"][fam]["iou_all_mean"] == pytest.approx(
            np.mean(vals), abs=1e-6)
    # CIs of one run say nothing of the mean: left out; counts are totals over the runs
    assert not any(k.endswith("_ci95") for k in combined.metrics)
    assert combined.n_predictions == 12 and sum(combined.status_counts.values()) == 12
    assert combined.config["run"]["repeats"] == 3 and combined.config["run"]["seeds"] == [4, 5, 6]
    # each run's folder, seed and predictions hash in provenance
    prov = combined.provenance["repeats"]
    assert [p["seed"] for p in prov] == [4, 5, 6]
    assert [p["predictions_hash"] for p in prov] == [r.provenance["predictions_hash"]
                                                      for r in runs]
    assert all(Path(p["run_dir"]).name == f"seed{p['seed']}" for p in prov)
    assert len({p["predictions_hash"] for p in prov}) == 3
    # filed at the record path, kept in the combined folder; each run's own stays in its folder
    filed = RunRecord.load(rec_path)
    assert filed.repeats == reps and filed.metrics == combined.metrics
    assert RunRecord.load(tmp / "r3" / "record.json").repeats == reps
    assert json.loads(rec_path.read_text())["schema_version"] == 3


def test_a_rerun_reproduces_the_combined_record_and_leaves_it_alone(three, picker, capsys):
    tmp, combined, runs, rec_path = three
    _, spec, cls = picker
    before = rec_path.read_bytes()
    calls = cls.calls
    again = run_repeats(RunSettings(model=spec, dataset="mem", seed=4), tmp / "r3", repeats=3,
                        record_path=rec_path, **kw())
    assert cls.calls == calls                  # every run resumed: nothing generated again
    assert again.repeats == combined.repeats
    assert rec_path.read_bytes() == before
    assert "unchanged: this run reproduces it" in capsys.readouterr().err


def test_an_interrupted_repeat_resumes(picker, three):
    tmp, spec, cls = picker
    _, combined, runs, _ = three
    s = RunSettings(model=spec, dataset="mem", seed=4)
    # 4 samples, batch size 1: dies in the second repeat, after its first sample
    cls.interrupt_after, cls.calls = 5, 0
    with pytest.raises(KeyboardInterrupt):
        run_repeats(s, tmp / "cut", repeats=3, write_record=False, **kw())
    assert (tmp / "cut" / "seed4" / "record.json").exists()
    assert len((tmp / "cut" / "seed5" / "predictions.jsonl").read_text().splitlines()) == 1
    assert not (tmp / "cut" / "record.json").exists()
    cls.interrupt_after, cls.calls = None, 0
    resumed = run_repeats(s, tmp / "cut", repeats=3, write_record=False, **kw())
    assert cls.calls == 3 + 4                 # the rest of seed 5, then seed 6; seed 4 read back
    assert resumed.repeats is not None
    assert resumed.repeats.metrics == combined.repeats.metrics
    assert resumed.metrics == combined.metrics


def test_leaderboard_and_run_table_show_mean_and_std(three, tmp_path):
    tmp, combined, runs, rec_path = three
    root = tmp_path / "lb"
    (root / "mem" / "test").mkdir(parents=True)
    combined.save(root / "mem" / "test" / "tmp_picker.json")
    single = runs[0]
    from dataclasses import replace
    replace(single, model="single").save(root / "mem" / "test" / "single.json")
    text = render_tables(root)
    st = combined.repeats.metrics["iou_all_mean"]
    assert f"{st.mean:.3f} ± {st.std:.3f}" in text
    assert "mean ± std over 3 runs** (seeds 4, 5, 6; sample std, ddof=1" in text
    assert "sample standard deviation (ddof=1)" in text
    assert "| tmp_picker (3 runs) " in text          # over how many runs, in the table itself
    row = next(line for line in text.splitlines() if line.startswith("| single"))
    assert "±" not in row and "[" in row     # a single run keeps its CI, no ±
    fam = combined.repeats.stats("iou_all_mean", ("family", "a"))
    assert f"{fam.mean:.3f} ± {fam.std:.3f}" in text   # the per-family table too

    from cadbench.cli.run import format_record_table
    table = format_record_table(combined)
    assert "mean ± std over runs" in table and f"{st.mean:.3f} ± {st.std:.3f}" in table
    assert "4 samples x 3 runs" in table and "95% CI" not in table
    assert "note: over 3 runs (seeds 4, 5, 6), mean ± sample std (ddof=1)" in table
    assert "±" not in format_record_table(single)


def test_a_deterministic_submission_is_refused(tmp_path, capsys):
    data = tmp_path / "tiny"
    data.mkdir()
    (data / "a.py").write_text(REFS["p0"])
    assert main(["run", "--model", "constant", "--dataset", str(data), "--repeats", "2",
                 "--out", str(tmp_path / "never"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--repeats 2: constant is deterministic" in err and "std of 0" in err
    assert not (tmp_path / "never").exists()
    assert main(["run", "--model", "constant", "--dataset", str(data), "--repeats", "0",
                 "--out", str(tmp_path / "never")]) == 2
    assert "--repeats must be at least 1" in capsys.readouterr().err


def test_cli_repeats_default_folders_and_partial_runs_keep_the_record(picker, tmp_path,
                                                                      monkeypatch, capsys):
    _, spec, cls = picker
    cls.interrupt_after, cls.calls = None, 0
    import cadbench.run as run_mod
    target = tmp_path / "lb" / "tmp_picker.json"
    monkeypatch.setattr(run_mod, "default_record_path", lambda *a: target)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "tiny"
    data.mkdir()
    for i, code in list(REFS.items())[:2]:
        (data / f"{i}.py").write_text(code)
    args = ["run", "--model", spec, "--dataset", str(data), "--repeats", "2", "--workers", "1",
            "--no-progress", "--no-best", "--no-exact"]
    assert main([*args, "--limit", "1"]) == 0
    out = capsys.readouterr()
    assert not target.exists()                 # a partial run never files the record
    assert "a --limit or --no-record run" in out.err
    assert "mean ± std" in out.out
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == ["tmp_picker-tiny-test-n1", "tmp_picker-tiny-test-n1-r2",
                     "tmp_picker-tiny-test-n1-seed1"]
    assert main(args) == 0                     # the whole split: filed at the leaderboard's path
    assert RunRecord.load(target).repeats.n_runs == 2


def test_old_records_load_unchanged_and_new_versions_are_checked(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    for path in sorted((repo / "leaderboards").rglob("*.json")):
        rec = RunRecord.load(path)
        assert rec.repeats is None
        assert rec.to_json() + "\n" == path.read_text()    # no `repeats` key, version 2
    d = json.loads(RunRecord(kind="run", model="m", dataset="d", split="t", n_references=1,
                             n_predictions=1, metrics={}, status_counts={}, config={},
                             provenance={}).to_json())
    assert "repeats" not in d and d["schema_version"] == 2
    d.update(schema_version=3, repeats={"n_runs": "two"})
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(RecordError, match="not a repeat summary"):
        RunRecord.load(tmp_path / "bad.json")
    d.update(schema_version=4, repeats=None)
    (tmp_path / "new.json").write_text(json.dumps(d))
    with pytest.raises(RecordError, match="schema_version 4 is not one this cadbench reads"):
        RunRecord.load(tmp_path / "new.json")


def test_stats_never_average_over_part_of_the_runs():
    st = MetricStats.of([0.5, 0.7, 0.6])
    assert st.mean == pytest.approx(0.6) and st.std == pytest.approx(statistics.stdev(
        [0.5, 0.7, 0.6]))
    assert MetricStats.of([0.5, None, 0.6]) == MetricStats(None, None, [0.5, None, 0.6])
    assert MetricStats.of([0.5, math.inf]).mean is None
    assert MetricStats.of([0.5]).std is None                 # one run: no std
    s = RepeatSummary(n_runs=2, runs=[], metrics={"x": MetricStats.of([1, 2])})
    assert RepeatSummary.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_combining_other_runs_is_refused(three):
    _, combined, runs, _ = three
    from dataclasses import replace
    with pytest.raises(InputError, match="not a repeat of"):
        combine_records([runs[0], replace(runs[1], split="val")], ["a", "b"])
    with pytest.raises(InputError, match="at least 2"):
        combine_records(runs[:1], ["a"])


def test_repeats_1_is_a_plain_run(picker, tmp_path):
    _, spec, cls = picker
    cls.interrupt_after, cls.calls = None, 0
    s = RunSettings(model=spec, dataset="mem", limit=1)
    a = run_repeats(s, tmp_path / "one", repeats=1, write_record=False, **kw())
    b = run_model(s, run_dir=tmp_path / "one", write_record=False, **kw())
    assert a.repeats is None and a.metrics == b.metrics


def test_report_headline_is_mean_and_std_over_the_runs(three, tmp_path):
    from cadbench.report import headline, make_report
    tmp, combined, runs, _ = three
    folders = [tmp / "r3" / f"seed{seed}" for seed in (4, 5, 6)]
    st = combined.repeats.metrics["iou_all_mean"]
    # several folders and the --repeats folder give the same headline
    _, from_folders, _ = headline(folders[0], folders[1:])
    _, from_combined, _ = headline(tmp / "r3")
    assert from_folders[1:] == from_combined[1:]
    assert from_combined[0].startswith("over 3 runs (seeds 4, 5, 6), mean ± sample std")
    assert f"IoU (all) {st.mean:.3f} ± {st.std:.3f}" in from_combined[1]
    fam = combined.repeats.stats("iou_all_mean", ("family", "a"))
    assert f"a {fam.mean:.3f} ± {fam.std:.3f} (n=2)" in from_combined[-1]
    _, single, _ = headline(folders[0])
    assert "±" not in "".join(single)
    html_path, png_path = make_report(tmp / "r3", n_cases=1, progress=False,
                                      samples=samples(), out=tmp_path)
    html = html_path.read_text()
    assert f"{st.mean:.3f} ± {st.std:.3f}" in html and png_path.exists()
    assert html.count("class='case'") == 1


def test_repeats_under_a_peer_protocol_keep_their_record_apart(picker, tmp_path, monkeypatch):
    _, spec, cls = picker
    cls.interrupt_after, cls.calls = None, 0
    import cadbench.run as run_mod
    asked = []
    target = tmp_path / "lb" / "protocol-benchcad" / "tmp_picker.json"

    def record_path(*a):
        asked.append(a)
        return target
    monkeypatch.setattr(run_mod, "default_record_path", record_path)
    s = RunSettings(model=spec, dataset="mem")
    args = {**kw(), "metric_config": MetricConfig(protocol="benchcad")}
    rec = run_repeats(s, tmp_path / "p", repeats=2, **args)
    assert asked[-1][-1] == "benchcad"          # filed in the protocol's own table
    assert RunRecord.load(target).repeats == rec.repeats
    kept = RunRecord.load(tmp_path / "p" / "protocol-benchcad" / "record.json")
    assert kept.repeats == rec.repeats and rec.repeats.n_runs == 2
    assert (tmp_path / "p" / "seed1" / "protocol-benchcad" / "record.json").exists()


def test_cli_report_takes_several_run_folders(three, tmp_path, capsys):
    tmp, combined, _, _ = three
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"id": i, "code": c}) + "\n" for i, c in REFS.items()))
    folders = [str(tmp / "r3" / f"seed{seed}") for seed in (4, 5, 6)]
    assert main(["report", *folders, "--references", str(refs), "--cases", "1",
                 "--out", str(tmp_path / "rep"), "--no-progress"]) == 0
    st = combined.repeats.metrics["iou_all_mean"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert f"IoU (all) {st.mean:.3f} ± {st.std:.3f}" in html and "over 3 runs" in html
    assert main(["report", folders[0], str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
