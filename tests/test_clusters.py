"""Tests for intel.clusters: ST-DBSCAN, HDBSCAN, NNH and the cluster table."""

from __future__ import annotations

import math
import warnings
from collections import deque

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import intel
from intel.clusters import NNH, STDBSCAN, build_cluster_table, cluster_hdbscan
from intel.exceptions import CRSError, DataQualityWarning, InputError, NotFittedError, ResolutionError

CRS = "EPSG:32616"


def _incidents(x, y, times, categories=None, crs=CRS):
    times = pd.DatetimeIndex(times)
    if times.tz is None:
        times = times.tz_localize("UTC")
    n = len(x)
    return gpd.GeoDataFrame(
        {
            "incident_id": pd.array([f"i{k}" for k in range(n)], dtype="string"),
            "occurred_at": times,
            "category": categories if categories is not None else ["burglary"] * n,
        },
        geometry=gpd.points_from_xy(x, y),
        crs=crs,
    )


def _random_xyt(seed, n=300, extent=1000.0, days=60.0, duplicates=30):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(0, extent, n), rng.uniform(0, extent, n), rng.uniform(0, days, n)])
    X[:duplicates, :2] = X[0, :2]  # real data repeat addresses: many points at one location
    return X


def _reference_st_dbscan(X, eps_m, eps_days, min_samples):
    """Plain O(n^2) ST-DBSCAN with DBSCAN's rules, written independently of intel.

    Rule: core points have >= min_samples neighbours (themselves included) in the
    cylinder; clusters are grown breadth-first from each unlabelled core point in
    input order (so they are numbered by their first core point); a border point
    takes the label of the first cluster that reaches it, i.e. the lowest-numbered
    cluster among its core neighbours.
    """
    n = X.shape[0]
    d = np.hypot(X[:, None, 0] - X[None, :, 0], X[:, None, 1] - X[None, :, 1])
    dt = np.abs(X[:, None, 2] - X[None, :, 2])
    neighbours = [np.flatnonzero(row) for row in (d <= eps_m) & (dt <= eps_days)]
    core = np.array([len(nb) >= min_samples for nb in neighbours])
    labels = np.full(n, -1)
    current = 0
    for i in range(n):
        if labels[i] != -1 or not core[i]:
            continue
        labels[i] = current
        queue = deque([i])
        while queue:
            p = queue.popleft()
            if not core[p]:
                continue
            for q in neighbours[p]:
                if labels[q] == -1:
                    labels[q] = current
                    queue.append(q)
        current += 1
    return labels, np.flatnonzero(core)


# --------------------------------------------------------------------------- ST-DBSCAN


@pytest.mark.parametrize("seed", range(6))
def test_stdbscan_matches_brute_force_reference(seed):
    rng = np.random.default_rng(100 + seed)
    X = _random_xyt(seed)
    eps_m, eps_days, min_samples = rng.uniform(40, 120), rng.uniform(2, 8), int(rng.integers(2, 7))
    model = STDBSCAN(eps_m=eps_m, eps_days=eps_days, min_samples=min_samples).fit(X)
    labels, core = _reference_st_dbscan(X, eps_m, eps_days, min_samples)
    assert np.array_equal(model.core_sample_indices_, core)
    assert np.array_equal(model.labels_, labels)
    assert model.n_clusters_ == labels.max() + 1


@pytest.mark.parametrize("seed", range(6))
def test_stdbscan_equals_sklearn_dbscan_on_precomputed_cylinder(seed):
    # The cylinder is DBSCAN with eps=1 on the "distance" max(d / eps_m, |dt| / eps_days).
    rng = np.random.default_rng(200 + seed)
    X = _random_xyt(seed + 50)
    eps_m, eps_days, min_samples = rng.uniform(40, 120), rng.uniform(2, 8), int(rng.integers(1, 7))
    d = np.hypot(X[:, None, 0] - X[None, :, 0], X[:, None, 1] - X[None, :, 1])
    dt = np.abs(X[:, None, 2] - X[None, :, 2])
    reference = DBSCAN(eps=1.0, min_samples=min_samples, metric="precomputed").fit(np.maximum(d / eps_m, dt / eps_days))
    model = STDBSCAN(eps_m=eps_m, eps_days=eps_days, min_samples=min_samples).fit(X)
    assert np.array_equal(model.labels_, reference.labels_)
    assert np.array_equal(model.core_sample_indices_, reference.core_sample_indices_)
    assert np.array_equal(model.components_, X[reference.core_sample_indices_])


