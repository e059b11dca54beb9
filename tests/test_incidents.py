"""The Incidents contract checks every verb relies on."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

import intel
from intel._incidents import check_incidents, filter_incidents, incident_points


def _incidents(crs="EPSG:32616"):
    return intel.make_synthetic(n_background=50, hotspots=0, crs=crs, random_state=0)


def test_geographic_crs_is_refused_with_the_fix():
    inc = _incidents().to_crs(4326)
    with pytest.raises(intel.CRSError, match="geographic CRS.*to_crs"):
        check_incidents(inc, owner="score_kde")


def test_missing_crs_is_refused():
    inc = _incidents().set_crs(None, allow_override=True)
    with pytest.raises(intel.CRSError, match="no CRS"):
        check_incidents(inc, owner="score_kde")


def test_feet_crs_is_refused():
    inc = _incidents().to_crs(3435)
    with pytest.raises(intel.CRSError, match="not metres"):
        check_incidents(inc, owner="score_kde")


def test_non_points_and_non_frames_are_refused():
    polys = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=32616)
    with pytest.raises(intel.InputError, match="must be points"):
        check_incidents(polys, owner="x")
    with pytest.raises(intel.InputError, match="needs an Incidents GeoDataFrame"):
        check_incidents(pd.DataFrame({"a": [1]}), owner="x")


def test_missing_columns_are_named():
    inc = _incidents().drop(columns="occurred_at")
    with pytest.raises(intel.InputError, match="occurred_at"):
        check_incidents(inc, owner="build_cube", need=("occurred_at", "geometry"))


def test_incident_points_uses_weight_and_skips_empty():
    inc = gpd.GeoDataFrame({"weight": [1.0, 2.0, 3.0]}, geometry=[Point(0, 0), Point(1, 1), None], crs=32616)
    x, y, w = incident_points(inc, owner="t")
    assert list(w) == [1.0, 2.0]
    assert list(x) == [0.0, 1.0]


def test_filter_by_category_and_dates_in_local_time():
    inc = _incidents()
    inc = inc.assign(category=["a", "b"] * 25)
    out = filter_incidents(inc, categories=["A"], start="2018-03-01", end="2018-06-01")
    assert set(out["category"]) == {"a"}
    assert out["occurred_at"].min() >= pd.Timestamp("2018-03-01", tz="UTC")
    assert out["occurred_at"].max() < pd.Timestamp("2018-06-01", tz="UTC")
