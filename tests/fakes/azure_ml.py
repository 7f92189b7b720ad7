"""An in-memory stand-in for ``azure.ai.ml.MLClient``: records calls, holds entities.

Behaves like the service where the backend depends on it: ``get`` of a missing
name:version raises ``ResourceNotFoundError``; versions are immutable (creating an
existing one raises ``HttpResponseError``); a version must be given (no auto-increment);
data uploads copy the local folder (so tests can inspect what would be uploaded);
submitted jobs are serialised with ``_to_rest_object`` and the SDK's JSON encoder (the body
that would be sent) and read back
with ``Job._from_rest_object``; ``jobs.stream`` raises ``JobException`` for a failed job,
as azure-ai-ml does.
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

ARM_PREFIX = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"


def wire_body(rest_model: Any) -> dict:
    """The JSON body azure-ai-ml sends for a REST model (as its generated operations encode it)."""
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import SdkJSONEncoder

    return json.loads(json.dumps(rest_model, cls=SdkJSONEncoder, exclude_readonly=True))


class _Operations:
    """Shared call recording and failure injection."""

    kind = ""

    def __init__(self, client: "FakeMLClient"):
        self.client = client

    def _call(self, method: str, *args: Any) -> None:
        operation = f"{self.kind}.{method}"
        self.client.calls.append((operation, *args))
        failure = self.client.failures.get(operation)
        if failure is not None:
            raise failure


class VersionedOperations(_Operations):
    """``get`` / ``create_or_update`` / ``list`` over a dict of (name, version) -> entity."""

    asset_path = ""

    def __init__(self, client: "FakeMLClient", kind: str):
        super().__init__(client)
        self.kind = kind
        self.asset_path = kind
        self.items: dict[tuple[str, str], Any] = {}
        self.created: list[Any] = []  # every entity handed to create_or_update, in order

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Any:
        self._call("get", name, version)
        key = (name, str(version))
        if key not in self.items:
            raise ResourceNotFoundError(f"({self.kind}) {name}:{version} not found in workspace")
        return _copy(self.items[key])

    def list(self, name: str | None = None, **_: Any) -> list[Any]:
        self._call("list", name)
        return [copy.deepcopy(e) for (n, _v), e in sorted(self.items.items()) if name is None or n == name]

    def create_or_update(self, entity: Any, **_: Any) -> Any:
        self._call("create_or_update", entity.name, entity.version)
        if not entity.version:
            raise AssertionError(f"{self.kind}: {entity.name} created without a version (would auto-increment)")
        key = (entity.name, str(entity.version))
        if key in self.items and self.immutable(entity):
            raise HttpResponseError(f"(UserError) {self.kind} {key[0]}:{key[1]} already exists and is immutable")
        self.created.append(entity)
        stored = self._store(entity)
        self.items[key] = stored
        return _copy(stored)

    def immutable(self, entity: Any) -> bool:
        return True

    def _store(self, entity: Any) -> Any:
        stored = _copy(entity)
        c = self.client
        stored._id = ARM_PREFIX.format(sub=c.subscription_id, rg=c.resource_group, ws=c.workspace_name) + \
            f"/{self.asset_path}/{entity.name}/versions/{entity.version}"
        return stored


def _copy(entity: Any) -> Any:
    """A deep copy; a DSL pipeline component (whose node inputs refuse deepcopy) is kept as it is."""
    try:
        return copy.deepcopy(entity)
    except KeyError:
        return entity


class DataOperations(VersionedOperations):
    """Data assets: an mltable folder must hold an MLTable file; the upload is a folder copy."""

    def __init__(self, client: "FakeMLClient"):
        super().__init__(client, "data")
        self.uploads: dict[tuple[str, str], Path] = {}

    def _store(self, entity: Any) -> Any:
        source = Path(entity.path)
        if entity.type == "mltable":
            self._check_mltable(source)
        target = self.client.root / "datastore" / "LocalUpload" / uuid.uuid4().hex / source.name
        shutil.copytree(source, target)
        self.uploads[(entity.name, str(entity.version))] = target
        stored = super()._store(entity)
        stored.path = f"azureml://datastores/workspaceblobstore/paths/LocalUpload/{target.parent.name}/{source.name}/"
        return stored


    @staticmethod
    def _check_mltable(folder: Path) -> None:
        """What ``data.create_or_update`` checks locally: azure-ai-ml's MLTable loader, files present."""
        from azure.ai.ml._utils._data_utils import read_local_mltable_metadata_contents
        from azure.ai.ml.entities._data.mltable_metadata import MLTableMetadata

        if not (folder / "MLTable").is_file():
            raise HttpResponseError(f"(UserError) no MLTable file in {folder}")
        metadata = MLTableMetadata._load(read_local_mltable_metadata_contents(path=str(folder)), folder / "MLTable")
        for uri in metadata.referenced_uris():
            if not (folder / uri).exists():
                raise HttpResponseError(f"(UserError) MLTable in {folder} references missing {uri}")


