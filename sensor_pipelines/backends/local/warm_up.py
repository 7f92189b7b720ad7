"""Imported by a fan-out's fork server (last in the preload lists): what every node of every circuit
would otherwise do for itself, done once before the circuits are forked.

- the project's component files, imported the way ``mldesigner execute`` imports one (see workers.py);
- MLflow's map of installed packages to modules, which it builds on a process's first model save to
  check the model's requirements (about a second in each train node).
"""

import contextlib
from pathlib import Path

import components_py
from sensor_pipelines.backends.local.workers import preload_component_files

preload_component_files(sorted(Path(components_py.__file__).parent.glob("*/*.py")))

with contextlib.suppress(Exception):  # a private helper of MLflow's: without it, each save builds the map
    from mlflow.utils.requirements_utils import _init_packages_to_modules_map

    _init_packages_to_modules_map()
