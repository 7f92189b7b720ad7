"""A warm node worker: one long-lived process that has imported the heavy libraries and forks a
fresh child per pipeline node.

A node still runs its component's own command line (``mldesigner execute --source ...
--inputs ... --outputs ...``, parsed by mldesigner's own entry point), with its inputs and
outputs bound to paths, its environment, its working directory and its output in a pipe the
runner reads into the node's log. Only the process start changes: instead of a new Python
that imports TensorFlow, Keras, MLflow, mldesigner and azure-ai-ml (seconds per node), the
child is a ``fork()`` of the worker, which imported them once and never ran anything. While a node
runs, the worker also imports the component files beside the node's own, the way ``mldesigner
execute`` does, so the pipeline's next nodes find them imported (a file changed on disk since is
imported again by the node).

Isolation is kept: each node is its own process in its own session (the runner stops its
process group), a crash, ``os._exit`` or out-of-memory kill ends that child only and reads as
its exit status; a worker that dies itself fails the running node and the runner starts a
new worker for the next one. The worker gets SIGKILL when the runner's process dies
(``PR_SET_PDEATHSIG``) and each child gets it when the worker dies, so nothing outlives the
runner. A command that is not ``mldesigner ...`` is ``exec``-ed in the child, as before.

Protocol (an ``AF_UNIX`` ``SOCK_SEQPACKET`` socket pair, one JSON message per packet): the
runner sends ``{"argv", "cwd", "env"}`` with the write end of the node's output pipe attached
(``SCM_RIGHTS``); the worker answers ``{"pid"}`` once the child exists and ``{"exit"}`` when it
ends. The worker ends when the runner closes its end.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, Optional, Sequence

# what a node of this project's components imports; a worker imports it once, before any fork
NODE_PRELOAD = (
    "numpy", "pandas", "pyarrow.parquet", "sqlalchemy",
    "mlflow", "mlflow.tracking", "mlflow.pyfunc", "mlflow.models", "mlflow.entities",
    "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store",
    "azure.ai.ml", "mldesigner", "mldesigner._cli.mldesigner_commands",
    "tensorflow", "keras", "matplotlib.figure", "matplotlib.backends.backend_agg",
)
DISABLE_ENV = "SENSOR_PIPELINES_NODE_WORKERS"  # "0": one fresh process per node, as before warm workers
_MAX_MESSAGE = 1 << 20
log = logging.getLogger(__name__)


def workers_enabled() -> bool:
    """Warm workers need fork and fd passing (Linux); SENSOR_PIPELINES_NODE_WORKERS=0 turns them off."""
    return (os.environ.get(DISABLE_ENV, "1") != "0" and hasattr(os, "fork") and hasattr(socket, "send_fds")
            and sys.platform.startswith("linux"))


def preload(modules: Sequence[str]) -> list[str]:
    """Import ``modules`` (those missing are skipped); returns the ones that failed."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # an optional library absent here: its nodes import it themselves
            failed.append(name)
    return failed


class NodeProcess:
    """A node forked by a worker, shaped like ``subprocess.Popen`` where the runner uses it."""

    def __init__(self, worker: "NodeWorker", pid: int, stdout: IO[str]):
        self.worker, self.pid, self.stdout = worker, pid, stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """The exit status (negative: killed by that signal); TimeoutExpired after ``timeout`` seconds."""
        if self.returncode is None:
            self.returncode = self.worker._wait_exit(self.pid, timeout)
        return self.returncode


