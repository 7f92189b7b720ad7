"""A training killed or stopped mid-run leaves no process behind and no run marked "running"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("sensor-pipelines"))


def _start(project: Path, *extra: str) -> subprocess.Popen:
    argv = [CLI, "train", "--circuit", "PLANT1_CIRC1", "--config-dir", str(project / "conf"), "model=lstm_smoke", *extra]
    return subprocess.Popen(argv, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _run_record(project: Path) -> dict | None:
    runs = sorted((project / ".mlops/local/runs").glob("train-*/run.json"))
    return json.loads(runs[-1].read_text()) if runs else None


def _wait_for_training_node(project: Path, proc: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        record = _run_record(project)
        if record and record["nodes"][0]["status"] == "running":
            time.sleep(3)  # the node process is up and importing
            return record
        time.sleep(0.5)
    raise AssertionError("the train node never started")


def _processes_of(run_id: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if run_id.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _mlflow_statuses(project: Path, run_id: str) -> set[str]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / '.mlops/local/mlflow.db'}"
    client = MlflowClient(uri, uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string=f"tags.mlflow.runName = '{run_id}'")
    children = client.search_runs([r.info.experiment_id for r in runs],
                                  filter_string=f"tags.mlflow.parentRunId = '{runs[0].info.run_id}'")
    return {r.info.status for r in [*runs, *children]}


def test_a_killed_training_leaves_no_process_and_the_next_run_closes_it(project):
    proc = _start(project, "model.epochs=500")
    run_id = _wait_for_training_node(project, proc)["run_id"]
    os.kill(proc.pid, signal.SIGKILL)  # no handler runs: the node must die with its parent
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _processes_of(run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(run_id) == []
    assert _run_record(project)["status"] == "running"  # nothing could say otherwise yet

    rerun = subprocess.run([CLI, "train", "--circuit", "PLANT1_CIRC1", "--config-dir", str(project / "conf"),
                            "model=lstm_smoke"], cwd=project, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Closed run {run_id}" in rerun.stdout
    killed = json.loads((project / ".mlops/local/runs" / run_id / "run.json").read_text())
    assert killed["status"] == "failed" and killed["nodes"][0]["status"] == "failed"
    assert [n["status"] for n in killed["nodes"][1:]] == ["skipped", "skipped"]
    assert _mlflow_statuses(project, run_id) == {"KILLED"}
    assert not list((project / ".mlops/local/runs/.active").glob("*.json"))


def test_sigterm_stops_the_node_and_marks_the_run_failed_at_once(project):
    proc = _start(project, "model.epochs=500")
    run_id = _wait_for_training_node(project, proc)["run_id"]
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert "interrupted" in proc.stderr.read()
    assert _processes_of(run_id) == []
    record = _run_record(project)
    assert record["status"] == "failed" and record["nodes"][0]["status"] == "failed"
    assert record["nodes"][0]["error_tail"] == ["interrupted before the run finished"]
    assert _mlflow_statuses(project, run_id) == {"KILLED"}
    assert not list((project / ".mlops/local/runs/.active").glob("*.json"))
