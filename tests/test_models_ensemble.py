"""EnsembleRisk: mixtures of members' shares, learnt weights, no leak through the members."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import intel
from intel.exceptions import InputError
from intel.models._spatial import shares

ORIGIN = "2018-10-01"


@pytest.fixture(scope="module")
def incidents():
    return intel.make_synthetic(n_background=1500, hotspots=3, start="2017-01-01", end="2019-01-01",
                                triggering={"theta": 0.3, "omega_days": 5, "sigma_m": 100}, random_state=8)


@pytest.fixture(scope="module")
def grid(incidents):
    return intel.make_grid(incidents, cell_size_m=1000)


def test_mixture_of_shares_and_totals(incidents, grid):
    a, b = intel.RecentCount(weeks=52), intel.LastPeriod(period="28D")
    model = intel.EnsembleRisk(models=[a, b], weights=[3, 1]).fit(incidents, grid=grid, origin=ORIGIN)
    ra = clone(a).fit(incidents, grid=grid, origin=ORIGIN).predict_risk()
    rb = clone(b).fit(incidents, grid=grid, origin=ORIGIN).predict_risk()
    expected = (0.75 * shares(ra) + 0.25 * shares(rb)) * (0.75 * ra.sum() + 0.25 * rb.sum())
    np.testing.assert_allclose(model.predict_risk(), expected)
    np.testing.assert_allclose(model.weights_, [0.75, 0.25])
    assert model.models[0] is a and not hasattr(a, "origin_")  # members are cloned, never fitted in place


def test_default_members_and_clone():
    model = intel.EnsembleRisk()
    copy = clone(model)
    assert copy.get_params()["models"] is None


def test_default_ensemble_fits(incidents, grid):
    model = intel.EnsembleRisk().fit(incidents, grid=grid, origin=ORIGIN)
    assert [type(m).__name__ for m in model.models_] == ["KDERisk", "GridSEPP", "GradientBoostingRisk"]
    scores = model.predict(horizon="7D")
    assert scores["risk"].sum() > 0 and scores.attrs["provenance"]["model"] == "EnsembleRisk"


def test_learnt_weights_prefer_the_informative_member(incidents, grid):
    # a member that knows where incidents happen against one that spreads them evenly
    good = intel.RecentCount(weeks=52)
    flat = intel.KDERisk(bandwidth_m=50_000, kernel="gaussian")
    model = intel.EnsembleRisk(models=[good, flat], weights="learn", learn_origins=4).fit(incidents, grid=grid, origin=ORIGIN)
    assert model.weights_[0] > 0.6
    np.testing.assert_allclose(model.weights_.sum(), 1.0)


def test_future_does_not_leak_through_members(incidents, grid):
    from test_models import _future_scrambled

    model = intel.EnsembleRisk(models=[intel.RecentCount(weeks=52), intel.GridSEPP()], weights="learn", learn_origins=2)
    before = clone(model).fit(incidents, grid=grid, origin=ORIGIN).predict_risk()
    after = clone(model).fit(_future_scrambled(incidents, ORIGIN), grid=grid, origin=ORIGIN).predict_risk()
    np.testing.assert_allclose(before, after, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"models": []}, "'models' parameter of EnsembleRisk"),
        ({"models": ["kde"]}, "not an intel risk model"),
        ({"models": [intel.RecentCount()], "weights": [1, 2]}, "'weights' parameter"),
        ({"models": [intel.RecentCount()], "weights": [-1]}, "'weights' parameter"),
        ({"models": [intel.RecentCount()], "weights": "best"}, "'weights' parameter"),
        ({"models": [intel.RecentCount()], "weights": "learn", "learn_horizon": "soon"}, "'learn_horizon' parameter"),
    ],
)
def test_bad_parameters(kwargs, match, incidents, grid):
    with pytest.raises(InputError, match=match):
        intel.EnsembleRisk(**kwargs).fit(incidents, grid=grid, origin=ORIGIN)
