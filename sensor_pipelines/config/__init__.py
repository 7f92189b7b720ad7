"""Configuration: typed schemas and the Hydra-backed loader."""

from sensor_pipelines.config.schema import (
    CircuitConfig,
    CircuitRunConfig,
    DataSource,
    EnvConfig,
    ModelConfig,
    RunConfig,
    Thresholds,
)

__all__ = [
    "CircuitConfig",
    "CircuitRunConfig",
    "DataSource",
    "EnvConfig",
    "ModelConfig",
    "RunConfig",
    "Thresholds",
]
