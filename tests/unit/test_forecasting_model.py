"""Training end to end with the smoke sizes, once per module: the saved MLflow model, its files,
metrics.json, MLflow logging, and re-scoring through the pyfunc (same process and a fresh one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensor_pipelines.core.errors import DataError
from sensor_pipelines.core.fileio import read_json
from sensor_pipelines.core.forecasting.evaluation import evaluate_saved_model, write_verdict
from sensor_pipelines.core.forecasting.features import FeatureSpec, make_windows, regular_frame, unscale_target
from sensor_pipelines.core.forecasting.training import prepare_training_data, train_circuit_model
from tests.unit.test_forecasting_features import run_config, sine_frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train once inside an MLflow run on a throwaway SQLite store."""
    import mlflow

    root = tmp_path_factory.mktemp("trained")
    config, frame = run_config(), sine_frame(days=60)
    (root / "model").mkdir()  # an output folder that already exists, empty
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        with mlflow.start_run() as run:
            report = train_circuit_model(config, frame, root / "model", root / "metrics", root / "artifacts")
        yield {"root": root, "config": config, "frame": frame, "report": report, "run_id": run.info.run_id,
               "client": mlflow.tracking.MlflowClient()}
    finally:
        mlflow.set_tracking_uri(previous)


def _keras_forecast(root: Path, frame: pd.DataFrame, origins: np.ndarray) -> np.ndarray:
    """Forecasts of the best checkpoint, windowed by hand: the pyfunc must reproduce them."""
    import keras

    spec = FeatureSpec.from_dict(json.loads((root / "model/artifacts/feature_spec.json").read_text()))
    model = keras.models.load_model(root / "artifacts/best.keras")
    values = regular_frame(frame, spec)
    windows = make_windows(values, spec, origins, with_targets=False)
    return unscale_target(model.predict(windows.inputs, verbose=0), spec)


def test_training_writes_model_metrics_and_plots(trained):
    root, report = trained["root"], trained["report"]
    assert read_json(root / "metrics/metrics.json") == json.loads(json.dumps(report))
    assert set(report) >= {"model", "baseline", "mae_ratio", "n_test_windows", "n_train_windows", "epochs_run",
                           "train_seconds", "test_origins"}
    assert set(report["model"]) == {"mae", "rmse", "r2", "mape"}
    assert report["baseline"]["name"] == "seasonal_naive_168"
    assert report["mae_ratio"] == pytest.approx(report["model"]["mae"] / report["baseline"]["mae"])
    assert 1 <= report["epochs_run"] <= 2 and report["n_train_windows"] >= 10 and report["n_test_windows"] >= 5
    data = prepare_training_data(trained["config"], trained["frame"])
    first_last = data.values.index[data.test[[0, -1]]]
    assert report["test_origins"] == [ts.isoformat() for ts in first_last]
    assert report["n_test_windows"] == len(data.test) and report["test_origins"][0].endswith("T23:00:00")
    for name in ("best.keras", "training_curve.png", "forecast_vs_actual.png"):
        assert (root / "artifacts" / name).stat().st_size > 0
    assert (root / "model/MLmodel").is_file()


def test_training_logs_to_the_active_run(trained):
    run = trained["client"].get_run(trained["run_id"])
    assert run.data.params["circuit"] == "PLANT9_CIRC9" and run.data.params["lookback"] == "24"
    assert run.data.metrics["model_mae"] == pytest.approx(trained["report"]["model"]["mae"])
    assert run.data.metrics["baseline_mae"] == pytest.approx(trained["report"]["baseline"]["mae"])
    losses = trained["client"].get_metric_history(trained["run_id"], "val_loss")
    assert len(losses) == trained["report"]["epochs_run"]
    logged = {a.path for a in trained["client"].list_artifacts(trained["run_id"], "training")}
    assert "training/training_curve.png" in logged


def test_pyfunc_reproduces_the_keras_model(trained):
    import mlflow

    root, frame = trained["root"], trained["frame"]
    model = mlflow.pyfunc.load_model(str(root / "model"))
    data = prepare_training_data(trained["config"], frame)
    origins = data.test[:3]
    stamps = [ts.isoformat() for ts in data.values.index[origins]]
    out = model.predict(frame, params={"origins": stamps})
    assert list(out.columns) == ["origin", "timestamp", "forecast"] and len(out) == 3 * 24
    np.testing.assert_allclose(out["forecast"].to_numpy().reshape(3, 24), _keras_forecast(root, frame, origins),
                               rtol=1e-6, atol=1e-6)
    first = out.iloc[:24]
    assert (first["origin"] == pd.Timestamp(stamps[0])).all()
    assert (pd.to_datetime(first["timestamp"]) == pd.date_range(stamps[0], periods=25, freq="h")[1:]).all()


