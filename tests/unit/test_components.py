"""Component YAML, environment versioning and the component version policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.ml import load_component

from sensor_pipelines.core import runtime_env as environment
from sensor_pipelines.core.fileio import read_json, write_json_atomic
from sensor_pipelines.pipelines import catalog


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "components"
    catalog.compile_components(out)
    return out


def test_every_component_compiles_to_yaml_matching_its_python_definition(compiled):
    for component in catalog.components():
        loaded = load_component(source=compiled / component.name / f"{component.name}.yaml")
        assert (loaded.name, loaded.version) == (component.name, component.version)
        assert set(loaded.inputs) == set(component.inputs)
        assert set(loaded.outputs) == set(component.outputs)
        for name, port in component.inputs.items():
            assert loaded.inputs[name].type == port.type
        for name, port in component.outputs.items():
            assert loaded.outputs[name].type == port.type
        assert loaded.environment == f"{environment.ENVIRONMENT_NAME}:{environment.environment_version()}"
        assert "labels/latest" not in str(loaded.environment)


def test_code_snapshot_holds_only_the_library_and_components(compiled):
    for component in catalog.components():
        snapshot = compiled / component.name
        top = {p.name for p in snapshot.iterdir()}
        assert top == {"components_py", "sensor_pipelines", f"{component.name}.yaml"}
        assert not list(snapshot.rglob("__pycache__"))
        assert (snapshot / catalog.source_file(component).relative_to(catalog.RECORD_FILE.parents[1])).is_file()


def test_environment_version_follows_its_spec(tmp_path):
    spec = tmp_path / "conda.yaml"
    spec.write_bytes(environment.CONDA_FILE.read_bytes())
    same = environment.environment_version(spec)
    assert same == environment.environment_version()
    spec.write_text(spec.read_text() + "      - rich==15.0.0\n")
    assert environment.environment_version(spec) != same


def test_environment_spec_satisfies_pyproject():
    import tomllib

    from packaging.requirements import Requirement

    pins = {}
    for line in environment.CONDA_FILE.read_text().splitlines():
        if "==" in line:
            name, version = line.strip(" -").split("==")
            pins[name.lower()] = version
    project = tomllib.loads((catalog.RECORD_FILE.parents[1] / "pyproject.toml").read_text())["project"]
    for raw in project["dependencies"]:
        req = Requirement(raw)
        if req.marker and not req.marker.evaluate():
            continue
        if req.name.lower() in pins:
            assert req.specifier.contains(pins[req.name.lower()]), f"{req} vs conda.yaml {pins[req.name.lower()]}"
    assert {"tensorflow-cpu", "pandas", "mlflow", "mldesigner"} <= set(pins)


def test_version_check_catches_unbumped_changes(tmp_path, monkeypatch):
    record = tmp_path / "registered_versions.json"
    catalog.record_versions(catalog.components(), record)
    assert catalog.version_problems(record) == []

    data = read_json(record)
    version = data["evaluate_model"]["version"]
    data["evaluate_model"]["code"] = "0" * 64  # the code changed since this version was recorded
    write_json_atomic(record, data)
    problems = catalog.version_problems(record)
    assert len(problems) == 1 and problems[0].startswith(f"evaluate_model {version}: code changed")

    data["evaluate_model"]["version"] = "0.9.0"  # recorded an older version: the current one is a bump
    write_json_atomic(record, data)
    assert catalog.version_problems(record) == []


def test_repository_record_is_current():
    """The committed record matches the code: a changed component needs a version bump."""
    assert catalog.RECORD_FILE.is_file(), "components_py/registered_versions.json is committed"
    assert set(catalog.read_record()) == {component.name for component in catalog.components()}
    assert catalog.version_problems() == []
