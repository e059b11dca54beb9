"""Tracking and testing patrols: the visit log officers fill in, and the before/after evaluation."""

from __future__ import annotations

import math
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.stats import norm

from .._incidents import check_incidents, filter_incidents
from .._provenance import attach, make_record
from .._validation import check_number
from .._weights import cell_neighbours
from ..exceptions import DataQualityWarning, InputError
from ..grid import assign_cells, count_in_cells, make_grid
from ._common import DAY_MINUTES, check_plan, parse_time

__all__ = ["build_visit_log", "evaluate_patrols"]

LOG_COLUMNS = ["date", "shift", "unit", "place_id", "visit", "planned_time", "planned_minutes", "selection",
               "x", "y", "lat", "lon", "cell_ids", "actual_arrival", "actual_departure", "notes"]


def build_visit_log(plan: gpd.GeoDataFrame) -> pd.DataFrame:
    """The plan as a visit log, one row per planned visit, for officers to fill in (write it as CSV).

    Parameters
    ----------
    plan : GeoDataFrame
        A PatrolPlan from :func:`recommend_patrols`.

    Returns
    -------
    DataFrame
        Columns ``date`` (the plan's date, the next day for visits after midnight in a
        shift that crosses it; empty when the plan has no date), ``shift``, ``unit``,
        ``place_id``, ``visit`` (1, 2, ...), ``planned_time`` (``HH:MM``),
        ``planned_minutes``, ``selection``, ``x``/``y`` (a point inside the place, in
        the plan's CRS), ``lat``/``lon`` (the same point in WGS84), ``cell_ids``
        (space-separated) and the blank columns ``actual_arrival``,
        ``actual_departure`` (``YYYY-MM-DD HH:MM``) and ``notes``. The log records
        places and times, never people. Sorted by date, shift, unit, time.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=250)
    >>> scores = intel.score_counts(incidents, grid)
    >>> plan = intel.recommend_patrols(scores, date="2018-06-04", random_state=0)
    >>> log = intel.build_visit_log(plan)
    >>> len(log) == int(plan["visits"].sum()), bool(log["actual_arrival"].eq("").all())
    (True, True)
    """
    owner = "build_visit_log"
    check_plan(plan, owner)
    meta = plan.attrs.get("patrol", {})
    date = meta.get("date")
    starts = {s["shift"]: s["start_minute"] for s in meta.get("shifts", [])}
    pts = shapely.point_on_surface(plan.geometry.values)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    lonlat = gpd.GeoSeries(pts, crs=plan.crs).to_crs(4326) if len(plan) else gpd.GeoSeries([], crs=4326)
    rows = []
    for i, place in enumerate(plan.itertuples(index=False)):
        per_visit = place.minutes / max(place.visits, 1)
        start = starts.get(place.shift)
        for k, clock in enumerate(place.visit_times, start=1):
            day = ""
            if date is not None:
                day = pd.Timestamp(date).date()
                if start is not None and _clock_minutes(clock) < start:
                    day = day + pd.Timedelta(days=1)
                day = day.isoformat()
            rows.append({
                "date": day, "shift": place.shift, "unit": getattr(place, "unit", 1), "place_id": place.place_id,
                "visit": k, "planned_time": clock, "planned_minutes": per_visit,
                "selection": getattr(place, "selection", ""), "x": x[i], "y": y[i],
                "lat": lonlat.iloc[i].y, "lon": lonlat.iloc[i].x, "cell_ids": " ".join(place.cell_ids),
                "actual_arrival": "", "actual_departure": "", "notes": "",
            })
    log = pd.DataFrame(rows, columns=LOG_COLUMNS)
    if len(log):
        shift_order = {s: j for j, s in enumerate(dict.fromkeys(plan["shift"]))}
        offset = [(_clock_minutes(t) - starts.get(s, 0)) % DAY_MINUTES for s, t in zip(log["shift"], log["planned_time"])]
        log = (log.assign(_s=log["shift"].map(shift_order), _o=offset)
               .sort_values(["_s", "unit", "_o", "place_id"], kind="stable").drop(columns=["_s", "_o"])
               .reset_index(drop=True))
    log.attrs["patrol"] = dict(meta)
    return attach(log, make_record(owner, {}, extra={"n_visits": len(log), "date": date}))


