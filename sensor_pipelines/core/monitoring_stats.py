"""Drift statistics shared by the monitoring components and the notebooks.

Reference = the training frame (or the forecasts the model made on its own test windows);
target = a recent window of production inputs (or recent forecasts). Per column:

- two-sample Kolmogorov-Smirnov (``scipy.stats.ks_2samp``): statistic D and p-value;
- population stability index (PSI), bins from reference quantiles (see
  :func:`population_stability_index`);
- the share of target values outside the reference range [min, max].

Non-finite values (NaN, +-inf) are dropped before any statistic. Data problems (a column
missing, not numeric, or with too few values) become findings, never exceptions; bad
arguments (a negative threshold, a non-frame input) raise ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp


@dataclass(frozen=True)
class DriftThresholds:
    """When a column drifts. Any one rule crossed is enough:

    - KS: ``ks_pvalue < ks_pvalue_max`` **and** ``ks_statistic >= ks_statistic_min``. With
      thousands of (autocorrelated) hourly points the p-value alone is tiny for differences
      nobody cares about, and with a few dozen points D alone is noisy; requiring both asks
      for a difference that is significant *and* large. Two iid samples of 2,000 values give
      D ~ 0.03 (99.9th percentile ~ 0.06; AR(1) noise with phi = 0.8 on a daily cycle stays
      below ~0.065), so 0.1 leaves a margin, yet for a normal variable D reaches 0.1 at a mean
      shift of 0.25 standard deviations or a 1.55x change of spread.
    - PSI: ``psi > psi_max`` (0.2 is the usual "significant shift" level; 0.1-0.2 is "watch").
      Under no drift PSI ~ (bins - 1) * (1/n_ref + 1/n_target): ~0.01 for 2,000 vs 2,000
      values, but ~0.4 for a 24-value window, so keep target windows to hundreds of values.
    - out of range: ``out_of_range_share > out_of_range_max``. For the same distribution the
      expected share outside the reference [min, max] is ~2 / (n_ref + 1), i.e. ~0.1 % for a
      few thousand reference values; 5 % means the model extrapolates on a real part of the
      window.

    Columns with fewer than ``min_values`` finite values on either side get a finding instead
    of statistics. ``psi_bins`` is the number of reference-quantile bins.
    """

    ks_pvalue_max: float = 0.01
    ks_statistic_min: float = 0.1
    psi_max: float = 0.2
    out_of_range_max: float = 0.05
    min_values: int = 20
    psi_bins: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.ks_pvalue_max <= 1.0:
            raise ValueError(f"ks_pvalue_max must be in (0, 1], got {self.ks_pvalue_max}")
        if not 0.0 <= self.ks_statistic_min <= 1.0:
            raise ValueError(f"ks_statistic_min must be in [0, 1], got {self.ks_statistic_min}")
        if not self.psi_max >= 0.0:
            raise ValueError(f"psi_max must be >= 0, got {self.psi_max}")
        if not 0.0 <= self.out_of_range_max <= 1.0:
            raise ValueError(f"out_of_range_max must be in [0, 1], got {self.out_of_range_max}")
        if self.min_values < 2:
            raise ValueError(f"min_values must be >= 2, got {self.min_values}")
        if self.psi_bins < 2:
            raise ValueError(f"psi_bins must be >= 2, got {self.psi_bins}")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics of one column. Statistics are None when ``finding`` says why not."""

    column: str
    ks_statistic: float | None
    ks_pvalue: float | None
    psi: float | None
    out_of_range_share: float | None
    drifted: bool
    reasons: list[str] = field(default_factory=list)
    n_reference: int = 0
    n_target: int = 0
    finding: str | None = None
    limits: dict[str, float] | None = None  # the thresholds this column was judged with

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of every column checked; ``findings`` are columns that could not be checked."""

    features: list[FeatureDrift]
    drifted_columns: list[str]
    findings: list[str]
    thresholds: DriftThresholds

    @property
    def drifted(self) -> bool:
        """True when at least one column drifted."""
        return bool(self.drifted_columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "drifted": self.drifted,
            "drifted_columns": list(self.drifted_columns),
            "findings": list(self.findings),
            "thresholds": asdict(self.thresholds),
            "features": [f.to_dict() for f in self.features],
        }


@dataclass(frozen=True)
class StepError:
    """Realised error of one horizon step (``step`` None: all steps together)."""

    step: int | None
    n: int
    mae: float | None
    rmse: float | None
    r2: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class RealisedError:
    """Error of past forecasts against the actuals that have arrived since.

    ``mae_ratio`` = overall MAE / ``validated_mae``; ``degraded`` when it exceeds
    ``max_mae_ratio``. Both None when there is nothing to compare.
    """

    overall: StepError
    steps: list[StepError]
    validated_mae: float | None
    mae_ratio: float | None
    max_mae_ratio: float
    degraded: bool | None
    n_forecasts: int
    n_matched: int
    findings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "overall": self.overall.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "validated_mae": self.validated_mae,
            "mae_ratio": self.mae_ratio,
            "max_mae_ratio": self.max_mae_ratio,
            "degraded": self.degraded,
            "n_forecasts": self.n_forecasts,
            "n_matched": self.n_matched,
            "findings": list(self.findings),
        }


def _finite(values: Any) -> np.ndarray:
    """1-D float array with NaN and +-inf dropped."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _nonempty(reference: np.ndarray, target: np.ndarray) -> None:
    if reference.size == 0 or target.size == 0:
        raise ValueError("reference and target need at least one finite value each")


