"""GradientBoostingRisk: honest features (only weeks before each target), sensible forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import intel
from intel.exceptions import InputError
from intel.models._base import _training_events
from intel.models._gbm import weekly_counts

ORIGIN = "2018-12-05 15:00"  # a Wednesday afternoon: weeks are aligned on the origin, not the calendar


@pytest.fixture(scope="module")
def incidents():
    return intel.make_synthetic(n_background=1500, hotspots=3, start="2017-01-01", end="2019-01-01", random_state=11)


@pytest.fixture(scope="module")
def grid(incidents):
    return intel.make_grid(incidents, cell_size_m=1000)


def test_weekly_counts_are_aligned_on_the_origin(incidents, grid):
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    events = _training_events(incidents, grid, origin, 70.0)
    counts = weekly_counts(events, 10)
    for week in (0, 5, 9):
        start = origin - pd.Timedelta(days=7 * (10 - week))
        inside = incidents[(incidents["occurred_at"] >= start) & (incidents["occurred_at"] < start + pd.Timedelta(days=7))]
        np.testing.assert_array_equal(counts[:, week], np.bincount(intel.assign_cells(inside, grid), minlength=len(grid)))


def test_features_use_only_earlier_weeks(incidents, grid):
    model = intel.GradientBoostingRisk(train_weeks=4, max_iter=20).fit(incidents, grid=grid, origin=ORIGIN)
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, (len(grid), 130)).astype(float)
    around = rng.poisson(5.0, (len(grid), 130)).astype(float)
    p = 120
    before = model._features(counts, around, p)
    counts[:, p:] = 99.0
    around[:, p:] = 99.0
    np.testing.assert_array_equal(model._features(counts, around, p), before)
    np.testing.assert_array_equal(before[:, 0], counts[:, p - 1])  # lag_1
    np.testing.assert_allclose(before[:, model.feature_names_.index("mean_long")], counts[:, p - 104:p].mean(axis=1))


def test_forecast_finds_the_hot_spots(incidents, grid):
    model = intel.GradientBoostingRisk(train_weeks=13, max_iter=50).fit(incidents, grid=grid, origin=ORIGIN)
    risk = model.predict_risk(horizon="7D")
    spots = [h for h in incidents.attrs["truth"]["hotspots"] if h["kind"] in ("persistent", "intensifying")]
    cells = intel.assign_cells((np.array([h["x"] for h in spots]), np.array([h["y"] for h in spots])), grid)
    assert np.all(risk[cells] > np.quantile(risk, 0.9))
    np.testing.assert_allclose(model.predict_risk(horizon="14D"), 2 * risk)
    assert len(model.feature_names_) == model.estimator_.n_features_in_



def test_all_zero_rows_are_subsampled():
    incidents = intel.make_synthetic(n_background=150, hotspots=2, hotspot_events=300, start="2017-01-01",
                                     end="2019-01-01", random_state=12)
    fine = intel.make_grid(incidents, cell_size_m=250)  # most cells never see an incident
    every = intel.GradientBoostingRisk(train_weeks=4, max_iter=10, zero_row_fraction=1.0).fit(incidents, grid=fine, origin=ORIGIN)
    some = intel.GradientBoostingRisk(train_weeks=4, max_iter=10).fit(incidents, grid=fine, origin=ORIGIN)
    assert every.n_rows_ == 4 * len(fine)
    assert some.n_rows_ < 0.7 * every.n_rows_
    # the weights keep the expected total: forecasts stay close
    np.testing.assert_allclose(some.predict_risk().sum(), every.predict_risk().sum(), rtol=0.2)


def test_future_does_not_change_predictions(incidents, grid):
    from test_models import _future_scrambled

    model = intel.GradientBoostingRisk(train_weeks=6, max_iter=30)
    before = clone(model).fit(incidents, grid=grid, origin="2018-10-01").predict_risk()
    after = clone(model).fit(_future_scrambled(incidents, "2018-10-01"), grid=grid, origin="2018-10-01").predict_risk()
    np.testing.assert_allclose(before, after)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lags": ()}, "'lags' parameter"),
        ({"lags": (1, 0)}, "'lags' parameter"),
        ({"lags": (1.5,)}, "'lags' parameter"),
        ({"train_weeks": 0}, "'train_weeks' parameter"),
        ({"learning_rate": 0}, "'learning_rate' parameter"),
        ({"zero_row_fraction": 0}, "'zero_row_fraction' parameter"),
        ({"long_weeks": 20}, "'long_weeks' parameter"),
    ],
)
def test_bad_parameters(kwargs, match, incidents, grid):
    with pytest.raises(InputError, match=match):
        intel.GradientBoostingRisk(**kwargs).fit(incidents, grid=grid, origin=ORIGIN)
