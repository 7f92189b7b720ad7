"""The retry while SQLite says 'database is locked'."""

from __future__ import annotations

import pytest

from sensor_pipelines.core import tracking


def test_retries_while_locked_then_returns(monkeypatch):
    monkeypatch.setattr(tracking.time, "sleep", lambda _: None)
    calls = []

    def flaky(x):
        calls.append(x)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return x * 2

    assert tracking.retry_when_locked(flaky, 21) == 42 and len(calls) == 3


def test_other_errors_and_a_lock_that_never_clears_are_raised(monkeypatch):
    monkeypatch.setattr(tracking.time, "sleep", lambda _: None)
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("no such model")

    with pytest.raises(ValueError, match="no such model"):
        tracking.retry_when_locked(broken)
    assert len(calls) == 1  # not retried

    def locked():
        calls.append(1)
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError, match="locked"):
        tracking.retry_when_locked(locked, attempts=4)
    assert len(calls) == 1 + 4
