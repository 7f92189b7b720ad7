"""Drift-triggered retraining: for each circuit with an open alert, a newer cutoff date in its config.

The proposal is a change to ``conf/circuit/<circuit>.yaml`` (its ``cutoff_date`` line) that a
person commits, so the normal build flow retrains exactly that circuit; every proposal is noted
on the alert and in the alert log, so nothing retrains without a record of why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sensor_pipelines.app.training import ensure_source_data
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.monitoring.alerts import AlertBook, utc_now

CUTOFF_LINE = re.compile(r'^cutoff_date:.*$', re.MULTILINE)


@dataclass
class RetrainProposal:
    circuit: str
    alert_id: str
    checks: list[str]
    previous_cutoff: str
    cutoff_date: str
    config_file: str
    action: str  # proposed | no newer data


def latest_complete_day(config: RunConfig) -> str:
    """The last day whose final reading (on the circuit's frequency grid) is in the data source."""
    from sensor_pipelines.core.data.snapshot import read_source

    ensure_source_data(config, lambda _: None)
    data = config.circuit.data
    raw = read_source(data, Path(config.project_root), config.env.data_roots)
    last = pd.to_datetime(raw[data.timestamp_column], errors="coerce").max()
    step = pd.tseries.frequencies.to_offset(data.frequency)
    day = last.normalize()
    return str((day if (last + step).normalize() > day else day - pd.Timedelta(days=1)).date())


def propose_retrain(config: RunConfig, book: AlertBook, config_file: Path) -> RetrainProposal:
    """Write the newer cutoff date into the circuit's config file and note it on the open alert."""
    circuit = config.circuit.name
    alert = book.open_alerts()[circuit]
    previous, cutoff = config.circuit.cutoff_date, latest_complete_day(config)
    proposal = RetrainProposal(circuit, alert["alert_id"], alert.get("checks", []), previous, cutoff,
                               str(config_file), "proposed" if cutoff > previous else "no newer data")
    if proposal.action == "proposed":
        text = config_file.read_text()
        if not CUTOFF_LINE.search(text):
            raise ValueError(f"{config_file} has no top-level cutoff_date line")
        config_file.write_text(CUTOFF_LINE.sub(f'cutoff_date: "{cutoff}"  # retrain: {alert["alert_id"]}', text,
                                               count=1))
        book.mark_retrain(circuit, {"cutoff_date": cutoff, "previous_cutoff": previous, "config": str(config_file),
                                    "at": utc_now()})
    return proposal