def test_stdbscan_separates_bursts_that_spatial_dbscan_merges():
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(0, 20, 40), rng.normal(0, 20, 40)] + 500_000
    y = np.r_[rng.normal(0, 20, 40), rng.normal(0, 20, 40)] + 4_600_000
    days = np.r_[rng.uniform(0, 5, 40), rng.uniform(100, 105, 40)]
    X = np.column_stack([x, y, days])
    labels = STDBSCAN(eps_m=50, eps_days=7, min_samples=5).fit_predict(X)
    assert set(labels[:40]) == {0} and set(labels[40:]) == {1}
    spatial = DBSCAN(eps=50, min_samples=5).fit_predict(X[:, :2])
    assert len(set(spatial) - {-1}) == 1


def test_stdbscan_on_incidents_equals_array_of_days():
    incidents = intel.make_synthetic(n_background=400, hotspots=2, random_state=4)
    days = ((incidents["occurred_at"] - incidents["occurred_at"].min()) / pd.Timedelta(days=1)).to_numpy()
    X = np.column_stack([incidents.geometry.x, incidents.geometry.y, days])
    from_incidents = STDBSCAN(eps_m=100, eps_days=14).fit(incidents)
    from_array = STDBSCAN(eps_m=100, eps_days=14).fit(X)
    assert np.array_equal(from_incidents.labels_, from_array.labels_)
    assert from_incidents.n_clusters_ >= 2
    assert from_incidents.n_features_in_ == 3


def test_stdbscan_time_boundary_is_exact_and_inclusive():
    # Default timestamps (midnight) make "exactly eps_days apart" common in real data.
    times = ["2018-03-01 00:00", "2018-03-08 00:00", "2018-03-15 00:00", "2018-03-22 00:01"]
    incidents = _incidents([0.0, 1.0, 2.0, 3.0], [0.0] * 4, times)
    labels = STDBSCAN(eps_m=10, eps_days=7, min_samples=2).fit(incidents).labels_
    assert labels.tolist() == [0, 0, 0, -1]


def test_stdbscan_calendar_days_counts_dates_not_hours():
    times = ["2018-03-01 23:30", "2018-03-02 00:30", "2018-03-02 22:00"]
    incidents = _incidents([0.0, 1.0, 2.0], [0.0] * 3, times)
    same_day = STDBSCAN(eps_m=10, eps_days=0, min_samples=2, metric_time="calendar_days").fit(incidents)
    assert same_day.labels_.tolist() == [-1, 0, 0]
    elapsed = STDBSCAN(eps_m=10, eps_days=0.1, min_samples=2, metric_time="days").fit(incidents)
    assert elapsed.labels_.tolist() == [0, 0, -1]


def test_stdbscan_refuses_windows_finer_than_the_data():
    incidents = intel.make_synthetic(n_background=100, hotspots=0, random_state=0)
    incidents["time_resolution"] = "day"
    with pytest.raises(ResolutionError, match="calendar_days"):
        STDBSCAN(eps_days=0.5).fit(incidents)
    assert STDBSCAN(eps_days=0, metric_time="calendar_days").fit(incidents).labels_.shape == (100,)
    incidents["time_resolution"] = "month"
    with pytest.raises(ResolutionError, match="month resolution"):
        STDBSCAN(eps_days=7).fit(incidents)


