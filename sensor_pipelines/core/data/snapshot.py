"""Turn a circuit's raw readings into a clean, immutable data snapshot.

The rules (applied in this order by :func:`prepare_snapshot`):

1. The timestamp, target and feature columns must exist; other columns are dropped.
2. Timestamps are parsed (ISO 8601, or ``timestamp_format``; tz-aware ones converted to
   UTC, then made naive); values must be numeric: text is an error unless listed in
   ``missing_values``; ``inf`` is read as missing and counted.
3. The cutoff date must not be after the day of the last reading; only readings up to the
   end of the cutoff day are kept. Readings outside a column's ``valid_range`` are an
   error, or missing with ``out_of_range: missing``.
4. Out-of-order rows are sorted; exact duplicate rows are dropped; one timestamp with
   different values is an error.
5. Every timestamp must lie on the declared frequency grid.
6. The frame is reindexed to the full regular grid; gaps (missing rows or values) of
   at most ``max_interpolate_steps`` are filled by time interpolation, longer gaps
   stay NaN (the forecaster skips windows that contain them).
   A grid mostly empty (the declared frequency finer than the data) is an error.
7. Flat-lined sensors, spikes and outliers (beyond a robust bound) are reported, never changed.

Every change and finding is counted in a :class:`QualityReport`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from sensor_pipelines.core.config.schema import DataSource
from sensor_pipelines.core.errors import AssetConflictError, DataError

FLATLINE_MIN_STEPS = 12
SPIKE_Z = 6.0
OUTLIER_Z = 20.0  # far beyond any plausible reading: 1e12 on a kW sensor, not a hot afternoon
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
    infinite_values: dict[str, int] = field(default_factory=dict)  # read as missing
    out_of_range: dict[str, int] = field(default_factory=dict)  # outside valid_range (out_of_range: missing)
    outliers: dict[str, int] = field(default_factory=dict)  # beyond the robust outlier bound, reported only

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
            ("infinite values read as missing", self.infinite_values),
            ("values outside valid_range read as missing", self.out_of_range),
            ("values left missing", self.remaining_missing),
            ("flat-line stretches", self.flatline_stretches),
            ("spikes", self.spikes),
            ("outliers beyond the robust bound", self.outliers),
        ):
            if _total(counts):
                parts.append(f"{_total(counts)} {label}{_where(counts)}")
        return "; ".join(parts)


def _total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def _where(counts: dict[str, int]) -> str:
    names = [name for name, count in counts.items() if count]
    return f" ({', '.join(names)})" if names else ""


def source_location(path: str | Path, project_root: Path, data_roots: Sequence[str] = ()) -> Path:
    """The data file's resolved path (symlinks followed), which must lie inside the project or a
    declared data root; relative paths start at ``project_root`` (data roots too)."""
    project_root = Path(project_root).resolve()
    roots = [project_root, *((project_root / r).resolve() for r in data_roots)]
    resolved = (project_root / Path(path)).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = "the project" + (" or a data root of the env (data_roots)" if data_roots else "")
        raise DataError(f"{str(path)!r} is outside {allowed}; copy the file into the project (e.g. data/) "
                        f"or declare its folder in the env config's data_roots")
    return resolved


def read_source(source: DataSource, project_root: Path, data_roots: Sequence[str] = ()) -> pd.DataFrame:
    """Read the circuit's raw readings (csv or parquet) from inside the project or a data root.

    Every value is read as written: only blank cells and the circuit's ``missing_values``
    markers are missing (so ``n/a`` is an error unless listed there).
    """
    path = source_location(source.path, project_root, data_roots)
    if not path.is_file():
        raise DataError(f"data file not found: {path} (data.path: {source.path!r}); fix data.path in the circuit config")
    if source.format not in ("csv", "parquet"):
        raise DataError(f"data.format: {source.format!r} is not supported (csv or parquet)")
    try:
        if source.format == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=False, na_values=["", *source.missing_values])
    except Exception as exc:  # any reader failure is a bad file, not a bug here; never echo its content
        raise DataError(f"cannot read {path} as {source.format} ({type(exc).__name__}); check data.format "
                        f"and that the file is a {source.format} table") from None


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
    timestamps, problem = _parse_timestamps(frame[time_col], time_col, source.timestamp_format)
    problems += [problem] if problem else []
    for col in value_cols:
        values, problem = _to_numeric(frame[col], col)
        report.infinite_values[col] = int(np.isinf(values).sum()) if problem is None else 0
        frame[col] = values.where(np.isfinite(values)) if problem is None else values
        problems += [problem] if problem else []
    _raise_if(problems, where)
    frame[time_col] = timestamps

    try:
        end = pd.Timestamp(cutoff_date).normalize() + pd.Timedelta(days=1)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cutoff_date: {cutoff_date!r} is not a date (YYYY-MM-DD)") from exc
    offset = _offset(source.frequency)
    if len(timestamps) and timestamps.max() < end - pd.Timedelta(days=1):
        latest = (timestamps.max() + offset).normalize() - pd.Timedelta(days=1)
        raise DataError(f"{where}: cutoff_date {cutoff_date} is after the last reading ({timestamps.max()}): the "
                        f"snapshot would change as readings arrive; set cutoff_date to {latest.date()} (the latest "
                        f"complete day) or earlier")
    keep = frame[time_col] < end
    report.rows_after_cutoff = int((~keep).sum())
    frame = frame[keep]
    if frame.empty:
        detail = f"data starts {timestamps.min()}" if len(timestamps) else "the data has no rows"
        raise DataError(f"{where}: no readings on or before cutoff_date {cutoff_date} ({detail})")
    frame = frame.copy()
    _raise_if([p for col in value_cols for p in _apply_valid_range(frame, col, source, report)], where)

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

    off_grid = ~_on_grid(frame[time_col], offset)
    if off_grid.any():
        raise DataError(
            f"{where}: {int(off_grid.sum())} timestamps are not on the '{source.frequency}' grid, "
            f"e.g. {_examples(frame.loc[off_grid, time_col])}; fix data.frequency or resample the data"
        )

    series = frame.set_index(time_col)
    grid = pd.date_range(series.index[0], series.index[-1], freq=offset)
    report.missing_steps = len(grid) - len(series)
    if len(grid) > 2 * len(series) + 24:  # most of the grid empty: the declared frequency is finer than the data
        typical = pd.tseries.frequencies.to_offset(series.index.to_series().diff().median()).freqstr
        raise DataError(f"{where}: {report.missing_steps} of {len(grid)} steps on the '{source.frequency}' grid have "
                        f"no reading (the readings are typically '{typical}' apart); set data.frequency to match the data")
    series = series.reindex(grid)
    for col in value_cols:
        series[col], filled = _fill_short_gaps(series[col], source.max_interpolate_steps)
        report.interpolated_values[col] = filled
        report.remaining_missing[col] = int(series[col].isna().sum())
        report.flatline_stretches[col] = count_flatlines(series[col])
        report.spikes[col] = count_spikes(series[col])
        report.outliers[col] = count_outliers(series[col])

    out = series.rename_axis(time_col).reset_index()
    out[time_col] = out[time_col].astype("datetime64[ns]")
    out[value_cols] = out[value_cols].astype("float64")
    report.rows_out = len(out)
    report.first_timestamp = out[time_col].iloc[0].isoformat()
    report.last_timestamp = out[time_col].iloc[-1].isoformat()
    return out, report


def _check_columns(raw: pd.DataFrame, source: DataSource, where: str) -> None:
    """Every configured column must exist; the message names the columns expected and how many were
    found, never the file's own header (it may not be a data file at all)."""
    wanted = [("timestamp_column", source.timestamp_column), ("target_column", source.target_column)]
    wanted += [("feature_columns", name) for name in source.feature_columns]
    missing = [(key, name) for key, name in wanted if name not in raw.columns]
    if missing:
        names = ", ".join(f"{key} {name!r}" for key, name in missing)
        raise DataError(f"Data error in {where}: {names} not among the file's {raw.shape[1]} columns; the circuit "
                        f"config expects [{', '.join(name for _, name in wanted)}]")


