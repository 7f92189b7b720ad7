"""Drift statistics: same generator no drift, shifts and spread changes drift, hand-computed KS/PSI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter

from sensor_pipelines.core.monitoring_stats import (
    DriftThresholds,
    detect_drift,
    feature_drift,
    out_of_range_share,
    population_stability_index,
    prediction_drift,
    psi_bin_edges,
    realised_error,
)

COLUMNS = ["temperature", "load", "power"]


def hourly(rng: np.random.Generator, n: int, shift: float = 0.0, noise: float = 1.0) -> np.ndarray:
    """Daily cycle plus AR(1) noise (phi 0.5, unit variance), like an hourly sensor."""
    phi = 0.5
    ar = lfilter([1.0], [1.0, -phi], rng.normal(size=n)) * math.sqrt(1 - phi**2)
    return 10.0 + 3.0 * np.sin(2 * np.pi * np.arange(n) / 24) + noise * ar + shift


def frame(rng: np.random.Generator, n: int, **changes: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({c: hourly(rng, n, **changes.get(c, {})) for c in COLUMNS})


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def test_two_samples_of_the_same_generator_do_not_drift(rng):
    result = detect_drift(frame(rng, 3000), frame(rng, 2000))
    assert result.drifted_columns == []
    assert result.findings == []
    assert [f.column for f in result.features] == COLUMNS
    for f in result.features:
        assert f.ks_statistic < 0.1 and f.psi < 0.05 and f.out_of_range_share < 0.01
        assert (f.n_reference, f.n_target, f.reasons, f.drifted) == (3000, 2000, [], False)


def test_shifted_mean_drifts_that_column_only(rng):
    result = detect_drift(frame(rng, 3000), frame(rng, 2000, load={"shift": 2.0}))
    assert result.drifted_columns == ["load"]
    assert result.drifted
    load = result.features[1]
    assert load.reasons[:2] == ["ks", "psi"]
    assert load.ks_pvalue < 1e-10 and load.ks_statistic > 0.2


def test_changed_spread_drifts(rng):
    result = detect_drift(frame(rng, 3000), frame(rng, 2000, temperature={"noise": 3.0}))
    assert result.drifted_columns == ["temperature"]
    assert "ks" in result.features[0].reasons
    assert "out_of_range" in result.features[0].reasons


def test_psi_bins_are_reference_quantiles():
    assert psi_bin_edges(np.arange(1.0, 11.0), bins=5).tolist() == pytest.approx([2.8, 4.6, 6.4, 8.2])
    # ties merge repeated edges (fewer bins)
    assert psi_bin_edges([1, 1, 2, 2, 2, 2, 2, 2], bins=4).tolist() == [1.75, 2.0]


def test_psi_bins_are_closed_on_the_left():
    reference = np.arange(1.0, 10.0)  # one edge, the median 5: shares 4/9 below, 5/9 from 5 up
    target = [1.0, 5.0, 5.0, 9.0]     # shares 1/4, 3/4
    expected = (1 / 4 - 4 / 9) * math.log((1 / 4) / (4 / 9)) + (3 / 4 - 5 / 9) * math.log((3 / 4) / (5 / 9))
    assert population_stability_index(reference, target, bins=2) == pytest.approx(expected, rel=1e-12)


def test_psi_matches_hand_computation():
    reference = np.arange(1.0, 11.0)  # shares 0.2 in each of the 5 bins
    target = reference + 1.5          # 2.5 .. 11.5: shares 0.1, 0.2, 0.1, 0.2, 0.4
    expected = 2 * (0.1 - 0.2) * math.log(0.1 / 0.2) + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert population_stability_index(reference, target, bins=5) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.4 * math.log(2))


def test_psi_replaces_an_empty_bin_by_epsilon():
    reference = np.arange(1.0, 11.0)
    target = reference + 2.0  # 3 .. 12: first bin empty, shares eps, 0.2, 0.2, 0.2, 0.4
    eps = 1e-4
    expected = (eps - 0.2) * math.log(eps / 0.2) + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert population_stability_index(reference, target, bins=5, epsilon=eps) == pytest.approx(expected, rel=1e-12)
    assert population_stability_index(reference, target, bins=5, epsilon=1e-3) != pytest.approx(expected)


def test_psi_replaces_an_empty_reference_bin_by_epsilon():
    reference = [1, 1, 1, 1, 2, 2, 2, 2]  # edges 1, 1.5, 2: shares 0 (eps), 0.5, 0 (eps), 0.5
    target = [0, 1, 2, 2]                 # shares 0.25, 0.25, 0 (eps), 0.5
    eps = 1e-4
    expected = (0.25 - eps) * math.log(0.25 / eps) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert population_stability_index(reference, target, bins=4) == pytest.approx(expected, rel=1e-12)


def test_ks_matches_hand_computation():
    thresholds = DriftThresholds(min_values=10, psi_bins=5)
    # ECDFs differ by at most 0.2 (at 2 and at 10). Exact null: a path of the merged sample
    # stays within 1 of the diagonal in 2**10 of C(20, 10) orders, so P(D >= 0.2) = 1 - 2**10 / C.
    f = feature_drift(np.arange(1.0, 11.0), np.arange(1.0, 11.0) + 1.5, "x", thresholds)
    assert f.ks_statistic == pytest.approx(0.2)
    assert f.ks_pvalue == pytest.approx(1 - 2**10 / math.comb(20, 10), rel=1e-9)
    assert f.out_of_range_share == pytest.approx(0.2)
    assert f.psi == pytest.approx(0.4 * math.log(2))
    assert (f.drifted, f.reasons) == (True, ["psi", "out_of_range"])
    # complete separation: only 2 of C(20, 10) orders give D = 1
    f = feature_drift(np.arange(1.0, 11.0), np.arange(11.0, 21.0), "x", thresholds)
    assert (f.ks_statistic, f.ks_pvalue) == (1.0, pytest.approx(2 / math.comb(20, 10), rel=1e-9))
    assert f.psi == pytest.approx(4 * (1e-4 - 0.2) * math.log(1e-4 / 0.2) + (1 - 0.2) * math.log(1 / 0.2))
    assert (f.drifted, f.reasons) == (True, ["ks", "psi", "out_of_range"])


def test_out_of_range_share_counts_values_beyond_reference_min_and_max():
    assert out_of_range_share([0, 5, 10], [-1, 0, 10, 10.5, 3]) == pytest.approx(0.4)


def test_nans_are_dropped_before_the_statistics(rng):
    reference, target = frame(rng, 3000), frame(rng, 500)
    holed = target.copy()
    holed.loc[::7, "load"] = np.nan
    holed.loc[3, "power"] = np.inf
    plain = detect_drift(reference, target.loc[target.index % 7 != 0])
    with_nans = detect_drift(reference, holed)
    assert with_nans.features[1] == plain.features[1]
    assert with_nans.features[2].n_target == 499


def test_empty_target_window_gives_findings_not_drift(rng):
    result = detect_drift(frame(rng, 3000), frame(rng, 0))
    assert result.drifted_columns == []
    assert result.findings == [
        f"{c}: too few finite values (reference 3000, target 0; need 20 each)" for c in COLUMNS
    ]
    assert all(f.ks_statistic is None and f.psi is None for f in result.features)
    json.dumps(result.to_dict())


def test_all_nan_column_gets_a_finding_others_are_checked(rng):
    target = frame(rng, 2000)
    target["power"] = np.nan
    result = detect_drift(frame(rng, 3000), target)
    assert result.drifted_columns == []
    assert result.findings == ["power: too few finite values (reference 3000, target 0; need 20 each)"]
    assert [f.ks_statistic is not None for f in result.features] == [True, True, False]


def test_non_numeric_and_missing_columns_get_findings(rng):
    reference, target = frame(rng, 3000), frame(rng, 2000)
    reference["status"] = "ok"
    target["status"] = "ok"
    assert [f.column for f in detect_drift(reference, target).features] == COLUMNS  # default: numeric only
    result = detect_drift(reference, target.drop(columns="power"), ["status", "power", "load"])
    assert result.findings == ["status: column not numeric in reference and target",
                               "power: column missing from target"]
    assert [f.column for f in result.features] == ["status", "power", "load"]
    assert result.drifted_columns == []


def test_prediction_drift_compares_forecast_distributions(rng):
    reference = pd.Series(hourly(rng, 2400), name="yhat")
    same = prediction_drift(reference, pd.Series(hourly(rng, 480)))
    assert (same.drifted_columns, same.findings) == ([], [])
    shifted = pd.DataFrame({"forecast": hourly(rng, 480, shift=3.0)})
    result = prediction_drift(reference, shifted)
    assert result.drifted_columns == ["forecast"]
    assert result.to_dict()["features"][0]["column"] == "forecast"


def test_result_to_dict_is_json(rng):
    result = detect_drift(frame(rng, 300), frame(rng, 200, load={"shift": 5.0}))
    body = json.loads(json.dumps(result.to_dict()))
    assert body["drifted"] is True
    assert body["drifted_columns"] == ["load"]
    assert body["thresholds"]["psi_max"] == 0.2
    assert set(body["features"][0]) == {"column", "ks_statistic", "ks_pvalue", "psi", "out_of_range_share",
                                        "drifted", "reasons", "n_reference", "n_target", "finding", "limits"}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="psi_max"):
        DriftThresholds(psi_max=-1)
    with pytest.raises(ValueError, match="ks_pvalue_max"):
        DriftThresholds(ks_pvalue_max=0)
    with pytest.raises(TypeError):
        detect_drift(np.zeros((3, 2)), pd.DataFrame())
    with pytest.raises(TypeError):
        detect_drift(pd.DataFrame(), pd.DataFrame(), "load")
    with pytest.raises(ValueError):
        population_stability_index([], [1.0])


def forecasts_and_actuals() -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.date_range("2024-03-01", periods=5, freq="h")
    forecasts = pd.DataFrame({
        "origin": [t[0], t[0], t[1], t[1], t[2], t[2]],
        "timestamp": [t[1], t[2], t[2], t[3], t[3], t[4]],
        "step": [1, 2, 1, 2, 1, 2],
        "forecast": [12.0, 18.0, 21.0, 26.0, 30.0, 40.0],
    })
    actuals = pd.DataFrame({"timestamp": t[1:4], "value": [10.0, 20.0, 30.0]})  # t[4] not yet in
    return forecasts, actuals


def test_realised_error_matches_hand_computation():
    forecasts, actuals = forecasts_and_actuals()
    result = realised_error(forecasts, actuals, validated_mae=1.0)
    step1, step2 = result.steps
    # step 1: errors 2, 1, 0 on actuals 10, 20, 30 (mean 20, SS_tot 200)
    assert (step1.step, step1.n) == (1, 3)
    assert step1.mae == pytest.approx(1.0)
    assert step1.rmse == pytest.approx(math.sqrt(5 / 3))
    assert step1.r2 == pytest.approx(1 - 5 / 200)
    # step 2: errors -2, -4 on actuals 20, 30 (mean 25, SS_tot 50); the t[4] forecast is unmatched
    assert (step2.step, step2.n) == (2, 2)
    assert (step2.mae, step2.rmse, step2.r2) == pytest.approx((3.0, math.sqrt(10), 1 - 20 / 50))
    # overall: errors 2, 1, 0, 2, 4 on actuals 10, 20, 30, 20, 30 (mean 22, SS_tot 280)
    assert (result.overall.step, result.overall.n) == (None, 5)
    assert (result.overall.mae, result.overall.rmse, result.overall.r2) == pytest.approx((1.8, math.sqrt(5), 1 - 25 / 280))
    assert (result.n_forecasts, result.n_matched, result.findings) == (6, 5, [])
    assert (result.mae_ratio, result.degraded) == (pytest.approx(1.8), True)
    assert realised_error(forecasts, actuals, validated_mae=2.0).degraded is False
    assert realised_error(forecasts, actuals).mae_ratio is None
    json.dumps(result.to_dict())


def test_realised_error_reports_data_problems():
    forecasts, actuals = forecasts_and_actuals()
    doubled = pd.concat([actuals, actuals.iloc[[0]].assign(value=99.0)])
    result = realised_error(forecasts, doubled, validated_mae=1.0)
    assert result.findings == ["actuals: 1 repeated timestamp(s), first value kept"]
    assert result.overall.mae == pytest.approx(1.8)
    missing = realised_error(forecasts.drop(columns="step"), actuals.rename(columns={"value": "y"}))
    assert missing.findings == ["forecasts: missing column(s) step", "actuals: missing column(s) value"]
    assert (missing.n_matched, missing.overall.mae, missing.steps, missing.degraded) == (0, None, [], None)
    none_yet = realised_error(forecasts, actuals.iloc[:0], validated_mae=1.0)
    assert (none_yet.n_matched, none_yet.overall.mae, none_yet.mae_ratio) == (0, None, None)
