"""Self-contained HTML pages of monitoring: one report per circuit and run, one fleet overview.

Plain HTML with the plots drawn as inline SVG: a browser opens them from disk, no server, no
network, no script. The plots are a few steps and lines, drawn here rather than with
matplotlib: a matplotlib PNG costs 50-100 ms, an SVG under 1 ms, and a fleet run draws seven
per circuit plus one per circuit on the overview.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable, Optional, Sequence

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.ok{color:#176117;font-weight:bold}.alert{color:#a40000;font-weight:bold}
.verdict{font-size:1.4em;padding:.5em 1em;border-radius:.3em;display:inline-block}
.verdict.ok{background:#e5f5e5}.verdict.alert{background:#fbe3e3}svg{margin:0 .5em .5em 0;font-size:10px}"""
REFERENCE_COLOR, TARGET_COLOR = "#4c72b0", "#dd8452"


def _num(value: float) -> str:
    return f"{value:.4g}"


def _svg(width: int, height: int, title: str, body: str) -> str:
    head = (f'<text x="{width / 2:.0f}" y="12" text-anchor="middle" font-weight="bold">{escape(title)}</text>'
            if title else "")
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title or "plot")}">{head}{body}</svg>')


def _scale(low: float, high: float, out_low: float, out_high: float):
    span = (high - low) or 1.0
    return lambda v: out_low + (v - low) / span * (out_high - out_low)


def histogram_svg(name: str, hist: dict[str, Any], width: int = 320, height: int = 170) -> str:
    """Reference vs target distribution (shares of each side on the same bins): the reference filled,
    the target a line; the bins' range below."""
    if not hist:
        return ""
    edges = [float(e) for e in hist["edges"]]
    shares = {}
    for key in ("reference", "target"):
        counts = [float(c) for c in hist[key]]
        total = sum(counts) or 1.0
        shares[key] = [c / total for c in counts]
    top = max(max(shares["reference"]), max(shares["target"])) or 1.0
    x, y = _scale(edges[0], edges[-1], 10, width - 10), _scale(0.0, top, height - 34, 20)

    def steps(values: Sequence[float]) -> str:
        points = [f"{x(edges[0]):.1f},{y(0):.1f}"]
        for i, v in enumerate(values):
            points += [f"{x(edges[i]):.1f},{y(v):.1f}", f"{x(edges[i + 1]):.1f},{y(v):.1f}"]
        return " ".join(points + [f"{x(edges[-1]):.1f},{y(0):.1f}"])

    base = height - 34
    body = (f'<polygon points="{steps(shares["reference"])}" fill="{REFERENCE_COLOR}" fill-opacity="0.45"/>'
            f'<polyline points="{steps(shares["target"])}" fill="none" stroke="{TARGET_COLOR}" stroke-width="1.5"/>'
            f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#888"/>'
            f'<text x="10" y="{base + 12}">{_num(edges[0])}</text>'
            f'<text x="{width - 10}" y="{base + 12}" text-anchor="end">{_num(edges[-1])}</text>'
            f'<rect x="10" y="{height - 12}" width="9" height="9" fill="{REFERENCE_COLOR}" fill-opacity="0.45"/>'
            f'<text x="22" y="{height - 4}">reference</text>'
            f'<line x1="85" y1="{height - 7}" x2="97" y2="{height - 7}" stroke="{TARGET_COLOR}" stroke-width="2"/>'
            f'<text x="100" y="{height - 4}">target (recent window)</text>')
    return _svg(width, height, name, body)


def trend_svg(points: list[tuple[str, float]], reference: Optional[float], width: int = 420, height: int = 160,
              title: str = "", labels: bool = True) -> str:
    """A line of values per day (dots), the reference level dashed; ``labels``: the value range and the
    first and last day."""
    values = [float(v) for _, v in points if v is not None]
    if not values:
        return ""
    levels = values + ([float(reference)] if reference else [])
    low, high = min(levels), max(levels)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    left, bottom = (44, height - 16) if labels else (3, height - 3)
    x = _scale(0, max(len(values) - 1, 1), left, width - 6)
    y = _scale(low - pad, high + pad, bottom, 18 if title else 3)
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    body = f'<polyline points="{line}" fill="none" stroke="{REFERENCE_COLOR}" stroke-width="1.5"/>'
    body += "".join(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2" fill="{REFERENCE_COLOR}"/>'
                    for i, v in enumerate(values))
    if reference:
        body += (f'<line x1="{left}" y1="{y(reference):.1f}" x2="{width - 6}" y2="{y(reference):.1f}" stroke="grey" '
                 f'stroke-dasharray="4 3"/>')
    if labels:
        days = [escape(str(d)) for d, v in points if v is not None]
        body += (f'<text x="{left - 4}" y="{y(high):.1f}" text-anchor="end">{_num(high)}</text>'
                 f'<text x="{left - 4}" y="{y(low):.1f}" text-anchor="end">{_num(low)}</text>'
                 f'<text x="{left}" y="{height - 3}">{days[0]}</text>'
                 f'<text x="{width - 6}" y="{height - 3}" text-anchor="end">{days[-1]}</text>')
    return _svg(width, height, title, body)


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
    parts.append("<div>" + "".join(histogram_svg(name, hist) for name, hist in hists.items()) + "</div>")
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
        parts.append(histogram_svg("forecast", pred.get("histogram", {})))
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
        parts.append(trend_svg([(d["day"], d["mae"]) for d in realised.get("daily", [])], realised.get("validated_mae"),
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
            trend_svg(r.get("trend", []), r.get("validated_mae"), width=170, height=44, labels=False), link])
    alerting = sum(r.get("status") not in ("ok",) for r in rows)
    body = (f"<h1>Fleet monitoring: env {escape(env)}</h1><p>{len(rows)} circuits, {alerting} not ok. "
            f"Generated {escape(generated)}.</p>"
            + _table(["circuit", "prod model", "cutoff_date", "last scored", "status", "data drift", "quality issues",
                      "prediction drift", "realised / validated MAE", "MAE trend", "report"], table_rows))
    return _page(f"Fleet monitoring {env}", body)
