"""Windowing of a circuit snapshot: calendar features, chronological split, scaling, windows.

Positions, not timestamps, index the regular grid. An *origin* ``t`` is the last observed
step of a window: the model sees rows ``t-lookback+1 .. t`` (target, features, calendar) plus
the calendar of the forecast steps, and forecasts the target at ``t+1 .. t+horizon``.
Pure numpy / pandas: no TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from sensor_pipelines.core.config.schema import CircuitRunConfig
from sensor_pipelines.core.errors import DataError

CALENDAR_COLUMNS = ("hour_sin", "hour_cos", "dow_sin", "dow_cos", "weekend")


@dataclass
class FeatureSpec:
    """Everything needed to turn a history frame into model inputs; JSON serialisable."""

    timestamp_column: str
    target_column: str
    feature_columns: list[str]
    frequency: str
    lookback: int
    horizon: int
    use_calendar: bool
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def value_columns(self) -> list[str]:
        """The scaled input columns, target first."""
        return [self.target_column, *self.feature_columns]

    @property
    def n_inputs(self) -> int:
        return len(self.value_columns) + (len(CALENDAR_COLUMNS) if self.use_calendar else 0)

    @property
    def n_calendar(self) -> int:
        return len(CALENDAR_COLUMNS) if self.use_calendar else 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSpec":
        return cls(**data)


@dataclass
class Windows:
    """Model inputs and targets for a set of origins (positions in the frame)."""

    origins: np.ndarray  # (n,) int positions of the last observed step
    past: np.ndarray  # (n, lookback, n_inputs) float32, scaled
    future: Optional[np.ndarray]  # (n, horizon * n_calendar) float32, or None without calendar
    y: Optional[np.ndarray]  # (n, horizon) float32, scaled target; None when not known

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def inputs(self) -> list[np.ndarray]:
        return [self.past] if self.future is None else [self.past, self.future]


@dataclass
class Split:
    """Row boundaries of the chronological split: train ``[0, train_end)``, validation
    ``[train_end, val_end)``, test ``[val_end, n)``. A window belongs to the split that
    holds all its target steps; its inputs may reach back into an earlier split."""

    n: int
    train_end: int
    val_end: int


def spec_from_config(config: CircuitRunConfig) -> FeatureSpec:
    """An unfitted FeatureSpec from the circuit's data columns and the model settings."""
    data, model = config.circuit.data, config.model
    return FeatureSpec(
        timestamp_column=data.timestamp_column,
        target_column=data.target_column,
        feature_columns=list(data.feature_columns) if model.use_features else [],
        frequency=data.frequency,
        lookback=model.lookback,
        horizon=model.horizon,
        use_calendar=model.use_calendar,
    )


def calendar_features(timestamps: pd.DatetimeIndex) -> np.ndarray:
    """Hour-of-day and day-of-week as sin/cos, and a weekend flag: shape (n, 5)."""
    ts = pd.DatetimeIndex(timestamps)
    hour = ts.hour.to_numpy() + ts.minute.to_numpy() / 60.0
    dow = ts.day_of_week.to_numpy() + hour / 24.0
    return np.column_stack(
        [
            np.sin(2 * np.pi * hour / 24.0),
            np.cos(2 * np.pi * hour / 24.0),
            np.sin(2 * np.pi * dow / 7.0),
            np.cos(2 * np.pi * dow / 7.0),
            (ts.day_of_week.to_numpy() >= 5).astype(float),
        ]
    ).astype(np.float32)


def split_chronologically(n: int, validation_fraction: float, test_fraction: float) -> Split:
    """Split ``n`` rows into train/validation/test, oldest first."""
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * validation_fraction))
    return Split(n=n, train_end=n - n_test - n_val, val_end=n - n_test)


def regular_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The frame's columns on its regular frequency grid, sorted; missing steps become NaN."""
    missing = [c for c in [spec.timestamp_column, *spec.value_columns] if c not in frame.columns]
    if missing:
        raise DataError(f"history frame lacks columns {missing} (has {[str(c) for c in frame.columns]})")
    ts = pd.to_datetime(frame[spec.timestamp_column])
    values = frame[spec.value_columns].astype("float64").set_axis(pd.DatetimeIndex(ts), axis=0)
    values = values[~values.index.duplicated(keep="last")].sort_index()
    if values.empty:
        raise DataError("history frame has no rows")
    grid = pd.date_range(values.index[0], values.index[-1], freq=spec.frequency)
    if len(grid) != len(values) or not grid.equals(values.index):
        values = values.reindex(grid)
    return values.rename_axis(spec.timestamp_column)


def fit_scaler(values: pd.DataFrame, spec: FeatureSpec, train_end: int) -> FeatureSpec:
    """Mean and std of every value column over the train rows only (NaN ignored)."""
    train = values.iloc[:train_end]
    mean = {c: float(np.nanmean(train[c])) if train[c].notna().any() else 0.0 for c in spec.value_columns}
    std = {c: float(np.nanstd(train[c])) if train[c].notna().any() else 1.0 for c in spec.value_columns}
    std = {c: s if np.isfinite(s) and s > 1e-12 else 1.0 for c, s in std.items()}
    return dataclasses.replace(spec, mean=mean, std=std)


