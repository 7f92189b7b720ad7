"""Compose the Hydra config for one circuit and validate it before any work.

Hydra is imported here, lazily; the rest of the library gets dataclasses.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator

from sensor_pipelines.core.config.schema import (
    CIRCUIT_NAME,
    ID,
    ISO_DATE,
    NAME,
    CircuitConfig,
    EnvConfig,
    MonitoringSettings,
    ModelConfig,
    RunConfig,
)
from sensor_pipelines.core.config.parsing import parse_dataclass
from sensor_pipelines.core.errors import ConfigError, UserError

DEFAULT_CONFIG_DIR = "conf"
DATA_FORMATS = ("csv", "parquet")
BACKENDS = ("local", "azure")
OUT_OF_RANGE = ("reject", "missing")


def available(config_dir: str | Path, group: str) -> list[str]:
    """Names of the options of a config group (the YAML files in conf/<group>/; ``_*`` are shared bases)."""
    return sorted(p.stem for p in (Path(config_dir) / group).glob("*.yaml") if not p.stem.startswith("_"))


def find_config_dir(start: str | Path | None = None) -> Path:
    """The first ``conf/`` holding a ``config.yaml`` at or above ``start`` (default: the working folder).

    Jupyter runs a notebook in ``notebooks/``; this finds the project's ``conf/`` from there.
    """
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / DEFAULT_CONFIG_DIR / "config.yaml").is_file():
            return folder / DEFAULT_CONFIG_DIR
    raise UserError(f"No {DEFAULT_CONFIG_DIR}/config.yaml in {start} or any folder above it; pass the path of conf/")


def check_circuit_name(name: str, config_dir: str | Path = DEFAULT_CONFIG_DIR) -> Path:
    """Return the circuit's config file, or raise a clear error for a bad or unknown name."""
    config_dir = Path(config_dir)
    if not CIRCUIT_NAME.match(name or ""):
        raise UserError(
            f"Invalid circuit name {name!r}: expected PLANT_CIRCUIT made of letters and digits "
            f"(e.g. PLANT1_CIRC1)"
        )
    path = config_dir / "circuit" / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available(config_dir, "circuit")) or "none"
        raise UserError(f"Unknown circuit {name!r}: no {path} (available: {known})")
    return path


def load_run_config(
    circuit: str,
    env: str = "local",
    overrides: Iterable[str] = (),
    config_dir: str | Path = DEFAULT_CONFIG_DIR,
) -> RunConfig:
    """Compose conf/ for one circuit and env (plus Hydra overrides) and validate it."""
    return load_run_configs([circuit], env, overrides, config_dir)[0]


def load_run_configs(
    circuits: Iterable[str],
    env: str = "local",
    overrides: Iterable[str] = (),
    config_dir: str | Path = DEFAULT_CONFIG_DIR,
) -> list[RunConfig]:
    """Compose and validate several circuits (fast for big fleets).

    Hydra composes the first circuit; a plain circuit file (no defaults list, no
    ``circuit.*`` override) then only swaps the ``circuit`` node, which is exactly what
    choosing another option of that group does. Anything else is composed in full.
    """
    config_dir = Path(config_dir).resolve()
    circuits, overrides = list(circuits), list(overrides)
    for circuit in circuits:
        check_circuit_name(circuit, config_dir)
    if not NAME.match(env or ""):
        raise UserError(f"Invalid env name {env!r}: expected letters, digits and underscores (e.g. local, dev)")
    if env not in available(config_dir, "env"):
        known = ", ".join(available(config_dir, "env"))
        raise UserError(f"Unknown env {env!r}: no {config_dir / 'env' / (env + '.yaml')} (available: {known})")
    if not circuits:
        return []
    args = lambda c: [f"circuit={c}", f"env={env}", *overrides]  # noqa: E731
    (base, base_choices), = _compose(config_dir, [args(circuits[0])])
    composed = {circuits[0]: (base, base_choices)}
    # the shortcut is only exact when nothing outside the circuit's own file reads the circuit
    others = [config_dir / "config.yaml", *(config_dir / g / f"{base_choices[g]}.yaml" for g in ("env", "model")
                                            if base_choices.get(g))]
    touches_circuit = (any(o.lstrip("+~").startswith("circuit") or "${circuit" in o for o in overrides)
                       or any("${circuit" in p.read_text() for p in others if p.is_file()))
    slow = []
    for circuit in circuits[1:]:
        node = None if touches_circuit else _plain_circuit(config_dir / "circuit" / f"{circuit}.yaml")
        if node is None:
            slow.append(circuit)
        else:
            composed[circuit] = ({**base, "circuit": node}, {**base_choices, "circuit": circuit})
    composed.update(zip(slow, _compose(config_dir, [args(c) for c in slow])))
    return [check_composed(*composed[c], config_dir, overrides) for c in circuits]


