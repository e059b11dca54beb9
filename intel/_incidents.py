"""The Incidents table: its column contract and the checks every verb runs on it.

An Incidents table is a plain :class:`geopandas.GeoDataFrame`, one row per incident:

==================  ===========================================================
column              contract
==================  ===========================================================
``incident_id``     string, unique
``occurred_at``     tz-aware datetime64 (start of the occurrence window)
``occurred_to``     tz-aware datetime64, NaT when the source gives one time
``time_resolution`` ``"minute"``, ``"hour"``, ``"day"`` or ``"month"``
``category``        string (offence type as the source names it)
``weight``          float, 1.0 unless the source or user says otherwise
``detection``       ``"reported"`` (by the public), ``"discovered"`` (by police
                    activity) or missing (unknown)
``source_row``      1-based position of the row among the source's data rows
``geometry``        points in a projected CRS whose unit is the metre
==================  ===========================================================

plus the source's other, non-personal columns in snake_case.

Spatial verbs need only ``geometry`` (and ``weight`` if present); temporal verbs
also need ``occurred_at``. :func:`incident_points` returns what spatial verbs need.
"""

from __future__ import annotations

from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._provenance import announce
from .exceptions import CRSError, InputError

INCIDENT_COLUMNS = (
    "incident_id",
    "occurred_at",
    "occurred_to",
    "time_resolution",
    "category",
    "weight",
    "detection",
    "source_row",
    "geometry",
)
TIME_RESOLUTIONS = ("minute", "hour", "day", "month")


def check_incidents(incidents: object, *, owner: str, need: Iterable[str] = ("geometry",)) -> gpd.GeoDataFrame:
    """Check that ``incidents`` is a GeoDataFrame of points with the columns ``need``.

    Raises
    ------
    InputError
        Not a GeoDataFrame, missing columns, or non-point geometry.
    CRSError
        No CRS, or a geographic / non-metre CRS.
    """
    if not isinstance(incidents, gpd.GeoDataFrame):
        raise InputError(
            f"{owner} needs an Incidents GeoDataFrame (from intel.read_incidents); got {type(incidents).__name__}. "
            "Load the data with intel.read_incidents(...) first."
        )
    missing = [c for c in need if c not in incidents.columns and not (c == "geometry" and incidents.geometry is not None)]
    if missing:
        raise InputError(
            f"{owner}: the incidents table lacks the column(s) {missing}. "
            f"It has {list(incidents.columns)[:20]}. Load it with intel.read_incidents, which produces them."
        )
    if len(incidents):
        # type ids (0 = Point, -1 = missing) cost a fraction of geom_type's strings on millions of rows
        type_ids = np.bincount(shapely.get_type_id(incidents.geometry.values) + 1, minlength=2)
        if type_ids[2:].any():
            types = set(incidents.geom_type.dropna().unique())
            raise InputError(f"{owner}: incidents must be points; found geometry types {sorted(types)}.")
    check_metric_crs(incidents.crs, owner=owner, what="incidents")
    return incidents


def check_metric_crs(crs: object, *, owner: str, what: str) -> None:
    """Raise :class:`CRSError` unless ``crs`` is projected with metre units."""
    if crs is None:
        raise CRSError(
            f"{owner}: the {what} have no CRS. Set it with .set_crs('EPSG:xxxx') (what the coordinates are), "
            "then project with .to_crs(...) to a metric CRS, or load through intel.read_incidents which does both."
        )
    if not crs.is_projected:
        raise CRSError(
            f"{owner}: the {what} are in a geographic CRS ({crs.to_string()}), whose unit is the degree. "
            f"Project them first, e.g. {what}.to_crs({what}.estimate_utm_crs()); intel.read_incidents does this for you."
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    if unit not in ("metre", "meter"):
        raise CRSError(
            f"{owner}: the {what}' CRS ({crs.to_string()}) is in {unit}, not metres. "
            f"Reproject, e.g. {what}.to_crs({what}.estimate_utm_crs())."
        )


def incident_points(incidents: gpd.GeoDataFrame, *, owner: str, weights: object = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``x``, ``y`` and ``w`` float64 arrays for the incidents (empty points dropped).

    ``weights`` is ``None`` (use the ``weight`` column if present, else 1), a column name,
    or an array of one weight per row.
    """
    check_incidents(incidents, owner=owner)
    geom = incidents.geometry
    x = np.asarray(geom.x, dtype=np.float64)
    y = np.asarray(geom.y, dtype=np.float64)
    if weights is None:
        w = incidents["weight"].to_numpy(np.float64) if "weight" in incidents.columns else np.ones(len(x))
    elif isinstance(weights, str):
        if weights not in incidents.columns:
            raise InputError(f"{owner}: weights={weights!r} is not a column of the incidents.")
        w = pd.to_numeric(incidents[weights], errors="coerce").to_numpy(np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != x.shape:
            raise InputError(f"{owner}: weights has {w.size} values for {x.size} incidents.")
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    if not ok.all():
        announce("%s: %d incidents with empty geometry or missing weight were left out", owner, int((~ok).sum()))
    return x[ok], y[ok], w[ok]


def filter_incidents(
    incidents: gpd.GeoDataFrame,
    *,
    categories: Iterable[str] | None = None,
    start: object = None,
    end: object = None,
) -> gpd.GeoDataFrame:
    """Keep incidents of the given categories with ``start <= occurred_at < end``.

    ``start``/``end`` are dates or timestamps; naive ones are read in the incidents' time zone.
    """
    mask = np.ones(len(incidents), dtype=bool)
    if categories:
        wanted = {str(c).casefold() for c in categories}
        mask &= incidents["category"].astype(str).str.casefold().isin(wanted).to_numpy()
    if start is not None or end is not None:
        times = incidents["occurred_at"]
        tz = times.dt.tz
        if start is not None:
            mask &= (times >= _as_time(start, tz)).to_numpy()
        if end is not None:
            mask &= (times < _as_time(end, tz)).to_numpy()
    return incidents.loc[mask]


def _as_time(value: object, tz: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None and tz is not None:
        ts = ts.tz_localize(tz)
    elif tz is not None:
        ts = ts.tz_convert(tz)
    return ts