def evaluate_patrols(
    plan: gpd.GeoDataFrame,
    visit_log: pd.DataFrame,
    incidents: gpd.GeoDataFrame,
    *,
    grid: gpd.GeoDataFrame | None = None,
    start: Any = None,
    before_days: int = 28,
    after_days: int = 28,
    n_controls: int = 3,
    match_days: int = 365,
) -> pd.DataFrame:
    """Did the patrolled places improve more than comparable places that were not patrolled?

    Treated cells are those of the places with at least one recorded visit
    (``actual_arrival`` filled in); if no visit is recorded, all planned places are
    treated (intention to treat, with a warning). Each treated cell is matched to
    ``n_controls`` untreated cells with the closest count of reported incidents in the
    ``match_days`` before ``start`` (greedy, without replacement, busiest treated
    cells first): the span of history a forecast for the plan would have used, so that
    treated and control cells are selected on the same information; cells next to a treated cell (queen neighbours, where displacement or
    diffusion of benefits would show) and planned-but-unvisited places are never
    controls. Only reported incidents count (``detection`` not ``"discovered"``):
    patrols discover incidents where they are, which would mask any reduction.

    The test is a difference-in-differences on counts: a Poisson GLM
    ``log E[y] = a + b treated + c after + d treated x after`` on the cell-period counts,
    with a quasi-Poisson dispersion (Pearson chi-square over the residual degrees of
    freedom, at least 1) widening the Wald interval. ``exp(d)`` is the rate ratio
    ``(treated after / treated before) / (control after / control before)``: below 1,
    incidents fell more (or rose less) in the patrolled places. When a count is zero,
    0.5 is added to all four (Haldane-Anscombe). No permutation test is offered: the
    places were chosen for their counts, not at random, so shuffling the labels would
    not give the null distribution.

    Parameters
    ----------
    plan : GeoDataFrame
        The PatrolPlan that was carried out.
    visit_log : DataFrame
        The filled-in log from :func:`build_visit_log` (``place_id`` and
        ``actual_arrival``).
    incidents : GeoDataFrame
        Incidents covering ``before_days`` before and ``after_days`` after ``start``.
    grid : GeoDataFrame, optional
        The grid the plan was made on. Default: rebuilt from the plan's
        ``attrs["patrol"]["grid"]`` (regular grids keep their cell ids).
    start : str or date, optional
        First day of patrols. Default: the plan's date, else the earliest recorded
        arrival.
    before_days, after_days : int
        Lengths of the two windows.
    n_controls : int
        Control cells per treated cell.
    match_days : int
        Length of the matching window, ending at ``start`` (at least ``before_days``).

    Returns
    -------
    DataFrame
        One row: ``estimate`` (rate ratio), ``ci_low``, ``ci_high`` (95%),
        ``p_value`` (quasi-Poisson Wald), ``dispersion``, ``continuity_correction``,
        ``treated_before``, ``treated_after``, ``control_before``, ``control_after``,
        ``n_treated_cells``, ``n_control_cells``, ``n_treated_places``,
        ``intention_to_treat``, ``start``, ``before_days``, ``after_days``,
        ``matched_on``, ``method``.

    Notes
    -----
    The places were chosen because they were busy, partly by chance, so some of their
    fall afterwards is regression to the mean that matched controls may not share;
    only a randomised trial (treat a random half of the candidate places) removes
    that bias. The estimate is evidence, not proof.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=250)
    >>> before = incidents[incidents["occurred_at"] < "2018-07-01"]
    >>> scores = intel.score_counts(before, grid)
    >>> plan = intel.recommend_patrols(scores, date="2018-07-01", random_state=0)
    >>> log = intel.build_visit_log(plan)
    >>> log["actual_arrival"] = log["date"] + " " + log["planned_time"]
    >>> result = intel.evaluate_patrols(plan, log, incidents, grid=grid)
    >>> bool(result["ci_low"].iloc[0] < result["estimate"].iloc[0] < result["ci_high"].iloc[0])
    True
    """
    owner = "evaluate_patrols"
    check_plan(plan, owner)
    check_incidents(incidents, owner=owner, need=("geometry", "occurred_at"))
    if not isinstance(visit_log, pd.DataFrame) or not {"place_id", "actual_arrival"} <= set(visit_log.columns):
        raise InputError(f"{owner}: visit_log must be the table from intel.build_visit_log with 'place_id' and "
                         "'actual_arrival' filled in where a visit happened.")
    check_number("before_days", before_days, owner, low=1, integer=True)
    check_number("after_days", after_days, owner, low=1, integer=True)
    check_number("n_controls", n_controls, owner, low=1, integer=True)
    check_number("match_days", match_days, owner, low=1, integer=True)

    arrival = visit_log["actual_arrival"].astype("string").str.strip()
    done = arrival.notna() & arrival.ne("")
    visited = set(visit_log.loc[done.to_numpy(bool), "place_id"].astype(str))
    itt = not visited
    if itt:
        warnings.warn(f"{owner}: the visit log records no visit (actual_arrival is empty everywhere); every planned place "
                      "is treated as patrolled (intention to treat).", DataQualityWarning, stacklevel=2)
        visited = set(plan["place_id"].astype(str))
    start_ts = _start(start, plan, arrival[done], owner)

    if grid is None:
        grid = _rebuild_grid(plan, incidents, owner)
    if "detection" in incidents.columns:
        incidents = incidents.loc[incidents["detection"].astype("string").str.casefold().ne("discovered").fillna(True).to_numpy(bool)]
    if incidents.crs is not None and not incidents.crs.equals(grid.crs):
        incidents = incidents.to_crs(grid.crs)
    position = pd.Series(np.arange(len(grid)), index=grid.index.astype(str))
    treated_places = plan[plan["place_id"].astype(str).isin(visited)]
    planned_cells = {c for ids in plan["cell_ids"] for c in ids}
    treated_cells = sorted({c for ids in treated_places["cell_ids"] for c in ids})
    missing = [c for c in treated_cells if c not in position.index]
    if missing:
        raise InputError(f"{owner}: the grid lacks the plan's cells {missing[:5]}; pass grid= (the one the plan was made on).")
    t_pos = position[treated_cells].to_numpy()
    before_start = start_ts - pd.Timedelta(days=before_days)
    before = _counts(incidents, grid, before_start, start_ts)
    after = _counts(incidents, grid, start_ts, start_ts + pd.Timedelta(days=after_days))
    # Places are chosen on their recent counts, partly high by chance, and fall back afterwards
    # (regression to the mean). Controls matched on the same span of history as a forecast for
    # the plan would use share that selection, so the fall-back shows in both groups.
    prior = _counts(incidents, grid, start_ts - pd.Timedelta(days=max(match_days, before_days)), start_ts)

    excluded = np.zeros(len(grid), dtype=bool)
    excluded[position[[c for c in planned_cells if c in position.index]].to_numpy()] = True
    w = cell_neighbours(grid, "queen")
    excluded[np.asarray(w[t_pos].sum(axis=0)).ravel() > 0] = True
    c_pos = _match(t_pos, np.flatnonzero(~excluded), prior, n_controls)
    if c_pos.size == 0:
        raise InputError(f"{owner}: no untreated cells are left to compare with; use a grid larger than the patrolled area.")
    result = _did(before, after, t_pos, c_pos)
    result.update({
        "n_treated_cells": int(t_pos.size), "n_control_cells": int(c_pos.size), "n_treated_places": len(treated_places),
        "intention_to_treat": itt, "start": start_ts.isoformat(), "before_days": before_days, "after_days": after_days,
        "matched_on": f"reported incidents in the {max(match_days, before_days)} days before the start",
        "method": ("difference-in-differences Poisson GLM on reported counts (quasi-Poisson Wald CI), controls "
                   "matched on the count before the start"),
    })
    table = pd.DataFrame([result])
    params = dict(start=start, before_days=before_days, after_days=after_days, n_controls=n_controls,
                  match_days=match_days, grid=grid is not None)
    return attach(table, make_record(owner, params, extra={"n_incidents": len(incidents)}))


