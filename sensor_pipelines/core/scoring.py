"""Batch scoring with a registered forecaster, and the checks its forecasts must pass.

``score_history`` forecasts from many origins of a circuit's recent history, a batch of
origins at a time: each batch is windowed, predicted and appended to one parquet file (one
row group per batch), so memory stays flat however many origins are scored.
``check_forecasts`` reads that file a row group at a time and collects every problem
(NaN/inf, horizon per origin, frequency grid, physical range) into a verdict.
Plain pandas / numpy / pyarrow; TensorFlow only through the loaded model.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.fileio import read_json, write_json_atomic

log = logging.getLogger(__name__)

FORECASTS_FILE = "forecasts.parquet"
SUMMARY_FILE = "summary.json"
VERDICT_FILE = "verdict.json"
COLUMNS = ("circuit", "origin", "timestamp", "horizon_step", "forecast", "model_version", "cutoff_date")
DEFAULT_BATCH = 8192
MAX_PROBLEMS = 10


@dataclass
class ScoringSummary:
    """What a scoring run produced (``summary.json``)."""

    circuit: str
    model_name: str
    model_version: str
    cutoff_date: str
    origins: int
    rows: int
    seconds: float
    batches: int
    horizon: int
    frequency: str
    first_origin: Optional[str] = None
    last_origin: Optional[str] = None


def read_scoring_data(path: str | Path) -> pd.DataFrame:
    """Recent history to score: an MLTable folder, a folder of parquet/csv files, or one such file."""
    from sensor_pipelines.core.data.mltable import MLTABLE_FILE, read_mltable

    path = Path(path)
    if path.is_dir() and (path / MLTABLE_FILE).is_file():
        return read_mltable(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".csv"))
    if not files:
        raise DataError(f"no scoring data in {path}: expected an MLTable folder or parquet/csv files")
    return read_data_files(files)


def read_data_files(files: Sequence[str | Path]) -> pd.DataFrame:
    """Parquet files, then CSV files, as one frame. Parquet files are read and joined as Arrow tables (a column
    missing from some is null there): several times faster than a pandas frame per file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [Path(f) for f in files]
    frames = [pd.read_csv(f) for f in files if f.suffix != ".parquet"]
    tables = [pq.read_table(f) for f in files if f.suffix == ".parquet"]
    if tables:
        frames.insert(0, (pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1
                          else tables[0]).to_pandas())
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def load_forecaster(model_dir: str | Path) -> tuple[Any, Any]:
    """(keras model, FeatureSpec) of a saved MLflow pyfunc forecaster, loaded through MLflow."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(model_dir))
    python_model = model.unwrap_python_model()
    return python_model.keras_model, python_model.spec


def scoring_positions(values: pd.DataFrame, first: int, last_origins: int, last: Optional[int] = None) -> np.ndarray:
    """Positions of the origins to score: the ``last_origins`` most recent (0: all) up to ``last`` (default: the
    last row), from ``first`` on, the earliest origin whose inputs (lookback and target lags) lie in the data."""
    end = len(values) if last is None else last + 1
    if end <= first:
        raise DataError(f"scoring data has {end} steps of history; the model needs more than {first} steps "
                        f"before an origin (its lookback and target lags)")
    start = first if last_origins <= 0 else max(first, end - last_origins)
    return np.arange(start, end, dtype=np.int64)


def score_history(keras_model: Any, spec: Any, history: pd.DataFrame, out_dir: str | Path, *, circuit: str,
                  model_name: str, model_version: str, cutoff_date: str, last_origins: int = 1,
                  batch_size: int = DEFAULT_BATCH) -> ScoringSummary:
    """Forecast from the chosen origins of ``history``; write ``forecasts.parquet`` and ``summary.json``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sensor_pipelines.core.forecasting.features import last_observed, regular_frame
    from sensor_pipelines.core.forecasting.pyfunc import forecast_positions

    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = regular_frame(history, spec)
    positions = scoring_positions(values, spec.first_origin, last_origins, last_observed(values, spec))
    horizon = spec.horizon
    schema = pa.schema([("circuit", pa.string()), ("origin", pa.timestamp("ns")), ("timestamp", pa.timestamp("ns")),
                        ("horizon_step", pa.int16()), ("forecast", pa.float64()), ("model_version", pa.string()),
                        ("cutoff_date", pa.string())])
    tmp = out_dir / f".{FORECASTS_FILE}.tmp"
    batches = 0
    # dictionary encoding only where it pays: the constant string columns (on every column it doubled the write)
    with pq.ParquetWriter(tmp, schema, use_dictionary=["circuit", "model_version", "cutoff_date"]) as writer:
        for begin in range(0, len(positions), batch_size):
            chunk = positions[begin:begin + batch_size]
            first = int(chunk[0]) - spec.first_origin  # only the rows this batch's windows read
            origins, timestamps, forecast = forecast_positions(keras_model, spec, values.iloc[first:int(chunk[-1]) + 1],
                                                               chunk - first)
            rows = len(origins)
            table = pa.table({
                "circuit": _constant(circuit, rows), "origin": origins, "timestamp": timestamps,
                "horizon_step": np.tile(np.arange(1, horizon + 1, dtype=np.int16), len(chunk)),
                "forecast": forecast.ravel(), "model_version": _constant(str(model_version), rows),
                "cutoff_date": _constant(cutoff_date, rows),
            }, schema=schema)
            writer.write_table(table)
            batches += 1
    tmp.replace(out_dir / FORECASTS_FILE)
    summary = ScoringSummary(
        circuit=circuit, model_name=model_name, model_version=str(model_version), cutoff_date=cutoff_date,
        origins=int(len(positions)), rows=int(len(positions) * horizon),
        seconds=round(time.perf_counter() - started, 3), batches=batches, horizon=horizon, frequency=spec.frequency,
        first_origin=str(values.index[positions[0]]), last_origin=str(values.index[positions[-1]]),
    )
    write_json_atomic(out_dir / SUMMARY_FILE, asdict(summary))
    log.info("%s: %d origins scored with %s v%s, %d rows in %.1f s", circuit, summary.origins, model_name,
             model_version, summary.rows, summary.seconds)
    return summary


