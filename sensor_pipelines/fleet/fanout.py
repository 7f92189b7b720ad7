"""Run one command per circuit, at most ``max_parallel`` at a time, each in its own process.

Each circuit runs as its own process (for training: the ``train`` verb; locally the
single-circuit pipeline, on Azure ML one pipeline job, submitted and streamed), so a failing
or crashing circuit never takes the others down. Each process writes its result JSON; its
output goes to a log file next to it.

The processes are forked from a multiprocessing fork server that has already imported what
the caller names in ``preload`` (seconds per process otherwise), where the platform has one;
elsewhere they are spawned. Each child gets the caller's current environment variables and
working directory, and TensorFlow thread pools sized to its share of the cores unless the
caller's environment sets them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Protocol, Sequence

from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import read_json
from sensor_pipelines.fleet.results import RESULTS_FILE, CircuitResult, failed_result, save_results

Child = Callable[[Sequence[str]], int]  # an importable function: argv -> exit code


class FanoutProgress(Protocol):
    """What the caller is told while the fan-out runs."""

    def started(self, circuit: str) -> None: ...
    def finished(self, result: CircuitResult) -> None: ...


def run_many(circuits: list[str], *, child: Child, argv: Callable[[str, Path], list[str]], max_parallel: int,
             out_dir: Path, progress: FanoutProgress, preload: Sequence[str] = (),
             keep_previous: bool = False, results_file: str = RESULTS_FILE) -> list[CircuitResult]:
    """Run ``child(argv(circuit, result_file))`` per circuit in parallel processes.

    Returns one result per circuit, in input order, and writes ``out_dir/<results_file>``
    (``train_results.json`` by default);
    with ``keep_previous`` (a retry) the results of the other circuits already there are kept.
    """
    if max_parallel < 1:
        raise UserError(f"max_parallel must be at least 1, got {max_parallel}")
    out_dir = Path(out_dir)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    context = _process_context(preload, out_dir / "logs" / "forkserver.log")
    environ = {**thread_settings(max_parallel), **os.environ}  # what the user set wins
    lock = threading.Lock()

    def one(circuit: str) -> CircuitResult:
        result_file = out_dir / "results" / f"{circuit}.json"
        exit_file = result_file.with_suffix(".exit")
        result_file.unlink(missing_ok=True)
        exit_file.unlink(missing_ok=True)
        log_file = out_dir / "logs" / f"{circuit}.log"
        with lock:
            progress.started(circuit)
        started, start = time.time(), time.monotonic()
        process = context.Process(target=_run_child,
                                  args=(child, argv(circuit, result_file), str(log_file), environ, os.getcwd(),
                                        str(exit_file)),
                                  name=f"circuit-{circuit}")
        process.start()
        process.join()
        code = exit_code(process.exitcode, exit_file)
        # the process died before it could say anything (config error, crash)
        result = read_json(result_file) if result_file.is_file() else failed_result(circuit, _tail(log_file))
        result.update(exit_code=code, seconds=round(time.monotonic() - start, 1), log=str(log_file),
                      started=started, ended=time.time())
        if code != 0 and result.get("status") == "completed":
            result["status"] = "failed"
        with lock:
            progress.finished(result)
        return result

    results: dict[str, CircuitResult] = {}
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        futures = {pool.submit(one, c): c for c in circuits}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException:  # Ctrl-C: start no more circuits (the running ones get the signal too)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    ordered = [results[c] for c in circuits]
    save_results(out_dir, ordered, keep_previous=keep_previous, results_file=results_file)
    return ordered


def thread_settings(max_parallel: int) -> dict[str, str]:
    """TensorFlow's thread pools sized to share the cores among ``max_parallel`` circuits: by default each
    process sizes them to every core, and two fits on 2 cores then run about a third slower."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = str(max(1, cores // max_parallel))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}


def _process_context(preload: Sequence[str], log_file: Path) -> multiprocessing.context.BaseContext:
    """A fork server that preloads ``preload``, or spawn where there is no fork server.

    The server starts now with its stderr in ``log_file``: importing TensorFlow there prints C++ log
    lines that would otherwise reach the console."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    sys.stderr.flush()
    fd, saved = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), os.dup(2)
    try:
        os.dup2(fd, 2)
        forkserver.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    return context


def exit_code(reported: int | None, exit_file: Path) -> int | None:
    """The circuit process's exit code. The fork server reports 255 when it lost the child's status (seen
    about once in 50 fan-outs here, after the circuit had finished and written its result); the code the
    child wrote itself just before exiting is used then."""
    if reported == 255 and exit_file.is_file():
        with contextlib.suppress(ValueError):
            return int(exit_file.read_text())
    return reported


def _run_child(child: Child, argv: list[str], log_file: str, environ: dict[str, str], cwd: str,
               exit_file: str) -> None:
    """Child process: ``child(argv)`` with stdout and stderr in ``log_file``; its exit code also in ``exit_file``."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for stream in (1, 2):
        os.dup2(fd, stream)
    os.close(fd)
    try:
        code = child(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    Path(exit_file).write_text(str(code))
    sys.exit(code)


def _tail(log_file: Path, lines: int = 3) -> str:
    text = log_file.read_text(errors="replace").strip().splitlines() if log_file.is_file() else []
    return " | ".join(text[-lines:]) or "no output"
