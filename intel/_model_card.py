"""Model cards: what a forecast is, what it was learnt from, what it is worth and what it is not for.

After Mitchell et al. (2019), "Model cards for model reporting" (FAT* '19), cut to
what a crime analyst and the people who read their forecasts need.
"""

from __future__ import annotations

import numbers
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._provenance import jsonable, library_versions
from ._validation import check_option
from .exceptions import InputError

CARD_VERSION = 1

INTENDED_USE = (
    "Ranking places (grid cells) by the expected number of recorded incidents over the forecast horizon, "
    "to inform where problem-solving, prevention and patrol time might go, alongside local knowledge and the "
    "naive baselines reported on this card."
)

OUT_OF_SCOPE = [
    "Any judgement about individuals: who will offend or be victimised. The model describes places and times, never people.",
    "Use as evidence of an individual's guilt, or as grounds for a stop, search or arrest: being in a high-risk cell is not "
    "reasonable suspicion.",
    "Use without the naive baselines: a forecast's accuracy means little unless it is compared with simply counting recent "
    "incidents (the backtest table on this card).",
    "Places, offence categories or periods outside the data window and grid described here.",
    "Automatic allocation of enforcement without human review.",
]

GENERAL_LIMITS = [
    "It learns from recorded incidents, which reflect what the public reports and where police look as well as where crime "
    "happens. Sending more patrols to high-risk cells can raise their recorded counts and feed the next forecast "
    "(Lum & Isaac 2016; Ensign et al. 2018): watch for that loop.",
    "It assumes the near future resembles the past. New sites, closures, events and changes in policing or recording are not "
    "anticipated.",
    "Backtest accuracy is an average over past origins; any one week can be much better or worse (see the intervals).",
    "Recent incidents may be under-counted at the forecast origin because of reporting lag.",
    "Locations in open data are often shifted or snapped to the block; cells smaller than that shift are not meaningful.",
]

MODEL_LIMITS = {
    "LastPeriod": "Uses one period only: very noisy for rare offences.",
    "RecentCount": "Counts only: no spreading to neighbouring cells, so cells with no past incident always rank last.",
    "SamePeriodLastYear": "Uses one period a year ago only: very noisy, blind to anything new.",
    "KDERisk": "Smoothing spreads risk across barriers (rivers, rail lines, parks) and into places where crime cannot happen.",
    "ProspectiveHotspot": "Its distance and time decay are fixed by its parameters, not learnt from the data.",
    "GridSEPP": "Assumes a stationary background rate per cell and one trigger shape everywhere; fitted on a window of recent "
    "history.",
    "KernelSEPP": "Assumes one trigger shape everywhere, cut off at its space and time limits; fitted on a window of recent "
    "history.",
    "RiskTerrain": "Only as good as the environmental layers supplied; relative risk values describe association, not cause.",
    "GradientBoostingRisk": "A flexible learner: its feature importances describe association, not cause, and it can overfit "
    "short histories.",
    "ShiftProfile": "Splits risk by a fixed hour-of-week profile: shifts in timing within a cell are not modelled.",
    "EnsembleRisk": "Its weights are fixed by its configuration; it inherits the limits of every member.",
}


def build_model_card(
    model: Any,
    backtest_summary: pd.DataFrame | None = None,
    *,
    incidents: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame,
    horizon: str | None = None,
    label: str | None = None,
    notes: list[str] | None = None,
    format: str = "dict",
) -> dict[str, Any] | str:
    """Describe a forecast model: data, grid, parameters, measured accuracy, limits and out-of-scope uses.

    Parameters
    ----------
    model : risk model
        A model from :mod:`intel.models`, preferably fitted (the card then gives
        its forecast origin, training window and fitted parameters).
    backtest_summary : DataFrame, optional
        From :func:`intel.summarize_backtest`, including this model (matched by
        ``label``) and the naive baselines. Without it the card says plainly that
        the model was not backtested.
    incidents : GeoDataFrame
        The incidents the model was (or will be) fitted on; for a fitted model
        only those before its origin are described.
    grid : GeoDataFrame
        The forecast grid.
    horizon : str, optional
        The forecast horizon, e.g. ``"7D"``.
    label : str, optional
        The model's label in ``backtest_summary``; default
        :func:`intel.evaluate.model_label`.
    notes : list of str, optional
        Further known limits to list (e.g. from the analyst).
    format : {"dict", "markdown"}
        A JSON-able dict, or the same card as Markdown.

    Returns
    -------
    dict or str
        Keys ``model``, ``intended_use``, ``data``, ``grid``, ``forecast``,
        ``backtest``, ``known_limits``, ``out_of_scope``, ``versions``.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=1500, random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> model = intel.KDERisk().fit(incidents, grid=grid, origin="2018-12-01")
    >>> card = intel.build_model_card(model, incidents=incidents, grid=grid, horizon="7D")
    >>> card["backtest"]["available"], card["out_of_scope"][0][:30]
    (False, 'Any judgement about individual')
    """
    from .evaluate import BASELINE_REFERENCE, model_label

    owner = "build_model_card"
    check_option("format", format, owner, ("dict", "markdown"))
    if not hasattr(model, "get_params"):
        raise InputError(f"{owner}: model must be a risk model from intel.models; got {type(model).__name__}.")
    if not isinstance(incidents, gpd.GeoDataFrame) or not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: incidents and grid must be GeoDataFrames (an Incidents table and a Grid).")
    label = label or model_label(model)
    origin = getattr(model, "origin_", None)
    card: dict[str, Any] = {
        "model_card_version": CARD_VERSION,
        "title": f"Model card: {label}",
        "model": _model_section(model, label),
        "intended_use": INTENDED_USE,
        "data": _data_section(incidents, origin),
        "grid": _grid_section(grid),
        "forecast": {"origin": origin, "horizon": horizon},
        "backtest": _backtest_section(backtest_summary, label),
        "known_limits": _limits(model, backtest_summary, label, notes),
        "out_of_scope": list(OUT_OF_SCOPE),
        "versions": library_versions(),
    }
    card["backtest"].setdefault("reference", BASELINE_REFERENCE)
    card = jsonable(card)
    return render_markdown(card) if format == "markdown" else card


