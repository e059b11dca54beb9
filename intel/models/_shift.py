"""Per-shift risk surfaces: any model's forecast split by an hour-of-week profile."""

from __future__ import annotations

import re
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from .._validation import check_number
from ..exceptions import InputError
from ._base import Events, RiskModel, as_horizon_days

__all__ = ["ShiftProfile", "parse_shift"]

_HOURS_OF_WEEK = 168
_SHIFT = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_PRECISE = ("minute", "hour")


def parse_shift(text: str, owner: str) -> tuple[int, int]:
    """``"22-06"`` -> ``(22, 6)``: start and end hour (local time; the end is excluded, may wrap midnight)."""
    match = _SHIFT.match(str(text).strip())
    if not match:
        raise InputError(f"{owner}: shift {text!r} is not of the form 'HH-HH' (start and end hour), e.g. '06-14' or '22-06'.")
    start, end = int(match.group(1)), int(match.group(2))
    if not (0 <= start <= 23 and 0 <= end <= 24) or start == end % 24:
        raise InputError(f"{owner}: shift {text!r} must run between two different hours from 00 to 24.")
    return start, end


def _in_shift(hours: np.ndarray, start: int, end: int) -> np.ndarray:
    end = end % 24 if end == 24 else end
    if start < end:
        return (hours >= start) & (hours < end)
    return (hours >= start) | (hours < end)


