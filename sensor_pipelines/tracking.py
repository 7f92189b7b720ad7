"""MLflow run handling shared by components, on either backend.

Azure ML and the local runner both hand a component its run through
``MLFLOW_RUN_ID`` and ``MLFLOW_TRACKING_URI``; ``mlflow.start_run()`` resumes it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def component_run() -> Iterator:
    """The active MLflow run, or the one the platform prepared, or a new one."""
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    with mlflow.start_run() as run:
        yield run
