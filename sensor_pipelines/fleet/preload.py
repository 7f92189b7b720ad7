"""What a fan-out's fork server imports before it forks the circuit processes (light: the CLI imports it)."""

from sensor_pipelines.backends.local.workers import NODE_PRELOAD

# what every circuit process of a fan-out needs, imported once by its fork server: the CLI, the local
# workspace, the node libraries, then (warm_up) the component files and one-time lookups
CIRCUIT_PRELOAD = ("sensor_pipelines.cli", "sensor_pipelines.cli.compose", "hydra.compose", "hydra.initialize",
                   "sensor_pipelines.backends.local.workspace", "sensor_pipelines.backends.local.registry",
                   "sensor_pipelines.core.data.snapshot", "sensor_pipelines.core.data.mltable",
                   "sensor_pipelines.core.scoring", "pyarrow.dataset", "alembic.command", *NODE_PRELOAD,
                   "sensor_pipelines.fleet.warm_up")
