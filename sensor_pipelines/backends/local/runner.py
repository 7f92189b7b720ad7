"""Run an ``azure.ai.ml.dsl`` pipeline on this machine, node by node.

Each node runs the component's own command (``mldesigner execute ...``, the very
command Azure ML runs) in a subprocess, with ``${{inputs.x}}``/``${{outputs.y}}``
bound to local paths. A subprocess keeps nodes isolated like on a cluster: a crash
or a TensorFlow import in one node cannot take the runner down, each node gets its
own log, and several circuits can run side by side.

Nodes are reused when nothing they depend on changed: the cache key covers the
component name, version and code, literal input values and the content of every
data input (upstream outputs included). ``force=True`` reruns everything.
"""

from __future__ import annotations

import contextlib
import ctypes
import graphlib
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from sensor_pipelines.backends.base import NodeRun, PipelineRun, RunStatus
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import hash_path, hash_text, read_json, write_json_atomic
from sensor_pipelines.core.provenance import code_hash

# a line the component's own code logged (core.tracking's format), not library chatter
_OWN_LINE = re.compile(r"^\d\d:\d\d:\d\d (?:INFO|WARNING|ERROR|CRITICAL) sensor_pipelines[\w.]*: (.*)$")
_PLACEHOLDER = re.compile(r"'?\$\{\{(inputs|outputs)\.([A-Za-z0-9_]+)\}\}'?")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]")
TAIL_LINES = 15


class RunnerWorkspace(Protocol):
    """What the runner needs of the local workspace: folders and the MLflow store."""

    runs_dir: Path
    cache_dir: Path
    tracking_uri: str

    def ensure_tracking_store(self) -> str: ...


