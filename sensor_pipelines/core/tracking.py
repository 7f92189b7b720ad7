"""MLflow run handling shared by components, on either backend.

Azure ML and the local runner both hand a component its run through
``MLFLOW_RUN_ID`` and ``MLFLOW_TRACKING_URI``; ``mlflow.start_run()`` resumes it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import time
from typing import Any, Callable, Iterator


@contextlib.contextmanager
def component_run() -> Iterator:
    """The active MLflow run, or the one the platform prepared, or a new one.

    Also sends the library's progress logs (epochs, metrics) to the node's stdout log.
    """
    import mlflow

    _log_to_stdout()
    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    with mlflow.start_run() as run:
        yield run


@contextlib.contextmanager
def component_logging() -> Iterator[None]:
    """Send the library's progress logs to the node's stdout log (no MLflow run needed)."""
    _log_to_stdout()
    yield


def _log_to_stdout() -> None:
    library = logging.getLogger("sensor_pipelines")
    if not library.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        library.addHandler(handler)
        library.setLevel(logging.INFO)


def retry_when_locked(func: Callable[..., Any], *args: Any, attempts: int = 8, **kwargs: Any) -> Any:
    """Call an MLflow client function, retrying with backoff while SQLite says 'database is locked'."""
    for attempt in range(attempts):
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # MlflowException or sqlalchemy OperationalError, both wrap the message
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(min(5.0, 0.2 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")
