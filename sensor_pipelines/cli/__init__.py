"""The ``sensor-pipelines`` command line: compose config, pick a backend, run a flow.

One module per group of verbs (``training``: train, train-changed, plan, validate;
``assets``: register, components, pipeline-yaml, detect-changes, ...). This is the only
layer that composes Hydra (``cli.compose``) and prints (``cli.console``). Heavy libraries
(TensorFlow, MLflow, azure-ai-ml) are imported only inside the verbs that need them, so
``--help`` and config errors answer at once.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shlex
import sys
import warnings
from typing import Sequence

from sensor_pipelines.cli.assets import (
    cmd_check_versions,
    cmd_components,
    cmd_detect_changes,
    cmd_generate_data,
    cmd_pipeline_yaml,
    cmd_register,
    cmd_register_data,
    cmd_ui,
)
from sensor_pipelines.cli.monitoring import add_monitoring_verbs
from sensor_pipelines.cli.release import add_release_verbs
from sensor_pipelines.cli.training import cmd_plan, cmd_train, cmd_train_changed, cmd_validate
from sensor_pipelines.core.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensor-pipelines",
        description="Per-circuit sensor forecasting: train, register and track models on the local or Azure ML backend.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, circuit: str = "", config: bool = True) -> argparse.ArgumentParser:
        """A verb; ``circuit``: "one" (--circuit) or "many" (--circuits); ``config``: env, conf and overrides."""
        doc = func.__doc__.strip()
        p = sub.add_parser(name, help=doc, description=doc)
        if circuit == "one":
            p.add_argument("--circuit", required=True, help="circuit name, e.g. PLANT1_CIRC1 (conf/circuit/<name>.yaml)")
        elif circuit == "many":
            p.add_argument("--circuits", default="", help="comma-separated circuits (default: all in conf/circuit)")
        if config:
            p.add_argument("--env", default="local", help="environment: conf/env/<env>.yaml (default: local)")
            p.add_argument("--config-dir", default="conf", help="Hydra config folder (default: conf)")
            p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=lstm_smoke model.epochs=5")
            p.add_argument("--overrides", dest="overrides_text", default="", metavar="TEXT",
                           help="more Hydra overrides in one string, split like a shell would (make's OVERRIDES)")
        p.set_defaults(func=func)
        return p

    train = add("train", cmd_train, circuit="one")
    train.add_argument("--force", action="store_true", help="rerun every node, even when nothing changed")
    train.add_argument("--result-file", help="also write the outcome as JSON here")

    many = add("train-changed", cmd_train_changed)
    many.add_argument("--max-parallel", type=int, default=0, help="circuits at once (default: the env's max_parallel)")
    pick = many.add_mutually_exclusive_group()
    pick.add_argument("--circuits", default="", help="comma-separated circuits instead of the changed ones")
    pick.add_argument("--all", action="store_true", help="every circuit in conf/circuit")
    pick.add_argument("--retry-failed", action="store_true", help="only the circuits that failed last time")
    many.add_argument("--changes", default="build/changed_circuits.json", help="changed circuits file")
    many.add_argument("--target-branch", default="main", help="for detection when the changes file is missing")
    many.add_argument("--out-dir", default="build/train", help="results and logs (default: build/train)")
    many.add_argument("--force", action="store_true", help="rerun every node")

    gate = add("validate", cmd_validate)
    gate.add_argument("--results", default="build/train/train_results.json",
                      help="train_results.json of train-changed, or a folder of per-circuit result files")
    gate.add_argument("--out-dir", default="build", help="where validation_report.json/.md go (default: build)")
    gate.add_argument("--strict", action="store_true", help="exit non-zero unless every circuit validates")

    add("plan", cmd_plan, circuit="many")
    register = add("register", cmd_register, circuit="many")
    register.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add("register-data", cmd_register_data, circuit="one")
    generate = add("generate-data", cmd_generate_data)
    which = generate.add_mutually_exclusive_group(required=True)
    which.add_argument("--circuit", help="circuit name, e.g. PLANT1_CIRC1")
    which.add_argument("--all", action="store_true", help="every circuit in conf/circuit")
    add("pipeline-yaml", cmd_pipeline_yaml, circuit="one").add_argument(
        "--output", default="build/pipelines", help="output folder (default: build/pipelines)")
    add("components", cmd_components, config=False).add_argument(
        "--output", default="build/components", help="output folder (default: build/components)")
    add("check-versions", cmd_check_versions, config=False)
    detect = add("detect-changes", cmd_detect_changes, config=False)
    detect.add_argument("--target-branch", default="main", help="branch to compare with (default: main)")
    detect.add_argument("--output", default="build/changed_circuits.json")
    detect.add_argument("--repo", default=".", help="repository root (default: .)")
    add("ui", cmd_ui, circuit="one").add_argument("--port", type=int, default=5000)
    add_release_verbs(add)
    add_monitoring_verbs(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # MLflow's usage telemetry would post to the internet from a background thread; with that thread
    # alive the node worker cannot fork warm, and every node of a fan-out re-imports TensorFlow
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if getattr(args, "overrides_text", ""):
        try:
            args.overrides = [*args.overrides, *shlex.split(args.overrides_text)]
        except ValueError as exc:
            print(f"error: OVERRIDES: {exc} (quote each override whole, e.g. 'model.lstm_units=[8, 16]')",
                  file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # library chatter stays out of the console (nodes keep it in their log files)
        quiet_libraries()
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``sensor-pipelines`` command: :func:`main`, then exit without Python's last garbage collection walking
    every object the libraries made (up to a second after a pipeline run); exit handlers still run."""
    code = main()
    gc.freeze()
    sys.exit(code)


def quiet_libraries() -> None:
    """Keep azure-ai-ml's experimental-class warnings, TensorFlow and absl out of the console."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # mlflow sets its own logger's level on import
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("azure", "absl", "tensorflow", "mlflow", "alembic", "mldesigner"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*experimental.*")


if __name__ == "__main__":
    sys.exit(main())