def psi_bin_edges(reference: Any, bins: int = 10) -> np.ndarray:
    """Interior bin edges for PSI: the reference quantiles at 1/bins, ..., (bins-1)/bins.

    numpy's default (linear) quantiles; repeated edges (ties, discrete data) are merged, so
    fewer bins may result. The outer bins are open: (-inf, e1) and [e_last, +inf), so target
    values beyond the reference range land in the end bins. Bins are [e_i, e_i+1).
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    ref = _finite(reference)
    if ref.size == 0:
        raise ValueError("reference needs at least one finite value")
    return np.unique(np.quantile(ref, np.arange(1, bins) / bins))


def population_stability_index(reference: Any, target: Any, bins: int = 10,
                               epsilon: float = 1e-4) -> float:
    """PSI = sum over bins of (t - r) * ln(t / r), r and t the reference and target shares.

    Bins come from :func:`psi_bin_edges`. A bin empty on one side has its share replaced by
    ``epsilon`` (1e-4, shares are not renormalised) so the log stays finite; an empty bin
    then contributes about ``share * ln(share / 1e-4)`` (~1.5 for a 20 % bin).
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    ref, tgt = _finite(reference), _finite(target)
    _nonempty(ref, tgt)
    edges = psi_bin_edges(ref, bins)
    n_bins = edges.size + 1
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=n_bins) / ref.size
    tgt_share = np.bincount(np.searchsorted(edges, tgt, side="right"), minlength=n_bins) / tgt.size
    ref_share = np.where(ref_share == 0, epsilon, ref_share)
    tgt_share = np.where(tgt_share == 0, epsilon, tgt_share)
    return float(np.sum((tgt_share - ref_share) * np.log(tgt_share / ref_share)))


def out_of_range_share(reference: Any, target: Any) -> float:
    """Share of target values strictly below the reference min or above its max."""
    ref, tgt = _finite(reference), _finite(target)
    _nonempty(ref, tgt)
    outside = (tgt < ref.min()) | (tgt > ref.max())
    return float(outside.mean())


