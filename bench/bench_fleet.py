"""Benchmark a fleet: change detection, plan and parallel training of many circuits.

Generates N circuits (copies of the demo circuit with their own sample seeds) in a
temporary git repository, then measures:
- change detection on N circuits (10 of them changed on a feature branch);
- ``sensor-pipelines plan`` on N circuits;
- ``make train-changed`` (the ``train-changed`` verb) on ``--train-circuits`` circuits with the
  **default** model profile and MAX_PARALLEL=2: its wall time, against the floor, the sum of the
  pure Keras fit seconds of those circuits (``train_seconds`` of each train node) divided by the
  parallelism, measured on the same machine in the same run. wall / floor is what the pipeline
  costs beyond the model fits themselves (process starts, imports, data checks, evaluation,
  registration, waiting); the sum of node seconds is printed too, but it is not the floor: it
  already holds the per-node overhead.

    python bench/bench_fleet.py [--circuits 200] [--train-circuits 20] [--max-parallel 2] [--model lstm] [--json PATH]

The 200-circuit run (``--train-circuits 200``, about 55 minutes on 2 cores) is the long optional one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import CLI, finish, timed, write_circuits

QUICK_ARGS = ["--circuits", "50", "--train-circuits", "4"]  # what bench/run_all.py --quick passes
GOAL_RATIO = 1.25  # wall time of train-changed / (sum of the fits / parallelism)


def make_fleet(root: Path, n: int) -> list[str]:
    """A git repo with conf/ holding n circuits PLANTp_CIRCc, committed on main."""
    names = write_circuits(root, n)
    git = ["git", "-c", "user.email=bench@local", "-c", "user.name=bench"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "fleet"], cwd=root, check=True)
    subprocess.run(["git", "checkout", "-q", "-b", "feature"], cwd=root, check=True)
    return names


def run_seconds(run_dir: str) -> tuple[float, float]:
    """(the Keras fit seconds of the run's train node, the sum of its node seconds)."""
    record = json.loads((Path(run_dir) / "run.json").read_text())
    train = next(node for node in record["nodes"] if node["name"] == "train")
    metrics = json.loads((Path(train["outputs"]["metrics"]) / "metrics.json").read_text())
    return float(metrics["train_seconds"]), sum(node.get("seconds", 0.0) for node in record["nodes"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuits", type=int, default=200, help="fleet size for detection and plan")
    parser.add_argument("--train-circuits", type=int, default=20, help="circuits to train (0: skip training)")
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--model", default="lstm", help="model profile (default: the default model, lstm)")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_fleet(root, args.circuits)
        for name in names[:10]:  # ten circuits change on the feature branch
            path = root / "conf/circuit" / f"{name}.yaml"
            path.write_text(path.read_text().replace('cutoff_date: "2025-12-09"', 'cutoff_date: "2025-12-10"'))
        seconds, proc = timed([*CLI, "detect-changes", "--output", str(root / "build/changed_circuits.json")], root)
        found = len(json.loads((root / "build/changed_circuits.json").read_text())) if proc.returncode == 0 else -1
        rows.append((f"change detection, {args.circuits} circuits", f"{seconds:.2f} s", "< 5 s",
                     seconds < 5 and found == 10))
        seconds, proc = timed([*CLI, "plan", "model=lstm_smoke"], root)
        rows.append((f"make plan, {args.circuits} circuits", f"{seconds:.2f} s", "< 10 s",
                     seconds < 10 and proc.returncode == 0))
        if args.train_circuits:
            chosen = names[: args.train_circuits]
            out = root / "build/train"
            # the data assets first, as `make register` does before a fleet trains (not timed)
            subprocess.run([*CLI, "register", "--circuits", ",".join(chosen), f"model={args.model}"], cwd=root,
                           capture_output=True, text=True)
            seconds, proc = timed([*CLI, "train-changed", "--circuits", ",".join(chosen), "--max-parallel",
                                   str(args.max_parallel), "--out-dir", str(out), f"model={args.model}"], root)
            results = json.loads((out / "train_results.json").read_text()) if (out / "train_results.json").is_file() else []
            completed = [r for r in results if r.get("status") == "completed"]
            fits, works = zip(*(run_seconds(r["run_dir"]) for r in completed)) if completed else ((), ())
            floor = sum(fits) / args.max_parallel
            ratio = seconds / floor if floor else float("nan")
            rows.append((f"make train-changed, {len(chosen)} circuits ({args.model}), MAX_PARALLEL={args.max_parallel}",
                         f"{seconds:.0f} s", f"{len(completed)}/{len(chosen)} completed",
                         len(completed) == len(chosen)))
            rows.append(("  floor: sum of Keras fit seconds / parallelism", f"{floor:.0f} s", "", None))
            rows.append(("  wall / floor", f"{ratio:.2f}", f"<= {GOAL_RATIO}", ratio <= GOAL_RATIO))
            rows.append(("  sum of node seconds / parallelism (holds the per-node overhead)",
                         f"{sum(works) / args.max_parallel:.0f} s", "", None))
            rows.append(("  mean Keras fit per circuit", f"{sum(fits) / max(len(fits), 1):.1f} s", "", None))
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
