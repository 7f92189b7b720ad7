"""What every verb shares: composing its config from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError


def run_config(args: argparse.Namespace, circuit: str | None = None) -> RunConfig:
    """The composed, validated config of ``circuit`` (default: ``--circuit``) for the verb's env."""
    from sensor_pipelines.cli.compose import load_run_config

    return load_run_config(circuit or args.circuit, args.env, args.overrides, config_dir=args.config_dir)


def config_or_none(circuit: str, args: argparse.Namespace) -> RunConfig | None:
    """The circuit's config, or None when it does not compose (it then fails on its own)."""
    try:
        return run_config(args, circuit)
    except UserError:
        return None


def env_config(args: argparse.Namespace) -> RunConfig:
    """The env's config, composed with the first circuit (env-wide verbs)."""
    from sensor_pipelines.cli.compose import available

    circuits = available(args.config_dir, "circuit")
    if not circuits:
        raise UserError(f"no circuits in {args.config_dir}/circuit")
    return run_config(args, circuits[0])


def write_result(path: str | None, result: dict[str, Any]) -> None:
    """A fan-out child's outcome as JSON (``--result-file``), when asked for."""
    if path:
        from sensor_pipelines.core.fileio import write_json_atomic

        write_json_atomic(path, result)
