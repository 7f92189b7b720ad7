"""MLTable folders (an ``MLTable`` YAML file next to the data), written to Azure ML's spec.

Only what this project needs: write one parquet file with its MLTable, and read local
MLTables whose paths are files, folders or glob patterns, read as parquet or delimited
text. See https://learn.microsoft.com/azure/machine-learning/reference-yaml-mltable.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sensor_pipelines.core.errors import DataError

MLTABLE_FILE = "MLTable"
DATA_FILE = "data.parquet"
MLTABLE_YAML = f"""\
$schema: https://azuremlschemas.azureedge.net/latest/MLTable.schema.json
type: mltable
paths:
  - file: ./{DATA_FILE}
transformations:
  - read_parquet:
      include_path_column: false
"""
READERS = ("read_parquet", "read_delimited")
ENCODINGS = {"utf8": "utf-8", "utf8bom": "utf-8-sig", "iso88591": "iso-8859-1", "latin1": "latin-1",
             "ascii": "ascii", "utf16": "utf-16", "utf32": "utf-32", "windows1252": "cp1252"}


def write_mltable(frame: pd.DataFrame, folder: Path) -> Path:
    """Write ``folder/data.parquet`` and its ``MLTable`` file; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / DATA_FILE, engine="pyarrow", index=False)
    (folder / MLTABLE_FILE).write_text(MLTABLE_YAML)
    return folder


def read_mltable(folder: Path | str) -> pd.DataFrame:
    """Read a local MLTable (its folder or the ``MLTable`` file itself) into one DataFrame."""
    path = Path(folder)
    spec_file = path / MLTABLE_FILE if path.is_dir() else path
    if not spec_file.is_file():
        raise DataError(f"no MLTable file at {spec_file}")
    base = spec_file.parent
    try:
        spec = yaml.safe_load(spec_file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{spec_file}: not valid YAML: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), list) or not spec["paths"]:
        raise DataError(f"{spec_file}: expected a mapping with a non-empty 'paths' list")

    files = [file for entry in spec["paths"] for file in _resolve(entry, base, spec_file)]
    if not files:
        raise DataError(f"{spec_file}: its paths match no files")
    steps = [_step(item, spec_file) for item in spec.get("transformations") or []]
    readers = [(name, args) for name, args in steps if name in READERS]
    if len(readers) > 1:
        raise DataError(f"{spec_file}: more than one read transformation")
    name, args = readers[0] if readers else (_reader_for(files[0]), {})
    if not isinstance(args, dict):
        raise DataError(f"{spec_file}: {name} takes a mapping of options, got {args!r}")

    frames = []
    for file in files:
        try:
            frame = _read_file(file, name, args)
        except Exception as exc:  # a corrupt or foreign file is a data problem
            raise DataError(f"{spec_file}: cannot read {file}: {exc}") from exc
        if args.get("include_path_column"):
            frame["Path"] = str(file)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    for step, step_args in steps:
        if step == "keep_columns":
            table = table[_columns(step_args)]
        elif step == "drop_columns":
            table = table.drop(columns=_columns(step_args))
        elif step not in READERS:
            raise DataError(f"{spec_file}: transformation {step!r} is not supported here")
    return table


def _resolve(entry: Any, base: Path, spec_file: Path) -> list[Path]:
    """The local files one ``paths`` entry names (file, folder or glob pattern)."""
    if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("file", "folder", "pattern"):
        raise DataError(f"{spec_file}: each paths entry needs exactly one of file, folder, pattern; got {entry!r}")
    kind, value = next(iter(entry.items()))
    if "://" in str(value):
        raise DataError(f"{spec_file}: remote path {value!r} cannot be read locally")
    target = base / str(value)
    if kind == "file":
        if not target.is_file():
            raise DataError(f"{spec_file}: file {value!r} not found")
        return [target]
    if kind == "folder":
        if not target.is_dir():
            raise DataError(f"{spec_file}: folder {value!r} not found")
        hidden = (".", MLTABLE_FILE)
        return sorted(p for p in target.rglob("*") if p.is_file() and not p.name.startswith(hidden))
    return sorted(Path(p) for p in glob.glob(str(target), recursive=True) if Path(p).is_file())


def _step(item: Any, spec_file: Path) -> tuple[str, Any]:
    """A transformation as (name, arguments): ``{read_parquet: {...}}`` or a bare name."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        name, args = next(iter(item.items()))
        return str(name), {} if args is None else args
    raise DataError(f"{spec_file}: malformed transformation {item!r}")


def _reader_for(file: Path) -> str:
    return "read_parquet" if file.suffix == ".parquet" else "read_delimited"


def _read_file(file: Path, reader: str, args: dict[str, Any]) -> pd.DataFrame:
    if reader == "read_parquet":
        return pd.read_parquet(file)
    no_header = args.get("header") == "no_header"
    encoding = ENCODINGS.get(str(args.get("encoding", "utf8")), "utf-8")
    frame = pd.read_csv(file, sep=args.get("delimiter", ","), header=None if no_header else 0, encoding=encoding)
    if no_header:  # Azure ML names headerless columns Column1, Column2, ...
        frame.columns = [f"Column{i + 1}" for i in range(frame.shape[1])]
    return frame


def _columns(args: Any) -> list[str]:
    return [args] if isinstance(args, str) else list(args)