def _model_section(model: Any, label: str) -> dict[str, Any]:
    doc = (type(model).__doc__ or "").strip().splitlines()
    fitted = {}
    for name, value in sorted(vars(model).items()):
        if name.endswith("_") and not name.startswith("_") and name != "grid_":
            if isinstance(value, (numbers.Number, str, bool, pd.Timestamp)) or (
                isinstance(value, dict) and len(value) <= 20 and all(isinstance(v, (numbers.Number, str)) for v in value.values())
            ):
                fitted[name] = value
            elif isinstance(value, np.ndarray) and value.ndim == 1 and value.size <= 20 and value.dtype.kind in "fiu":
                # small fitted vectors (ensemble weights, coefficients) are worth showing; surfaces are not
                fitted[name] = value.tolist()
    params = {}
    for name, value in model.get_params(deep=False).items():
        if hasattr(value, "get_params"):
            from .evaluate import model_label

            value = model_label(value)
        elif isinstance(value, (pd.DataFrame, gpd.GeoSeries)):
            value = f"<{type(value).__name__}: {len(value)} rows>"
        elif isinstance(value, dict):
            value = {k: (f"<{type(v).__name__}: {len(v)} rows>" if isinstance(v, (pd.DataFrame, gpd.GeoSeries)) else v)
                     for k, v in value.items()}
        params[name] = value
    return {
        "label": label,
        "class": type(model).__name__,
        "description": doc[0] if doc else "",
        "parameters": params,
        "fitted": fitted,
    }


def _data_section(incidents: gpd.GeoDataFrame, origin: Any) -> dict[str, Any]:
    data = incidents
    if origin is not None and "occurred_at" in incidents.columns:
        data = incidents.loc[(incidents["occurred_at"] < origin).to_numpy()]
    section: dict[str, Any] = {"n_incidents": len(data), "crs": incidents.crs}
    if "occurred_at" in data.columns and len(data):
        section["window"] = {"first": data["occurred_at"].min(), "last": data["occurred_at"].max()}
        if origin is not None:
            section["window"]["used_before"] = origin
    if "category" in data.columns:
        counts = data["category"].astype(str).value_counts()
        section["categories"] = {str(k): int(v) for k, v in counts.head(30).items()}
        if len(counts) > 30:
            section["categories_not_listed"] = int(len(counts) - 30)
    source = incidents.attrs.get("provenance", {})
    if isinstance(source, dict):
        section["source"] = {k: source[k] for k in ("function", "source", "schema", "path") if k in source}
    return section


def _grid_section(grid: gpd.GeoDataFrame) -> dict[str, Any]:
    meta = dict(grid.attrs.get("grid", {}))
    bounds = grid.total_bounds if len(grid) else np.full(4, np.nan)
    return {
        "n_cells": len(grid),
        "shape": meta.get("shape"),
        "cell_size_m": meta.get("cell_size_m"),
        "crs": grid.crs,
        "bounds": [float(b) for b in bounds],
    }


