"""mldesigner components: thin adapters from Input/Output paths to sensor_pipelines core.

Every component runs in the ``sensor-forecasting-env`` environment from a code snapshot
rooted at the repository (``components_py/`` + ``sensor_pipelines/``, see .amlignore).
"""

# Bind the library package now: mldesigner puts the code snapshot's root on sys.path only
# while it imports a component file, and the component bodies import submodules later.
import sensor_pipelines  # noqa: F401
from sensor_pipelines.core.runtime_env import environment_reference

ENVIRONMENT = environment_reference()
CODE_ROOT = "../.."  # relative to a component file: the repository root
