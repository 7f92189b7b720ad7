"""What a person sees: rich tables and live progress on a terminal, plain lines in CI logs.

Every table a verb prints goes through :func:`print_table`; long work reports through
:class:`FanoutDisplay` (many circuits) or :class:`NodeEcho` (a pipeline's node log lines).
"""

from __future__ import annotations

import math
import re
import sys
import time
from typing import Any, Iterable, Sequence

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

EPOCH = re.compile(r"epoch (\d+)/(\d+)")
PLAIN_WIDTH = 200  # CI logs: wide enough that run folders are not folded


def console(stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr): colours and live displays only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(file=stream, highlight=False, emoji=False, markup=False,
                   width=None if terminal else PLAIN_WIDTH, force_terminal=terminal or None)


def echo(text: str = "") -> None:
    """One plain line (or several), never wrapped or interpreted as markup."""
    console().print(text, soft_wrap=True)


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                footer: str | None = None) -> None:
    """A table with a header row; the footer line (a count) follows it."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    out = console()
    out.print(table)
    if footer:
        out.print(footer, soft_wrap=True)


def number(value: Any, digits: int = 3) -> str:
    """A metric for a table cell: '-' when missing, 'nan' when not finite."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:.{digits}f}" if math.isfinite(value) else "nan"


class NodeEcho:
    """Echo for a pipeline run: node log lines as they come, epoch lines condensed.

    On a terminal the epoch lines update one live status line; in a log, the first, every
    fifth and the last epoch are printed.
    """

    def __init__(self) -> None:
        self._out = console()
        self._status = None

    def __call__(self, text: str) -> None:
        match = EPOCH.search(text)
        if match:
            epoch, total = int(match.group(1)), int(match.group(2))
            if self._out.is_terminal:
                if self._status is None:
                    self._status = self._out.status(text.strip())
                    self._status.start()
                self._status.update(text.strip())
                return
            if epoch == 1 or epoch % 5 == 0 or epoch == total:
                self._out.print(text, soft_wrap=True)
            return
        self.close()
        self._out.print(text, soft_wrap=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class FanoutDisplay:
    """Progress of a fan-out: a live bar (done / failed / running, elapsed, time left) on a
    terminal; one line per finished circuit in a log."""

    def __init__(self, total: int, what: str = "circuits") -> None:
        self.total, self.what = total, what
        self.done = self.failed = self.running = 0
        self._out = console()
        self._progress: Progress | None = None
        self._task = None
        self._start = time.monotonic()

    def __enter__(self) -> "FanoutDisplay":
        if self._out.is_terminal:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[state]}"), TimeElapsedColumn(),
                                      TextColumn("left"), TimeRemainingColumn(), console=self._out)
            self._progress.start()
            self._task = self._progress.add_task(self.what, total=self.total, state=self._state())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _state(self) -> str:
        return f"{self.done - self.failed} ok, {self.failed} failed, {self.running} running"

    def started(self, circuit: str) -> None:
        self.running += 1
        if self._progress is not None:
            self._progress.update(self._task, state=self._state())

    def finished(self, result: dict[str, Any]) -> None:
        self.running -= 1
        self.done += 1
        ok = result.get("status") == "completed"
        self.failed += not ok
        line = f"[{self.done}/{self.total}] {_progress_line(result)}"
        if self._progress is not None:
            self._progress.console.print(line, soft_wrap=True)
            self._progress.update(self._task, advance=1, state=self._state())
        else:
            self._out.print(line, soft_wrap=True)


def _progress_line(result: dict[str, Any]) -> str:
    if result.get("status") != "completed":
        return f"{result['circuit']} FAILED after {result.get('seconds', 0):.0f} s: {result.get('error', '')[-300:]}"
    detail = f"{result.get('model_name')} v{result.get('model_version')}" if result.get("model_name") else ""
    if "mae" in result:
        detail += f", MAE {number(result.get('mae'))}, {'PASSED' if result.get('validated') else 'not validated'}"
    return f"{result['circuit']} completed in {result['seconds']:.0f} s" + (f": {detail}" if detail else "")
