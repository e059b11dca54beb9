"""From incidents to a patrol plan in one call (what ``intel patrol`` runs): area, data, model, shifts.

1. keep the chosen area (``area_column == area``) and, unless told otherwise, only the
   reported incidents (:func:`reported_only`);
2. grid the area: a regular grid over its incidents, keeping the cells that held at
   least one of its incidents before the date (so patrols are never sent outside the
   area, nor to land where nothing has ever been recorded);
3. fit the model on the incidents before the date and predict the risk over the
   horizon;
4. split the risk across shifts by each cell's hour-of-day profile over the last
   ``profile_weeks``, shrunk toward the area's profile: ``share_cs = (n_cs + k g_s) /
   (n_c + k)`` with ``n_cs`` the cell's incidents in shift ``s``, ``g_s`` the area's share
   of incidents in that shift and ``k = PROFILE_PRIOR`` pseudo-incidents, so a cell
   with few incidents follows the area's profile; incidents with a day or month time
   resolution are spread over the shifts by their length;
5. :func:`recommend_patrols`.
"""

from __future__ import annotations

from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .._incidents import check_incidents, filter_incidents
from .._provenance import announce, attach, make_record
from ..exceptions import InputError
from ..grid import assign_cells, count_in_cells, make_grid
from ._common import Shift, parse_shifts, parse_time
from ._plan import recommend_patrols
from ._safeguards import reported_only

__all__ = ["plan_from_incidents", "build_patrol_scores"]

PROFILE_PRIOR = 10.0
DEFAULT_MODEL = "naive"


def plan_from_incidents(incidents: gpd.GeoDataFrame, *, date: Any, shifts: Sequence[str] | str = ("06-14", "14-22", "22-06"),
                        area_column: str | None = None, area: Any = None, cell_size_m: float = 150.0,
                        model: str = DEFAULT_MODEL, horizon: str = "7D", include_discovered: bool = False,
                        discovered_categories: Sequence[str] | None = None, cap_column: str | None = None,
                        **plan_kwargs: Any) -> gpd.GeoDataFrame:
    """Scores from :func:`build_patrol_scores`, then :func:`recommend_patrols` with ``plan_kwargs``.

    ``cap_column`` names the sub-areas (e.g. ``"beat"``) that ``max_share_per_area`` caps;
    each cell takes the most common value among its incidents.
    """
    scores = build_patrol_scores(incidents, date=date, shifts=shifts, area_column=area_column, area=area,
                                 cell_size_m=cell_size_m, model=model, horizon=horizon,
                                 include_discovered=include_discovered, discovered_categories=discovered_categories,
                                 label_column=cap_column)
    plan = recommend_patrols(scores, shifts=shifts, date=date, area_column=cap_column, **plan_kwargs)
    plan.attrs["scores"] = {k: scores.attrs[k] for k in ("patrol_scores",) if k in scores.attrs}
    return plan


def build_patrol_scores(incidents: gpd.GeoDataFrame, *, date: Any, shifts: Sequence[str] | str = ("06-14", "14-22", "22-06"),
                        area_column: str | None = None, area: Any = None, cell_size_m: float = 150.0,
                        model: str = DEFAULT_MODEL, horizon: str = "7D", include_discovered: bool = False,
                        discovered_categories: Sequence[str] | None = None, label_column: str | None = None,
                        profile_weeks: int = 52) -> gpd.GeoDataFrame:
    """CellScores for patrol planning: ``risk``, ``risk_<shift>`` and ``n`` (see the module docstring),
    plus ``label_column`` (the most common value among each cell's incidents) when given."""
    owner = "patrol"
    check_incidents(incidents, owner=owner, need=("geometry", "occurred_at"))
    shift_list = parse_shifts(shifts, owner)
    origin = _as_origin(date, incidents, owner)
    if (area_column is None) != (area is None):
        raise InputError(f"{owner}: give both the area column and the area (e.g. --area-column district --area 11), or neither.")
    if area_column is not None:
        incidents = _select_area(incidents, area_column, area, owner)
    data = reported_only(incidents, include_discovered=include_discovered, discovered_categories=discovered_categories)
    history = data.loc[(data["occurred_at"] < origin).to_numpy(bool)]
    if len(history) == 0:
        raise InputError(f"{owner}: no incidents before {origin.date()} to learn from"
                         + (f" in {area_column} {area}" if area_column else "") + ".")
    full = make_grid(history, cell_size_m=cell_size_m)
    grid = full.loc[count_in_cells(assign_cells(history, full), len(full)) > 0]
    grid.attrs = dict(full.attrs)
    fitted, label = _fit(model, data, grid, origin, owner)
    scores = fitted.predict(horizon=horizon)
    recent = filter_incidents(history, start=origin - pd.Timedelta(weeks=profile_weeks), end=origin)
    pos = assign_cells(recent, scores)
    scores["n"] = count_in_cells(pos, len(scores), recent["weight"].to_numpy(np.float64) if "weight" in recent.columns else None)
    shares, area_profile = _shift_shares(recent, pos, len(scores), shift_list)
    for k, s in enumerate(shift_list):
        scores[s.column] = scores["risk"].to_numpy() * shares[:, k]
    if label_column is not None:
        scores[label_column] = _cell_labels(history, label_column, scores, owner)
    scores.attrs["grid"] = dict(grid.attrs["grid"])
    scores.attrs["detection"] = data.attrs["detection"]
    info = {"model": label, "origin": origin.isoformat(), "horizon": horizon, "area_column": area_column,
            "area": None if area is None else str(area), "n_training": int(len(history)), "n_cells": int(len(scores)),
            "profile_weeks": profile_weeks, "profile_prior": PROFILE_PRIOR,
            "area_shift_profile": {s.label: float(v) for s, v in zip(shift_list, area_profile)}}
    scores.attrs["patrol_scores"] = info
    return attach(scores, make_record("build_patrol_scores", {"model": model, "date": str(date), "horizon": horizon,
                                                              "cell_size_m": cell_size_m}, extra=info))