class LocalRunner:
    """Walks a PipelineJob's nodes in dependency order and runs them here."""

    def __init__(self, workspace: RunnerWorkspace, echo: Callable[[str], None] = print, stream_logs: bool = True):
        self.workspace = workspace
        self.echo = echo
        self.stream_logs = stream_logs

    def run(self, job: Any, run_id: str, tags: dict[str, str] | None = None, force: bool = False) -> PipelineRun:
        """Execute ``job`` (a PipelineJob built with ``@dsl.pipeline``); never raises for node failures.

        Interrupted (Ctrl-C, SIGTERM), it stops the running node, marks the run failed and its
        MLflow runs killed, then raises KeyboardInterrupt. A run whose process died without a
        word (SIGKILL) is closed the same way by the next run of this workspace.
        """
        close_abandoned_runs(self.workspace, self.echo)
        started = time.monotonic()
        run_dir = self.workspace.runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        nodes = dict(job.jobs)
        order = _topological_order(nodes)
        results = {name: NodeRun(name, nodes[name].component.name, str(nodes[name].component.version)) for name in order}
        result = PipelineRun(run_id, str(run_dir), job.name or "pipeline", RunStatus.RUNNING, dict(tags or {}),
                             list(results.values()))
        tracker = _MlflowRuns(self.workspace, run_id, result.tags)
        active = _ActiveRun(self.workspace.runs_dir, run_id)
        self._result = result
        self._save(result)
        try:
            with _terminate_as_interrupt():
                for index, name in enumerate(order, 1):
                    node, node_result = nodes[name], results[name]
                    label = f"[{index}/{len(order)}] {name} ({node_result.component} {node_result.version})"
                    blocked = [u for u in _upstream(node) if not results[u].status.finished_ok]
                    if blocked:
                        node_result.status = RunStatus.SKIPPED
                        self.echo(f"{label}: skipped, upstream {', '.join(blocked)} did not finish")
                        continue
                    self._run_node(node, node_result, results, run_dir / name, force, tracker, label, active)
                    self._save(result)
        except KeyboardInterrupt:
            self._stop_current()
            _close(result, "interrupted before the run finished")
            result.seconds = round(time.monotonic() - started, 2)
            tracker.finish(result.status, killed=True)
            self._save(result)
            active.remove()
            raise
        failed = any(n.status in (RunStatus.FAILED, RunStatus.SKIPPED) for n in results.values())
        result.status = RunStatus.FAILED if failed else RunStatus.COMPLETED
        result.seconds = round(time.monotonic() - started, 2)
        tracker.finish(result.status)
        self._save(result)
        active.remove()
        return result

    def _stop_current(self) -> None:
        """Stop the running node's process group: SIGTERM, then SIGKILL after a grace period."""
        proc, self._current = getattr(self, "_current", None), None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue

    # -- one node -------------------------------------------------------------------------------
    def _run_node(self, node, res: NodeRun, results: dict, node_dir: Path, force: bool, tracker, label: str,
                  active: "_ActiveRun") -> None:
        component = node.component
        inputs = _bind_inputs(node, results)
        key = self._cache_key(component, inputs)
        cached = None if force or component.is_deterministic is False else self._cache_lookup(key)
        res.started = _now()
        if cached:
            res.status, res.outputs, res.reused_from = RunStatus.REUSED, cached["outputs"], cached["run_id"]
            res.ended = res.started
            self.echo(f"{label}: reused from run {cached['run_id']} (nothing it depends on changed)")
            return
        res.status = RunStatus.RUNNING
        res.outputs = {port: str(node_dir / "outputs" / port) for port in component.outputs}
        for path in res.outputs.values():
            Path(path).mkdir(parents=True, exist_ok=True)
        res.log = str(node_dir / "log.txt")
        argv = _command(component.command, {k: v for k, (_, v) in inputs.items()}, res.outputs)
        res.mlflow_run_id = tracker.node_run(node.name)
        active.record(tracker.parent_id, res.mlflow_run_id)
        self._save(self._result)
        self.echo(f"{label}: running")
        begin = time.monotonic()
        code = self._execute(argv, Path(component.code or "."), Path(res.log), tracker.env(res.mlflow_run_id))
        res.seconds = round(time.monotonic() - begin, 2)
        res.ended = _now()
        if code == 0:
            res.status = RunStatus.COMPLETED
            write_json_atomic(self.workspace.cache_dir / f"{key}.json", {"run_id": node_dir.parent.name, "node": node.name, "outputs": res.outputs})
            self.echo(f"{label}: completed in {res.seconds:.1f} s")
        else:
            res.status = RunStatus.FAILED
            res.error_tail = Path(res.log).read_text(errors="replace").splitlines()[-TAIL_LINES:]
            self.echo(f"{label}: FAILED (exit code {code}) after {res.seconds:.1f} s; log: {res.log}")
        tracker.finish_node(res.mlflow_run_id, res.status)

    def _execute(self, argv: list[str], cwd: Path, log_path: Path, extra_env: dict[str, str]) -> int:
        env = {**os.environ, **extra_env}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with open(log_path, "w") as log:
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            try:  # its own process group (stopped whole on interrupt), killed if the runner dies
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, errors="replace", start_new_session=True,
                                        preexec_fn=_die_with_parent)
            except OSError as exc:
                log.write(f"cannot start: {exc}\n")
                return 127
            self._current = proc
            verbose = logging.getLogger("sensor_pipelines").isEnabledFor(logging.DEBUG)
            for line in proc.stdout:
                log.write(line)
                shown = line.rstrip() if verbose else _own_log_line(line)
                if self.stream_logs and shown is not None:
                    self.echo(f"    | {shown}")
            return proc.wait()

    # -- cache ----------------------------------------------------------------------------------
    def _cache_key(self, component, inputs: dict[str, tuple[str, Any]]) -> str:
        parts = {
            "component": component.name,
            "version": str(component.version),
            "code": code_hash(component.command, component.code or "."),
            "inputs": {k: (kind, hash_path(v) if kind == "path" else v) for k, (kind, v) in sorted(inputs.items())},
        }
        return hash_text(json.dumps(parts, sort_keys=True, default=str))


    def _cache_lookup(self, key: str) -> dict | None:
        entry = self.workspace.cache_dir / f"{key}.json"
        if not entry.is_file():
            return None
        cached = read_json(entry)
        if all(Path(p).exists() for p in cached["outputs"].values()):
            return cached
        return None

    def _save(self, result: PipelineRun) -> None:
        write_json_atomic(Path(result.run_dir) / "run.json", asdict(result))