def test_stdbscan_recovers_planted_space_time_clusters():
    spots = [{"x": 2000 + 3000 * k, "y": 2500 + 2000 * (k % 2), "radius_m": 80, "events": 60, "kind": "new"}
             for k in range(3)]
    incidents = intel.make_synthetic(n_background=3000, hotspots=spots, random_state=5)
    labels = STDBSCAN(eps_m=100, eps_days=10, min_samples=5).fit(incidents).labels_
    truth = incidents["truth_id"].to_numpy()
    assert adjusted_rand_score(truth, labels) > 0.85
    planted = truth >= 0
    assert (labels[planted] >= 0).mean() > 0.9  # recall of planted events
    assert (truth[labels >= 0] >= 0).mean() > 0.95  # purity: clusters are planted events


def test_stdbscan_missing_rows_are_noise_with_warning():
    incidents = intel.make_synthetic(n_background=300, hotspots=1, random_state=6)
    broken = incidents.copy()
    broken.loc[broken.index[:3], "occurred_at"] = pd.NaT
    broken.loc[broken.index[3:5], "geometry"] = None
    with pytest.warns(DataQualityWarning, match="5 of"):
        labels = STDBSCAN(eps_m=100, eps_days=30).fit(broken).labels_
    assert (labels[:5] == -1).all()
    clean = STDBSCAN(eps_m=100, eps_days=30).fit(incidents.iloc[5:]).labels_
    assert adjusted_rand_score(labels[5:], clean) == 1.0


def test_stdbscan_more_spatial_dimensions():
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.uniform(0, 300, 200), rng.uniform(0, 300, 200), rng.uniform(0, 30, 200),
                         rng.uniform(0, 20, 200)])  # x, y, height, days
    d = np.sqrt(((X[:, None, :3] - X[None, :, :3]) ** 2).sum(-1))
    dt = np.abs(X[:, None, 3] - X[None, :, 3])
    reference = DBSCAN(eps=1.0, min_samples=3, metric="precomputed").fit(np.maximum(d / 40, dt / 3))
    assert np.array_equal(STDBSCAN(eps_m=40, eps_days=3, min_samples=3).fit(X).labels_, reference.labels_)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"eps_m": -1.0}, "eps_m"),
        ({"eps_days": float("nan")}, "eps_days"),
        ({"min_samples": 0}, "min_samples"),
        ({"min_samples": 2.5}, "min_samples"),
        ({"metric_time": "hours"}, "metric_time"),
    ],
)
def test_stdbscan_bad_parameters(params, match):
    with pytest.raises(InputError, match=match):
        STDBSCAN(**params).fit(_random_xyt(0, n=20, duplicates=0))


def test_stdbscan_bad_inputs():
    with pytest.raises(InputError, match="n_features = 1"):
        STDBSCAN().fit(np.zeros((5, 1)))
    with pytest.raises(InputError, match="NaN"):
        STDBSCAN().fit(np.array([[0.0, 0.0, np.nan], [1.0, 1.0, 1.0]]))
    geographic = _incidents([-87.6, -87.7], [41.8, 41.9], ["2018-01-01", "2018-01-02"], crs="EPSG:4326")
    with pytest.raises(CRSError, match="geographic"):
        STDBSCAN().fit(geographic)
    with pytest.raises(InputError, match="occurred_at"):
        STDBSCAN().fit(geographic.to_crs(CRS).drop(columns="occurred_at"))


_PLANAR = "NNH's random-expectation threshold is defined for points in a plane: it takes exactly 2 columns"
_NNH_EXPECTED_FAILURES = {name: _PLANAR for name in (
    "check_fit_score_takes_y", "check_dont_overwrite_parameters", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_dict_unchanged", "check_fit2d_predict1d",
)}



@parametrize_with_checks(
    [STDBSCAN(eps_m=0.5, eps_days=0.5), NNH(min_points=2)],
    expected_failed_checks=lambda est: _NNH_EXPECTED_FAILURES if isinstance(est, NNH) else {},
)
def test_scikit_learn_conformance(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)



# --------------------------------------------------------------------------- HDBSCAN


