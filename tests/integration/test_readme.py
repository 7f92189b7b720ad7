"""The README's worked example (a new circuit from your own CSV), run exactly as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from sensor_pipelines.cli import main

from ..conftest import REPO

pytestmark = pytest.mark.slow


def _block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- worked-example:{marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README lost its worked-example:{marker} block"
    return match.group(1)


def test_new_circuit_from_a_user_csv(project, capsys):
    data_cmd = _block("data").strip()
    assert data_cmd.startswith(".venv/bin/python -c ")
    (project / "data").mkdir()
    subprocess.run([sys.executable, "-c", shlex.split(data_cmd)[2]], cwd=project, check=True)

    config = _block("config")
    name = re.search(r"plant_id: (\w+)", config).group(1) + "_" + re.search(r"circuit_id: (\w+)", config).group(1)
    (project / "conf/circuit" / f"{name}.yaml").write_text(config)

    train = shlex.split(_block("train").strip())
    assert train[:2] == ["make", "train"]
    circuit = dict(arg.split("=", 1) for arg in train[2:])["CIRCUIT"]
    assert circuit == name
    # what `make train CIRCUIT=...` runs, with the smoke model to keep the test short
    assert main(["train", "--circuit", circuit, "--config-dir", str(project / "conf"), "model=lstm_smoke"]) == 0
    out = capsys.readouterr().out
    assert f"{name}_model version 1 (registered)" in out
    assert (project / ".mlops/local/data" / name / "2025-10-31" / "MLTable").is_file()
