"""Checks and small helpers shared by the patrol modules: cell scores, shifts, seeds, points."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._incidents import check_metric_crs
from .._validation import check_random_state
from ..exceptions import InputError

_SHIFT_RE = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")
DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Shift:
    """A shift of the day: ``label`` as the user wrote it, start and length in minutes."""

    label: str
    start_minute: int
    minutes: int

    @property
    def column(self) -> str:
        """The per-shift risk column models write, e.g. ``risk_06_14``."""
        return "risk_" + re.sub(r"[^0-9A-Za-z]+", "_", self.label).strip("_")

    def clock(self, offset_minutes: int) -> str:
        """``HH:MM`` of the instant ``offset_minutes`` after the shift starts (wrapping at midnight)."""
        m = (self.start_minute + int(offset_minutes)) % DAY_MINUTES
        return f"{m // 60:02d}:{m % 60:02d}"

    def contains_minute_of_day(self, minute: np.ndarray) -> np.ndarray:
        """Whether each minute of the day (0-1439) falls in the shift."""
        return ((np.asarray(minute) - self.start_minute) % DAY_MINUTES) < self.minutes


def parse_shifts(shifts: Any, owner: str) -> list[Shift]:
    """Turn ``("06-14", "14-22", "22-06")`` (or one comma-separated string) into :class:`Shift` objects."""
    if isinstance(shifts, str):
        shifts = [s for s in shifts.split(",") if s.strip()]
    if not isinstance(shifts, (list, tuple)) or not shifts:
        raise InputError(f"The 'shifts' parameter of {owner} must be a list of 'HH-HH' strings such as ('06-14', '14-22', '22-06'). Got {shifts!r} instead.")
    out: list[Shift] = []
    for s in shifts:
        m = _SHIFT_RE.match(str(s))
        if m is None:
            raise InputError(f"{owner}: cannot read the shift {s!r}; write it as 'HH-HH' or 'HH:MM-HH:MM', e.g. '22-06'.")
        h0, m0, h1, m1 = (int(g) if g else 0 for g in m.groups())
        if h0 > 24 or h1 > 24 or m0 > 59 or m1 > 59:
            raise InputError(f"{owner}: the shift {s!r} has an impossible time of day.")
        start, end = (h0 * 60 + m0) % DAY_MINUTES, (h1 * 60 + m1) % DAY_MINUTES
        minutes = (end - start) % DAY_MINUTES
        if (h1 * 60 + m1) - (h0 * 60 + m0) == DAY_MINUTES:
            minutes = DAY_MINUTES
        if minutes == 0:
            raise InputError(f"{owner}: the shift {s!r} starts and ends at the same time; write a 24-hour shift as '00-24'.")
        out.append(Shift(str(s).strip(), start, minutes))
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        raise InputError(f"{owner}: shifts must be distinct; got {labels}.")
    return out


def check_cells(cells: Any, owner: str, *, name: str = "scores") -> gpd.GeoDataFrame:
    """Check that ``cells`` is a CellScores/Grid GeoDataFrame of polygons in a metric CRS."""
    if not isinstance(cells, gpd.GeoDataFrame):
        raise InputError(
            f"{owner}: {name} must be CellScores (a GeoDataFrame of grid cells, e.g. from intel.score_counts or a "
            f"model's predict()); got {type(cells).__name__}."
        )
    if len(cells) == 0:
        raise InputError(f"{owner}: {name} has no cells.")
    check_metric_crs(cells.crs, owner=owner, what=name)
    types = set(cells.geom_type.dropna().unique())
    if types - {"Polygon", "MultiPolygon"}:
        raise InputError(f"{owner}: {name} must be polygons (grid cells); found {sorted(types)}.")
    if cells.index.has_duplicates:
        raise InputError(f"{owner}: {name} has repeated cell ids; give one row per cell.")
    return cells


def numeric_column(cells: pd.DataFrame, column: str, owner: str, *, what: str) -> np.ndarray:
    """A column as float64, non-negative and finite (missing counts as 0), with a clear error otherwise."""
    if column not in cells.columns:
        raise InputError(f"{owner}: {what} column {column!r} is not in the table; it has {list(cells.columns)[:20]}.")
    values = pd.to_numeric(cells[column], errors="coerce").to_numpy(np.float64)
    values = np.where(np.isnan(values), 0.0, values)
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError(f"{owner}: {what} column {column!r} must hold finite values >= 0.")
    return values


def cell_centres(cells: gpd.GeoDataFrame) -> np.ndarray:
    """``(n, 2)`` array of cell centroids."""
    c = shapely.centroid(cells.geometry.values)
    return np.column_stack([shapely.get_x(c), shapely.get_y(c)])


def seed_generator(random_state: Any) -> tuple[np.random.Generator, Any, dict[str, Any]]:
    """Generator, the seed to record, and an ``automatic`` entry when intel drew the seed.

    Patrol times must not be predictable from the public code, so an omitted seed is
    drawn from the operating system's entropy (never from the date) and recorded, so
    that the plan can still be reproduced exactly by whoever holds it.
    """
    if random_state is None:
        seed = secrets.randbits(63)
        rule = "drawn from the operating system's entropy so visit times cannot be predicted; pass random_state=<this> to reproduce"
        return np.random.default_rng(seed), seed, {"random_state": {"value": seed, "rule": rule}}
    rng = check_random_state(random_state)
    seed = random_state if not isinstance(random_state, np.random.Generator) else "Generator"
    return rng, seed, {}


def point_xy(point: Any, crs: Any, owner: str, name: str) -> tuple[float, float]:
    """Coordinates of a point given as ``(x, y)`` in ``crs``, a shapely Point, or a one-row GeoDataFrame/GeoSeries."""
    if isinstance(point, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = point.geometry if isinstance(point, gpd.GeoDataFrame) else point
        if len(geoms) != 1:
            raise InputError(f"{owner}: {name} must be one point; got {len(geoms)} rows.")
        if geoms.crs is not None and crs is not None and not geoms.crs.equals(crs):
            geoms = geoms.to_crs(crs)
        point = geoms.iloc[0]
    if isinstance(point, shapely.Geometry):
        if point.geom_type != "Point" or point.is_empty:
            raise InputError(f"{owner}: {name} must be a point; got {point.geom_type}.")
        return float(point.x), float(point.y)
    if isinstance(point, Sequence) and len(point) == 2:
        try:
            x, y = float(point[0]), float(point[1])
        except (TypeError, ValueError):
            x = y = float("nan")
        if np.isfinite(x) and np.isfinite(y):
            return x, y
    raise InputError(f"{owner}: {name} must be (x, y) in the plan's CRS, a shapely Point or a one-row GeoDataFrame; got {point!r}.")


def check_plan(plan: Any, owner: str) -> gpd.GeoDataFrame:
    """Check that ``plan`` is a PatrolPlan from :func:`intel.recommend_patrols`."""
    if not isinstance(plan, gpd.GeoDataFrame) or not {"shift", "place_id", "minutes", "cell_ids"} <= set(plan.columns):
        raise InputError(f"{owner}: plan must be a PatrolPlan from intel.recommend_patrols; got {type(plan).__name__}.")
    return plan


def parse_time(value: Any, owner: str, name: str) -> pd.Timestamp:
    """``value`` as a Timestamp, with a clear error for anything that is not a date or time."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise InputError(f"The {name!r} parameter of {owner} must be a date such as '2018-06-04'. Got {value!r} instead.")
    return ts
