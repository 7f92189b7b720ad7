"""Azure ML coordinates of an env: which are missing, and which variable sets each.

The env files map every setting to an environment variable
(``subscription_id: ${oc.env:AZURE_SUBSCRIPTION_ID,null}``); the variable names are read
from the file itself, so the message names exactly what the user has to export.
"""

from __future__ import annotations

import re
from pathlib import Path

from sensor_pipelines.core.config.schema import AzureSettings, EnvConfig
from sensor_pipelines.core.errors import UserError

WORKSPACE_KEYS = ("subscription_id", "resource_group", "workspace_name")
RUN_KEYS = WORKSPACE_KEYS + ("compute",)
_ENV_REFERENCE = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)")


def env_variables(env_file: str | Path) -> dict[str, str]:
    """``{key: VARIABLE}`` for every ``azure.<key>: ${oc.env:VARIABLE,...}`` in the env file
    or the shared env files it lists in its defaults (the file's own values win)."""
    import yaml

    path = Path(env_file)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(data, dict):
        return {}
    found: dict[str, str] = {}
    for base in data.get("defaults") or []:
        if isinstance(base, str) and base != "_self_":
            found.update(env_variables(path.with_name(f"{base}.yaml")))
    azure = data.get("azure")
    for key, value in azure.items() if isinstance(azure, dict) else ():
        reference = _ENV_REFERENCE.search(str(value))
        if reference:
            found[str(key)] = reference.group(1)
    return found


def missing_settings(env: EnvConfig, keys: tuple[str, ...] = WORKSPACE_KEYS) -> list[str]:
    """The ``azure.*`` keys among ``keys`` that have no value in the composed env config."""
    settings = env.azure or AzureSettings()
    return [key for key in keys if not getattr(settings, key, None)]


def check_settings(env: EnvConfig, env_file: str | Path, for_runs: bool = False) -> AzureSettings:
    """The env's Azure settings; one-line UserError naming the file and variables when any is missing."""
    missing = missing_settings(env, RUN_KEYS if for_runs else WORKSPACE_KEYS)
    if not missing:
        return env.azure  # type: ignore[return-value]
    variables = env_variables(env_file)
    keys = ", ".join(f"azure.{key}" for key in missing)
    exports = [variables[key] for key in missing if key in variables]
    unmapped = [f"azure.{key}" for key in missing if key not in variables]
    fixes = []
    if exports:
        fixes.append(f"set the environment variable{'s' if len(exports) > 1 else ''} {', '.join(exports)}")
    if unmapped:
        fixes.append(f"set {', '.join(unmapped)} in {env_file}")
    raise UserError(f"Azure ML settings missing for env {env.name!r} ({env_file}): {keys}; {' and '.join(fixes)}")