def test_cluster_hdbscan_recovers_planted_hot_spots_and_matches_the_package():
    import hdbscan

    incidents = intel.make_synthetic(n_background=600, hotspots=3, hotspot_events=150, random_state=8)
    labels = cluster_hdbscan(incidents, min_cluster_size=40)
    assert isinstance(labels, pd.Series) and labels.name == "cluster_id"
    assert labels.index.equals(incidents.index)
    truth = incidents["truth_id"].to_numpy()
    # each planted hot spot is one cluster of its own (HDBSCAN also takes in nearby background points)
    found = []
    for k in range(3):
        values, counts = np.unique(labels[truth == k], return_counts=True)
        assert values[np.argmax(counts)] >= 0 and counts.max() >= 0.95 * (truth == k).sum()
        found.append(values[np.argmax(counts)])
    assert len(set(found)) == 3
    assert adjusted_rand_score(truth, labels) > 0.7
    xy = np.column_stack([incidents.geometry.x, incidents.geometry.y])
    direct = hdbscan.HDBSCAN(min_cluster_size=40).fit_predict(xy - xy.mean(axis=0))
    assert adjusted_rand_score(direct, labels) == 1.0
    assert labels.attrs["provenance"]["function"] == "cluster_hdbscan"
    assert labels.attrs["provenance"]["n_clusters"] == labels.max() + 1


def test_cluster_hdbscan_space_time_splits_bursts_in_time():
    # two bursts at one place 200 days apart, a steady cluster elsewhere, background
    rng = np.random.default_rng(9)
    x = np.r_[rng.normal(0, 15, 120), rng.normal(2000, 15, 60), rng.uniform(-3000, 3000, 200)] + 440_000
    y = np.r_[rng.normal(0, 15, 120), rng.normal(2000, 15, 60), rng.uniform(-3000, 3000, 200)] + 4_630_000
    day = np.r_[rng.uniform(0, 4, 60), rng.uniform(200, 204, 60), rng.uniform(0, 4, 60), rng.uniform(0, 365, 200)]
    incidents = _incidents(x, y, pd.Timestamp("2018-01-01", tz="UTC") + pd.to_timedelta(day, unit="D"))
    spatial = cluster_hdbscan(incidents, min_cluster_size=20).to_numpy()
    assert len(set(spatial[:120])) == 1 and spatial[0] >= 0
    space_time = cluster_hdbscan(incidents, min_cluster_size=20, time_scale_m_per_day=20).to_numpy()
    assert len(set(space_time[:60])) == 1 and len(set(space_time[60:120])) == 1
    assert space_time[0] != space_time[60] and min(space_time[0], space_time[60]) >= 0


def test_cluster_hdbscan_bad_parameters():
    incidents = intel.make_synthetic(n_background=50, hotspots=0, random_state=0)
    with pytest.raises(InputError, match="min_cluster_size"):
        cluster_hdbscan(incidents, min_cluster_size=1)
    with pytest.raises(InputError, match="time_scale_m_per_day"):
        cluster_hdbscan(incidents, time_scale_m_per_day=0)
    with pytest.raises(InputError, match="cluster_selection_method"):
        cluster_hdbscan(incidents, cluster_selection_method="best")


# --------------------------------------------------------------------------- NNH


def test_nnh_threshold_is_crimestats_random_expectation():
    rng = np.random.default_rng(10)
    X = np.column_stack([rng.uniform(0, 4000, 500), rng.uniform(0, 2500, 500)])
    area = np.ptp(X[:, 0]) * np.ptp(X[:, 1])
    mean = 0.5 * math.sqrt(area / 500)
    se = 0.26136 / math.sqrt(500**2 / area)
    assert NNH(p_value=0.5, order_max=1).fit(X).thresholds_m_[0] == pytest.approx(mean, rel=1e-12)
    low = NNH(p_value=0.05, order_max=1).fit(X)
    assert low.thresholds_m_[0] == pytest.approx(mean + stats.t.ppf(0.05, 499) * se, rel=1e-12)
    assert low.thresholds_m_[0] < mean
    hull = NNH(area="hull", order_max=1).fit(X)
    assert hull.area_m2_ == pytest.approx(shapely.MultiPoint(X).convex_hull.area)
    fixed = NNH(area=1e7, order_max=1).fit(X)
    assert fixed.thresholds_m_[0] == pytest.approx(0.5 * math.sqrt(1e7 / 500))


