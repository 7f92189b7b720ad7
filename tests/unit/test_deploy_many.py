"""`make deploy-many` (the release's prod stage) checks the whole CI matrix before its first deployment."""

from __future__ import annotations

import json

import pytest

from sensor_pipelines.cli import main


@pytest.mark.parametrize("matrix, expect", [
    ("not json", "MATRIX is not JSON"),
    (json.dumps({"PLANT1_CIRC1": "PLANT1_CIRC1"}), "MATRIX is not the detect stage's matrix"),
    (json.dumps({"PLANT1_CIRC1": {"CIRCUIT": "PLANT1_CIRC1"}, "EVIL": {"CIRCUIT": "X;touch pwned"}}),
     "Invalid circuit name 'X;touch pwned'"),
])
def test_a_bad_matrix_is_one_line_before_anything_is_deployed(project, capsys, matrix, expect):
    code = main(["deploy-many", "--env", "test", "--config-dir", str(project / "conf"), "--matrix", matrix,
                 "--approved-by", "ops", "env.backend=local"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and expect in err and "\n" not in err, err
    assert not (project / ".mlops").exists()
