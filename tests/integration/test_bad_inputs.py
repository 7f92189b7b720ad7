"""Bad input as an attacker or a careless user would give it: one clear line, exit 2, nothing written.

Each case runs the command a user types (the CLI that `make train` runs, or make itself) and
compares every file under the project before and after.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sensor_pipelines.cli import main
from sensor_pipelines.core.data.sample import generate_sample_readings

from ..conftest import REPO

CIRCUIT = "PLANT1_CIRC1"


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _edit_circuit(project: Path, **changes) -> None:
    path = project / "conf/circuit" / f"{CIRCUIT}.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(data))


def _use_data(project: Path, frame: pd.DataFrame, name: str = "readings.csv", **changes) -> None:
    (project / "data").mkdir(exist_ok=True)
    frame.to_csv(project / "data" / name, index=False)
    _edit_circuit(project, **{"data.path": f"data/{name}", "data.sample_seed": None, **changes})


def _sample(days: int | None = None) -> pd.DataFrame:
    frame = generate_sample_readings(seed=11, faults=False)
    frame = frame[frame["timestamp"] < "2025-12-10"]
    if days is not None:
        frame = frame.head(24 * days)
    return frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))


def _fails_cleanly(project: Path, capsys, *extra: str, expect: str) -> str:
    """Run `train`; assert exit 2, one line containing ``expect``, no traceback, no new or changed file."""
    before = _files(project)
    code = main(["train", "--circuit", CIRCUIT, "--config-dir", str(project / "conf"), "model=lstm_smoke", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert expect in err, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert _files(project) == before  # nothing registered, generated or written
    return err


# -- 1. shell injection ------------------------------------------------------------------------------


@pytest.mark.parametrize("variable, value", [
    ("CIRCUIT", "X;touch {marker};#"),
    ("CIRCUIT", "X`touch {marker}`"),
    ("CIRCUIT", "X$(touch {marker})"),
    ("CIRCUIT", "$(shell touch {marker})"),
    ("OVERRIDES", "model=lstm_smoke; touch {marker}"),
    ("OVERRIDES", "$$(touch {marker})"),
    ("ENV", "local;touch {marker}"),
])
def test_make_passes_no_variable_to_a_shell(tmp_path, variable, value):
    marker = tmp_path / "pwned"
    before = _files(REPO / "conf")
    # -o: never (re)build the virtual environment from a test, only run the recipe
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", "train",
                           f"{variable}={value.format(marker=marker)}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not marker.exists()
    assert sum(line.startswith("error: ") for line in proc.stderr.splitlines()) == 1, proc.stderr
    assert _files(REPO / "conf") == before


# -- 2. files outside the project ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/proc/self/environ", "/etc/shadow", "../../elsewhere.csv"])
def test_a_data_path_outside_the_project_is_refused_and_nothing_is_read(project, capsys, monkeypatch, path):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cr3t-value")
    _edit_circuit(project, **{"data.path": path, "data.sample_seed": None})
    err = _fails_cleanly(project, capsys, expect="is outside the project")
    assert "s3cr3t" not in err and "data.path" in err and "conf/circuit/PLANT1_CIRC1.yaml" in err


def test_a_symlink_out_of_the_project_is_refused(project, capsys, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    _sample(30).to_csv(outside, index=False)
    (project / "data").mkdir()
    (project / "data" / "link.csv").symlink_to(outside)
    _edit_circuit(project, **{"data.path": "data/link.csv", "data.sample_seed": None})
    _fails_cleanly(project, capsys, expect="is outside the project")


def test_a_data_root_declared_in_the_env_is_allowed(project, capsys, tmp_path):
    root = tmp_path.parent / f"{tmp_path.name}-root"
    root.mkdir()
    _sample().to_csv(root / "readings.csv", index=False)
    _edit_circuit(project, **{"data.path": str(root / "readings.csv"), "data.sample_seed": None})
    assert main(["register-data", "--circuit", CIRCUIT, "--config-dir", str(project / "conf"),
                 f"env.data_roots=['{root}']"]) == 0, capsys.readouterr().err


def test_a_file_that_is_no_data_file_never_has_its_content_printed(project, capsys):
    (project / "data").mkdir()
    (project / "data" / "notes.csv").write_text("AZURE_CLIENT_SECRET=s3cr3t,PASSWORD=hunter2\n")
    _edit_circuit(project, **{"data.path": "data/notes.csv", "data.sample_seed": None})
    err = _fails_cleanly(project, capsys, expect="not among the file's 2 columns")
    assert "s3cr3t" not in err and "hunter2" not in err


# -- 3. the workspace root cannot escape through the env name ------------------------------------------


def test_an_env_name_cannot_move_the_workspace(project, capsys):
    err = _fails_cleanly(project, capsys, "env.name=../../../../elsewhere", expect="command line (OVERRIDES): name:")
    assert "letters, digits and underscores" in err


# -- 4 and 5. data that cannot train is refused before it is registered --------------------------------


@pytest.mark.parametrize("case, expect", [
    ("all_nan_target", "has no readings up to cutoff_date"),
    ("constant_target", "is constant (42)"),
    ("shorter_than_lookback", "complete training windows"),
    ("huge_lookback", "complete training windows"),
    ("cutoff_two_days_in", "complete training windows"),
    ("minute_frequency", "have no reading (the readings are typically 'h' apart); set data.frequency"),
    ("cutoff_in_the_future", "is after the last reading"),
])
def test_data_that_cannot_train_is_refused_before_registration(project, capsys, case, expect):
    frame, changes, extra = _sample(), {}, []
    if case == "all_nan_target":
        frame["load_kw"] = np.nan
    elif case == "constant_target":
        frame["load_kw"] = 42.0
    elif case == "shorter_than_lookback":
        frame = _sample(days=1)
        changes["cutoff_date"] = frame["timestamp"].iloc[0][:10]
    elif case == "huge_lookback":
        extra = ["model.lookback=20000"]
    elif case == "cutoff_two_days_in":
        changes["cutoff_date"] = "2024-01-03"
    elif case == "minute_frequency":
        changes["data.frequency"] = "min"
    elif case == "cutoff_in_the_future":
        changes["cutoff_date"] = "2099-12-31"
    _use_data(project, frame, **changes)
    _fails_cleanly(project, capsys, *extra, expect=expect)


# -- 6. nothing is accepted silently -------------------------------------------------------------------


def test_a_mistyped_path_is_an_error_even_with_a_sample_seed(project, capsys):
    _edit_circuit(project, **{"data.path": "data/sampel/PLANT1_CIRC1.csv"})  # sample_seed stays set
    _fails_cleanly(project, capsys, expect="data file not found")


def test_text_in_a_numeric_column_is_an_error_unless_declared_missing(project, capsys):
    frame = _sample()
    frame["load_kw"] = frame["load_kw"].astype(object)
    frame.loc[100:102, "load_kw"] = "n/a"
    _use_data(project, frame)
    err = _fails_cleanly(project, capsys, expect="load_kw: 3 values are not numbers, e.g. 'n/a'")
    assert "data.missing_values" in err
    _edit_circuit(project, **{"data.missing_values": ["n/a"]})
    assert main(["register-data", "--circuit", CIRCUIT, "--config-dir", str(project / "conf")]) == 0
    assert "3 values interpolated (load_kw)" in capsys.readouterr().out


def test_values_outside_the_declared_range_are_rejected_or_read_as_missing(project, capsys):
    frame = _sample()
    frame.loc[[500, 900], "load_kw"] = [1e12, -1e15]
    _use_data(project, frame, **{"data.valid_range": {"load_kw": {"min": 0, "max": 500}}})
    _fails_cleanly(project, capsys, expect="load_kw: 2 values outside valid_range [0, 500]")
    _edit_circuit(project, **{"data.out_of_range": "missing"})
    assert main(["register-data", "--circuit", CIRCUIT, "--config-dir", str(project / "conf")]) == 0
    assert "2 values outside valid_range read as missing (load_kw)" in capsys.readouterr().out


def test_outliers_and_infinities_without_a_range_are_reported_by_count(project, capsys):
    frame = _sample()
    frame.loc[[500, 900], "load_kw"] = [1e12, 1e15]
    frame.loc[[700], "ambient_temp_c"] = np.inf
    _use_data(project, frame)
    assert main(["register-data", "--circuit", CIRCUIT, "--config-dir", str(project / "conf")]) == 0
    out = capsys.readouterr().out
    assert "1 infinite values read as missing (ambient_temp_c)" in out
    assert "2 outliers beyond the robust bound (load_kw)" in out


# -- 8. errors name the file where the bad value was written -------------------------------------------


def test_a_bad_model_override_names_the_circuit_file(project, capsys):
    _edit_circuit(project, model_overrides={"lookback": -5})
    _fails_cleanly(project, capsys,
                   expect="conf/circuit/PLANT1_CIRC1.yaml: model_overrides.lookback: must be >= 1, got -5")


def test_day_first_timestamps_point_to_timestamp_format(project, capsys):
    frame = _sample()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).dt.strftime("%d/%m/%Y %H:%M")
    _use_data(project, frame)
    _fails_cleanly(project, capsys, expect="set data.timestamp_format, e.g. '%d/%m/%Y %H:%M'")
    _edit_circuit(project, **{"data.timestamp_format": "%d/%m/%Y %H:%M"})
    assert main(["register-data", "--circuit", CIRCUIT, "--config-dir", str(project / "conf")]) == 0


def test_train_changed_checks_every_name_before_it_starts(project, capsys):
    out = project / "build" / "train"
    code = main(["train-changed", "--config-dir", str(project / "conf"), "--out-dir", str(out),
                 "--circuits", "PLANT1_CIRC1,../../etc/x"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Invalid circuit name '../../etc/x'" in err and "\n" not in err
    assert not out.exists()
