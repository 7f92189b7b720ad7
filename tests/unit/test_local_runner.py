"""The local runner: command binding, dependency order, reuse, failure handling."""


import json
import os
import sys
from pathlib import Path

import pytest
from azure.ai.ml import Input, dsl

from sensor_pipelines.backends.local import workers
from sensor_pipelines.backends.local.runner import LocalRunner, _command
from sensor_pipelines.backends.local.workspace import LocalWorkspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from toy_components import toy_check, toy_crash, toy_make  # noqa: E402


@dsl.pipeline(name="toy_pipeline")
def toy_pipeline(source: Input(type="uri_file"), factor: int = 2, fail: bool = False):
    check = toy_check(made=toy_make(source=source, factor=factor).outputs.made, fail=fail)
    return {"checked": check.outputs.checked}


@dsl.pipeline(name="toy_crash_pipeline")
def toy_crash_pipeline(source: Input(type="uri_file"), how: str = "exit"):
    crash = toy_crash(made=toy_make(source=source).outputs.made, how=how)
    return {"crashed": crash.outputs.crashed}


def test_command_binds_and_quotes_paths():
    template = "mldesigner execute --inputs a='${{inputs.a}}' $[[--b ${{inputs.b}}]] --outputs o='${{outputs.o}}'"
    argv = _command(template, {"a": "/tmp/with space/x"}, {"o": "/out"})
    assert argv == ["mldesigner", "execute", "--inputs", "a=/tmp/with space/x", "--outputs", "o=/out"]
    argv = _command(template, {"a": "x", "b": 3}, {"o": "/out"})
    assert "--b" in argv and "3" in argv


@pytest.fixture(params=["warm worker", "new process"])
def runner_setup(tmp_path, request):
    """The runner with a warm node worker (nothing heavy preloaded: fast) and with a process per node."""
    source = tmp_path / "source.txt"
    source.write_text("21")
    workspace = LocalWorkspace(tmp_path / "ws")
    lines: list[str] = []
    preload = () if request.param == "warm worker" else None
    yield workspace, source, LocalRunner(workspace, echo=lines.append, node_preload=preload), lines
    workers.close_workers()


def _run(runner, source, run_id, **params):
    job = toy_pipeline(source=Input(type="uri_file", path=str(source)), **params)
    return runner.run(job, run_id=run_id, tags={"purpose": "test"})


def test_runs_in_order_records_status_and_reuses(runner_setup):
    workspace, source, runner, lines = runner_setup
    first = _run(runner, source, "r1")
    assert first.succeeded, lines
    assert [n.component for n in first.nodes] == ["toy_make", "toy_check"]
    assert (Path(first.node("check").outputs["checked"]) / "value.txt").read_text() == "42"
    record = json.loads((workspace.runs_dir / "r1" / "run.json").read_text())
    assert record["status"] == "completed"
    assert all(n["log"] and Path(n["log"]).is_file() for n in record["nodes"])

    second = _run(runner, source, "r2")
    assert second.reused_all
    assert second.node("check").outputs == first.node("check").outputs

    source.write_text("5")  # data changed: both nodes rerun
    third = _run(runner, source, "r3")
    assert [n.status for n in third.nodes] == ["completed", "completed"]
    assert (Path(third.node("check").outputs["checked"]) / "value.txt").read_text() == "10"

    fourth = _run(runner, source, "r4", factor=3)  # a parameter changed
    assert fourth.node("toy_make").status == "completed"

    forced = runner.run(toy_pipeline(source=Input(type="uri_file", path=str(source)), factor=3), run_id="r5", force=True)
    assert [n.status for n in forced.nodes] == ["completed", "completed"]


def test_a_warm_worker_imports_the_next_components_while_a_node_runs(runner_setup, request, monkeypatch):
    """The second node's component file was imported by the worker during the first node (not by the node),
    unless nodes are new processes."""
    workspace, source, runner, lines = runner_setup
    monkeypatch.delitem(sys.modules, "toy_components")  # as in the CLI, whose worker has not imported it yet
    run = _run(runner, source, "r1")
    assert run.succeeded, lines
    warm = request.node.callspec.params["runner_setup"] == "warm worker"
    expected = "toy_check imported by its worker" if warm else "toy_check imported by this node"
    assert expected in Path(run.node("check").log).read_text()


