"""The Azure DevOps build pipeline calls only make targets that exist, and gets a matrix it can use."""

from __future__ import annotations

import json
import re

import yaml

from sensor_pipelines.fleet.changes import CircuitChange, devops_matrix

from ..conftest import REPO


def _scripts(node) -> list[str]:
    if isinstance(node, dict):
        found = [node[k] for k in ("script", "inlineScript", "bash", "pwsh") if isinstance(node.get(k), str)]
        return found + [s for v in node.values() for s in _scripts(v)]
    if isinstance(node, list):
        return [s for v in node for s in _scripts(v)]
    return []


def _make_targets() -> set[str]:
    """Targets with a rule in the Makefile (a name only listed in .PHONY does not count)."""
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z][a-zA-Z0-9_-]*):(?!=)", text, re.M)}


def test_every_step_is_a_make_target_that_exists():
    pipeline = yaml.safe_load((REPO / "azure-pipelines.yml").read_text())
    scripts = _scripts(pipeline)
    assert scripts
    targets = _make_targets()
    for script in scripts:
        assert script.startswith("make "), script
        target = script.split()[1]
        assert target in targets, f"{script!r}: no make target {target!r}"
    assert [s["stage"] for s in pipeline["stages"]] == ["register", "detect", "train", "validate", "promote",
                                                        "release_test", "release_prod", "monitors"]
    train = next(s for s in pipeline["stages"] if s["stage"] == "train")
    strategy = train["jobs"][0]["strategy"]
    assert strategy["maxParallel"] == 5
    assert "changes.matrix" in strategy["matrix"]
    assert pipeline["pr"]["branches"]["include"] == ["main"]
    monitors = next(s for s in pipeline["stages"] if s["stage"] == "monitors")
    assert monitors["dependsOn"] == "release_prod"
    assert _scripts({"stages": [monitors]}) == ['make setup-monitors ENV="$RELEASE_ENV"']


def test_stage_conditions_only_read_stages_they_depend_on():
    """Azure DevOps gives a stage condition ``dependencies.X`` only for X in its dependsOn."""
    pipeline = yaml.safe_load((REPO / "azure-pipelines.yml").read_text())
    for stage in pipeline["stages"]:
        depends = stage.get("dependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        for name in re.findall(r"dependencies\.(\w+)\.", stage.get("condition", "")):
            assert name in depends, f"stage {stage['stage']}: condition reads {name!r}, dependsOn {depends}"
    validate = next(s for s in pipeline["stages"] if s["stage"] == "validate")
    assert "succeeded()" not in validate["condition"], "the gate must also run when some circuits failed"


def test_matrix_shape_is_what_azure_devops_expects():
    changes = [CircuitChange("PLANT1", "CIRC1", "2025-12-09", "modified"),
               CircuitChange("PLANT1", "CIRC2", "2025-12-08", "deleted"),
               CircuitChange("PLANT3", "CIRC4", "2025-12-07", "new")]
    matrix = json.loads(json.dumps(devops_matrix(changes)))
    assert list(matrix) == ["PLANT1_CIRC1", "PLANT3_CIRC4"]  # deleted circuits are never trained
    for job, variables in matrix.items():
        assert re.fullmatch(r"[A-Za-z0-9_]+", job)  # matrix job names: letters, digits, underscore
        assert all(isinstance(v, str) for v in variables.values())
        assert variables["CIRCUIT"] == job


def test_detect_changes_emits_the_matrix_as_an_output_variable(tmp_path, monkeypatch, capsys):
    from sensor_pipelines.cli import main

    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setattr("sensor_pipelines.fleet.changes.detect_changed_circuits",
                        lambda root, branch: [CircuitChange("PLANT1", "CIRC1", "2025-12-09", "new")])
    assert main(["detect-changes", "--output", str(tmp_path / "changed_circuits.json")]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("##vso[task.setvariable variable=matrix;isOutput=true]"))
    assert json.loads(line.split("]", 1)[1]) == {"PLANT1_CIRC1": {"CIRCUIT": "PLANT1_CIRC1", "CUTOFF_DATE": "2025-12-09",
                                                                  "CHANGE_TYPE": "new"}}
    assert "##vso[task.setvariable variable=hasChanges;isOutput=true]true" in out


def test_release_runs_on_main_with_an_approval_and_no_macro_in_scripts():
    pipeline = yaml.safe_load((REPO / "azure-pipelines.yml").read_text())
    assert pipeline["trigger"]["branches"]["include"] == ["main"]
    assert "continueOnError" not in (REPO / "azure-pipelines.yml").read_text()
    stages = {s["stage"]: s for s in pipeline["stages"]}
    prod = stages["release_prod"]["jobs"][0]
    assert prod["deployment"] == "prod" and prod["environment"] == "sensor-pipelines-prod"
    for name in ("promote", "release_test", "release_prod"):
        assert "ne(variables['Build.Reason'], 'PullRequest')" in stages["promote"]["condition"]
        for script in _scripts(stages[name]):
            assert "$(" not in script, f"{name}: {script!r} macro-substitutes a value into the script"
    scripts = [s for n in ("promote", "release_test", "release_prod") for s in _scripts(stages[n])]
    assert [s.split()[1] for s in scripts] == ["promote", "deploy", "score", "deploy-many"]
    assert 'APPROVED_BY="$APPROVED_BY"' in scripts[-1]


def test_makefile_release_recipes_never_splice_variables():
    text = (REPO / "Makefile").read_text()
    for target in ("promote", "deploy", "deploy-many", "score", "endpoints", "rollback", "score-daily", "schedule"):
        recipe = re.search(rf"^{target}:.*?\n((?:\t.*\n)+)", text, re.M).group(1)
        for variable in ("CIRCUIT", "ENV", "MODEL_VERSION", "APPROVED_BY", "INPUT", "BACKEND", "FROM_ENV", "MATRIX"):
            assert f"$({variable})" not in recipe, f"{target} splices $({variable})"


def test_no_script_splices_a_value_into_its_text():
    """Matrix entries and branch names reach scripts as quoted environment variables, never as $(...) macros
    that Azure DevOps would paste into the script before bash parses it."""
    scripts = _scripts(yaml.safe_load((REPO / "azure-pipelines.yml").read_text()))
    for script in scripts:
        assert "$(" not in script, script
        for name in re.findall(r"\$\{?([A-Za-z_]+)", script):
            assert f'"${name}' in script or f'"$' in script, f"{script!r}: ${name} unquoted"
