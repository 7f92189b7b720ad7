"""The components' runtime environment, ``sensor-forecasting-env`` (an Azure ML environment).

Not to be confused with an *env* (``conf/env/*.yaml``: where work runs). Its version is a
hash of the spec (``conda.yaml`` + the base image, pinned by its dated tag so the hash
changes when the image does); components reference it by name and version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ENVIRONMENT_NAME = "sensor-forecasting-env"
# a dated release tag of the Azure ML base image (AzureML-Containers release notes), never :latest
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20241202.v1"
CONDA_FILE = Path(__file__).with_name("conda.yaml")


def environment_version(conda_file: Path = CONDA_FILE, image: str = BASE_IMAGE) -> str:
    """A short hash of the environment spec."""
    return hashlib.sha256(conda_file.read_bytes() + image.encode()).hexdigest()[:12]


def environment_reference() -> str:
    """``azureml:sensor-forecasting-env:<version>``, as components reference it."""
    return f"azureml:{ENVIRONMENT_NAME}:{environment_version()}"
