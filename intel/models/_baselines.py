"""Naive baselines every forecast is compared against: recent counts, scaled to the horizon.

They are what an analyst does by hand ("where was it busy lately?") and they are
hard to beat: on held-out cities the count over the last 52 weeks matched or beat
KDE, prospective hot-spotting and grid self-exciting models at every coverage.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_number
from ..exceptions import InputError
from ._base import Events, RiskModel, duration_days

__all__ = ["LastPeriod", "RecentCount", "SamePeriodLastYear"]

_YEAR_DAYS = 364.0  # 52 weeks: the same weekdays one year earlier


def _period_days(period: object, owner: str) -> float:
    return duration_days(period, "period", owner)


class _CountModel(RiskModel):
    """Counts per cell over one window before the origin, as a rate per day."""

    def _window(self) -> tuple[float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lookback_days(self) -> float:
        return -self._window()[0]

    def _fit(self, events: Events) -> None:
        start, end = self._window()
        self.counts_ = events.counts(start, end)
        self.window_days_ = end - start

    def _predict(self, horizon_days: float) -> np.ndarray:
        return self.counts_ * (horizon_days / self.window_days_)


class LastPeriod(_CountModel):
    """Risk = the count in each cell over the last period, scaled to the horizon.

    Parameters
    ----------
    period : str
        Length of the window just before the origin, e.g. ``"7D"`` (last week).

    Attributes
    ----------
    counts_ : numpy.ndarray
        Weighted count per cell over ``[origin - period, origin)``.
    window_days_ : float
        The period in days.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> model = intel.LastPeriod(period="7D").fit(incidents, grid=grid, origin="2018-10-01")
    >>> scores = model.predict(horizon="7D")
    >>> bool(scores["risk"].sum() >= 0), int(scores["rank"].min())
    (True, 1)
    """

    def __init__(self, *, period: str = "7D") -> None:
        self.period = period

    def _validate_params(self) -> None:
        _period_days(self.period, type(self).__name__)

    def _window(self) -> tuple[float, float]:
        return -_period_days(self.period, type(self).__name__), 0.0


class RecentCount(_CountModel):
    """Risk = the count in each cell over the last ``weeks`` weeks, scaled to the horizon.

    ``RecentCount(weeks=52)`` is the baseline to beat; ``weeks=4`` the short-memory one.

    Parameters
    ----------
    weeks : int
        Number of whole weeks before the origin to count.

    Attributes
    ----------
    counts_ : numpy.ndarray
        Weighted count per cell over ``[origin - weeks, origin)``.
    window_days_ : float
        ``7 * weeks``.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> model = intel.RecentCount(weeks=52).fit(incidents, grid=grid, origin="2018-12-03")
    >>> risk = model.predict_risk(horizon="7D")
    >>> risk.shape == (len(grid),)
    True
    """

    def __init__(self, *, weeks: int = 4) -> None:
        self.weeks = weeks

    def _validate_params(self) -> None:
        check_number("weeks", self.weeks, type(self).__name__, low=1, integer=True)

    def _window(self) -> tuple[float, float]:
        return -7.0 * self.weeks, 0.0


class SamePeriodLastYear(_CountModel):
    """Risk = the count in each cell over the same period one year (52 weeks) earlier.

    The window is ``[origin - 52 weeks, origin - 52 weeks + period)``: the same
    weekdays a year before, which catches yearly seasonality (holidays, summer).

    Parameters
    ----------
    period : str
        Length of the window, normally the forecast horizon (``"7D"``). At most 52 weeks.

    Attributes
    ----------
    counts_ : numpy.ndarray
        Weighted count per cell over the window.
    window_days_ : float
        The period in days.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(start="2017-01-01", random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> model = intel.SamePeriodLastYear().fit(incidents, grid=grid, origin="2018-06-04")
    >>> model.window_days_
    7.0
    """

    def __init__(self, *, period: str = "7D") -> None:
        self.period = period

    def _validate_params(self) -> None:
        owner = type(self).__name__
        days = _period_days(self.period, owner)
        if days > _YEAR_DAYS:
            raise InputError(f"The 'period' parameter of {owner} must be at most 52 weeks ('364D'). Got {self.period!r} instead.")

    def _window(self) -> tuple[float, float]:
        days = _period_days(self.period, type(self).__name__)
        return -_YEAR_DAYS, -_YEAR_DAYS + days