def test_a_forked_node_logs_each_line_once_as_a_new_process_would(runner_setup):
    """The runner's process may have a console handler on the root logger (the CLI's); a node forked from it
    must not inherit it, or every line of the components' own log handler is printed twice."""
    import logging

    workspace, source, runner, lines = runner_setup
    console = logging.StreamHandler(sys.stderr)
    logging.root.addHandler(console)
    try:
        run = _run(runner, source, "r1")
    finally:
        logging.root.removeHandler(console)
    assert run.succeeded, lines
    assert Path(run.node("check").log).read_text().count("toy_check logged") == 1


def test_a_component_file_changed_since_the_worker_imported_it_is_imported_again(tmp_path, monkeypatch):
    path = tmp_path / "some_component.py"
    path.write_text("# @command_component\n")
    module = type(sys)("some_component")
    monkeypatch.setitem(sys.modules, "some_component", module)
    monkeypatch.setattr(workers, "_components", {"some_component": (path, workers._stamp(path))})
    workers._drop_changed_components()
    assert sys.modules["some_component"] is module  # unchanged: kept
    path.write_text("# @command_component, edited\n")
    workers._drop_changed_components()
    assert "some_component" not in sys.modules and workers._components == {}


def test_failing_node_stops_downstream_and_keeps_log(runner_setup):
    workspace, source, runner, lines = runner_setup
    result = _run(runner, source, "bad", fail=True)
    assert result.status == "failed"
    failed = result.failed_node
    assert failed.component == "toy_check"
    assert any("asked to fail" in line for line in failed.error_tail)
    assert Path(failed.log).is_file()
    assert json.loads((workspace.runs_dir / "bad" / "run.json").read_text())["status"] == "failed"
    # the good upstream node is cached; a fixed rerun reuses it and runs only the failed one
    fixed = _run(runner, source, "fixed")
    assert [n.status for n in fixed.nodes] == ["reused", "completed"]


def _worker_pid(run) -> int:
    """The parent of the crash node's process, which the node printed first."""
    line = Path(run.node("crash").log).read_text().split("toy_crash pid ", 1)[1].splitlines()[0]
    return int(line.split(" parent ")[1])


@pytest.mark.parametrize("how", ["exit", "kill", "worker"])
def test_a_node_dying_in_a_reused_worker_fails_that_node_only(tmp_path, how):
    """os._exit, SIGKILL, or the worker itself killed under the node: that node fails, the runner goes on,
    and the next node and the next circuit's run run in a healthy worker."""
    workspace = LocalWorkspace(tmp_path / "ws")
    lines: list[str] = []
    runner = LocalRunner(workspace, echo=lines.append, node_preload=())
    try:
        circuits = []
        for name in ("A", "B"):
            (tmp_path / f"{name}.txt").write_text("21" if name == "A" else "4")
            circuits.append(Input(type="uri_file", path=str(tmp_path / f"{name}.txt")))
        crashed = runner.run(toy_crash_pipeline(source=circuits[0], how=how), run_id="crash")
        assert crashed.status == "failed"
        assert crashed.node("toy_make").status == "completed"
        failed = crashed.node("crash")
        assert failed.status == "failed"
        assert "toy_crash pid" in Path(failed.log).read_text()  # its log is kept
        assert any("FAILED (exit code" in line for line in lines)
        worker = workers.shared_worker(())
        if how == "worker":
            assert _worker_pid(crashed) != worker.pid  # that worker died; a new one took over
        else:
            assert _worker_pid(crashed) == worker.pid and worker.alive

        after = runner.run(toy_crash_pipeline(source=circuits[0], how="none"), run_id="after")  # next node
        assert after.succeeded, lines
        assert [n.status for n in after.nodes] == ["reused", "completed"]
        other = runner.run(toy_pipeline(source=circuits[1]), run_id="other")  # another circuit
        assert other.succeeded, lines
        assert (Path(other.node("check").outputs["checked"]) / "value.txt").read_text() == "8"
        assert _worker_pid(after) == workers.shared_worker(()).pid
        os.kill(workers.shared_worker(()).pid, 0)  # the worker is still there
    finally:
        workers.close_workers()


