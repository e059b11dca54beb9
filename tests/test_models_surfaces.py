"""KDERisk and ProspectiveHotspot: binned surfaces against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import intel
from intel.exceptions import InputError
from intel.models._prospective import bjp_weights

ORIGIN = "2018-12-03"


@pytest.fixture(scope="module")
def incidents():
    return intel.make_synthetic(n_background=2000, hotspots=4, random_state=5)


@pytest.fixture(scope="module")
def grid(incidents):
    return intel.make_grid(incidents, cell_size_m=200)


def _window(incidents, days):
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    keep = (incidents["occurred_at"] < origin) & (incidents["occurred_at"] >= origin - pd.Timedelta(days=days))
    win = incidents[keep]
    age = ((origin - win["occurred_at"]) / pd.Timedelta(days=1)).to_numpy()
    return win.geometry.x.to_numpy(), win.geometry.y.to_numpy(), age


def _prospective_direct(incidents, grid, bandwidth_m, weeks):
    """Bowers-Johnson-Pease scores by a plain loop over cells (the reference)."""
    x, y, age = _window(incidents, 7 * weeks)
    size = grid.attrs["grid"]["cell_size_m"]
    ex, ey = (np.floor(x / size) + 0.5) * size, (np.floor(y / size) + 0.5) * size
    cx, cy = (grid["col"].to_numpy() + 0.5) * size, (grid["row"].to_numpy() + 0.5) * size
    t = np.floor(age / 7.0)
    out = np.zeros(len(grid))
    for k in range(len(grid)):
        d = np.hypot(cx[k] - ex, cy[k] - ey)
        out[k] = np.sum(np.where(d <= bandwidth_m, bjp_weights(d / size, t), 0.0))
    return out


@pytest.mark.parametrize("bandwidth_m, weeks", [(400, 8), (1000, 2), (0, 4)])
def test_prospective_matches_direct_loop(incidents, grid, bandwidth_m, weeks):
    model = intel.ProspectiveHotspot(bandwidth_m=bandwidth_m, bandwidth_weeks=weeks).fit(incidents, grid=grid, origin=ORIGIN)
    expected = _prospective_direct(incidents, grid, bandwidth_m, weeks)
    assert expected.sum() > 0
    np.testing.assert_allclose(model.scores_, expected, rtol=1e-9, atol=1e-9)


def test_prospective_total_is_recent_rate(incidents, grid):
    model = intel.ProspectiveHotspot().fit(incidents, grid=grid, origin=ORIGIN)
    x, _, _ = _window(incidents, 56)
    inside = (intel.assign_cells(_window_frame(incidents, 56), grid) >= 0).sum()
    np.testing.assert_allclose(model.predict_risk(horizon="7D").sum(), inside / 8.0)
    assert x.size >= inside > 0


def _window_frame(incidents, days):
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    return incidents[(incidents["occurred_at"] < origin) & (incidents["occurred_at"] >= origin - pd.Timedelta(days=days))]


def test_prospective_on_hexagons_uses_centre_distances(incidents):
    hexes = intel.make_grid(incidents, cell_size_m=300, shape="hex")
    model = intel.ProspectiveHotspot(bandwidth_m=300, bandwidth_weeks=8).fit(incidents, grid=hexes, origin=ORIGIN)
    # reference: every incident spreads 1/(1+d) (d in cell widths) to cells within 300 m of its own cell's centre
    win = _window_frame(incidents, 56)
    cells = intel.assign_cells(win, hexes)
    age = ((pd.Timestamp(ORIGIN, tz="UTC") - win["occurred_at"]) / pd.Timedelta(days=1)).to_numpy()
    cent = hexes.geometry.centroid
    cx, cy = cent.x.to_numpy(), cent.y.to_numpy()
    expected = np.zeros(len(hexes))
    for c, a in zip(cells[cells >= 0], age[cells >= 0]):
        d = np.hypot(cx - cx[c], cy - cy[c])
        expected += np.where(d <= 300 * (1 + 1e-9), bjp_weights(d / 300, np.floor(a / 7)), 0.0)
    np.testing.assert_allclose(model.scores_, expected, rtol=1e-9, atol=1e-12)


def test_kde_close_to_exact_quartic(incidents, grid):
    model = intel.KDERisk(bandwidth_m=600, window_days=365).fit(incidents, grid=grid, origin=ORIGIN)
    x, y, _ = _window(incidents, 365)
    cent = grid.geometry.centroid
    cx, cy = cent.x.to_numpy(), cent.y.to_numpy()
    exact = np.zeros(len(grid))
    for k in range(len(grid)):
        u2 = ((cx[k] - x) ** 2 + (cy[k] - y) ** 2) / 600.0**2
        exact[k] = np.sum(np.where(u2 < 1, (1 - u2) ** 2, 0.0))
    exact /= exact.sum()
    # binning moves each point by at most half a cell (100 m, a sixth of the bandwidth)
    assert np.corrcoef(model.surface_, exact)[0, 1] > 0.995
    np.testing.assert_allclose(model.surface_.sum(), 1.0)


def test_kde_total_and_horizon(incidents, grid):
    model = intel.KDERisk(window_days=182).fit(incidents, grid=grid, origin=ORIGIN)
    inside = (intel.assign_cells(_window_frame(incidents, 182), grid) >= 0).sum()
    np.testing.assert_allclose(model.predict_risk(horizon="7D").sum(), inside * 7 / 182)
    np.testing.assert_allclose(model.predict_risk(horizon="14D"), 2 * model.predict_risk(horizon="7D"))


def test_kde_automatic_bandwidth_is_recorded(incidents, grid, caplog):
    with caplog.at_level("INFO", logger="intel"):
        model = intel.KDERisk().fit(incidents, grid=grid, origin=ORIGIN)
    assert model.bandwidth_m_ == 200.0
    assert "bandwidth set to 200 m automatically" in caplog.text
    prov = model.predict().attrs["provenance"]
    assert prov["automatic"]["bandwidth_m"]["value"] == 200.0
    assert prov["parameters"]["bandwidth_m"] is None
    given = intel.KDERisk(bandwidth_m=300).fit(incidents, grid=grid, origin=ORIGIN)
    assert "bandwidth_m" not in given.predict().attrs["provenance"]["automatic"]


def test_time_decay_favours_the_new_hot_spot(incidents, grid):
    truth = incidents.attrs["truth"]["hotspots"]
    new = next(h for h in truth if h["kind"] == "new")
    persistent = next(h for h in truth if h["kind"] == "persistent")
    cells = intel.assign_cells((np.array([new["x"], persistent["x"]]), np.array([new["y"], persistent["y"]])), grid)
    flat = intel.KDERisk(bandwidth_m=400).fit(incidents, grid=grid, origin=ORIGIN).surface_
    decayed = intel.KDERisk(bandwidth_m=400, time_decay_days=14).fit(incidents, grid=grid, origin=ORIGIN).surface_
    ratio_flat = flat[cells[0]] / flat[cells[1]]
    ratio_decayed = decayed[cells[0]] / decayed[cells[1]]
    assert ratio_decayed > 1.5 * ratio_flat


def test_kde_on_polygons_grid(incidents):
    hexes = intel.make_grid(incidents, cell_size_m=400, shape="hex")
    model = intel.KDERisk(bandwidth_m=800, kernel="gaussian").fit(incidents, grid=hexes, origin=ORIGIN)
    np.testing.assert_allclose(model.surface_.sum(), 1.0)
    truth = incidents.attrs["truth"]["hotspots"][0]
    hot = intel.assign_cells((np.array([truth["x"]]), np.array([truth["y"]])), hexes)[0]
    assert model.surface_[hot] > np.quantile(model.surface_, 0.9)


@pytest.mark.parametrize(
    "model, match",
    [
        (intel.KDERisk(kernel="box"), "'kernel' parameter of KDERisk"),
        (intel.KDERisk(bandwidth_m=-5), "'bandwidth_m' parameter of KDERisk"),
        (intel.KDERisk(time_decay_days=0), "'time_decay_days' parameter"),
        (intel.ProspectiveHotspot(bandwidth_weeks=0), "'bandwidth_weeks' parameter of ProspectiveHotspot"),
        (intel.ProspectiveHotspot(bandwidth_m=-1), "'bandwidth_m' parameter of ProspectiveHotspot"),
    ],
)
def test_bad_parameters(model, match, incidents, grid):
    with pytest.raises(InputError, match=match):
        model.fit(incidents, grid=grid, origin=ORIGIN)


def test_no_history_warns_and_predicts_zero(incidents, grid):
    with pytest.warns(intel.DataQualityWarning, match="no incidents"):
        model = intel.KDERisk().fit(incidents, grid=grid, origin="2017-06-01")
    assert model.predict_risk().sum() == 0