class ShiftProfile(RiskModel):
    """Split any model's forecast into shifts with each cell's hour-of-week profile.

    The wrapped model gives each cell's expected incidents over the horizon; this
    model shares them among shifts in proportion to when, in the week, incidents in
    that cell happen.

    Profile rule: over the last ``profile_weeks`` weeks, ``n_kh`` is the number of
    incidents in cell ``k`` in hour-of-week ``h`` (local time; only incidents timed to
    the minute or hour, since a date-only time says nothing about the hour) and
    ``g_h`` the city-wide profile (add-one smoothed). A cell's profile is shrunk to the
    city-wide one, ``p_kh = (n_kh + m g_h) / (n_k + m)`` with ``m = shrinkage``: a cell
    with few incidents follows the city, a busy one its own rhythm. The share of a
    shift is the sum of ``p_kh`` over the shift's hours within the horizon (counting
    each hour-of-week as often as the horizon holds it, daylight saving included),
    divided by the sum over all hours of the horizon.

    Parameters
    ----------
    model : RiskModel
        The model whose forecast is split (cloned and fitted with the same data).
    shifts : sequence of str
        Shifts as ``"HH-HH"`` local hours, end excluded; ``"22-06"`` wraps midnight.
        They need not cover the whole day.
    profile_weeks : int
        Weeks of history for the profiles.
    shrinkage : float
        Pseudo-incidents ``m`` of the city-wide profile mixed into every cell's.

    Attributes
    ----------
    model_ : RiskModel
        The fitted wrapped model.
    global_profile_ : numpy.ndarray
        City-wide share of incidents in each of the 168 hours of the week (Monday 00:00 first).
    n_profile_ : int
        Incidents with a usable time of day in the profile window.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> model = intel.ShiftProfile(intel.RecentCount(weeks=26))
    >>> scores = model.fit(incidents, grid=grid, origin="2018-12-03").predict(horizon="7D")
    >>> [c for c in scores.columns if c.startswith("risk")]
    ['risk', 'risk_06_14', 'risk_14_22', 'risk_22_06']
    """

    def __init__(self, model: RiskModel | None = None, *, shifts: Sequence[str] = ("06-14", "14-22", "22-06"),
                 profile_weeks: int = 52, shrinkage: float = 10.0) -> None:
        self.model = model
        self.shifts = shifts
        self.profile_weeks = profile_weeks
        self.shrinkage = shrinkage

    def _validate_params(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.model, RiskModel):
            raise InputError(f"The 'model' parameter of {owner} must be an intel risk model, e.g. "
                             f"intel.ShiftProfile(intel.RecentCount(weeks=52)). Got {self.model!r} instead.")
        if isinstance(self.shifts, str) or not isinstance(self.shifts, Sequence) or not self.shifts:
            raise InputError(f"The 'shifts' parameter of {owner} must be a list of 'HH-HH' strings, e.g. "
                             f"('06-14', '14-22', '22-06'). Got {self.shifts!r} instead.")
        names = [self._column(s) for s in self.shifts]
        if len(set(names)) != len(names):
            raise InputError(f"{owner}: shifts {list(self.shifts)} repeat a shift.")
        check_number("profile_weeks", self.profile_weeks, owner, low=1, integer=True)
        check_number("shrinkage", self.shrinkage, owner, low=0)

    def _column(self, shift: str) -> str:
        start, end = parse_shift(shift, type(self).__name__)
        return f"risk_{start:02d}_{end:02d}"

    def _lookback_days(self) -> float:
        return 7.0 * self.profile_weeks

    def _fit(self, events: Events) -> None:
        self.model_ = clone(self.model).fit(events.incidents, grid=self.grid_, origin=self.origin_)
        times = events.local_times()
        usable = events.cell >= 0
        if "time_resolution" in events.incidents.columns:
            resolution = events.incidents["time_resolution"].iloc[events.rows].to_numpy()
            usable &= pd.Series(resolution).isin(_PRECISE).to_numpy()
        how = (times.dt.day_of_week * 24 + times.dt.hour).to_numpy(np.int64)
        cell, how, w = events.cell[usable], how[usable], events.w[usable]
        self.n_profile_ = int(usable.sum())
        counts = np.bincount(how, weights=w, minlength=_HOURS_OF_WEEK).astype(np.float64)
        self.global_profile_ = (counts + 1.0) / (counts.sum() + _HOURS_OF_WEEK)
        self.cell_hour_counts_ = sp.csr_matrix((w, (cell, how)), shape=(events.n_cells, _HOURS_OF_WEEK))
        self.cell_totals_ = np.asarray(self.cell_hour_counts_.sum(axis=1)).ravel()

    def _predict(self, horizon_days: float) -> np.ndarray:
        return self.model_.predict_risk(horizon=pd.Timedelta(days=horizon_days))

    def shift_shares(self, *, horizon: Any = "7D") -> pd.DataFrame:
        """Share of each cell's forecast falling in each shift (rows: cells in grid order)."""
        self._check_fitted("shift_shares")
        days = as_horizon_days(horizon, f"{type(self).__name__}.shift_shares")
        hours = pd.date_range(self.origin_.floor("h"), self.origin_ + pd.Timedelta(days=days), freq="h", inclusive="left")
        how = (hours.day_of_week * 24 + hours.hour).to_numpy(np.int64)
        occurs = np.bincount(how, minlength=_HOURS_OF_WEEK).astype(np.float64)
        m = float(self.shrinkage)

        def weighted(mask: np.ndarray) -> np.ndarray:
            c = occurs * mask
            city = float(self.global_profile_ @ c)
            denom = self.cell_totals_ + m
            # a cell without incidents and no shrinkage (m = 0) follows the city
            num = self.cell_hour_counts_ @ c + m * city
            return np.divide(num, denom, out=np.full(denom.size, city), where=denom > 0)

        every = weighted(np.ones(_HOURS_OF_WEEK))
        hour_of_day = np.arange(_HOURS_OF_WEEK) % 24
        out = {}
        for shift in self.shifts:
            start, end = parse_shift(shift, type(self).__name__)
            part = weighted(_in_shift(hour_of_day, start, end).astype(np.float64))
            out[self._column(shift)] = np.divide(part, every, out=np.zeros_like(part), where=every > 0)
        return pd.DataFrame(out, index=self.grid_.index)

    def predict(self, *, horizon: Any = "7D") -> gpd.GeoDataFrame:
        """CellScores with ``risk`` (the wrapped model's), one ``risk_HH_HH`` column per shift, and ``rank``."""
        risk = self.predict_risk(horizon=horizon)
        columns = {"risk": risk}
        for name, share in self.shift_shares(horizon=horizon).items():
            columns[name] = risk * share.to_numpy()
        return self._cell_scores(columns, horizon)
