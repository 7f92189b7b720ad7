"""Register what training needs, in order: environment, components, data assets.

Each is created only when its name and version do not exist yet (checked first),
so running it again changes nothing. A dry run only looks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor_pipelines.app.training import register_circuit_data, source_path
from sensor_pipelines.backends.base import Workspace
from sensor_pipelines.core import runtime_env
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.pipelines.catalog import components, fingerprint, record_versions, source_file

ACTIONS = {"exists": "none", "missing": "create"}


@dataclass
class RegistrationStep:
    """One thing to register: what it is, whether it exists, what will be (or was) done."""

    kind: str  # environment | component | data
    name: str
    version: str
    state: str  # exists | missing | unknown
    action: str  # create | none | created | check, then create if missing
    detail: str = ""


@dataclass
class RegistrationReport:
    """The steps of a registration (or of its dry run) and a title saying which."""

    title: str
    steps: list[RegistrationStep]
    note: str = ""


def plan_registration(configs: list[RunConfig], workspace: Workspace, check: bool = True) -> list[RegistrationStep]:
    """What ``register`` would do; ``check=False`` (or no access) leaves states unknown."""

    def step(kind: str, name: str, version: str, lookup, detail: str) -> RegistrationStep:
        state = "unknown" if not check else ("missing" if lookup(name, version) is None else "exists")
        return RegistrationStep(kind, name, version, state, ACTIONS.get(state, "check, then create if missing"),
                                detail)

    env_name, env_version = runtime_env.ENVIRONMENT_NAME, runtime_env.environment_version()
    steps = [step("environment", env_name, env_version, workspace.get_environment,
                  f"image {runtime_env.BASE_IMAGE}, spec {runtime_env.CONDA_FILE.name}")]
    steps += [step("component", c.name, str(c.version), workspace.get_component, f"source {source_file(c).name}")
              for c in components()]
    steps += [step("data", c.circuit.name, c.circuit.cutoff_date, workspace.get_data_asset,
                   f"mltable from {source_path(c)} (rows up to {c.circuit.cutoff_date})") for c in configs]
    return steps


def register_assets(configs: list[RunConfig], workspace: Workspace, dry_run: bool = False) -> RegistrationReport:
    """Register environment, components and data assets that are missing (a dry run only looks)."""
    if dry_run:
        title = f"Registration plan for {workspace.backend} (dry run: nothing changed)"
        try:
            return RegistrationReport(title, plan_registration(configs, workspace, check=True))
        except UserError as exc:  # no settings or credentials: plan without looking
            note = f"Cannot check what exists ({str(exc).splitlines()[0]}); showing the plan unchecked."
            return RegistrationReport(title, plan_registration(configs, workspace, check=False), note)

    env, created = workspace.ensure_environment()
    steps = [RegistrationStep("environment", env.name, env.version, "exists", "created" if created else "none")]
    registered = []
    for component in components():
        _, created = workspace.ensure_component(component, fingerprint(component))
        registered.append(component)
        steps.append(RegistrationStep("component", component.name, str(component.version), "exists",
                                      "created" if created else "none"))
    record_versions(registered)
    for config in configs:
        data = register_circuit_data(config, workspace, echo=lambda _: None)
        steps.append(RegistrationStep("data", data.asset.name, data.asset.version, "exists",
                                      "created" if data.created else "none", data.summary))
    return RegistrationReport(f"Registered in {workspace.backend}", steps)
