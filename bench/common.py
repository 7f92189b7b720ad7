"""What every ``bench/bench_*.py`` shares: its rows, its table, its ``--json`` file, its exit code.

A row is ``(figure, value, goal, passed)``; ``passed`` is None for a figure without a goal.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "sensor_pipelines"]
Row = tuple[str, str, str, Optional[bool]]


def write_circuits(root: Path, n: int) -> list[str]:
    """``root/conf``: the project's config with ``n`` circuits PLANTp_CIRCc (20 per plant), copies of the demo
    circuit PLANT1_CIRC1 with their own sample seeds (1000 + i); returns their names."""
    import shutil

    shutil.copytree(REPO / "conf", root / "conf")
    template = (root / "conf/circuit/PLANT1_CIRC1.yaml").read_text()
    for path in (root / "conf/circuit").glob("*.yaml"):
        path.unlink()
    names = []
    for i in range(n):
        plant, circuit = f"PLANT{i // 20 + 1}", f"CIRC{i % 20 + 1}"
        name = f"{plant}_{circuit}"
        text = (template.replace("plant_id: PLANT1", f"plant_id: {plant}")
                .replace("circuit_id: CIRC1", f"circuit_id: {circuit}")
                .replace("PLANT1_CIRC1", name)
                .replace("sample_seed: 11", f"sample_seed: {1000 + i}"))
        (root / "conf/circuit" / f"{name}.yaml").write_text(text)
        names.append(name)
    return names


def timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``argv`` in ``cwd``, capturing its output; return (wall seconds, the finished process)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def finish(rows: list[Row], json_path: Optional[str]) -> int:
    """Print the machine and the rows as a table, write the rows to ``json_path`` if given; 1 if a goal
    was missed, else 0."""
    print("machine: " + "; ".join(f"{label} {value}" for label, value in machine_info()))
    widths = [max(len(str(row[i])) for row in [("figure", "value", "goal"), *rows]) for i in range(3)]
    print(f"{'figure':<{widths[0]}}  {'value':>{widths[1]}}  {'goal':<{widths[2]}}  result")
    for name, value, goal, ok in rows:
        result = "" if ok is None else ("pass" if ok else "FAIL")
        print(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {goal:<{widths[2]}}  {result}".rstrip())
    if json_path:
        Path(json_path).write_text(json.dumps([{"figure": n, "value": v, "goal": g, "passed": ok}
                                               for n, v, g, ok in rows], indent=2))
    return 0 if all(ok is not False for *_, ok in rows) else 1


def machine_info() -> list[tuple[str, str]]:
    """CPU model, cores, RAM, Python, TensorFlow, load and date, as (label, value)."""
    cpu = platform.processor() or platform.machine()
    ram = "?"
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
        ram = f"{kib / 1024**2:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tf = next((f"{name} {metadata.version(name)}" for name in ("tensorflow-cpu", "tensorflow")
               if _installed(name)), "not installed")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        ("cpu", cpu),
        ("cores", f"{usable} usable ({os.cpu_count()} online)"),
        ("ram", ram),
        ("python", platform.python_version()),
        ("tensorflow", tf),
        ("load average at start", load),
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False