# ---------------------------------------------------------------- internals


def _clock_minutes(clock: str) -> int:
    h, m = str(clock).split(":")[:2]
    return int(h) * 60 + int(m)


def _start(start: Any, plan: gpd.GeoDataFrame, arrivals: pd.Series, owner: str) -> pd.Timestamp:
    if start is None:
        start = plan.attrs.get("patrol", {}).get("date")
    if start is None and len(arrivals):
        times = pd.to_datetime(arrivals, errors="coerce").dropna()
        if len(times):
            start = times.min().normalize()
    if start is None:
        raise InputError(f"{owner}: when did patrols start? Give start=, or a plan with a date (recommend_patrols(date=...)).")
    ts = parse_time(start, owner, "start")
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _rebuild_grid(plan: gpd.GeoDataFrame, incidents: gpd.GeoDataFrame, owner: str) -> gpd.GeoDataFrame:
    meta = plan.attrs.get("patrol", {}).get("grid", {})
    if meta.get("shape") not in ("square", "hex") or not meta.get("cell_size_m"):
        raise InputError(f"{owner}: the plan was not made on a regular grid, so it cannot be rebuilt; pass grid=.")
    pts = incidents.to_crs(plan.crs) if incidents.crs is not None and not incidents.crs.equals(plan.crs) else incidents
    return make_grid(pts, cell_size_m=meta["cell_size_m"], shape=meta["shape"])


