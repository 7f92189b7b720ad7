"""The notebooks run top to bottom on the local backend, with the smoke model.

Each notebook runs in a fresh kernel (the test's own Python) with papermill-style
parameters injected after its ``parameters`` cell, a copy of conf/ and a workspace under
``tmp_path``: sample data, data assets, runs and MLflow all land there. Any failing cell
fails the test (nbclient raises ``CellExecutionError`` with the cell and traceback).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbclient  # the test extra installs nbformat, nbclient and ipykernel: a missing one fails here
import nbformat
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "sensor-pipelines-test"

SMOKE = {
    "01_explore_circuit": {},
    "02_experiment": {"MODEL": "lstm_smoke", "VARIANTS": [[], ["model.lookback=36", "model.lstm_units=[6]"]]},
    "03_compare_cutoffs": {"MODEL": "lstm_smoke", "CUTOFFS": ["2025-11-09", "2025-12-09"]},
}


def inject_parameters(nb, parameters: dict) -> None:
    """Insert a cell assigning ``parameters`` right after the ``parameters`` cell (as papermill does)."""
    index = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)


@pytest.fixture
def isolated(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The notebook's world under tmp_path: workspace, IPython and Jupyter state, and this Python as its kernel."""
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("SENSOR_PIPELINES_WORKSPACE", str(workspace))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return workspace


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_notebook_runs_top_to_bottom(name: str, project: Path, isolated: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    inject_parameters(nb, {"CONFIG_DIR": str(project / "conf"), **SMOKE[name]})
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=600, startup_timeout=120,
                                     resources={"metadata": {"path": str(project)}})
    client.execute()

    # everything landed in the isolated project: sample data next to its conf/, assets in the workspace
    assert (project / "data/sample/PLANT1_CIRC1.csv").is_file()
    assets = sorted(p.name for p in (isolated / "local/data/PLANT1_CIRC1").iterdir())
    expected = SMOKE[name].get("CUTOFFS", ["2025-12-09"])
    assert assets == sorted(expected)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs), "the notebook drew no figure"
    if name != "01_explore_circuit":
        assert (isolated / "local/mlflow.db").is_file()


def test_notebooks_are_stored_without_outputs() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.stem for p in paths] == sorted(SMOKE)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), f"{path.name}: outputs stored"
        assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1, f"{path.name}: one parameters cell"
