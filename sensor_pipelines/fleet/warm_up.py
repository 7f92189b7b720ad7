"""Imported by a fan-out's fork server (last in the preload lists): what every circuit process and
node would otherwise do for itself, done once before the circuits are forked.
"""

import contextlib
from pathlib import Path


def import_component_files() -> None:
    """The project's component files, imported the way ``mldesigner execute`` imports one (see workers.py)."""
    import components_py
    from sensor_pipelines.backends.local.workers import preload_component_files

    preload_component_files(sorted(Path(components_py.__file__).parent.glob("*/*.py")))


def import_the_catalog() -> None:
    """Every component module by its package name, as the CLI imports them to check a deployment's pins."""
    from sensor_pipelines.pipelines.catalog import components

    components()


def build_mlflow_package_map() -> None:
    """MLflow's map of installed packages to modules, built on a process's first model save or load to check
    the model's requirements (about a second); a private helper of MLflow's."""
    from mlflow.utils.requirements_utils import _init_packages_to_modules_map

    _init_packages_to_modules_map()


def build_a_pipeline() -> None:
    """azure-ai-ml sets its pipeline builder up on the first DSL pipeline a process builds (half a second)."""
    from azure.ai.ml import Input

    from sensor_pipelines.pipelines.scoring import pinned_batch_scoring

    pinned_batch_scoring(model_uri="warm-up", circuit="warm-up", model_name="warm-up", model_version="1",
                         cutoff_date="2000-01-01", horizon=1, frequency="h")(
        scoring_data=Input(type="uri_folder", path="warm-up"))


for step in (import_component_files, import_the_catalog, build_mlflow_package_map, build_a_pipeline):
    with contextlib.suppress(Exception):  # each only saves time: a circuit does it itself when it failed here
        step()
