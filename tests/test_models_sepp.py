"""Self-exciting models: planted trigger parameters come back within their standard errors."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.integrate import solve_ivp

import intel
from intel.exceptions import InputError
from intel.models._sepp import _cell_starts, _decay_sums, _log_likelihood, expected_hawkes_count
from intel.models._sepp_kernel import trigger_pairs

TRUTH = {"theta": 0.4, "omega_days": 3.0, "sigma_m": 80.0}
ORIGIN = "2019-01-01"


@pytest.fixture(scope="module")
def planted():
    return intel.make_synthetic(n_background=3000, hotspots=0, triggering=TRUTH, random_state=0)


def _same_cell_share(incidents, grid):
    """Share of planted offspring that landed in their parent's cell (what a grid model can see)."""
    cells = pd.Series(intel.assign_cells(incidents, grid), index=incidents["incident_id"].astype(str))
    child = incidents[incidents["truth"] == "triggered"]
    parent_cells = cells.loc[child["parent_id"].astype(str)].to_numpy()
    return float(np.mean(parent_cells == intel.assign_cells(child, grid)))


def test_grid_sepp_recovers_planted_trigger(planted):
    grid = intel.make_grid(planted, cell_size_m=2500)
    model = intel.GridSEPP().fit(planted, grid=grid, origin=ORIGIN)
    assert model.converged_
    # offspring that cross into another cell are background there: theta shrinks by that share
    theta_grid = TRUTH["theta"] * _same_cell_share(planted, grid)
    assert abs(model.theta_ - theta_grid) < 2 * model.theta_se_
    assert abs(model.omega_ - 1 / TRUTH["omega_days"]) < 2 * model.omega_se_
    assert abs(model.omega_days_ - TRUTH["omega_days"]) < 2 * model.omega_days_se_
    assert 0.01 < model.theta_se_ < 0.1
    # background: 3000 uniform incidents over a year in 16 equal cells
    inner = np.isfinite(model.mu_se_)
    z = (model.mu_[inner] - 3000 / 365 / 16) / model.mu_se_[inner]
    assert np.mean(np.abs(z) < 2) >= 0.75


def test_grid_sepp_single_cell_is_a_temporal_hawkes(planted):
    ext = planted.attrs["truth"]["extent"]
    one = intel.as_grid(gpd.GeoDataFrame(geometry=[shapely.box(*ext).buffer(1)], crs=planted.crs))
    model = intel.GridSEPP(max_iter=1000).fit(planted, grid=one, origin=ORIGIN)
    assert abs(model.theta_ - TRUTH["theta"]) < 2 * model.theta_se_
    assert abs(model.omega_ - 1 / TRUTH["omega_days"]) < 2 * model.omega_se_


def test_grid_sepp_is_the_maximum_likelihood(planted):
    grid = intel.make_grid(planted, cell_size_m=2500)
    model = intel.GridSEPP(tol=1e-9, max_iter=2000).fit(planted, grid=grid, origin=ORIGIN)
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    keep = planted["occurred_at"] >= origin - pd.Timedelta(days=365)
    cell = intel.assign_cells(planted[keep], grid)
    t = ((planted.loc[keep, "occurred_at"] - origin) / pd.Timedelta(days=1)).to_numpy()
    order = np.lexsort((t, cell))
    cell, t = cell[order], t[order]
    starts = _cell_starts(cell, len(grid))
    lag = model.min_delay_hours / 24
    best = _log_likelihood(cell, t, starts, 365.0, model.mu_, model.theta_, model.omega_, lag)
    np.testing.assert_allclose(best, model.log_likelihood_)
    for d_theta, d_omega in [(0.02, 0), (-0.02, 0), (0, 0.03), (0, -0.03)]:
        assert _log_likelihood(cell, t, starts, 365.0, model.mu_, model.theta_ + d_theta, model.omega_ + d_omega, lag) < best


def test_standard_errors_match_spread_over_replicates():
    thetas, ses = [], []
    for seed in range(12):
        inc = intel.make_synthetic(n_background=1500, hotspots=0, triggering=TRUTH, random_state=100 + seed)
        grid = intel.make_grid(inc, cell_size_m=5000)
        model = intel.GridSEPP().fit(inc, grid=grid, origin=ORIGIN)
        thetas.append(model.theta_)
        ses.append(model.theta_se_)
    ratio = np.std(thetas, ddof=1) / np.mean(ses)
    assert 0.5 < ratio < 1.6


