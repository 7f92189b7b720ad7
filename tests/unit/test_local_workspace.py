"""Local data assets: immutable versions, idempotent re-registration, atomic writes."""

from __future__ import annotations

import pandas as pd
import pytest

from sensor_pipelines.backends.local.workspace import LocalWorkspace
from sensor_pipelines.core.data.mltable import read_mltable
from sensor_pipelines.core.errors import AssetConflictError


def _frame(value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2025-01-01", periods=4, freq="h"),
                         "load_kw": [value, 2.0, 3.0, 4.0]})


def test_register_is_idempotent_and_immutable(tmp_path):
    ws = LocalWorkspace(tmp_path / "ws")
    meta, created = ws.register_data_asset("P1_C1", "2025-01-01", _frame(), {"rows_out": 4})
    assert created and meta.rows == 4 and meta.path == str(ws.data_asset_path("P1_C1", "2025-01-01"))
    assert read_mltable(ws.data_asset_path("P1_C1", "2025-01-01")).equals(_frame())

    again, created = ws.register_data_asset("P1_C1", "2025-01-01", _frame(), {"rows_out": 4})
    assert not created and again == meta

    with pytest.raises(AssetConflictError, match="P1_C1:2025-01-01 already exists with different content"):
        ws.register_data_asset("P1_C1", "2025-01-01", _frame(9.0), {})
    assert ws.list_data_asset_versions("P1_C1") == ["2025-01-01"]


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    ws = LocalWorkspace(tmp_path / "ws")

    def broken(frame, folder):
        (folder / "data.parquet").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr("sensor_pipelines.core.data.mltable.write_mltable", broken)
    with pytest.raises(OSError):
        ws.register_data_asset("P1_C1", "2025-01-01", _frame(), {})
    assert ws.get_data_asset("P1_C1", "2025-01-01") is None
    assert list((tmp_path / "ws/data/P1_C1").iterdir()) == []


def test_tracking_store_created_once(tmp_path):
    ws = LocalWorkspace(tmp_path / "ws", experiment_name="exp")
    first = ws.ensure_tracking_store()
    assert ws.ensure_tracking_store() == first
    assert (tmp_path / "ws/mlflow.db").is_file()