class ModelOperations(VersionedOperations):
    """Models: tags of an existing version may be updated (``az ml model update``)."""

    def __init__(self, client: "FakeMLClient"):
        super().__init__(client, "models")

    def immutable(self, entity: Any) -> bool:
        return False


@dataclass
class FakeChildJob:
    """A pipeline node's child job as ``jobs.list(parent_job_name=...)`` returns it."""

    name: str
    display_name: str
    status: str
    studio_url: str
    properties: dict[str, str] = field(default_factory=dict)


class JobOperations(_Operations):
    """Pipeline jobs: submit, stream, get, list children, download outputs."""

    kind = "jobs"

    def __init__(self, client: "FakeMLClient"):
        super().__init__(client)
        self.final_status = "Completed"
        self.node_status: dict[str, str] = {}  # node name -> child status (default: final_status)
        self.submitted: list[Any] = []  # the PipelineJob entities handed to create_or_update
        self.sent: dict[str, dict] = {}  # job name -> the wire body (``_to_rest_object().serialize()``)
        self.streamed: list[str] = []
        self.output_files: dict[tuple[str, str], dict[str, str]] = {}  # (job, output) -> {file: text}
        self._rest: dict[str, Any] = {}

    def create_or_update(self, job: Any, **_: Any) -> Any:
        self._call("create_or_update", job.name)
        rest = job._to_rest_object()
        self.submitted.append(job)
        self.sent[job.name] = wire_body(rest)
        self._rest[job.name] = rest
        return self._job(job.name, "NotStarted")

    def stream(self, name: str) -> None:
        self._call("stream", name)
        self._known(name)
        self.streamed.append(name)
        if self.final_status == "Failed":
            from azure.ai.ml.exceptions import JobException

            raise JobException(message='Exception : \n {"error": "node train failed"} ',
                               no_personal_data_message="Exception raised on failed job.")

    def get(self, name: str) -> Any:
        self._call("get", name)
        return self._job(name, self.final_status)

    def list(self, parent_job_name: str | None = None, **_: Any) -> list[FakeChildJob]:
        self._call("list", parent_job_name)
        self._known(parent_job_name)
        body = self.sent[parent_job_name]["properties"]
        return [FakeChildJob(name=f"{parent_job_name}_{node}", display_name=node,
                             status=self.node_status.get(node, self.final_status),
                             studio_url=f"https://ml.azure.com/runs/{parent_job_name}_{node}")
                for node in body["jobs"]]

    def download(self, name: str, download_path: str = ".", output_name: str | None = None, **_: Any) -> None:
        self._call("download", name, output_name)
        files = self.output_files.get((name, output_name))
        if files is None:
            return  # like the SDK: a missing output is only logged
        folder = Path(download_path) / "named-outputs" / output_name
        folder.mkdir(parents=True, exist_ok=True)
        for filename, text in files.items():
            (folder / filename).write_text(text)

    def _known(self, name: str | None) -> None:
        if name not in self._rest:
            raise ResourceNotFoundError(f"(UserError) job {name} not found")

    def _job(self, name: str, status: str) -> Any:
        from azure.ai.ml.entities import Job

        self._known(name)
        rest = copy.deepcopy(self._rest[name])
        c = self.client
        rest.id = ARM_PREFIX.format(sub=c.subscription_id, rg=c.resource_group, ws=c.workspace_name) + f"/jobs/{name}"
        rest.properties.status = status
        return Job._from_rest_object(rest)


class WorkspaceOperations(_Operations):
    kind = "workspaces"

    def get(self, name: str | None = None, **_: Any) -> Any:
        self._call("get", name)
        if name != self.client.workspace_name:
            raise ResourceNotFoundError(f"(ResourceNotFound) workspace {name} not found")
        c = self.client
        return SimpleNamespace(
            name=name,
            mlflow_tracking_uri="azureml://westeurope.api.azureml.ms/mlflow/v1.0"
            + ARM_PREFIX.format(sub=c.subscription_id, rg=c.resource_group, ws=name),
        )


class FakeMLClient:
    """``MLClient`` for tests: ``data``, ``environments``, ``components``, ``models``, ``jobs``, ``workspaces``.

    ``failures["data.get"] = SomeAzureError(...)`` makes that operation raise.
    """

    def __init__(self, root: Path, subscription_id: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "rg-sensors", workspace_name: str = "mlw-sensors-dev"):
        self.root = Path(root)
        self.subscription_id, self.resource_group, self.workspace_name = subscription_id, resource_group, workspace_name
        self.calls: list[tuple] = []
        self.failures: dict[str, BaseException] = {}
        self.data = DataOperations(self)
        self.environments = VersionedOperations(self, "environments")
        self.components = VersionedOperations(self, "components")
        self.models = ModelOperations(self)
        self.jobs = JobOperations(self)
        self.workspaces = WorkspaceOperations(self)

    def created(self) -> dict[str, list[Any]]:
        """Every entity created so far, by kind."""
        return {kind: list(getattr(self, kind).created) for kind in ("data", "environments", "components", "models")}