def _as_origin(date: Any, incidents: gpd.GeoDataFrame, owner: str) -> pd.Timestamp:
    ts = parse_time(date, owner, "date")
    tz = incidents["occurred_at"].dt.tz
    return ts.tz_localize(tz) if ts.tzinfo is None and tz is not None else ts


def _select_area(incidents: gpd.GeoDataFrame, column: str, area: Any, owner: str) -> gpd.GeoDataFrame:
    if column not in incidents.columns:
        raise InputError(f"{owner}: the incidents have no column {column!r}; columns are {list(incidents.columns)[:25]}.")
    values = incidents[column]
    wanted = str(area).strip()
    if pd.api.types.is_numeric_dtype(values):
        try:
            mask = (values == float(wanted)).fillna(False).to_numpy(bool)
        except ValueError as exc:
            raise InputError(f"{owner}: {column} holds numbers; {area!r} is not one.") from exc
    else:
        mask = values.astype("string").str.strip().str.casefold().eq(wanted.casefold()).fillna(False).to_numpy(bool)
    if not mask.any():
        sample = ", ".join(map(str, pd.unique(values.dropna())[:10]))
        raise InputError(f"{owner}: no incidents with {column} == {area!r}; values include {sample}.")
    return incidents.loc[mask]


def _cell_labels(history: gpd.GeoDataFrame, column: str, cells: gpd.GeoDataFrame, owner: str) -> np.ndarray:
    if column not in history.columns:
        raise InputError(f"{owner}: the incidents have no column {column!r} to cap by; columns are {list(history.columns)[:25]}.")
    pos = assign_cells(history, cells)
    frame = pd.DataFrame({"cell": pos, "label": history[column].astype(object).to_numpy()})
    frame = frame[(frame["cell"] >= 0) & frame["label"].notna()]
    top = frame.groupby(["cell", "label"]).size().reset_index(name="k").sort_values(["cell", "k"], ascending=[True, False],
                                                                                     kind="stable")
    labels = np.full(len(cells), None, dtype=object)
    first = top.drop_duplicates("cell")
    labels[first["cell"].to_numpy()] = first["label"].to_numpy()
    return labels


def _fit(model: str, incidents: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, origin: pd.Timestamp, owner: str):
    from ..evaluate import model_label, models_from_names

    name = str(model).strip().lower()
    candidates = models_from_names([name], owner=f"{owner} --model")
    chosen = candidates.get("RecentCount(weeks=52)") if name == "naive" else next(iter(candidates.values()))
    if chosen is None:  # pragma: no cover - "naive" always holds the 52-week count
        chosen = next(iter(candidates.values()))
    announce("%s: risk from %s fitted on the incidents before %s", owner, model_label(chosen), origin.date())
    return chosen.fit(incidents, grid=grid, origin=origin), model_label(chosen)


def _shift_shares(recent: gpd.GeoDataFrame, pos: np.ndarray, n_cells: int, shifts: list[Shift]) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the share of its incidents in each shift, shrunk toward the area's shares."""
    local = recent["occurred_at"]
    minute = (local.dt.hour * 60 + local.dt.minute).to_numpy()
    coarse = np.zeros(len(recent), dtype=bool)
    if "time_resolution" in recent.columns:
        coarse = recent["time_resolution"].astype("string").isin(["day", "month"]).fillna(False).to_numpy(bool)
    lengths = np.array([s.minutes for s in shifts], dtype=np.float64)
    counts = np.zeros((n_cells, len(shifts)))
    inside = pos >= 0
    for k, s in enumerate(shifts):
        weight = np.where(coarse, lengths[k] / 1440.0, s.contains_minute_of_day(minute).astype(np.float64))
        counts[:, k] = np.bincount(pos[inside], weights=weight[inside], minlength=n_cells)
    total = counts.sum(axis=0)
    area = total / total.sum() if total.sum() > 0 else lengths / lengths.sum()
    shares = (counts + PROFILE_PRIOR * area[None, :]) / (counts.sum(axis=1, keepdims=True) + PROFILE_PRIOR)
    # shifts that overlap or leave hours out: shares are per shift, not a partition of the day
    return shares, area
