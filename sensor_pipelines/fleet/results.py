"""The one schema of a circuit's training result, as the ``train`` verb writes it and the gate reads it.

One JSON object per circuit (``--result-file``, a CI matrix job's artifact), or a list of them
(``train_results.json`` of a fan-out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from sensor_pipelines.app.training import TrainingOutcome
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import read_json, write_json_atomic

RESULTS_FILE = "train_results.json"


class CircuitResult(TypedDict, total=False):
    """A circuit's training result; ``circuit`` and ``status`` are always there."""

    circuit: str
    status: str  # completed | failed (a RunStatus value)
    error: str
    run_id: str
    run_dir: str
    reused_all: bool
    model_name: str
    model_version: int
    registered_new: bool
    validated: bool
    mae: float
    rmse: float
    r2: float
    mape: float
    baseline_mae: float
    # added by the fan-out
    exit_code: int
    seconds: float
    log: str
    started: float
    ended: float


def failed_result(circuit: str, error: str) -> CircuitResult:
    return {"circuit": circuit, "status": "failed", "error": error}


def outcome_result(outcome: TrainingOutcome) -> CircuitResult:
    """The result of one circuit's training run."""
    run = outcome.run
    result: CircuitResult = {"circuit": outcome.circuit, "status": str(run.status), "run_id": run.run_id,
                             "run_dir": run.run_dir, "reused_all": run.reused_all}
    if outcome.registration:
        result.update(model_name=outcome.registration["name"], model_version=outcome.registration["version"],
                      registered_new=outcome.registration.get("created"))
    if outcome.verdict:
        metrics = outcome.verdict.get("metrics", {}).get("model", {})
        result.update(validated=bool(outcome.verdict.get("passed")),
                      **{k: metrics.get(k) for k in ("mae", "rmse", "r2", "mape")})
        result["baseline_mae"] = outcome.verdict.get("metrics", {}).get("baseline", {}).get("mae")
    failed = run.failed_node
    if failed:
        result["error"] = f"node {failed.name} failed: " + " | ".join(failed.error_tail[-3:])
    return result


def write_result(path: str | Path, result: CircuitResult) -> None:
    write_json_atomic(path, result)


def read_results(path: Path) -> list[CircuitResult]:
    """Training results: a ``train_results.json`` list, or a folder of per-circuit result files.

    A folder (CI: one downloaded artifact folder per matrix job) is read one level deep,
    ``*.json`` and ``*/*.json``; files that are not training results are skipped.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.glob("*.json"), *path.glob("*/*.json")])
    elif path.is_file():
        files = [path]
    else:
        raise UserError(f"no training results at {path}: run `make train-changed` first")
    results: list[CircuitResult] = []
    for file in files:
        try:
            data = read_json(file)
        except ValueError as exc:
            raise UserError(f"{file}: not JSON ({type(exc).__name__}); run the training again") from None
        entries = [e for e in (data if isinstance(data, list) else [data]) if isinstance(e, dict) and "circuit" in e]
        if not entries and path.is_file():
            raise UserError(f"{file}: not a training results file (no entries with a 'circuit')")
        results += entries
    return results


def failed_circuits(out_dir: Path, results_file: str = RESULTS_FILE) -> list[str]:
    """Circuits that did not complete in the last fan-out written to ``out_dir``."""
    path = Path(out_dir) / results_file
    if not path.is_file():
        return []
    return [r["circuit"] for r in read_results(path) if r.get("status") != "completed"]


def save_results(out_dir: Path, results: list[CircuitResult], keep_previous: bool = False,
                 results_file: str = RESULTS_FILE) -> Path:
    """Write ``train_results.json`` (or ``results_file``); with ``keep_previous`` (a retry) other circuits'
    results stay."""
    path = Path(out_dir) / results_file
    previous = read_results(path) if keep_previous and path.is_file() else []
    merged = {r["circuit"]: r for r in previous} | {r["circuit"]: r for r in results}
    return write_json_atomic(path, list(merged.values()))