def _apply_valid_range(frame: pd.DataFrame, column: str, source: DataSource, report: "QualityReport") -> list[str]:
    """Readings outside the column's ``valid_range``: a problem (``reject``) or missing (``missing``)."""
    bounds = source.valid_range.get(column)
    if bounds is None:
        return []
    values = frame[column]
    outside = (values < bounds.min if bounds.min is not None else False) | (
        values > bounds.max if bounds.max is not None else False)
    count = int(np.asarray(outside).sum())
    report.out_of_range[column] = count
    if not count:
        return []
    span = f"[{'-inf' if bounds.min is None else f'{bounds.min:g}'}, {'inf' if bounds.max is None else f'{bounds.max:g}'}]"
    if source.out_of_range == "missing":
        frame[column] = values.where(~outside)
        return []
    return [f"{column}: {count} values outside valid_range {span}, e.g. at {_examples(frame.loc[outside, source.timestamp_column])}; "
            f"fix the data, widen valid_range, or set out_of_range: missing"]


def _raise_if(problems: list[str], where: str) -> None:
    if len(problems) == 1:
        raise DataError(f"Data error in {where}: {problems[0]}")
    if problems:
        raise DataError("\n".join([f"Data error in {where}:"] + [f"- {p}" for p in problems]))


def _examples(values: Any) -> str:
    shown = [str(v) for v in list(values)[:MAX_EXAMPLES]]
    return ", ".join(shown)


