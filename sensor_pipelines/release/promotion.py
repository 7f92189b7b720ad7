"""Promote a circuit's model to the shared registry: environment, then scoring components, then model.

Everything is pinned (the exact model version, the components' semver, the environment's
spec-hash version) and read before it is written: every check runs first, so a refusal
changes nothing. The same version again is a no-op; the same version with other content
is an AssetConflictError (azure-ai-ml would silently return the existing asset).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sensor_pipelines.backends.base import ModelVersion, PromotedModel, Registry, Workspace
from sensor_pipelines.core import runtime_env
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import AssetConflictError, UserError
from sensor_pipelines.pipelines.catalog import fingerprint, scoring_components

LINEAGE_TAGS = ("cutoff_date", "data_asset_name", "data_asset_version", "component_version", "environment_version",
                "build_id", "git_sha", "config_hash", "validated", "mae", "rmse", "r2")


@dataclass
class PromotionStep:
    kind: str  # environment | component | model
    name: str
    version: str
    action: str  # created | exists (same content)
    detail: str = ""


@dataclass
class Promotion:
    """What ``promote`` did for one circuit."""

    circuit: str
    model: PromotedModel
    steps: list[PromotionStep] = field(default_factory=list)
    forced: bool = False


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def pick_model_version(config: RunConfig, source: Workspace, version: str | None) -> ModelVersion:
    """The requested version, or the latest with ``validated=true``; one clear line when there is none."""
    name = config.circuit.model_name
    if version:
        found = source.get_model_version(name, str(version))
        if found is None:
            raise UserError(f"model {name} version {version} is not registered in env {config.env.name} "
                            f"({source.backend}); list versions with `make ui` or omit MODEL_VERSION")
        return found
    versions = [v for v in source.list_model_versions(name) if v.tags.get("validated") == "true"]
    if not versions:
        raise UserError(f"no validated version of {name} in env {config.env.name}: train and validate it "
                        f"(`make train CIRCUIT={config.circuit.name}` then `make validate`), or pass MODEL_VERSION")
    return max(versions, key=lambda v: v.version)


def promote_circuit(config: RunConfig, source: Workspace, registry: Registry, version: str | None = None,
                    force: bool = False, build_id: str = "local") -> Promotion:
    """Promote the circuit's model version with the scoring components and the environment."""
    chosen = pick_model_version(config, source, version)
    name, source_version = chosen.name, str(chosen.version)
    validated = chosen.tags.get("validated") == "true"
    if not validated and not force:
        raise UserError(f"model {name} version {source_version} is tagged validated={chosen.tags.get('validated', 'missing')}: "
                        f"refused; fix the model, or FORCE=1 to promote it for the test env only")
    components = scoring_components()
    env_name, env_version = runtime_env.ENVIRONMENT_NAME, runtime_env.environment_version()
    with tempfile.TemporaryDirectory(prefix="sensor-pipelines-promote-") as tmp:
        content_hash, content = source.model_content(name, source_version, Path(tmp))
        # every check before any write: a refusal changes nothing
        existing = registry.find_model(name, source_version)
        if existing is not None and existing.content_hash != content_hash:
            raise AssetConflictError(
                f"model {name} version {source_version} is already in the registry {registry.name} with other content "
                f"(hash {existing.content_hash[:12]}, now {content_hash[:12]}): versions are immutable; register the "
                f"changed model as a new version")
        for component in components:
            _check_component(registry, component)
        steps = []
        env, created = registry.ensure_environment()
        steps.append(PromotionStep("environment", env.name, env.version, "created" if created else "exists"))
        for component in components:
            registered, created = registry.ensure_component(component, fingerprint(component))
            steps.append(PromotionStep("component", registered.name, registered.version,
                                       "created" if created else "exists", f"environment {env_name}:{env_version}"))
        if existing is not None:
            model = existing
            steps.append(PromotionStep("model", name, source_version, "exists", f"registry version {model.version}"))
        else:
            tags = {k: v for k, v in chosen.tags.items() if k in LINEAGE_TAGS}
            tags.update(promoted_at=now(), promoted_build_id=build_id, source_env=config.env.name,
                        scoring_components=",".join(f"{c.name}:{c.version}" for c in components),
                        environment=f"{env_name}:{env_version}", forced="true" if not validated else "false")
            model = registry.promote_model(name, source_version, content_hash, content, tags)
            steps.append(PromotionStep("model", name, source_version, "created", f"registry version {model.version}"))
    return Promotion(config.circuit.name, model, steps, forced=not validated)


def _check_component(registry: Registry, component) -> None:
    """A component version already in the registry must hold the same code and interface."""
    if registry.get_component(component.name, str(component.version)) is None:
        return
    recorded = registry.component_fingerprint(component.name, str(component.version))
    now_print = fingerprint(component)
    if recorded and any(recorded.get(k) != now_print[k] for k in ("interface", "code")):
        raise AssetConflictError(
            f"component {component.name}:{component.version} is already in the registry {registry.name} with other "
            f"code or interface: bump its version in components_py/ (versions are immutable)")
