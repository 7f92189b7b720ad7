"""Turn plain mappings into typed dataclasses, collecting every problem.

Each problem names the file and the dotted key, so one run shows them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Union

_MISSING = dataclasses.MISSING


def parse_dataclass(cls: type, data: Any, where: str, problems: list[str], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; append '<where>: <key>: <problem>' lines."""
    if not isinstance(data, dict):
        problems.append(f"{where}: {prefix or '<root>'}: expected a mapping, got {_show(data)}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}: {prefix}{key}: unknown key{hint}")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in data or data[name] is None and not _is_optional(hints[name]):
            if f.default is _MISSING and f.default_factory is _MISSING:
                problems.append(f"{where}: {key}: missing required value")
            continue
        ok, value = _convert(hints[name], data[name], where, key, problems)
        if ok:
            values[name] = value
    try:
        return cls(**values)
    except TypeError:  # required fields missing: already reported
        return None


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp)


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, where: str, key: str, problems: list[str]) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if _is_optional(tp):
        if value is None:
            return True, None
        inner = [a for a in typing.get_args(tp) if a is not type(None)][0]
        return _convert(inner, value, where, key, problems)
    if dataclasses.is_dataclass(tp):
        before = len(problems)
        obj = parse_dataclass(tp, value, where, problems, prefix=f"{key}.")
        return len(problems) == before, obj
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            problems.append(f"{where}: {key}: expected a list, got {_show(value)}")
            return False, None
        results = [_convert(item_tp, v, where, f"{key}[{i}]", problems) for i, v in enumerate(value)]
        return all(ok for ok, _ in results), [v for _, v in results]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: {key}: expected a mapping, got {_show(value)}")
            return False, None
        _, value_tp = typing.get_args(tp)
        if value_tp is Any:
            return True, dict(value)
        results = {k: _convert(value_tp, v, where, f"{key}.{k}", problems) for k, v in value.items()}
        return all(ok for ok, _ in results.values()), {k: v for k, (_, v) in results.items()}
    if tp is Any:
        return True, value
    if tp is bool:
        if isinstance(value, bool):
            return True, value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
    elif tp is str:
        if isinstance(value, str):
            return True, value
    problems.append(f"{where}: {key}: expected {getattr(tp, '__name__', tp)}, got {_show(value)}")
    return False, None