def feature_drift(reference: Any, target: Any, column: str,
                  thresholds: DriftThresholds | None = None) -> FeatureDrift:
    """KS, PSI and out-of-range share of one column, and whether it drifted.

    Non-finite values are dropped first; fewer than ``thresholds.min_values`` on either side
    gives a finding and no statistics.
    """
    thresholds = thresholds or DriftThresholds()
    ref, tgt = _finite(reference), _finite(target)
    if ref.size < thresholds.min_values or tgt.size < thresholds.min_values:
        return FeatureDrift(
            column=column, ks_statistic=None, ks_pvalue=None, psi=None, out_of_range_share=None,
            drifted=False, reasons=[], n_reference=int(ref.size), n_target=int(tgt.size),
            finding=(f"too few finite values (reference {ref.size}, target {tgt.size}; "
                     f"need {thresholds.min_values} each)"),
        )
    ks = ks_2samp(ref, tgt)
    statistic, pvalue = float(ks.statistic), float(ks.pvalue)
    psi = population_stability_index(ref, tgt, bins=thresholds.psi_bins)
    outside = out_of_range_share(ref, tgt)
    reasons = []
    if pvalue < thresholds.ks_pvalue_max and statistic >= thresholds.ks_statistic_min:
        reasons.append("ks")
    if psi > thresholds.psi_max:
        reasons.append("psi")
    if outside > thresholds.out_of_range_max:
        reasons.append("out_of_range")
    return FeatureDrift(
        column=column, ks_statistic=statistic, ks_pvalue=pvalue, psi=psi,
        out_of_range_share=outside, drifted=bool(reasons), reasons=reasons,
        n_reference=int(ref.size), n_target=int(tgt.size),
        limits={"ks_statistic_min": thresholds.ks_statistic_min, "ks_pvalue_max": thresholds.ks_pvalue_max,
                "psi_max": thresholds.psi_max, "out_of_range_max": thresholds.out_of_range_max},
    )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _unchecked(column: str, finding: str) -> FeatureDrift:
    return FeatureDrift(column=column, ks_statistic=None, ks_pvalue=None, psi=None,
                        out_of_range_share=None, drifted=False, reasons=[], finding=finding)


def detect_drift(reference: pd.DataFrame, target: pd.DataFrame,
                 columns: Sequence[str] | None = None,
                 thresholds: DriftThresholds | None = None,
                 per_column: Mapping[str, DriftThresholds] | None = None) -> DriftResult:
    """Drift of each column (features and the target column) between two frames.

    ``columns`` defaults to the reference's numeric (non-bool) columns. A column missing
    from either frame, not numeric, or with too few finite values gets a finding.
    ``per_column`` limits (see :func:`calibrated_thresholds`) win over ``thresholds``.
    """
    if not isinstance(reference, pd.DataFrame) or not isinstance(target, pd.DataFrame):
        raise TypeError("reference and target must be pandas DataFrames")
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not one string")
    thresholds = thresholds or DriftThresholds()
    if columns is None:
        columns = [c for c in reference.columns if _is_numeric(reference[c])]
    features: list[FeatureDrift] = []
    for column in columns:
        missing = [name for name, frame in (("reference", reference), ("target", target))
                   if column not in frame.columns]
        if missing:
            features.append(_unchecked(column, f"column missing from {' and '.join(missing)}"))
            continue
        not_numeric = [name for name, frame in (("reference", reference), ("target", target))
                       if not _is_numeric(frame[column])]
        if not_numeric:
            features.append(_unchecked(column, f"column not numeric in {' and '.join(not_numeric)}"))
            continue
        limits = (per_column or {}).get(column, thresholds)
        features.append(feature_drift(reference[column], target[column], str(column), limits))
    return DriftResult(
        features=features,
        drifted_columns=[f.column for f in features if f.drifted],
        findings=[f"{f.column}: {f.finding}" for f in features if f.finding],
        thresholds=thresholds,
    )


def prediction_drift(reference: pd.DataFrame | pd.Series, target: pd.DataFrame | pd.Series,
                     column: str = "forecast",
                     thresholds: DriftThresholds | None = None) -> DriftResult:
    """Drift of recent forecasts against reference forecasts (the model's own test windows).

    Same statistics and result as :func:`detect_drift`, for one column (``column`` of each
    frame, or the Series themselves). All horizon steps are pooled.
    """
    def as_frame(data: pd.DataFrame | pd.Series) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, pd.Series):
            return data.rename(column).to_frame()
        raise TypeError("forecasts must be a pandas DataFrame or Series")

    return detect_drift(as_frame(reference), as_frame(target), [column], thresholds)


