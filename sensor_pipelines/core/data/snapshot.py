"""Turn a circuit's raw readings into a clean, immutable data snapshot.

The rules (applied in this order by :func:`prepare_snapshot`):

1. The timestamp, target and feature columns must exist; other columns are dropped.
2. Timestamps are parsed (tz-aware ones converted to UTC, then made naive); values
   must be numeric (``inf`` counts as missing).
3. Only readings up to the end of the cutoff day are kept.
4. Out-of-order rows are sorted; exact duplicate rows are dropped; one timestamp with
   different values is an error.
5. Every timestamp must lie on the declared frequency grid.
6. The frame is reindexed to the full regular grid; gaps (missing rows or values) of
   at most ``max_interpolate_steps`` are filled by time interpolation, longer gaps
   stay NaN (the forecaster skips windows that contain them).
7. Flat-lined sensors and spikes are reported, never changed.

Every change and finding is counted in a :class:`QualityReport`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from sensor_pipelines.core.config.schema import DataSource
from sensor_pipelines.core.errors import AssetConflictError, DataError

FLATLINE_MIN_STEPS = 12
SPIKE_Z = 6.0
MAX_EXAMPLES = 3


@dataclass
class QualityReport:
    """What :func:`prepare_snapshot` found and changed; every count is per snapshot."""

    rows_in: int
    rows_out: int = 0
    cutoff_date: str = ""
    frequency: str = ""
    first_timestamp: Optional[str] = None
    last_timestamp: Optional[str] = None
    rows_after_cutoff: int = 0
    sorted_fixed: int = 0
    duplicates_dropped: int = 0
    missing_steps: int = 0
    interpolated_values: dict[str, int] = field(default_factory=dict)
    remaining_missing: dict[str, int] = field(default_factory=dict)
    flatline_stretches: dict[str, int] = field(default_factory=dict)
    spikes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the report."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One human line: size, span and every non-zero finding."""
        first = (self.first_timestamp or "?")[:16].replace("T", " ")
        last = (self.last_timestamp or "?")[:16].replace("T", " ")
        parts = [f"{self.rows_out} rows {first}..{last} ({self.frequency})"]
        if self.rows_after_cutoff:
            parts.append(f"{self.rows_after_cutoff} rows after cutoff {self.cutoff_date} dropped")
        if self.sorted_fixed:
            parts.append(f"{self.sorted_fixed} out-of-order rows sorted")
        if self.duplicates_dropped:
            parts.append(f"{self.duplicates_dropped} duplicate rows dropped")
        parts.append(f"{self.missing_steps} missing steps")
        parts.append(f"{_total(self.interpolated_values)} values interpolated{_where(self.interpolated_values)}")
        for label, counts in (
            ("values left missing", self.remaining_missing),
            ("flat-line stretches", self.flatline_stretches),
            ("spikes", self.spikes),
        ):
            if _total(counts):
                parts.append(f"{_total(counts)} {label}{_where(counts)}")
        return "; ".join(parts)


def _total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def _where(counts: dict[str, int]) -> str:
    names = [name for name, count in counts.items() if count]
    return f" ({', '.join(names)})" if names else ""


def read_source(source: DataSource, project_root: Path) -> pd.DataFrame:
    """Read the circuit's raw readings (csv or parquet); relative paths start at ``project_root``."""
    path = Path(source.path)
    if not path.is_absolute():
        path = Path(project_root) / path
    if not path.is_file():
        raise DataError(f"data file not found: {path} (data.path: {source.path!r})")
    if source.format not in ("csv", "parquet"):
        raise DataError(f"data.format: {source.format!r} is not supported (csv or parquet)")
    try:
        if source.format == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # any reader failure is a bad file, not a bug here
        raise DataError(f"cannot read {source.format} file {path}: {exc}") from exc


