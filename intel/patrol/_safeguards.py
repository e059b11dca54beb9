"""Safeguards against the patrol feedback loop: reported-only data and the per-area audit."""

from __future__ import annotations

import warnings
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._incidents import check_incidents
from .._provenance import announce, attach, make_record
from ..exceptions import DataQualityWarning, InputError
from ..grid import as_grid, assign_cells
from ._common import check_plan

__all__ = ["reported_only", "audit_patrols"]


def reported_only(
    incidents: gpd.GeoDataFrame,
    *,
    include_discovered: bool = False,
    discovered_categories: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Keep the incidents reported by the public, for forecasts that steer patrols.

    Incidents that police find themselves (``detection == "discovered"``: drugs,
    weapons, stops) are found where officers already are; a forecast built on them
    sends officers back to the same places, which find more, and so on (the runaway
    feedback loop of Ensign et al. 2018). Forecasts for patrol use therefore leave them
    out unless the user opts in.

    Parameters
    ----------
    incidents : GeoDataFrame
        An Incidents table. Its ``detection`` column holds ``"reported"``,
        ``"discovered"`` or missing (unknown). Rows with an unknown detection are kept
        (they cannot be told apart) and counted in the record.
    include_discovered : bool
        Keep discovered incidents too. Doing so warns (``DataQualityWarning``) when
        there are any, because they feed patrol presence back into the forecast.
    discovered_categories : iterable of str, optional
        Categories that count as discovered whatever ``detection`` says (matched
        case-insensitively), for sources without a detection field: offences that
        mostly come to light through police activity, e.g. ``("NARCOTICS",
        "WEAPONS VIOLATION", "PROSTITUTION")`` for Chicago.

    Returns
    -------
    GeoDataFrame
        A copy with the rows kept; ``attrs["detection"]`` records the setting and the
        counts (``n_reported``, ``n_discovered``, ``n_unknown``, ``n_dropped``), which
        :func:`recommend_patrols` copies into the plan's safeguards when the scores
        carry it.

    Warns
    -----
    DataQualityWarning
        When ``include_discovered=True`` and discovered incidents are kept, or when
        there is no ``detection`` column at all (nothing can be dropped).

    Examples
    --------
    >>> import intel
    >>> from intel.patrol import reported_only
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> incidents.loc[:9, "detection"] = "discovered"
    >>> kept = reported_only(incidents)
    >>> len(incidents) - len(kept), kept.attrs["detection"]["n_dropped"]
    (10, 10)
    """
    owner = "reported_only"
    check_incidents(incidents, owner=owner)
    if not isinstance(include_discovered, (bool, np.bool_)):
        raise InputError(f"The 'include_discovered' parameter of {owner} must be True or False. Got {include_discovered!r} instead.")
    out = incidents.copy()
    if discovered_categories is not None:
        if isinstance(discovered_categories, str):
            discovered_categories = [discovered_categories]
        wanted = {str(c).casefold() for c in discovered_categories}
        if "category" not in incidents.columns:
            raise InputError(f"{owner}: discovered_categories needs a 'category' column in the incidents.")
        by_category = incidents["category"].astype("string").str.casefold().isin(wanted).fillna(False).to_numpy(bool)
        detection = out["detection"].astype("string") if "detection" in out.columns else pd.Series(pd.NA, index=out.index, dtype="string")
        out["detection"] = detection.where(~by_category, "discovered")
        incidents = out
    if "detection" not in incidents.columns:
        warnings.warn(
            f"{owner}: the incidents have no 'detection' column, so reported and discovered incidents cannot be told "
            "apart and all are kept. Map the source's field with --map detection=COLUMN (values 'reported'/'discovered').",
            DataQualityWarning, stacklevel=2,
        )
        record = {"setting": "include all (no detection column)", "on": False, "include_discovered": include_discovered,
                  "n_reported": None, "n_discovered": None, "n_unknown": len(incidents), "n_dropped": 0}
    else:
        detection = incidents["detection"].astype("string").str.strip().str.casefold()
        discovered = (detection == "discovered").fillna(False).to_numpy(bool)
        reported = (detection == "reported").fillna(False).to_numpy(bool)
        n_disc = int(discovered.sum())
        if include_discovered:
            if n_disc:
                warnings.warn(
                    f"{owner}: {n_disc:,} incidents discovered by police activity are kept (include_discovered=True). "
                    "They are found where patrols already are, so a forecast built on them sends patrols back there: "
                    "the runaway feedback loop (Ensign et al. 2018). Check the plan with intel.audit_patrols.",
                    DataQualityWarning, stacklevel=2,
                )
        else:
            out = out.loc[~discovered]
            if n_disc:
                announce("%s: %d incidents discovered by police activity left out of the forecast data", owner, n_disc)
        record = {"setting": "reported and unknown only" if not include_discovered else "reported, discovered and unknown",
                  "on": not include_discovered, "include_discovered": include_discovered,
                  "n_reported": int(reported.sum()), "n_discovered": n_disc,
                  "n_unknown": int(len(incidents) - reported.sum() - n_disc),
                  "n_dropped": 0 if include_discovered else n_disc}
    if discovered_categories is not None:
        record["discovered_categories"] = sorted(wanted)
    out.attrs = dict(incidents.attrs)
    out.attrs["detection"] = record
    params = {"include_discovered": include_discovered,
              "discovered_categories": None if discovered_categories is None else sorted(wanted)}
    return attach(out, make_record(owner, params, extra={"detection": record}))


def audit_patrols(
    plan: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame,
    *,
    area_column: str | None = None,
    areas: gpd.GeoDataFrame | None = None,
    id_column: str | None = None,
) -> pd.DataFrame:
    """Per area (beat, district): share of patrol minutes against share of reported incidents.

    A ratio well above 1 means an area gets more patrol than its share of what the
    public reports; patrols that follow discovered incidents, or a forecast gone
    stale, show up here first.

    Parameters
    ----------
    plan : GeoDataFrame
        A PatrolPlan from :func:`recommend_patrols`.
    incidents : GeoDataFrame
        Incidents over the period to compare with (e.g. the forecast's training
        window). Only reported ones count (``detection`` not ``"discovered"``).
    area_column : str, optional
        Column naming the area in both the plan (``recommend_patrols(...,
        area_column=)`` adds it) and the incidents (e.g. ``"district"``, ``"beat"``).
    areas : GeoDataFrame, optional
        Area polygons instead: each place counts in the area holding its
        representative point, each incident in the area holding it.
    id_column : str, optional
        With ``areas``: the column naming each area (default: the index).

    Returns
    -------
    DataFrame
        Indexed by ``area``: ``minutes``, ``minutes_share``, ``n_reported``,
        ``incident_share`` and ``ratio`` (minutes share / incident share; ``inf``
        where an area has patrol but no reported incidents, NaN where it has
        neither), sorted by area. ``attrs["audit"]`` holds the largest ratio and
        the number of places outside every area.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> grid["sector"] = (grid["col"] % 2).map({0: "A", 1: "B"})
    >>> scores = intel.score_counts(incidents, grid)
    >>> plan = intel.recommend_patrols(scores, area_column="sector", random_state=0)
    >>> incidents["sector"] = scores["sector"].to_numpy()[intel.assign_cells(incidents, grid)]
    >>> audit = intel.audit_patrols(plan, incidents, area_column="sector")
    >>> round(float(audit["minutes_share"].sum()), 6)
    1.0
    """
    owner = "audit_patrols"
    check_plan(plan, owner)
    check_incidents(incidents, owner=owner)
    if (area_column is None) == (areas is None):
        raise InputError(f"{owner}: give either area_column= (a column of both the plan and the incidents) or areas= (polygons).")
    if "detection" in incidents.columns:
        incidents = incidents.loc[incidents["detection"].astype("string").str.casefold().ne("discovered").fillna(True).to_numpy(bool)]
    outside = 0
    if area_column is not None:
        for what, table in (("plan", plan), ("incidents", incidents)):
            if area_column not in table.columns:
                hint = " (pass area_column= to recommend_patrols)" if what == "plan" else ""
                raise InputError(f"{owner}: area_column={area_column!r} is not a column of the {what}{hint}.")
        place_area = plan[area_column].astype(object).to_numpy()
        incident_area = incidents[area_column].astype(object).to_numpy()
        labels = None
    else:
        if not isinstance(areas, gpd.GeoDataFrame):
            raise InputError(f"{owner}: areas must be a GeoDataFrame of polygons; got {type(areas).__name__}.")
        cells = as_grid(areas.to_crs(plan.crs) if areas.crs is not None and not areas.crs.equals(plan.crs) else areas,
                        id_column=id_column)
        labels = cells.index.to_numpy(dtype=object)
        pts = shapely.point_on_surface(plan.geometry.values)
        pos = assign_cells((shapely.get_x(pts), shapely.get_y(pts)), cells)
        outside = int((pos < 0).sum())
        place_area = np.where(pos >= 0, labels[np.maximum(pos, 0)], None)
        inc = incidents.to_crs(cells.crs) if not incidents.crs.equals(cells.crs) else incidents
        ipos = assign_cells(inc, cells)
        incident_area = np.where(ipos >= 0, labels[np.maximum(ipos, 0)], None)
    minutes = pd.Series(plan["minutes"].to_numpy(np.float64), index=pd.Index(place_area, dtype=object)).groupby(level=0).sum()
    weights = incidents["weight"].to_numpy(np.float64) if "weight" in incidents.columns else np.ones(len(incidents))
    counts = pd.Series(weights, index=pd.Index(incident_area, dtype=object)).groupby(level=0).sum()
    index = pd.Index(sorted(set(minutes.index) | set(counts.index) | set(labels if labels is not None else []),
                            key=lambda v: (str(type(v)), v)), dtype=object, name="area")
    table = pd.DataFrame({"minutes": minutes.reindex(index, fill_value=0.0), "n_reported": counts.reindex(index, fill_value=0.0)})
    table["minutes_share"] = table["minutes"] / table["minutes"].sum() if table["minutes"].sum() > 0 else 0.0
    table["incident_share"] = table["n_reported"] / table["n_reported"].sum() if table["n_reported"].sum() > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio"] = table["minutes_share"].to_numpy() / table["incident_share"].to_numpy()
    table = table[["minutes", "minutes_share", "n_reported", "incident_share", "ratio"]]
    finite = table["ratio"].replace(np.inf, np.nan)
    table.attrs["audit"] = {
        "max_ratio": float(table["ratio"].max()) if len(table) else None,
        "area_with_max_ratio": table["ratio"].idxmax() if len(table) and table["ratio"].notna().any() else None,
        "max_finite_ratio": float(finite.max()) if finite.notna().any() else None,
        "places_outside_areas": outside,
    }
    params = {"area_column": area_column, "areas": areas is not None, "id_column": id_column}
    return attach(table, make_record(owner, params, extra={"n_areas": len(table), "n_incidents": len(incidents)}))