def _step_error(step: int | None, actual: np.ndarray, forecast: np.ndarray) -> StepError:
    n = int(actual.size)
    if n == 0:
        return StepError(step=step, n=0, mae=None, rmse=None, r2=None)
    error = forecast - actual
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / ss_tot if ss_tot > 0 else None
    return StepError(step=step, n=n, mae=float(np.mean(np.abs(error))),
                     rmse=float(np.sqrt(np.mean(error**2))), r2=r2)


def realised_error(forecasts: pd.DataFrame, actuals: pd.DataFrame,
                   validated_mae: float | None = None,
                   max_mae_ratio: float = 1.5) -> RealisedError:
    """MAE, RMSE and R² of past forecasts per horizon step and overall.

    ``forecasts``: columns origin, timestamp, step, forecast (one row per forecast value);
    ``actuals``: columns timestamp, value. Forecasts are matched to actuals on timestamp;
    forecasts whose actual has not arrived (or is NaN) are left out. A repeated actual
    timestamp keeps its first value (a finding). ``mae_ratio`` compares the overall MAE with
    ``validated_mae`` (the MAE from validation); ``degraded`` when the ratio exceeds
    ``max_mae_ratio`` (default 1.5: realised error 50 % worse than validated). R² is None
    with fewer than 2 points or constant actuals.
    """
    if not isinstance(forecasts, pd.DataFrame) or not isinstance(actuals, pd.DataFrame):
        raise TypeError("forecasts and actuals must be pandas DataFrames")
    if validated_mae is not None and not (math.isfinite(validated_mae) and validated_mae > 0):
        raise ValueError(f"validated_mae must be a finite number > 0, got {validated_mae}")
    if not max_mae_ratio > 0:
        raise ValueError(f"max_mae_ratio must be > 0, got {max_mae_ratio}")

    def empty(findings: list[str], n_forecasts: int = 0) -> RealisedError:
        return RealisedError(overall=_step_error(None, np.empty(0), np.empty(0)), steps=[],
                             validated_mae=validated_mae, mae_ratio=None,
                             max_mae_ratio=max_mae_ratio, degraded=None,
                             n_forecasts=n_forecasts, n_matched=0, findings=findings)

    findings: list[str] = []
    for name, frame, required in (("forecasts", forecasts, ("origin", "timestamp", "step", "forecast")),
                                  ("actuals", actuals, ("timestamp", "value"))):
        absent = [c for c in required if c not in frame.columns]
        if absent:
            findings.append(f"{name}: missing column(s) {', '.join(absent)}")
    if findings:
        return empty(findings, len(forecasts))

    fc = forecasts[["origin", "timestamp", "step", "forecast"]].copy()
    act = actuals[["timestamp", "value"]].copy()
    for name, frame, value in (("forecasts", fc, "forecast"), ("actuals", act, "value")):
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], errors="coerce")
        frame[value] = pd.to_numeric(frame[value], errors="coerce")
        unparseable = int(frame["timestamp"].isna().sum())
        if unparseable:
            findings.append(f"{name}: {unparseable} row(s) without a parseable timestamp left out")
    fc["step"] = pd.to_numeric(fc["step"], errors="coerce")
    if fc["step"].isna().any():
        findings.append(f"forecasts: {int(fc['step'].isna().sum())} row(s) without a numeric step left out")
    if (fc["timestamp"].dt.tz is None) != (act["timestamp"].dt.tz is None):
        findings.append("forecasts and actuals timestamps differ in time-zone awareness")
        return empty(findings, len(forecasts))
    duplicated = act["timestamp"].dropna().duplicated()
    if duplicated.any():
        findings.append(f"actuals: {int(duplicated.sum())} repeated timestamp(s), first value kept")
    act = act.dropna(subset=["timestamp"]).drop_duplicates("timestamp", keep="first")
    fc = fc.dropna(subset=["timestamp", "step"])
    # one resolution on both sides so the join is exact (pandas 3 may infer us or ns)
    fc["timestamp"] = fc["timestamp"].dt.as_unit("ns")
    act["timestamp"] = act["timestamp"].dt.as_unit("ns")
    joined = fc.merge(act, on="timestamp", how="inner").dropna(subset=["forecast", "value"])

    steps = [
        _step_error(int(step), group["value"].to_numpy(np.float64), group["forecast"].to_numpy(np.float64))
        for step, group in joined.groupby("step", sort=True)
    ]
    overall = _step_error(None, joined["value"].to_numpy(np.float64), joined["forecast"].to_numpy(np.float64))
    ratio = overall.mae / validated_mae if validated_mae is not None and overall.mae is not None else None
    return RealisedError(
        overall=overall, steps=steps, validated_mae=validated_mae, mae_ratio=ratio,
        max_mae_ratio=max_mae_ratio, degraded=None if ratio is None else ratio > max_mae_ratio,
        n_forecasts=int(len(forecasts)), n_matched=int(len(joined)), findings=findings,
    )


