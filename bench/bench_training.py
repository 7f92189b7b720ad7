"""Benchmark the default forecaster on PLANT1_CIRC1's sample data: accuracy vs the weekly
seasonal naive, and training time (the Keras fit incl. early stopping; TF import excluded).

Prints a table: figure, value, goal, pass/fail. Writes nothing outside a temporary folder.

    python bench/bench_training.py [--circuit PLANT1_CIRC1] [--json PATH] [hydra overrides, e.g. model.lookback=48]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, finish

GOAL_RATIO = 0.85
GOAL_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuit", default="PLANT1_CIRC1")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=lstm_smoke model.epochs=5")
    args = parser.parse_args()

    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.core.data.sample import generate_sample_readings
    from sensor_pipelines.core.data.snapshot import prepare_snapshot
    from sensor_pipelines.core.forecasting.training import train_circuit_model

    run = load_run_config(args.circuit, overrides=args.overrides, config_dir=REPO / "conf").circuit_run
    source = run.circuit.data
    raw = generate_sample_readings(source.sample_seed if source.sample_seed is not None else 11)
    frame, quality = prepare_snapshot(raw, source, run.circuit.cutoff_date)
    print(f"data: {quality.summary()}")

    start = time.perf_counter()
    import tensorflow  # noqa: F401  (import time is not training time)

    import_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        report = train_circuit_model(run, frame, out / "model", out / "metrics", out / "artifacts")
        total_s = time.perf_counter() - start

    m, b = report["model"], report["baseline"]
    model = run.model
    print(f"model: {model.name} lookback {model.lookback} horizon {model.horizon} lstm {model.lstm_units} "
          f"dense {model.dense_units} batch {model.batch_size} stride {model.train_stride} lr {model.learning_rate} "
          f"epochs <= {model.epochs} patience {model.patience}")
    rows = [
        ("tensorflow import (excluded)", f"{import_s:.1f} s", "", None),
        ("train seconds (fit)", f"{report['train_seconds']:.1f} s", f"<= {GOAL_SECONDS:.0f} s",
         report["train_seconds"] <= GOAL_SECONDS),
        ("train + score + save", f"{total_s:.1f} s", "", None),
        ("epochs run (best)", f"{report['epochs_run']} ({report['best_epoch']})", "", None),
        ("train windows", str(report["n_train_windows"]), "", None),
        ("test windows (day-ahead)", str(report["n_test_windows"]), "", None),
        ("model MAE", f"{m['mae']:.3f}", "", None),
        (f"baseline MAE ({b['name']})", f"{b['mae']:.3f}", "", None),
        ("MAE ratio model/baseline", f"{report['mae_ratio']:.3f}", f"<= {GOAL_RATIO}", report["mae_ratio"] <= GOAL_RATIO),
        ("model RMSE / R² / MAPE", f"{m['rmse']:.2f} / {m['r2']:.3f} / {m['mape']:.1f}%", "", None),
        ("baseline RMSE / R² / MAPE", f"{b['rmse']:.2f} / {b['r2']:.3f} / {b['mape']:.1f}%", "", None),
    ]
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
