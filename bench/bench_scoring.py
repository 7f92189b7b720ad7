"""Batch scoring throughput: the product's scoring path against the Keras model's own predict.

One circuit's sample history, a forecaster with the default LSTM profile (untrained weights:
throughput does not depend on them) saved as the MLflow pyfunc model, then:

- product: ``core.scoring.score_model`` (MLflow load, windowing in batches, predict, parquet
  writes, one row per origin and step) on ``--origins`` forecast origins;
- direct: ``keras_model.predict`` on the same windows, built beforehand (not timed);

rows per second for each (process start excluded; the product's time includes loading the MLflow
model, the direct one does not), their ratio (goal >= 0.8) and the process's peak memory (goal < 2 GiB).

    python bench/bench_scoring.py [--origins 100000] [--batch-size 8192] [--json PATH]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, finish

sys.path.insert(0, str(REPO))  # noqa: E402 (run as a plain script from any folder)

QUICK_ARGS = ["--origins", "20000"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--origins", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--model", default="lstm", help="model profile in conf/model (default: lstm)")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import yaml

    from sensor_pipelines.core.config.schema import ModelConfig
    from sensor_pipelines.core.data.sample import generate_sample_readings
    from sensor_pipelines.core.forecasting import model as forecaster
    from sensor_pipelines.core.forecasting.features import FeatureSpec, make_windows, regular_frame
    from sensor_pipelines.core.forecasting.pyfunc import save_forecaster
    from sensor_pipelines.core.scoring import score_model, scoring_positions

    profile = yaml.safe_load((REPO / "conf/model" / f"{args.model}.yaml").read_text())
    base = yaml.safe_load((REPO / "conf/model/lstm.yaml").read_text()) if profile.get("defaults") else {}
    settings = {k: v for k, v in {**base, **profile}.items() if k in ModelConfig.__dataclass_fields__}
    config = ModelConfig(**settings)
    columns = ["ambient_temp_c", "voltage_v", "humidity_pct"]
    hours = args.origins + max(config.lookback, *config.target_lags, config.baseline_season) + 10
    history = generate_sample_readings(11, start="2010-01-01", end=str(pd.Timestamp("2010-01-01")
                                                                        + pd.Timedelta(hours=hours - 1)), faults=False)
    spec = FeatureSpec("timestamp", "load_kw", columns, "h", config.lookback, config.horizon, config.use_calendar,
                       target_lags=list(config.target_lags),
                       base_lag=config.baseline_season if config.residual else None,
                       mean={c: float(history[c].mean()) for c in ["load_kw", *columns]},
                       std={c: float(history[c].std()) for c in ["load_kw", *columns]})
    keras_model = forecaster.build_model(spec, config)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        keras_file = tmp / "model.keras"
        keras_model.save(keras_file)
        save_forecaster(tmp / "model", keras_file, spec)
        data = tmp / "data"
        data.mkdir()
        history.to_parquet(data / "history.parquet")

        # direct: the model's own predict on the same windows (built first, not timed)
        values = regular_frame(history, spec)
        positions = scoring_positions(values, spec.first_origin, args.origins)
        windows = make_windows(values, spec, positions, with_targets=False)
        keras_model.predict([w[:256] for w in windows.inputs], verbose=0)  # warm up
        start = time.perf_counter()
        keras_model.predict(windows.inputs, batch_size=1024, verbose=0)
        direct_s = time.perf_counter() - start
        del windows

        start = time.perf_counter()
        summary = score_model(tmp / "model", data, tmp / "out", circuit="PLANT1_CIRC1", model_name="PLANT1_CIRC1_model",
                              model_version="1", cutoff_date="2025-12-09", last_origins=args.origins,
                              batch_size=args.batch_size)
        product_s = time.perf_counter() - start
        written = pd.read_parquet(tmp / "out" / "forecasts.parquet", columns=["forecast"])
        assert len(written) == args.origins * spec.horizon and np.isfinite(written["forecast"]).all()

    rows = args.origins * spec.horizon
    direct_rate, product_rate = rows / direct_s, rows / product_s
    ratio = product_rate / direct_rate
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return finish([
        ("origins scored (x horizon rows)", f"{args.origins} x {spec.horizon}", "", None),
        ("model profile", f"{args.model} lookback {spec.lookback} units {config.lstm_units}", "", None),
        ("direct keras predict", f"{direct_rate:,.0f} rows/s ({direct_s:.1f} s)", "", None),
        ("product scoring path", f"{product_rate:,.0f} rows/s ({product_s:.1f} s, {summary.batches} batches, "
                                 f"MLflow load included)", "", None),
        ("product / direct", f"{ratio:.2f}", ">= 0.8", ratio >= 0.8),
        ("peak memory (process)", f"{peak_gib:.2f} GiB", "< 2 GiB", peak_gib < 2.0),
    ], args.json)


if __name__ == "__main__":
    sys.exit(main())