def test_the_cli_keeps_mlflow_from_starting_a_thread_so_the_worker_forks_warm(tmp_path):
    """MLflow's telemetry thread would stop a fan-out's node worker from forking warm (each node would
    import TensorFlow again); pytest and CI variables hide it, so this runs in a clean environment."""
    import subprocess

    hidden = {"PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS",
              "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION",
              "CLOUD_RUN_EXECUTION", "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
              "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"}
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    script = f"""
import threading
from types import SimpleNamespace as NS
from sensor_pipelines import cli
from sensor_pipelines.backends.local import workers
cli.build_parser = lambda: NS(parse_args=lambda argv: NS(verbose=False, func=lambda args: 0))  # any verb
assert cli.main([]) == 0
import mlflow
from mlflow.telemetry import get_telemetry_client
mlflow.set_tracking_uri("sqlite:///{tmp_path}/mlflow.db")
mlflow.set_experiment("any")  # the call that starts the telemetry consumer thread when it is on
worker = workers.NodeWorker(())
print(get_telemetry_client(), threading.active_count(), worker.forked)
worker.close()
"""
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["None", "1", "True"]


def test_the_fork_server_preloads_every_component_as_mldesigner_execute_imports_it():
    """Each project component file, preloaded by a fan-out's fork server (warm_up), is the very module
    mldesigner's executor then finds for it (no second import), so the mimicry of its import rule holds."""
    import subprocess

    script = """
import sys
from pathlib import Path
import sensor_pipelines.fleet.warm_up
from sensor_pipelines.backends.local import workers
from mldesigner._component_executor import ComponentExecutor
for name, (path, _) in sorted(workers._components.items()):
    preloaded = sys.modules[name]
    component = getattr(preloaded, name)  # a reload would make a new one
    executor = ComponentExecutor._collect_component_from_file(py_file=Path(path), component_name=name,
                                                              from_executor=True, force_reload=True)
    print(name, sys.modules[name] is preloaded and getattr(preloaded, name) is component
          and executor._func.__module__ == name)
from mlflow.utils import requirements_utils
from mlflow.store.db import utils
print("mlflow-package-map", requirements_utils._MODULES_TO_PACKAGES is not None)
print("mlflow-schema-head", utils._get_latest_schema_revision.cache_info().currsize)
for step in (sensor_pipelines.fleet.warm_up.import_the_catalog,  # the steps the module ran, unguarded
             sensor_pipelines.fleet.warm_up.remember_mlflow_schema_head,
             sensor_pipelines.fleet.warm_up.build_the_pipelines):
    step()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    found = dict(line.split() for line in out.stdout.splitlines())
    assert found.pop("mlflow-package-map") == "True"  # built once, before the circuits are forked
    assert found.pop("mlflow-schema-head") == "1"
    components = {p.stem for p in Path(__file__).resolve().parents[2].glob("components_py/*/*.py")
                  if "@command_component" in p.read_text()}
    assert set(found) == components and len(components) >= 7
    assert all(value == "True" for value in found.values()), found


def test_the_command_exits_with_the_verbs_code_after_the_exit_handlers_and_skips_the_last_collection():
    import subprocess

    script = """
import atexit, gc, sys
from sensor_pipelines import cli
atexit.register(lambda: print("handler ran", gc.get_freeze_count() > 0, flush=True))
sys.argv = ["sensor-pipelines", "train", "--circuit", "not a circuit"]
cli.run()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Invalid circuit name" in out.stderr, out.stderr[-2000:]
    assert out.stdout.strip() == "handler ran True"
