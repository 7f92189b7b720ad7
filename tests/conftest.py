"""Shared fixtures: an isolated copy of conf/ and a throwaway workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with a copy of conf/; workspaces and data land inside it."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    monkeypatch.delenv("SENSOR_PIPELINES_WORKSPACE", raising=False)
    monkeypatch.delenv("BUILD_BUILDID", raising=False)
    return tmp_path
