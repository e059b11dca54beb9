"""The risk-model contract (intel.models._base) and the naive baselines."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import intel
from intel.exceptions import InputError, NotFittedError

ORIGIN = "2018-10-01"


@pytest.fixture(scope="module")
def incidents():
    return intel.make_synthetic(n_background=1500, hotspots=3, start="2017-01-01", end="2019-01-01", random_state=3)


@pytest.fixture(scope="module")
def grid(incidents):
    return intel.make_grid(incidents, cell_size_m=1000)


def _future_scrambled(incidents, origin, seed=0):
    """Copy with every incident on or after ``origin`` moved, re-timed and re-weighted, rows shuffled."""
    rng = np.random.default_rng(seed)
    out = incidents.copy()
    future = (out["occurred_at"] >= pd.Timestamp(origin, tz="UTC")).to_numpy()
    n = int(future.sum())
    x = out.geometry.x.to_numpy().copy()
    y = out.geometry.y.to_numpy().copy()
    x[future] = rng.permutation(x[future]) + rng.normal(0, 300, n)
    y[future] = rng.permutation(y[future]) + rng.normal(0, 300, n)
    out = out.set_geometry(gpd.points_from_xy(x, y), crs=incidents.crs)
    times = out["occurred_at"].copy()
    times[future] = times[future].to_numpy()[rng.permutation(n)]
    out["occurred_at"] = times
    out.loc[future, "weight"] = rng.uniform(0.5, 3.0, n)
    return out.sample(frac=1, random_state=seed)


BASELINES = [intel.LastPeriod(), intel.RecentCount(weeks=4), intel.RecentCount(weeks=52), intel.SamePeriodLastYear()]


@pytest.mark.parametrize("model", BASELINES, ids=lambda m: repr(m))
def test_future_does_not_change_predictions(model, incidents, grid):
    before = clone(model).fit(incidents, grid=grid, origin=ORIGIN).predict_risk(horizon="7D")
    after = clone(model).fit(_future_scrambled(incidents, ORIGIN), grid=grid, origin=ORIGIN).predict_risk(horizon="7D")
    np.testing.assert_allclose(before, after, rtol=0, atol=1e-12)
    assert before.sum() > 0


def test_clone_and_params():
    model = intel.RecentCount(weeks=52)
    copy = clone(model)
    assert copy is not model and copy.get_params() == {"weeks": 52}
    copy.set_params(weeks=4)
    assert model.weeks == 52 and copy.weeks == 4


def test_not_fitted_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        intel.RecentCount().predict_risk()
    with pytest.raises(NotFittedError):
        intel.LastPeriod().predict()


def test_recent_count_matches_hand_count(incidents, grid):
    model = intel.RecentCount(weeks=4).fit(incidents, grid=grid, origin=ORIGIN)
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    window = incidents[(incidents["occurred_at"] >= origin - pd.Timedelta(weeks=4)) & (incidents["occurred_at"] < origin)]
    expected = np.bincount(intel.assign_cells(window, grid), minlength=len(grid))
    np.testing.assert_allclose(model.counts_, expected)
    # scaled to the horizon: 4 weeks of counts, one week asked
    np.testing.assert_allclose(model.predict_risk(horizon="7D"), expected / 4)
    np.testing.assert_allclose(model.predict_risk(horizon="14D"), expected / 2)
    assert model.n_train_ == len(window)


def test_same_period_last_year_window(incidents, grid):
    model = intel.SamePeriodLastYear(period="7D").fit(incidents, grid=grid, origin=ORIGIN)
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    start = origin - pd.Timedelta(weeks=52)
    window = incidents[(incidents["occurred_at"] >= start) & (incidents["occurred_at"] < start + pd.Timedelta(days=7))]
    expected = np.bincount(intel.assign_cells(window, grid), minlength=len(grid))
    np.testing.assert_allclose(model.predict_risk(horizon="7D"), expected)


def test_predict_returns_cell_scores(incidents, grid):
    model = intel.RecentCount(weeks=52).fit(incidents, grid=grid, origin=ORIGIN)
    scores = model.predict(horizon="7D")
    assert list(scores.index) == list(grid.index)
    assert {"risk", "rank"} <= set(scores.columns)
    top = scores["risk"].to_numpy().argmax()
    assert scores["rank"].iloc[top] == 1
    assert sorted(scores["rank"]) == list(range(1, len(grid) + 1))
    prov = scores.attrs["provenance"]
    assert prov["model"] == "RecentCount" and prov["parameters"] == {"weeks": 52}
    assert prov["origin"].startswith("2018-10-01") and prov["horizon"].startswith("7 days")
    assert prov["data_window"]["end"].startswith("2018-10-01")
    # identical inputs give identical records (no wall-clock time)
    assert model.predict(horizon="7D").attrs["provenance"] == prov


def test_weights_are_used(incidents, grid):
    heavy = incidents.copy()
    heavy["weight"] = 2.0
    light = intel.RecentCount(weeks=52).fit(incidents, grid=grid, origin=ORIGIN).predict_risk()
    double = intel.RecentCount(weeks=52).fit(heavy, grid=grid, origin=ORIGIN).predict_risk()
    np.testing.assert_allclose(double, 2 * light)


def test_inputs_not_mutated(incidents, grid):
    before = incidents.copy()
    intel.RecentCount().fit(incidents, grid=grid, origin=ORIGIN).predict()
    pd.testing.assert_frame_equal(incidents, before)


def test_naive_origin_reads_incident_tz(incidents, grid):
    a = intel.RecentCount().fit(incidents, grid=grid, origin=ORIGIN)
    b = intel.RecentCount().fit(incidents, grid=grid, origin=pd.Timestamp(ORIGIN, tz="UTC"))
    assert a.origin_ == b.origin_ and str(a.origin_.tz) == "UTC"
    np.testing.assert_array_equal(a.predict_risk(), b.predict_risk())


@pytest.mark.parametrize(
    "model, match",
    [
        (intel.RecentCount(weeks=0), "'weeks' parameter of RecentCount"),
        (intel.RecentCount(weeks=2.5), "'weeks' parameter of RecentCount"),
        (intel.LastPeriod(period="soon"), "'period' parameter of LastPeriod"),
        (intel.LastPeriod(period="-7D"), "'period' parameter of LastPeriod"),
        (intel.SamePeriodLastYear(period="400D"), "at most 52 weeks"),
    ],
)
def test_bad_parameters(model, match, incidents, grid):
    with pytest.raises(InputError, match=match):
        model.fit(incidents, grid=grid, origin=ORIGIN)


def test_bad_inputs(incidents, grid):
    model = intel.RecentCount()
    with pytest.raises(InputError, match="needs an Incidents GeoDataFrame"):
        model.fit(pd.DataFrame({"a": [1]}), grid=grid, origin=ORIGIN)
    with pytest.raises(InputError, match="origin"):
        model.fit(incidents, grid=grid, origin="not a date")
    with pytest.raises(InputError, match="grid"):
        model.fit(incidents, grid=None, origin=ORIGIN)
    model.fit(incidents, grid=grid, origin=ORIGIN)
    with pytest.raises(InputError, match="horizon"):
        model.predict_risk(horizon="-1D")
    with pytest.raises(InputError, match="horizon"):
        model.predict_risk(horizon="a week")


def test_scrambling_reaches_what_a_later_origin_sees(incidents, grid):
    # control for the leak tests above: the scrambled future does change a model that may see it
    later = "2018-12-31"
    before = intel.RecentCount(weeks=4).fit(incidents, grid=grid, origin=later).predict_risk()
    after = intel.RecentCount(weeks=4).fit(_future_scrambled(incidents, ORIGIN), grid=grid, origin=later).predict_risk()
    assert not np.allclose(before, after)


def test_known_coordinates_are_used_only_for_the_very_table_they_describe(incidents, grid):
    from intel.models._base import known_coordinates, point_coordinates

    past = incidents.sort_values("occurred_at").reset_index(drop=True)
    origin = "2018-10-01"

    def ensemble():
        return intel.EnsembleRisk(models=[intel.ProspectiveHotspot(), intel.RecentCount(weeks=52)], weights=[0.5, 0.5])

    plain = intel.ProspectiveHotspot().fit(past, grid=grid, origin=origin).predict_risk()
    plain_ensemble = ensemble().fit(past, grid=grid, origin=origin).predict_risk()
    x, y = point_coordinates(past)
    with known_coordinates(past, x, y):
        same = intel.ProspectiveHotspot().fit(past, grid=grid, origin=origin).predict_risk()
        same_ensemble = ensemble().fit(past, grid=grid, origin=origin).predict_risk()
    np.testing.assert_array_equal(same, plain)
    np.testing.assert_array_equal(same_ensemble, plain_ensemble)
    shifted = x + 5_000.0  # wrong on purpose: proves the hint is read, and only for this object
    with known_coordinates(past, shifted, y):
        moved = intel.ProspectiveHotspot().fit(past, grid=grid, origin=origin).predict_risk()
        moved_ensemble = ensemble().fit(past, grid=grid, origin=origin).predict_risk()  # members refit on the same table
        other = intel.ProspectiveHotspot().fit(past.copy(), grid=grid, origin=origin).predict_risk()
    assert not np.array_equal(moved, plain)
    assert not np.array_equal(moved_ensemble, plain_ensemble)
    np.testing.assert_array_equal(other, plain)
    with pytest.raises(ValueError, match="rows"):
        with known_coordinates(past, x[:-1], y):
            pass


def test_backtest_reading_coordinates_once_matches_fitting_each_origin_directly(incidents, grid):
    models = [intel.ProspectiveHotspot(), intel.KDERisk(), intel.GridSEPP()]
    results = intel.rolling_backtest(incidents, models, grid=grid, start="2018-09-03", end="2018-10-29",
                                     baselines=False, keep_risk=True)
    risk = results.attrs["risk"]
    for origin in sorted(results["origin"].unique()):
        for model in models:
            direct = clone(model).fit(incidents, grid=grid, origin=origin).predict_risk(horizon="7D")
            np.testing.assert_allclose(risk[(intel.evaluate.model_label(model), origin)], direct, rtol=1e-12, atol=1e-15)
