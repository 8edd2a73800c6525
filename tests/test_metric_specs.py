"""The metric specs are the one list everything derives from: their names are exactly the
metrics the geometry computes, every summary key and table row is spelled through them, and
switching a metric off removes it everywhere."""

import pytest

from cadbench.aggregate import summarize
from cadbench.config import MetricConfig
from cadbench.geometry.metrics import METRIC_FUNCTIONS
from cadbench.metrics import (AGGREGATES, METRIC_NAMES, METRICS, enabled_metrics,
                              headline_rows, summary_key)
from cadbench.records import SampleResult


def test_specs_name_exactly_the_computed_metrics():
    assert set(METRIC_NAMES) == set(METRIC_FUNCTIONS)
    assert len(set(METRIC_NAMES)) == len(METRICS)
    for spec in METRICS:
        assert set(spec.aggregates) <= set(AGGREGATES) and set(spec.ci) <= set(spec.aggregates)


def test_summary_has_every_aggregate_of_every_present_metric_and_nothing_else():
    metrics = {name: 0.5 for name in METRIC_NAMES}
    results = [SampleResult(id="a", status="ok", metrics=metrics),
               SampleResult(id="b", status="runtime_error")]
    s = summarize(results, ["a", "b"], n_boot=10,
                  metric_config=MetricConfig(compute_mecagent=True))
    expected = {summary_key(m.name, agg) for m in METRICS for agg in m.aggregates}
    metric_keys = {k for k in s if any(k.startswith(n + "_") for n in METRIC_NAMES)
                   and not k.endswith("_ci95")}
    assert metric_keys == expected
    for spec in METRICS:
        for agg in spec.ci:
            assert s[summary_key(spec.name, agg) + "_ci95"] is not None
    assert [label for label, _, _ in headline_rows(s)][:2] == ["IoU (valid)", "IoU (all)"]


def test_switched_off_metrics_are_not_reported():
    cfg = MetricConfig(compute_best=False, compute_exact=False, compute_mecagent=False)
    assert [m.name for m in enabled_metrics(cfg)] == ["iou", "chamfer"]
    s = summarize([SampleResult(id="a", status="ok", metrics={"iou": 1.0, "chamfer": 0.0})],
                  ["a"], n_boot=0, metric_config=cfg)
    assert "iou_best_all_mean" not in s and "iou_exact_all_mean" not in s
    assert all("exact" not in key for _, key, _ in headline_rows(s))


@pytest.mark.parametrize("spec", METRICS, ids=lambda m: m.name)
def test_failures_count_against_the_metric_in_its_own_direction(spec):
    good = 1.0 if spec.higher_is_better else 0.0
    results = [SampleResult(id="a", status="ok", metrics={spec.name: good}),
               SampleResult(id="b", status="timeout")]
    s = summarize(results, ["a", "b"], n_boot=0, metric_config=MetricConfig(
        compute_mecagent=True))
    for agg in spec.aggregates:
        value = s[summary_key(spec.name, agg)]
        if agg.startswith("all"):
            # a failure can only make the aggregate worse than the one good sample
            assert (value < good) if spec.higher_is_better else (value > good or
                                                                 agg.endswith("median"))
