"""make_synthetic: planted truth that later statistical tests rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import intel
from intel._incidents import check_incidents


def test_same_seed_same_incidents_different_seed_different():
    a = intel.make_synthetic(random_state=3)
    b = intel.make_synthetic(random_state=3)
    c = intel.make_synthetic(random_state=4)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert a.geometry.equals(b.geometry)
    assert not a.geometry.equals(c.geometry)


def test_follows_the_incidents_contract():
    inc = intel.make_synthetic(n_background=100, hotspots=1, hotspot_events=50, random_state=0)
    check_incidents(inc, owner="test", need=("incident_id", "occurred_at", "category", "weight", "geometry"))
    assert inc["incident_id"].is_unique
    assert inc["occurred_at"].dt.tz is not None
    assert inc["occurred_at"].is_monotonic_increasing
    assert len(inc) == 150


def test_hotspot_events_lie_in_their_disc():
    inc = intel.make_synthetic(n_background=0, hotspots=3, hotspot_events=200, hotspot_radius_m=150, random_state=1)
    truth = inc.attrs["truth"]["hotspots"]
    for k, spot in enumerate(truth):
        pts = inc[inc["truth_id"] == k].geometry
        d = np.hypot(pts.x - spot["x"], pts.y - spot["y"])
        assert len(pts) == 200
        assert d.max() <= 150 + 1e-6


def test_hotspot_kinds_shape_time():
    spots = [
        {"x": 2000, "y": 2000, "kind": "new", "events": 400},
        {"x": 8000, "y": 8000, "kind": "intensifying", "events": 400},
    ]
    inc = intel.make_synthetic(n_background=0, hotspots=spots, random_state=2)
    t0 = pd.Timestamp("2018-01-01", tz="UTC")
    frac = (inc["occurred_at"] - t0) / pd.Timedelta(days=365)
    new = frac[inc["truth_id"] == 0]
    growing = frac[inc["truth_id"] == 1]
    assert new.min() >= 0.79  # only in the last fifth
    assert (growing > 0.5).mean() > 0.7  # 75% expected in the second half


def test_triggering_offspring_follow_parents():
    inc = intel.make_synthetic(
        n_background=500, hotspots=0, triggering={"theta": 0.5, "omega_days": 2, "sigma_m": 50}, random_state=5
    )
    kids = inc[inc["truth"] == "triggered"]
    assert len(kids) > 100
    parents = inc.set_index("incident_id").loc[kids["parent_id"].to_numpy()]
    assert (kids["occurred_at"].to_numpy() >= parents["occurred_at"].to_numpy()).all()
    d = np.hypot(kids.geometry.x.to_numpy() - parents.geometry.x.to_numpy(),
                 kids.geometry.y.to_numpy() - parents.geometry.y.to_numpy())
    assert np.median(d) < 50 * 2  # Rayleigh median is 1.18 sigma


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(intel.InputError, match="'n_background' parameter of make_synthetic"):
        intel.make_synthetic(n_background=-1)
    with pytest.raises(intel.InputError, match="end .* must be after start"):
        intel.make_synthetic(start="2019-01-01", end="2018-01-01")
