"""``make plan``: per circuit, would training run or reuse the current model, and why.

Compares what a training would use now (config hash, data asset version = cutoff
date, train component version, environment version) with the tags of the circuit's
latest registered model version. Nothing is run or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sensor_pipelines.backends.base import ModelVersion
from sensor_pipelines.core.config.files import config_hash
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.runtime_env import environment_version

PARTS = {  # plan part -> model version tag
    "config": "config_hash",
    "data asset version": "data_asset_version",
    "component version": "component_version",
    "environment": "environment_version",
}


@dataclass
class PlanRow:
    circuit: str
    action: str  # train | reuse
    model: str = "-"
    changed: list[str] = field(default_factory=list)

    @property
    def why(self) -> str:
        if self.action == "reuse":
            return "nothing changed since this model"
        return "no model yet" if self.model == "-" else "changed: " + ", ".join(self.changed)


def training_inputs_now(config: RunConfig, component_version: str) -> dict[str, str]:
    """What a training of this circuit would use now, keyed by plan part."""
    return {"config": config_hash(config.circuit_run), "data asset version": config.circuit.cutoff_date,
            "component version": component_version, "environment": environment_version()}


def plan_circuit(config: RunConfig, latest: ModelVersion | None, component_version: str) -> PlanRow:
    """Train or reuse for one circuit, given its latest registered model version."""
    name = config.circuit.name
    if latest is None:
        return PlanRow(name, "train")
    now = training_inputs_now(config, component_version)
    changed = [part for part, tag in PARTS.items() if latest.tags.get(tag) != now[part]]
    model = f"{config.circuit.model_name} v{latest.version}"
    return PlanRow(name, "train" if changed else "reuse", model, changed)
