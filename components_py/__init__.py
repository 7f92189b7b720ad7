"""mldesigner components: thin adapters from Input/Output paths to sensor_pipelines core.

Every component runs in the ``sensor-forecasting-env`` environment from a code snapshot
rooted at the repository (``components_py/`` + ``sensor_pipelines/``).
"""

import hashlib
from pathlib import Path

# Bind the library package now: mldesigner puts the code snapshot's root on sys.path only
# while it imports a component file, and the component bodies import submodules later.
import sensor_pipelines  # noqa: F401

ENVIRONMENT_NAME = "sensor-forecasting-env"
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
CONDA_FILE = Path(__file__).with_name("conda.yaml")
CODE_ROOT = "../.."  # relative to a component file: the repository root


def environment_version() -> str:
    """The environment's version: a hash of its spec, so it changes exactly when the spec does."""
    return hashlib.sha256(CONDA_FILE.read_bytes() + BASE_IMAGE.encode()).hexdigest()[:12]


ENVIRONMENT = f"azureml:{ENVIRONMENT_NAME}:{environment_version()}"
