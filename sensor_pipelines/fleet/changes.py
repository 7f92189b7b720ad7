"""Which circuits changed against a target branch (reference name: detect_config_changes).

A circuit counts as changed when, between the merge base with the target branch
and the working tree (uncommitted and untracked files included):

- its own file ``conf/circuit/<NAME>.yaml`` was added (``new``), changed
  (``modified``) or removed (``deleted``: reported, never trained);
- the shared defaults ``conf/config.yaml`` changed;
- the model config it uses changed (``conf/model/<model>.yaml`` and the files it
  inherits from);
- its data source file changed (when it lives in the repository);
- the code its components run changed (``core.provenance.is_component_code``:
  ``components_py/``, ``sensor_pipelines/core/``, the component environment spec
  ``sensor_pipelines/core/conda.yaml`` included).

Env files (``conf/env/``) do not retrain anything: they say where to run, not what.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sensor_pipelines.core.config.schema import CIRCUIT_NAME, ID, ISO_DATE
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import write_text_atomic
from sensor_pipelines.core.provenance import is_component_code

CIRCUIT_DIR = "conf/circuit"


@dataclass
class CircuitChange:
    """One changed circuit and why it counts as changed."""

    plant_id: str
    circuit_id: str
    cutoff_date: str
    change_type: str  # new | modified | deleted
    reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.plant_id}_{self.circuit_id}"

    def to_dict(self) -> dict[str, str]:
        return {"plant_id": self.plant_id, "circuit_id": self.circuit_id, "cutoff_date": self.cutoff_date,
                "change_type": self.change_type}


def _git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed in {root}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return proc.stdout


def merge_base(root: Path, target_branch: str) -> str:
    """The merge base of HEAD and the target branch; fetches the branch once if it is missing."""
    for attempt in range(2):
        for ref in (f"origin/{target_branch}", target_branch):
            if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).strip():
                base = _git(root, "merge-base", "HEAD", ref, check=False).strip()
                if base:
                    return base
        if attempt == 0:  # shallow CI clone: fetch the target branch (and enough history) once
            fetched = subprocess.run(
                ["git", "fetch", "--quiet", "--deepen=200", "origin", f"{target_branch}:refs/remotes/origin/{target_branch}"],
                cwd=root, capture_output=True, text=True)
            if fetched.returncode != 0:
                subprocess.run(["git", "fetch", "--quiet", "origin", target_branch], cwd=root, capture_output=True)
    raise UserError(
        f"cannot find the merge base of HEAD and {target_branch!r} in {root}: fetch it "
        f"(git fetch origin {target_branch}) or unshallow the clone (git fetch --unshallow)"
    )


def changed_files(root: Path, base: str) -> set[str]:
    """Paths that differ between ``base`` and the working tree, untracked files included."""
    diff = _git(root, "diff", "--name-only", "--no-renames", base, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    return {line for line in (diff + untracked).splitlines() if line}


def _circuit_files_at(root: Path, base: str) -> dict[str, str]:
    names = _git(root, "ls-tree", "-r", "--name-only", base, "--", CIRCUIT_DIR).splitlines()
    return {Path(n).stem: n for n in names if n.endswith(".yaml")}


def _model_files(conf: Path, model: str) -> list[str]:
    """conf/model/<model>.yaml and the model files it inherits through its defaults list."""
    files, todo = [], [model]
    while todo:
        name = todo.pop()
        path = conf / "model" / f"{name}.yaml"
        files.append(f"conf/model/{name}.yaml")
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
        for entry in (data or {}).get("defaults", []):
            if isinstance(entry, str) and entry != "_self_":
                todo.append(entry)
    return files


def _default_model(conf: Path) -> str:
    data = yaml.safe_load((conf / "config.yaml").read_text()) or {}
    for entry in data.get("defaults", []):
        if isinstance(entry, dict) and "model" in entry:
            return str(entry["model"])
    return "lstm"


MATRIX_FILE = "matrix.json"


def detect_changed_circuits(root: str | Path = ".", target_branch: str = "main") -> list[CircuitChange]:
    """Circuits to retrain (new, modified) and deleted ones, sorted by name."""
    root = Path(root).resolve()
    conf = root / "conf"
    base = merge_base(root, target_branch)
    changed = changed_files(root, base)
    before = _circuit_files_at(root, base)
    now = {p.stem: f"{CIRCUIT_DIR}/{p.name}" for p in (conf / "circuit").glob("*.yaml")}

    shared = []
    if "conf/config.yaml" in changed:
        shared.append("shared defaults conf/config.yaml")
    model_files = [f for f in _model_files(conf, _default_model(conf)) if f in changed]
    shared += [f"model config {f}" for f in model_files]
    code = sorted(f for f in changed if is_component_code(f))
    if code:
        shared.append(f"component code ({len(code)} files, e.g. {code[0]})")

    result = []
    for name in sorted(set(before) | set(now)):
        if name not in now:
            data = yaml.safe_load(_git(root, "show", f"{base}:{before[name]}")) or {}
            result.append(_change(data, name, "deleted", ["config file removed"]))
            continue
        data = yaml.safe_load((root / now[name]).read_text()) or {}
        if name not in before:
            result.append(_change(data, name, "new", ["new config file"]))
            continue
        reasons = [f"config {now[name]}"] if now[name] in changed else []
        source = str((data.get("data") or {}).get("path", ""))
        if source and not Path(source).is_absolute() and source in changed:
            reasons.append(f"data source {source}")
        reasons += shared
        if reasons:
            result.append(_change(data, name, "modified", reasons))
    bad = [problem for change in result if change.change_type != "deleted" for problem in unsafe_values(change)]
    if bad:  # these values become CI matrix variables: nothing but the name pattern may reach a build agent
        raise UserError(f"{CIRCUIT_DIR}: {'; '.join(bad)}; fix the circuit file (letters and digits only, "
                        f"cutoff_date YYYY-MM-DD), nothing was written")
    return result


def unsafe_values(change: CircuitChange) -> list[str]:
    """What in a changed circuit could not go into a CI matrix safely (names, cutoff date)."""
    problems = [f"{key} {value!r} is not letters and digits" for key, value in
                (("plant_id", change.plant_id), ("circuit_id", change.circuit_id)) if not ID.match(value)]
    if not ISO_DATE.match(change.cutoff_date):
        problems.append(f"cutoff_date {change.cutoff_date!r} of {change.plant_id}_{change.circuit_id} is not YYYY-MM-DD")
    return problems


def _change(data: dict, name: str, change_type: str, reasons: list[str]) -> CircuitChange:
    plant, _, circuit = name.partition("_")
    return CircuitChange(str(data.get("plant_id", plant)), str(data.get("circuit_id", circuit)),
                         str(data.get("cutoff_date", "")), change_type, reasons)


def write_changes(changes: list[CircuitChange], path: str | Path) -> Path:
    """Write ``changed_circuits.json`` (the reference flow's format), and ``matrix.json`` beside it."""
    path = write_text_atomic(path, json.dumps([c.to_dict() for c in changes], indent=2) + "\n")
    write_text_atomic(path.with_name(MATRIX_FILE), json.dumps(devops_matrix(changes), indent=2) + "\n")
    return path


def circuits_to_train(path: str | Path) -> list[str]:
    """The circuits of a ``changed_circuits.json`` that are new or modified (deleted ones are never trained)."""
    try:
        entries = json.loads(Path(path).read_text())
        names = [f"{e['plant_id']}_{e['circuit_id']}" for e in entries if e["change_type"] != "deleted"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a changed_circuits.json ({type(exc).__name__}); "
                        f"run `make detect-changes` again") from None
    bad = [n for n in names if not CIRCUIT_NAME.match(n)]
    if bad:
        raise UserError(f"{path}: {len(bad)} circuit names are not PLANT_CIRCUIT in letters and digits; "
                        f"run `make detect-changes` again")
    return names


def devops_matrix(changes: list[CircuitChange]) -> dict[str, dict[str, str]]:
    """The Azure DevOps matrix of circuits to train: job name -> variables (deleted ones left out)."""
    return {c.name: {"CIRCUIT": c.name, "CUTOFF_DATE": c.cutoff_date, "CHANGE_TYPE": c.change_type}
            for c in changes if c.change_type != "deleted"}
