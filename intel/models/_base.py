"""The interface every risk model implements, and the one place that cuts off the future.

A risk model answers "how many incidents should we expect in each cell over the next
``horizon``?". Every model is a scikit-learn estimator:

- ``__init__`` stores keyword-only hyper-parameters and nothing else, so
  :func:`sklearn.base.clone` and ``get_params`` / ``set_params`` work;
- ``fit(incidents, *, grid, origin)`` validates the parameters, keeps **only the
  incidents with** ``occurred_at < origin`` (here, centrally, so that no model can see
  the future), and sets ``grid_``, ``origin_``, ``n_train_`` plus the model's own
  attributes ending in ``_``;
- ``predict_risk(*, horizon="7D")`` returns the expected number of incidents per cell
  (grid order) over ``[origin_, origin_ + horizon)``;
- ``predict(*, horizon="7D")`` returns CellScores: the grid's rows plus ``risk`` and
  ``rank`` (1 = highest), with ``attrs["provenance"]``.

Subclasses implement ``_fit(events)`` and ``_predict(horizon_days)``, and may narrow the
training data with ``_lookback_days()`` (only the last so many days before the origin
are read, which keeps rolling backtests on millions of rows fast).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sklearn.base import BaseEstimator

from .._incidents import check_incidents, check_metric_crs
from .._provenance import attach, make_record
from ..exceptions import DataQualityWarning, InputError, NotFittedError
from ..grid import assign_cells, resolve_grid

__all__ = ["RiskModel", "Events", "as_horizon_days", "duration_days"]

_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@dataclass
class Events:
    """The training incidents of one fit, as plain arrays (one entry per incident).

    ``t`` is the time in days relative to the origin (always negative), ``cell`` the
    position of the grid cell holding the point (-1 outside the grid). ``rows`` are the
    incidents' positions in the table given to ``fit``, for models that need more columns.
    ``incidents`` is that whole table, future included: it is there only so that models
    wrapping other models can fit them (each member makes its own cut at the origin);
    read other columns through ``rows``.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    w: np.ndarray
    cell: np.ndarray
    rows: np.ndarray
    n_cells: int
    origin: pd.Timestamp
    incidents: gpd.GeoDataFrame = field(repr=False)

    def __len__(self) -> int:
        return int(self.x.size)

    def counts(self, start_days: float = -np.inf, end_days: float = 0.0) -> np.ndarray:
        """Weighted count per cell of the events with ``start_days <= t < end_days``."""
        keep = (self.t >= start_days) & (self.t < end_days) & (self.cell >= 0)
        return np.bincount(self.cell[keep], weights=self.w[keep], minlength=self.n_cells).astype(np.float64)

    def local_times(self) -> pd.Series:
        """``occurred_at`` of the training events, in the incidents' own time zone."""
        return self.incidents["occurred_at"].iloc[self.rows].reset_index(drop=True)


