"""Data-quality checks on a sensor frame, declared as one pandera schema.

:func:`build_schema` turns a :class:`QualitySpec` into a ``pandera.DataFrameSchema``;
:func:`check_quality` parses the timestamp column, validates with ``lazy=True`` (every
failure, not the first) and turns pandera's failure cases into :class:`Finding` s.

Checks (``Finding.check``; ``count`` is what is counted):

- ``column_present``: a spec column is missing (1 per column);
- ``timestamp_dtype``: the timestamp column is not datetime after parsing (1);
- ``timestamp_parseable``: non-empty timestamp cells that do not parse (cells);
- ``timestamp_not_null``: empty timestamp cells (cells);
- ``timestamp_unique``: repeated timestamps (rows beyond the first of each timestamp);
- ``timestamp_monotonic``: timestamps earlier than the row before, i.e. backward steps (rows);
- ``timestamp_gaps``: points of the frequency grid missing between first and last (points);
- ``numeric_dtype``: a value column is not numeric (1);
- ``missing_rate``: share of missing values above ``max_missing_rate`` (missing cells);
- ``value_range``: values outside the column's [min, max] (values);
- ``flatline``: values in runs of >= ``flatline_min_run`` identical consecutive values;
  a missing value ends a run (values);
- ``not_empty``: the frame has no rows (0).

Findings carry counts, thresholds from the spec and at most a few example timestamps, never
cell contents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

N_EXAMPLES = 3


@dataclass(frozen=True)
class ValueRange:
    """Valid range of a value column; None leaves that side open. Bounds are inclusive."""

    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}")


@dataclass(frozen=True)
class QualitySpec:
    """What a clean frame looks like.

    ``frequency`` is a fixed pandas frequency ("h", "15min"; None: no gap check);
    ``ranges`` maps value columns to their valid range.
    """

    timestamp_column: str
    value_columns: tuple[str, ...]
    ranges: Mapping[str, ValueRange] = field(default_factory=dict)
    max_missing_rate: float = 0.05
    frequency: str | None = "h"
    flatline_min_run: int = 12

    def __post_init__(self) -> None:
        if isinstance(self.value_columns, str):
            raise TypeError("value_columns must be a sequence of names, not one string")
        object.__setattr__(self, "value_columns", tuple(self.value_columns))
        if not self.value_columns:
            raise ValueError("value_columns must name at least one column")
        if self.timestamp_column in self.value_columns:
            raise ValueError(f"{self.timestamp_column!r} is both the timestamp and a value column")
        unknown = sorted(set(self.ranges) - set(self.value_columns))
        if unknown:
            raise ValueError(f"ranges for columns that are not value columns: {unknown}")
        if not 0.0 <= self.max_missing_rate <= 1.0:
            raise ValueError(f"max_missing_rate must be in [0, 1], got {self.max_missing_rate}")
        if self.flatline_min_run < 2:
            raise ValueError(f"flatline_min_run must be >= 2, got {self.flatline_min_run}")
        if self.frequency is not None:
            step = frequency_step(self.frequency)
            if step <= pd.Timedelta(0):
                raise ValueError(f"frequency must be positive, got {self.frequency!r}")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> QualitySpec:
        """From a config mapping: ``ranges`` as ``{column: {min: .., max: ..}}``."""
        ranges = {name: ValueRange(**bounds) for name, bounds in (spec.get("ranges") or {}).items()}
        return cls(**{**spec, "ranges": ranges})


@dataclass(frozen=True)
class Finding:
    """One failed check: which, on which column (None: the frame), how many, and why."""

    check: str
    column: str | None
    count: int
    detail: str
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**asdict(self), "examples": list(self.examples)}


@dataclass(frozen=True)
class QualityResult:
    """All findings of one validation; ``passed`` when there are none."""

    passed: bool
    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"passed": self.passed, "findings": [f.to_dict() for f in self.findings]}


def frequency_step(frequency: str) -> pd.Timedelta:
    """The fixed step of a pandas frequency string; ValueError for calendar ones ("MS")."""
    try:
        return pd.Timedelta(pd.tseries.frequencies.to_offset(frequency))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"frequency must be a fixed pandas frequency such as 'h', got {frequency!r}") from exc


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _is_datetime(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series)


def _all_true(series: pd.Series) -> pd.Series:
    return pd.Series(True, index=series.index)


def _monotonic(series: pd.Series) -> pd.Series | bool:
    if not _is_datetime(series):
        return True
    return ~(series < series.shift(1))


def _first_of_each(series: pd.Series) -> pd.Series | bool:
    if not _is_datetime(series):
        return True
    return ~series.duplicated(keep="first")


def grid_gaps(timestamps: pd.Series, step: pd.Timedelta,
              n_examples: int = 3) -> tuple[int, tuple[pd.Timestamp, ...]]:
    """Grid points (first timestamp + k * step) missing between the first and last timestamp.

    Returns their number and the first ``n_examples`` of them (never the full list, so a stray
    timestamp years off stays cheap). Timestamps off the grid fill nothing: a gap of length d
    misses ceil(d / step) - 1 points.
    """
    ts = pd.DatetimeIndex(timestamps.dropna().unique()).sort_values()
    if len(ts) < 2:
        return 0, ()
    offsets = np.unique((ts - ts[0]) // step)
    missing = np.diff(offsets) - 1
    examples: list[pd.Timestamp] = []
    for before, n_missing in zip(offsets[:-1], missing):
        if len(examples) >= n_examples:
            break
        examples.extend(ts[0] + (int(before) + k) * step for k in range(1, min(int(n_missing), n_examples) + 1))
    return int(missing.sum()), tuple(examples[:n_examples])


def _run_ids(series: pd.Series) -> pd.Series:
    """Label of each run of identical consecutive values; NaN != NaN, so a missing value ends a run."""
    return series.ne(series.shift()).cumsum()


def _flatline_mask(series: pd.Series, min_run: int) -> pd.Series:
    """True for values in a run of >= min_run identical consecutive non-missing values."""
    run_id = _run_ids(series)
    return (run_id.map(run_id.value_counts()) >= min_run) & series.notna()


def _value_checks(spec: QualitySpec, column: str) -> list[pa.Check]:
    def numeric_only(fn: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
        return lambda s: fn(s) if _is_numeric(s) else _all_true(s)

    checks = [
        pa.Check(lambda s: _is_numeric(s), name="numeric_dtype"),
        pa.Check(lambda s: bool(s.isna().mean() <= spec.max_missing_rate) if len(s) else True,
                 name="missing_rate", ignore_na=False),
        pa.Check(numeric_only(lambda s: ~_flatline_mask(s, spec.flatline_min_run)),
                 name="flatline", ignore_na=False),
    ]
    bounds = spec.ranges.get(column)
    if bounds is not None and (bounds.min is not None or bounds.max is not None):
        low = -np.inf if bounds.min is None else bounds.min
        high = np.inf if bounds.max is None else bounds.max
        checks.append(pa.Check(numeric_only(lambda s: s.between(low, high)), name="value_range"))
    return checks


def build_schema(spec: QualitySpec) -> pa.DataFrameSchema:
    """The pandera schema of ``spec``: columns present, types, and the checks listed above.

    Validate with ``lazy=True`` to collect every failure. The timestamp column must already
    be datetime (:func:`check_quality` parses strings first). No dtype is pinned on value
    columns (int and float both pass); the ``numeric_dtype`` check types them instead.
    """
    ts_checks = [
        pa.Check(_is_datetime, name="timestamp_dtype"),
        pa.Check(_first_of_each, name="timestamp_unique"),
        pa.Check(_monotonic, name="timestamp_monotonic"),
    ]
    if spec.frequency is not None:
        step = frequency_step(spec.frequency)
        ts_checks.append(pa.Check(lambda s: not _is_datetime(s) or grid_gaps(s, step, 0)[0] == 0,
                                  name="timestamp_gaps"))
    columns = {spec.timestamp_column: pa.Column(nullable=False, checks=ts_checks)}
    for column in spec.value_columns:
        columns[column] = pa.Column(nullable=True, checks=_value_checks(spec, column))
    return pa.DataFrameSchema(columns, strict=False, ordered=False, name="sensor_quality")


def _iso(values: Any) -> tuple[str, ...]:
    return tuple(pd.Timestamp(v).isoformat() for v in list(values)[:N_EXAMPLES] if not pd.isna(v))


def _prepare(frame: pd.DataFrame, spec: QualitySpec) -> tuple[pd.DataFrame, list[Finding], np.ndarray]:
    """Positional index, duplicate column labels dropped, the timestamp column parsed.

    Returns the frame, findings found on the way and the positions of unparseable timestamps.
    """
    findings: list[Finding] = []
    wanted = [spec.timestamp_column, *spec.value_columns]
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()] if c in wanted})
    for column in repeated:
        findings.append(Finding("column_unique", column, int((frame.columns == column).sum()),
                                "column label appears more than once; the first is checked"))
    prepared = frame.loc[:, ~frame.columns.duplicated()].reset_index(drop=True)
    unparseable = np.empty(0, dtype=np.int64)
    ts_col = spec.timestamp_column
    if ts_col in prepared.columns and (pd.api.types.is_object_dtype(prepared[ts_col])
                                       or pd.api.types.is_string_dtype(prepared[ts_col])):
        raw = prepared[ts_col]
        try:
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # mixed time-zone offsets
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed", utc=True)
        bad = parsed.isna() & raw.notna() & raw.astype(str).str.strip().ne("")
        unparseable = np.flatnonzero(bad.to_numpy())
        if unparseable.size:
            rows = ", ".join(str(i) for i in unparseable[:N_EXAMPLES])
            findings.append(Finding("timestamp_parseable", ts_col, int(unparseable.size),
                                    f"timestamps that do not parse (first row positions: {rows})"))
        prepared = prepared.assign(**{ts_col: parsed})
    return prepared, findings, unparseable


def _rows(cases: pd.DataFrame) -> np.ndarray:
    index = pd.to_numeric(cases["index"], errors="coerce").dropna()
    return np.unique(index.to_numpy(dtype=np.int64))


def _findings_from_cases(cases: pd.DataFrame, frame: pd.DataFrame, spec: QualitySpec,
                         unparseable: np.ndarray) -> list[Finding]:
    """One Finding per (column, check) of pandera's failure cases, counted from the frame."""
    ts_col = spec.timestamp_column
    ts = frame[ts_col] if ts_col in frame.columns else None

    def examples(rows: np.ndarray) -> tuple[str, ...]:
        return () if ts is None or not _is_datetime(ts) else _iso(ts.iloc[rows[:N_EXAMPLES]])

    findings: list[Finding] = []
    for check in cases.loc[cases["check"] == "column_in_dataframe", "failure_case"]:
        findings.append(Finding("column_present", str(check), 1, "required column is missing"))
    cases = cases[cases["check"] != "column_in_dataframe"]
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        column, check, rows = str(column), str(check), _rows(group)
        if check == "not_nullable" and column == ts_col:
            rows = np.setdiff1d(rows, unparseable)
            if rows.size:
                findings.append(Finding("timestamp_not_null", column, int(rows.size),
                                        "empty timestamp cells"))
        elif check in ("timestamp_dtype", "numeric_dtype"):
            findings.append(Finding(check, column, 1, f"dtype {frame[column].dtype} is not "
                                    + ("datetime" if check == "timestamp_dtype" else "numeric")))
        elif check == "timestamp_gaps":
            n_missing, first = grid_gaps(frame[column], frequency_step(spec.frequency or ""), N_EXAMPLES)
            findings.append(Finding(check, column, n_missing,
                                    f"points missing on the {spec.frequency!r} grid", _iso(first)))
        elif check == "missing_rate":
            n_missing = int(frame[column].isna().sum())
            findings.append(Finding(check, column, n_missing,
                                    f"missing-value rate {n_missing / len(frame):.3f} above "
                                    f"{spec.max_missing_rate}",
                                    examples(np.flatnonzero(frame[column].isna().to_numpy()))))
        elif check == "flatline":
            mask = _flatline_mask(frame[column], spec.flatline_min_run)
            run_id = _run_ids(frame[column])
            lengths = run_id[mask].value_counts()
            starts = np.flatnonzero((mask & run_id.ne(run_id.shift())).to_numpy())
            findings.append(Finding(check, column, int(mask.sum()),
                                    f"{len(lengths)} run(s) of >= {spec.flatline_min_run} identical "
                                    f"consecutive values, longest {int(lengths.max())}", examples(starts)))
        elif check == "value_range":
            bounds = spec.ranges[column]
            findings.append(Finding(check, column, int(rows.size),
                                    f"values outside [{bounds.min}, {bounds.max}]", examples(rows)))
        elif check == "timestamp_unique":
            findings.append(Finding(check, column, int(rows.size), "repeated timestamps", examples(rows)))
        elif check == "timestamp_monotonic":
            findings.append(Finding(check, column, int(rows.size),
                                    "timestamps earlier than the row before them", examples(rows)))
        else:  # a pandera-internal failure (e.g. a check that raised): report it, no values
            findings.append(Finding(check, column, max(int(rows.size), 1), "pandera check failed"))
    return findings


def check_quality(frame: pd.DataFrame, spec: QualitySpec) -> QualityResult:
    """Validate ``frame`` against ``spec``, collecting every failure (pandera ``lazy=True``)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("frame must be a pandas DataFrame")
    prepared, findings, unparseable = _prepare(frame, spec)
    if len(prepared) == 0:
        findings.append(Finding("not_empty", None, 0, "the frame has no rows"))
    try:
        build_schema(spec).validate(prepared, lazy=True)
    except SchemaErrors as errors:
        findings.extend(_findings_from_cases(errors.failure_cases, prepared, spec, unparseable))
    order = {name: i for i, name in enumerate([spec.timestamp_column, *spec.value_columns])}
    findings.sort(key=lambda f: (f.column is not None, order.get(f.column, len(order))))
    return QualityResult(passed=not findings, findings=findings)