def scale_target(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    return (y - spec.mean[spec.target_column]) / spec.std[spec.target_column]


def unscale_target(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    return np.asarray(y, dtype=np.float64) * spec.std[spec.target_column] + spec.mean[spec.target_column]


def _scaled_inputs(values: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """(n, n_inputs) float32: scaled target and features, then calendar features."""
    mean = np.array([spec.mean[c] for c in spec.value_columns])
    std = np.array([spec.std[c] for c in spec.value_columns])
    scaled = (values[spec.value_columns].to_numpy(dtype=np.float64) - mean) / std
    if spec.use_calendar:
        scaled = np.hstack([scaled, calendar_features(values.index)])
    return scaled.astype(np.float32)


def make_windows(values: pd.DataFrame, spec: FeatureSpec, origins: np.ndarray, with_targets: bool = True) -> Windows:
    """Windows for the given origins of a regular, scaled-by-``spec`` frame.

    Forecast steps past the end of the frame get their calendar from the frequency grid;
    their targets are unknown, so ``with_targets`` needs ``origin + horizon < len(values)``.
    """
    origins = np.asarray(origins, dtype=np.int64)
    n, lookback, horizon = len(values), spec.lookback, spec.horizon
    inputs = _scaled_inputs(values, spec)
    if len(origins) and (origins.min() < lookback - 1 or origins.max() >= n):
        raise ValueError(f"origins must lie in [{lookback - 1}, {n - 1}]")
    sliding = np.lib.stride_tricks.sliding_window_view(inputs, lookback, axis=0)  # (n-L+1, n_in, L)
    past = sliding[origins - lookback + 1].transpose(0, 2, 1).copy()  # (n_origins, L, n_in)
    future = None
    if spec.use_calendar:
        index = values.index
        extra = pd.date_range(index[-1], periods=horizon + 1, freq=spec.frequency)[1:]
        calendar = calendar_features(index.append(extra))
        steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]
        future = calendar[steps].reshape(len(origins), -1)
    y = None
    if with_targets:
        target = values[spec.target_column].to_numpy(dtype=np.float64)
        steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]
        if len(origins) and steps.max() >= n:
            raise ValueError("with_targets needs every forecast step inside the frame")
        y = scale_target(target[steps], spec).astype(np.float32)
    return Windows(origins=origins, past=past, future=future, y=y)


def complete_origins(values: pd.DataFrame, spec: FeatureSpec, start: int, stop: int, stride: int = 1,
                     season: Optional[int] = None) -> np.ndarray:
    """Origins in ``[start, stop)`` (every ``stride`` steps) whose inputs and targets hold no NaN.

    With ``season``, the seasonal-naive baseline's source values must be present too.
    """
    n, lookback, horizon = len(values), spec.lookback, spec.horizon
    start, stop = max(start, lookback - 1), min(stop, n - horizon)
    if stop <= start:
        return np.zeros(0, dtype=np.int64)
    origins = np.arange(start, stop, stride, dtype=np.int64)
    inputs_nan = values[spec.value_columns].isna().any(axis=1).to_numpy()
    # a window is clean when its past rows have no NaN and its target steps have no NaN
    bad_cum = np.concatenate([[0], np.cumsum(inputs_nan)])
    past_bad = bad_cum[origins + 1] - bad_cum[origins + 1 - lookback] > 0
    target_nan = values[spec.target_column].isna().to_numpy()
    tgt_cum = np.concatenate([[0], np.cumsum(target_nan)])
    future_bad = tgt_cum[origins + horizon + 1] - tgt_cum[origins + 1] > 0
    keep = ~(past_bad | future_bad)
    if season:
        src = origins[:, None] + baseline_lags(horizon, season)[None, :]
        keep &= (src >= 0).all(axis=1)
        src = np.clip(src, 0, n - 1)
        keep &= ~target_nan[src].any(axis=1)
    return origins[keep]


def baseline_lags(horizon: int, season: int) -> np.ndarray:
    """Offsets from the origin of the seasonal-naive source values: ``h - season*ceil(h/season)``."""
    h = np.arange(1, horizon + 1)
    return h - season * np.ceil(h / season).astype(np.int64)


def first_test_origin(values: pd.DataFrame, spec: FeatureSpec, split: Split) -> int:
    """First test origin: the first forecast step is in the test split, aligned to midnight
    when a forecast step falls on one within the first ``horizon`` candidates."""
    first = split.val_end - 1
    steps = values.index[first + 1 : min(first + 1 + spec.horizon, len(values))]
    midnight = np.flatnonzero(steps == steps.normalize())
    return first + int(midnight[0]) if len(midnight) else first


def select_test_origins(values: pd.DataFrame, spec: FeatureSpec, split: Split, season: int) -> np.ndarray:
    """One origin every ``horizon`` steps in the test split (day-ahead for hourly data), complete ones only."""
    start = first_test_origin(values, spec, split)
    return complete_origins(values, spec, start, len(values), stride=spec.horizon, season=season)
