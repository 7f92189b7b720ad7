"""Run every benchmark in bench/ and print one table: figure, value, goal, pass/fail.

The convention a benchmark script ``bench/bench_*.py`` follows:

- ``--json PATH`` makes it also write its rows to PATH as a JSON list of
  ``{"figure": str, "value": str, "goal": str, "passed": true | false | null}``
  (``null``: a figure without a goal); it still prints its own table;
- it exits non-zero when a goal is missed;
- optionally a module-level ``QUICK_ARGS = [...]`` (a literal list of strings): the
  arguments ``--quick`` adds to its command line for a shorter run.

Each script runs in its own subprocess, one after the other (they time themselves);
its output goes to ``<out-dir>/<script>.log`` and its rows to ``<out-dir>/<script>.json``.
A script that crashes or writes no rows shows up as a FAIL row with its exit code.

    python bench/run_all.py [--quick] [--only training,accuracy] [--out-dir build/bench] [--json PATH]
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from common import REPO, machine_info

BENCH = REPO / "bench"
ORDER = ("bench_training.py", "bench_cli.py", "bench_accuracy.py")  # first, in this order; then the rest by name


def bench_scripts(only: Optional[list[str]]) -> list[Path]:
    """``bench/bench_*.py``: the known ones first, then any other by name; ``only`` filters by substring."""
    scripts = sorted(BENCH.glob("bench_*.py"), key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER),
                                                               p.name))
    if only:
        scripts = [p for p in scripts if any(word in p.name for word in only)]
    return scripts


def quick_args(script: Path) -> list[str]:
    """The script's ``QUICK_ARGS`` (read from its source, not imported), or []."""
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "QUICK_ARGS" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
            raise ValueError(f"{script.name}: QUICK_ARGS must be a list of strings")
    return []


def run_script(script: Path, quick: bool, out_dir: Path) -> tuple[list[dict[str, Any]], float, int]:
    """Run one script; return its rows, wall seconds and exit code."""
    rows_file, log_file = out_dir / f"{script.stem}.json", out_dir / f"{script.stem}.log"
    rows_file.unlink(missing_ok=True)
    argv = [sys.executable, str(script), "--json", str(rows_file), *(quick_args(script) if quick else [])]
    print(f"running {' '.join([script.name, *argv[2:]])} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with log_file.open("w") as log:
        code = subprocess.run(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    print(f"  {seconds:.0f} s, exit {code}; output in {log_file}", file=sys.stderr, flush=True)
    rows = json.loads(rows_file.read_text()) if rows_file.is_file() else []
    if not rows:
        rows = [{"figure": "rows (--json)", "value": f"none, exit {code}", "goal": "exit 0 with rows", "passed": False}]
    elif code != 0 and all(row.get("passed") is not False for row in rows):
        rows.append({"figure": "exit code", "value": str(code), "goal": "0", "passed": False})
    return rows, seconds, code


def print_table(results: list[tuple[str, list[dict[str, Any]], float]]) -> None:
    """One table over all scripts: script, figure, value, goal, result."""
    lines = [("script", "figure", "value", "goal", "result")]
    for name, rows, seconds in results:
        lines.append((name, "wall time (whole script)", f"{seconds:.0f} s", "", ""))
        for row in rows:
            passed = row.get("passed")
            lines.append(("", str(row["figure"]), str(row["value"]), str(row.get("goal", "")),
                          "" if passed is None else ("pass" if passed else "FAIL")))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    for i, line in enumerate(lines):
        if i > 1 and line[0]:  # a blank line between scripts
            print()
        print(f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:>{widths[2]}}  {line[3]:<{widths[3]}}  "
              f"{line[4]}".rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass each script's QUICK_ARGS (shorter runs)")
    parser.add_argument("--only", help="comma-separated substrings of script names, e.g. training,accuracy")
    parser.add_argument("--out-dir", default=str(REPO / "build" / "bench"), help="logs and rows (default: build/bench)")
    parser.add_argument("--json", help="also write every row (with its script) as JSON here")
    args = parser.parse_args()

    scripts = bench_scripts(args.only.split(",") if args.only else None)
    if not scripts:
        print(f"no bench_*.py in {BENCH} matches --only {args.only!r}", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    results = []
    for script in scripts:
        rows, seconds, _ = run_script(script, args.quick, out_dir)
        results.append((script.name, rows, seconds))

    print()
    for label, value in info:
        print(f"{label + ':':<23}{value}")
    print(f"{'mode:':<23}{'quick (QUICK_ARGS)' if args.quick else 'full'}")
    print()
    print_table(results)
    failed = [f"{name}: {row['figure']}" for name, rows, _ in results for row in rows if row.get("passed") is False]
    print()
    print(f"{len(failed)} goal(s) missed" + (": " + "; ".join(failed) if failed else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": dict(info), "quick": args.quick, "rows": [
            {"script": name, **row} for name, rows, _ in results for row in rows]}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