def _parse_timestamps(values: pd.Series, column: str, layout: Optional[str] = None) -> tuple[pd.Series, Optional[str]]:
    """Naive datetime64[ns] timestamps (UTC where the input had a zone), and a problem if any."""
    if pd.api.types.is_numeric_dtype(values):
        return values, f"{column}: values are numbers ({values.dtype}), not date-times like 2024-01-01T00:00:00"
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif layout:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format=layout)
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
        if parsed.isna().any():
            inferred = pd.to_datetime(values, errors="coerce", utc=True)
            if inferred.isna().sum() < parsed.isna().sum():
                parsed = inferred
    bad = parsed.isna()
    if bad.any():
        shown = _examples(repr(v) for v in values[bad])
        fix = (f"check data.timestamp_format {layout!r}" if layout else
               "if they have another layout (e.g. day first), set data.timestamp_format, e.g. '%d/%m/%Y %H:%M'")
        return values, f"{column}: {int(bad.sum())} values are not timestamps, e.g. {shown}; {fix}"
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]"), None


def _to_numeric(values: pd.Series, column: str) -> tuple[pd.Series, Optional[str]]:
    """float64 values (infinities kept, the caller counts them), and a problem if any are not numbers."""
    if not pd.api.types.is_numeric_dtype(values):
        text = values.astype("object").where(values.notna(), None)
        blank = text.map(lambda v: isinstance(v, str) and not v.strip())
        text = text.where(~blank, None)
        numeric = pd.to_numeric(text, errors="coerce")
        bad = numeric.isna() & text.notna()
        if bad.any():
            shown = _examples(repr(v) for v in text[bad])
            return values, (f"{column}: {int(bad.sum())} values are not numbers, e.g. {shown}; if they mark "
                            f"missing readings, list them in data.missing_values")
        values = numeric
    return values.astype("float64"), None


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


def count_outliers(values: pd.Series, z: float = OUTLIER_Z) -> int:
    """Readings beyond ``z`` robust sigmas (MAD) from the median: reported, never changed."""
    present = values.dropna()
    mad = float((present - present.median()).abs().median()) if len(present) else 0.0
    if mad == 0.0:
        return 0
    return int(((present - present.median()).abs() / (1.4826 * mad) > z).sum())


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
