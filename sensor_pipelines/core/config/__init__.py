"""The typed configuration a component receives (schema, parsing, the resolved config file).

Composing it with Hydra is the CLI's job (``sensor_pipelines.cli.compose``).
"""