class _MlflowRuns:
    """MLflow runs mirroring Azure ML: a parent run per pipeline, a child run per node.

    Created only when a node actually runs, so a fully reused run stays fast.
    """

    def __init__(self, workspace: RunnerWorkspace, run_name: str, tags: dict[str, str]):
        self.workspace, self.run_name, self.tags = workspace, run_name, tags
        self._client = None
        self._parent = None
        self._experiment_id = None
        self._open: set[str] = set()  # node runs started and not yet terminated

    def _ensure_parent(self):
        if self._parent is None:
            from mlflow.tracking import MlflowClient

            self._experiment_id = self.workspace.ensure_tracking_store()
            self._client = MlflowClient(self.workspace.tracking_uri, self.workspace.tracking_uri)
            self._parent = self._client.create_run(self._experiment_id, run_name=self.run_name, tags=self.tags).info.run_id
        return self._parent

    @property
    def parent_id(self) -> str | None:
        return self._parent

    def node_run(self, node_name: str) -> str:
        parent = self._ensure_parent()
        tags = {**self.tags, "mlflow.parentRunId": parent, "node": node_name}
        run_id = self._client.create_run(self._experiment_id, run_name=node_name, tags=tags).info.run_id
        self._open.add(run_id)
        return run_id

    def env(self, run_id: str) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.workspace.tracking_uri,
            "MLFLOW_REGISTRY_URI": self.workspace.tracking_uri,
            "MLFLOW_EXPERIMENT_ID": str(self._experiment_id),
            "MLFLOW_RUN_ID": run_id,
        }

    def finish_node(self, run_id: str, status: str) -> None:
        self._client.set_terminated(run_id, "FINISHED" if status == RunStatus.COMPLETED else "FAILED")
        self._open.discard(run_id)

    def finish(self, status: str, killed: bool = False) -> None:
        if self._parent is not None:
            state = "KILLED" if killed else "FINISHED" if status == RunStatus.COMPLETED else "FAILED"
            for run_id in self._open:
                self._client.set_terminated(run_id, "KILLED" if killed else "FAILED")
            self._client.set_terminated(self._parent, state)


# -- interrupted and abandoned runs --------------------------------------------------------------

ACTIVE_DIR = ".active"  # runs/.active/<run id>.json while a run is in progress: its pid and MLflow runs


