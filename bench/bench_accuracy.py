"""Benchmark the default LSTM's accuracy against two baselines on every demo circuit.

For each circuit: its sample readings (``data.sample_seed``) cut at ``cutoff_date`` by
``prepare_snapshot``; the default model trained by ``train_circuit_model`` (temporary
folder); then, on the SAME test windows (the trained model's day-ahead test origins, one
per day), the forecasts of

- ``lstm``: the trained model (best checkpoint, scored with ``forecast_history``);
- ``seasonal_naive_168``: the library's weekly seasonal naive;
- ``mstl_arima``: statsforecast's MSTL (daily and weekly seasons, AutoARIMA on the
  deseasonalised series). Fitted once on the last ``--window-weeks`` weeks before the
  test split (training + validation data only); at each origin ``forward`` redoes the
  MSTL decomposition on the trailing window up to the origin and applies the fitted
  ARIMA (orders and coefficients fixed, state updated). Missing target values in a
  window are interpolated linearly (statsforecast takes no NaN).

Goals: the LSTM's MAE at most 0.85x the seasonal naive's (beats it by >= 15%), and at
most 1.05x the statistical baseline's (within 5% or better). Prints a table; needs
``statsforecast`` (the ``bench`` extra).

    python bench/bench_accuracy.py [--circuits PLANT1_CIRC1,...] [--window-weeks 8] [--json PATH]
                                   [hydra overrides, e.g. model.lookback=96]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import REPO, finish

import numpy as np
import pandas as pd

CIRCUITS = ("PLANT1_CIRC1", "PLANT1_CIRC2", "PLANT2_CIRC1")
QUICK_ARGS = ["--circuits", "PLANT1_CIRC1"]  # what bench/run_all.py --quick passes
GOAL_VS_NAIVE = 0.85  # LSTM beats the seasonal naive by >= 15% MAE
GOAL_VS_STATISTICAL = 1.05  # LSTM within 5% of the statistical baseline, or better
MIN_ORIGINS = 30
SEASONS = [24, 168]  # hourly data: daily and weekly


@dataclass
class CircuitResult:
    """Forecast errors of the three models on one circuit's test windows."""

    circuit: str
    origins: pd.DatetimeIndex
    metrics: dict[str, dict[str, float]]  # model name -> regression_metrics
    lstm_fit_s: float
    statistical_s: float