def seasonal_reference(reference: pd.DataFrame, timestamp_column: str, target_times: Any,
                       season_days: int, min_rows: int) -> tuple[pd.DataFrame, str]:
    """The reference rows within ``season_days`` days of the year of any target day, and what was taken.

    Sensors follow the seasons: a week of December compared with two years of readings always
    "drifts". With fewer than ``min_rows`` such rows (less than a year of history) the whole
    reference is returned.
    """
    times = pd.to_datetime(reference[timestamp_column])
    days = np.unique(pd.DatetimeIndex(pd.to_datetime(target_times)).day_of_year.to_numpy())
    if days.size == 0:
        return reference, "the whole training data (no target days)"
    offset = (times.dt.day_of_year.to_numpy()[:, None] - days[None, :] + 183) % 366 - 183
    near = np.abs(offset).min(axis=1) <= season_days
    if int(near.sum()) < min_rows:
        return reference, f"the whole training data (fewer than {min_rows} rows within {season_days} days of the season)"
    return reference.loc[near], f"{int(near.sum())} training rows within {season_days} days of the window's days of the year"


def calibrated_thresholds(reference: pd.DataFrame, columns: Sequence[str], window: int, floors: DriftThresholds,
                          margin: float = 1.25) -> dict[str, DriftThresholds]:
    """Per-column drift limits from the reference's own variation.

    The reference is cut into consecutive windows of ``window`` rows; each window is compared with
    the rest (leave-one-window-out) and the largest KS statistic, PSI and out-of-range share any
    window reaches, times ``margin``, becomes that column's limit, never below ``floors``. A target
    window then drifts only when it is further from the reference than normal operation ever was.
    With fewer than 3 windows the floors are used.
    """
    limits = {}
    n_windows = len(reference) // window if window > 0 else 0
    for column in columns:
        if column not in reference.columns or not _is_numeric(reference[column]) or n_windows < 3:
            limits[column] = floors
            continue
        values = reference[column].to_numpy(np.float64)
        worst = np.zeros(3)
        for i in range(n_windows):
            inside = np.zeros(len(values), dtype=bool)
            inside[i * window:(i + 1) * window] = True
            stats = feature_drift(values[~inside], values[inside], column, floors)
            if stats.ks_statistic is not None:
                worst = np.maximum(worst, [stats.ks_statistic, stats.psi, stats.out_of_range_share])
        limits[column] = DriftThresholds(
            ks_pvalue_max=floors.ks_pvalue_max,
            ks_statistic_min=float(min(1.0, max(floors.ks_statistic_min, margin * worst[0]))),
            psi_max=float(max(floors.psi_max, margin * worst[1])),
            out_of_range_max=float(min(1.0, max(floors.out_of_range_max, margin * worst[2]))),
            min_values=floors.min_values, psi_bins=floors.psi_bins)
    return limits
