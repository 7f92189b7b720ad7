"""Benchmark what training one circuit costs a user: the wall time of ``make train`` (the ``train``
verb) against the Keras fit inside it, with the default model on PLANT1_CIRC1's sample data.

In a throwaway project (a copy of conf/), after registering the data asset (not timed: the sample
data is generated once), it measures:
- ``train`` with fresh nodes (an empty workspace: nothing to reuse): wall time, the Keras fit
  seconds (``train_seconds`` in the train node's metrics.json), their ratio, each node's seconds;
- ``train`` again: every node reused;
- with ``--compare``, the fresh ``train`` again with one new process per node
  (``SENSOR_PIPELINES_NODE_WORKERS=0``, the runner before warm workers), in the same run, so the
  ratio of the two does not depend on how busy the machine is.
The accuracy of the trained model against the weekly seasonal naive is read from the same run.

Prints a table: figure, value, goal, pass/fail. Writes nothing outside a temporary folder.

    python bench/bench_training.py [--circuit PLANT1_CIRC1] [--compare] [--json PATH] [hydra overrides]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from common import CLI, REPO, finish, timed

LOG_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[execute\]")  # mldesigner's log lines
GOAL_RATIO = 1.3  # make train wall time / Keras fit seconds
GOAL_EVAL_REGISTER = 5.0
GOAL_REUSED = 3.0
GOAL_MAE_RATIO = 0.85
GOAL_FIT = 60.0  # the default model's fit on two years of hourly data (issue 13)


def train(project: Path, circuit: str, overrides: list[str], env: dict[str, str] | None = None,
          force: bool = False) -> tuple[float, dict]:
    """Run the train verb; (wall seconds, its run.json with ``"began"``: the wall clock when it started)."""
    argv = [*CLI, "train", "--circuit", circuit, "--config-dir", str(project / "conf"),
            *(["--force"] if force else []), *overrides]
    previous = dict(os.environ)
    os.environ.update(env or {})
    try:
        began = datetime.now()
        seconds, proc = timed(argv, project)
    finally:
        os.environ.clear()
        os.environ.update(previous)
    if proc.returncode != 0:
        raise SystemExit(f"train failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("run folder:"))
    record = json.loads((Path(line.split(":", 1)[1].strip()) / "run.json").read_text())
    return seconds, {**record, "began": began}


def node_timeline(record: dict, node: str) -> tuple[float, float] | None:
    """Seconds from the command's start to the node's process starting (its first mldesigner log line: the
    node worker was ready) and to its component code starting ("User Logs"); None without those lines."""
    stamps = []
    for line in Path(next(n for n in record["nodes"] if n["name"] == node)["log"]).read_text().splitlines():
        found = LOG_STAMP.match(line)
        if found and (not stamps or "User Logs" in line):
            stamps.append(datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f"))
        if len(stamps) == 2:
            return tuple((t - record["began"]).total_seconds() for t in stamps)
    return None


def node_seconds(record: dict) -> dict[str, float]:
    return {n["name"]: float(n.get("seconds") or 0.0) for n in record["nodes"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuit", default="PLANT1_CIRC1")
    parser.add_argument("--compare", action="store_true",
                        help="also train with one new process per node (workers off), in the same run")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=lstm_smoke model.epochs=5")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "conf", project / "conf")
        seconds, proc = timed([*CLI, "register-data", "--circuit", args.circuit, "--config-dir",
                               str(project / "conf"), *args.overrides], project)
        if proc.returncode != 0:
            raise SystemExit(f"register-data failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        print(f"data: {proc.stdout.strip().splitlines()[-1]} ({seconds:.1f} s, not counted)")
        # the workspace's MLflow store exists before a user's `make train` (created once per workspace)
        store = [sys.executable, "-c", "import sys; from sensor_pipelines.backends.local.workspace import "
                 "LocalWorkspace; LocalWorkspace(sys.argv[1]).ensure_tracking_store()", str(project / ".mlops/local")]
        timed(store, project)

        wall, record = train(project, args.circuit, args.overrides)
        nodes = node_seconds(record)
        train_node = next(n for n in record["nodes"] if n["name"] == "train")
        metrics = json.loads((Path(train_node["outputs"]["metrics"]) / "metrics.json").read_text())
        fit = float(metrics["train_seconds"])
        ratio = wall / fit
        after = nodes.get("evaluate", 0.0) + nodes.get("register", 0.0)
        reused, again = train(project, args.circuit, args.overrides)
        rows += [
            ("make train, fresh nodes (wall)", f"{wall:.1f} s", "", None),
            ("  Keras fit (train_seconds)", f"{fit:.1f} s", f"<= {GOAL_FIT:.0f} s", fit <= GOAL_FIT),
            ("  wall / fit", f"{ratio:.2f}", f"<= {GOAL_RATIO}", ratio <= GOAL_RATIO),
            ("  overhead (wall - fit)", f"{wall - fit:.1f} s", "", None),
            ("  before the first node (CLI, data check, worker start)",
             f"{wall - record['seconds']:.1f} s", "", None),
            ("  train node (fit included)", f"{nodes.get('train', 0.0):.1f} s", "", None),
            *([("  the train node's process starts (the node worker is ready)", f"{timeline[0]:.1f} s after the command",
                "", None),
               ("  its component code starts (mldesigner loaded the component)", f"{timeline[1]:.1f} s after", "", None)]
              if (timeline := node_timeline(record, "train")) else []),
            ("  evaluate + register nodes", f"{after:.1f} s", f"<= {GOAL_EVAL_REGISTER:.0f} s",
             after <= GOAL_EVAL_REGISTER),
            ("make train again, all reused (wall)", f"{reused:.1f} s", f"<= {GOAL_REUSED:.0f} s",
             reused <= GOAL_REUSED and again["status"] == "completed"
             and all(n["status"] == "reused" for n in again["nodes"])),
        ]
        if args.compare:
            old_wall, old_record = train(project, args.circuit, args.overrides,
                                         env={"SENSOR_PIPELINES_NODE_WORKERS": "0"}, force=True)
            old_nodes = node_seconds(old_record)
            old_train = next(n for n in old_record["nodes"] if n["name"] == "train")
            old_fit = float(json.loads((Path(old_train["outputs"]["metrics"]) / "metrics.json").read_text())
                            ["train_seconds"])
            rows += [
                ("process per node (workers off): wall", f"{old_wall:.1f} s", "", None),
                ("  Keras fit", f"{old_fit:.1f} s", "", None),
                ("  wall / fit", f"{old_wall / old_fit:.2f}", "", None),
                ("  evaluate + register nodes",
                 f"{old_nodes.get('evaluate', 0.0) + old_nodes.get('register', 0.0):.1f} s", "", None),
                ("overhead with workers / without", f"{(wall - fit) / max(old_wall - old_fit, 1e-9):.2f}", "", None),
            ]
        m, b = metrics["model"], metrics["baseline"]
        rows += [
            ("epochs run (best)", f"{metrics['epochs_run']} ({metrics['best_epoch']})", "", None),
            ("model MAE", f"{m['mae']:.3f}", "", None),
            (f"baseline MAE ({b['name']})", f"{b['mae']:.3f}", "", None),
            ("MAE ratio model/baseline", f"{metrics['mae_ratio']:.3f}", f"<= {GOAL_MAE_RATIO}",
             metrics["mae_ratio"] <= GOAL_MAE_RATIO),
        ]
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
