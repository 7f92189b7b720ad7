"""MLTable folders: written to Azure ML's spec, read back locally."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sensor_pipelines.core.data.mltable import read_mltable, write_mltable
from sensor_pipelines.core.data.snapshot import content_hash
from sensor_pipelines.core.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=5, freq="h").astype("datetime64[ns]"),
            "load_kw": [1.0, 2.0, np.nan, 4.0, 5.5],
            "temp_c": [3.0, 3.5, 4.0, 4.5, 5.0],
        }
    )


def test_write_mltable_uses_the_azure_spec(frame, tmp_path):
    folder = write_mltable(frame, tmp_path / "PLANT1_CIRC1" / "2025-12-09")
    assert sorted(p.name for p in folder.iterdir()) == ["MLTable", "data.parquet"]
    spec = yaml.safe_load((folder / "MLTable").read_text())
    assert spec == {
        "$schema": "https://azuremlschemas.azureedge.net/latest/MLTable.schema.json",
        "type": "mltable",
        "paths": [{"file": "./data.parquet"}],
        "transformations": [{"read_parquet": {"include_path_column": False}}],
    }


def test_round_trip_keeps_content_and_hash(frame, tmp_path):
    folder = write_mltable(frame, tmp_path / "asset")
    back = read_mltable(folder)
    pd.testing.assert_frame_equal(back, frame)
    assert content_hash(back) == content_hash(frame)
    pd.testing.assert_frame_equal(read_mltable(str(folder / "MLTable")), frame)


def test_write_into_an_existing_folder_overwrites(frame, tmp_path):
    folder = write_mltable(frame, tmp_path)
    write_mltable(frame.iloc[:2], folder)
    assert len(read_mltable(folder)) == 2


def test_read_delimited_with_options(tmp_path):
    (tmp_path / "a.csv").write_text("timestamp;load_kw\n2024-01-01T00:00:00;1.5\n")
    (tmp_path / "b.csv").write_text("timestamp;load_kw\n2024-01-01T01:00:00;2.5\n")
    (tmp_path / "MLTable").write_text(
        "type: mltable\n"
        "paths:\n  - pattern: ./*.csv\n"
        "transformations:\n"
        "  - read_delimited:\n      delimiter: ';'\n      header: all_files_same_headers\n      encoding: utf8\n"
        "  - keep_columns: [load_kw]\n"
    )
    table = read_mltable(tmp_path)
    assert table.to_dict("list") == {"load_kw": [1.5, 2.5]}


def test_read_delimited_file_without_header(tmp_path):
    (tmp_path / "data.csv").write_text("1,2\n3,4\n")
    (tmp_path / "MLTable").write_text(
        "paths:\n  - file: ./data.csv\ntransformations:\n  - read_delimited:\n      header: no_header\n"
    )
    assert read_mltable(tmp_path).to_dict("list") == {"Column1": [1, 3], "Column2": [2, 4]}


def test_folder_paths_read_every_file(frame, tmp_path):
    (tmp_path / "parts").mkdir()
    frame.iloc[:2].to_parquet(tmp_path / "parts" / "0.parquet", index=False)
    frame.iloc[2:].to_parquet(tmp_path / "parts" / "1.parquet", index=False)
    (tmp_path / "MLTable").write_text("paths:\n  - folder: ./parts\ntransformations:\n  - read_parquet\n")
    pd.testing.assert_frame_equal(read_mltable(tmp_path), frame)


def test_missing_mltable_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no MLTable file"):
        read_mltable(tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("paths: [unclosed", "not valid YAML"),
        ("type: mltable\n", "non-empty 'paths' list"),
        ("paths:\n  - url: ./data.parquet\n", "exactly one of file, folder, pattern"),
        ("paths:\n  - file: ./absent.parquet\n", "file './absent.parquet' not found"),
        ("paths:\n  - pattern: ./*.nothing\n", "match no files"),
        ("paths:\n  - file: https://example.com/data.csv\n", "cannot be read locally"),
        ("paths:\n  - file: ./data.parquet\ntransformations:\n  - take: 5\n", "'take' is not supported"),
    ],
)
def test_malformed_mltable_is_a_data_error(frame, tmp_path, text, message):
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    (tmp_path / "MLTable").write_text(text)
    with pytest.raises(DataError, match=message):
        read_mltable(tmp_path)


def test_corrupt_data_file_is_a_data_error(frame, tmp_path):
    write_mltable(frame, tmp_path)
    (tmp_path / "data.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read"):
        read_mltable(tmp_path)
