"""Benchmark the CLI and the pipeline run: start-up latency, first run vs fully reused run.

Prints a table: figure, value, goal, pass/fail. Runs in a temporary copy of conf/,
so the repository's own .mlops workspace is left alone.

    python bench/bench_cli.py [--model lstm]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "sensor_pipelines"]


def timed(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="lstm", help="model profile for the pipeline runs (default: lstm)")
    parser.add_argument("--circuit", default="PLANT1_CIRC1")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "conf", project / "conf")
        help_s = min(timed([*CLI, "--help"], project)[0] for _ in range(3))
        rows.append(("sensor-pipelines --help", f"{help_s:.2f} s", "< 2 s", help_s < 2))
        err_s, proc = timed([*CLI, "train", "--circuit", args.circuit, "model.lookback=abc"], project)
        rows.append(("config error (exit 2)", f"{err_s:.2f} s", "< 2 s", err_s < 2 and proc.returncode == 2))
        train = [*CLI, "train", "--circuit", args.circuit, f"model={args.model}"]
        first_s, proc = timed(train, project)
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            return 1
        second_s, proc = timed(train, project)
        reused = "all nodes reused" in proc.stdout
        rows.append((f"first run ({args.model})", f"{first_s:.1f} s", "", None))
        rows.append(("second run, nothing changed", f"{second_s:.1f} s", "all nodes reused", reused))
        ratio = second_s / first_s
        rows.append(("reused / first", f"{ratio:.1%}", "<= 10%", ratio <= 0.10))
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
          f"Python {platform.python_version()}")
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>10}  {'goal':<18} result")
    for name, value, goal, ok in rows:
        verdict = "" if ok is None else ("pass" if ok else "FAIL")
        print(f"{name:<{width}}  {value:>10}  {goal:<18} {verdict}")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
