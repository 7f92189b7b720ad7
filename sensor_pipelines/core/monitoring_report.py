"""Self-contained HTML pages of monitoring: one report per circuit and run, one fleet overview.

Plain HTML with the plots embedded as base64 PNG (matplotlib's Agg canvas): a browser opens them
from disk, no server, no network, no script.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any, Iterable, Optional

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.ok{color:#176117;font-weight:bold}.alert{color:#a40000;font-weight:bold}
.verdict{font-size:1.4em;padding:.5em 1em;border-radius:.3em;display:inline-block}
.verdict.ok{background:#e5f5e5}.verdict.alert{background:#fbe3e3}img{max-width:100%}"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _figure(width: float, height: float):
    from sensor_pipelines.core.forecasting.plots import _figure as figure

    return figure(width, height)


def histogram_png(name: str, hist: dict[str, Any], width: float = 4.2, height: float = 2.6) -> str:
    """Reference vs target distribution (densities on the same bins) as an <img>."""
    if not hist:
        return ""
    import numpy as np

    edges = np.asarray(hist["edges"])
    fig = _figure(width, height)
    ax = fig.add_subplot()
    for key, color in (("reference", "#4c72b0"), ("target", "#dd8452")):
        counts = np.asarray(hist[key], dtype=float)
        total = counts.sum() or 1.0
        ax.stairs(counts / total, edges, label=key, color=color, fill=key == "reference", alpha=0.5 if key == "reference" else 1)
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _png(fig)


def trend_png(points: list[tuple[str, float]], reference: Optional[float], width: float = 5.0,
              height: float = 2.2, title: str = "") -> str:
    """A small line of values per day, with the reference level dashed."""
    if not points:
        return ""
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3)
    if reference:
        ax.axhline(reference, color="grey", linestyle="--", linewidth=1)
    ax.tick_params(axis="x", labelrotation=45, labelsize=6)
    ax.tick_params(axis="y", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return _png(fig)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def circuit_report_html(result: dict[str, Any]) -> str:
    """The report of one monitoring run: verdict, data drift, quality, prediction drift, realised error."""
    status = result.get("status", "ok")
    failed = result.get("failed_checks", [])
    window, ref = result.get("window", {}), result.get("reference", {})
    parts = [f"<h1>Monitoring report: {escape(result.get('circuit', ''))}</h1>",
             f'<p class="verdict {escape(status)}">{"OK: nothing crossed a threshold" if status == "ok" else "ALERT: " + escape(", ".join(failed))}</p>',
             f"<p>Model version {_fmt(result.get('model_version'))}, trained up to {_fmt(result.get('cutoff_date'))}. "
             f"Window {_fmt(window.get('start'))} to {_fmt(window.get('end'))} ({_fmt(window.get('rows'))} readings); "
             f"reference: {_fmt(ref.get('taken'))}.</p>"]
    drift = result.get("data_drift", {})
    rows = []
    for f in drift.get("features", []):
        limits = f.get("limits") or {}
        mark = '<span class="alert">drift</span>' if f.get("drifted") else '<span class="ok">ok</span>'
        rows.append([escape(f["column"]), mark, f"{_fmt(f.get('ks_statistic'))} (limit {_fmt(limits.get('ks_statistic_min'))})",
                     _fmt(f.get("ks_pvalue")), f"{_fmt(f.get('psi'))} (limit {_fmt(limits.get('psi_max'))})",
                     f"{_fmt(f.get('out_of_range_share'))} (limit {_fmt(limits.get('out_of_range_max'))})",
                     escape(f.get("finding") or ", ".join(f.get("reasons", [])))])
    parts += ["<h2>Data drift</h2>", _table(["column", "status", "KS statistic", "KS p-value", "PSI",
                                             "share outside reference range", "why"], rows)]
    hists = result.get("histograms", {})
    parts.append("<div>" + "".join(histogram_png(name, hist) for name, hist in hists.items()) + "</div>")
    quality = result.get("quality", {})
    parts.append("<h2>Data quality</h2>")
    if quality.get("passed", True):
        parts.append('<p class="ok">No findings.</p>')
    else:
        parts.append(_table(["check", "column", "count", "detail", "examples"],
                            [[escape(q["check"]), _fmt(q.get("column")), _fmt(q.get("count")), escape(q["detail"]),
                              escape(", ".join(q.get("examples", [])))] for q in quality.get("findings", [])]))
    pred = result.get("prediction_drift", {})
    parts.append("<h2>Prediction drift</h2>")
    if not pred.get("checked"):
        parts.append(f"<p>Not checked: {escape(pred.get('reason', ''))}.</p>")
    else:
        f = (pred.get("features") or [{}])[0]
        limits = f.get("limits") or {}
        parts.append(f"<p>{'<span class=alert>drift</span>' if pred.get('drifted') else '<span class=ok>ok</span>'}: "
                     f"KS {_fmt(f.get('ks_statistic'))} (limit {_fmt(limits.get('ks_statistic_min'))}), "
                     f"PSI {_fmt(f.get('psi'))} (limit {_fmt(limits.get('psi_max'))}); {pred.get('n_recent')} recent "
                     f"forecasts against {pred.get('n_reference')} on the model's test windows.</p>")
        parts.append(histogram_png("forecast", pred.get("histogram", {})))
    realised = result.get("realised_error", {})
    overall = realised.get("overall", {})
    parts.append("<h2>Realised error</h2>")
    if not overall.get("n"):
        parts.append("<p>No actuals yet for the forecasts in this window.</p>")
    else:
        verdict = '<span class="alert">degraded</span>' if realised.get("degraded") else '<span class="ok">ok</span>'
        parts.append(f"<p>{verdict}: MAE {_fmt(overall.get('mae'))} against {_fmt(realised.get('validated_mae'))} at "
                     f"validation (ratio {_fmt(realised.get('mae_ratio'))}, limit {_fmt(realised.get('max_mae_ratio'))}); "
                     f"RMSE {_fmt(overall.get('rmse'))}, R² {_fmt(overall.get('r2'))} on {overall.get('n')} values.</p>")
        parts.append(trend_png([(d["day"], d["mae"]) for d in realised.get("daily", [])], realised.get("validated_mae"),
                               title="MAE per forecast day (dashed: validated)"))
        parts.append(_table(["step", "n", "MAE", "RMSE", "R²"],
                            [[s["step"], s["n"], _fmt(s.get("mae")), _fmt(s.get("rmse")), _fmt(s.get("r2"))]
                             for s in realised.get("steps", [])]))
    return _page(f"Monitoring {result.get('circuit', '')}", "".join(parts))


def fleet_overview_html(env: str, rows: list[dict[str, Any]], generated: str) -> str:
    """One row per circuit: model, last scored day, check states, realised vs validated MAE, link to its report."""
    def state(flag: Optional[bool]) -> str:
        if flag is None:
            return "-"
        return '<span class="alert">yes</span>' if flag else '<span class="ok">no</span>'

    table_rows = []
    for r in rows:
        link = f'<a href="{escape(r["report"])}">report</a>' if r.get("report") else escape(r.get("error", ""))
        status = r.get("status", "")
        table_rows.append([
            escape(r["circuit"]), _fmt(r.get("model_version")), _fmt(r.get("cutoff_date")), _fmt(r.get("last_scored")),
            f'<span class="{"ok" if status == "ok" else "alert"}">{escape(status)}</span>',
            state(r.get("data_drift")), state(r.get("quality")), state(r.get("prediction_drift")),
            f"{_fmt(r.get('realised_mae'))} / {_fmt(r.get('validated_mae'))}",
            trend_png(r.get("trend", []), r.get("validated_mae"), width=2.4, height=0.9), link])
    alerting = sum(r.get("status") not in ("ok",) for r in rows)
    body = (f"<h1>Fleet monitoring: env {escape(env)}</h1><p>{len(rows)} circuits, {alerting} not ok. "
            f"Generated {escape(generated)}.</p>"
            + _table(["circuit", "prod model", "cutoff_date", "last scored", "status", "data drift", "quality issues",
                      "prediction drift", "realised / validated MAE", "MAE trend", "report"], table_rows))
    return _page(f"Fleet monitoring {env}", body)
