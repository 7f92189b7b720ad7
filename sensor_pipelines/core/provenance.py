"""Where a build comes from: the git commit, and the code a component runs.

Component code is one rule, read by the component code hash (node cache and version
check), change detection and ``.amlignore``: ``components_py/``, ``sensor_pipelines/core/``
and the package's ``__init__.py``. Editing anything else (CLI, app, fleet, release,
monitoring, pipelines, backends) changes no hash and retrains no circuit.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from sensor_pipelines.core.fileio import hash_path, hash_text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPONENT_CODE = ("components_py", "sensor_pipelines/__init__.py", "sensor_pipelines/core")
CODE_SUFFIXES = (".py", ".yaml")


def git_sha(root: str | Path = ".") -> str:
    """The commit checked out at ``root``, or 'unknown' outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def is_component_code(path: str | Path) -> bool:
    """Whether a repository path (relative to the project root) is code that components run."""
    posix = Path(path).as_posix()
    return posix.endswith(CODE_SUFFIXES) and any(posix == p or posix.startswith(p + "/") for p in COMPONENT_CODE)


def component_code_files(root: str | Path = PROJECT_ROOT) -> list[Path]:
    """Every component code file under ``root``, sorted, as paths relative to it."""
    root = Path(root)
    found = []
    for entry in COMPONENT_CODE:
        path = root / entry
        files = [path] if path.is_file() else path.rglob("*")
        found += [f.relative_to(root) for f in files
                  if f.is_file() and "__pycache__" not in f.parts and is_component_code(f.relative_to(root))]
    return sorted(found)


def component_source(command: str, code_dir: str | Path) -> Path | None:
    """The Python file a ``mldesigner execute --source FILE`` command runs."""
    match = re.search(r"--source\s+(\S+)", command or "")
    return Path(code_dir) / match.group(1).strip("'\"") if match else None


def shared_code_hash(root: str | Path = PROJECT_ROOT) -> str:
    """Hash of the component code every component shares: all of it but the component files themselves."""
    root = Path(root)
    shared = [f for f in component_code_files(root)
              if not (f.parts[0] == "components_py" and len(f.parts) == 3 and f.name != "__init__.py")]
    return hash_text(*(f"{f.as_posix()}:{hash_path(root / f)}" for f in shared))


def code_hash(command: str, code_dir: str | Path) -> str:
    """Hash of the code a component runs: its own file plus the shared component code."""
    source = component_source(command, code_dir)
    own = hash_path(source) if source and source.is_file() else "no-source"
    return hash_text(own, shared_code_hash())


def interface_hash(inputs: dict[str, Any], outputs: dict[str, Any]) -> str:
    """Hash of a component's inputs and outputs (names, types, defaults, optionality)."""
    return hash_text(json.dumps({"inputs": inputs, "outputs": outputs}, sort_keys=True, default=str))