def test_pyfunc_forecasts_after_the_last_timestamp_by_default(trained):
    import mlflow

    model = mlflow.pyfunc.load_model(str(trained["root"] / "model"))
    history = trained["frame"].tail(24 * 15).copy()  # lookback and the two-week lag
    history["timestamp"] = history["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")  # as read from a CSV file
    out = model.predict(history)
    last = pd.Timestamp(history["timestamp"].iloc[-1])
    assert len(out) == 24 and out["forecast"].notna().all() and (out["origin"] == last).all()
    assert pd.Timestamp(out["timestamp"].iloc[0]) == last + pd.Timedelta(hours=1)
    expected = _keras_forecast(trained["root"], trained["frame"], np.array([len(trained["frame"]) - 1]))
    np.testing.assert_allclose(out["forecast"].to_numpy(), expected[0], rtol=1e-6, atol=1e-6)


def test_pyfunc_gives_nan_for_incomplete_history_and_refuses_unknown_origins(trained):
    import mlflow

    model = mlflow.pyfunc.load_model(str(trained["root"] / "model"))
    history = trained["frame"].tail(24 * 15).copy()
    history.iloc[-3, 1] = np.nan
    assert model.predict(history)["forecast"].isna().all()
    with pytest.raises(DataError, match="not in the history"):
        model.predict(history, params={"origins": ["1999-01-01T00:00:00"]})
    with pytest.raises(DataError, match="lookback"):
        model.predict(history, params={"origins": [history["timestamp"].iloc[2].isoformat()]})


def test_evaluation_of_the_saved_model_matches_training(trained, tmp_path):
    metrics = evaluate_saved_model(trained["config"], trained["frame"], trained["root"] / "model")
    report = trained["report"]
    for side in ("model", "baseline"):
        for key in ("mae", "rmse", "r2", "mape"):
            assert metrics[side][key] == pytest.approx(report[side][key], abs=1e-4)
    assert metrics["n_test_windows"] == report["n_test_windows"]
    assert metrics["test_origins"] == report["test_origins"]
    verdict = write_verdict(trained["config"], trained["frame"], trained["root"] / "model", tmp_path)
    assert read_json(tmp_path / "verdict.json") == json.loads(json.dumps(verdict))
    limits = trained["config"].circuit.thresholds
    assert [(c["metric"], c["op"], c["limit"]) for c in verdict["checks"]] == [
        ("mae", "<", limits.mae_max), ("rmse", "<", limits.rmse_max), ("r2", ">", limits.r2_min),
        ("mae_ratio", "<=", limits.mae_ratio_max if limits.mae_ratio_max is not None else 1.0)]
    for check in verdict["checks"]:
        value = metrics["mae_ratio"] if check["metric"] == "mae_ratio" else metrics["model"][check["metric"]]
        assert check["value"] == pytest.approx(value, abs=1e-4)
        passed = {"<": check["value"] < check["limit"], ">": check["value"] > check["limit"],
                  "<=": check["value"] <= check["limit"]}[check["op"]]
        assert check["passed"] == passed
    assert verdict["passed"] == all(c["passed"] for c in verdict["checks"])
    assert verdict["metrics"]["model"]["mae"] == pytest.approx(report["model"]["mae"], abs=1e-4)


def test_evaluation_reuses_the_training_forecasts_only_for_the_same_model(trained, tmp_path, caplog):
    """The forecasts handed over by training are reused when the saved model's content hash matches;
    a different model (or no hand-over) is forecast again, and both give the training's metrics."""
    import shutil

    root, report = trained["root"], trained["report"]
    handed = read_json(root / "metrics" / "test_forecasts.json")
    assert len(handed["origins"]) == report["n_test_windows"] and len(handed["forecast"][0]) == 24
    with caplog.at_level("INFO", logger="sensor_pipelines"):
        reused = evaluate_saved_model(trained["config"], trained["frame"], root / "model", root / "metrics")
    assert "reused (model content hash verified)" in caplog.text
    for key in ("mae", "rmse", "r2", "mape"):
        assert reused["model"][key] == pytest.approx(report["model"][key], abs=1e-9)

    other = tmp_path / "model"  # the same model saved again is other content (new MLmodel metadata)
    shutil.copytree(root / "model", other)
    (other / "MLmodel").write_text((other / "MLmodel").read_text() + "\n# another save\n")
    caplog.clear()
    with caplog.at_level("INFO", logger="sensor_pipelines"):
        again = evaluate_saved_model(trained["config"], trained["frame"], other, root / "metrics")
    assert "come from another model: forecasting with the saved model" in caplog.text
    assert again["model"]["mae"] == pytest.approx(report["model"]["mae"], abs=1e-4)