@pytest.mark.parametrize("seed", range(3))
def test_nnh_first_order_is_single_linkage_under_the_threshold(seed):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 5000, (8, 2))
    X = np.vstack([c + rng.normal(0, 60, (int(rng.integers(5, 30)), 2)) for c in centres]
                  + [rng.uniform(0, 5000, (200, 2))])
    threshold = 55.0
    model = NNH(threshold_m=threshold, min_points=6, order_max=1).fit(X)
    groups = fcluster(linkage(X, method="single"), t=threshold, criterion="distance")
    expected = {frozenset(np.flatnonzero(groups == g)) for g in np.unique(groups) if (groups == g).sum() >= 6}
    found = {frozenset(np.flatnonzero(model.labels_ == k)) for k in range(model.labels_.max() + 1)}
    assert found == expected and found
    sizes = np.bincount(model.labels_[model.labels_ >= 0])
    assert (np.diff(sizes) <= 0).all()  # numbered largest first


def test_nnh_builds_second_order_clusters_of_cluster_centres():
    rng = np.random.default_rng(11)
    blocks = []
    for group_origin in ((1000.0, 1000.0), (9000.0, 9000.0)):
        for k in range(5):
            centre = np.array(group_origin) + [700.0 * k, 0.0]
            blocks.append(centre + rng.normal(0, 3, (10, 2)))
    X = np.vstack(blocks)
    model = NNH(min_points=5, area=1e8).fit(X)  # thresholds 500 m (100 points) then 1581 m (10 centres)
    assert model.thresholds_m_[:2] == pytest.approx([500.0, 0.5 * math.sqrt(1e8 / 10)])
    assert model.n_orders_ == 2
    first, second = model.labels_by_order_
    assert first.max() + 1 == 10 and second.max() + 1 == 2
    assert len(set(second[:50])) == 1 and len(set(second[50:])) == 1
    for k in range(10):  # a first-order cluster sits inside one second-order cluster
        assert len(set(second[first == k])) == 1
    assert model.centers_[1].shape == (2, 2)
    table = build_cluster_table(_incidents(X[:, 0], X[:, 1], ["2018-01-01"] * len(X)), second)
    assert table["n"].tolist() == [50, 50]


def test_nnh_bad_parameters_and_inputs():
    X = np.random.default_rng(0).uniform(0, 100, (50, 2))
    for params, match in [({"p_value": 1.0}, "p_value"), ({"min_points": 1}, "min_points"),
                          ({"area": "circle"}, "area"), ({"area": -5.0}, "area"), ({"threshold_m": 0}, "threshold_m")]:
        with pytest.raises(InputError, match=match):
            NNH(**params).fit(X)
    with pytest.raises(InputError, match="line"):
        NNH().fit(np.column_stack([np.arange(20.0), np.zeros(20)]))
    with pytest.raises(InputError, match="n_features = 3"):
        NNH().fit(np.zeros((10, 3)))


# --------------------------------------------------------------------------- cluster table


def _elongated(n, azimuth_deg, major, minor, rng, centre=(440_000.0, 4_630_000.0)):
    a = np.radians(azimuth_deg)
    along = rng.normal(0, major, n)
    across = rng.normal(0, minor, n)
    x = centre[0] + along * np.sin(a) + across * np.cos(a)
    y = centre[1] + along * np.cos(a) - across * np.sin(a)
    return x, y


