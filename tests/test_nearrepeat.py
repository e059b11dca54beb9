"""Tests for intel.nearrepeat: the Knox test, near-repeat labels, alert zones, and the CLI."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import intel
from intel.exceptions import CRSError, DataQualityWarning, InputError, ResolutionError
from intel.nearrepeat import active_alert_zones, classify_near_repeats, knox_test

CRS = "EPSG:32616"
T0 = pd.Timestamp("2018-01-01", tz="UTC")


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
        geometry=gpd.points_from_xy(np.asarray(x, float) + 440_000, np.asarray(y, float) + 4_630_000),
        crs=crs,
    )


def _random_incidents(seed, n=400, extent=2000.0, days=120, repeats=40):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, extent, n), rng.uniform(0, extent, n)
    x[:repeats] = np.repeat(x[: repeats // 4], 4)  # repeat addresses: same-location pairs
    y[:repeats] = np.repeat(y[: repeats // 4], 4)
    # whole minutes, and some midnight defaults: exact band-edge differences happen
    minutes = rng.integers(0, days * 1440, n)
    minutes[:60] = (minutes[:60] // 1440) * 1440
    return _incidents(x, y, T0 + pd.to_timedelta(minutes, unit="min"))


def _brute_force_counts(incidents, d_edges, t_edges):
    x = incidents.geometry.x.to_numpy() - 440_000
    y = incidents.geometry.y.to_numpy() - 4_630_000
    t = ((incidents["occurred_at"] - T0) / pd.Timedelta(days=1)).to_numpy()
    i, j = np.triu_indices(len(x), 1)
    d = np.hypot(x[i] - x[j], y[i] - y[j])
    dt = np.abs(t[i] - t[j])
    d_band = np.where(d == 0, 0, np.searchsorted(d_edges, d, side="left"))
    t_band = np.searchsorted(t_edges[1:], dt, side="left")
    counts = np.zeros((len(d_edges) + 1, len(t_edges)), dtype=np.int64)
    np.add.at(counts, (d_band, t_band), 1)
    return counts


# --------------------------------------------------------------------------- knox_test


@pytest.mark.parametrize("seed", range(3))
def test_knox_observed_counts_equal_brute_force(seed):
    incidents = _random_incidents(seed)
    d_edges, t_edges = np.array([0.0, 100, 250, 400]), np.array([0.0, 3, 7, 14])
    table = knox_test(incidents, distance_bands_m=(100, 250, 400), time_bands_days=(3, 7, 14), permutations=9,
                      random_state=seed)
    expected = _brute_force_counts(incidents, d_edges, t_edges)
    assert table["observed"].to_numpy().reshape(expected.shape).tolist() == expected.tolist()
    assert table["observed"].sum() == len(incidents) * (len(incidents) - 1) // 2
    assert expected[0].sum() > 0  # the same-location band is exercised


def test_knox_table_layout_and_labels():
    table = knox_test(_random_incidents(1), permutations=19, random_state=0)
    assert list(table.columns) == ["distance_band", "time_band", "distance_from_m", "distance_to_m", "days_from",
                                   "days_to", "observed", "expected", "knox_ratio", "p_value", "significant"]
    assert table["distance_band"].unique().tolist() == ["same location", "0-100 m", "100-200 m", "200-400 m",
                                                        "over 400 m"]
    assert table["time_band"].unique().tolist() == ["0-7 days", "7-14 days", "14-21 days", "over 21 days"]
    assert len(table) == 20
    assert table.attrs["knox"]["n_events"] == 400 and table.attrs["knox"]["permutations"] == 19
    assert table.attrs["provenance"]["function"] == "knox_test"
    assert table.attrs["provenance"]["seed"] == 0


def test_knox_same_location_pairs_match_pointpats():
    from pointpats.spacetime import Knox

    incidents = _random_incidents(2, n=500)
    xy = np.column_stack([incidents.geometry.x, incidents.geometry.y])
    t = ((incidents["occurred_at"] - T0) / pd.Timedelta(days=1)).to_numpy()[:, None]
    table = knox_test(incidents, distance_bands_m=(150,), time_bands_days=(10,), permutations=9, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = Knox(xy, t, delta=150, tau=10, permutations=0)
    within = table[(table["distance_to_m"] <= 150) & (table["days_to"] <= 10)]["observed"].sum()
    assert within == reference.statistic_
    assert reference.statistic_ > 0


def test_knox_expected_is_the_permutation_mean():
    # Under a random permutation of dates, a pair's two dates are a random pair of the observed dates,
    # so E[count] = (spatial pairs in band) * (time pairs in band) / (all pairs).
    incidents = _random_incidents(3, n=300)
    table = knox_test(incidents, permutations=999, random_state=1)
    counts = table["observed"].to_numpy().reshape(5, 4)
    total = counts.sum()
    exact = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / total
    expected = table["expected"].to_numpy().reshape(5, 4)
    tolerance = 5 * np.sqrt(exact) / np.sqrt(999) + 1e-9
    assert (np.abs(expected - exact) <= tolerance).all()
    assert expected.sum() == pytest.approx(total)


def test_knox_p_values_and_reproducibility():
    incidents = _random_incidents(4)
    a = knox_test(incidents, permutations=49, random_state=7)
    b = knox_test(incidents, permutations=49, random_state=7)
    pd.testing.assert_frame_equal(a, b)
    c = knox_test(incidents, permutations=49, random_state=8)
    assert not np.array_equal(a["expected"].to_numpy(), c["expected"].to_numpy())
    steps = a["p_value"].to_numpy() * 50
    assert np.allclose(steps, np.round(steps)) and (a["p_value"] >= 1 / 50).all() and (a["p_value"] <= 1).all()
    assert (a["significant"] == (a["p_value"] <= 0.05)).all()
    ratio = a["observed"] / a["expected"]
    assert np.allclose(a["knox_ratio"].dropna(), ratio[a["expected"] > 0])


def test_knox_finds_planted_near_repeat_chains():
    incidents = intel.make_synthetic(n_background=1500, hotspots=0,
                                     triggering={"theta": 0.4, "omega_days": 4, "sigma_m": 60}, random_state=3)
    assert (incidents["truth"] == "triggered").sum() > 300
    table = knox_test(incidents, distance_bands_m=(100, 200, 400), time_bands_days=(7, 14, 21), permutations=99,
                      random_state=0).set_index(["distance_band", "time_band"])
    close = table.loc[("0-100 m", "0-7 days")]
    assert close["knox_ratio"] > 3 and close["p_value"] == pytest.approx(0.01) and close["significant"]
    assert table.loc[("100-200 m", "0-7 days"), "significant"]
    # beyond the triggering reach the ratios come back to about 1
    far = table.loc[("over 400 m", "over 21 days")]
    assert far["knox_ratio"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow
def test_knox_false_positive_rate_is_nominal_on_uniform_data():
    """Without triggering, each band's test rejects at about alpha (a little less: counts tie)."""
    rejections, tests, p_values = 0, 0, []
    for seed in range(40):
        incidents = intel.make_synthetic(n_background=1500, hotspots=0, extent_m=3000, random_state=1000 + seed)
        table = knox_test(incidents, distance_bands_m=(100, 200, 400), time_bands_days=(7, 14, 21),
                          permutations=99, random_state=seed)
        inner = table[(table["distance_band"] != "same location") & ~table["distance_band"].str.startswith("over")
                      & ~table["time_band"].str.startswith("over")]
        assert len(inner) == 9 and (inner["observed"] > 20).all()
        rejections += int(inner["significant"].sum())
        tests += len(inner)
        p_values.extend(inner["p_value"])
    rate = rejections / tests
    # 360 tests; bands within a data set are correlated, so allow about 3 binomial standard errors
    assert 0.01 <= rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / tests)
    assert 0.4 < np.mean(p_values) < 0.6  # p-values roughly uniform under the null