def prepare_snapshot(
    raw: pd.DataFrame, source: DataSource, cutoff_date: str
) -> tuple[pd.DataFrame, QualityReport]:
    """Validate and clean raw readings up to ``cutoff_date`` into ``[timestamp, target, *features]``."""
    time_col = source.timestamp_column
    value_cols = list(dict.fromkeys([source.target_column, *source.feature_columns]))
    report = QualityReport(rows_in=len(raw), cutoff_date=cutoff_date, frequency=source.frequency)
    where = source.path

    _check_columns(raw, source, where)
    frame = raw[[time_col, *value_cols]].copy()
    problems = []
    timestamps, problem = _parse_timestamps(frame[time_col], time_col)
    problems += [problem] if problem else []
    for col in value_cols:
        values, problem = _to_numeric(frame[col], col)
        frame[col] = values
        problems += [problem] if problem else []
    _raise_if(problems, where)
    frame[time_col] = timestamps

    try:
        end = pd.Timestamp(cutoff_date).normalize() + pd.Timedelta(days=1)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cutoff_date: {cutoff_date!r} is not a date (YYYY-MM-DD)") from exc
    keep = frame[time_col] < end
    report.rows_after_cutoff = int((~keep).sum())
    frame = frame[keep]
    if frame.empty:
        detail = f"data starts {timestamps.min()}" if len(timestamps) else "the data has no rows"
        raise DataError(f"{where}: no readings on or before cutoff_date {cutoff_date} ({detail})")

    running_max = frame[time_col].cummax().shift(1)
    report.sorted_fixed = int((frame[time_col] < running_max).sum())
    frame = frame.sort_values(time_col, kind="stable")
    exact = frame.duplicated()
    report.duplicates_dropped = int(exact.sum())
    frame = frame[~exact]
    clashes = frame.loc[frame[time_col].duplicated(keep=False), time_col].unique()
    if len(clashes):
        raise DataError(
            f"{where}: {len(clashes)} timestamps have rows with different values, "
            f"e.g. {_examples(clashes)}; keep one row per timestamp"
        )

    offset = _offset(source.frequency)
    off_grid = ~_on_grid(frame[time_col], offset)
    if off_grid.any():
        raise DataError(
            f"{where}: {int(off_grid.sum())} timestamps are not on the '{source.frequency}' grid, "
            f"e.g. {_examples(frame.loc[off_grid, time_col])}; fix data.frequency or resample the data"
        )

    series = frame.set_index(time_col)
    grid = pd.date_range(series.index[0], series.index[-1], freq=offset)
    report.missing_steps = len(grid) - len(series)
    series = series.reindex(grid)
    for col in value_cols:
        series[col], filled = _fill_short_gaps(series[col], source.max_interpolate_steps)
        report.interpolated_values[col] = filled
        report.remaining_missing[col] = int(series[col].isna().sum())
        report.flatline_stretches[col] = count_flatlines(series[col])
        report.spikes[col] = count_spikes(series[col])

    out = series.rename_axis(time_col).reset_index()
    out[time_col] = out[time_col].astype("datetime64[ns]")
    out[value_cols] = out[value_cols].astype("float64")
    report.rows_out = len(out)
    report.first_timestamp = out[time_col].iloc[0].isoformat()
    report.last_timestamp = out[time_col].iloc[-1].isoformat()
    return out, report


def _check_columns(raw: pd.DataFrame, source: DataSource, where: str) -> None:
    present = [str(c) for c in raw.columns]
    listing = f"[{', '.join(present)}]"
    wanted = [("timestamp_column", source.timestamp_column), ("target_column", source.target_column)]
    wanted += [("feature_columns", name) for name in source.feature_columns]
    problems = [f"{key}: {name!r} not in data columns {listing}" for key, name in wanted if name not in raw.columns]
    _raise_if(problems, where)


def _raise_if(problems: list[str], where: str) -> None:
    if len(problems) == 1:
        raise DataError(f"Data error in {where}: {problems[0]}")
    if problems:
        raise DataError("\n".join([f"Data error in {where}:"] + [f"- {p}" for p in problems]))


def _examples(values: Any) -> str:
    shown = [str(v) for v in list(values)[:MAX_EXAMPLES]]
    return ", ".join(shown)


def _parse_timestamps(values: pd.Series, column: str) -> tuple[pd.Series, Optional[str]]:
    """Naive datetime64[ns] timestamps (UTC where the input had a zone), and a problem if any."""
    if pd.api.types.is_numeric_dtype(values):
        return values, f"{column}: values are numbers ({values.dtype}), not date-times like 2024-01-01T00:00:00"
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
        if parsed.isna().any():
            inferred = pd.to_datetime(values, errors="coerce", utc=True)
            if inferred.isna().sum() < parsed.isna().sum():
                parsed = inferred
    bad = parsed.isna()
    if bad.any():
        shown = _examples(repr(v) for v in values[bad])
        return values, f"{column}: {int(bad.sum())} values are not timestamps, e.g. {shown}"
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]"), None


