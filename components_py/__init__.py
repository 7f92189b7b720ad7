"""mldesigner components: thin adapters from Input/Output paths to sensor_pipelines core.

Every component runs in the ``sensor-forecasting-env`` environment, from a code
snapshot rooted at the repository (``components_py/`` + ``sensor_pipelines/``).
"""

ENVIRONMENT = "azureml:sensor-forecasting-env:1"
CODE_ROOT = "../.."  # relative to a component file: the repository root