def test_cluster_table_ellipse_matches_pointpats_and_points_the_right_way():
    from pointpats import centrography

    rng = np.random.default_rng(12)
    x, y = _elongated(2000, 30.0, 120.0, 40.0, rng)
    incidents = _incidents(x, y, pd.date_range("2018-01-01", periods=2000, freq="h"))
    table = build_cluster_table(incidents, np.zeros(2000, dtype=int))
    row = table.iloc[0]
    major, minor, _ = centrography.ellipse(np.column_stack([x, y]), method="crimestat")
    assert row["sde_sy_m"] == pytest.approx(major, rel=1e-9)
    assert row["sde_sx_m"] == pytest.approx(minor, rel=1e-9)
    assert row["sde_rotation_deg"] == pytest.approx(30.0, abs=2.0)
    # a sqrt(2)-scaled one-standard-deviation ellipse holds 1 - exp(-1) = 63% of a bivariate normal
    ellipse = shapely.from_wkt(row["ellipse_wkt"])
    inside = shapely.contains_xy(ellipse, x, y).mean()
    assert 0.58 < inside < 0.69
    arcgis = build_cluster_table(incidents, np.zeros(2000, dtype=int), ellipse="arcgis").iloc[0]
    assert arcgis["sde_sy_m"] == pytest.approx(row["sde_sy_m"] * math.sqrt(1998 / 2000), rel=1e-12)
    assert arcgis["sde_rotation_deg"] == pytest.approx(row["sde_rotation_deg"])


@pytest.mark.parametrize("azimuth", [0.0, 45.0, 90.0, 135.0, 170.0])
def test_cluster_table_rotation_is_the_long_axis_azimuth(azimuth):
    rng = np.random.default_rng(int(azimuth))
    x, y = _elongated(3000, azimuth, 100.0, 20.0, rng)
    row = build_cluster_table(_incidents(x, y, ["2018-01-01"] * 3000), np.zeros(3000, dtype=int)).iloc[0]
    difference = abs((row["sde_rotation_deg"] - azimuth + 90) % 180 - 90)
    assert difference < 2.0
    assert row["sde_sy_m"] > 3 * row["sde_sx_m"]


def test_cluster_table_columns_and_contents():
    x = [0.0, 10.0, 0.0, 10.0, 5.0, 100.0, 101.0, 500.0]
    y = [0.0, 0.0, 10.0, 10.0, 5.0, 100.0, 101.0, 500.0]
    times = ["2018-01-05", "2018-01-01", "2018-01-03", "2018-01-09", "2018-01-02", "2018-02-01", "2018-02-02",
             "2018-03-01"]
    categories = ["theft", "burglary", "burglary", "theft", "robbery", "theft", "burglary", "theft"]
    incidents = _incidents(np.array(x) + 440_000, np.array(y) + 4_630_000, times, categories)
    labels = np.array([3, 3, 3, 3, 3, 7, 7, -1])
    before = incidents.copy()
    table = build_cluster_table(incidents, labels)
    assert list(table.columns) == ["cluster_id", "n", "first_date", "last_date", "centroid_x", "centroid_y",
                                   "sde_sx_m", "sde_sy_m", "sde_rotation_deg", "ellipse_wkt", "dominant_category",
                                   "dominant_share", "geometry"]
    assert table["cluster_id"].tolist() == [3, 7] and table["n"].tolist() == [5, 2]
    assert table["first_date"].iloc[0] == pd.Timestamp("2018-01-01", tz="UTC")
    assert table["last_date"].iloc[0] == pd.Timestamp("2018-01-09", tz="UTC")
    assert table["centroid_x"].iloc[0] == pytest.approx(440_005.0)
    # tie between burglary and theft (2 each): alphabetical first
    assert table["dominant_category"].tolist() == ["burglary", "burglary"]
    assert table["dominant_share"].tolist() == pytest.approx([0.4, 0.5])
    assert table.geometry.iloc[0].equals(shapely.box(440_000, 4_630_000, 440_010, 4_630_010).convex_hull)
    assert table.geometry.iloc[1].geom_type == "LineString"
    assert np.isnan(table["sde_sx_m"].iloc[1]) and pd.isna(table["ellipse_wkt"].iloc[1])
    assert table.crs == incidents.crs
    assert table.attrs["provenance"]["n_noise"] == 1
    pd.testing.assert_frame_equal(incidents, before)


