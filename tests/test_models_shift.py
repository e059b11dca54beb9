"""ShiftProfile: shares of each cell's forecast by shift, shrunk towards the city-wide profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import intel
from intel.exceptions import InputError

ORIGIN = "2018-12-03"


@pytest.fixture(scope="module")
def night_spot():
    """One hot spot whose incidents all happen at 23:xx; everything else at uniform times."""
    incidents = intel.make_synthetic(n_background=3000, hotspots=1, hotspot_events=400, random_state=2)
    spot = (incidents["truth"] == "hotspot").to_numpy()
    times = incidents["occurred_at"].copy()
    times[spot] = times[spot].dt.normalize() + pd.Timedelta(hours=23)
    incidents["occurred_at"] = times
    grid = intel.make_grid(incidents, cell_size_m=500)
    return incidents, grid


def test_night_cell_is_a_night_cell(night_spot):
    incidents, grid = night_spot
    model = intel.ShiftProfile(intel.RecentCount(weeks=52)).fit(incidents, grid=grid, origin=ORIGIN)
    h = incidents.attrs["truth"]["hotspots"][0]
    cell = intel.assign_cells((np.array([h["x"]]), np.array([h["y"]])), grid)[0]
    shares = model.shift_shares(horizon="7D")
    assert shares["risk_22_06"].iloc[cell] > 0.8
    # a cell with background incidents only keeps roughly a third per 8-hour shift
    quiet = np.argsort(model.model_.counts_)[len(grid) // 2]
    assert abs(shares.iloc[quiet]["risk_06_14"] - 1 / 3) < 0.1
    scores = model.predict(horizon="7D")
    total = scores[["risk_06_14", "risk_14_22", "risk_22_06"]].sum(axis=1)
    np.testing.assert_allclose(total, scores["risk"])
    np.testing.assert_allclose(scores["risk"], intel.RecentCount(weeks=52).fit(incidents, grid=grid, origin=ORIGIN).predict_risk())


def test_shrinkage_pulls_towards_the_city(night_spot):
    incidents, grid = night_spot
    h = incidents.attrs["truth"]["hotspots"][0]
    cell = intel.assign_cells((np.array([h["x"]]), np.array([h["y"]])), grid)[0]
    own = intel.ShiftProfile(intel.RecentCount(), shrinkage=0).fit(incidents, grid=grid, origin=ORIGIN)
    city = intel.ShiftProfile(intel.RecentCount(), shrinkage=1e9).fit(incidents, grid=grid, origin=ORIGIN)
    night_own = own.shift_shares()["risk_22_06"].iloc[cell]
    night_city = city.shift_shares()["risk_22_06"].iloc[cell]
    np.testing.assert_allclose(city.shift_shares()["risk_22_06"], night_city, rtol=1e-5)  # every cell the same
    assert night_own > 0.9 > night_city


def test_partial_shifts_and_daylight_saving():
    incidents = intel.make_synthetic(n_background=2000, hotspots=0, tz="America/Chicago", random_state=3)
    grid = intel.make_grid(incidents, cell_size_m=2000)
    model = intel.ShiftProfile(intel.RecentCount(weeks=4), shifts=("08-10",), shrinkage=1e9)
    model.fit(incidents, grid=grid, origin="2018-11-01")  # the week holds the 25-hour day of 4 November
    share = model.shift_shares(horizon="7D")["risk_08_10"].to_numpy()
    # city-wide profile of uniform times: 2 of the 169 hours of that week
    assert np.all(np.abs(share - 14 / 169) < 0.03)
    assert list(model.predict().columns[-3:]) == ["risk", "risk_08_10", "rank"]


def test_date_only_times_are_left_out_of_profiles(night_spot):
    incidents, grid = night_spot
    coarse = incidents.copy()
    coarse["time_resolution"] = "day"
    model = intel.ShiftProfile(intel.RecentCount()).fit(coarse, grid=grid, origin=ORIGIN)
    assert model.n_profile_ == 0
    np.testing.assert_allclose(model.global_profile_, 1 / 168)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": None}, "'model' parameter of ShiftProfile"),
        ({"shifts": "06-14"}, "'shifts' parameter"),
        ({"shifts": ("6to14",)}, "not of the form 'HH-HH'"),
        ({"shifts": ("06-06",)}, "two different hours"),
        ({"shifts": ("25-06",)}, "two different hours"),
        ({"shifts": ("06-14", "6-14")}, "repeat"),
        ({"profile_weeks": 0}, "'profile_weeks' parameter"),
    ],
)
def test_bad_parameters(kwargs, match, night_spot):
    incidents, grid = night_spot
    kwargs = {"model": intel.RecentCount(), **kwargs}
    with pytest.raises(InputError, match=match):
        intel.ShiftProfile(**kwargs).fit(incidents, grid=grid, origin=ORIGIN)
