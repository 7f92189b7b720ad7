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


def remember_mlflow_schema_head() -> None:
    """MLflow finds its newest database schema revision (alembic reads every migration script) each time it
    opens a SQLite store, twice per circuit; the answer only changes with the MLflow install. A private
    helper of MLflow's, cached here."""
    import functools

    from mlflow.store.db import utils

    if not hasattr(utils._get_latest_schema_revision, "cache_info"):
        utils._get_latest_schema_revision = functools.cache(utils._get_latest_schema_revision)
    utils._get_latest_schema_revision()


def build_the_pipelines() -> None:
    """azure-ai-ml sets a pipeline's builder up on the first build in a process (0.03-0.5 s): one of each."""
    from azure.ai.ml import Input

    from sensor_pipelines.pipelines.monitoring import monitoring
    from sensor_pipelines.pipelines.scoring import pinned_batch_scoring
    from sensor_pipelines.pipelines.training import single_circuit_training

    folder = lambda kind: Input(type=kind, path="warm-up")  # noqa: E731
    pinned_batch_scoring(model_uri="warm-up", circuit="warm-up", model_name="warm-up", model_version="1",
                         cutoff_date="2000-01-01", horizon=1, frequency="h")(scoring_data=folder("uri_folder"))
    single_circuit_training(circuit_config=folder("uri_file"), training_data=folder("mltable"),
                            data_asset_name="warm-up", data_asset_version="2000-01-01")
    monitoring(circuit_config=folder("uri_file"), monitor_settings=folder("uri_file"), model=folder("mlflow_model"),
               reference_data=folder("mltable"), production_data=folder("uri_folder"), forecasts=folder("uri_folder"))


for step in (import_component_files, import_the_catalog, build_mlflow_package_map, remember_mlflow_schema_head,
             build_the_pipelines):
    with contextlib.suppress(Exception):  # each only saves time: a circuit does it itself when it failed here
        step()
