"""A DSL pipeline job as YAML for ``az ml job create --file``, validated by azure-ai-ml's own loader."""

from __future__ import annotations

from pathlib import Path

from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import write_text_atomic

PIPELINE_SCHEMA = "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"


def bind_component_refs(job, refs: dict[str, tuple[str, str]] | None = None) -> None:
    """Point every node of a pipeline job at ``azureml:NAME:VERSION`` (its registered component).

    ``Command.component`` has no setter; ``_component`` is what azure-ai-ml itself sets when
    it resolves a node (``CachedNodeResolver``) and what it serialises as componentId.
    """
    for node_name, node in job.jobs.items():
        name, version = (refs or {}).get(node_name) or (node.component.name, str(node.component.version))
        node._component = f"azureml:{name}:{version}"  # noqa: SLF001 (see docstring)


def write_job_yaml(job, path: Path, *, compute: str, experiment: str, display_name: str, tags: dict[str, str],
                   local_inputs: dict[str, str], what: str) -> Path:
    """Write ``job`` bound to registered components; ``local_inputs`` (input -> file beside ``path``)
    are uploaded by ``az ml``. Nothing is left at ``path`` when azure-ai-ml rejects the YAML."""
    import yaml
    from azure.ai.ml import load_job
    from azure.ai.ml.exceptions import ValidationException
    from marshmallow import ValidationError as MarshmallowValidationError

    bind_component_refs(job)
    job.settings.default_compute = compute
    job.experiment_name = experiment
    job.display_name = display_name
    job.tags = tags
    spec = job._to_dict()  # noqa: SLF001 (the SDK's own YAML form of the job)
    for name, file in local_inputs.items():
        spec["inputs"][name] = {"type": "uri_file", "path": f"./{file}"}
    path = Path(path)
    draft = write_text_atomic(path.with_name(f".{path.stem}.draft.yaml"),
                              f"$schema: {PIPELINE_SCHEMA}\n" + yaml.safe_dump(spec, sort_keys=False))
    try:
        load_job(source=draft)  # anything az ml would reject fails here, and no pipeline.yaml is left
    except (ValidationException, MarshmallowValidationError) as exc:
        draft.unlink()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"pipeline YAML for {what} rejected by azure-ai-ml: {first}") from None
    draft.replace(path)
    return path