def test_decay_sums_match_brute_force():
    rng = np.random.default_rng(1)
    t = np.sort(np.round(rng.uniform(-50, 0, 60), 1))  # rounding makes ties
    cell = np.zeros(60, dtype=np.int64)
    a, b, c = _decay_sums(t, _cell_starts(cell, 1), 0.3, True, 0.0)
    d = t[:, None] - t[None, :]
    e = np.where(d > 0, np.exp(-0.3 * np.where(d > 0, d, 0)), 0.0)
    np.testing.assert_allclose(a, e.sum(1))
    np.testing.assert_allclose(b, (e * np.where(d > 0, d, 0)).sum(1))
    np.testing.assert_allclose(c, (e * np.where(d > 0, d, 0) ** 2).sum(1))


def test_decay_sums_with_a_minimum_delay_match_brute_force():
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(-30, 0, 80))
    cell = np.repeat([0, 1], 40)
    t = np.concatenate([np.sort(t[:40]), np.sort(t[40:])])
    a, b, _ = _decay_sums(t, _cell_starts(cell, 2), 0.5, False, 0.25)
    for k in (0, 1):
        tk = t[cell == k]
        d = tk[:, None] - 0.25 - tk[None, :]
        e = np.where(d > 0, np.exp(-0.5 * np.where(d > 0, d, 0)), 0.0)
        np.testing.assert_allclose(a[cell == k], e.sum(1))
        np.testing.assert_allclose(b[cell == k], (e * np.where(d > 0, d, 0)).sum(1))


def test_expected_count_solves_the_intensity_equation():
    mu, boost, theta, omega, horizon = 0.2, 1.5, 0.4, 0.5, 7.0

    def rhs(_, state):
        v, count = state
        return [-omega * (1 - theta) * v + theta * omega * mu, mu + v]

    sol = solve_ivp(rhs, (0, horizon), [boost, 0.0], rtol=1e-10, atol=1e-12)
    expected = expected_hawkes_count(np.array([mu]), np.array([boost]), theta, omega, horizon)[0]
    np.testing.assert_allclose(expected, sol.y[1, -1], rtol=1e-7)


def test_grid_sepp_forecast_reacts_to_recent_incidents(planted):
    grid = intel.make_grid(planted, cell_size_m=1000)
    model = intel.GridSEPP().fit(planted, grid=grid, origin=ORIGIN)
    risk = model.predict_risk(horizon="7D")
    base = expected_hawkes_count(model.mu_, np.zeros_like(model.mu_), model.theta_, model.omega_, 7.0)
    last_week = planted[planted["occurred_at"] >= pd.Timestamp(ORIGIN, tz="UTC") - pd.Timedelta(days=3)]
    busy = np.unique(intel.assign_cells(last_week, grid))
    assert np.all(risk[busy] > base[busy])
    quiet = np.setdiff1d(np.arange(len(grid)), np.unique(intel.assign_cells(
        planted[planted["occurred_at"] >= pd.Timestamp(ORIGIN, tz="UTC") - pd.Timedelta(days=60)], grid)))
    np.testing.assert_allclose(risk[quiet], base[quiet], rtol=1e-6)


def test_trigger_pairs_match_brute_force():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 2000, 400), rng.uniform(0, 2000, 400)
    t = np.sort(rng.uniform(-100, 0, 400))
    parent, child, dt, r2 = trigger_pairs(x, y, t, 300.0, 10.0)
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    lag = t[None, :] - t[:, None]  # [i, j]: child j after parent i
    want = set(zip(*np.nonzero((lag > 0) & (lag <= 10) & (dist <= 300))))
    assert set(zip(parent.tolist(), child.tolist())) == want
    np.testing.assert_allclose(dt, t[child] - t[parent])
    np.testing.assert_allclose(r2, dist[parent, child] ** 2)


