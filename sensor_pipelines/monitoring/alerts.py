"""Alerts with debounce: a circuit alerts after N failing monitoring runs in a row.

State lives in the env's workspace folder, ``<workspace>/<env>/monitoring/``:

- ``state/<circuit>.json``: the consecutive failing runs, the open alert (if any), recent runs;
- ``alerts.jsonl``: every alert raised or cleared, one JSON object per line (append only);
- the webhook (``monitoring.webhook_url``): each alert POSTed as JSON, retried, never fatal.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from sensor_pipelines.core.fileio import read_json, write_json_atomic

log = logging.getLogger(__name__)

HISTORY = 60  # runs kept per circuit (the fleet overview's trend)
WEBHOOK_TRIES = 3


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class AlertDecision:
    """What one run did to a circuit's alert state."""

    consecutive: int
    raised: Optional[dict[str, Any]] = None  # the alert raised by this run
    cleared: Optional[dict[str, Any]] = None  # the alert this (passing) run closed
    open_alert: Optional[dict[str, Any]] = None
    webhook: str = ""  # "", "sent", or why it failed


@dataclass
class AlertBook:
    """The alert state of one env (see the module docstring)."""

    folder: Path
    env: str
    webhook_url: Optional[str] = None
    post: Callable[[str, bytes], None] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.post = self.post or _post_json

    @property
    def log_file(self) -> Path:
        return self.folder / "alerts.jsonl"

    def state(self, circuit: str) -> dict[str, Any]:
        path = self.folder / "state" / f"{circuit}.json"
        return read_json(path) if path.is_file() else {"circuit": circuit, "consecutive": 0, "open_alert": None,
                                                        "runs": []}

    def save(self, circuit: str, state: dict[str, Any]) -> None:
        write_json_atomic(self.folder / "state" / f"{circuit}.json", state)

    def open_alerts(self) -> dict[str, dict[str, Any]]:
        """Circuit -> its open alert."""
        folder = self.folder / "state"
        states = [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        return {s["circuit"]: s["open_alert"] for s in states if s.get("open_alert")}

    def record(self, circuit: str, run: dict[str, Any], failed: list[str], needed: int) -> AlertDecision:
        """Record a run (``failed``: the checks it failed) and raise or clear the circuit's alert."""
        state = self.state(circuit)
        state["consecutive"] = state["consecutive"] + 1 if failed else 0
        state["runs"] = (state["runs"] + [{**run, "failed_checks": failed}])[-HISTORY:]
        decision = AlertDecision(consecutive=state["consecutive"])
        if failed and state["open_alert"] is None and state["consecutive"] >= needed:
            recent = state["runs"][-needed:]
            alert = {"alert_id": f"alert-{circuit}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}", "event": "raised",
                     "circuit": circuit, "env": self.env, "at": utc_now(),
                     "checks": sorted({c for r in recent for c in r["failed_checks"]}),
                     "runs": [r.get("run_id") for r in recent], "consecutive": state["consecutive"],
                     "model_version": run.get("model_version"), "report": run.get("report")}
            state["open_alert"] = decision.raised = alert
        elif not failed and state["open_alert"] is not None:
            decision.cleared = {**state["open_alert"], "event": "cleared", "at": utc_now(), "by_run": run.get("run_id")}
            state["open_alert"] = None
        decision.open_alert = state["open_alert"]
        self.save(circuit, state)
        for event in (decision.raised, decision.cleared):
            if event:
                self._append(event)
                decision.webhook = self.notify(event)
        return decision

    def mark_retrain(self, circuit: str, retrain: dict[str, Any]) -> dict[str, Any]:
        """Note on the open alert the retraining it led to (and log it); returns the alert."""
        state = self.state(circuit)
        alert = state.get("open_alert")
        if alert is None:
            raise KeyError(circuit)
        alert.setdefault("retrains", []).append(retrain)
        self.save(circuit, state)
        self._append({**retrain, "event": "retrain", "alert_id": alert["alert_id"], "circuit": circuit, "env": self.env})
        return alert

    def _append(self, event: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "a") as handle:
            handle.write(json.dumps(event, sort_keys=True, default=str) + "\n")

    def notify(self, event: dict[str, Any]) -> str:
        """POST the event to the webhook, retried; returns "sent" or why not (logged, never raised)."""
        if not self.webhook_url:
            return ""
        body = json.dumps(event, default=str).encode()
        why = ""
        for attempt in range(1, WEBHOOK_TRIES + 1):
            try:
                self.post(self.webhook_url, body)
                return "sent"
            except (OSError, urllib.error.URLError, ValueError) as exc:
                why = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or getattr(exc, 'code', None) or exc}"
                log.warning("webhook attempt %d/%d for %s failed: %s", attempt, WEBHOOK_TRIES, event.get("alert_id"), why)
                if attempt < WEBHOOK_TRIES:
                    time.sleep(0.2 * attempt)
        return f"webhook failed after {WEBHOOK_TRIES} tries ({why})"


def _post_json(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (http(s) URL checked by the config)
        if response.status >= 300:
            raise urllib.error.HTTPError(url, response.status, "webhook refused", response.headers, None)