def test_knox_calendar_days_counts_dates():
    # 01:00 on day 0 and 23:00 on day 1: 1.9 elapsed days, 1 calendar day apart
    times = ["2018-03-01 01:00", "2018-03-02 23:00"]
    incidents = _incidents([0.0, 50.0], [0.0, 0.0], times)
    elapsed = knox_test(incidents, distance_bands_m=(100,), time_bands_days=(1, 7), permutations=1, random_state=0)
    dates = knox_test(incidents, distance_bands_m=(100,), time_bands_days=(1, 7), permutations=1, random_state=0,
                      metric_time="calendar_days")
    pick = (elapsed["distance_band"] == "0-100 m")
    assert elapsed.loc[pick, "observed"].tolist() == [0, 1, 0]
    assert dates.loc[pick, "observed"].tolist() == [1, 0, 0]


def test_knox_leaves_out_incidents_without_location_or_time():
    incidents = _random_incidents(5, n=100)
    broken = incidents.copy()
    broken.loc[broken.index[:2], "occurred_at"] = pd.NaT
    broken.loc[broken.index[2], "geometry"] = None
    with pytest.warns(DataQualityWarning, match="3 of 100"):
        table = knox_test(broken, permutations=9, random_state=0)
    assert table.attrs["knox"]["n_events"] == 97
    clean = knox_test(incidents.iloc[3:], permutations=9, random_state=0)
    assert table["observed"].tolist() == clean["observed"].tolist()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distance_bands_m": (200, 100)}, "strictly increasing"),
        ({"distance_bands_m": (-5, 100)}, ">= 0"),
        ({"distance_bands_m": "100,200"}, "sequence of numbers"),
        ({"distance_bands_m": (0,)}, "above 0"),
        ({"time_bands_days": (7, 7)}, "strictly increasing"),
        ({"time_bands_days": ()}, ">= 0"),
        ({"permutations": 0}, "permutations"),
        ({"alpha": 1.5}, "alpha"),
        ({"metric_time": "weeks"}, "metric_time"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_knox_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        knox_test(_random_incidents(0, n=20, repeats=0), **kwargs)


def test_coarse_time_resolution_is_refused():
    incidents = _random_incidents(0, n=50, repeats=0)
    incidents["time_resolution"] = "month"  # police.uk: only the month is known
    with pytest.raises(ResolutionError, match="month resolution"):
        knox_test(incidents, permutations=9)
    with pytest.raises(ResolutionError, match="days"):
        classify_near_repeats(incidents, days=14)
    table = knox_test(incidents, time_bands_days=(31, 62), permutations=9, random_state=0)
    assert table.attrs["knox"]["n_events"] == 50
    incidents["time_resolution"] = "day"
    assert len(knox_test(incidents, permutations=9, random_state=0)) == 20


def test_knox_refuses_more_pairs_than_it_can_keep(monkeypatch):
    import intel.nearrepeat as module

    monkeypatch.setattr(module, "MAX_KEPT_PAIRS", 100)
    with pytest.raises(InputError, match="smaller largest distance band"):
        knox_test(_random_incidents(0, n=200), permutations=9)


def test_knox_bad_inputs():
    with pytest.raises(InputError, match="at least 2"):
        knox_test(_random_incidents(0, n=1, repeats=0))
    with pytest.raises(InputError, match="GeoDataFrame"):
        knox_test(pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(CRSError):
        knox_test(_random_incidents(0, n=5, repeats=0).to_crs(4326))


def test_bundled_samples_burglary_repeats_and_police_uk_months():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        district = intel.load_sample("chicago_district11")
        police_uk = intel.load_sample("policeuk_west_yorkshire_2018_07")
    burglaries = district[district["category"] == "BURGLARY"]
    table = knox_test(burglaries, permutations=99, random_state=0).set_index(["distance_band", "time_band"])
    assert table.loc[("same location", "0-7 days"), "knox_ratio"] > 2
    assert table.loc[("same location", "0-7 days"), "significant"]
    labelled = classify_near_repeats(burglaries, distance_m=100, days=7)
    assert (labelled["near_repeat_class"] == "repeat").sum() > 0
    with pytest.raises(ResolutionError, match="month resolution"):
        knox_test(police_uk, permutations=9)


@pytest.mark.realdata
@pytest.mark.slow
def test_chicago_burglary_near_repeats(chicago_files):
    from scipy.spatial import cKDTree

    path = [f for f in chicago_files if "2017" in f.name][0]
    raw = pd.read_csv(path, usecols=["datetime", "primary_type", "x_coordinate", "y_coordinate"])
    raw = raw[(raw["primary_type"] == "BURGLARY") & (raw["x_coordinate"] > 0)]
    feet = 0.3048006096012192  # EPSG:3435 is in US survey feet
    occurred = pd.to_datetime(raw["datetime"]).dt.tz_localize("UTC")  # elapsed days only: UTC avoids DST gaps
    incidents = gpd.GeoDataFrame({"occurred_at": occurred.to_numpy()},
                                 geometry=gpd.points_from_xy(raw["x_coordinate"] * feet, raw["y_coordinate"] * feet),
                                 crs=CRS)
    table = knox_test(incidents, distance_bands_m=(200,), time_bands_days=(14,), permutations=99, random_state=0)
    xy = np.column_stack([incidents.geometry.x, incidents.geometry.y])
    pairs = cKDTree(xy).query_pairs(200.0, output_type="ndarray")
    minutes = ((occurred - occurred.min()) // pd.Timedelta(minutes=1)).to_numpy()  # exact: midnight defaults abound
    close_in_time = np.abs(minutes[pairs[:, 0]] - minutes[pairs[:, 1]]) <= 14 * 1440
    same = (xy[pairs[:, 0]] == xy[pairs[:, 1]]).all(axis=1)
    observed = table.set_index(["distance_band", "time_band"])["observed"]
    assert observed[("same location", "0-14 days")] == (same & close_in_time).sum()
    assert observed[("0-200 m", "0-14 days")] == (~same & close_in_time).sum()
    # burglary near repeats (Johnson et al. 2007): the same and nearby homes soon after
    rows = table.set_index(["distance_band", "time_band"])
    assert rows.loc[("same location", "0-14 days"), "knox_ratio"] > 2
    assert rows.loc[("same location", "0-14 days"), "significant"]


# --------------------------------------------------------------------------- classify_near_repeats


def _chain_example():
    # A day 0; B same place day 3; C 150 m from A day 5; D 150 m from A day 30 (too late);
    # E far away day 10; F 50 m from E day 11; G far from all, day 40
    x = [0.0, 0.0, 150.0, 0.0, 5000.0, 5050.0, 9000.0]
    y = [0.0, 0.0, 0.0, 150.0, 5000.0, 5000.0, 9000.0]
    days = [0, 3, 5, 30, 10, 11, 40]
    return _incidents(x, y, T0 + pd.to_timedelta(days, unit="D"))


def test_classify_near_repeats_hand_example():
    incidents = _chain_example()
    before = incidents.copy()
    out = classify_near_repeats(incidents, distance_m=200, days=14)
    assert out["near_repeat_class"].tolist() == ["originator", "repeat", "near repeat", "isolated", "originator",
                                                 "near repeat", "isolated"]
    assert out["previous_id"].iloc[2] == "i1"  # the latest of its earlier links (A and B)
    assert out["previous_id"].iloc[1] == "i0" and pd.isna(out["previous_id"].iloc[0])
    assert out["previous_id"].iloc[5] == "i4"
    assert out["chain_id"].tolist() == [0, 0, 0, -1, 1, 1, -1]
    # as of the last incident (day 40), the windows of D (day 30) and G (day 40) are open
    assert out["alert_active"].tolist() == [False, False, False, True, False, False, True]
    pd.testing.assert_frame_equal(incidents, before)
    assert out.attrs["provenance"]["automatic"]["as_of"]["rule"] == "latest occurred_at"
    assert out.attrs["provenance"]["counts"]["originator"] == 2


def test_classify_near_repeats_as_of_hides_the_future():
    incidents = _chain_example()
    out = classify_near_repeats(incidents, distance_m=200, days=14, as_of="2018-01-04")
    assert out["near_repeat_class"].tolist()[:2] == ["originator", "repeat"]
    assert out["near_repeat_class"].iloc[2:].isna().all()
    assert out["alert_active"].tolist() == [True, True] + [False] * 5
    assert out.attrs["provenance"]["automatic"] == {}


def test_classify_near_repeats_matches_brute_force():
    incidents = _random_incidents(6, n=300, extent=1500, days=60)
    out = classify_near_repeats(incidents, distance_m=120, days=5)
    x = incidents.geometry.x.to_numpy()
    y = incidents.geometry.y.to_numpy()
    t = ((incidents["occurred_at"] - T0) / pd.Timedelta(days=1)).to_numpy()
    n = len(x)
    order = np.lexsort((np.arange(n), t))
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    linked = (d <= 120) & (np.abs(t[:, None] - t[None]) <= 5) & ~np.eye(n, dtype=bool)
    earlier = rank[None, :] < rank[:, None]  # [i, j]: j is earlier than i
    expected = np.where((linked & earlier & (d == 0)).any(1), "repeat",
                        np.where((linked & earlier).any(1), "near repeat",
                                 np.where(linked.any(1), "originator", "isolated")))
    assert out["near_repeat_class"].tolist() == expected.tolist()
    assert set(out["near_repeat_class"]) == {"repeat", "near repeat", "originator", "isolated"}


def test_classify_near_repeats_bad_inputs():
    incidents = _chain_example()
    with pytest.raises(InputError, match="distance_m"):
        classify_near_repeats(incidents, distance_m=-1)
    with pytest.raises(InputError, match="as_of"):
        classify_near_repeats(incidents, as_of="not a date")
    with pytest.raises(InputError, match="occurred_at"):
        classify_near_repeats(incidents.drop(columns="occurred_at"))


# --------------------------------------------------------------------------- active_alert_zones


def test_active_alert_zones_merge_overlapping_discs():
    # two recent incidents 300 m apart (discs of 200 m overlap), one far, one too old
    x = [0.0, 300.0, 5000.0, 0.0]
    y = [0.0, 0.0, 0.0, 1000.0]
    days = [20, 25, 22, 1]
    incidents = _incidents(x, y, T0 + pd.to_timedelta(days, unit="D"), ["burglary", "theft", "burglary", "theft"])
    zones = active_alert_zones(incidents, distance_m=200, days=14, as_of="2018-01-27")
    assert zones["n"].tolist() == [2, 1]  # most recent activity first
    assert zones["incident_ids"].tolist() == ["i0,i1", "i2"]
    assert zones["categories"].iloc[0] == "burglary,theft"
    assert zones["expires_at"].iloc[0] == T0 + pd.Timedelta(days=25 + 14)
    two_discs = shapely.union_all([shapely.Point(440_000, 4_630_000).buffer(200, quad_segs=16),
                                   shapely.Point(440_300, 4_630_000).buffer(200, quad_segs=16)])
    assert zones.geometry.iloc[0].area == pytest.approx(two_discs.area, rel=1e-9)
    assert zones.crs == incidents.crs and zones.attrs["as_of"].startswith("2018-01-27")
    assert zones["zone_id"].tolist() == [0, 1]


def test_active_alert_zones_empty_window():
    incidents = _chain_example()
    zones = active_alert_zones(incidents, distance_m=200, days=14, as_of="2017-06-01")
    assert len(zones) == 0
    assert {"zone_id", "n", "expires_at", "geometry"} <= set(zones.columns)


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def incident_csv(tmp_path):
    incidents = intel.make_synthetic(n_background=400, hotspots=0,
                                     triggering={"theta": 0.5, "omega_days": 3, "sigma_m": 50}, random_state=2)
    wgs = incidents.to_crs(4326)
    frame = pd.DataFrame({"uid": incidents["incident_id"],
                          "date": incidents["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M"),
                          "offense_type": incidents["category"], "latitude": wgs.geometry.y,
                          "longitude": wgs.geometry.x})
    path = tmp_path / "incidents.csv"
    frame.to_csv(path, index=False)
    return path


def _run_cli(args):
    from typer.testing import CliRunner

    from intel.cli import app

    return CliRunner().invoke(app, args)


def test_cli_nearrepeat_json_contract(incident_csv, tmp_path):
    out = tmp_path / "knox.csv"
    result = _run_cli(["nearrepeat", str(incident_csv), "--schema", "code", "--tz", "UTC",
                       "--distance-bands-m", "100,200,400", "--time-bands-days", "7,14,21",
                       "--permutations", "19", "--seed", "3", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) >= {"table", "n_events", "permutations", "parameters"}
    assert payload["permutations"] == 19 and payload["parameters"]["seed"] == 3
    assert len(payload["table"]) == 20
    assert set(payload["table"][0]) >= {"distance_band", "time_band", "observed", "expected", "knox_ratio", "p_value",
                                        "significant"}
    first = next(row for row in payload["table"]
                 if row["distance_band"] == "0-100 m" and row["time_band"] == "0-7 days")
    assert first["knox_ratio"] > 1 and first["significant"] is True
    assert out.exists() and (tmp_path / "knox.csv.provenance.json").exists()
    again = _run_cli(["nearrepeat", str(incident_csv), "--schema", "code", "--tz", "UTC", "--permutations", "19",
                      "--seed", "3", "--json"])
    assert json.loads(again.stdout)["table"] == payload["table"]


def test_cli_nearrepeat_text_and_errors(incident_csv):
    result = _run_cli(["nearrepeat", str(incident_csv), "--schema", "code", "--tz", "UTC", "--permutations", "9"])
    assert result.exit_code == 0, result.output
    assert "Knox test" in result.stdout and "same location" in result.stdout
    bad = _run_cli(["nearrepeat", str(incident_csv), "--schema", "code", "--tz", "UTC", "--distance-bands-m", "a,b"])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, InputError) and "--distance-bands-m" in str(bad.exception)
