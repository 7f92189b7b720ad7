"""The validation gate after a multi-circuit training: check, tag, report.

For every trained circuit: take the evaluation metrics of its pipeline run, check
them against the circuit's thresholds (with the env's overrides), tag the model
version (``validated``, ``build_id``) and write JSON and Markdown reports. The gate
fails closed: a failed run, a missing metric or a failed check is ``validated=false``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensor_pipelines.backends.base import Workspace
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import write_json_atomic, write_text_atomic
from sensor_pipelines.core.forecasting.evaluation import apply_thresholds
from sensor_pipelines.fleet.results import CircuitResult


def gate_circuit(result: CircuitResult, config: RunConfig | None, workspace: Workspace) -> dict[str, Any]:
    """The gate's row for one circuit's training result (no tagging)."""
    thresholds = config.env.thresholds.apply(config.circuit.thresholds) if config else None
    row: dict[str, Any] = {"circuit": result["circuit"], "status": result.get("status"),
                           "model_name": result.get("model_name"), "model_version": result.get("model_version")}
    metrics: dict[str, Any] = {}
    if result.get("status") == "completed" and result.get("run_id"):
        try:
            metrics = workspace.pipeline_output_json(result["run_id"], "evaluate", "verdict", "verdict.json")["metrics"]
        except (UserError, KeyError, OSError) as exc:
            row["error"] = f"metrics unavailable: {exc}"
    else:
        row["error"] = result.get("error", "training did not complete")
    if thresholds is None:
        verdict = {"passed": False, "checks": []}
        row["error"] = row.get("error") or "circuit config unavailable"
    else:
        verdict = apply_thresholds(metrics, thresholds)
    row.update(validated=bool(verdict["passed"]) and result.get("status") == "completed",
               checks=verdict["checks"], baseline_mae=metrics.get("baseline", {}).get("mae"))
    row["reasons"] = verdict.get("reasons", [])
    return row


def run_gate(results: list[CircuitResult], configs: dict[str, RunConfig | None], workspace: Workspace,
             build_id: str, out_dir: Path) -> list[dict[str, Any]]:
    """Check every circuit, tag its model version, write validation_report.json and .md."""
    rows = [gate_circuit(result, configs.get(result["circuit"]), workspace) for result in results]
    for row in rows:  # a model that cannot be tagged fails closed; the others are still tagged
        if row["model_name"] and row["model_version"]:
            try:
                workspace.set_model_version_tags(row["model_name"], str(row["model_version"]),
                                                 {"validated": "true" if row["validated"] else "false",
                                                  "build_id": build_id})
            except UserError as exc:
                row.update(validated=False, error=f"tagging failed: {exc}")
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "validation_report.json", {"build_id": build_id, "circuits": rows})
    write_text_atomic(out_dir / "validation_report.md", format_report(rows, build_id))
    return rows


def note(row: dict[str, Any]) -> str:
    """Why a circuit failed: its error, else the failed checks' reasons."""
    return row.get("error") or "; ".join(row.get("reasons", []))


def format_report(rows: list[dict[str, Any]], build_id: str) -> str:
    """The gate's Markdown report: one row per circuit, each check with value and limit."""
    lines = [f"# Validation report (build {build_id})", "",
             "| circuit | model | validated | MAE | RMSE | R² | MAE / naive | baseline MAE | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        checks = {c["metric"]: c for c in row["checks"]}

        def cell(metric: str) -> str:
            check = checks.get(metric)
            if not check or check["value"] != check["value"]:  # missing or NaN
                return "missing"
            return f"{check['value']:.3f} {'✓' if check['passed'] else '✗'} ({check['op']} {check['limit']:g})"

        model = f"{row['model_name']} v{row['model_version']}" if row["model_version"] else "-"
        baseline = f"{row['baseline_mae']:.3f}" if isinstance(row.get("baseline_mae"), (int, float)) else "-"
        lines.append(f"| {row['circuit']} | {model} | {'yes' if row['validated'] else 'NO'} | {cell('mae')} | "
                     f"{cell('rmse')} | {cell('r2')} | {cell('mae_ratio')} | {baseline} | {note(row)} |")
    passed = sum(r["validated"] for r in rows)
    lines += ["", f"{passed} of {len(rows)} circuits validated."]
    return "\n".join(lines) + "\n"
