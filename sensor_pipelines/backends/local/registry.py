"""The local shared registry (``.mlops/registry/``): what every local env deploys from.

Layout::

    environments/<name>/<version>/environment.json     promoted environment spec
    components/<name>/<version>/component.json         promoted component spec + fingerprint
    models/<name>/<source version>/                    promoted model files (immutable)
    mlflow.db                                          MLflow model registry: promoted versions,
                                                       aliases ``test``/``prod``, audit tags

The registry's MLflow store is the one source of truth of which version serves where:
``models:/PLANT1_CIRC1_model@prod`` resolves against it from any env. Promoted versions
carry ``source_version`` (the version in the workspace they came from) and ``model_hash``
(the content hash of their files): promotion reads first and compares that hash.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sensor_pipelines.backends.base import PromotedModel
from sensor_pipelines.backends.local.workspace import LocalWorkspace
from sensor_pipelines.core.errors import AssetConflictError, UserError


class LocalRegistry(LocalWorkspace):
    """Environment, components and promoted models in one folder shared by every local env."""

    def __init__(self, root: str | Path):
        super().__init__(root, experiment_name="registry")
        self.name = str(self.root)

    def _client(self):
        from mlflow.tracking import MlflowClient

        self.ensure_tracking_store()
        return MlflowClient(self.tracking_uri, self.tracking_uri)

    def _promoted(self, version) -> PromotedModel:
        tags = dict(version.tags)
        aliases = list(getattr(version, "aliases", []) or [])
        return PromotedModel(name=version.name, version=str(version.version), source_version=tags.get("source_version", ""),
                             content_hash=tags.get("model_hash", ""), uri=str(version.source).removeprefix("file://"),
                             tags=tags, aliases=aliases)

    def _versions(self, name: str) -> list:
        from mlflow.exceptions import MlflowException

        if not (self.root / "mlflow.db").is_file():
            return []
        try:
            return list(self._client().search_model_versions(f"name='{name}'"))
        except MlflowException:
            return []

    def find_model(self, name: str, source_version: str) -> PromotedModel | None:
        """The promoted version that came from ``source_version``, or None."""
        found = [v for v in self._versions(name) if v.tags.get("source_version") == str(source_version)]
        return self.get_model(name, str(found[0].version)) if found else None

    def latest_model(self, name: str) -> PromotedModel | None:
        """The promoted version with the highest source version, or None."""
        found = [v for v in self._versions(name) if str(v.tags.get("source_version", "")).isdigit()]
        if not found:
            return None
        best = max(found, key=lambda v: int(v.tags["source_version"]))
        return self.get_model(name, str(best.version))

    def get_model(self, name: str, version: str) -> PromotedModel | None:
        from mlflow.exceptions import MlflowException

        if not (self.root / "mlflow.db").is_file():
            return None
        try:
            return self._promoted(self._client().get_model_version(name, str(version)))
        except MlflowException:
            return None

    def promote_model(self, name: str, source_version: str, content_hash: str, content: str,
                      tags: dict[str, str]) -> PromotedModel:
        """Copy the model files at ``content`` in (aside, then renamed) and register them as a new version."""
        from mlflow.exceptions import MlflowException

        from sensor_pipelines.core.tracking import retry_when_locked

        with self._lock("promote"):
            existing = self.find_model(name, source_version)
            if existing is not None:
                if existing.content_hash != content_hash:
                    raise AssetConflictError(f"{name} version {source_version} was promoted with other content")
                return existing
            final = self.root / "models" / name / str(source_version)
            if final.exists():  # files of an earlier attempt that crashed before registering
                shutil.rmtree(final)
            tmp = final.parent / f".tmp-{source_version}-{uuid.uuid4().hex[:8]}"
            try:
                shutil.copytree(content, tmp)
                os.rename(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            client = self._client()
            try:
                retry_when_locked(client.create_registered_model, name)
            except MlflowException as exc:
                if "already exists" not in str(exc).lower():
                    raise
            version = retry_when_locked(client.create_model_version, name, str(final), tags={
                **tags, "source_version": str(source_version), "model_hash": content_hash})
        return self.get_model(name, str(version.version))

    def model_by_alias(self, name: str, alias: str) -> PromotedModel | None:
        from mlflow.exceptions import MlflowException

        if not (self.root / "mlflow.db").is_file():
            return None
        try:
            return self._promoted(self._client().get_model_version_by_alias(name, alias))
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        from sensor_pipelines.core.tracking import retry_when_locked

        retry_when_locked(self._client().set_registered_model_alias, name, alias, str(version))

    def set_model_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        if self.get_model(name, version) is None:
            raise UserError(f"model {name} version {version} is not in the registry {self.root}")
        from sensor_pipelines.core.tracking import retry_when_locked

        client = self._client()
        for key, value in tags.items():
            retry_when_locked(client.set_model_version_tag, name, str(version), key, str(value))
