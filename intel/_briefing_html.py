"""The briefing's HTML page: one self-contained document an analyst can present or email.

Everything is inline: styles, maps (each an ``<iframe srcdoc>`` carrying its own
Leaflet, see :mod:`intel._render`), figures (``data:`` URIs) and tables. Nothing is
fetched from any server, so the page opens on a police network with no internet.
Folium gives every map element a random id; :func:`stable_ids` replaces them with
counters so that the same briefing renders to the same bytes.
"""

from __future__ import annotations

import html
from typing import Any, Callable, Sequence

import numpy as np

from ._display import format_number

__all__ = ["render", "framed", "stable_ids"]

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;margin:0;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 8px;padding-top:8px;border-top:2px solid #d0d7de}
h3{font-size:16px;margin:20px 0 6px}.sub{color:#57606a;margin:0 0 16px}
nav{font-size:13px;margin:8px 0 16px}nav a{margin-right:12px;color:#0969da;text-decoration:none}
.highlights{background:#fff8e5;border-left:4px solid #d4a72c;padding:10px 16px;margin:12px 0}
.highlights li{margin:4px 0}.explain{color:#3d444d;font-size:14px;background:#f6f8fa;padding:8px 12px;border-radius:4px}
.note{color:#57606a;font-size:13px}.warn{color:#9a6700}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13.5px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#b42318;font-weight:600}.down{color:#1a7f37;font-weight:600}.sig{font-weight:700}
table.heat td{width:26px;height:20px;padding:0;text-align:center;font-size:11px;border:1px solid #fff}
table.heat th{font-size:11px;padding:2px 4px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}
.card{flex:1 1 220px;border:1px solid #d0d7de;border-radius:6px;padding:10px 12px}
.card .big{font-size:26px;font-weight:700}.card .what{font-size:13px;color:#57606a}
ul.limits li{margin:3px 0;font-size:14px}
code{font-size:12px;background:#f6f8fa;padding:1px 4px;border-radius:3px;word-break:break-all}
footer{margin-top:40px;font-size:12px;color:#57606a}
@media print{nav{display:none}iframe{page-break-inside:avoid}main{max-width:none}}
"""

_SECTIONS = (("counts", "How many"), ("hotspots", "Where"), ("emerging", "Emerging"), ("when", "When"),
             ("near-repeat", "Near repeats"), ("forecast", "Forecast"), ("patrol", "Patrol plan"),
             ("quality", "Data quality"), ("provenance", "Provenance"))


def render(data: dict[str, Any], maps: dict[str, Any], figures: dict[str, str]) -> str:
    """The page for the briefing ``data`` (as in ``briefing.json``), with its map specs and figures."""
    drawn = {name: _draw(spec) for name, spec in maps.items() if spec is not None}
    week = data["week"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(data['title'])}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(data['title'])}</h1>",
        f'<p class="sub">Week {_e(week["label"])}, {_e(week["range"])} ({_e(week["tz"])}); everything as of '
        f'{_e(_when(week["as_of"]))}, the Monday after. Area: {_e(week["area_label"])}.</p>',
        "<nav>" + "".join(f'<a href="#{a}">{i}. {_e(t)}</a>' for i, (a, t) in enumerate(_SECTIONS, 1)) + "</nav>",
        '<div class="highlights"><b>This week in brief</b><ul>'
        + "".join(f"<li>{_e(h)}</li>" for h in data["highlights"]) + "</ul></div>",
        _counts(data["counts"], figures),
        _hotspots(data["hotspots"], drawn.get("hotspots")),
        _emerging(data["emerging"], drawn.get("emerging")),
        _when_section(data["hour_weekday"], figures),
        _near_repeat(data["near_repeat"], drawn.get("near_repeat")),
        _forecast(data["forecast"], drawn.get("forecast"), figures),
        _patrol(data["patrol"], drawn.get("patrol")),
        _quality(data["data_quality"]),
        _provenance(data["provenance"], data),
        f"<footer>Made with intel {_e(data['intel_version'])}. intel analyses places and times, never people. "
        "Incident locations in open data are approximate (moved to the block or street).</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def framed(page: str, *, title: str = "briefing", height: int = 900) -> str:
    """``page`` inside an ``<iframe srcdoc>`` (a notebook cell keeps its own styles)."""
    return (f'<iframe title="{_e(title)}" srcdoc="{html.escape(page, quote=True)}" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ccc"></iframe>')


def stable_ids(m: Any) -> Any:
    """Replace folium's random element ids with counters (same map, same bytes); return ``m``."""
    root = m.get_root()
    for i, element in enumerate(_walk(root)):
        element._id = f"{i:08x}"
    return m


def _walk(element: Any):
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def _draw(spec: tuple[str, Any, dict[str, Any]]) -> str:
    from . import maps
    from ._render import map_to_html

    name, frame, kwargs = spec
    m = getattr(maps, name)(frame, **kwargs)
    page = map_to_html(stable_ids(m))
    return (f'<iframe title="{_e(kwargs.get("title", name))}" srcdoc="{html.escape(page, quote=True)}" '
            'style="width:100%;height:520px;border:1px solid #ccc"></iframe>')


# ---------------------------------------------------------------- sections


def _counts(c: dict[str, Any], figures: dict[str, str]) -> str:
    cards = []
    for row in c["comparisons"]:
        cls = _direction(row)
        cards.append(
            f'<div class="card"><div class="what">{_e(row["label"])}</div>'
            f'<div class="big">{_num(row["current"])}</div>'
            f'<div>against {_num(row["baseline"])} ({_pct(row["percent_change"])}); '
            f'<span class="{cls}">z = {_z(row["z"])}</span>, {_p_is(row["p_value"])}</div>'
            f'<div class="what">{_e(row["reading"])}</div></div>'
        )
    out = [_h2("counts", "1. How many: this week against the usual"), '<div class="cards">' + "".join(cards) + "</div>",
           f'<p class="explain">{_e(c["method"])} A percent change alone says nothing about chance: 12 against 8 is '
           "+50% and well within normal variation.</p>"]
    if c.get("by_category"):
        out.append("<h3>By category (this week's ten largest)</h3>")
        out.append(_table(c["by_category"], [
            ("category", "category", _e), ("this week", "this_week", _num), ("prior 4 weeks, weekly mean",
                                                                           "prior_4_weeks_mean", _num),
            ("z", "z", _z), ("p", "p_value", _p), ("reading", "reading", _e)], mark=lambda r: _direction(r)))
    if "trend" in figures:
        out.append(f"<h3>Weekly counts</h3>{figures['trend']}")
    elif c.get("weekly"):
        out.append("<h3>Weekly counts</h3>" + _bars([r["n"] for r in c["weekly"]], [r["period"][:10] for r in c["weekly"]]))
    return "\n".join(out)


def _hotspots(h: dict[str, Any], drawn: str | None) -> str:
    out = [_h2("hotspots", f"2. Where: hot spots of the last {h['window']['weeks']} weeks")]
    conc = {round(r["share_of_cells"], 4): r for r in h.get("concentration", [])}
    five = conc.get(0.05)
    if five:
        out.append(f"<p>{_pct(100 * five['share_of_incidents'], signed=False)} of the {_num(h['n_incidents'])} incidents "
                   f"of the last {h['window']['weeks']} weeks happened in the busiest 5% of the {_num(h['n_cells'])} "
                   "cells analysed.</p>")
    classes = ", ".join(f"{k}: {v}" for k, v in h["classes"].items() if k != "not significant")
    out.append(f"<p>Significant Gi* cells: {_e(classes) if classes else 'none'}.</p>")
    out.append(f'<p class="explain">{_e(h["method"])} Rank change: places up (▲) or down (▼) the table since the '
               "previous four weeks; <i>new</i> had no incident then.</p>")
    if drawn:
        out.append(drawn + _note(h.get("map_note")))
    out.append("<h3>Busiest cells</h3>")
    out.append(_table(h["top"], [
        ("rank", "rank", _int), ("cell", "cell_id", _e), ("place", "place", _e), ("last 4 weeks", "n", _num),
        ("this week", "n_week", _num), ("previous 4 weeks", "n_before", _num), ("rank change", "rank_change", _change),
        ("Gi* z", "gi_star", _z), ("class", "hotspot_class", _e), ("lat, lon", "lat", _latlon)]))
    return "\n".join(out)


def _emerging(e: dict[str, Any], drawn: str | None) -> str:
    out = [_h2("emerging", "3. Emerging hot spots")]
    if not e.get("available"):
        return "\n".join(out + [f"<p>{_e(e.get('note', 'Not available.'))}</p>"])
    found = {k: v for k, v in e["categories"].items() if v and k != "no pattern detected"}
    out.append(f"<p>Over the {e['window']['weeks']} weeks to the end of the week: "
               + (_e(", ".join(f"{v} {k}" + ("s" if v != 1 else "") for k, v in found.items())) if found
                  else "no pattern detected in any cell") + ".</p>")
    out.append(f'<p class="explain">{_e(e["method"])} <i>New</i>: hot in the last week only; <i>consecutive</i>: a '
               "run of hot weeks at the end; <i>intensifying</i>: hot in most weeks and getting hotter; "
               "<i>persistent</i>: hot in most weeks with no trend.</p>")
    if drawn:
        out.append(drawn + _note(e.get("map_note")))
    if e["top"]:
        out.append("<h3>Hot spot cells with a pattern</h3>")
        out.append(_table(e["top"], [("cell", "cell_id", _e), ("place", "place", _e), ("category", "hotspot_class", _e),
                                     ("incidents", "n", _num), ("share of weeks hot", "hot_share", _share),
                                     ("trend z", "trend_z", _z), ("lat, lon", "lat", _latlon)]))
    return "\n".join(out)


def _when_section(w: dict[str, Any], figures: dict[str, str]) -> str:
    out = [_h2("when", "4. When: hour by weekday")]
    if not w.get("available"):
        return "\n".join(out + [f"<p>{_e(w.get('note', 'Not available.'))}</p>"])
    peak = w["peak"]
    out.append(f"<p>Last {w['window']['weeks']} weeks: busiest day {_e(w['busiest_day'])}; busiest hours "
               + ", ".join(f"{h:02d}:00" for h in w["busiest_hours"])
               + f"; peak {_e(peak['weekday'])} {peak['hour']:02d}:00-{(peak['hour'] + 1) % 24:02d}:00.</p>")
    out.append(f'<p class="explain">{_e(w["method"])} Darker cells hold more incidents. A spike at 00:00 or 12:00 '
               "often marks unknown times recorded as a default (see Data quality).</p>")
    if "hour_weekday" in figures:
        out.append(figures["hour_weekday"])
    else:
        out.append(_heat(w["table"], w["weekdays"]))
    return "\n".join(out)


def _near_repeat(n: dict[str, Any], drawn: str | None) -> str:
    what = ", ".join(c.lower() for c in n["categories"]) if n.get("categories") else "all incidents"
    out = [_h2("near-repeat", f"5. Near repeats ({what})")]
    kw = n["knox_window"]
    if n.get("strongest"):
        s = n["strongest"]
        out.append(f"<p><b>Near-repeat pattern confirmed</b> over the last {kw['weeks']} weeks ({_num(kw['n_events'])} "
                   f"incidents): pairs {_e(s['distance_band'])} and {_e(s['time_band'])} apart are "
                   f"{s['knox_ratio']:.2f} times as common as chance would give ({_p_is(s['p_value'])}).</p>")
    elif n.get("pattern") is False:
        out.append(f"<p>No significant near-repeat pattern within {n['distance_m']:g} m and {n['days']:g} days over the "
                   f"last {kw['weeks']} weeks ({_num(kw['n_events'])} incidents).</p>")
    else:
        out.append(f"<p>{_e(n.get('knox_note', ''))}</p>")
    out.append(f'<p class="explain">{_e(n["method"])} Alert zones are where a follow-up (crime prevention advice, '
               "a visit to the neighbours) is most likely to prevent the next incident.</p>")
    if n["knox"]:
        out.append("<h3>Knox ratios (observed / expected pairs; bold: significant)</h3>" + _knox(n["knox"]))
    out.append(f"<h3>Active alert zones as of {_e(_when(n['as_of']))}: {n['n_zones']}</h3>")
    if drawn:
        out.append(drawn)
    if n["zones"]:
        out.append(_table(n["zones"], [("zone", "zone_id", _e), ("incidents", "n", _num), ("place", "place", _e),
                                       ("latest", "last_at", _when), ("active until", "expires_at", _when),
                                       ("categories", "categories", _e), ("lat, lon", "lat", _latlon)]))
    return "\n".join(out)


def _forecast(f: dict[str, Any], drawn: str | None, figures: dict[str, str]) -> str:
    bt = f["backtest"]
    out = [_h2("forecast", "6. Next week's forecast"),
           f"<p>Model: <b>{_e(f['model'])}</b> ({_e(f['selection']['rule'])}). Expected over "
           f"{_e(_day(f['period']['start']))} to {_e(_day(f['period']['end']))} (end excluded): "
           f"{_num(f['expected_total'])} incidents in the cells analysed.</p>",
           f'<p class="explain">A forecast ranks places by expected incidents; it does not say where any one incident '
           f"will happen. Its accuracy was measured by refitting it at each of {bt['n_origins']} past weekly origins "
           f"({_e(_day(bt['first_origin']))} to {_e(_day(bt['last_origin']))}) on the data before that origin only, "
           "and comparing the cells it flagged with the incidents that followed. Hit rate: "
           f"{_e(bt['measures']['hit_rate'])}. PAI: {_e(bt['measures']['pai'])}. PEI: {_e(bt['measures']['pei'])}. "
           f"Intervals: {_e(bt.get('interval') or '')}.</p>"]
    if drawn:
        out.append(drawn + _note(f.get("map_note")))
    out.append("<h3>Highest-risk cells</h3>")
    out.append(_table(f["top"], [("rank", "rank", _int), ("cell", "cell_id", _e), ("place", "place", _e),
                                 ("expected", "risk", _num), ("last 4 weeks", "n_recent", _num),
                                 ("lat, lon", "lat", _latlon)]))
    out.append(f"<h3>Backtest accuracy against the naive baselines (reference: {_e(bt.get('reference'))})</h3>")
    out.append(_table(bt["rows"], [("model", "model", _e), ("area flagged", "coverage", _share),
                                   ("hit rate", "hit_rate", lambda v, r: _ci(v, r, "hit_rate", share=True)),
                                   ("PAI", "pai", lambda v, r: _ci(v, r, "pai")), ("PEI", "pei", _num),
                                   ("vs reference", "vs_reference", _e)],
                      mark=lambda r: "sig" if r.get("model") == f["model"] else ""))
    if "capture" in figures:
        out.append(figures["capture"])
    out.append("<h3>Known limits</h3><ul class=\"limits\">" + "".join(f"<li>{_e(x)}</li>" for x in f["limits"]) + "</ul>")
    out.append("<h3>Not for</h3><ul class=\"limits\">" + "".join(f"<li>{_e(x)}</li>" for x in f["out_of_scope"])
               + "</ul>")
    return "\n".join(out)


def _patrol(p: dict[str, Any], drawn: str | None) -> str:
    out = [_h2("patrol", f"7. Patrol plan for {_long_day(p['date'])}"),
           f'<p class="explain">{_e(p["method"])} A plan for the first day of next week; plan later days with '
           "<code>intel patrol --date</code> (visit times are drawn afresh each day).</p>"]
    if p["shifts"]:
        out.append(_table(p["shifts"], [("shift", "shift", _e), ("units", "units", _int), ("places", "places", _int),
                                         ("of which exploration", "exploration_places", _int),
                                         ("visits per place", "visits_per_place", _int),
                                         ("unit-minutes planned", "minutes_planned", _num),
                                         ("of available", "minutes_available", _num),
                                         ("share of the shift's risk covered", "expected_share", _share)]))
    out.append("<h3>Safeguards</h3><ul class=\"limits\">")
    for name, s in p["safeguards"].items():
        state = "on" if s.get("on") else ("unknown" if s.get("on") is None else "off")
        setting = s.get("setting")
        out.append(f"<li><b>{_e(name.replace('_', ' '))}</b> ({state}"
                   + (f", setting {_e(_plain(setting))}" if setting not in (None, True, False) else "")
                   + f"): {_e(_safeguard(name, s))}</li>")
    out.append("</ul>")
    if drawn:
        out.append(drawn)
    if p["places"]:
        out.append("<h3>Places</h3>")
        out.append(_table(p["places"], [("shift", "shift", _e), ("place", "place_id", _e), ("unit", "unit", _int),
                                        ("chosen by", "selection", _e), ("near", "place", _e),
                                        ("visit times", "visit_times", _e), ("minutes", "minutes", _num),
                                        ("share of shift risk", "expected_share", _share), ("why", "reason", _e)]))
    return "\n".join(out)


def _safeguard(name: str, s: dict[str, Any]) -> str:
    if name == "detection" and "n_unknown" in s:
        text = (f"{s.get('n_dropped', 0):,} incidents discovered by police activity left out of the forecast that "
                f"steers patrols; {s.get('n_reported', 0):,} reported by the public and {s['n_unknown']:,} of "
                "unknown origin kept")
        return text + (" (the data do not say who found them)." if s["n_unknown"] else ".")
    if name == "area_cap" and not s.get("on"):
        return "no area's share of patrol minutes is capped (intel patrol --max-share-per-area sets one)."
    detail = s.get("rule") or s.get("note")
    if detail:
        return detail
    return "; ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in s.items() if k not in ("on", "setting"))


def _quality(q: dict[str, Any]) -> str:
    out = [_h2("quality", "8. Data quality")]
    r = q.get("load_report")
    if r:
        out.append(f"<p>Rows read: {_num(r.get('n_read'))}; kept: {_num(r.get('n_kept'))}; set aside (quarantined): "
                   f"{_num(r.get('n_quarantined'))}. Schema {_e(r.get('schema'))}, time zone {_e(r.get('tz'))}, "
                   f"CRS {_e(r.get('crs'))}, geocoded share {_share(r.get('geocoded_share'))}.</p>")
        reasons = r.get("quarantine_reasons") or {}
        if reasons:
            out.append("<p>Set aside: " + _e(", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in reasons.items()))
                       + ".</p>")
        if r.get("dropped_columns"):
            out.append("<p>Person-level columns dropped: " + _e(", ".join(r["dropped_columns"])) + ".</p>")
        if r.get("warnings"):
            out.append("<h3>Warnings from loading</h3><ul class=\"limits\">"
                       + "".join(f'<li class="warn">{_e(w)}</li>' for w in r["warnings"]) + "</ul>")
    else:
        out.append(f"<p>{_e(q.get('note', ''))}</p>")
    area = q["area"]
    if area.get("column"):
        out.append(f"<p>{_num(area['n_after'])} of {_num(area['n_before'])} incidents are in {_e(area['column'])} "
                   f"{_e(area['value'])}.</p>")
    out.append(f"<p>Analysed: {_num(q['n_analysed'])} incidents from {_e(_day(q['first']))} to {_e(_day(q['last']))}; "
               f"left out: {_num(q['n_after_week'])} after the week, {_num(q['n_without_time'])} without a time; "
               f"{_num(q['n_outside_grid'])} fall outside the cells analysed.</p>")
    if q["analysis_warnings"]:
        out.append("<h3>Warnings while building this briefing</h3><ul class=\"limits\">"
                   + "".join(f'<li class="warn">{_e(w)}</li>' for w in q["analysis_warnings"]) + "</ul>")
    return "\n".join(out)


def _provenance(p: dict[str, Any], data: dict[str, Any]) -> str:
    out = [_h2("provenance", "9. Provenance")]
    inp = p.get("input", {})
    if inp.get("files"):
        out.append("<p>Input: " + "; ".join(f"{_e(f)} <code>sha256 {_e(h)}</code>"
                                            for f, h in zip(inp["files"], inp.get("sha256") or [])) + "</p>")
    params = ", ".join(f"{k}={_plain(v)}" for k, v in sorted(p["parameters"].items()) if v is not None)
    out.append(f"<p>Parameters: <code>{_e(params)}</code></p>")
    if p.get("automatic"):
        out.append("<p>Chosen automatically:</p><ul class=\"limits\">" + "".join(
            f"<li>{_e(k)} = {_e(_plain(v.get('value')))}: {_e(v.get('rule', ''))}</li>"
            for k, v in sorted(p["automatic"].items())) + "</ul>")
    out.append(f"<p>Seed: {_e(_plain(p.get('seed')))}. Versions: <code>"
               + _e(", ".join(f"{k} {v}" for k, v in sorted(p["versions"].items()))) + "</code></p>")
    out.append('<p class="note">briefing.json holds every number on this page and the record of each step; rerunning '
               "with the same input and parameters gives the same files.</p>")
    return "\n".join(out)


# ---------------------------------------------------------------- pieces


def _h2(anchor: str, text: str) -> str:
    return f'<h2 id="{anchor}">{_e(text)}</h2>'


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, Callable]],
           mark: Callable[[dict], str] | None = None) -> str:
    if not rows:
        return '<p class="note">(none)</p>'
    head = "".join(f"<th>{_e(title)}</th>" for title, _, _ in columns)
    body = []
    for row in rows:
        cls = mark(row) if mark else ""
        cells = []
        for _, key, fmt in columns:
            value = row.get(key)
            text = _call(fmt, value, row)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and key != "lat"
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>" if cls else "<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _call(fmt: Callable, value: Any, row: dict) -> str:
    try:
        return fmt(value, row)
    except TypeError:
        return fmt(value)


def _heat(table: list[list[float]], weekdays: list[str]) -> str:
    values = np.asarray(table, dtype=float)
    top = float(values.max()) if values.size and values.max() > 0 else 1.0
    head = "<th></th>" + "".join(f"<th>{h:02d}</th>" for h in range(values.shape[1]))
    rows = []
    for name, row in zip(weekdays, values):
        cells = []
        for v in row:
            level = v / top
            # white to dark red; text turns white on the darkest cells
            colour = f"rgb({255 - int(75 * level)},{255 - int(215 * level)},{255 - int(205 * level)})"
            ink = "#fff" if level > 0.6 else "#1f2328"
            cells.append(f'<td style="background:{colour};color:{ink}" title="{_e(name)} {len(cells):02d}:00: '
                         f'{v:.1f}">{v:.0f}</td>')
        rows.append(f"<tr><th>{_e(name[:3])}</th>{''.join(cells)}</tr>")
    return f'<table class="heat"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _knox(rows: list[dict[str, Any]]) -> str:
    distances = list(dict.fromkeys(r["distance_band"] for r in rows))
    times = list(dict.fromkeys(r["time_band"] for r in rows))
    cell = {(r["distance_band"], r["time_band"]): r for r in rows}
    head = "<th>distance \\ time</th>" + "".join(f"<th>{_e(t)}</th>" for t in times)
    body = []
    for d in distances:
        tds = []
        for t in times:
            r = cell.get((d, t))
            if r is None or r.get("knox_ratio") is None:
                tds.append("<td></td>")
                continue
            cls = "num sig" if r["significant"] else "num"
            tds.append(f'<td class="{cls}" title="observed {r["observed"]}, expected {r["expected"]}, '
                       f'{_p_is(r["p_value"])}">{r["knox_ratio"]:.2f}</td>')
        body.append(f"<tr><th>{_e(d)}</th>{''.join(tds)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _bars(values: list[float], labels: list[str], *, width: int = 900, height: int = 160) -> str:
    """A plain SVG bar chart of the weekly counts, the last bar (this week) highlighted."""
    if not values:
        return ""
    top = max(max(values), 1.0)
    n = len(values)
    step = width / n
    bars = []
    for i, (v, label) in enumerate(zip(values, labels)):
        h = (height - 20) * v / top
        colour = "#b42318" if i == n - 1 else "#8c959f"
        bars.append(f'<rect x="{i * step:.1f}" y="{height - 20 - h:.1f}" width="{max(step - 1, 1):.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>week of {_e(label)}: {v:.0f}</title></rect>')
    axis = (f'<text x="0" y="{height - 4}" font-size="11">{_e(labels[0])}</text>'
            f'<text x="{width}" y="{height - 4}" font-size="11" text-anchor="end">{_e(labels[-1])} (this week)</text>'
            f'<text x="0" y="12" font-size="11">max {top:.0f} a week</text>')
    return (f'<svg role="img" aria-label="weekly counts" viewBox="0 0 {width} {height}" '
            f'style="width:100%;max-width:{width}px;height:auto">{"".join(bars)}{axis}</svg>')


def _note(text: str | None) -> str:
    return f'<p class="note">{_e(text)}</p>' if text else ""


def _direction(row: dict[str, Any]) -> str:
    reading = row.get("reading", "")
    return "up" if reading == "higher than usual" else ("down" if reading == "lower than usual" else "")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, *_: Any) -> str:
    if value is None:
        return ""
    return format_number(float(value))


def _int(value: Any, *_: Any) -> str:
    return "" if value is None else f"{int(value):,}"


def _z(value: Any, *_: Any) -> str:
    return "n/a" if value is None else f"{float(value):+.2f}"


def _p(value: Any, *_: Any) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_is(value: Any) -> str:
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _pct(value: Any, *, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.0f}%" if signed else f"{value:.0f}%"


def _share(value: Any, *_: Any) -> str:
    return "" if value is None else f"{100 * float(value):.1f}%".replace(".0%", "%")


def _change(value: Any, row: dict[str, Any]) -> str:
    if row.get("previous_rank") is None:
        return "<i>new</i>"
    v = int(value)
    if v > 0:
        return f'<span class="up">▲ {v}</span>'
    if v < 0:
        return f'<span class="down">▼ {-v}</span>'
    return "="


def _latlon(value: Any, row: dict[str, Any]) -> str:
    return "" if value is None else f"{row['lat']:.5f}, {row['lon']:.5f}"


def _ci(value: Any, row: dict[str, Any], name: str, *, share: bool = False) -> str:
    if value is None:
        return "n/a"
    fmt = (lambda v: f"{100 * v:.1f}%") if share else (lambda v: f"{v:.2f}")
    lo, hi = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    return fmt(value) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else "")


def _day(value: Any) -> str:
    return "" if value is None else str(value)[:10]


def _long_day(value: Any) -> str:
    import datetime as dt

    day = dt.date.fromisoformat(str(value)[:10])
    return f"{day:%A} {day.day} {day:%B %Y}"


def _when(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text[:16].replace("T", " ") if "T" in text else text


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)
