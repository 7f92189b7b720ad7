"""Monitoring: calibrated seasonal drift, the window, alerts with debounce and webhook, settings, reports,
and the Azure ML monitor schedules (offline, converted with azure-ai-ml's own ``_to_rest_object``)."""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from sensor_pipelines.cli.compose import load_run_config
from sensor_pipelines.core.config.schema import MonitoringSettings
from sensor_pipelines.core.data.sample import generate_sample_readings
from sensor_pipelines.core.errors import ConfigError, DataError
from sensor_pipelines.core.monitoring_checks import check_drift, production_window, summarise
from sensor_pipelines.core.monitoring_report import circuit_report_html, fleet_overview_html
from sensor_pipelines.core.monitoring_stats import DriftThresholds, calibrated_thresholds, seasonal_reference
from sensor_pipelines.monitoring.alerts import AlertBook
from tests.component_versions import VERSION

REPO = Path(__file__).resolve().parents[2]
CUTOFF = pd.Timestamp("2025-12-10")


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return generate_sample_readings(11, end="2026-02-28 23:00", faults=False)


@pytest.fixture(scope="module")
def config():
    return load_run_config("PLANT1_CIRC1", "local", ["model=lstm_smoke"], config_dir=REPO / "conf")


def _week(readings: pd.DataFrame, start: str) -> pd.DataFrame:
    begin = pd.Timestamp(start)
    return readings[(readings["timestamp"] >= begin) & (readings["timestamp"] < begin + pd.Timedelta(days=7))]


# -- seasonal reference and calibrated limits ---------------------------------------------------------

def test_seasonal_reference_keeps_the_same_time_of_year(readings):
    reference = readings[readings["timestamp"] < CUTOFF]
    week = _week(readings, "2025-12-16")
    season, taken = seasonal_reference(reference, "timestamp", week["timestamp"], 30, min_rows=500)
    months = set(season["timestamp"].dt.month)
    assert months <= {11, 12, 1} and "within 30 days" in taken
    # too little history for a season: the whole reference
    short = reference.tail(400)
    whole, taken = seasonal_reference(short, "timestamp", week["timestamp"], 30, min_rows=500)
    assert len(whole) == 400 and "whole training data" in taken


def test_calibrated_limits_are_never_below_the_floors(readings):
    floors = DriftThresholds()
    limits = calibrated_thresholds(readings.tail(24 * 70), ["load_kw", "ambient_temp_c", "missing"], 168, floors)
    for column in ("load_kw", "ambient_temp_c"):
        assert limits[column].ks_statistic_min >= floors.ks_statistic_min
        assert limits[column].psi_max >= floors.psi_max
    assert limits["missing"] == floors  # nothing to calibrate on
    # weather moves temperature far more than the KS floor between weeks: its limit learned that
    assert limits["ambient_temp_c"].ks_statistic_min > floors.ks_statistic_min


def test_no_drift_on_the_same_generator_and_a_shifted_sensor_drifts_alone(readings, config):
    settings = MonitoringSettings()
    reference = readings[readings["timestamp"] < CUTOFF]
    production = readings[(readings["timestamp"] >= CUTOFF) & (readings["timestamp"] < "2025-12-24")]
    clean = check_drift(config.circuit_run, settings, reference, production)
    assert clean["data_drift"]["drifted_columns"] == [] and clean["quality"]["passed"], clean["data_drift"]
    shifted = production.copy()
    shifted.loc[shifted["timestamp"] >= "2025-12-20", "ambient_temp_c"] += 25
    result = check_drift(config.circuit_run, settings, reference, shifted)
    assert result["data_drift"]["drifted_columns"] == ["ambient_temp_c"]
    assert result["quality"]["passed"]  # a shifted sensor is drift, not a quality finding


def test_a_stuck_sensor_and_a_burst_of_nans_are_quality_findings(readings, config):
    reference = readings[readings["timestamp"] < CUTOFF]
    production = readings[(readings["timestamp"] >= CUTOFF) & (readings["timestamp"] < "2025-12-17")].copy()
    production.loc[production.index[-30:], "voltage_v"] = 230.0
    production.loc[production.index[10:30], "humidity_pct"] = float("nan")
    result = check_drift(config.circuit_run, MonitoringSettings(), reference, production)
    checks = {(f["check"], f["column"]) for f in result["quality"]["findings"]}
    assert checks == {("flatline", "voltage_v"), ("missing_rate", "humidity_pct")}


