"""Training plots (PNG files), drawn with matplotlib's Agg canvas: no display, no global state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_training_curve(history: dict[str, list[float]], path: Path, best_epoch: int | None = None) -> Path:
    """Loss and validation loss per epoch (scaled units)."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    for key, label in (("loss", "train loss"), ("val_loss", "validation loss")):
        values = history.get(key, [])
        ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
    if best_epoch:
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
    ax.set(xlabel="epoch", ylabel="MSE (scaled target)", title="Training curve")
    ax.legend()
    fig.savefig(path)
    return Path(path)


def plot_forecasts(timestamps: np.ndarray, actual: np.ndarray, forecast: np.ndarray, baseline: np.ndarray,
                   path: Path, title: str, max_windows: int = 7) -> Path:
    """Actual vs model vs baseline for the last ``max_windows`` test windows (one row each)."""
    start = max(0, len(actual) - max_windows)

    def flat(a: np.ndarray) -> np.ndarray:
        return np.asarray(a)[start:].ravel()

    when = pd.to_datetime(flat(timestamps))
    fig = _figure(11, 4)
    ax = fig.add_subplot()
    ax.plot(when, flat(actual), color="black", linewidth=1.2, label="actual")
    ax.plot(when, flat(forecast), color="tab:blue", label="LSTM forecast")
    ax.plot(when, flat(baseline), color="tab:orange", linestyle=":", label="seasonal naive")
    ax.set(title=title, ylabel="target")
    ax.legend()
    fig.autofmt_xdate()
    fig.savefig(path)
    return Path(path)