class RiskModel(BaseEstimator):
    """Base class of intel's risk models (see the module docstring for the contract).

    Subclasses implement ``_fit`` and ``_predict``; they never look at incidents
    themselves, only at the ``Events`` that :meth:`fit` hands them, which hold nothing
    from the origin on. Models that combine other models (``_wraps_models = True``)
    get no events of their own: they fit clones of their members on the same
    incidents, grid and origin, and each member makes the same cut.
    """

    _wraps_models = False

    def _lookback_days(self) -> float | None:
        """Days of history before the origin the model needs (``None``: all of it)."""
        return None

    def _validate_params(self) -> None:
        """Check the hyper-parameters (called first thing in :meth:`fit`)."""

    def _fit(self, events: Events) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, horizon_days: float) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ public API

    def fit(self, incidents: gpd.GeoDataFrame, *, grid: gpd.GeoDataFrame, origin: Any) -> "RiskModel":
        """Learn from the incidents that occurred strictly before ``origin``.

        Parameters
        ----------
        incidents : GeoDataFrame
            An Incidents table (``occurred_at`` and point geometry in a metric CRS).
            Incidents on or after ``origin`` are ignored, whatever they hold.
        grid : GeoDataFrame
            The cells to forecast for (from :func:`intel.make_grid` or :func:`intel.as_grid`).
        origin : str, datetime or Timestamp
            The forecast origin: the first instant not known to the model. A naive time
            is read in the incidents' time zone.

        Returns
        -------
        self
        """
        owner = f"{type(self).__name__}.fit"
        self._validate_params()
        _check_table(incidents, owner)
        if grid is None:
            raise InputError(f"{owner}: give the cells to forecast for, e.g. grid=intel.make_grid(incidents, cell_size_m=250).")
        given = incidents
        grid, incidents = resolve_grid(incidents, grid, cell_size_m=None, shape="square", owner=owner)
        xy = _coordinates_known_for(given) if incidents is given else None
        # pandas deep-copies attrs (the load record) on every column access; models need none of it
        incidents = incidents.copy(deep=False)
        incidents.attrs = {}
        origin_ts = _as_origin(origin, incidents["occurred_at"], owner)
        lookback = 0.0 if self._wraps_models else self._lookback_days()
        events = _training_events(incidents, grid, origin_ts, lookback, owner=owner, xy=xy)
        self.grid_ = grid
        self.origin_ = origin_ts
        self.n_train_ = len(events)
        self.automatic_: dict[str, Any] = {}
        if len(events) == 0 and not self._wraps_models:
            lookback = self._lookback_days()
            where = "before the origin" if lookback is None else f"in the {lookback:g} days before the origin"
            warnings.warn(
                f"{owner}: no incidents {where} ({origin_ts}); the forecast is zero everywhere. "
                "Check the origin and the incidents' dates.",
                DataQualityWarning,
                stacklevel=2,
            )
        if xy is None:
            self._fit(events)
        else:
            with known_coordinates(incidents, *xy):  # models that wrap models refit on this same table
                self._fit(events)
        return self

    def predict_risk(self, *, horizon: Any = "7D") -> np.ndarray:
        """Expected number of incidents per cell (grid order) over ``[origin_, origin_ + horizon)``.

        Parameters
        ----------
        horizon : str or Timedelta
            Length of the forecast window, e.g. ``"7D"``, ``"28D"``, ``"12h"``.

        Returns
        -------
        numpy.ndarray of float64
            One non-negative value per grid cell.
        """
        self._check_fitted("predict_risk")
        days = as_horizon_days(horizon, f"{type(self).__name__}.predict_risk")
        risk = np.asarray(self._predict(days), dtype=np.float64)
        return np.clip(np.nan_to_num(risk, nan=0.0, posinf=0.0), 0.0, None)

    def predict(self, *, horizon: Any = "7D") -> gpd.GeoDataFrame:
        """CellScores: the grid's rows plus ``risk`` and ``rank`` (1 = highest risk).

        Parameters
        ----------
        horizon : str or Timedelta
            Length of the forecast window, e.g. ``"7D"``.

        Returns
        -------
        GeoDataFrame
            ``grid_`` with ``risk`` (expected incidents over the horizon) and ``rank``
            (ties broken by grid order); ``attrs["provenance"]`` names the model, its
            parameters, the data window, the origin and the horizon.
        """
        risk = self.predict_risk(horizon=horizon)
        return self._cell_scores({"risk": risk}, horizon)

    # ------------------------------------------------------------------ helpers

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "origin_")

    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "origin_"):
            name = type(self).__name__
            raise NotFittedError(
                f"This {name} is not fitted yet: call {name}(...).fit(incidents, grid=grid, origin=...) before {what}."
            )

    def _cell_scores(self, columns: dict[str, np.ndarray], horizon: Any) -> gpd.GeoDataFrame:
        out = self.grid_.copy()
        out.attrs = {}
        for name, values in columns.items():
            out[name] = values
        risk = np.asarray(columns["risk"])
        # stable sort on -risk: ties keep grid order, so ranks are reproducible
        order = np.argsort(-risk, kind="stable")
        rank = np.empty(risk.size, dtype=np.int64)
        rank[order] = np.arange(1, risk.size + 1)
        out["rank"] = rank
        lookback = self._lookback_days()
        start = None if lookback is None else self.origin_ - pd.Timedelta(days=lookback)
        record = make_record(
            f"{type(self).__name__}.predict",
            self.get_params(deep=False),
            automatic=self.automatic_,
            extra={
                "model": type(self).__name__,
                "horizon": str(pd.Timedelta(horizon)),
                "origin": self.origin_,
                "data_window": {"start": start, "end": self.origin_, "end_excluded": True},
                "n_train": self.n_train_,
                "n_cells": len(out),
                "expected_total": float(risk.sum()),
            },
        )
        return attach(out, record)


def duration_days(value: Any, name: str, owner: str) -> float:
    """A positive duration (``"7D"``, Timedelta, timedelta) in days, or a clear :class:`InputError`."""
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError):
        delta = None
    if delta is None or pd.isna(delta) or delta <= pd.Timedelta(0):
        raise InputError(f"The {name!r} parameter of {owner} must be a positive duration such as '7D', '28D' or "
                         f"'12h'. Got {value!r} instead.")
    return delta / pd.Timedelta(days=1)


def as_horizon_days(horizon: Any, owner: str) -> float:
    """The forecast horizon in days."""
    return duration_days(horizon, "horizon", owner)