def forecast_mstl(target: np.ndarray, fit_end: int, origins: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """MSTL + AutoARIMA fitted on ``target[fit_end-window+1 : fit_end+1]``, then ``forward`` from each origin
    on its trailing ``window`` steps: shape (n_origins, horizon)."""
    from statsforecast.models import MSTL, AutoARIMA

    def trailing(end: int) -> np.ndarray:
        if end - window + 1 < 0:
            raise ValueError(f"origin {end} has fewer than {window} steps of history")
        values = pd.Series(target[end - window + 1 : end + 1])
        return values.interpolate(limit_direction="both").to_numpy()

    model = MSTL(season_length=SEASONS, trend_forecaster=AutoARIMA()).fit(trailing(fit_end))
    return np.stack([model.forward(y=trailing(int(t)), h=horizon)["mean"] for t in origins])


def evaluate_circuit(circuit: str, overrides: list[str], window_weeks: int) -> CircuitResult:
    """Train the circuit's model and score it and both baselines on its test windows."""
    import keras

    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.core.data.sample import generate_sample_readings
    from sensor_pipelines.core.data.snapshot import prepare_snapshot
    from sensor_pipelines.core.forecasting.metrics import regression_metrics
    from sensor_pipelines.core.forecasting.pyfunc import forecast_history
    from sensor_pipelines.core.forecasting.training import (
        BEST_CHECKPOINT,
        prepare_training_data,
        score_test_windows,
        train_circuit_model,
    )

    run = load_run_config(circuit, overrides=overrides, config_dir=REPO / "conf").circuit_run
    source = run.circuit.data
    if source.sample_seed is None:
        raise SystemExit(f"{circuit}: data.sample_seed is not set; this benchmark runs on sample data")
    frame, quality = prepare_snapshot(generate_sample_readings(source.sample_seed), source, run.circuit.cutoff_date)
    print(f"{circuit}: {quality.summary()}", file=sys.stderr)

    data = prepare_training_data(run, frame)  # the same split, scaler and test origins training uses
    spec, origins, season = data.spec, data.test, run.model.baseline_season
    if len(origins) < MIN_ORIGINS or np.diff(origins).min(initial=spec.horizon) < spec.horizon:
        raise SystemExit(f"{circuit}: {len(origins)} test origins, need >= {MIN_ORIGINS}, one per horizon")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        report = train_circuit_model(run, frame, out / "model", out / "metrics", out / "artifacts")
        best = keras.models.load_model(str(out / "artifacts" / BEST_CHECKPOINT))
    predicted = forecast_history(best, spec, data.values.reset_index(), data.values.index[origins])
    lstm = predicted["forecast"].to_numpy().reshape(len(origins), spec.horizon)
    _, series = score_test_windows(data.values, spec, origins, lstm, season)
    actual = series["actual"]
    metrics = {"lstm": regression_metrics(actual, lstm)}
    if not np.isclose(metrics["lstm"]["mae"], report["model"]["mae"], rtol=1e-5):
        raise SystemExit(f"{circuit}: rescored LSTM MAE {metrics['lstm']['mae']:.4f} differs from training's "
                         f"{report['model']['mae']:.4f}")
    metrics[f"seasonal_naive_{season}"] = regression_metrics(actual, series["baseline"])

    start = time.perf_counter()
    target = data.values[spec.target_column].to_numpy(dtype=np.float64)
    statistical = forecast_mstl(target, data.split.val_end - 1, origins, spec.horizon, window_weeks * 168)
    statistical_s = time.perf_counter() - start
    metrics["mstl_arima"] = regression_metrics(actual, statistical)
    return CircuitResult(circuit=circuit, origins=data.values.index[origins], metrics=metrics,
                         lstm_fit_s=float(report["train_seconds"]), statistical_s=statistical_s)


def goal_rows(result: CircuitResult) -> list[tuple[str, str, str, bool | None]]:
    """The figure/value/goal/passed rows of one circuit."""
    c, m = result.circuit, result.metrics
    lstm, stat = m["lstm"], m["mstl_arima"]
    naive = next(v for k, v in m.items() if k.startswith("seasonal_naive"))
    vs_naive, vs_stat = lstm["mae"] / naive["mae"], lstm["mae"] / stat["mae"]
    first, last = result.origins[0].date(), result.origins[-1].date()
    return [
        (f"{c}: test origins (day-ahead)", f"{len(result.origins)} ({first}..{last})", f">= {MIN_ORIGINS}",
         len(result.origins) >= MIN_ORIGINS),
        (f"{c}: MAE lstm / naive / mstl", f"{lstm['mae']:.3f} / {naive['mae']:.3f} / {stat['mae']:.3f}", "", None),
        (f"{c}: RMSE lstm / naive / mstl", f"{lstm['rmse']:.3f} / {naive['rmse']:.3f} / {stat['rmse']:.3f}", "", None),
        (f"{c}: MAE ratio lstm/naive", f"{vs_naive:.3f}", f"<= {GOAL_VS_NAIVE}", bool(vs_naive <= GOAL_VS_NAIVE)),
        (f"{c}: MAE ratio lstm/mstl", f"{vs_stat:.3f}", f"<= {GOAL_VS_STATISTICAL}",
         bool(vs_stat <= GOAL_VS_STATISTICAL)),
        (f"{c}: RMSE ratio lstm/naive, lstm/mstl", f"{lstm['rmse'] / naive['rmse']:.3f}, "
         f"{lstm['rmse'] / stat['rmse']:.3f}", "", None),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuits", default=",".join(CIRCUITS), help="comma-separated (default: the demo circuits)")
    parser.add_argument("--window-weeks", type=int, default=8, help="MSTL's trailing window (default: 8)")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the LSTM, e.g. model.lookback=96")
    args = parser.parse_args()
    if importlib.util.find_spec("statsforecast") is None:
        print("bench_accuracy needs statsforecast: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    results = []
    for circuit in [c for c in args.circuits.split(",") if c]:
        results.append(evaluate_circuit(circuit, args.overrides, args.window_weeks))

    print(f"MSTL: seasons {SEASONS}, AutoARIMA trend, fitted on the {args.window_weeks} weeks before the test split, "
          f"forward from each origin on its trailing {args.window_weeks} weeks")
    print(f"{'circuit':<14} {'origins':>7}  {'model':<20} {'MAE':>7} {'RMSE':>7} {'R²':>6}  time")
    for r in results:
        times = {"lstm": f"fit {r.lstm_fit_s:.0f} s", "mstl_arima": f"{r.statistical_s:.0f} s"}
        for i, (name, m) in enumerate(r.metrics.items()):
            head = f"{r.circuit:<14} {len(r.origins):>7}" if i == 0 else " " * 22
            line = f"{head}  {name:<20} {m['mae']:>7.3f} {m['rmse']:>7.3f} {m['r2']:>6.3f}  {times.get(name, '')}"
            print(line.rstrip())
    print()
    rows = [row for r in results for row in goal_rows(r)]
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