def _to_numeric(values: pd.Series, column: str) -> tuple[pd.Series, Optional[str]]:
    """float64 values (blank cells and inf become NaN), and a problem if any are not numbers."""
    if not pd.api.types.is_numeric_dtype(values):
        text = values.astype("object").where(values.notna(), None)
        blank = text.map(lambda v: isinstance(v, str) and not v.strip())
        text = text.where(~blank, None)
        numeric = pd.to_numeric(text, errors="coerce")
        bad = numeric.isna() & text.notna()
        if bad.any():
            shown = _examples(repr(v) for v in text[bad])
            return values, f"{column}: {int(bad.sum())} values are not numbers, e.g. {shown}"
        values = numeric
    values = values.astype("float64")
    return values.where(np.isfinite(values)), None


def _offset(frequency: str) -> pd.DateOffset:
    try:
        return pd.tseries.frequencies.to_offset(frequency)
    except ValueError as exc:
        raise DataError(f"data.frequency: {frequency!r} is not a pandas frequency (e.g. 'h', '15min')") from exc


def _on_grid(timestamps: pd.Series, offset: pd.DateOffset) -> pd.Series:
    """True where a timestamp sits on the frequency grid (e.g. whole hours for 'h')."""
    try:
        return timestamps.dt.floor(offset) == timestamps
    except ValueError:  # calendar frequencies (W, MS, ...) cannot be floored
        midnight = timestamps.dt.normalize() == timestamps
        return midnight & timestamps.map(offset.is_on_offset).astype(bool)


def _fill_short_gaps(values: pd.Series, max_steps: int) -> tuple[pd.Series, int]:
    """Interpolate interior NaN runs of at most ``max_steps``; longer runs stay NaN."""
    missing = values.isna()
    if not missing.any() or max_steps <= 0:
        return values, 0
    run_id = (missing != missing.shift()).cumsum()
    run_len = missing.groupby(run_id).transform("sum")
    filled = values.interpolate(method="time", limit_area="inside")
    fill = missing & (run_len <= max_steps) & filled.notna()
    return values.where(~fill, filled), int(fill.sum())


def count_flatlines(values: pd.Series, min_steps: int = FLATLINE_MIN_STEPS) -> int:
    """Number of runs of at least ``min_steps`` identical consecutive (non-NaN) values."""
    run_id = (values != values.shift()).cumsum()
    return int((values.groupby(run_id).count() >= min_steps).sum())


def count_spikes(values: pd.Series, z: float = SPIKE_Z) -> int:
    """Number of single readings that jump away from both neighbours by more than ``z`` robust sigmas.

    The height of a spike is the smaller of its two jumps (same sign on both sides, so a
    level shift is not a spike); sigma is the MAD of the step-to-step changes.
    """
    before, after = values - values.shift(1), values - values.shift(-1)
    height = np.where(np.sign(before) == np.sign(after), np.minimum(before.abs(), after.abs()), 0.0)
    steps = values.diff().dropna()
    mad = float((steps - steps.median()).abs().median()) if len(steps) else 0.0
    if mad == 0.0:
        return 0
    return int((0.6745 * height / mad > z).sum())


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and values: identical content, identical hash."""
    digest = hashlib.sha256()
    header = [[str(name), str(dtype)] for name, dtype in frame.dtypes.items()]
    digest.update(json.dumps({"columns": header, "rows": len(frame)}).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def ensure_same_snapshot(name: str, version: str, existing_hash: str | None, digest: str, registered: str = "",
                         where: str = "") -> None:
    """Raise the immutable-version error unless the registered snapshot holds ``digest``."""
    if existing_hash != digest:
        raise AssetConflictError(
            f"Data asset {name}:{version} already exists{where} with different content "
            f"({registered or 'registered earlier'}). "
            f"Versions are immutable: set a new cutoff_date to register a new snapshot."
        )