class NodeWorker:
    """The runner's side of one warm worker process."""

    def __init__(self, modules: Sequence[str] = NODE_PRELOAD):
        self.modules = tuple(modules)
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = self._start(theirs)
        theirs.close()
        self.forked = self._forked

    def _start(self, theirs: socket.socket) -> int:
        """Fork the worker from this process when it is warm and single-threaded, else start a new one."""
        warm = all(m in sys.modules for m in self.modules)
        self._forked = warm and threading.active_count() == 1
        if self._forked:
            _flush_std()
            pid = os.fork()
            if pid == 0:  # the worker
                code = 1
                try:
                    self._sock.close()
                    _detach(os.getppid())
                    code = _serve(theirs)
                finally:
                    os._exit(code)
            return pid
        argv = [sys.executable, "-m", __name__, str(theirs.fileno()), ",".join(self.modules)]
        proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=die_with_parent, cwd=os.getcwd())
        self._proc = proc
        return proc.pid

    @property
    def alive(self) -> bool:
        """False once the worker was closed or was seen dead (its socket at EOF)."""
        return self._sock is not None

    def start_node(self, argv: list[str], cwd: Path, env: dict[str, str]) -> NodeProcess:
        """Fork a child of the worker running ``argv``; its stdout and stderr are the returned pipe."""
        read_fd, write_fd = os.pipe()
        try:
            payload = json.dumps({"argv": list(argv), "cwd": str(cwd), "env": env}).encode()
            socket.send_fds(self._sock, [payload], [write_fd])
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        stdout = io.open(read_fd, "r", errors="replace")
        reply = self._receive(None)
        if reply is None or "pid" not in reply:
            stdout.close()
            raise OSError(f"the node worker (pid {self.pid}) did not start the node: {reply}")
        return NodeProcess(self, int(reply["pid"]), stdout)

    def _receive(self, timeout: float | None) -> dict | None:
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(_MAX_MESSAGE)
        except (socket.timeout, BlockingIOError):
            raise
        except OSError:
            data = b""
        return json.loads(data) if data else None

    def _wait_exit(self, pid: int, timeout: float | None) -> int:
        try:
            reply = self._receive(timeout)
        except (socket.timeout, BlockingIOError):
            raise subprocess.TimeoutExpired(f"node {pid}", timeout or 0) from None
        if reply is None:  # the worker itself died (killed, out of memory): the node died with it
            self.close()
            return -signal.SIGKILL
        return int(reply["exit"])

    def close(self) -> None:
        """End the worker now (it holds nothing worth waiting for, and may still be importing); reap it."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)  # its running node, if any, dies with it (death signal)
        with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
            if self._forked:
                os.waitpid(self.pid, 0)
            else:
                self._proc.wait(timeout=5)


# -- the worker process ----------------------------------------------------------------------------


def _detach(parent: int) -> None:
    """In a worker or a node: own session, SIGKILL when the parent dies, default signal handlers."""
    os.setsid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _serve(sock: socket.socket) -> int:
    """The worker loop: one request, one forked child, its pid, its exit status; until EOF."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    me = os.getpid()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except OSError:
            return 0
        if not data:
            return 0
        request = json.loads(data)
        _flush_std()
        pid = os.fork()
        if pid == 0:  # the node
            code = 1
            try:
                sock.close()
                _detach(me)
                code = _run_node(request, fds[0])
            except BaseException:  # noqa: BLE001 - a node's error is its exit status, never the worker's
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            finally:
                _flush_std()
                os._exit(code)
        os.close(fds[0])
        sock.send(json.dumps({"pid": pid}).encode())
        _preload_component_files(request)  # while the node runs: the next nodes find their component imported
        _, status = os.waitpid(pid, 0)
        sock.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def _run_node(request: dict, out_fd: int) -> int:
    """In the forked child: the node's output, cwd and environment, then its command; the exit status."""
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    for handler in list(logging.root.handlers):  # the CLI's console handler: a new process has none, and
        logging.root.removeHandler(handler)  # components' own loggers would print each line twice
    _fresh_std_streams()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    argv = request["argv"]
    if Path(argv[0]).name != "mldesigner":
        os.execvpe(argv[0], argv, os.environ)
    _forget_inherited_connections()
    _drop_changed_components()
    from mldesigner._cli.mldesigner_commands import main

    sys.argv = list(argv)
    try:
        main()
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - what Python prints for an uncaught exception, exit status 1
        traceback.print_exc()
        return 1
    return 0


