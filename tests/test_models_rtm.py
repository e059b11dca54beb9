"""RiskTerrain: a layer that truly drives incidents is selected with a large relative risk; a decoy is not."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import intel
from intel.exceptions import CRSError, InputError
from intel.models._rtm import layer_features

ORIGIN = "2019-01-01"


@pytest.fixture(scope="module")
def terrain():
    rng = np.random.default_rng(0)
    base = intel.make_synthetic(n_background=2000, hotspots=0, extent_m=6000, random_state=1)
    ox, oy = 440_000.0, 4_630_000.0
    bars_xy = np.column_stack([ox + rng.uniform(500, 5500, 25), oy + rng.uniform(500, 5500, 25)])
    decoy_xy = np.column_stack([ox + rng.uniform(500, 5500, 25), oy + rng.uniform(500, 5500, 25)])
    bars = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*bars_xy.T), crs=base.crs)
    decoy = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*decoy_xy.T), crs=base.crs)
    # 1000 more incidents within 150 m of a bar
    k = rng.integers(0, 25, 1000)
    r, a = 150 * np.sqrt(rng.uniform(0, 1, 1000)), rng.uniform(0, 2 * np.pi, 1000)
    extra = base.sample(1000, replace=True, random_state=2).reset_index(drop=True)
    extra = extra.set_geometry(gpd.points_from_xy(bars_xy[k, 0] + r * np.cos(a), bars_xy[k, 1] + r * np.sin(a)), crs=base.crs)
    extra["incident_id"] = [f"x{i}" for i in range(1000)]
    incidents = pd.concat([base, extra], ignore_index=True)
    grid = intel.make_grid(incidents, cell_size_m=150)
    return incidents, grid, bars, decoy


def test_driving_layer_is_selected(terrain):
    incidents, grid, bars, decoy = terrain
    model = intel.RiskTerrain(layers={"bars": bars, "decoy": decoy}, distances_m=(100, 200, 400))
    model.fit(incidents, grid=grid, origin=ORIGIN)
    rr = model.relative_risks_
    assert list(rr["factor"]) == ["bars"]
    assert rr["distance_m"].iloc[0] == 200.0  # the distance that matches the planted 150 m
    assert rr["rrv"].iloc[0] > 4
    np.testing.assert_allclose(rr["rrv"], np.exp(rr["coefficient"]))
    assert set(model.screening_["factor"]) == {"bars", "decoy"}
    risk = model.predict_risk(horizon="365D")
    np.testing.assert_allclose(risk.sum(), (intel.assign_cells(incidents, grid) >= 0).sum(), rtol=0.02)
    near = layer_features(grid, {"bars": bars}, [200.0])[("bars", "proximity", 200.0)].to_numpy() > 0
    assert risk[near].mean() > 4 * risk[~near].mean()
    assert model.automatic_["alpha"]["value"] == model.alpha_


def test_lines_polygons_and_other_crs(terrain):
    incidents, grid, bars, _ = terrain
    x0, y0, x1, y1 = incidents.total_bounds
    road = gpd.GeoDataFrame(geometry=[shapely.LineString([(x0, (y0 + y1) / 2), (x1, (y0 + y1) / 2)])], crs=incidents.crs)
    park = gpd.GeoDataFrame(geometry=[shapely.box(x0, y0, x0 + 500, y0 + 500)], crs=incidents.crs)
    feats = layer_features(grid, {"road": road, "park": park}, [100.0])
    centres = grid.geometry.centroid
    expected = (np.abs(centres.y.to_numpy() - (y0 + y1) / 2) <= 100).astype(float)
    np.testing.assert_array_equal(feats[("road", "proximity", 100.0)].to_numpy(), expected)
    assert feats[("park", "density", 100.0)].max() == 1
    model = intel.RiskTerrain(layers={"bars": bars.to_crs("EPSG:4326"), "road": road}, distances_m=(200,), alpha=0.01)
    model.fit(incidents, grid=grid, origin=ORIGIN)
    assert "bars" in set(model.relative_risks_["factor"]) and model.alpha_ == 0.01
    assert "alpha" not in model.automatic_


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({}, InputError, "'layers' parameter of RiskTerrain"),
        ({"layers": {"bars": [1, 2]}}, InputError, "layer 'bars' is a list"),
        ({"layers": {"bars": gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)])}}, CRSError, "no CRS"),
        ({"layers": "bars"}, InputError, "'layers' parameter"),
        ({"distances_m": ()}, InputError, "'distances_m' parameter"),
        ({"distances_m": (100, -5)}, InputError, "'distances_m' parameter"),
        ({"n_folds": 1}, InputError, "'n_folds' parameter"),
    ],
)
def test_bad_parameters(kwargs, error, match, terrain):
    incidents, grid, bars, _ = terrain
    kwargs = {"layers": {"bars": bars}, **kwargs} if "layers" not in kwargs and kwargs else kwargs
    with pytest.raises(error, match=match):
        intel.RiskTerrain(**kwargs).fit(incidents, grid=grid, origin=ORIGIN)