def test_saved_model_loads_and_predicts_in_a_fresh_process(trained):
    root = trained["root"]
    trained["frame"].tail(24 * 15).to_csv(root / "history.csv", index=False)
    script = (
        "import sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "out = model.predict(pd.read_csv(sys.argv[2]))\n"
        "print(out['forecast'].round(6).tolist())\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(root / "model"), str(root / "history.csv")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    forecast = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = _keras_forecast(root, trained["frame"], np.array([len(trained["frame"]) - 1]))[0]
    np.testing.assert_allclose(forecast, expected, atol=1e-5)


def _test_forecasts_agree(model_dir: Path, config, frame) -> None:
    """The forecasts saved with the model are what the loaded model forecasts on its test windows."""
    import mlflow.pyfunc

    from sensor_pipelines.core.forecasting.pyfunc import saved_test_forecasts

    saved = saved_test_forecasts(model_dir)
    data = prepare_training_data(config, frame)
    origins = data.values.index[data.test]
    assert saved is not None and list(saved.columns) == ["origin", "timestamp", "forecast"]
    assert len(saved) == len(origins) * data.spec.horizon and saved["origin"].unique().tolist() == origins.tolist()
    loaded = mlflow.pyfunc.load_model(str(model_dir)).predict(
        frame, params={"origins": [ts.isoformat() for ts in origins]})
    pd.testing.assert_frame_equal(saved[["origin", "timestamp"]], loaded[["origin", "timestamp"]], check_dtype=False)
    np.testing.assert_allclose(saved["forecast"], loaded["forecast"], rtol=1e-5, atol=1e-6)


def test_the_model_keeps_its_test_forecasts_for_monitoring(trained):
    _test_forecasts_agree(trained["root"] / "model", trained["config"], trained["frame"])


def test_monitoring_reads_the_saved_test_forecasts_and_recomputes_them_for_an_older_model(trained, tmp_path,
                                                                                          monkeypatch):
    import shutil

    import mlflow.pyfunc

    from sensor_pipelines.core.forecasting.pyfunc import SERVED_FORECASTS_FILE
    from sensor_pipelines.core.monitoring_checks import reference_forecasts

    older = shutil.copytree(trained["root"] / "model", tmp_path / "older")
    (older / "artifacts" / SERVED_FORECASTS_FILE).unlink()
    load_model = mlflow.pyfunc.load_model
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    saved = reference_forecasts(trained["root"] / "model", trained["config"], trained["frame"])
    monkeypatch.setattr(mlflow.pyfunc, "load_model", load_model)
    recomputed = reference_forecasts(older, trained["config"], trained["frame"])
    pd.testing.assert_frame_equal(saved, recomputed, check_dtype=False, rtol=1e-5, atol=1e-6)


def test_a_non_empty_model_folder_is_refused(trained, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model/old.txt").write_text("x")
    with pytest.raises(FileExistsError):
        train_circuit_model(trained["config"], trained["frame"], tmp_path / "model", tmp_path / "m", tmp_path / "a")


def test_refit_serves_the_mean_and_the_metrics_describe_the_member_that_never_saw_the_test_windows(tmp_path):
    """With refit the registered model forecasts the mean of the early-stopped model and a refit on every
    window; its test metrics (training's, evaluation's recomputed, evaluation's reused) are the member's."""
    import keras
    import mlflow.pyfunc

    config, frame = run_config(refit=True), sine_frame(days=60)
    report = train_circuit_model(config, frame, tmp_path / "model", tmp_path / "metrics", tmp_path / "artifacts")
    assert "mean of that model and a refit" in report["served_model"] and report["refit_seconds"] > 0
    assert report["train_seconds"] >= report["refit_seconds"]
    member = keras.models.load_model(tmp_path / "artifacts/best.keras")
    served = keras.models.load_model(tmp_path / "artifacts/served.keras")
    data = prepare_training_data(config, frame)
    windows = make_windows(data.values, data.spec, data.test[:3], with_targets=False)
    refit_alone = served.get_layer("member_1")(windows.inputs)
    np.testing.assert_allclose(served.predict(windows.inputs, verbose=0),
                               (member.predict(windows.inputs, verbose=0) + np.asarray(refit_alone)) / 2, atol=1e-5)
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "model"))  # the registered model serves the mean
    served_forecast = pyfunc.predict(frame, params={"origins": [str(data.values.index[data.test[0]])]})
    np.testing.assert_allclose(served_forecast["forecast"].to_numpy(),
                               unscale_target(served.predict(windows.inputs, verbose=0), data.spec)[0], rtol=1e-4)
    _test_forecasts_agree(tmp_path / "model", config, frame)  # the served mean's, not the member's
    recomputed = evaluate_saved_model(config, frame, tmp_path / "model")
    reused = evaluate_saved_model(config, frame, tmp_path / "model", tmp_path / "metrics")
    for metrics in (recomputed, reused):
        assert metrics["model"]["mae"] == pytest.approx(report["model"]["mae"], abs=1e-4)
        assert metrics["evaluated_model"].startswith("the member fit on the train split")