class _Poller:
    def __init__(self, value: Any):
        self._value = value

    def result(self, timeout: Any = None) -> Any:
        return self._value


class BatchEndpointOperations(_Operations):
    """Batch endpoints: each entity is converted with ``_to_rest_batch_endpoint`` (the body sent) and read back."""

    kind = "batch_endpoints"

    def __init__(self, client: "FakeMLClient"):
        super().__init__(client)
        self.items: dict[str, Any] = {}
        self.sent: list[dict] = []
        self.invoked: list[dict] = []

    def get(self, name: str, **_: Any) -> Any:
        from azure.ai.ml.entities import BatchEndpoint

        self._call("get", name)
        if name not in self.items:
            raise ResourceNotFoundError(f"(ResourceNotFound) batch endpoint {name} not found")
        return BatchEndpoint._from_rest_object(copy.deepcopy(self.items[name]))

    def list(self, **_: Any) -> list[Any]:
        from azure.ai.ml.entities import BatchEndpoint

        self._call("list")
        return [BatchEndpoint._from_rest_object(copy.deepcopy(r)) for _, r in sorted(self.items.items())]

    def begin_create_or_update(self, endpoint: Any, **_: Any) -> _Poller:
        self._call("begin_create_or_update", endpoint.name)
        rest = endpoint._to_rest_batch_endpoint(location="westeurope")
        self.sent.append(wire_body(rest))
        c = self.client
        rest.id = ARM_PREFIX.format(sub=c.subscription_id, rg=c.resource_group, ws=c.workspace_name) + \
            f"/batchEndpoints/{endpoint.name}"
        rest.name = endpoint.name
        self.items[endpoint.name] = rest
        return _Poller(self.get(endpoint.name))

    def invoke(self, endpoint_name: str, *, deployment_name: str | None = None, inputs: dict | None = None,
               **_: Any) -> Any:
        self._call("invoke", endpoint_name, deployment_name)
        if endpoint_name not in self.items:
            raise ResourceNotFoundError(f"(ResourceNotFound) batch endpoint {endpoint_name} not found")
        self.invoked.append({"endpoint": endpoint_name, "deployment": deployment_name, "inputs": inputs})
        name = f"batchjob-{len(self.invoked)}"
        self.client.jobs.batch_jobs[name] = SimpleNamespace(name=name, status="Completed",
                                                           studio_url=f"https://ml.azure.com/runs/{name}")
        return SimpleNamespace(name=name)


class BatchDeploymentOperations(_Operations):
    """Batch deployments, converted with ``_to_rest_object`` (a field the service rejects fails here)."""

    kind = "batch_deployments"

    def __init__(self, client: "FakeMLClient"):
        super().__init__(client)
        self.items: dict[tuple[str, str], Any] = {}
        self.sent: list[dict] = []
        self.created: list[Any] = []

    def begin_create_or_update(self, deployment: Any, **_: Any) -> _Poller:
        self._call("begin_create_or_update", deployment.endpoint_name, deployment.name)
        if deployment.endpoint_name not in self.client.batch_endpoints.items:
            raise ResourceNotFoundError(f"(ResourceNotFound) batch endpoint {deployment.endpoint_name} not found")
        self.sent.append(wire_body(deployment._to_rest_object(location="westeurope")))
        self.created.append(deployment)
        self.items[(deployment.endpoint_name, deployment.name)] = copy.deepcopy(deployment)
        return _Poller(copy.deepcopy(deployment))

    def list(self, endpoint_name: str, **_: Any) -> list[Any]:
        self._call("list", endpoint_name)
        return [copy.deepcopy(d) for (e, _n), d in sorted(self.items.items()) if e == endpoint_name]


class ScheduleOperations(_Operations):
    kind = "schedules"

    def __init__(self, client: "FakeMLClient"):
        super().__init__(client)
        self.created: list[Any] = []
        self.sent: dict[str, dict] = {}

    def begin_create_or_update(self, schedule: Any, **_: Any) -> _Poller:
        self._call("begin_create_or_update", schedule.name)
        self.sent[schedule.name] = wire_body(schedule._to_rest_object())
        self.created.append(schedule)
        return _Poller(schedule)


def with_release_operations(client: FakeMLClient) -> FakeMLClient:
    """Add batch endpoints, deployments and schedules to a fake client (and batch jobs to its jobs)."""
    client.batch_endpoints = BatchEndpointOperations(client)
    client.batch_deployments = BatchDeploymentOperations(client)
    client.schedules = ScheduleOperations(client)
    client.jobs.batch_jobs = {}
    original_get, original_stream = client.jobs.get, client.jobs.stream

    def get(name: str) -> Any:
        return client.jobs.batch_jobs[name] if name in client.jobs.batch_jobs else original_get(name)

    def stream(name: str) -> None:
        if name not in client.jobs.batch_jobs:
            original_stream(name)

    client.jobs.get, client.jobs.stream = get, stream
    return client
