"""The shared Azure ML registry (``azure.registry_name``, ``AZUREML_REGISTRY``): promotion target.

Environment, then components (their environment referenced inside the registry as
``azureml://registries/<reg>/environments/<name>/versions/<v>``: the short form fails there),
then the model, at the version it has in the source workspace. Each is read first: azure-ai-ml
silently returns an existing asset for an existing name and version, so content is compared
here (components by their fingerprint tags, models by their ``model_hash`` tag).

Azure ML registries have no MLflow aliases: the stage is recorded as tags on the registry model
version (``alias_test`` / ``alias_prod`` = ``true`` on exactly one version each), plus the same
audit tags as locally.
"""

from __future__ import annotations

import copy
from typing import Any

from sensor_pipelines.backends.azure.errors import azure_call, azure_error
from sensor_pipelines.backends.azure.settings import env_variables
from sensor_pipelines.backends.base import AssetVersion, PromotedModel
from sensor_pipelines.core.config.schema import EnvConfig
from sensor_pipelines.core.errors import AssetConflictError, UserError

FINGERPRINT_TAGS = {"interface": "fingerprint_interface", "code": "fingerprint_code"}
ALIAS_TAG = "alias_{}"


def registry_model_uri(registry: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/models/{name}/versions/{version}"


def registry_component_uri(registry: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/components/{name}/versions/{version}"


def registry_environment_uri(registry: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/environments/{name}/versions/{version}"


class AzureRegistry:
    """One Azure ML registry through ``MLClient(registry_name=...)`` (created on first use)."""

    backend = "azure"

    def __init__(self, env: EnvConfig, env_file: str, registry_client: Any = None):
        self.env, self.env_file = env, env_file
        self._client = registry_client

    @property
    def name(self) -> str:
        name = (self.env.azure.registry_name if self.env.azure else None) or ""
        if not name:
            variable = env_variables(self.env_file).get("registry_name", "AZUREML_REGISTRY")
            raise UserError(f"no Azure ML registry for env {self.env.name!r} ({self.env_file}): azure.registry_name; "
                            f"set the environment variable {variable}")
        return name

    @property
    def client(self) -> Any:
        """``MLClient(registry_name=...)``: its constructor calls the service, so it is made only when needed."""
        name = self.name
        if self._client is None:
            from azure.ai.ml import MLClient
            from azure.core.exceptions import AzureError
            from azure.identity import DefaultAzureCredential

            try:
                self._client = MLClient(DefaultAzureCredential(), registry_name=name)
            except (AzureError, ValueError) as exc:
                raise azure_error(f"registry client {name}", exc) from exc
        return self._client

    def ensure_tracking_store(self) -> str:
        return self.name

    def _get(self, kind: str, name: str, version: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        with azure_call(f"registry {self.name} {kind}.get {name}:{version}"):
            try:
                return getattr(client, kind).get(name=name, version=str(version))
            except ResourceNotFoundError:
                return None

    # -- environment and components ------------------------------------------------------------
    def get_environment(self, name: str, version: str) -> AssetVersion | None:
        return AssetVersion("environment", name, version) if self._get("environments", name, version) else None

    def ensure_environment(self) -> tuple[AssetVersion, bool]:
        from azure.ai.ml.entities import Environment

        from sensor_pipelines.core import runtime_env as spec

        name, version = spec.ENVIRONMENT_NAME, spec.environment_version()
        if self.get_environment(name, version) is not None:
            return AssetVersion("environment", name, version), False
        environment = Environment(name=name, version=version, image=spec.BASE_IMAGE, conda_file=str(spec.CONDA_FILE),
                                  description=f"Runtime of the sensor-pipelines components (spec hash {version})")
        with azure_call(f"registry {self.name} environments.create_or_update {name}:{version}"):
            self.client.environments.create_or_update(environment)
        return AssetVersion("environment", name, version), True

    def get_component(self, name: str, version: str) -> AssetVersion | None:
        return AssetVersion("component", name, version) if self._get("components", name, version) else None

    def component_fingerprint(self, name: str, version: str) -> dict[str, str] | None:
        found = self._get("components", name, version)
        if found is None:
            return None
        tags = found.tags or {}
        return {key: tags.get(tag, "") for key, tag in FINGERPRINT_TAGS.items()}

    def ensure_component(self, component: Any, fingerprint: dict[str, str]) -> tuple[AssetVersion, bool]:
        """The component at its pinned version, its environment referenced inside this registry."""
        from sensor_pipelines.core import runtime_env as spec

        name, version = component.name, str(component.version)
        recorded = self.component_fingerprint(name, version)
        if recorded is not None:
            if any(recorded.get(k) and recorded[k] != fingerprint.get(k) for k in FINGERPRINT_TAGS):
                raise AssetConflictError(f"component {name}:{version} is already in the registry {self.name} with other "
                                         f"code or interface; bump its version")
            return AssetVersion("component", name, version), False
        entity = copy.deepcopy(component)
        entity.environment = registry_environment_uri(self.name, spec.ENVIRONMENT_NAME, spec.environment_version())
        entity.tags = {**(component.tags or {}), **{tag: fingerprint[k] for k, tag in FINGERPRINT_TAGS.items()}}
        with azure_call(f"registry {self.name} components.create_or_update {name}:{version}"):
            self.client.components.create_or_update(entity)
        return AssetVersion("component", name, version), True

    # -- models ---------------------------------------------------------------------------------
    def _promoted(self, model: Any) -> PromotedModel:
        tags = dict(model.tags or {})
        aliases = [k.removeprefix("alias_") for k, v in tags.items() if k.startswith("alias_") and v == "true"]
        return PromotedModel(name=model.name, version=str(model.version), source_version=tags.get("source_version", ""),
                             content_hash=tags.get("model_hash", ""),
                             uri=registry_model_uri(self.name, model.name, str(model.version)), tags=tags,
                             aliases=aliases)

    def _versions(self, name: str) -> list[Any]:
        from azure.core.exceptions import ResourceNotFoundError

        with azure_call(f"registry {self.name} models.list {name}"):
            try:
                return list(self.client.models.list(name=name))
            except ResourceNotFoundError:
                return []

    def get_model(self, name: str, version: str) -> PromotedModel | None:
        found = self._get("models", name, version)
        return None if found is None else self._promoted(found)

    def find_model(self, name: str, source_version: str) -> PromotedModel | None:
        """The registry keeps the workspace's version number: ``name:source_version``."""
        return self.get_model(name, source_version)

    def latest_model(self, name: str) -> PromotedModel | None:
        versions = [m for m in self._versions(name) if str(m.version).isdigit()]
        return self._promoted(max(versions, key=lambda m: int(m.version))) if versions else None

    def promote_model(self, name: str, source_version: str, content_hash: str, content: str,
                      tags: dict[str, str]) -> PromotedModel:
        """Copy the workspace's model version (``content``: its asset id) into the registry, same version."""
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Model

        model = Model(name=name, version=str(source_version), type=AssetTypes.MLFLOW_MODEL, path=content,
                      tags={**tags, "source_version": str(source_version), "model_hash": content_hash},
                      description=f"{name} version {source_version}, promoted")
        with azure_call(f"registry {self.name} models.create_or_update {name}:{source_version}"):
            self.client.models.create_or_update(model)
        return self.get_model(name, str(source_version))

    def model_by_alias(self, name: str, alias: str) -> PromotedModel | None:
        tag = ALIAS_TAG.format(alias)
        found = [m for m in self._versions(name) if (m.tags or {}).get(tag) == "true"]
        return self._promoted(found[0]) if found else None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Exactly one version carries ``alias_<alias>=true`` (registries have no MLflow aliases)."""
        tag = ALIAS_TAG.format(alias)
        for model in self._versions(name):
            holds = (model.tags or {}).get(tag) == "true"
            if holds != (str(model.version) == str(version)):
                self._set_tags(model, {tag: "true" if str(model.version) == str(version) else "false"})

    def set_model_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        model = self._get("models", name, version)
        if model is None:
            raise UserError(f"model {name}:{version} is not in the registry {self.name}")
        self._set_tags(model, tags)

    def _set_tags(self, model: Any, tags: dict[str, str]) -> None:
        model.tags = {**(model.tags or {}), **{k: str(v) for k, v in tags.items()}}
        with azure_call(f"registry {self.name} models.create_or_update {model.name}:{model.version} (tags)"):
            self.client.models.create_or_update(model)