def _constant(value: str, rows: int) -> Any:
    """A string column holding one value (built as a dictionary, cast to plain strings)."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(np.zeros(rows, np.int8), [value]).cast(pa.string())


def score_model(model_dir: str | Path, scoring_data: str | Path, out_dir: str | Path, *, circuit: str,
                model_name: str, model_version: str, cutoff_date: str, last_origins: int = 1,
                batch_size: int = DEFAULT_BATCH) -> ScoringSummary:
    """Load the registered model and score the data at ``scoring_data`` (what ``batch_score`` runs)."""
    keras_model, spec = load_forecaster(model_dir)
    return score_history(keras_model, spec, read_scoring_data(scoring_data), out_dir, circuit=circuit,
                         model_name=model_name, model_version=model_version, cutoff_date=cutoff_date,
                         last_origins=last_origins, batch_size=batch_size)


@dataclass
class ForecastVerdict:
    """The checks on a forecasts file (``verdict.json``); ``passed`` only when no problem was found."""

    passed: bool
    rows: int
    origins: int
    problems: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)


def check_forecasts(forecasts_file: str | Path, *, horizon: int, frequency: str, min_value: Optional[float] = None,
                    max_value: Optional[float] = None) -> ForecastVerdict:
    """Check every forecast: finite, ``horizon`` steps per origin (1..horizon), each step ``step * frequency``
    after its origin, inside [min_value, max_value] where set. Reads one row group at a time."""
    import pyarrow.parquet as pq

    path = Path(forecasts_file)
    if not path.is_file():
        raise DataError(f"no forecasts file at {path}")
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(frequency))
    counts = {"not_finite": 0, "below_min": 0, "above_max": 0, "off_grid": 0, "bad_horizon": 0}
    problems: list[str] = []
    rows = origins = 0
    parquet = pq.ParquetFile(path)
    missing = [c for c in COLUMNS if c not in parquet.schema_arrow.names]
    if missing:
        return ForecastVerdict(False, 0, 0, [f"forecasts lack columns {missing}"])
    seen_origins: set = set()
    for group in range(parquet.num_row_groups):
        frame = parquet.read_row_group(group, columns=["origin", "timestamp", "horizon_step", "forecast"]).to_pandas()
        rows += len(frame)
        values = frame["forecast"].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        counts["not_finite"] += int(bad.sum())
        if min_value is not None:
            counts["below_min"] += int((values[~bad] < min_value).sum())
        if max_value is not None:
            counts["above_max"] += int((values[~bad] > max_value).sum())
        expected = frame["origin"] + frame["horizon_step"].astype("int64") * step
        counts["off_grid"] += int((expected != frame["timestamp"]).sum())
        per_origin = frame.groupby("origin")["horizon_step"].agg(["count", "min", "max"])
        wrong = per_origin[(per_origin["count"] != horizon) | (per_origin["min"] != 1) | (per_origin["max"] != horizon)]
        overlap = seen_origins.intersection(per_origin.index)
        counts["bad_horizon"] += len(wrong) + len(overlap)
        seen_origins.update(per_origin.index)
    origins = len(seen_origins)
    if rows == 0:
        problems.append("no forecasts")
    if counts["not_finite"]:
        problems.append(f"{counts['not_finite']} forecasts are NaN or infinite")
    if counts["below_min"]:
        problems.append(f"{counts['below_min']} forecasts below the circuit's forecast_range.min {min_value:g}")
    if counts["above_max"]:
        problems.append(f"{counts['above_max']} forecasts above the circuit's forecast_range.max {max_value:g}")
    if counts["off_grid"]:
        problems.append(f"{counts['off_grid']} timestamps are not origin + step x {frequency}")
    if counts["bad_horizon"]:
        problems.append(f"{counts['bad_horizon']} origins do not have exactly steps 1..{horizon}")
    checks = {**counts, "horizon": horizon, "frequency": frequency, "min_value": min_value, "max_value": max_value}
    return ForecastVerdict(not problems, rows, origins, problems[:MAX_PROBLEMS], checks)


class ForecastsRejected(DataError):
    """validate_predictions found problems: the scoring run fails."""


def validate_forecasts(forecasts_dir: str | Path, verdict_dir: str | Path, *, horizon: int, frequency: str,
                       min_value: Optional[float] = None, max_value: Optional[float] = None) -> ForecastVerdict:
    """Check ``forecasts_dir/forecasts.parquet``, write ``verdict.json``; raise when it did not pass."""
    verdict = check_forecasts(Path(forecasts_dir) / FORECASTS_FILE, horizon=horizon, frequency=frequency,
                              min_value=_optional(min_value), max_value=_optional(max_value))
    summary_file = Path(forecasts_dir) / SUMMARY_FILE
    record = {**asdict(verdict), "summary": read_json(summary_file) if summary_file.is_file() else {}}
    write_json_atomic(Path(verdict_dir) / VERDICT_FILE, record)
    if not verdict.passed:
        raise ForecastsRejected("forecasts rejected: " + "; ".join(verdict.problems))
    log.info("forecasts passed: %d origins, %d rows", verdict.origins, verdict.rows)
    return verdict


def _optional(value: Any) -> Optional[float]:
    """A number input that may be unset (None, '' or NaN)."""
    if value is None or value == "":
        return None
    value = float(value)
    return None if math.isnan(value) else value
