"""Names of release entities: batch endpoints and deployments (Azure ML's rules, on both backends)."""

from __future__ import annotations

import re

from sensor_pipelines.core.errors import UserError

ENDPOINT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
MAX_ENDPOINT = 32


def endpoint_name(circuit: str, env: str) -> str:
    """``be-<plant>-<circuit>-<env>`` in lowercase; a name over 32 characters is an error, never truncated
    (two long circuits would collide on one endpoint)."""
    name = f"be-{circuit.replace('_', '-')}-{env}".lower()
    if len(name) > MAX_ENDPOINT or not ENDPOINT_NAME.match(name):
        raise UserError(
            f"endpoint name {name!r} for circuit {circuit} in env {env} has {len(name)} characters; Azure ML "
            f"allows 3 to {MAX_ENDPOINT} (letters, digits, '-', starting with a letter): shorten plant_id or "
            f"circuit_id in conf/circuit/{circuit}.yaml")
    return name


def deployment_name(model_version: str, component_version: str) -> str:
    """``v<model version>-bs<batch_score version>``: one deployment per model and scoring code."""
    return f"v{model_version}-bs{component_version.replace('.', '-')}".lower()
