"""The component catalog: every mldesigner component, its fingerprint and its recorded version."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sensor_pipelines.core.fileio import read_json, write_json_atomic
from sensor_pipelines.core.provenance import code_hash, component_source, interface_hash

COMPONENT_MODULES = (
    "components_py.training.train_lstm_model",
    "components_py.training.evaluate_model",
    "components_py.training.register_model",
    "components_py.scoring.batch_score",
    "components_py.scoring.validate_predictions",
    "components_py.monitoring.detect_drift",
    "components_py.monitoring.calculate_metrics",
)
SCORING_COMPONENTS = ("batch_score", "validate_predictions")
RECORD_FILE = Path(__file__).resolve().parents[2] / "components_py" / "registered_versions.json"


def train_component():
    """The component whose version model versions are tagged with (``component_version``)."""
    from components_py.training.train_lstm_model import train_lstm_model

    return train_lstm_model.component


def scoring_components() -> list[Any]:
    """The components the ``batch_scoring`` pipeline runs (what a deployment pins)."""
    return [c for c in components() if c.name in SCORING_COMPONENTS]


def components() -> list[Any]:
    """The CommandComponent entities of every component in the catalog."""
    found = []
    for name in COMPONENT_MODULES:
        module = importlib.import_module(name)
        found += [obj.component for obj in vars(module).values() if getattr(obj, "_is_mldesigner_component", False)]
    return found


def source_file(component) -> Path:
    return component_source(component.command, component.code)


def fingerprint(component) -> dict[str, str]:
    """Version, interface hash and code hash of a component as defined in the code now."""
    spec = component._to_dict()
    ports = {kind: {name: {k: v for k, v in port.items() if k != "description"} for name, port in spec.get(kind, {}).items()}
             for kind in ("inputs", "outputs")}
    return {
        "version": str(component.version),
        "environment": str(component.environment),
        "interface": interface_hash(ports["inputs"], ports["outputs"]),
        "code": code_hash(component.command, component.code),
    }


def read_record(path: Path | None = None) -> dict[str, dict[str, str]]:
    path = path or RECORD_FILE
    return read_json(path) if path.is_file() else {}


def version_problems(path: Path | None = None) -> list[str]:
    """Components whose code or interface changed since their recorded version, unbumped."""
    record = read_record(path)
    problems = []
    for component in components():
        now, then = fingerprint(component), record.get(component.name)
        if then is None or then["version"] != now["version"]:
            continue  # new component, or already bumped: registration will record it
        changed = [part for part in ("interface", "code", "environment") if then.get(part) != now[part]]
        if changed:
            problems.append(
                f"{component.name} {now['version']}: {' and '.join(changed)} changed since this version was "
                f"recorded; bump its version in {source_file(component).relative_to(RECORD_FILE.parents[1])} "
                f"(patch: fix, minor: feature, major: breaking interface change)"
            )
    return problems


def record_versions(registered: list[Any], path: Path | None = None) -> None:
    """Record the fingerprints of the components just registered."""
    record = read_record(path)
    for component in registered:
        record[component.name] = fingerprint(component)
    write_json_atomic(path or RECORD_FILE, record)


def compile_components(output: Path) -> list[Path]:
    """Compile every component to ``output/<name>/<name>.yaml`` plus its code snapshot.

    Uses ``mldesigner compile`` (snapshot filtered by the repository's .amlignore) and
    checks each YAML loads with azure-ai-ml. The folder is replaced whole.
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from azure.ai.ml import load_component

    from sensor_pipelines.core.errors import UserError

    root = RECORD_FILE.parents[1]
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}-"))
    try:
        mldesigner = str(Path(sys.executable).with_name("mldesigner"))
        proc = subprocess.run([mldesigner, "compile", "--source", "components_py/**/*.py", "--output", str(staging)],
                              cwd=root, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UserError(f"mldesigner compile failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}")
        files = []
        for component in components():
            yaml_file = staging / component.name / f"{component.name}.yaml"
            loaded = load_component(source=yaml_file)
            if (loaded.name, str(loaded.version)) != (component.name, str(component.version)):
                raise UserError(f"{yaml_file}: compiled as {loaded.name}:{loaded.version}")
            files.append(output / component.name / yaml_file.name)
        shutil.rmtree(output, ignore_errors=True)
        os.rename(staging, output)
        return files
    finally:
        shutil.rmtree(staging, ignore_errors=True)
