"""Results of pipeline jobs run on Azure ML, shaped like the local runner's results.

Node outputs live in the workspace's datastore; they are downloaded on first access
(``run.node("train").outputs["metrics"]`` is a local folder), so flows that read a
node's output files work unchanged on both backends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sensor_pipelines.backends.base import PipelineRun, RunStatus

TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)
_PARENT_OUTPUT = re.compile(r"^\$\{\{parent\.outputs\.([A-Za-z0-9_]+)\}\}$")

Downloader = Callable[[str, str], str]  # (node name, port) -> local folder


_IN_PROGRESS = {"notstarted", "queued", "preparing", "provisioning", "starting", "running", "finalizing"}


def normalize_status(status: Any) -> RunStatus:
    """An Azure ML job status (``Completed``, ``JobStatus.RUNNING``, ``Cancelled``...) as a RunStatus."""
    text = str(getattr(status, "value", status) or "unknown").lower()
    if text in ("cancelled", "canceled", "cancelrequested"):
        return RunStatus.CANCELED
    if text in _IN_PROGRESS:
        return RunStatus.RUNNING
    return RunStatus(text) if text in ("completed", "failed") else RunStatus.UNKNOWN


def pipeline_output_name(node_output: Any) -> str | None:
    """The pipeline-level output a node output is bound to (``${{parent.outputs.X}}`` -> X)."""
    data = getattr(node_output, "_data", node_output)
    match = _PARENT_OUTPUT.match(str(data)) if data is not None else None
    return match.group(1) if match else None


def output_bindings(job: Any) -> dict[str, dict[str, str | None]]:
    """``{node: {port: pipeline output name or None}}`` for every node of a PipelineJob."""
    return {name: {port: pipeline_output_name(out) for port, out in node.outputs.items()}
            for name, node in job.jobs.items()}


class LazyOutputs(Mapping):
    """A node's outputs as local folders, each downloaded from Azure ML when first read."""

    def __init__(self, node: str, ports: list[str], download: Downloader | None):
        self._node, self._ports, self._download = node, list(ports), download
        self._paths: dict[str, str] = {}

    def __getitem__(self, port: str) -> str:
        if port not in self._ports:
            raise KeyError(port)
        if port not in self._paths:
            if self._download is None:
                raise KeyError(f"{self._node}.{port} cannot be downloaded from here")
            self._paths[port] = self._download(self._node, port)
        return self._paths[port]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ports)

    def __len__(self) -> int:
        return len(self._ports)

    def __repr__(self) -> str:
        return f"LazyOutputs({self._node}: {', '.join(self._ports)}; downloaded {sorted(self._paths)})"


@dataclass
class AzurePipelineRun(PipelineRun):
    """A pipeline job on Azure ML: the shared :class:`PipelineRun` plus its studio URL and raw status."""

    azure_status: str = ""
    studio_url: str | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-able summary (outputs as ports, not downloaded paths)."""
        return {
            "run_id": self.run_id, "run_dir": self.run_dir, "pipeline": self.pipeline, "status": self.status,
            "azure_status": self.azure_status, "studio_url": self.studio_url, "tags": self.tags,
            "seconds": self.seconds,
            "nodes": [{"name": n.name, "component": n.component, "version": n.version, "status": n.status,
                       "job_name": n.job_name, "log": n.log, "outputs": list(n.outputs)} for n in self.nodes],
        }
