"""Monitoring on the local backend: train, promote and deploy a circuit (smoke model), score production
data from the same generator (no alert after several runs), then a shifted temperature sensor (an
alert after N=2 runs, not before, POSTed to a webhook on the loopback), then retrain-drifted --run
registers a new model version with the new cutoff_date and the alert's tag. Malformed production
data gives a per-circuit error, and nothing already recorded is lost.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sensor_pipelines.cli import main
from sensor_pipelines.core.data.sample import generate_sample_readings
from sensor_pipelines.core.fileio import read_json

pytestmark = pytest.mark.slow

CIRCUIT = "PLANT1_CIRC1"
LOOSE = ["model=lstm_smoke", "circuit.thresholds.mae_max=1000", "circuit.thresholds.rmse_max=1000",
         "circuit.thresholds.r2_min=-1000", "env.thresholds.mae_ratio_max=1000",
         "env.monitoring.max_mae_ratio=10"]  # nor does its realised error on one day say much


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", Hook.received
    server.shutdown()


def _cli(project: Path, verb: str, *args: str, env: str = "local", extra: tuple[str, ...] = ()) -> int:
    backend = ["env.backend=local"] if env != "local" else []
    return main([verb, *args, "--env", env, "--config-dir", str(project / "conf"), *LOOSE, *backend, *extra])


def _daily_input(project: Path, readings: pd.DataFrame, day: str, shift_from: str | None = None) -> Path:
    """The two weeks up to the end of ``day`` as the day's scoring input; temperature +25 from ``shift_from``."""
    end = pd.Timestamp(day) + pd.Timedelta(hours=23)
    frame = readings[(readings["timestamp"] > end - pd.Timedelta(days=14)) & (readings["timestamp"] <= end)].copy()
    if shift_from:
        frame.loc[frame["timestamp"] >= pd.Timestamp(shift_from), "ambient_temp_c"] += 25.0
    folder = project / "inputs" / day
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "input.parquet", index=False)
    return folder


def test_monitoring_end_to_end(project, capsys, monkeypatch, webhook):
    url, received = webhook
    monkeypatch.chdir(project)
    hook = (f"env.monitoring.webhook_url={url}",)
    assert _cli(project, "train", "--circuit", CIRCUIT) == 0
    assert _cli(project, "promote", "--circuit", CIRCUIT) == 0
    assert _cli(project, "deploy", "--circuit", CIRCUIT, env="test") == 0
    assert _cli(project, "score", "--circuit", CIRCUIT, env="test") == 0
    assert _cli(project, "deploy", "--circuit", CIRCUIT, "--approved-by", "alice", env="prod") == 0
    assert _cli(project, "setup-monitors", "--cron", "0 7 * * *", env="prod") == 0
    out = capsys.readouterr().out
    assert "make monitor ENV=prod BACKEND=local" in out
    monitors = project / ".mlops/prod/monitoring/monitors" / f"{CIRCUIT}.json"
    assert read_json(monitors)["endpoint"] == "be-plant1-circ1-prod"

    # production data from the same generator (the faults left out): no alert after several runs
    readings = generate_sample_readings(11, end="2026-02-28 23:00", faults=False)
    state_file = project / ".mlops/prod/monitoring/state" / f"{CIRCUIT}.json"
    for run, day in enumerate(("2025-12-16", "2025-12-17", "2025-12-18")):
        assert _cli(project, "score", "--circuit", CIRCUIT, "--input", str(_daily_input(project, readings, day)),
                    env="prod") == 0
        assert _cli(project, "monitor", "--out-dir", str(project / "build/monitor"), env="prod", extra=hook) == 0
        result = read_json(project / "build/monitor/monitor_results.json")[0]
        assert result["monitor"] == "ok", result
        assert result["quality_issues"] == 0
        # the first day's forecasts have no actuals yet; the next day's input brings them
        assert (result["realised_mae"] is None) == (run == 0), result
    assert read_json(state_file)["open_alert"] is None
    assert not (project / ".mlops/prod/monitoring/alerts.jsonl").exists() and received == []

    # the temperature sensor reads 25 degrees high from Dec 19: a failing run, then the alert (N=2)
    consecutive = []
    for day in ("2025-12-20", "2025-12-22"):
        folder = _daily_input(project, readings, day, shift_from="2025-12-19")
        assert _cli(project, "score", "--circuit", CIRCUIT, "--input", str(folder), env="prod") == 0
        assert _cli(project, "monitor", "--out-dir", str(project / "build/monitor"), env="prod", extra=hook) == 0
        result = read_json(project / "build/monitor/monitor_results.json")[0]
        assert "ambient_temp_c" in result["drifted"] and "data_drift" in result["failed_checks"], result
        consecutive.append((result["consecutive"], result["raised"]))
    assert consecutive == [(1, False), (2, True)]
    alerts = [json.loads(line) for line in (project / ".mlops/prod/monitoring/alerts.jsonl").read_text().splitlines()]
    assert [a["event"] for a in alerts] == ["raised"] and "data_drift" in alerts[0]["checks"]
    assert received and received[0]["alert_id"] == alerts[0]["alert_id"]
    report = Path(result["report"]).read_text()
    assert "ALERT" in report and "ambient_temp_c" in report and "<svg" in report
    overview = (project / ".mlops/prod/monitoring/overview.html").read_text()
    assert CIRCUIT in overview and "alert" in overview and "report.html" in overview
    table = capsys.readouterr().out
    assert "ALERT alert-PLANT1_CIRC1" in table and "fleet overview" in table

    # malformed production data: a clear per-circuit error, the alert state kept
    before = read_json(state_file)
    assert _cli(project, "monitor", "--window-end", "2027-01-01", "--out-dir", str(project / "build/monitor"),
                env="prod") == 1
    failed = read_json(project / "build/monitor/monitor_results.json")[0]
    assert failed["status"] == "failed" and "after the last scored reading" in (failed.get("error") or ""), failed
    assert read_json(state_file) == before

    # retrain the drifted circuit now: the config gets the latest complete day, the model the alert tag
    capsys.readouterr()
    assert _cli(project, "retrain-drifted", "--run", env="prod") == 0
    conf = yaml.safe_load((project / "conf/circuit" / f"{CIRCUIT}.yaml").read_text())
    assert conf["cutoff_date"] == "2026-02-28"
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / '.mlops/local/mlflow.db'}"
    version = MlflowClient(uri, uri).get_model_version(f"{CIRCUIT}_model", "2")
    assert version.tags["cutoff_date"] == "2026-02-28"
    assert version.tags["retrain_alert"] == alerts[0]["alert_id"]
    logged = [json.loads(line) for line in (project / ".mlops/prod/monitoring/alerts.jsonl").read_text().splitlines()]
    assert logged[-1]["event"] == "retrain" and logged[-1]["cutoff_date"] == "2026-02-28"