class _ActiveRun:
    """The marker of a run in progress, so that a later run can close it if its process died."""

    def __init__(self, runs_dir: Path, run_id: str):
        self.path = Path(runs_dir) / ACTIVE_DIR / f"{run_id}.json"
        self.run_id = run_id
        self.mlflow_runs: list[str] = []
        self._write(None)

    def _write(self, parent: str | None) -> None:
        write_json_atomic(self.path, {"run_id": self.run_id, "pid": os.getpid(), "mlflow_parent": parent,
                                      "mlflow_runs": self.mlflow_runs})

    def record(self, parent: str | None, node_run: str) -> None:
        self.mlflow_runs.append(node_run)
        self._write(parent)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def close_abandoned_runs(workspace: RunnerWorkspace, echo: Callable[[str], None] = print) -> list[str]:
    """Mark failed every run left "running" by a process that no longer exists; returns their ids."""
    closed = []
    for marker in sorted((Path(workspace.runs_dir) / ACTIVE_DIR).glob("*.json")):
        try:
            active = read_json(marker)
        except (OSError, ValueError):
            marker.unlink(missing_ok=True)
            continue
        if _alive(int(active.get("pid", 0))):
            continue
        record = Path(workspace.runs_dir) / active["run_id"] / "run.json"
        if record.is_file():
            data = read_json(record)
            if data.get("status") == RunStatus.RUNNING:
                data["status"] = RunStatus.FAILED
                for node in data["nodes"]:
                    if node["status"] == RunStatus.RUNNING:
                        node.update(status=RunStatus.FAILED, error_tail=[f"process {active['pid']} ended without finishing the run"])
                    elif node["status"] == RunStatus.PENDING:
                        node["status"] = RunStatus.SKIPPED
                write_json_atomic(record, data)
        runs = [r for r in (active.get("mlflow_parent"), *active.get("mlflow_runs", [])) if r]
        if runs:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(workspace.tracking_uri, workspace.tracking_uri)
            for run_id in runs:
                if client.get_run(run_id).info.status == "RUNNING":
                    client.set_terminated(run_id, "KILLED")
        marker.unlink(missing_ok=True)
        closed.append(active["run_id"])
        echo(f"Closed run {active['run_id']}: its process {active['pid']} ended while it was running (marked failed)")
    return closed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _close(result: PipelineRun, reason: str) -> None:
    """An interrupted run: the running node failed, the nodes not started skipped, the run failed."""
    for node in result.nodes:
        if node.status == RunStatus.RUNNING:
            node.status, node.ended, node.error_tail = RunStatus.FAILED, _now(), [reason]
        elif node.status == RunStatus.PENDING:
            node.status = RunStatus.SKIPPED
    result.status = RunStatus.FAILED


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI cancel, ``kill``) is handled like Ctrl-C while a run is in progress (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _die_with_parent() -> None:
    """In a node process (Linux): get SIGKILL when the runner process dies, however it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- graph helpers ------------------------------------------------------------------------------


def _kind(obj: Any) -> str:
    return type(obj).__name__


def _upstream(node) -> set[str]:
    owners = set()
    for node_input in node.inputs.values():
        data = _unwrap(node_input._data)
        if _kind(data) == "NodeOutput":
            owners.add(data._owner.name)
    return owners


def _unwrap(data: Any) -> Any:
    while _kind(data) == "PipelineInput":
        data = data._data
    return data


def _topological_order(nodes: dict) -> list[str]:
    graph = {name: _upstream(node) for name, node in nodes.items()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def _bind_inputs(node, results: dict[str, NodeRun]) -> dict[str, tuple[str, Any]]:
    """Local value of every input: ('path', str) for data, ('value', literal) for parameters."""
    bound = {}
    for name, node_input in node.inputs.items():
        data = _unwrap(node_input._data)
        if _kind(data) == "NodeOutput":
            bound[name] = ("path", results[data._owner.name].outputs[data._port_name])
        elif _kind(data) == "Input":
            path = str(data.path)
            if path.startswith("azureml:"):
                raise UserError(f"Input {name!r} of node {node.name!r} is an Azure ML asset ({path}); the local runner needs a local path")
            bound[name] = ("path", path)
        elif data is None:
            default = node.component.inputs[name].default
            if default is not None:
                bound[name] = ("value", default)
        else:
            bound[name] = ("value", data)
    return bound


def _command(template: str, inputs: dict[str, Any], outputs: dict[str, str]) -> list[str]:
    """The component's command with placeholders bound; optional blocks kept only when bound."""
    values = {"inputs": inputs, "outputs": outputs}

    def optional(match: re.Match) -> str:
        needed = _PLACEHOLDER.findall(match.group(1))
        return match.group(1) if all(n in values[g] for g, n in needed) else ""

    text = _OPTIONAL.sub(optional, template)
    missing = [f"{g}.{n}" for g, n in _PLACEHOLDER.findall(text) if n not in values[g]]
    if missing:
        raise UserError(f"Command needs values for {', '.join(missing)}: {template}")
    return shlex.split(_PLACEHOLDER.sub(lambda m: shlex.quote(str(values[m.group(1)][m.group(2)])), text))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _own_log_line(line: str) -> str | None:
    """The message of a line the component's code logged; None for library output (kept in the log)."""
    match = _OWN_LINE.match(line.rstrip())
    return match.group(1) if match else None
