"""Benchmark the CLI and the pipeline run: start-up latency, first run vs fully reused run.

Prints a table: figure, value, goal, pass/fail. Runs in a temporary copy of conf/,
so the repository's own .mlops workspace is left alone.

    python bench/bench_cli.py [--model lstm] [--json PATH]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from common import CLI, REPO, finish, timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="lstm", help="model profile for the pipeline runs (default: lstm)")
    parser.add_argument("--circuit", default="PLANT1_CIRC1")
    parser.add_argument("--json", help="also write the rows as JSON here")
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
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
