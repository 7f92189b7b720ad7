"""Deploy a promoted model version to a circuit's batch endpoint, behind the release gates; roll back.

Gates (all checked before anything is written, so a refusal changes nothing):

- the model version was promoted to the shared registry (never promoted: refused);
- it is tagged ``validated=true`` (``FORCE=1`` overrides in test only, recorded as ``forced``);
- prod: an approval (``APPROVED_BY``), and the same version deployed to test and scored there.

Which version serves where is the registry's ``test`` / ``prod`` alias, with audit tags on the
version (``deployed_<env>_at``, ``approved_by``, ``build_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensor_pipelines.backends.base import DeploymentSpec, Endpoint, PromotedModel, Registry, Workspace
from sensor_pipelines.core import runtime_env
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.pipelines.catalog import fingerprint, scoring_components
from sensor_pipelines.release.names import deployment_name, endpoint_name
from sensor_pipelines.release.promotion import now

PROD = "prod"


@dataclass
class DeployOutcome:
    endpoint: Endpoint
    deployment: str
    model: PromotedModel
    created: bool
    previous_default: str | None


def promoted_version(config: RunConfig, registry: Registry, version: str | None) -> PromotedModel:
    """The promoted model to deploy: ``version`` (a source version), or for prod the one serving in test,
    else the latest promoted one."""
    name = config.circuit.model_name
    if version:
        found = registry.find_model(name, str(version))
        if found is None:
            raise UserError(f"model {name} version {version} was never promoted to the registry {registry.name}: "
                            f"run `make promote CIRCUIT={config.circuit.name} MODEL_VERSION={version}` first")
        return found
    if config.env.name == PROD:
        found = registry.model_by_alias(name, "test")
        if found is None:
            raise UserError(f"no version of {name} serves in test (alias @test): deploy to test first, or pass "
                            f"MODEL_VERSION")
        return found
    found = registry.latest_model(name)
    if found is None:
        raise UserError(f"no version of {name} was promoted to the registry {registry.name}: run "
                        f"`make promote CIRCUIT={config.circuit.name}` first")
    return found


def check_gates(config: RunConfig, model: PromotedModel, approved_by: str, force: bool) -> None:
    """Refuse (one line, exit 2) a deployment the release rules do not allow."""
    env, label = config.env.name, f"{model.name} version {model.source_version}"
    validated = model.tags.get("validated") == "true"
    forced = model.tags.get("forced") == "true"
    if env == PROD:
        if force:
            raise UserError(f"FORCE=1 is for the test env only: {label} cannot be forced into prod")
        if not validated or forced:
            raise UserError(f"{label} is not validated (validated={model.tags.get('validated')}, "
                            f"forced={model.tags.get('forced', 'false')}): refused for prod")
        if not approved_by.strip():
            raise UserError(f"deploying {label} to prod needs an approval: set APPROVED_BY=<name> (in Azure DevOps "
                            f"the prod environment's approval check)")
        if not model.tags.get("deployed_test_at") or not model.tags.get("scored_test_at"):
            raise UserError(f"{label} was never deployed to test and scored there successfully: run `make deploy` "
                            f"and `make score` with ENV=test first")
    elif not validated and not force:
        raise UserError(f"{label} is tagged validated={model.tags.get('validated', 'missing')}: refused; FORCE=1 "
                        f"deploys it to test anyway (recorded)")


def pinned_components(registry: Registry) -> dict[str, str]:
    """The scoring components at the versions in the code, each promoted with the same code (else refused)."""
    pins = {}
    for component in scoring_components():
        name, version = component.name, str(component.version)
        recorded = registry.component_fingerprint(name, version)
        if recorded is None:
            raise UserError(f"component {name}:{version} is not in the registry {registry.name}: run `make promote` first")
        if any(recorded.get(k) != v for k, v in fingerprint(component).items() if k in ("interface", "code")):
            raise UserError(f"component {name}:{version} in the registry differs from the code: bump its version and "
                            f"promote again")
        pins[name] = version
    return pins


def deployment_spec(config: RunConfig, registry: Registry, model: PromotedModel, approved_by: str, force: bool,
                    build_id: str) -> DeploymentSpec:
    circuit = config.circuit
    pins = pinned_components(registry)
    env_version = runtime_env.environment_version()
    tags = {"circuit": circuit.name, "cutoff_date": model.tags.get("cutoff_date", circuit.cutoff_date),
            "model_name": model.name,
            "model_version": model.source_version, "registry_version": model.version,
            "component_version": pins["batch_score"], "validate_predictions_version": pins["validate_predictions"],
            "environment_version": env_version, "deployed_at": now(), "build_id": build_id,
            "forced": "true" if force and model.tags.get("validated") != "true" else "false"}
    if approved_by:
        tags["approved_by"] = approved_by
    scoring = {"horizon": config.model.horizon, "frequency": circuit.data.frequency,
               "min_value": circuit.forecast_range.min, "max_value": circuit.forecast_range.max}
    tags.update({f"scoring_{k}": str(v) for k, v in scoring.items() if v is not None})
    return DeploymentSpec(
        endpoint=endpoint_name(circuit.name, config.env.name),
        deployment=deployment_name(model.source_version, pins["batch_score"]), circuit=circuit.name, model=model,
        components=pins, environment=f"{runtime_env.ENVIRONMENT_NAME}:{env_version}", registry=registry.name, tags=tags,
        scoring=scoring)


def deploy_circuit(config: RunConfig, workspace: Workspace, registry: Registry, scoring_job: Any,
                   version: str | None = None, approved_by: str = "", force: bool = False,
                   build_id: str = "local") -> DeployOutcome:
    """Deploy the promoted model version to ``be-<circuit>-<env>`` and make it the default."""
    endpoint_name(config.circuit.name, config.env.name)  # a name that cannot exist is refused first
    model = promoted_version(config, registry, version)
    check_gates(config, model, approved_by, force)
    spec = deployment_spec(config, registry, model, approved_by, force, build_id)
    before = workspace.get_endpoint(spec.endpoint)
    endpoint, created = workspace.deploy(spec, lambda: scoring_job(spec))
    env = config.env.name
    registry.set_alias(model.name, env, model.version)
    audit = {f"deployed_{env}_at": spec.tags["deployed_at"], "build_id": build_id}
    if approved_by:
        audit["approved_by"] = approved_by
    if spec.tags["forced"] == "true":
        audit[f"forced_{env}"] = "true"
    registry.set_model_tags(model.name, model.version, audit)
    return DeployOutcome(endpoint, spec.deployment, model, created, before.default_deployment if before else None)


def rollback_circuit(config: RunConfig, workspace: Workspace, registry: Registry) -> DeployOutcome:
    """Make the previous default deployment the default again (and move the env's alias back)."""
    name = endpoint_name(config.circuit.name, config.env.name)
    endpoint = workspace.get_endpoint(name)
    if endpoint is None or endpoint.default is None:
        raise UserError(f"endpoint {name} does not exist or has no default deployment: nothing to roll back")
    current = endpoint.default_deployment
    previous = next((h["deployment"] for h in reversed(endpoint.history) if h["deployment"] != current
                     and h["deployment"] in endpoint.deployments), None)
    if previous is None:
        raise UserError(f"endpoint {name} has had no other default deployment than {current}: nothing to roll back to")
    target = endpoint.deployments[previous]
    model = registry.get_model(target.model_name, target.model_version)
    if model is None:
        raise UserError(f"model {target.model_name} registry version {target.model_version} of deployment {previous} "
                        f"is no longer in the registry")
    endpoint = workspace.set_default_deployment(name, previous, action="rollback")
    env = config.env.name
    registry.set_alias(model.name, env, model.version)
    registry.set_model_tags(model.name, model.version, {f"rolled_back_{env}_at": now()})
    return DeployOutcome(endpoint, previous, model, False, current)
