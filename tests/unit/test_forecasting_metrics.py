"""Metrics, the seasonal-naive baseline and the threshold verdict (fail closed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_pipelines.core.config.schema import ThresholdOverrides, Thresholds
from sensor_pipelines.core.forecasting.evaluation import apply_thresholds
from sensor_pipelines.core.forecasting.metrics import forecast_report, regression_metrics, seasonal_naive

LIMITS = Thresholds(mae_max=2.0, rmse_max=3.0, r2_min=0.8)


def test_regression_metrics_match_hand_computed_values():
    m = regression_metrics(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 3.0], [2.0, 6.0]]))
    # errors 0, 1, -1, 2; mean 2.5, SS_tot = 5, SS_res = 6
    assert m["mae"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(math.sqrt(1.5))
    assert m["r2"] == pytest.approx(1 - 6 / 5)
    assert m["mape"] == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4 * 100)


def test_mape_ignores_zero_targets():
    assert regression_metrics(np.array([0.0, 2.0]), np.array([1.0, 3.0]))["mape"] == pytest.approx(50.0)


def test_regression_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError):
        regression_metrics(np.ones(3), np.ones(4))


def test_seasonal_naive_repeats_the_last_season():
    target = np.arange(20.0)
    # season 3, origin 10: steps 1..5 come from 8, 9, 10, 8, 9 (t + h - 3 * ceil(h / 3))
    np.testing.assert_array_equal(seasonal_naive(target, np.array([10, 12]), horizon=5, season=3),
                                  [[8, 9, 10, 8, 9], [10, 11, 12, 10, 11]])


def test_weekly_naive_of_a_weekly_series_is_exact():
    week = np.random.default_rng(0).normal(size=168)
    target = np.tile(week, 4)
    origins = np.array([200, 300, 400])
    naive = seasonal_naive(target, origins, horizon=24, season=168)
    np.testing.assert_allclose(naive, target[origins[:, None] + np.arange(1, 25)])


def test_seasonal_naive_needs_one_season_of_history():
    with pytest.raises(ValueError, match="season"):
        seasonal_naive(np.arange(10.0), np.array([2]), horizon=4, season=5)


def test_forecast_report_compares_model_and_baseline_on_the_same_windows():
    actual = np.array([[10.0, 12.0], [11.0, 13.0]])
    report = forecast_report(actual, actual + 1.0, actual + 4.0, 168, ["2025-01-01T23:00:00", "2025-01-02T23:00:00"])
    assert report["model"]["mae"] == pytest.approx(1.0) and report["baseline"]["mae"] == pytest.approx(4.0)
    assert report["baseline"]["name"] == "seasonal_naive_168"
    assert report["mae_ratio"] == pytest.approx(0.25)
    assert report["n_test_windows"] == 2
    assert report["test_origins"] == ["2025-01-01T23:00:00", "2025-01-02T23:00:00"]


def test_thresholds_pass_when_every_check_passes():
    verdict = apply_thresholds({"model": {"mae": 1.5, "rmse": 2.5, "r2": 0.9}, "mae_ratio": 0.8}, LIMITS)
    assert verdict["passed"] is True
    assert [(c["metric"], c["op"], c["limit"], c["passed"]) for c in verdict["checks"]] == [
        ("mae", "<", 2.0, True), ("rmse", "<", 3.0, True), ("r2", ">", 0.8, True), ("mae_ratio", "<=", 1.0, True)]
    assert verdict["reasons"] == []


def test_one_failed_check_fails_the_verdict():
    verdict = apply_thresholds({"model": {"mae": 2.0, "rmse": 2.5, "r2": 0.9}, "mae_ratio": 0.8}, LIMITS)
    assert verdict["passed"] is False  # mae 2.0 is not strictly below 2.0
    assert [c["passed"] for c in verdict["checks"]] == [False, True, True, True]
    assert verdict["reasons"] == ["mae 2 is not < 2"]


def test_a_model_worse_than_the_seasonal_naive_fails_the_gate():
    """Issue #13: ratio 1.11 vs the weekly naive passed the absolute thresholds; the skill check fails it."""
    metrics = {"model": {"mae": 1.11, "rmse": 2.0, "r2": 0.9},
               "baseline": {"name": "seasonal_naive_168", "mae": 1.0}, "mae_ratio": 1.11}
    verdict = apply_thresholds(metrics, LIMITS)
    assert verdict["passed"] is False
    assert [c["passed"] for c in verdict["checks"]] == [True, True, True, False]
    assert verdict["reasons"] == ["model is worse than seasonal_naive_168 on the test windows (MAE 1.11 vs 1): "
                                  "MAE ratio 1.110 > mae_ratio_max 1"]
    assert apply_thresholds({**metrics, "mae_ratio": 1.0}, LIMITS)["passed"] is True  # as good as the naive
    looser = Thresholds(mae_max=2.0, rmse_max=3.0, r2_min=0.8, mae_ratio_max=1.2)
    assert apply_thresholds(metrics, looser)["passed"] is True


def test_a_missing_mae_ratio_fails_closed():
    verdict = apply_thresholds({"model": {"mae": 1.0, "rmse": 1.0, "r2": 0.95}}, LIMITS)
    assert verdict["passed"] is False
    assert verdict["reasons"] == ["mae_ratio (model MAE / the seasonal naive MAE) is missing or not a finite number"]


def test_env_mae_ratio_max_is_a_default_the_circuit_overrides():
    env = ThresholdOverrides(mae_max=9.0, mae_ratio_max=0.9)
    assert env.apply(LIMITS) == Thresholds(mae_max=9.0, rmse_max=3.0, r2_min=0.8, mae_ratio_max=0.9)
    own = Thresholds(mae_max=2.0, rmse_max=3.0, r2_min=0.8, mae_ratio_max=1.1)
    assert env.apply(own).mae_ratio_max == 1.1


@pytest.mark.parametrize("metrics", [
    {"model": {"mae": 1.0, "rmse": 1.0}},  # r2 missing
    {"model": {"mae": float("nan"), "rmse": 1.0, "r2": 0.9}},
    {"model": {"mae": None, "rmse": 1.0, "r2": 0.9}},
    {"model": {"mae": "1.0", "rmse": 1.0, "r2": 0.9}},
    {"model": {"mae": 1.0, "rmse": float("inf"), "r2": 0.9}},
    {},
])
def test_missing_or_invalid_metrics_fail_closed(metrics):
    verdict = apply_thresholds(metrics, LIMITS)
    assert verdict["passed"] is False
    failed = [c for c in verdict["checks"] if not c["passed"]]
    assert failed and all(isinstance(c["value"], float) for c in verdict["checks"])


def test_thresholds_accept_a_flat_metric_dict():
    assert apply_thresholds({"mae": 1.0, "rmse": 1.0, "r2": 0.95, "mae_ratio": 0.9}, LIMITS)["passed"] is True