def _as_origin(origin: Any, times: pd.Series, owner: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(origin)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{owner}: origin={origin!r} is not a time; use e.g. '2018-06-04' or a pandas Timestamp.") from exc
    if pd.isna(ts):
        raise InputError(f"{owner}: origin is missing (NaT); give the first instant to forecast, e.g. '2018-06-04'.")
    tz = getattr(times.dt, "tz", None)
    if tz is None:
        raise InputError(f"{owner}: occurred_at must be time-zone aware; load the incidents with intel.read_incidents(..., tz=...).")
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _check_table(incidents: Any, owner: str) -> None:
    """What :func:`intel._incidents.check_incidents` checks, except the geometry types of every
    row: only the rows a model reads are checked (in :func:`_training_events`), so fitting
    at one origin of a million-row table does not scan all of it."""
    if not isinstance(incidents, gpd.GeoDataFrame):
        check_incidents(incidents, owner=owner)  # raises with the standard message
    missing = [c for c in ("occurred_at",) if c not in incidents.columns]
    if missing or incidents.geometry is None:
        check_incidents(incidents, owner=owner, need=("geometry", "occurred_at"))
    check_metric_crs(incidents.crs, owner=owner, what="incidents")


def _time_units(times: pd.Series, origin: pd.Timestamp) -> tuple[np.ndarray, int, int]:
    """Raw integer times (NaT as the smallest int64), the origin in the same unit, and units per day."""
    arr = times.array
    per_second = _UNITS_PER_SECOND[getattr(arr, "unit", "ns")]
    # Timestamp.value is always in nanoseconds, whatever the Timestamp's unit
    return arr.asi8, origin.value // (1_000_000_000 // per_second), 86_400 * per_second


# Coordinates a caller has already read for the exact table it hands to ``fit`` (the backtest
# harness reads them once for all origins): shapely takes ~50 ns a point, which at a year of a
# million incidents was most of an origin's cost.
_KNOWN_COORDINATES: ContextVar[tuple[Any, np.ndarray, np.ndarray] | None] = ContextVar("intel_known_coordinates",
                                                                                      default=None)


@contextmanager
def known_coordinates(incidents: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> Iterator[None]:
    """Within the block, ``fit(incidents, ...)`` on this very object uses ``x`` and ``y`` (one per row, point
    geometries only) instead of reading its geometry again. Any other table is read as usual."""
    if len(x) != len(incidents) or len(y) != len(incidents):
        raise ValueError(f"known_coordinates: {len(x)} x and {len(y)} y values for {len(incidents)} rows")
    token = _KNOWN_COORDINATES.set((incidents, x, y))
    try:
        yield
    finally:
        _KNOWN_COORDINATES.reset(token)


def _coordinates_known_for(incidents: Any) -> tuple[np.ndarray, np.ndarray] | None:
    known = _KNOWN_COORDINATES.get()
    if known is None or known[0] is not incidents or len(known[1]) != len(incidents):
        return None
    return known[1], known[2]


def point_coordinates(incidents: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """x and y of every row (NaN for empty points), or ``None`` when some geometry is not a point."""
    values = np.asarray(incidents.geometry.array)
    if np.any(shapely.get_type_id(values) > 0):
        return None
    return np.asarray(shapely.get_x(values), dtype=np.float64), np.asarray(shapely.get_y(values), dtype=np.float64)


def _window_coordinates(incidents: gpd.GeoDataFrame, rows: np.ndarray, owner: str) -> tuple[np.ndarray, np.ndarray]:
    geoms = np.asarray(incidents.geometry.array)[rows]
    kinds = shapely.get_type_id(geoms)
    if np.any(kinds > 0):
        found = sorted(set(shapely.GeometryType(k).name.title() for k in np.unique(kinds[kinds > 0])))
        raise InputError(f"{owner}: incidents must be points; found geometry types {found} "
                         f"(first at row {int(rows[np.argmax(kinds > 0)])}).")
    xy = shapely.get_coordinates(geoms, include_z=False) if rows.size else np.zeros((0, 2))
    if xy.shape[0] != rows.size:  # empty points have no coordinates
        return shapely.get_x(geoms), shapely.get_y(geoms)
    return xy[:, 0].copy(), xy[:, 1].copy()


def _training_events(incidents: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, origin: pd.Timestamp, lookback: float | None,
                     *, owner: str = "fit", xy: tuple[np.ndarray, np.ndarray] | None = None) -> Events:
    raw, origin_units, per_day = _time_units(incidents["occurred_at"], origin)
    # integer comparisons on the raw times: NaT is the smallest int64, so it is never inside
    low = np.iinfo(np.int64).min if lookback is None else origin_units - int(np.ceil(float(lookback) * per_day))
    keep = (raw < origin_units) & (raw > np.iinfo(np.int64).min)
    if lookback is not None:
        keep &= raw >= low
    rows = np.flatnonzero(keep)
    if xy is not None:
        x, y = xy[0][rows], xy[1][rows]
    else:
        x, y = _window_coordinates(incidents, rows, owner)
    if "weight" in incidents.columns:
        w = incidents["weight"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    else:
        w = np.ones(rows.size)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    if not ok.all():
        rows, x, y, w = rows[ok], x[ok], y[ok], w[ok]
    t = (raw[rows] - origin_units) / per_day
    if t.size > 1 and not np.all(t[1:] >= t[:-1]):  # tables from the loader and the backtest come sorted
        order = np.argsort(t, kind="stable")
        rows, x, y, w, t = rows[order], x[order], y[order], w[order], t[order]
    cell = assign_cells((x, y), grid)
    return Events(x=x, y=y, t=t, w=w, cell=cell, rows=rows, n_cells=len(grid), origin=origin, incidents=incidents)
