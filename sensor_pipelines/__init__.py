"""sensor-pipelines: per-circuit sensor forecasting, from config to monitored model."""

__version__ = "0.1.0"