def test_cluster_table_accepts_fitted_models_and_series():
    incidents = intel.make_synthetic(n_background=300, hotspots=2, random_state=13)
    model = STDBSCAN(eps_m=100, eps_days=30).fit(incidents)
    by_model = build_cluster_table(incidents, model)
    by_labels = build_cluster_table(incidents, pd.Series(model.labels_, index=incidents.index))
    pd.testing.assert_frame_equal(by_model, by_labels)
    assert len(by_model) == model.n_clusters_
    assert by_model["n"].sum() == (model.labels_ >= 0).sum()
    members = shapely.MultiPoint(shapely.get_coordinates(incidents.geometry[model.labels_ == 0]))
    assert by_model.geometry.iloc[0].buffer(1e-6).covers(members)
    with pytest.raises(NotFittedError, match="not fitted"):
        build_cluster_table(incidents, STDBSCAN())


def test_cluster_table_bad_inputs():
    incidents = intel.make_synthetic(n_background=30, hotspots=0, random_state=0)
    with pytest.raises(InputError, match="one label per incident"):
        build_cluster_table(incidents, np.zeros(5, dtype=int))
    with pytest.raises(InputError, match="integers"):
        build_cluster_table(incidents, np.full(len(incidents), 0.5))
    with pytest.raises(InputError, match="ellipse"):
        build_cluster_table(incidents, np.zeros(len(incidents), dtype=int), ellipse="yuill")
    empty = build_cluster_table(incidents, np.full(len(incidents), -1))
    assert len(empty) == 0 and "ellipse_wkt" in empty.columns


def test_bundled_sample_end_to_end():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        district = intel.load_sample("chicago_district11")
    narcotics = district[district["category"] == "NARCOTICS"]
    nnh = NNH(min_points=10).fit(narcotics)
    assert nnh.n_orders_ >= 2 and nnh.thresholds_m_[1] > nnh.thresholds_m_[0]
    table = build_cluster_table(narcotics, nnh.labels_)
    assert len(table) == nnh.labels_.max() + 1 and (table["n"] >= 10).all()
    assert (table["dominant_category"] == "NARCOTICS").all() and (table["dominant_share"] == 1).all()
    assert (table["first_date"] <= table["last_date"]).all()
    burglaries = district[district["category"] == "BURGLARY"]
    model = STDBSCAN(eps_m=100, eps_days=14, min_samples=4).fit(burglaries)
    assert model.n_clusters_ >= 1
    assert (model.labels_ >= 0).sum() == build_cluster_table(burglaries, model)["n"].sum()


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_chicago_stdbscan_with_unbounded_time_equals_sklearn_dbscan(chicago_files):
    path = [f for f in chicago_files if "2017" in f.name][0]
    raw = pd.read_csv(path, usecols=["datetime", "primary_type", "x_coordinate", "y_coordinate"])
    raw = raw[(raw["primary_type"] == "BURGLARY") & (raw["x_coordinate"] > 0)]
    feet = 0.3048006096012192  # EPSG:3435 is in US survey feet
    days = (pd.to_datetime(raw["datetime"]) - pd.Timestamp("2017-01-01")) / pd.Timedelta(days=1)
    X = np.column_stack([raw["x_coordinate"] * feet, raw["y_coordinate"] * feet, days])
    assert len(X) > 10_000
    # many burglaries share a block address: duplicates stress the core and border rules
    reference = DBSCAN(eps=50.0, min_samples=5).fit(X[:, :2])
    model = STDBSCAN(eps_m=50.0, eps_days=1e6, min_samples=5).fit(X)
    assert np.array_equal(model.labels_, reference.labels_)
    assert np.array_equal(model.core_sample_indices_, reference.core_sample_indices_)
    # with a real time window, clusters are fewer and smaller
    windowed = STDBSCAN(eps_m=50.0, eps_days=7, min_samples=5).fit(X)
    assert (windowed.labels_ >= 0).sum() < (model.labels_ >= 0).sum()
