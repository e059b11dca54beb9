"""Gradient-boosted Poisson regression on lagged, neighbourhood and seasonal features of the weekly cube."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .._validation import check_number, check_random_state
from .._weights import cell_neighbours
from ..exceptions import InputError
from ._base import Events, RiskModel

__all__ = ["GradientBoostingRisk", "weekly_counts"]

_WEEK = 7.0
_LONG_RUN_WEEKS = 52


def weekly_counts(events: Events, n_weeks: int) -> np.ndarray:
    """Cells x weeks array of weighted counts; week ``n_weeks - 1`` ends at the origin.

    Weeks are aligned on the origin (not the calendar), so the last column is always
    the seven days just before it, whatever weekday the origin falls on.
    """
    week = np.floor(events.t / _WEEK).astype(np.int64) + n_weeks
    keep = (week >= 0) & (week < n_weeks) & (events.cell >= 0)
    flat = events.cell[keep] * n_weeks + week[keep]
    counts = np.bincount(flat, weights=events.w[keep], minlength=events.n_cells * n_weeks)
    return counts.astype(np.float64).reshape(events.n_cells, n_weeks)


class GradientBoostingRisk(RiskModel):
    """Poisson gradient boosting (scikit-learn) on features of each cell's weekly history.

    For every cell and every target week in the last ``train_weeks`` weeks before the
    origin, the model sees only weeks before the target:

    - ``lag_<l>``: the cell's count ``l`` weeks before, for each ``l`` in ``lags``;
    - ``last_4``, ``mean_52``, ``mean_long``: the cell's count over the previous 4 weeks
      and its mean weekly count over the previous 52 and ``long_weeks`` weeks (the
      long-run level, which the 52-week count shows matters most);
    - ``nb_lag_1``, ``nb_last_4``, ``nb_mean_52``, ``nb_mean_long``: the same over the
      cell's queen neighbours (on irregular grids: polygons sharing a point);
    - ``week_of_year``: the ISO week of the target week's first day (seasonality).

    Targets are counts of weeks that ended by the origin, so training is honest. Rows
    whose features are all zero (cells with no incidents nor neighbours' incidents in
    their whole history, the bulk of a fine grid) are subsampled: a share
    ``zero_row_fraction`` of them is kept, each weighted by its inverse, so the fit sees
    the same expected totals at a fraction of the cost. The
    fitted :class:`~sklearn.ensemble.HistGradientBoostingRegressor` (``loss="poisson"``)
    then predicts the week starting at the origin from the same features; longer or
    shorter horizons are scaled from that weekly rate.

    Parameters
    ----------
    lags : sequence of int
        Weekly lags of the cell's own count.
    train_weeks : int
        Number of target weeks to train on (each gives one row per cell).
    long_weeks : int
        Window of the long-run mean feature (at least 52).
    zero_row_fraction : float
        Share of all-zero rows kept for training (1 keeps them all).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization :
        Passed to :class:`~sklearn.ensemble.HistGradientBoostingRegressor`. The defaults
        (60 rounds at 0.15, 5% of all-zero rows) fit in about 6 s per origin on Chicago
        burglary with 28,000 cells of 150 m and ranked as well as 100 rounds on every row.
    n_threads : int
        OpenMP threads for the booster. One by default: rolling backtests already fit
        origins in parallel, and oversubscribed threads are slower than one.
    random_state : int, Generator or None
        Seed for the subsampling of all-zero rows.

    Attributes
    ----------
    estimator_ : HistGradientBoostingRegressor
        The fitted booster.
    feature_names_ : list of str
        Names of the features, in column order.
    n_rows_ : int
        Training rows used (after subsampling all-zero rows).
    weekly_rate_ : numpy.ndarray
        Predicted count per cell for the week from the origin.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(start="2017-01-01", random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> model = intel.GradientBoostingRisk(train_weeks=8, max_iter=50)
    >>> risk = model.fit(incidents, grid=grid, origin="2018-12-03").predict_risk(horizon="7D")
    >>> risk.shape == (len(grid),)
    True
    """

    def __init__(self, *, lags: Sequence[int] = (1, 2, 4, 52), train_weeks: int = 26, long_weeks: int = 104,
                 zero_row_fraction: float = 0.05, max_iter: int = 60,
                 learning_rate: float = 0.15, max_leaf_nodes: int = 31, min_samples_leaf: int = 100,
                 l2_regularization: float = 1.0, n_threads: int = 1, random_state: int | None = 0) -> None:
        self.lags = lags
        self.train_weeks = train_weeks
        self.long_weeks = long_weeks
        self.zero_row_fraction = zero_row_fraction
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_threads = n_threads
        self.random_state = random_state

    def _validate_params(self) -> None:
        owner = type(self).__name__
        lags = list(self.lags) if isinstance(self.lags, (list, tuple, np.ndarray)) else None
        if not lags or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in lags):
            raise InputError(f"The 'lags' parameter of {owner} must be a non-empty list of positive whole numbers "
                             f"of weeks, e.g. (1, 2, 4, 52). Got {self.lags!r} instead.")
        check_number("train_weeks", self.train_weeks, owner, low=1, integer=True)
        check_number("long_weeks", self.long_weeks, owner, low=_LONG_RUN_WEEKS, integer=True)
        check_number("zero_row_fraction", self.zero_row_fraction, owner, low=0, high=1, closed="right")
        check_number("max_iter", self.max_iter, owner, low=1, integer=True)
        check_number("learning_rate", self.learning_rate, owner, low=0, closed="neither")
        check_number("max_leaf_nodes", self.max_leaf_nodes, owner, low=2, integer=True)
        check_number("min_samples_leaf", self.min_samples_leaf, owner, low=1, integer=True)
        check_number("l2_regularization", self.l2_regularization, owner, low=0)
        check_number("n_threads", self.n_threads, owner, low=1, integer=True)
        check_random_state(self.random_state)

    def _history_weeks(self) -> int:
        return max(max(int(v) for v in self.lags), int(self.long_weeks))

    def _lookback_days(self) -> float:
        return _WEEK * (int(self.train_weeks) + self._history_weeks())

    def _fit(self, events: Events) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        history = self._history_weeks()
        n_weeks = int(self.train_weeks) + history
        counts = weekly_counts(events, n_weeks)
        neighbours = cell_neighbours(self.grid_, "queen")
        around = np.asarray(neighbours @ counts)
        targets = np.arange(history, n_weeks)
        x = np.vstack([self._features(counts, around, p) for p in targets])
        y = counts[:, targets].T.ravel()
        weight = np.ones(y.size)
        zero = ~np.any(x[:, :-1] != 0, axis=1)
        if self.zero_row_fraction < 1 and zero.any():
            rng = check_random_state(self.random_state)
            keep = ~zero | (rng.random(y.size) < self.zero_row_fraction)
            weight = np.where(zero, 1.0 / self.zero_row_fraction, 1.0)[keep]
            x, y = x[keep], y[keep]
        self.n_rows_ = int(y.size)
        self.feature_names_ = [f"lag_{int(v)}" for v in self.lags] + [
            "last_4", "mean_52", "mean_long", "nb_lag_1", "nb_last_4", "nb_mean_52", "nb_mean_long", "week_of_year"]
        self.estimator_ = HistGradientBoostingRegressor(
            loss="poisson", max_iter=int(self.max_iter), learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes), min_samples_leaf=int(self.min_samples_leaf),
            l2_regularization=float(self.l2_regularization), early_stopping=False,
        )
        if y.sum() > 0:
            # one OpenMP thread: backtests already run origins in parallel, and oversubscribed
            # OpenMP threads spin rather than work
            with threadpool_limits(self.n_threads):
                self.estimator_.fit(x, y, sample_weight=weight)
                self.weekly_rate_ = self.estimator_.predict(self._features(counts, around, n_weeks))
        else:
            self.weekly_rate_ = np.zeros(events.n_cells)

    def _features(self, counts: np.ndarray, around: np.ndarray, p: int) -> np.ndarray:
        """Feature rows (one per cell) for the target week ``p`` (``p == n_weeks``: the week from the origin)."""
        n_weeks = counts.shape[1]
        long = int(self.long_weeks)
        start = self.origin_ + pd.Timedelta(days=_WEEK * (p - n_weeks))
        cols = [counts[:, p - int(v)] for v in self.lags]
        cols += [
            counts[:, p - 4:p].sum(axis=1),
            counts[:, p - _LONG_RUN_WEEKS:p].mean(axis=1),
            counts[:, p - long:p].mean(axis=1),
            around[:, p - 1],
            around[:, p - 4:p].sum(axis=1),
            around[:, p - _LONG_RUN_WEEKS:p].mean(axis=1),
            around[:, p - long:p].mean(axis=1),
            np.full(counts.shape[0], start.isocalendar().week - 1, dtype=np.float64),
        ]
        return np.column_stack(cols)

    def _predict(self, horizon_days: float) -> np.ndarray:
        return self.weekly_rate_ * (horizon_days / _WEEK)
