"""Deterministic sample readings for the demo circuits (no download needed).

Hourly multi-sensor data with daily and weekly seasonality, an annual
temperature cycle, temperature-driven load, noise and a few realistic faults:
short gaps (missing rows), a flat-lined voltage sensor, load spikes and a few
missing temperature readings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_START = "2024-01-01"
SAMPLE_END = "2026-02-28 23:00"


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """An AR(1) noise series (weather fronts, slow load drifts)."""
    shocks = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    out[0] = shocks[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def generate_sample_readings(
    seed: int, start: str = SAMPLE_START, end: str = SAMPLE_END, faults: bool = True
) -> pd.DataFrame:
    """Readings of one circuit: timestamp, load_kw, ambient_temp_c, voltage_v, humidity_pct."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, end, freq="h")
    n = len(index)
    hour = index.hour.to_numpy()
    dow = index.day_of_week.to_numpy()
    doy = index.day_of_year.to_numpy()

    temp = (
        11.0
        + 9.0 * np.sin(2 * np.pi * (doy - 110) / 365.25)
        + 4.0 * np.sin(2 * np.pi * (hour - 9) / 24)
        + _ar1(rng, n, 0.985, 0.45)
    )
    humidity = np.clip(68 - 1.3 * (temp - 11) + _ar1(rng, n, 0.95, 1.5), 15, 100)

    base = rng.uniform(30, 60)
    shift_start, shift_end = rng.integers(6, 9), rng.integers(17, 21)
    on_shift = (hour >= shift_start) & (hour < shift_end)
    weekday = dow < 5
    daily = np.where(on_shift, 1.0, 0.55) + 0.12 * np.sin(2 * np.pi * (hour - 14) / 24)
    weekly = np.where(weekday, 1.0, rng.uniform(0.45, 0.65))
    cooling = 1.4 * np.clip(temp - 19, 0, None)
    heating = 0.9 * np.clip(9 - temp, 0, None)
    load = base * daily * weekly + cooling + heating + _ar1(rng, n, 0.9, 0.9) + rng.normal(0, 0.8, n)
    load = np.clip(load, 0, None)
    voltage = 231 - 0.04 * load + rng.normal(0, 0.4, n)

    frame = pd.DataFrame(
        {
            "timestamp": index,
            "load_kw": load.round(3),
            "ambient_temp_c": temp.round(2),
            "voltage_v": voltage.round(2),
            "humidity_pct": humidity.round(1),
        }
    )
    if faults:
        frame = _inject_faults(frame, rng)
    return frame.reset_index(drop=True)


def _inject_faults(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(frame)
    frame = frame.copy()
    for _ in range(2):  # flat-lined voltage sensor for a day
        at = int(rng.integers(200, n - 200))
        frame.loc[at : at + 23, "voltage_v"] = frame.loc[at, "voltage_v"]
    spikes = rng.integers(100, n - 100, size=5)  # load spikes
    frame.loc[spikes, "load_kw"] = (frame.loc[spikes, "load_kw"] * 2.5).round(3)
    missing_temp = rng.integers(100, n - 100, size=6)  # dropped temperature readings
    frame.loc[missing_temp, "ambient_temp_c"] = np.nan
    drop = []
    for _ in range(8):  # short outages: rows missing entirely
        at = int(rng.integers(100, n - 100))
        drop.extend(range(at, at + int(rng.integers(1, 4))))
    return frame.drop(index=drop)


def write_sample_readings(path: str | Path, seed: int, fmt: str = "csv") -> Path:
    """Generate a circuit's sample readings into ``path`` (csv or parquet), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_sample_readings(seed)
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    tmp.replace(path)
    return path
