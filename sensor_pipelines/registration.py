"""Register what training needs, in order: environment, components, data assets.

Each is created only when its name and version do not exist yet (checked first),
so running it again changes nothing. A dry run prints the exact plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sensor_pipelines.config.schema import RunConfig
from sensor_pipelines.errors import UserError

Echo = Callable[[str], None]


@dataclass
class PlanStep:
    """One thing to register: what it is, whether it exists, what will be done."""

    kind: str  # environment | component | data
    name: str
    version: str
    state: str  # exists | missing | unknown
    action: str  # create | none | created | check, then create if missing
    detail: str = ""


def plan_registration(configs: list[RunConfig], workspace, check: bool = True) -> list[PlanStep]:
    """What ``register`` would do; ``check=False`` (or no access) leaves states unknown."""
    from sensor_pipelines import environment as env_spec
    from sensor_pipelines.pipelines.catalog import components, source_file
    from sensor_pipelines.workflows import source_path

    def state_of(lookup, *key) -> str:
        if not check:
            return "unknown"
        return "missing" if lookup(*key) is None else "exists"

    steps = [PlanStep("environment", env_spec.ENVIRONMENT_NAME, env_spec.environment_version(),
                      state_of(workspace.get_environment, env_spec.ENVIRONMENT_NAME, env_spec.environment_version()),
                      "", f"image {env_spec.BASE_IMAGE}, spec {env_spec.CONDA_FILE.name}")]
    for component in components():
        steps.append(PlanStep("component", component.name, str(component.version),
                              state_of(workspace.get_component, component.name, str(component.version)),
                              "", f"source {source_file(component).name}"))
    for config in configs:
        circuit = config.circuit
        steps.append(PlanStep("data", circuit.name, circuit.cutoff_date,
                              state_of(workspace.get_data_asset, circuit.name, circuit.cutoff_date),
                              "", f"mltable from {source_path(config)} (rows up to {circuit.cutoff_date})"))
    for step in steps:
        step.action = {"exists": "none", "missing": "create"}.get(step.state, "check, then create if missing")
    return steps


def register_assets(configs: list[RunConfig], workspace, dry_run: bool = False, echo: Echo = print) -> list[PlanStep]:
    """Register environment, components and data assets that are missing; print the plan."""
    from sensor_pipelines.pipelines.catalog import components, fingerprint, record_versions
    from sensor_pipelines.workflows import register_circuit_data

    if dry_run:
        try:
            steps = plan_registration(configs, workspace, check=True)
        except UserError as exc:  # no settings or credentials: plan without looking
            echo(f"Cannot check what exists ({str(exc).splitlines()[0]}); showing the plan unchecked.")
            steps = plan_registration(configs, workspace, check=False)
        echo(format_plan(steps, title=f"Registration plan for {workspace.backend} (dry run: nothing changed)"))
        return steps

    steps = []
    env, created = workspace.ensure_environment()
    steps.append(_done("environment", env, created))
    registered = []
    for component in components():
        _, created = workspace.ensure_component(component, fingerprint(component))
        registered.append(component)
        steps.append(PlanStep("component", component.name, str(component.version), "exists",
                              "created" if created else "none"))
    record_versions(registered)
    for config in configs:
        asset = register_circuit_data(config, workspace, echo=lambda _: None)
        steps.append(PlanStep("data", asset.name, asset.version, "exists", "created" if asset.created else "none",
                              asset.summary))
    echo(format_plan(steps, title=f"Registered in {workspace.backend}"))
    return steps


def _done(kind: str, entity, created: bool) -> PlanStep:
    name = entity["name"] if isinstance(entity, dict) else entity.name
    version = entity["version"] if isinstance(entity, dict) else entity.version
    return PlanStep(kind, name, str(version), "exists", "created" if created else "none")


def format_plan(steps: list[PlanStep], title: str) -> str:
    """The plan as an aligned text table."""
    rows = [("kind", "name:version", "state", "action", "detail")]
    rows += [(s.kind, f"{s.name}:{s.version}", s.state, s.action, s.detail) for s in steps]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [title]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + f"  {row[4]}".rstrip())
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.action] = counts.get(step.action, 0) + 1
    words = {"create": "to create", "created": "created", "none": "unchanged", "check, then create if missing": "to check"}
    lines.append("  " + ", ".join(f"{n} {words.get(a, a)}" for a, n in counts.items()))
    return "\n".join(lines)