def _plain_circuit(path: Path) -> dict | None:
    """A circuit file's resolved content when it needs no Hydra composition, else None."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return None  # Hydra composes it and reports the error with the file
    if not isinstance(data, dict) or "defaults" in data:
        return None
    try:
        return OmegaConf.to_container(OmegaConf.create(data), resolve=True)
    except OmegaConfBaseException:  # interpolates other nodes: let Hydra compose it
        return None


def _compose(config_dir: Path, override_lists: list[list[str]]) -> list[tuple[dict, dict]]:
    import yaml
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, OverrideParseException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    results = []
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            for overrides in override_lists:
                cfg = compose("config", overrides=overrides, return_hydra_config=True)
                choices = dict(cfg.hydra.runtime.choices)
                with open_dict(cfg):
                    del cfg["hydra"]
                results.append((OmegaConf.to_container(cfg, resolve=True), choices))
    except yaml.YAMLError:
        raise ConfigError([_first_invalid_yaml(config_dir)]) from None
    except OverrideParseException as exc:
        raise ConfigError([f"command line (OVERRIDES): not a Hydra override ({str(exc).splitlines()[0]}); "
                           f"write key=value pairs separated by spaces, e.g. 'model=lstm_smoke model.epochs=5'"]) from None
    except (HydraException, OmegaConfBaseException) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        message = lines[0]
        if any(ln.startswith("Available options") for ln in lines):
            start = next(i for i, ln in enumerate(lines) if ln.startswith("Available options"))
            options = []
            for ln in lines[start + 1 :]:
                if ln.startswith("Config search path"):
                    break
                options.append(ln)
            message += f" (available: {', '.join(options)})"
        raise ConfigError([f"{config_dir.name}/: {message}"]) from None
    return results


def _first_invalid_yaml(config_dir: Path) -> str:
    """'conf/<file>: line N: <problem>' for the first YAML file under conf/ that does not parse."""
    import yaml

    for path in sorted(config_dir.rglob("*.yaml")):
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark else ""
            return f"{config_dir.name}/{path.relative_to(config_dir)}: {line}not valid YAML ({getattr(exc, 'problem', exc)})"
    return f"{config_dir.name}/: not valid YAML"


def check_composed(raw: dict, choices: dict, config_dir: Path, overrides: Iterable[str] = ()) -> RunConfig:
    """Validate a composed config; raise ConfigError listing every problem.

    Each problem names where its value was written: the group's file, the circuit file for
    ``model_overrides``, or the command line for an override (``OVERRIDES``).
    """
    problems: list[str] = []
    set_on_command_line = {o.lstrip("+~").split("=", 1)[0] for o in overrides if "=" in o}

    def where(group: str, key: str = "") -> str:
        dotted = f"{group}.{key}" if key else group
        if any(dotted == o or dotted.startswith(o + ".") or o.startswith(dotted + ".") for o in set_on_command_line):
            return "command line (OVERRIDES)"
        return str(Path(config_dir.name) / group / f"{choices.get(group)}.yaml")

    for key in raw:
        if key not in ("circuit", "env", "model"):
            problems.append(f"{Path(config_dir.name) / 'config.yaml'}: {key}: unknown key")
    circuit_file = where("circuit")
    circuit = parse_dataclass(CircuitConfig, raw.get("circuit"), circuit_file, problems)
    env = parse_dataclass(EnvConfig, raw.get("env"), where("env"), problems)
    model_raw = dict(raw.get("model") or {})
    model_overrides = (raw.get("circuit") or {}).get("model_overrides") or {}
    model_overrides = model_overrides if isinstance(model_overrides, dict) else {}
    model = parse_dataclass(ModelConfig, model_raw, where("model"), problems)
    if model_overrides:
        model = parse_dataclass(ModelConfig, {**model_raw, **model_overrides}, circuit_file, problems,
                                prefix="model_overrides.")

    def model_where(key: str) -> tuple[str, str]:
        if key in model_overrides:
            return where("circuit", f"model_overrides.{key}"), f"model_overrides.{key}"
        return where("model", key), key

    if circuit is not None:
        problems += [f"{where('circuit', key)}: {key}: {msg}" for key, msg in _circuit_problems(circuit, choices.get("circuit"))]
    if model is not None:
        problems += [": ".join((*model_where(key), msg)) for key, msg in _model_problems(model)]
    if env is not None:
        problems += [f"{where('env', key)}: {key}: {msg}" for key, msg in _env_problems(env)]
    if circuit is not None and env is not None:
        monitoring = parse_dataclass(MonitoringSettings, {**dataclasses.asdict(env.monitoring), **circuit.monitoring},
                                     circuit_file, problems, prefix="monitoring.")
        if monitoring is not None:
            problems += [f"{where('circuit', 'monitoring.' + key) if key in circuit.monitoring else where('env', 'monitoring.' + key)}"
                         f": monitoring.{key}: {msg}" for key, msg in _monitoring_problems(monitoring)]
    if circuit is not None and env is not None and not problems:
        problems += [f"{where('circuit', 'data.path')}: data.path: {msg}"
                     for msg in _source_problems(circuit, env, config_dir.parent)]
    if problems:
        raise ConfigError(problems)
    return RunConfig(circuit=circuit, model=model, env=env, project_root=str(config_dir.parent))


def _circuit_problems(c: CircuitConfig, chosen: str | None) -> Iterator[tuple[str, str]]:
    for key, value in (("plant_id", c.plant_id), ("circuit_id", c.circuit_id)):
        if not ID.match(value):
            yield key, f"{value!r} must be letters and digits only (it names paths, jobs and CI matrix entries)"
    if ID.match(c.plant_id) and ID.match(c.circuit_id) and chosen and c.name != chosen:
        yield "plant_id/circuit_id", f"they give {c.name!r} but the file is {chosen}.yaml"
    try:
        if not ISO_DATE.match(c.cutoff_date):
            raise ValueError
        date.fromisoformat(c.cutoff_date)
    except ValueError:
        yield "cutoff_date", f"{c.cutoff_date!r} is not a date (YYYY-MM-DD)"
    d = c.data
    if d.format not in DATA_FORMATS:
        yield "data.format", f"{d.format!r} is not one of {', '.join(DATA_FORMATS)}"
    if d.target_column in d.feature_columns:
        yield "data.feature_columns", f"contains the target column {d.target_column!r}"
    if d.timestamp_column in (d.target_column, *d.feature_columns):
        yield "data.timestamp_column", f"{d.timestamp_column!r} is also a value column"
    outside = [c for c in d.known_future_columns if c not in d.feature_columns]
    if outside:
        yield "data.known_future_columns", f"{outside} are not in feature_columns"
    if len(set(d.feature_columns)) != len(d.feature_columns):
        yield "data.feature_columns", "duplicate column names"
    if d.max_interpolate_steps < 0:
        yield "data.max_interpolate_steps", "must be >= 0"
    try:
        import pandas as pd

        pd.tseries.frequencies.to_offset(d.frequency)
    except ValueError:
        yield "data.frequency", f"{d.frequency!r} is not a pandas frequency (e.g. 'h', '15min')"
    for column, bounds in d.valid_range.items():
        if column not in (d.target_column, *d.feature_columns):
            yield f"data.valid_range.{column}", f"{column!r} is not the target or a feature column"
        elif bounds.min is not None and bounds.max is not None and bounds.min >= bounds.max:
            yield f"data.valid_range.{column}", f"min {bounds.min:g} must be below max {bounds.max:g}"
    if d.out_of_range not in OUT_OF_RANGE:
        yield "data.out_of_range", f"{d.out_of_range!r} is not one of {', '.join(OUT_OF_RANGE)}"
    t = c.thresholds
    if t.mae_max <= 0 or t.rmse_max <= 0:
        yield "thresholds", "mae_max and rmse_max must be > 0"
    if t.r2_min > 1:
        yield "thresholds.r2_min", f"{t.r2_min} can never be reached (R² <= 1)"
    r = c.forecast_range
    if r.min is not None and r.max is not None and r.min >= r.max:
        yield "forecast_range", f"min {r.min:g} must be below max {r.max:g}"
    if t.mae_ratio_max is not None and t.mae_ratio_max <= 0:
        yield "thresholds.mae_ratio_max", f"{t.mae_ratio_max} must be > 0 (1.0: no worse than the seasonal naive)"


LOSSES = ("mae", "mse", "huber")


def _model_problems(m: ModelConfig) -> Iterator[tuple[str, str]]:
    for key in ("lookback", "horizon", "epochs", "batch_size", "train_stride", "baseline_season", "dense_units"):
        if getattr(m, key) < 1:
            yield key, f"must be >= 1, got {getattr(m, key)}"
    if m.patience < 0:
        yield "patience", "must be >= 0"
    if not m.lstm_units or any(u < 1 for u in m.lstm_units):
        yield "lstm_units", "needs at least one layer, each >= 1 unit"
    if not 0 <= m.dropout < 1:
        yield "dropout", f"must be in [0, 1), got {m.dropout}"
    if m.learning_rate <= 0:
        yield "learning_rate", "must be > 0"
    for key in ("validation_fraction", "test_fraction"):
        if not 0 < getattr(m, key) < 0.5:
            yield key, f"must be in (0, 0.5), got {getattr(m, key)}"
    short = [lag for lag in m.target_lags if lag < m.horizon]
    if short:
        yield "target_lags", f"{short} < horizon {m.horizon}: a forecast step's lag must be observed at the origin"
    if m.residual and m.baseline_season < m.horizon:
        yield "residual", f"needs baseline_season >= horizon {m.horizon} (got {m.baseline_season})"
    if m.l2 < 0:
        yield "l2", "must be >= 0"
    if m.loss not in LOSSES:
        yield "loss", f"{m.loss!r} is not one of {', '.join(LOSSES)}"


def _env_problems(e: EnvConfig) -> Iterator[tuple[str, str]]:
    if not NAME.match(e.name):
        yield "name", f"{e.name!r} must be letters, digits and underscores (it names the workspace folder)"
    if e.backend not in BACKENDS:
        yield "backend", f"{e.backend!r} is not one of {', '.join(BACKENDS)}"
    if e.max_parallel < 1:
        yield "max_parallel", "must be >= 1"


def _monitoring_problems(m: MonitoringSettings) -> Iterator[tuple[str, str]]:
    for key in ("window_days", "season_days", "consecutive_runs"):
        if getattr(m, key) < 1:
            yield key, f"must be >= 1, got {getattr(m, key)}"
    for key in ("ks_pvalue_max", "ks_statistic_min", "out_of_range_max", "max_missing_rate"):
        if not 0 <= getattr(m, key) <= 1:
            yield key, f"must be in [0, 1], got {getattr(m, key)}"
    for key in ("calibration_margin", "psi_max", "max_mae_ratio"):
        if getattr(m, key) <= 0:
            yield key, f"must be > 0, got {getattr(m, key)}"
    if m.flatline_min_run < 2:
        yield "flatline_min_run", f"must be >= 2, got {m.flatline_min_run}"
    if m.webhook_url is not None and not m.webhook_url.startswith(("http://", "https://")):
        yield "webhook_url", "must start with http:// or https://"


def _source_problems(c: CircuitConfig, e: EnvConfig, project_root: Path) -> Iterator[str]:
    """The data file must lie inside the project or a declared data root (symlinks resolved)."""
    from sensor_pipelines.core.data.snapshot import source_location

    try:
        source_location(c.data.path, project_root, e.data_roots)
    except UserError as exc:
        yield str(exc)