def test_window_errors_are_clear(readings):
    frame = readings.head(48)
    with pytest.raises(DataError, match="after the last scored reading"):
        production_window(frame, "timestamp", 7, "2030-01-01")
    with pytest.raises(DataError, match="empty"):
        production_window(frame.iloc[0:0], "timestamp", 7)
    with pytest.raises(DataError, match="no 'timestamp' column"):
        production_window(frame.drop(columns="timestamp"), "timestamp", 7)
    window, start, end = production_window(pd.concat([frame, frame]), "timestamp", 1)
    assert len(window) == 24 and end == frame["timestamp"].max()


def test_realised_error_and_the_verdict(readings, config):
    reference = readings[readings["timestamp"] < CUTOFF]
    production = readings[(readings["timestamp"] >= CUTOFF) & (readings["timestamp"] < "2025-12-17")]
    drift = check_drift(config.circuit_run, MonitoringSettings(), reference, production)
    origin = pd.Timestamp("2025-12-14 23:00")
    steps = pd.date_range(origin + pd.Timedelta(hours=1), periods=24, freq="h")
    actual = production.set_index("timestamp").loc[steps, "load_kw"].to_numpy()
    forecasts = pd.DataFrame({"origin": origin, "timestamp": steps, "horizon_step": range(1, 25),
                              "forecast": actual + 2.0})
    result = summarise(drift, config.circuit_run, MonitoringSettings(max_mae_ratio=1.5), production, forecasts,
                       validated_mae=1.0)
    realised = result["realised_error"]
    assert realised["overall"]["mae"] == pytest.approx(2.0) and realised["mae_ratio"] == pytest.approx(2.0)
    assert realised["daily"] == [{"day": "2025-12-14", "mae": pytest.approx(2.0), "n": 24}]
    assert result["failed_checks"] == ["realised_error"] and result["status"] == "alert"
    ok = summarise(drift, config.circuit_run, MonitoringSettings(max_mae_ratio=2.5), production, forecasts,
                   validated_mae=1.0)
    assert ok["status"] == "ok"


# -- alerts ------------------------------------------------------------------------------------------

