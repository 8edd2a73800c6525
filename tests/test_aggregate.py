import pytest

from cadbench.aggregate import pass_at_k, status_counts, summarize
from cadbench.records import SampleResult


def ok(i, iou, cand=0):
    return SampleResult(id=i, candidate=cand, status="ok", metrics={"iou": iou, "chamfer": 0.1})


def fail(i, status="runtime_error", cand=0):
    return SampleResult(id=i, candidate=cand, status=status)


def test_vsr_and_iou_means_count_failures_and_missing():
    results = [ok("a", 1.0), ok("b", 0.5), fail("c")]
    s = summarize(results, ["a", "b", "c", "d"], n_boot=200)
    assert s["vsr"] == 0.5                     # d is missing: a failure
    assert s["iou_valid_mean"] == 0.75
    assert s["iou_all_mean"] == pytest.approx(1.5 / 4)
    assert s["iou_valid_median"] == 0.75
    lo, hi = s["vsr_ci95"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0


def test_status_counts_include_missing():
    counts = status_counts([ok("a", 1.0), fail("b", "timeout")], ["a", "b", "c"])
    assert counts == {"ok": 1, "timeout": 1, "missing": 1}


def test_primary_metrics_use_candidate_zero_and_best_of_n_the_best():
    results = [fail("a", cand=0), ok("a", 0.9, cand=1), ok("b", 0.2, cand=0), ok("b", 0.4, cand=1)]
    s = summarize(results, ["a", "b"], n_boot=0)
    assert s["vsr"] == 0.5
    assert s["best_of_n_iou_all_mean"] == pytest.approx((0.9 + 0.4) / 2)
    assert s["pass@1"] == pytest.approx((0.5 + 1.0) / 2)


def test_pass_at_k_estimator():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(2, 1, 1) == pytest.approx(0.5)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)


def test_summary_is_deterministic_for_a_seed():
    results = [ok(str(i), i / 10) for i in range(10)]
    ids = [str(i) for i in range(10)]
    assert summarize(results, ids, seed=3) == summarize(list(reversed(results)), ids, seed=3)


# -- the rules of issue 13/14: no abstention, faults apart, exclusions for every model alike --

def test_ok_sample_without_a_metric_counts_as_zero_not_abstention():
    results = [ok("a", 1.0), SampleResult(id="b", status="ok", metrics={"iou": None})]
    s = summarize(results, ["a", "b"], n_boot=0)
    assert s["iou_valid_mean"] == 0.5 and s["iou_all_mean"] == 0.5


def test_iou_all_is_zero_when_nothing_is_valid():
    s = summarize([fail("a"), SampleResult(id="b", status="ok", metrics={"iou": None})],
                  ["a", "b"], n_boot=0)
    assert s["iou_all_mean"] == 0.0 and s["vsr"] == 0.5


def test_harness_faults_are_left_out_and_counted_apart():
    results = [ok("a", 1.0), fail("b", "harness_error"), fail("c")]
    s = summarize(results, ["a", "b", "c"], n_boot=0)
    assert s["n"] == 2 and s["n_faults"] == 1
    assert s["vsr"] == 0.5 and s["iou_all_mean"] == 0.5


def test_exclusions_apply_to_the_excludable_metric_only():
    results = [SampleResult(id="a", status="ok", metrics={"iou": 0.5, "iou_exact": 0.4}),
               SampleResult(id="b", status="ok", metrics={"iou": 0.7, "iou_exact": None})]
    s = summarize(results, ["a", "b"], n_boot=0, exclusions={"iou_exact": ["b"],
                                                             "iou": ["b"]})
    assert s["iou_exact_all_mean"] == 0.4 and s["iou_exact_n_references"] == 1
    assert s["iou_all_mean"] == pytest.approx(0.6) and "iou_n_references" not in s


def test_chamfer_reports_medians_with_failures_infinitely_far():
    results = [ok("a", 1.0), ok("b", 1.0), fail("c")]
    s = summarize(results, ["a", "b", "c"], n_boot=0)
    assert s["chamfer_valid_median"] == pytest.approx(0.1)
    assert s["chamfer_all_median"] == pytest.approx(0.1)
    assert "chamfer_valid_mean" not in s


def test_status_counts_over_all_candidates_and_copies_of_the_reference():
    from cadbench.aggregate import status_counts_all
    results = [ok("a", 1.0), fail("a", "timeout", cand=1), ok("b", 0.3)]
    results[0].copies_reference = "exact"
    results[2].copies_reference = "normalized"
    assert status_counts_all(results) == {"ok": 2, "timeout": 1}
    s = summarize(results, ["a", "b"], n_boot=0)
    assert s["n_copies_exact"] == 1 and s["n_copies_normalized"] == 2


def test_a_switched_off_metric_is_absent_but_one_switched_on_counts_zero():
    rows = [SampleResult(id="a", status="ok", metrics={"iou": 0.5, "iou_mecagent": None,
                                                       "iou_exact": None,
                                                       "metric_errors": {"iou_exact": "x"}})]
    s = summarize(rows, ["a"], n_boot=0)          # default MetricConfig: mecagent off
    assert "iou_mecagent_all_mean" not in s
    assert s["iou_exact_all_mean"] == 0.0


def test_breakdown_by_a_meta_field_gives_each_group_its_own_summary():
    results = [ok("a", 1.0), ok("b", 0.5), fail("c")]
    groups = {"a": {"family": "plate"}, "b": {"family": "tube"}, "c": {"family": "tube"}}
    s = summarize(results, ["a", "b", "c"], n_boot=0, groups=groups)
    by = s["by"]["family"]
    assert by["plate"]["n"] == 1 and by["plate"]["iou_all_mean"] == 1.0
    assert by["tube"]["n"] == 2 and by["tube"]["iou_all_mean"] == 0.25
    assert by["tube"]["vsr"] == 0.5
