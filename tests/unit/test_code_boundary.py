"""Component code is one folder: what it covers decides the code hash, change detection and .amlignore."""

from __future__ import annotations

import shutil
from pathlib import Path

from sensor_pipelines.core.provenance import (
    COMPONENT_CODE,
    PROJECT_ROOT,
    component_code_files,
    is_component_code,
    shared_code_hash,
)


def _copy_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for entry in ("components_py", "sensor_pipelines"):
        shutil.copytree(PROJECT_ROOT / entry, root / entry, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_change_outside_core_changes_no_hash_and_one_inside_does(tmp_path):
    root = _copy_project(tmp_path)
    before = shared_code_hash(root)
    for outside in ("sensor_pipelines/fleet/gate.py", "sensor_pipelines/cli/__init__.py",
                    "sensor_pipelines/backends/local/runner.py", "sensor_pipelines/app/training.py",
                    "sensor_pipelines/pipelines/training.py"):
        (root / outside).write_text((root / outside).read_text() + "\n# edited\n")
        assert not is_component_code(outside)
    assert shared_code_hash(root) == before  # orchestration edits retrain nothing

    for inside in ("sensor_pipelines/core/errors.py", "sensor_pipelines/core/conda.yaml", "components_py/__init__.py"):
        assert is_component_code(inside)
        edited = root / inside
        original = edited.read_text()
        edited.write_text(original + "\n# edited\n")
        assert shared_code_hash(root) != before, inside
        edited.write_text(original)
    assert shared_code_hash(root) == before


def test_change_detection_and_the_hash_read_the_same_rule():
    files = {f.as_posix() for f in component_code_files()}
    assert "sensor_pipelines/core/forecasting/model.py" in files and "components_py/training/train_lstm_model.py" in files
    assert "sensor_pipelines/core/conda.yaml" in files
    assert not any(f.startswith(("sensor_pipelines/cli/", "sensor_pipelines/fleet/", "sensor_pipelines/app/"))
                   for f in files)
    assert all(is_component_code(f) for f in files)


def test_amlignore_ships_exactly_the_component_code():
    """.amlignore (the snapshot Azure ML uploads) keeps the component code folders and nothing above core."""
    lines = [ln.strip() for ln in (PROJECT_ROOT / ".amlignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    kept = {ln[2:].rstrip("/") for ln in lines if ln.startswith("!/")}
    assert kept == set(COMPONENT_CODE) | {"sensor_pipelines"}  # the package folder itself, then only its listed parts
    assert "/sensor_pipelines/*" in lines
