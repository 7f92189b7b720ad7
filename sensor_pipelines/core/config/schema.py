"""Typed schemas of the composed configuration (circuit, model, env).

Plain dataclasses: the core receives these, never a Hydra DictConfig.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Optional

# the one pattern of names that reach paths, job names and CI matrices: letters, digits, underscore
NAME = re.compile(r"^[A-Za-z0-9_]+$")
ID = re.compile(r"^[A-Za-z0-9]+$")  # plant_id, circuit_id: the circuit name is PLANT_CIRCUIT
CIRCUIT_NAME = re.compile(r"^[A-Za-z0-9]+_[A-Za-z0-9]+$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# a 5-field cron expression: digits, names (MON, JAN), * / , - only (it is printed into crontab lines)
CRON = re.compile(r"^[0-9A-Za-z*/,\-]+( [0-9A-Za-z*/,\-]+){4}$")
SAMPLE_DIR = "data/sample"  # only a missing file here is generated from sample_seed


@dataclass
class ValueRange:
    """The physical range of a column's readings (inclusive); either bound may be left out."""

    min: Optional[float] = None
    max: Optional[float] = None


@dataclass
class DataSource:
    """Where a circuit's readings come from and what their columns mean."""

    path: str
    target_column: str
    format: str = "csv"
    timestamp_column: str = "timestamp"
    timestamp_format: Optional[str] = None  # strftime layout, e.g. "%d/%m/%Y %H:%M"; default: ISO 8601
    feature_columns: list[str] = field(default_factory=list)
    # features whose values at the forecast steps are known at the origin (a load, weather or production
    # forecast delivered with the data): the model also reads them at each forecast step
    known_future_columns: list[str] = field(default_factory=list)
    frequency: str = "h"
    max_interpolate_steps: int = 3
    missing_values: list[str] = field(default_factory=list)  # text markers read as missing, e.g. ["n/a"]
    valid_range: dict[str, ValueRange] = field(default_factory=dict)  # per column {min, max}
    out_of_range: str = "reject"  # reject | missing: what a reading outside valid_range does
    sample_seed: Optional[int] = None  # generate sample data when the file under data/sample/ is missing


@dataclass
class Thresholds:
    """Validation limits a model must meet on the held-out test windows."""

    mae_max: float
    rmse_max: float
    r2_min: float
    mae_ratio_max: Optional[float] = None  # skill vs the seasonal naive; None: the env's default


DEFAULT_MAE_RATIO_MAX = 1.0  # when neither the circuit nor the env sets one: no worse than the naive

@dataclass
class ThresholdOverrides:
    """Env-specific threshold overrides (conf/env/*.yaml), applied over every circuit's own."""

    mae_max: Optional[float] = None
    rmse_max: Optional[float] = None
    r2_min: Optional[float] = None
    mae_ratio_max: Optional[float] = None  # a default: a circuit's own mae_ratio_max wins over it

    def apply(self, thresholds: Thresholds) -> Thresholds:
        """The absolute limits set here override the circuit's; ``mae_ratio_max`` is the default
        for circuits that set none (conf/env/_base.yaml holds it)."""
        changes = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "mae_ratio_max"}
        if thresholds.mae_ratio_max is None and self.mae_ratio_max is not None:
            changes["mae_ratio_max"] = self.mae_ratio_max
        return dataclasses.replace(thresholds, **changes)


@dataclass
class ValueRange:
    """The physical range of a circuit's target (forecasts outside it fail validate_predictions)."""

    min: Optional[float] = None
    max: Optional[float] = None


@dataclass
class ModelConfig:
    """Forecaster settings (conf/model/*.yaml, overridable per circuit): an LSTM over the recent past
    whose state joins each forecast step's features (target lags, calendar); a per-step head gives
    a correction to the seasonal naive (``residual``)."""

    name: str = "lstm"
    lookback: int = 24
    horizon: int = 24
    lstm_units: list[int] = field(default_factory=lambda: [32])
    dense_units: int = 64  # the per-step head's hidden units
    dropout: float = 0.2
    epochs: int = 60  # at most: early stopping on the validation split picks the epoch
    batch_size: int = 256
    learning_rate: float = 0.003
    patience: int = 5
    seed: int = 42
    use_features: bool = True
    use_calendar: bool = True
    train_stride: int = 2
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    baseline_season: int = 168
    target_lags: list[int] = field(default_factory=lambda: [24, 48, 168, 336])  # each >= horizon
    residual: bool = True  # forecast = seasonal naive (baseline_season) + the model's correction
    l2: float = 0.0001
    loss: str = "mae"  # mae, mse or huber
    # after early stopping, fit again on every window up to the cutoff for the best epoch count; the registered
    # model forecasts the mean of both; the test metrics describe the first (it never saw the test windows)
    refit: bool = False