class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alert_after_n_failing_runs_in_a_row_posted_to_a_webhook(tmp_path):
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        book = AlertBook(tmp_path, "prod", f"http://127.0.0.1:{server.server_port}/hook")
        assert book.record("C1", {"run_id": "r1"}, ["data_drift"], needed=2).raised is None
        assert book.record("C1", {"run_id": "r2"}, [], needed=2).consecutive == 0  # a passing run resets
        assert book.record("C1", {"run_id": "r3"}, ["quality"], needed=2).raised is None
        decision = book.record("C1", {"run_id": "r4", "model_version": "3"}, ["data_drift"], needed=2)
        assert decision.raised and decision.raised["checks"] == ["data_drift", "quality"]
        assert decision.raised["runs"] == ["r3", "r4"] and decision.webhook == "sent"
        assert book.record("C1", {"run_id": "r5"}, ["data_drift"], needed=2).raised is None  # one alert per episode
        assert set(book.open_alerts()) == {"C1"}
        cleared = book.record("C1", {"run_id": "r6"}, [], needed=2).cleared
        assert cleared["alert_id"] == decision.raised["alert_id"] and book.open_alerts() == {}
    finally:
        server.shutdown()
    events = [json.loads(line)["event"] for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert events == ["raised", "cleared"]
    assert [e["event"] for e in _Hook.received] == ["raised", "cleared"]


def test_a_failing_webhook_is_logged_never_fatal(tmp_path):
    calls = []

    def refuse(url, body):
        calls.append(url)
        raise OSError("connection refused")

    book = AlertBook(tmp_path, "prod", "http://127.0.0.1:9/none", post=refuse)
    book.record("C1", {"run_id": "r1"}, ["quality"], needed=1)
    assert len(calls) == 3
    decision = book.record("C2", {"run_id": "r1"}, ["quality"], needed=1)
    assert decision.raised and decision.webhook.startswith("webhook failed after 3 tries")
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 2  # recorded all the same


# -- settings and reports ---------------------------------------------------------------------------

def test_monitoring_settings_env_defaults_circuit_overrides_and_errors(project):
    config = load_run_config("PLANT1_CIRC1", "prod", ["+circuit.monitoring.consecutive_runs=3"],
                             config_dir=project / "conf")
    assert config.monitoring.consecutive_runs == 3 and config.monitoring.window_days == 7
    assert "monitoring" not in config.circuit_run.to_dict()["circuit"]  # never part of a model's config
    with pytest.raises(ConfigError, match="monitoring.psi_max: must be > 0"):
        load_run_config("PLANT1_CIRC1", "prod", ["env.monitoring.psi_max=0"], config_dir=project / "conf")
    with pytest.raises(ConfigError, match=r"monitoring.windw_days: unknown key \(did you mean .window_days.\?\)"):
        load_run_config("PLANT1_CIRC1", "prod", ["+circuit.monitoring.windw_days=3"], config_dir=project / "conf")
    with pytest.raises(ConfigError, match="webhook_url: must start with http"):
        load_run_config("PLANT1_CIRC1", "prod", ["env.monitoring.webhook_url=file:///etc/passwd"],
                        config_dir=project / "conf")


def test_reports_are_self_contained_and_escape_what_they_show(readings, config):
    reference = readings[readings["timestamp"] < CUTOFF]
    production = readings[(readings["timestamp"] >= CUTOFF) & (readings["timestamp"] < "2025-12-17")]
    drift = check_drift(config.circuit_run, MonitoringSettings(), reference, production)
    result = summarise(drift, config.circuit_run, MonitoringSettings(), production, None, validated_mae=None,
                       model_version="<script>x</script>")
    html = circuit_report_html(result)
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html and "src=" not in html
    plots = _svgs(html)  # one distribution per compared column, each well-formed
    assert len(plots) == len(result["histograms"]) >= 4
    assert all(p.find("polygon") is not None and p.find("polyline") is not None for p in plots)
    page = fleet_overview_html("prod", [{"circuit": "C1", "status": "alert", "report": "../runs/r/report.html",
                                         "trend": [("2025-12-01", 1.0), ("2025-12-02", 2.0)], "validated_mae": 1.5}],
                               "now")
    assert 'href="../runs/r/report.html"' in page and "1 not ok" in page
    (trend,) = _svgs(page)
    assert len(trend.find("polyline").get("points").split()) == 2 and trend.find("line").get("stroke-dasharray")


def _svgs(html: str) -> list:
    import re
    from xml.etree import ElementTree

    return [ElementTree.fromstring(m) for m in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def test_plots_draw_the_data_they_are_given():
    from sensor_pipelines.core.monitoring_report import histogram_svg, trend_svg

    hist = {"edges": [0.0, 1.0, 2.0, 3.0], "reference": [1, 8, 1], "target": [0, 0, 10]}
    plot = _svgs(histogram_svg("load_kw", hist))[0]
    ys = lambda el: [float(p.split(",")[1]) for p in el.get("points").split()]  # noqa: E731 (smaller y: higher)
    reference, target = ys(plot.find("polygon")), ys(plot.find("polyline"))
    assert reference.index(min(reference)) in (3, 4) and target.index(min(target)) in (5, 6)  # the tallest bins
    assert min(target) < min(reference)  # the target's one bin holds all of it: taller than 80 %
    assert "load_kw" in "".join(plot.itertext()) and histogram_svg("x", {}) == ""
    trend = _svgs(trend_svg([("2025-12-01", 1.0), ("2025-12-02", 3.0), ("2025-12-03", 2.0)], 2.5, title="MAE"))[0]
    line = ys(trend.find("polyline"))
    assert line[1] < line[2] < line[0] and len(trend.findall("circle")) == 3
    assert {"2025-12-01", "2025-12-03", "MAE"} <= set(trend.itertext()) and trend_svg([], 1.0) == ""


# -- Azure ML: one JobSchedule per circuit, registered components only ---------------------------------

def test_azure_monitors_are_job_schedules_of_registered_components(tmp_path):
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data, Model

    from sensor_pipelines.backends.azure.registry import AzureRegistry
    from sensor_pipelines.backends.azure.workspace import AzureWorkspace
    from sensor_pipelines.core.config.schema import AzureSettings
    from sensor_pipelines.monitoring.setup import setup_monitors
    from sensor_pipelines.release.deployment import deploy_circuit
    from sensor_pipelines.release.promotion import promote_circuit
    from sensor_pipelines.release.scoring import deployment_job
    from tests.fakes.azure_ml import FakeMLClient, with_release_operations

    def cfg(env):
        config = load_run_config("PLANT1_CIRC1", env, ["model=lstm_smoke"], config_dir=REPO / "conf")
        azure = AzureSettings(subscription_id="00000000-0000-0000-0000-000000000000", resource_group="rg",
                              workspace_name=f"mlw-{env}", compute="cpu-cluster", registry_name="reg")
        return dataclasses.replace(config, env=dataclasses.replace(config.env, azure=azure))

    clients = {env: with_release_operations(FakeMLClient(tmp_path / env, workspace_name=f"mlw-{env}"))
               for env in ("dev", "test", "prod")}
    spaces = {env: AzureWorkspace(cfg(env).env, str(REPO / "conf/env" / f"{env}.yaml"), ml_client=c,
                                  runs_dir=tmp_path / env / "runs") for env, c in clients.items()}
    registry = AzureRegistry(cfg("dev").env, str(REPO / "conf/env/dev.yaml"),
                             registry_client=FakeMLClient(tmp_path / "reg", workspace_name="reg"))
    clients["dev"].models.create_or_update(Model(
        name="PLANT1_CIRC1_model", version="3", type=AssetTypes.MLFLOW_MODEL, path="azureml://jobs/x/outputs/m",
        tags={"validated": "true", "model_hash": "ab" * 16, "cutoff_date": "2025-12-09", "mae": "2.5",
              "data_asset_name": "PLANT1_CIRC1", "data_asset_version": "2025-12-09"}))
    promote_circuit(cfg("dev"), spaces["dev"], registry)
    deploy_circuit(cfg("test"), spaces["test"], registry, deployment_job)
    registry.set_model_tags("PLANT1_CIRC1_model", "3", {"scored_test_at": "now"})
    deploy_circuit(cfg("prod"), spaces["prod"], registry, deployment_job, approved_by="ops")
    with pytest.raises(Exception, match="PLANT1_CIRC1:2025-12-09 .* not registered in env prod"):
        setup_monitors({"PLANT1_CIRC1": cfg("prod")}, spaces["prod"], registry, "0 7 * * *")
    mltable = tmp_path / "asset"
    mltable.mkdir()
    (mltable / "MLTable").write_text("paths:\n  - file: ./data.parquet\ntransformations:\n  - read_parquet\n")
    pd.DataFrame({"timestamp": ["2025-01-01"], "load_kw": [1.0]}).to_parquet(mltable / "data.parquet")
    clients["prod"].data.create_or_update(Data(name="PLANT1_CIRC1", version="2025-12-09", type="mltable",
                                               path=str(mltable)))
    (monitor,) = setup_monitors({"PLANT1_CIRC1": cfg("prod")}, spaces["prod"], registry, "0 7 * * *")
    assert monitor.where == "monitor-be-plant1-circ1-prod"
    body = clients["prod"].schedules.sent[monitor.where]["properties"]
    assert body["trigger"]["expression"] == "0 7 * * *"
    job = body["action"]["jobDefinition"]
    assert {n: j["componentId"] for n, j in job["jobs"].items()} == {
        "drift": f"azureml:detect_drift:{VERSION['detect_drift']}",
        "metrics": f"azureml:calculate_metrics:{VERSION['calculate_metrics']}"}
    assert job["inputs"]["reference_data"]["uri"] == "azureml:PLANT1_CIRC1:2025-12-09"
    assert job["inputs"]["production_data"]["uri"] == "azureml:PLANT1_CIRC1@latest"
    assert job["inputs"]["model"]["uri"] == "azureml://registries/reg/models/PLANT1_CIRC1_model/versions/3"


def test_malformed_production_data_becomes_findings_not_a_crash(readings, config):
    reference = readings[readings["timestamp"] < CUTOFF]
    production = readings[(readings["timestamp"] >= CUTOFF) & (readings["timestamp"] < "2025-12-17")]
    production = production.drop(columns="humidity_pct").assign(voltage_v="n/a")  # a column gone, one text
    result = check_drift(config.circuit_run, MonitoringSettings(), reference, production)
    checks = {(f["check"], f["column"]) for f in result["quality"]["findings"]}
    assert ("column_present", "humidity_pct") in checks and ("numeric_dtype", "voltage_v") in checks
    findings = " ".join(result["data_drift"]["findings"])
    assert "humidity_pct: column missing from target" in findings and "voltage_v: column not numeric" in findings
    verdict = summarise(result, config.circuit_run, MonitoringSettings(), production, None, validated_mae=None)
    assert verdict["failed_checks"] == ["quality"] and verdict["status"] == "alert"


def test_prediction_drift_waits_for_half_a_window_of_forecasts(readings, config):
    reference = readings[readings["timestamp"] < CUTOFF]
    production = readings[(readings["timestamp"] >= CUTOFF) & (readings["timestamp"] < "2025-12-17")]
    origin = pd.Timestamp("2025-12-15 23:00")
    forecasts = pd.DataFrame({"origin": origin, "timestamp": pd.date_range(origin, periods=25, freq="h")[1:],
                              "horizon_step": range(1, 25), "forecast": 40.0})
    result = check_drift(config.circuit_run, MonitoringSettings(), reference, production, forecasts=forecasts,
                         model_dir=Path("never-loaded"))
    assert result["prediction_drift"] == {"checked": False,
                                          "reason": "24 forecasts in the window, fewer than 84 (half the window's steps)"}


@pytest.mark.parametrize("verb", ["setup-monitors", "schedule"])
@pytest.mark.parametrize("cron", ["0 7 * * *;rm -rf /", "0 7 * * *\nrm -rf /", "0 7 * * $(id)", "0 7 * *"])
def test_a_cron_that_could_reach_a_shell_is_refused(project, capsys, verb, cron):
    """Both print a crontab line locally: only digits, names and * / , - in 5 fields may reach it."""
    from sensor_pipelines.cli import main

    assert main([verb, "--env", "prod", "--cron", cron, "--config-dir", str(project / "conf"),
                 "env.backend=local"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "is not a 5-field cron expression" in err, err


def test_the_scored_window_joins_every_scoring_run_and_names_the_one_it_cannot_read(readings, config, tmp_path):
    from sensor_pipelines.backends.base import Endpoint
    from sensor_pipelines.core.errors import UserError
    from sensor_pipelines.monitoring.monitor import scored_window

    days = [readings[(readings["timestamp"] >= f"2026-01-0{d}") & (readings["timestamp"] < f"2026-01-0{d + 2}")]
            for d in (1, 2, 3)]  # two days each: overlapping runs, as daily scoring's histories overlap
    scores = []
    for i, day in enumerate(days):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        day.to_parquet(folder / "input.parquet", index=False)
        day.assign(forecast=1.0)[["timestamp", "forecast"]].to_parquet(folder / "forecasts.parquet", index=False)
        scores.append({"run_id": f"run{i}", "status": "completed", "input": str(folder / "input.parquet"),
                       "forecasts": str(folder / "forecasts.parquet")})
    (tmp_path / "run3").mkdir()  # a run whose input is a folder of CSV files: read on its own
    days[2].tail(3).to_csv(tmp_path / "run3/a.csv", index=False)
    scores.append({"run_id": "run3", "status": "completed", "input": str(tmp_path / "run3")})
    endpoint = Endpoint("be-plant1-circ1-prod", "prod", "PLANT1_CIRC1", scores=scores)

    production, forecasts, last = scored_window(config, endpoint, tmp_path / "window")
    joined = pd.read_parquet(production / "production.parquet")
    assert len(joined) == 4 * 24 and joined["timestamp"].is_unique and joined["timestamp"].is_monotonic_increasing
    assert last == "2026-01-04" and len(pd.read_parquet(forecasts / "forecasts.parquet")) == 3 * 2 * 24

    (tmp_path / "run2/forecasts.parquet").write_bytes(b"not parquet")
    with pytest.raises(UserError, match=r"scored forecasts of run run2 cannot be read .*run2/forecasts.parquet"):
        scored_window(config, endpoint, tmp_path / "window2")
    (tmp_path / "run1/input.parquet").write_bytes(b"not parquet")
    with pytest.raises(UserError, match=r"scored input of run run1 cannot be read .*run1/input.parquet"):
        scored_window(config, endpoint, tmp_path / "window3")