# component files the worker imported: module name -> (file, (mtime_ns, size) when imported)
_components: dict[str, tuple[Path, tuple[int, int]]] = {}


def _source_file(request: dict) -> Optional[Path]:
    """The ``--source`` file of an ``mldesigner execute`` request, absolute."""
    argv = request["argv"]
    if Path(argv[0]).name != "mldesigner" or "--source" not in argv[:-1]:
        return None
    return Path(request["cwd"], argv[argv.index("--source") + 1]).absolute()


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _preload_component_files(request: dict) -> None:
    """While a node runs, import the component files beside its source, so that the pipeline's next nodes
    skip that (half a second each: the decorator inspects the stack)."""
    source = _source_file(request)
    if source is not None:
        preload_component_files(sorted(source.parent.glob("*.py")))


def preload_component_files(paths: Sequence[Path]) -> None:
    """Import component files the way ``mldesigner execute`` imports one (module = the file's stem, its folder
    on sys.path), once per process; a file that is not a component (a plain script may do things when
    imported), or whose stem is another module's name, is skipped; one that fails is left to its node."""
    for path in paths:
        name = path.stem
        if name in _components or name in sys.modules or "@command_component" not in path.read_text(errors="replace"):
            continue
        folder = str(path.parent)
        sys.path.insert(0, folder)
        try:
            stamp = _stamp(path)
            importlib.import_module(name)
            _components[name] = (path, stamp)
        except (Exception, SystemExit):  # noqa: BLE001 - the node that needs it imports it and reports the error
            sys.modules.pop(name, None)
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def _drop_changed_components() -> None:
    """In a node: forget a preloaded component file that changed on disk since, so mldesigner imports it anew."""
    for name, (path, stamp) in list(_components.items()):
        try:
            changed = _stamp(path) != stamp
        except OSError:
            changed = True
        if changed:
            sys.modules.pop(name, None)
            del _components[name]


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _fresh_std_streams() -> None:
    """sys.stdout/stderr on fds 1 and 2, line-buffered; handlers of the old streams moved to them."""
    old = {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None}
    out = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                           line_buffering=True, write_through=True)
    err = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                           line_buffering=True, write_through=True)
    replacement = {id(sys.stdout): out, id(sys.__stdout__): out, id(sys.stderr): err, id(sys.__stderr__): err}
    sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = out, err, out, err
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values()
                                      if isinstance(v, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and id(stream) in old:
                handler.stream = replacement.get(id(stream), err)


def _forget_inherited_connections() -> None:
    """SQLAlchemy engines cached by MLflow's stores in a parent are not this process's to use."""
    for module in ("mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store"):
        store = getattr(sys.modules.get(module), "SqlAlchemyStore", None)
        engines = getattr(store, "_engine_map", None)
        if isinstance(engines, dict):
            for engine in engines.values():
                with contextlib.suppress(Exception):
                    engine.dispose(close=False)
            engines.clear()


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def die_with_parent() -> None:
    """In a child process (Linux): get SIGKILL when the parent process dies, however it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_shared: dict[tuple[str, ...], NodeWorker] = {}


def shared_worker(modules: Sequence[str] = NODE_PRELOAD) -> NodeWorker:
    """This process's worker for ``modules``, started now if there is none or it died."""
    key = tuple(modules)
    worker = _shared.get(key)
    if worker is None or not worker.alive:
        if not _shared:
            atexit.register(close_workers)
        worker = _shared[key] = NodeWorker(key)
    return worker


def close_workers() -> None:
    """End every worker this process started."""
    while _shared:
        _, worker = _shared.popitem()
        worker.close()


def main(argv: Sequence[str]) -> int:
    """``python -m sensor_pipelines.backends.local.workers FD MODULES``: a worker started afresh."""
    fd, modules = int(argv[0]), [m for m in argv[1].split(",") if m]
    sock = socket.socket(fileno=fd)
    preload(modules)
    return _serve(sock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
