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
