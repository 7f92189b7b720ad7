"""Train many circuits at once, at most ``max_parallel`` at a time.

Each circuit runs as its own ``sensor-pipelines train`` process (locally the
single-circuit pipeline; on Azure ML one pipeline job, submitted and streamed),
so a failing or crashing circuit never takes the others down. Each process writes
its result JSON; its output goes to a log file next to it.

The processes are forked from a multiprocessing fork server that has already imported
the CLI and the pipeline (azure-ai-ml, mldesigner, the components: seconds per
process otherwise), where the platform has one; elsewhere they are spawned. Each child
gets the caller's current environment variables and working directory.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

from sensor_pipelines.fileio import read_json, write_json_atomic

Echo = Callable[[str], None]
RESULTS_FILE = "train_results.json"


def train_many(circuits: list[str], *, env: str, overrides: list[str], config_dir: str, max_parallel: int,
               out_dir: Path, force: bool = False, keep_previous: bool = False,
               echo: Echo = print) -> list[dict[str, Any]]:
    """Train ``circuits`` in parallel processes; returns one result per circuit, in input order.

    Writes ``out_dir/train_results.json``; with ``keep_previous`` (a retry) the results of
    the other circuits already there are kept, so the gate still sees the whole build.
    """
    from sensor_pipelines.errors import UserError

    if max_parallel < 1:
        raise UserError(f"max_parallel must be at least 1, got {max_parallel}")
    out_dir = Path(out_dir)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    done = 0
    lock = threading.Lock()

    def one(circuit: str) -> dict[str, Any]:
        nonlocal done
        result_file = out_dir / "results" / f"{circuit}.json"
        result_file.unlink(missing_ok=True)
        log_file = out_dir / "logs" / f"{circuit}.log"
        argv = ["train", "--circuit", circuit, "--env", env, "--config-dir", config_dir,
                "--result-file", str(result_file), *(["--force"] if force else []), *overrides]
        started, start = time.time(), time.monotonic()
        process = context.Process(target=_run_cli, args=(argv, str(log_file), dict(os.environ), os.getcwd()),
                                  name=f"train-{circuit}")
        process.start()
        process.join()
        code = process.exitcode
        seconds = round(time.monotonic() - start, 1)
        if result_file.is_file():
            result = read_json(result_file)
        else:  # the process died before it could say anything (config error, crash)
            result = {"circuit": circuit, "status": "failed", "error": _tail(log_file)}
        result.update(exit_code=code, seconds=seconds, log=str(log_file), started=started, ended=time.time())
        if code != 0 and result.get("status") == "completed":
            result["status"] = "failed"
        with lock:
            done += 1
            echo(f"[{done}/{len(circuits)}] {format_progress(result)}")
        return result

    context = _process_context()
    echo(f"Training {len(circuits)} circuits, at most {max_parallel} at a time (logs in {out_dir / 'logs'})")
    results: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        futures = {pool.submit(one, c): c for c in circuits}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException:  # Ctrl-C: start no more circuits (the running ones get the signal too)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    ordered = [results[c] for c in circuits]
    previous = read_json(out_dir / RESULTS_FILE) if keep_previous and (out_dir / RESULTS_FILE).is_file() else []
    merged = {r["circuit"]: r for r in previous} | {r["circuit"]: r for r in ordered}
    write_json_atomic(out_dir / RESULTS_FILE, list(merged.values()))
    return ordered


PRELOAD = ["sensor_pipelines.cli", "sensor_pipelines.workflows", "sensor_pipelines.pipelines.training"]


def _process_context() -> multiprocessing.context.BaseContext:
    """A fork server that preloads the CLI and the pipeline, or spawn where there is no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _run_cli(argv: list[str], log_file: str, environ: dict[str, str], cwd: str) -> None:
    """Child process: ``sensor-pipelines <argv>`` with stdout and stderr in ``log_file``."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for stream in (1, 2):
        os.dup2(fd, stream)
    os.close(fd)
    from sensor_pipelines.cli import main

    try:
        code = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


def failed_circuits(out_dir: Path) -> list[str]:
    """Circuits that did not complete in the last ``train_many`` run."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    return [r["circuit"] for r in read_json(path) if r.get("status") != "completed"]


def _tail(log_file: Path, lines: int = 3) -> str:
    text = log_file.read_text(errors="replace").strip().splitlines() if log_file.is_file() else []
    return " | ".join(text[-lines:]) or "no output"


def format_progress(result: dict[str, Any]) -> str:
    if result.get("status") != "completed":
        return f"{result['circuit']} FAILED after {result.get('seconds', 0):.0f} s: {result.get('error', '')[-300:]}"
    return (f"{result['circuit']} completed in {result['seconds']:.0f} s: {result.get('model_name')} "
            f"v{result.get('model_version')}, MAE {result.get('mae', float('nan')):.3f}, "
            f"{'PASSED' if result.get('validated') else 'not validated'}")


def format_results(results: list[dict[str, Any]]) -> str:
    """The end-of-run summary table, one row per circuit."""
    header = ("circuit", "status", "model", "MAE", "RMSE", "R²", "verdict", "seconds", "run")
    rows = [header]
    for r in results:
        ok = r.get("status") == "completed"
        num = (lambda k: f"{r[k]:.3f}" if ok and isinstance(r.get(k), (int, float)) else "-")
        rows.append((r["circuit"], r.get("status", "?"), f"v{r['model_version']}" if ok else "-", num("mae"),
                     num("rmse"), num("r2"), ("PASSED" if r.get("validated") else "FAILED") if ok else "-",
                     f"{r.get('seconds', 0):.0f}", r.get("run_dir") or r.get("log", "")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    failed = sum(r.get("status") != "completed" for r in results)
    lines.append(f"{len(results) - failed} completed, {failed} failed")
    return "\n".join(lines)


def outcome_result(outcome) -> dict[str, Any]:
    """The JSON a ``train`` process leaves for the fan-out (from a TrainingOutcome)."""
    run = outcome.run
    result: dict[str, Any] = {"circuit": outcome.circuit, "status": run.status, "run_id": run.run_id,
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


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    write_json_atomic(path, result)
