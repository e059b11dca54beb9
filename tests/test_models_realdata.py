"""Risk models on real Chicago burglaries (2017-2018): they fit, stay finite and rank like the baseline or better."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import intel

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

CRS = "EPSG:26971"  # NAD83 / Illinois East in metres (the files' EPSG:3435 in US feet)
FEET = 1200 / 3937


@pytest.fixture(scope="module")
def burglary(chicago_files):
    frames = [pd.read_csv(f, usecols=["id", "datetime", "primary_type", "x_coordinate", "y_coordinate"])
              for f in chicago_files if f.name[15:19] in ("2016", "2017", "2018")]
    raw = pd.concat(frames, ignore_index=True)
    raw = raw[(raw["primary_type"] == "BURGLARY") & (raw["x_coordinate"] > 0)]
    times = pd.to_datetime(raw["datetime"], format="ISO8601").dt.tz_localize(
        "America/Chicago", ambiguous="NaT", nonexistent="shift_forward")
    inc = gpd.GeoDataFrame(
        {"incident_id": raw["id"].astype(str).to_numpy(), "occurred_at": times.to_numpy(),
         "category": "BURGLARY", "weight": 1.0, "time_resolution": "minute"},
        geometry=gpd.points_from_xy(raw["x_coordinate"] * FEET, raw["y_coordinate"] * FEET), crs=CRS)
    return inc[inc["occurred_at"].notna()].reset_index(drop=True)


@pytest.fixture(scope="module")
def grid(burglary):
    return intel.make_grid(burglary, cell_size_m=300)


ORIGINS = ["2018-05-07", "2018-07-02", "2018-09-03"]


def _pai5(risk, actual):
    k = int(round(0.05 * risk.size))
    top = np.argsort(-risk, kind="stable")[:k]
    return actual[top].sum() / actual.sum() / 0.05


def test_models_fit_real_data(burglary, grid):
    models = {
        "count52": intel.RecentCount(weeks=52),
        "kde": intel.KDERisk(window_days=730),
        "prospective": intel.ProspectiveHotspot(),
        "grid_sepp": intel.GridSEPP(),
        "kernel_sepp": intel.KernelSEPP(),
        "ensemble": intel.EnsembleRisk(),
        "shift": intel.ShiftProfile(intel.RecentCount(weeks=52)),
    }
    pai = {name: [] for name in models}
    for origin in ORIGINS:
        o = pd.Timestamp(origin, tz="America/Chicago")
        future = burglary[(burglary["occurred_at"] >= o) & (burglary["occurred_at"] < o + pd.Timedelta(days=7))]
        cells = intel.assign_cells(future, grid)
        actual = np.bincount(cells[cells >= 0], minlength=len(grid))
        for name, model in models.items():
            risk = model.fit(burglary, grid=grid, origin=o).predict_risk(horizon="7D")
            assert np.isfinite(risk).all() and risk.min() >= 0
            # a weekly forecast of a city's burglaries: within a factor of two of what happened
            assert 0.5 * actual.sum() < risk.sum() < 2 * actual.sum(), name
            pai[name].append(_pai5(risk, actual))
    sepp = models["grid_sepp"]
    assert 0 <= sepp.theta_ < 0.95 and np.isfinite(sepp.theta_se_) and sepp.omega_days_ > 0
    kernel = models["kernel_sepp"]
    assert kernel.n_pairs_ < kernel.n_train_ ** 2 / 100 and np.isfinite(kernel.theta_)
    shares = models["shift"].shift_shares()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    # nobody should rank far worse than the 52-week count on average
    base = np.mean(pai["count52"])
    assert base > 2
    for name in ("kde", "grid_sepp", "ensemble"):
        assert np.mean(pai[name]) > 0.85 * base, (name, pai[name], pai["count52"])