def _counts(incidents, grid, t0: pd.Timestamp, t1: pd.Timestamp) -> np.ndarray:
    part = filter_incidents(incidents, start=t0, end=t1)
    weights = part["weight"].to_numpy(np.float64) if "weight" in part.columns else None
    return count_in_cells(assign_cells(part, grid), len(grid), weights)


def _match(treated: np.ndarray, pool: np.ndarray, before: np.ndarray, k: int) -> np.ndarray:
    """``k`` controls per treated cell with the closest before count, without replacement."""
    available = pool[np.argsort(before[pool], kind="stable")]
    values = before[available]
    taken = np.zeros(available.size, dtype=bool)
    chosen: list[int] = []
    for t in treated[np.argsort(-before[treated], kind="stable")]:
        for _ in range(k):
            if taken.all():
                return np.array(chosen, dtype=np.int64)
            j = int(np.searchsorted(values, before[t]))
            lo, hi = j - 1, j
            while lo >= 0 and taken[lo]:
                lo -= 1
            while hi < available.size and taken[hi]:
                hi += 1
            if hi >= available.size or (lo >= 0 and before[t] - values[lo] <= values[hi] - before[t]):
                pick = lo
            else:
                pick = hi
            taken[pick] = True
            chosen.append(int(available[pick]))
    return np.array(chosen, dtype=np.int64)


def _log_rr(bt: float, at: float, bc: float, ac: float) -> tuple[float, float, bool]:
    corrected = min(bt, at, bc, ac) <= 0
    if corrected:
        bt, at, bc, ac = bt + 0.5, at + 0.5, bc + 0.5, ac + 0.5
    return math.log((at / bt) / (ac / bc)), 1 / at + 1 / bt + 1 / ac + 1 / bc, corrected


def _did(before, after, t_pos, c_pos) -> dict[str, Any]:
    bt, at = before[t_pos].sum(), after[t_pos].sum()
    bc, ac = before[c_pos].sum(), after[c_pos].sum()
    log_rr, var, corrected = _log_rr(bt, at, bc, ac)
    # quasi-Poisson dispersion: each cell-period's fitted mean is its group's mean
    y = np.concatenate([before[t_pos], after[t_pos], before[c_pos], after[c_pos]])
    mu = np.concatenate([np.full(t_pos.size, bt / t_pos.size), np.full(t_pos.size, at / t_pos.size),
                         np.full(c_pos.size, bc / c_pos.size), np.full(c_pos.size, ac / c_pos.size)])
    ok = mu > 0
    dof = y.size - 4
    dispersion = max(1.0, float(((y[ok] - mu[ok]) ** 2 / mu[ok]).sum() / dof)) if dof > 0 else 1.0
    se = math.sqrt(dispersion * var)
    z = log_rr / se
    return {
        "estimate": math.exp(log_rr), "ci_low": math.exp(log_rr - 1.959963984540054 * se),
        "ci_high": math.exp(log_rr + 1.959963984540054 * se), "p_value": float(2 * norm.sf(abs(z))),
        "dispersion": dispersion, "continuity_correction": corrected,
        "treated_before": float(bt), "treated_after": float(at), "control_before": float(bc), "control_after": float(ac),
    }