def _backtest_section(summary: pd.DataFrame | None, label: str) -> dict[str, Any]:
    if summary is None:
        return {"available": False, "note": "Not backtested: its accuracy is unknown. Run intel.rolling_backtest first."}
    if "model" not in summary.columns or label not in set(summary["model"]):
        return {"available": False, "note": f"{label} is not in the backtest summary given; its accuracy is unknown."}
    reference = summary.attrs.get("reference")
    from .evaluate import naive_baselines

    try:
        baseline_labels = list(naive_baselines())
    except ImportError:
        baseline_labels = []
    shown = [label] + [b for b in baseline_labels if b != label and b in set(summary["model"])]
    rows = []
    for _, r in summary.loc[summary["model"].isin(shown)].iterrows():
        rows.append({
            "model": r["model"],
            "coverage": r["coverage"],
            "n_origins": r.get("n_origins"),
            "hit_rate": r.get("hit_rate"), "hit_rate_ci": [r.get("hit_rate_lo"), r.get("hit_rate_hi")],
            "pai": r.get("pai"), "pai_ci": [r.get("pai_lo"), r.get("pai_hi")],
            "pei": r.get("pei"), "pei_ci": [r.get("pei_lo"), r.get("pei_hi")],
            "pai_diff": r.get("pai_diff"), "pai_diff_ci": [r.get("pai_diff_lo"), r.get("pai_diff_hi")],
            "vs_reference": r.get("vs_reference"),
        })
    order = {name: i for i, name in enumerate(shown)}
    rows.sort(key=lambda row: (order[row["model"]], row["coverage"]))
    own = [row for row in rows if row["model"] == label]
    verdicts = {row["coverage"]: row["vs_reference"] for row in own}
    prov = summary.attrs.get("provenance", {})
    return {
        "available": True,
        "reference": reference,
        "interval": prov.get("interval") if isinstance(prov, dict) else None,
        "n_origins": max((row["n_origins"] or 0) for row in own) if own else 0,
        "verdict_by_coverage": verdicts,
        "rows": rows,
    }


def _limits(model: Any, summary: pd.DataFrame | None, label: str, notes: list[str] | None) -> list[str]:
    limits = list(GENERAL_LIMITS)
    specific = MODEL_LIMITS.get(type(model).__name__)
    if specific:
        limits.insert(0, specific)
    if summary is not None and "model" in summary.columns and label in set(summary["model"]):
        own = summary.loc[summary["model"] == label]
        reference = summary.attrs.get("reference", "the reference baseline")
        if label != reference and not (own["vs_reference"] == "better").any():
            limits.insert(0, f"In the backtest it did not beat {reference} on PAI at any coverage tested "
                             "(paired bootstrap interval); the baseline is as good a guide.")
    elif summary is None:
        limits.insert(0, "It has not been backtested on these data: its accuracy is unknown.")
    limits.extend(notes or [])
    return limits


def render_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown (headings, tables and lists)."""
    lines = [f"# {card['title']}", ""]
    model = card["model"]
    lines += ["## Model", "", f"- **Class**: `{model['class']}`" + (f" - {model['description']}" if model["description"] else "")]
    lines += [f"- **Parameters**: " + (", ".join(f"`{k}={v!r}`" for k, v in model["parameters"].items()) or "defaults")]
    if model["fitted"]:
        lines += ["- **Fitted**: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in model["fitted"].items())]
    lines += ["", "## Intended use", "", card["intended_use"], ""]
    data = card["data"]
    lines += ["## Data", "", f"- **Incidents used**: {data['n_incidents']:,}"]
    if "window" in data:
        lines += [f"- **Window**: {data['window']['first']} to {data['window']['last']}"]
    if data.get("categories"):
        lines += ["- **Categories**: " + ", ".join(f"{k} ({v:,})" for k, v in data["categories"].items())]
    lines += [f"- **CRS**: {data['crs']}", ""]
    grid = card["grid"]
    size = f"{grid['cell_size_m']:g} m " if grid.get("cell_size_m") else ""
    lines += ["## Grid", "", f"- {grid['n_cells']:,} {size}{grid.get('shape') or ''} cells, CRS {grid['crs']}", ""]
    fc = card["forecast"]
    lines += ["## Forecast", "", f"- **Origin**: {fc['origin']}", f"- **Horizon**: {fc['horizon']}", ""]
    bt = card["backtest"]
    lines += ["## Backtest accuracy", ""]
    if not bt["available"]:
        lines += [f"**{bt['note']}**", ""]
    else:
        lines += [f"Means over {bt['n_origins']} origins; {bt.get('interval') or 'bootstrap intervals'}. "
                  f"Reference baseline: {bt['reference']}.", ""]
        lines += ["| model | coverage | hit rate [CI] | PAI [CI] | PEI [CI] | PAI - reference [CI] | vs reference |",
                  "|---|---|---|---|---|---|---|"]
        for r in bt["rows"]:
            lines.append(
                f"| {r['model']} | {r['coverage']:.0%} | {_ci(r['hit_rate'], r['hit_rate_ci'], pct=True)} | "
                f"{_ci(r['pai'], r['pai_ci'])} | {_ci(r['pei'], r['pei_ci'])} | {_ci(r['pai_diff'], r['pai_diff_ci'])} | "
                f"{r['vs_reference']} |"
            )
        lines.append("")
    lines += ["## Known limits", ""] + [f"- {x}" for x in card["known_limits"]] + [""]
    lines += ["## Out of scope", ""] + [f"- {x}" for x in card["out_of_scope"]] + [""]
    lines += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in card["versions"].items()), ""]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _ci(value: Any, ci: list[Any], *, pct: bool = False) -> str:
    def f(x: Any) -> str:
        if x is None or (isinstance(x, float) and not np.isfinite(x)):
            return "-"
        return f"{x:.1%}" if pct else f"{x:.2f}"

    return f"{f(value)} [{f(ci[0])}, {f(ci[1])}]"