@dataclass
class CircuitConfig:
    """One circuit: identity, data snapshot cutoff, data source, thresholds."""

    plant_id: str
    circuit_id: str
    cutoff_date: str
    data: DataSource
    thresholds: Thresholds
    model_overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    forecast_range: ValueRange = field(default_factory=ValueRange)
    monitoring: dict[str, Any] = field(default_factory=dict)  # overrides of the env's MonitoringSettings

    @property
    def name(self) -> str:
        """The circuit's name, also the data asset name: ``{PLANT}_{CIRCUIT}``."""
        return f"{self.plant_id}_{self.circuit_id}"

    @property
    def model_name(self) -> str:
        return f"{self.name}_model"


@dataclass
class MonitoringSettings:
    """How a circuit's monitor judges its prod window (conf/env/_base.yaml ``monitoring``; a circuit's
    ``monitoring`` mapping overrides single fields).

    Drift compares the last ``window_days`` of scored inputs with the training data asset's rows
    within ``season_days`` of the same days of the year; each statistic's limit is the largest value
    that the reference's own windows reach (leave-one-window-out) times ``calibration_margin``, and
    never below the floors ``ks_statistic_min``, ``psi_max``, ``out_of_range_max``.
    """

    window_days: int = 7
    season_days: int = 30
    calibration_margin: float = 1.25
    ks_pvalue_max: float = 0.01
    ks_statistic_min: float = 0.1
    psi_max: float = 0.2
    out_of_range_max: float = 0.05
    max_missing_rate: float = 0.05
    flatline_min_run: int = 12
    max_mae_ratio: float = 1.5  # realised MAE / validated MAE above this: degraded
    consecutive_runs: int = 2  # a circuit alerts after this many failing runs in a row
    webhook_url: Optional[str] = None  # alerts are POSTed here as JSON (retried; a failure is logged)


@dataclass
class AzureSettings:
    """Coordinates of an Azure ML workspace and registry (values from env vars)."""

    subscription_id: Optional[str] = None
    resource_group: Optional[str] = None
    workspace_name: Optional[str] = None
    compute: Optional[str] = None
    registry_name: Optional[str] = None  # the shared Azure ML registry (promotion target)


@dataclass
class EnvConfig:
    """Where the work runs: backend, workspace location, parallelism."""

    name: str
    backend: str = "local"
    workspace_root: str = ".mlops"
    max_parallel: int = 5
    build_id: str = "local"
    experiment_name: str = "sensor-forecasting"
    data_roots: list[str] = field(default_factory=list)  # folders outside the project data may come from
    thresholds: ThresholdOverrides = field(default_factory=ThresholdOverrides)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    azure: Optional[AzureSettings] = None


@dataclass
class CircuitRunConfig:
    """What a component needs: the circuit and its effective model settings.

    Written to a file and passed to components as the ``circuit_config`` input.
    """

    circuit: CircuitConfig
    model: ModelConfig

    def to_dict(self) -> dict[str, Any]:
        """What a training component reads; monitoring settings are left out (they never change a model)."""
        circuit = dataclasses.asdict(self.circuit)
        circuit.pop("monitoring", None)
        return {"circuit": circuit, "model": dataclasses.asdict(self.model)}


@dataclass
class RunConfig:
    """The whole validated configuration of one command."""

    circuit: CircuitConfig
    model: ModelConfig
    env: EnvConfig
    project_root: str = "."

    @property
    def circuit_run(self) -> CircuitRunConfig:
        """The circuit with the env's default ``mae_ratio_max`` filled in (the component's own verdict
        checks it); the env's absolute overrides stay with the gate."""
        circuit = self.circuit
        default = self.env.thresholds.mae_ratio_max
        if circuit.thresholds.mae_ratio_max is None and default is not None:
            circuit = dataclasses.replace(circuit, thresholds=dataclasses.replace(circuit.thresholds,
                                                                                 mae_ratio_max=default))
        return CircuitRunConfig(circuit=circuit, model=self.model)

    @property
    def monitoring(self) -> MonitoringSettings:
        """The env's monitoring settings with the circuit's overrides (checked by ``check_composed``)."""
        return dataclasses.replace(self.env.monitoring, **self.circuit.monitoring)
