"""Changed-circuit detection against a target branch, on throwaway git repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sensor_pipelines.fleet.changes import CircuitChange, circuits_to_train, detect_changed_circuits, write_changes
from sensor_pipelines.core.errors import UserError

from ..conftest import REPO


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "components_py").mkdir()
    (root / "components_py" / "train.py").write_text("VERSION = 1\n")
    (root / "sensor_pipelines").mkdir()
    (root / "sensor_pipelines" / "cli.py").write_text("# cli\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def _circuit(root: Path, name: str) -> Path:
    return root / "conf" / "circuit" / f"{name}.yaml"


def test_nothing_changed(repo):
    assert detect_changed_circuits(repo, "main") == []


def test_new_modified_and_deleted(repo, tmp_path):
    path = _circuit(repo, "PLANT1_CIRC1")
    path.write_text(path.read_text().replace('cutoff_date: "2025-12-09"', 'cutoff_date: "2025-12-15"'))
    new = _circuit(repo, "PLANT3_CIRC4")
    new.write_text(_circuit(repo, "PLANT2_CIRC1").read_text().replace("PLANT2", "PLANT3").replace("CIRC1", "CIRC4"))
    _circuit(repo, "PLANT1_CIRC2").unlink()
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "change circuits")

    changes = detect_changed_circuits(repo, "main")
    out = write_changes(changes, tmp_path / "changed_circuits.json")
    assert json.loads(out.read_text()) == [
        {"plant_id": "PLANT1", "circuit_id": "CIRC1", "cutoff_date": "2025-12-15", "change_type": "modified"},
        {"plant_id": "PLANT1", "circuit_id": "CIRC2", "cutoff_date": "2025-12-08", "change_type": "deleted"},
        {"plant_id": "PLANT3", "circuit_id": "CIRC4", "cutoff_date": "2025-12-07", "change_type": "new"},
    ]


def test_uncommitted_and_untracked_changes_count(repo):
    path = _circuit(repo, "PLANT2_CIRC1")
    path.write_text(path.read_text() + "\n# tweak\n")
    assert [c.name for c in detect_changed_circuits(repo, "main")] == ["PLANT2_CIRC1"]


@pytest.mark.parametrize("changed", ["conf/config.yaml", "conf/model/lstm.yaml", "components_py/train.py"])
def test_shared_dependencies_change_every_circuit(repo, changed):
    with open(repo / changed, "a") as handle:
        handle.write("\n# changed\n")
    changes = detect_changed_circuits(repo, "main")
    assert [c.name for c in changes] == ["PLANT1_CIRC1", "PLANT1_CIRC2", "PLANT2_CIRC1"]
    assert {c.change_type for c in changes} == {"modified"}


@pytest.mark.parametrize("unchanged", ["conf/env/dev.yaml", "conf/model/lstm_smoke.yaml", "sensor_pipelines/cli.py"])
def test_unrelated_files_change_nothing(repo, unchanged):
    with open(repo / unchanged, "a") as handle:
        handle.write("\n# changed\n")
    assert detect_changed_circuits(repo, "main") == []


def test_data_source_change_counts(repo):
    path = _circuit(repo, "PLANT1_CIRC1")
    path.write_text(path.read_text().replace("data/sample/PLANT1_CIRC1.csv", "data/plant1_circ1.csv"))
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "use repo data")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "feature")
    git(repo, "checkout", "-q", "-b", "feature2")
    (repo / "data").mkdir()
    (repo / "data" / "plant1_circ1.csv").write_text("timestamp,load_kw\n")
    assert [c.name for c in detect_changed_circuits(repo, "main")] == ["PLANT1_CIRC1"]


@pytest.mark.parametrize("field, value", [("circuit_id", "EVIL_C1`touch pwned`"), ("plant_id", "P$(id)"),
                                          ("circuit_id", "C1;rm -rf"), ("cutoff_date", "2025-01-01; id")])
def test_a_circuit_file_that_would_carry_code_into_the_matrix_is_rejected(repo, field, value):
    """Matrix values become variables on the agent that holds the service connection: names only."""
    path = _circuit(repo, "PLANT3_EVIL")
    data = {"plant_id": "PLANT3", "circuit_id": "EVIL", "cutoff_date": "2025-01-01"} | {field: value}
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in data.items()) + "\n")
    with pytest.raises(UserError) as error:
        detect_changed_circuits(repo, "main")
    message = str(error.value)
    assert f"{field} {value!r}" in message and "nothing was written" in message and "\n" not in message


def test_detect_changes_writes_no_matrix_for_a_bad_circuit(repo, tmp_path, capsys, monkeypatch):
    from sensor_pipelines.cli import main

    _circuit(repo, "PLANT3_EVIL").write_text('plant_id: PLANT3\ncircuit_id: "EVIL`touch pwned`"\ncutoff_date: "2025-01-01"\n')
    out = tmp_path / "build" / "changed_circuits.json"
    assert main(["detect-changes", "--repo", str(repo), "--output", str(out)]) == 2
    assert not out.parent.exists() and not (repo / "pwned").exists()
    assert "circuit_id 'EVIL`touch pwned`' is not letters and digits" in capsys.readouterr().err


def test_missing_target_branch_is_a_clear_error(repo):
    with pytest.raises(UserError, match="cannot find the merge base of HEAD and 'release'"):
        detect_changed_circuits(repo, "release")


def test_shallow_clone_fetches_the_target_branch(repo, tmp_path):
    path = _circuit(repo, "PLANT1_CIRC1")
    path.write_text(path.read_text() + "\n# tweak\n")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "tweak")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{repo}", str(clone)], check=True)
    assert [c.name for c in detect_changed_circuits(clone, "main")] == ["PLANT1_CIRC1"]


def test_changes_file_round_trips_and_a_bad_one_is_one_clear_error(tmp_path):
    changes = [CircuitChange("PLANT1", "CIRC1", "2025-12-09", "modified"),
               CircuitChange("PLANT1", "CIRC2", "2025-12-08", "deleted")]
    path = write_changes(changes, tmp_path / "build/changed_circuits.json")
    assert circuits_to_train(path) == ["PLANT1_CIRC1"]  # deleted circuits are never trained
    assert json.loads((tmp_path / "build/matrix.json").read_text()) == {
        "PLANT1_CIRC1": {"CIRCUIT": "PLANT1_CIRC1", "CUTOFF_DATE": "2025-12-09", "CHANGE_TYPE": "modified"}}
    for text in ("[{", '[{"plant_id": "PLANT1"}]', '{"not": "a list"}'):
        path.write_text(text)
        with pytest.raises(UserError, match="not a changed_circuits.json"):
            circuits_to_train(path)