def test_kernel_sepp_recovers_planted_trigger(planted):
    grid = intel.make_grid(planted, cell_size_m=500)
    model = intel.KernelSEPP().fit(planted, grid=grid, origin=ORIGIN)
    assert model.converged_
    assert abs(model.theta_ - TRUTH["theta"]) < 2 * model.theta_se_
    assert abs(model.omega_ - 1 / TRUTH["omega_days"]) < 2 * model.omega_se_
    assert abs(model.sigma_m_ - TRUTH["sigma_m"]) < 2 * model.sigma_m_se_
    # triggered incidents are recognised as such far more often than background ones
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    window = planted[(planted["occurred_at"] < origin) & (planted["occurred_at"] >= origin - pd.Timedelta(days=365))]
    truth = window.sort_values("occurred_at", kind="stable")["truth"].to_numpy()
    p_bg = model.background_prob_
    assert p_bg[truth == "background"].mean() > p_bg[truth == "triggered"].mean() + 0.4
    risk = model.predict_risk(horizon="7D")
    assert risk.shape == (len(grid),) and 50 < risk.sum() < 150


def test_kernel_sepp_needs_no_dense_matrix():
    inc = intel.make_synthetic(n_background=6000, hotspots=0, triggering=TRUTH, random_state=4)
    grid = intel.make_grid(inc, cell_size_m=500)
    model = intel.KernelSEPP(max_iter=5).fit(inc, grid=grid, origin=ORIGIN)
    n = model.n_train_
    assert model.n_pairs_ < n * n / 100


@pytest.mark.parametrize(
    "model, match",
    [
        (intel.GridSEPP(window_days=0), "'window_days' parameter of GridSEPP"),
        (intel.GridSEPP(theta_init=1.5), "'theta_init' parameter of GridSEPP"),
        (intel.GridSEPP(max_iter=0), "'max_iter' parameter of GridSEPP"),
        (intel.KernelSEPP(space_cutoff_m=-1), "'space_cutoff_m' parameter of KernelSEPP"),
        (intel.KernelSEPP(time_cutoff_days=0), "'time_cutoff_days' parameter of KernelSEPP"),
    ],
)
def test_bad_parameters(model, match, planted):
    grid = intel.make_grid(planted, cell_size_m=2500)
    with pytest.raises(InputError, match=match):
        model.fit(planted, grid=grid, origin=ORIGIN)


def test_short_history_warns(planted):
    grid = intel.make_grid(planted, cell_size_m=2500)
    with pytest.warns(intel.DataQualityWarning, match="whole window"):
        intel.GridSEPP(window_days=365).fit(planted, grid=grid, origin="2018-04-01")


def test_minimum_delay_ignores_duplicate_reports(planted):
    # 400 incidents reported twice, 10 minutes apart, at the same place (as police records do)
    dup = planted.sample(400, random_state=0).copy()
    dup["occurred_at"] = dup["occurred_at"] + pd.Timedelta(minutes=10)
    dup["incident_id"] = dup["incident_id"].astype(str) + "b"
    doubled = pd.concat([planted, dup], ignore_index=True)
    grid = intel.make_grid(planted, cell_size_m=2500)
    naive = intel.GridSEPP(min_delay_hours=0).fit(doubled, grid=grid, origin=ORIGIN)
    robust = intel.GridSEPP(min_delay_hours=1).fit(doubled, grid=grid, origin=ORIGIN)
    assert naive.omega_days_ < 0.1  # the duplicates capture the trigger
    assert abs(robust.omega_days_ - TRUTH["omega_days"]) < 3 * robust.omega_days_se_
    kernel = intel.KernelSEPP().fit(doubled, grid=intel.make_grid(planted, cell_size_m=500), origin=ORIGIN)
    assert abs(kernel.omega_days_ - TRUTH["omega_days"]) < 0.25 * TRUTH["omega_days"]
    assert kernel.sigma_m_ > 40


def test_sigma_floor_for_snapped_locations():
    # every incident snapped to a 200 m lattice: repeats sit at identical coordinates
    inc = intel.make_synthetic(n_background=1500, hotspots=0, triggering={"theta": 0.5, "omega_days": 2, "sigma_m": 30},
                               random_state=6)
    x = np.round(inc.geometry.x / 200) * 200
    y = np.round(inc.geometry.y / 200) * 200
    snapped = inc.set_geometry(gpd.points_from_xy(x, y), crs=inc.crs)
    model = intel.KernelSEPP(min_sigma_m=25).fit(snapped, grid=intel.make_grid(inc, cell_size_m=500), origin=ORIGIN)
    assert model.sigma_m_ == pytest.approx(25.0)
    assert np.isnan(model.sigma_m_se_) and np.isfinite(model.theta_se_)
    assert np.isfinite(model.predict_risk()).all()
