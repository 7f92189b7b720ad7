"""The one exception type for problems a user can fix."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user caused and can fix: bad config, bad data, unknown circuit.

    The CLI prints it as one clear message (no traceback) and exits with code 2.
    """

    exit_code = 2


class ConfigError(UserError):
    """The composed configuration is invalid; the message names file and key."""

    def __init__(self, problems: list[str], header: str = "Config error"):
        self.problems = problems
        lines = [f"{header}:"] + [f"- {p}" for p in problems]
        super().__init__("\n".join(lines) if len(problems) > 1 else f"{header}: {problems[0]}")


class DataError(UserError):
    """A data snapshot cannot be used as it is (wrong columns, bad timestamps, ...)."""


class AssetConflictError(UserError):
    """An immutable asset version already exists with different content."""
