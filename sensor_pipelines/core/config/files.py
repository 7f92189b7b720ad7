"""The resolved circuit config file handed to components (no Hydra needed to read it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sensor_pipelines.core.config.schema import CircuitConfig, CircuitRunConfig, ModelConfig
from sensor_pipelines.core.config.parsing import parse_dataclass
from sensor_pipelines.core.errors import ConfigError, UserError


def write_circuit_run_config(config: CircuitRunConfig, path: str | Path) -> Path:
    """Write the resolved circuit + model config (JSON, a valid YAML too) for components."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def read_circuit_run_config(path: str | Path) -> CircuitRunConfig:
    """Read and validate a resolved circuit config file (JSON or YAML)."""
    path = Path(path)
    if path.is_dir():  # uri_folder mounts: take the single file inside
        files = sorted(p for p in path.iterdir() if p.is_file())
        if len(files) != 1:
            raise UserError(f"{path}: expected one circuit config file, found {len(files)}")
        path = files[0]
    text = path.read_text()
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        data = yaml.safe_load(text)
    problems: list[str] = []
    circuit = parse_dataclass(CircuitConfig, (data or {}).get("circuit"), str(path), problems, prefix="circuit.")
    model = parse_dataclass(ModelConfig, (data or {}).get("model"), str(path), problems, prefix="model.")
    if problems:
        raise ConfigError(problems)
    return CircuitRunConfig(circuit=circuit, model=model)


def config_hash(config: CircuitRunConfig) -> str:
    """A stable short hash of the resolved circuit + model config."""
    blob = json.dumps(config.to_dict(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
