"""Where a build comes from: the git commit (the build id comes from the env config)."""

from __future__ import annotations

import subprocess
from pathlib import Path

def git_sha(root: str | Path = ".") -> str:
    """The commit checked out at ``root``, or 'unknown' outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
