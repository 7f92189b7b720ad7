"""Windowing of a circuit snapshot: calendar features, chronological split, scaling, windows.

Positions, not timestamps, index the regular grid. An *origin* ``t`` is the last observed
step of a window; the model forecasts the target at ``t+1 .. t+horizon`` from

- ``past`` (n, lookback, n_inputs): rows ``t-lookback+1 .. t`` (target, features, calendar);
- ``future`` (n, horizon, n_future): for each forecast step ``s``, the target at ``s - lag``
  for each of ``target_lags`` (all >= horizon, so observed at the origin: the same hour one
  day and one week back...), the calendar of ``s``, the known-future features at ``s``
  (``future_columns``: a forecast delivered with the data, so the frame holds rows past the
  last observed target) and the step number;
- ``base`` (n, horizon): the seasonal naive ``y[s - base_lag]`` (scaled), zeros without
  ``base_lag``: the model adds its output to it, so it learns a correction to the naive.

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
    target_lags: list[int] = field(default_factory=list)  # per-step target lags, each >= horizon
    base_lag: Optional[int] = None  # the forecast is seasonal naive (this lag) + the model's correction
    future_columns: list[str] = field(default_factory=list)  # features also read at each forecast step
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

    @property
    def n_future(self) -> int:
        """Per forecast step: the target lags, the calendar, the known-future features (at the step, and at
        the seasonal naive's source step when there is one) and the step number."""
        return len(self.target_lags) + self.n_calendar + len(self.future_columns) * (1 + bool(self.base_lag)) + 1

    @property
    def lags(self) -> list[int]:
        """Every target lag a window reads at its forecast steps (per-step lags and the base)."""
        return sorted({*self.target_lags, *([self.base_lag] if self.base_lag else [])})

    @property
    def first_origin(self) -> int:
        """The earliest origin with all its inputs inside the frame."""
        return max(self.lookback - 1, *(lag - 1 for lag in self.lags)) if self.lags else self.lookback - 1

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
    future: np.ndarray  # (n, horizon, n_future) float32: target lags, calendar, step number
    base: np.ndarray  # (n, horizon) float32: scaled seasonal naive (zeros without base_lag)
    y: Optional[np.ndarray]  # (n, horizon) float32, scaled target; None when not known

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def inputs(self) -> list[np.ndarray]:
        return [self.past, self.future, self.base]

    @property
    def complete(self) -> np.ndarray:
        """(n,) True where no input holds NaN."""
        return ~(np.isnan(self.past).any(axis=(1, 2)) | np.isnan(self.future).any(axis=(1, 2))
                 | np.isnan(self.base).any(axis=1))


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
        target_lags=list(model.target_lags),
        base_lag=model.baseline_season if model.residual else None,
        future_columns=list(data.known_future_columns) if model.use_features else [],
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
    if any(lag < horizon for lag in spec.lags):
        raise ValueError(f"target lags {spec.lags} must be >= horizon {horizon}: a step's lag must be observed")
    inputs = _scaled_inputs(values, spec)
    if len(origins) and (origins.min() < spec.first_origin or origins.max() >= n):
        raise ValueError(f"origins must lie in [{spec.first_origin}, {n - 1}]")
    sliding = np.lib.stride_tricks.sliding_window_view(inputs, lookback, axis=0)  # (n-L+1, n_in, L)
    past = sliding[origins - lookback + 1].transpose(0, 2, 1).copy()  # (n_origins, L, n_in)
    steps = origins[:, None] + np.arange(1, horizon + 1)[None, :]  # (n_origins, horizon)
    target = scale_target(values[spec.target_column].to_numpy(dtype=np.float64), spec).astype(np.float32)
    parts = [target[steps - lag][..., None] for lag in spec.target_lags]
    if spec.use_calendar:
        index = values.index
        extra = pd.date_range(index[-1], periods=horizon + 1, freq=spec.frequency)[1:]
        parts.append(calendar_features(index.append(extra))[steps])
    for column in spec.future_columns:  # known at the origin: read at the steps (NaN past the frame)
        scaled = np.r_[(values[column].to_numpy(dtype=np.float64) - spec.mean[column]) / spec.std[column],
                       np.full(horizon, np.nan)].astype(np.float32)
        parts.append(scaled[steps][..., None])
        if spec.base_lag:  # and at the naive's source step: the model corrects the naive for the change
            parts.append(scaled[steps - spec.base_lag][..., None])
    parts.append(np.broadcast_to((np.arange(1, horizon + 1, dtype=np.float32) / horizon)[None, :, None],
                                 (len(origins), horizon, 1)))
    future = np.concatenate(parts, axis=-1).astype(np.float32)
    base = target[steps - spec.base_lag] if spec.base_lag else np.zeros(steps.shape, np.float32)
    y = None
    if with_targets:
        if len(origins) and steps.max() >= n:
            raise ValueError("with_targets needs every forecast step inside the frame")
        y = target[steps]
    return Windows(origins=origins, past=past, future=future, base=base.astype(np.float32), y=y)


def last_observed(values: pd.DataFrame, spec: FeatureSpec) -> int:
    """The default (latest) origin: the last row; with known-future features, the last row whose target
    is observed (the rows after it carry the forecast steps' known features)."""
    if not spec.future_columns:
        return len(values) - 1
    observed = np.flatnonzero(values[spec.target_column].notna().to_numpy())
    return int(observed[-1]) if observed.size else len(values) - 1


def complete_origins(values: pd.DataFrame, spec: FeatureSpec, start: int, stop: int, stride: int = 1,
                     season: Optional[int] = None) -> np.ndarray:
    """Origins in ``[start, stop)`` (every ``stride`` steps) whose inputs and targets hold no NaN.

    Inputs include the target lags of every forecast step; with ``season``, the
    seasonal-naive baseline's source values must be present too.
    """
    n, lookback, horizon = len(values), spec.lookback, spec.horizon
    start, stop = max(start, spec.first_origin), min(stop, n - horizon)
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
    if spec.future_columns:  # the known-future features at every forecast step
        known_nan = values[spec.future_columns].isna().any(axis=1).to_numpy()
        known_cum = np.concatenate([[0], np.cumsum(known_nan)])
        future_bad |= known_cum[origins + horizon + 1] - known_cum[origins + 1] > 0
    keep = ~(past_bad | future_bad)
    for lag in spec.lags:  # the target at steps - lag: rows origin+1-lag .. origin+horizon-lag
        keep &= tgt_cum[origins + horizon + 1 - lag] - tgt_cum[origins + 1 - lag] == 0
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
