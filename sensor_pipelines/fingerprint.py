"""Fingerprints of components: the code they run and the interface they expose.

Used by the local runner's cache and by the component version check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sensor_pipelines.fileio import hash_path, hash_text

LIBRARY_DIR = Path(__file__).resolve().parent
# What components run: the core library, not the orchestration around it (CLI, workflows,
# backends, pipelines, change detection, fan-out, planning, registration, the gate).
# the Hydra loader too: components read the resolved config file (config/files.py), never conf/.
NOT_COMPONENT_RUNTIME = ("cli.py", "workflows.py", "__main__.py", "backends", "pipelines", "changes.py",
                         "detect_config_changes.py", "fanout.py", "plan.py", "registration.py", "gate.py",
                         "config/loader.py")


def is_component_runtime(relative: str | Path) -> bool:
    """Whether a path relative to ``sensor_pipelines/`` is code that components run."""
    relative = Path(relative)
    return relative.parts[0] not in NOT_COMPONENT_RUNTIME and relative.as_posix() not in NOT_COMPONENT_RUNTIME


def component_source(command: str, code_dir: str | Path) -> Path | None:
    """The Python file a ``mldesigner execute --source FILE`` command runs."""
    match = re.search(r"--source\s+(\S+)", command or "")
    return Path(code_dir) / match.group(1).strip("'\"") if match else None


def library_hash() -> str:
    """Hash of the library code components run (the core modules)."""
    files = sorted(f for f in LIBRARY_DIR.rglob("*.py") if is_component_runtime(f.relative_to(LIBRARY_DIR)))
    return hash_text(*(f"{f.relative_to(LIBRARY_DIR).as_posix()}:{hash_path(f)}" for f in files))


def code_hash(command: str, code_dir: str | Path) -> str:
    """Hash of the code a component runs: its own file plus the library it calls."""
    source = component_source(command, code_dir)
    own = hash_path(source) if source and source.is_file() else "no-source"
    return hash_text(own, library_hash())


def interface_hash(inputs: dict[str, Any], outputs: dict[str, Any]) -> str:
    """Hash of a component's inputs and outputs (names, types, defaults, optionality)."""
    return hash_text(json.dumps({"inputs": inputs, "outputs": outputs}, sort_keys=True, default=str))
