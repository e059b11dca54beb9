"""build_cube: shape and order of the cube, aoristic spreading, calendars, resolution checks, Dask."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import intel
from intel.exceptions import CRSError, DataQualityWarning, GridError, InputError, ResolutionError

TZ = "America/Chicago"
CRS = "EPSG:32616"


def make_incidents(times, *, to=None, resolution=None, xy=None, weight=None, tz=TZ):
    """A small Incidents table; every point in the cell (0, 0) of a 100 m grid unless ``xy``."""
    n = len(times)
    occurred = pd.Series(pd.to_datetime(times)).dt.tz_localize(tz)
    occurred_to = (pd.Series(pd.to_datetime(to)).dt.tz_localize(tz) if to is not None
                   else pd.Series(pd.NaT, index=range(n), dtype=occurred.dtype))
    xy = xy if xy is not None else [(50.0, 50.0)] * n
    return gpd.GeoDataFrame(
        {
            "incident_id": pd.array([f"i{k}" for k in range(n)], dtype="string"),
            "occurred_at": occurred,
            "occurred_to": occurred_to,
            "time_resolution": resolution or ["minute"] * n,
            "category": "burglary",
            "weight": weight if weight is not None else 1.0,
        },
        geometry=gpd.points_from_xy([p[0] for p in xy], [p[1] for p in xy]),
        crs=CRS,
    )


@pytest.fixture(scope="module")
def grid2x2():
    area = gpd.GeoSeries([shapely.box(0, 0, 199, 199)], crs=CRS)
    return intel.make_grid(area, cell_size_m=100)


@pytest.fixture(scope="module")
def synthetic():
    return intel.make_synthetic(n_background=3000, random_state=3)


# ---------------------------------------------------------------- shape, order, totals


def test_cube_is_dense_cell_major_and_matches_groupby(synthetic):
    grid = intel.make_grid(synthetic, cell_size_m=1000)
    cube = intel.build_cube(synthetic, grid, freq="MS")
    assert list(cube.index.names) == ["cell_id", "period"]
    assert list(cube.columns) == ["n"]
    assert len(cube) == len(grid) * 12
    assert cube.attrs["cube"]["periods"] == 12 and cube.attrs["cube"]["n_cells"] == len(grid)
    cells = cube.index.get_level_values("cell_id").to_numpy()
    assert list(cells[::12]) == list(grid.index)
    periods = cube.index.get_level_values("period")[:12]
    assert list(periods) == list(pd.date_range("2018-01-01", periods=12, freq="MS", tz="UTC"))
    # reference: plain pandas groupby on (cell, month)
    pos = intel.assign_cells(synthetic, grid)
    month = synthetic["occurred_at"].dt.month.to_numpy() - 1
    ref = pd.Series(1.0, index=pd.MultiIndex.from_arrays([pos, month])).groupby(level=[0, 1]).sum()
    dense = np.zeros((len(grid), 12))
    dense[ref.index.get_level_values(0), ref.index.get_level_values(1)] = ref.to_numpy()
    np.testing.assert_array_equal(cube["n"].to_numpy().reshape(len(grid), 12), dense)
    assert (cube["n"] == 0).sum() > 0  # zeros are rows, not gaps


def test_cube_records_provenance_without_timestamps(synthetic):
    grid = intel.make_grid(synthetic, cell_size_m=2000)
    a = intel.build_cube(synthetic, grid, freq="W-MON", end="2018-12-31")
    b = intel.build_cube(synthetic, grid, freq="W-MON", end="2018-12-31")
    assert a.attrs["provenance"] == b.attrs["provenance"]
    record = a.attrs["provenance"]
    assert record["function"] == "build_cube"
    assert "start" in record["automatic"] and "end" not in record["automatic"]
    assert record["n_incidents"] == len(synthetic)


def test_cube_does_not_mutate_inputs(synthetic, grid2x2):
    grid = intel.make_grid(synthetic, cell_size_m=2000)
    before = synthetic.copy()
    grid_before = grid.copy()
    intel.build_cube(synthetic, grid, freq="MS")
    pd.testing.assert_frame_equal(synthetic, before)
    pd.testing.assert_frame_equal(grid, grid_before)


def test_points_outside_the_grid_are_left_out(grid2x2):
    inc = make_incidents(["2018-01-02 10:00", "2018-01-02 11:00"], xy=[(50, 50), (5000, 5000)])
    cube = intel.build_cube(inc, grid2x2, freq="D", end="2018-01-03")
    assert cube["n"].sum() == 1.0
    assert cube.attrs["provenance"]["n_outside_grid"] == 1


def test_weights_are_summed(grid2x2):
    inc = make_incidents(["2018-01-02 10:00", "2018-01-02 11:00"], weight=[2.5, 0.25])
    cube = intel.build_cube(inc, grid2x2, freq="D", end="2018-01-03")
    assert cube["n"].sum() == pytest.approx(2.75, abs=1e-9)


# ---------------------------------------------------------------- aoristic spreading


def test_window_across_a_week_boundary_is_split_by_overlap(grid2x2):
    # Friday 18:00 to Monday 06:00: 54 hours in the first week, 6 in the next
    inc = make_incidents(["2018-01-05 18:00"], to=["2018-01-08 06:00"])
    cube = intel.build_cube(inc, grid2x2, freq="W-MON", start="2018-01-01", end="2018-01-15")
    n = cube["n"].to_numpy().reshape(4, 2)[0]
    assert n[0] == pytest.approx(54 / 60, abs=1e-9)
    assert n[1] == pytest.approx(6 / 60, abs=1e-9)
    assert n.sum() == 1.0  # exactly: shares are differences of one cumulative rounding


def test_aoristic_false_puts_everything_at_occurred_at(grid2x2):
    inc = make_incidents(["2018-01-05 18:00"], to=["2018-01-08 06:00"])
    cube = intel.build_cube(inc, grid2x2, freq="W-MON", start="2018-01-01", end="2018-01-15", aoristic=False)
    np.testing.assert_array_equal(cube["n"].to_numpy().reshape(4, 2)[0], [1.0, 0.0])


def test_many_windows_each_sum_to_one():
    rng = np.random.default_rng(5)
    n = 500
    start = pd.Timestamp("2018-01-01")
    t0 = start + pd.to_timedelta(rng.uniform(0, 300, n), unit="D").round("min")
    t1 = t0 + pd.to_timedelta(rng.exponential(5, n), unit="D").round("min")
    inc = make_incidents(t0, to=t1)
    area = gpd.GeoSeries([shapely.box(0, 0, 99, 99)], crs=CRS)
    grid = intel.make_grid(area, cell_size_m=100)
    cube = intel.build_cube(inc, grid, freq="D", start="2017-12-01", end="2019-01-01")
    assert cube["n"].sum() == pytest.approx(n, abs=1e-6)
    # and each one separately
    for k in range(5):
        single = intel.build_cube(inc.iloc[[k]], grid, freq="D", start="2017-12-01", end="2019-01-01")
        assert single["n"].sum() == 1.0
        days = single["n"].to_numpy()
        hours = (t1[k] - t0[k]) / pd.Timedelta(hours=1)
        first_day = (pd.Timestamp(t0[k]).normalize() + pd.Timedelta(days=1) - t0[k]) / pd.Timedelta(hours=1)
        assert days[days > 0][0] == pytest.approx(min(first_day, hours) / hours, abs=1e-8)


def test_a_window_over_thousands_of_periods(grid2x2):
    # 200 days of hours: more shares than the compiled loop's block holds
    inc = make_incidents(["2018-01-01 00:00", "2018-01-01 00:00"], to=["2018-07-20 00:00", "2018-01-01 03:00"])
    cube = intel.build_cube(inc, grid2x2, freq="h", start="2018-01-01", end="2018-08-01")
    n = cube["n"].to_numpy().reshape(4, -1)[0]
    assert n.sum() == 2.0
    hours = (pd.Timestamp("2018-07-20", tz=TZ) - pd.Timestamp("2018-01-01", tz=TZ)) / pd.Timedelta(hours=1)
    assert n[0] == pytest.approx(1 / hours + 1 / 3, abs=1e-9)
    assert n[1000] == pytest.approx(1 / hours, abs=1e-9)


def test_window_partly_outside_the_cube_keeps_only_its_inside_share(grid2x2):
    # 12 of 24 hours fall before the cube's start
    inc = make_incidents(["2017-12-31 12:00"], to=["2018-01-01 12:00"])
    cube = intel.build_cube(inc, grid2x2, freq="D", start="2018-01-01", end="2018-01-03")
    assert cube["n"].sum() == pytest.approx(0.5, abs=1e-9)


def test_day_rows_spread_over_their_calendar_day_even_on_dst_days(grid2x2):
    # 2018-03-11 has 23 hours in Chicago: a day row must not spill into the 12th
    inc = make_incidents(["2018-03-11 00:00", "2018-11-04 00:00"], resolution=["day", "day"])
    cube = intel.build_cube(inc, grid2x2, freq="D", start="2018-03-10", end="2018-11-06")
    n = cube["n"].to_numpy().reshape(4, -1)[0]
    periods = cube.index.get_level_values("period")[: n.size]
    assert n[list(periods).index(pd.Timestamp("2018-03-11", tz=TZ))] == 1.0
    assert n[list(periods).index(pd.Timestamp("2018-11-04", tz=TZ))] == 1.0
    assert n.sum() == 2.0


def test_month_rows_fill_their_month(grid2x2):
    inc = make_incidents(["2018-02-01 00:00"], resolution=["month"])
    cube = intel.build_cube(inc, grid2x2, freq="MS", start="2018-01-01", end="2018-04-01")
    np.testing.assert_array_equal(cube["n"].to_numpy().reshape(4, 3)[0], [0.0, 1.0, 0.0])


def test_month_rows_spread_over_quarters_by_overlap(grid2x2):
    # a two-month window (from occurred_to): March in Q1, April in Q2; shares by elapsed
    # time, so March counts 743 hours (daylight saving starts on the 11th)
    inc = make_incidents(["2018-03-01 00:00"], to=["2018-05-01 00:00"], resolution=["month"])
    cube = intel.build_cube(inc, grid2x2, freq="QS", start="2018-01-01", end="2018-07-01")
    n = cube["n"].to_numpy().reshape(4, 2)[0]
    march, april_end = pd.Timestamp("2018-03-01", tz=TZ), pd.Timestamp("2018-05-01", tz=TZ)
    share = (pd.Timestamp("2018-04-01", tz=TZ) - march) / (april_end - march)
    assert share == pytest.approx(743 / 1463)
    assert n[0] == pytest.approx(share, abs=1e-9)
    assert n.sum() == 1.0


# ---------------------------------------------------------------- resolution checks


@pytest.mark.parametrize("freq", ["W-MON", "D", "h"])
def test_month_resolution_refuses_short_periods(grid2x2, freq):
    inc = make_incidents(["2018-02-01 00:00", "2018-03-01 00:00"], resolution=["month", "month"])
    with pytest.raises(ResolutionError, match="month resolution.*freq='MS'"):
        intel.build_cube(inc, grid2x2, freq=freq)
    with pytest.raises(ResolutionError):  # even when not spreading
        intel.build_cube(inc, grid2x2, freq=freq, aoristic=False)


def test_day_resolution_refuses_hourly(grid2x2):
    inc = make_incidents(["2018-02-01 00:00"], resolution=["day"])
    with pytest.raises(ResolutionError, match="day resolution"):
        intel.build_cube(inc, grid2x2, freq="h")
    intel.build_cube(inc, grid2x2, freq="D")  # a day is fine (and fills its final period: no warning)


# ---------------------------------------------------------------- calendars


def test_weeks_start_monday_local_midnight_across_dst(grid2x2):
    inc = make_incidents(["2018-03-01 12:00", "2018-03-25 12:00"])
    cube = intel.build_cube(inc, grid2x2, freq="W-MON")
    periods = cube.index.get_level_values("period")[: cube.attrs["cube"]["periods"]]
    assert all(p.weekday() == 0 and p.hour == 0 for p in periods)
    assert str(periods.tz) == TZ
    assert periods[0] == pd.Timestamp("2018-02-26", tz=TZ)


def test_start_moves_forward_and_end_back_to_whole_periods(grid2x2):
    inc = make_incidents(["2018-01-03 12:00", "2018-01-20 12:00"])
    cube = intel.build_cube(inc, grid2x2, freq="W-MON", start="2018-01-03", end="2018-01-25")
    meta = cube.attrs["cube"]
    assert meta["start"].startswith("2018-01-08") and meta["end"].startswith("2018-01-22")
    assert meta["periods"] == 2
    assert cube["n"].sum() == 1.0  # the 3 January incident is before the first whole week
    assert cube.attrs["provenance"]["automatic"] == {}


def test_incomplete_final_period_warns(grid2x2):
    inc = make_incidents(["2018-01-03 12:00", "2018-01-15 01:00"])  # a Monday, just into a new week
    with pytest.warns(DataQualityWarning, match="incomplete final period"):
        intel.build_cube(inc, grid2x2, freq="W-MON")


def test_backwards_windows_warn_and_count_at_occurred_at(grid2x2):
    inc = make_incidents(["2018-01-03 12:00"], to=["2018-01-01 12:00"])
    with pytest.warns(DataQualityWarning, match="before occurred_at"):
        cube = intel.build_cube(inc, grid2x2, freq="D", start="2018-01-01", end="2018-01-05")
    assert cube["n"].to_numpy().reshape(4, 4)[0, 2] == 1.0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("freq, message", [("ME", "freq='MS'"), ("fortnightly", "pandas frequency")])
def test_bad_frequencies(grid2x2, freq, message):
    inc = make_incidents(["2018-01-03 12:00"])
    with pytest.raises(InputError, match=message):
        intel.build_cube(inc, grid2x2, freq=freq)


def test_bad_arguments(grid2x2):
    inc = make_incidents(["2018-01-03 12:00"])
    with pytest.raises(InputError, match="'engine' parameter"):
        intel.build_cube(inc, grid2x2, engine="spark")
    with pytest.raises(InputError, match="no whole"):
        intel.build_cube(inc, grid2x2, freq="W-MON", start="2018-01-02", end="2018-01-05")
    with pytest.raises(InputError, match="not a date"):
        intel.build_cube(inc, grid2x2, start="yesterday-ish")
    with pytest.raises(InputError, match="grid must be a GeoDataFrame"):
        intel.build_cube(inc, "grid")
    with pytest.raises(InputError, match="Incidents GeoDataFrame"):
        intel.build_cube(pd.DataFrame({"occurred_at": []}), grid2x2)
    with pytest.raises(InputError, match="engine='pandas'"):
        intel.build_cube(inc, grid2x2, engine="dask")


def test_classify_refuses_a_cube_from_another_grid(synthetic):
    grid = intel.make_grid(synthetic, cell_size_m=2000)
    other = intel.make_grid(synthetic, cell_size_m=1000)
    cube = intel.build_cube(synthetic, grid, freq="MS")
    with pytest.raises(GridError, match="grid the cube was built on"):
        intel.classify_emerging(cube, other)
    with pytest.raises(GridError, match="grid order"):
        intel.classify_emerging(cube, grid.iloc[::-1])


# ---------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def mixed_incidents():
    """Synthetic incidents with occurred-between windows and day-resolution rows."""
    inc = intel.make_synthetic(n_background=4000, random_state=11)
    rng = np.random.default_rng(2)
    inc["occurred_to"] = inc["occurred_at"] + pd.to_timedelta(rng.exponential(3, len(inc)), unit="D").round("min")
    inc.loc[inc.index[::3], "occurred_to"] = pd.NaT
    inc["time_resolution"] = np.where(np.arange(len(inc)) % 5 == 0, "day", "minute")
    inc["weight"] = np.where(np.arange(len(inc)) % 7 == 0, 0.5, 1.0)
    return inc


@pytest.mark.slow
def test_dask_engine_is_identical_to_pandas(tmp_path, mixed_incidents):
    distributed = pytest.importorskip("distributed")
    dd = pytest.importorskip("dask.dataframe")
    inc = mixed_incidents
    grid = intel.make_grid(inc, cell_size_m=1000)
    for k in range(4):  # a dataset of four files, rows interleaved
        inc.iloc[k::4].to_parquet(tmp_path / f"part-{k}.parquet")
    plain = inc.drop(columns="geometry").assign(x=inc.geometry.x, y=inc.geometry.y)
    expected = intel.build_cube(inc, grid, freq="W-MON", end="2018-12-31")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        from_files = intel.build_cube(str(tmp_path), grid, freq="W-MON", end="2018-12-31", engine="dask")
        from_frame = intel.build_cube(dd.from_pandas(pd.DataFrame(plain), npartitions=3), grid, freq="W-MON",
                                      end="2018-12-31", engine="dask")
    for got in (from_files, from_frame):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert got.attrs["cube"] == expected.attrs["cube"]
        assert got.attrs["provenance"]["automatic"] == expected.attrs["provenance"]["automatic"]
    assert from_files.attrs["provenance"]["parameters"]["engine"] == "dask"


def test_dask_engine_refuses_geoparquet_in_another_crs(tmp_path, mixed_incidents):
    pytest.importorskip("distributed")
    grid = intel.make_grid(mixed_incidents, cell_size_m=2000)
    mixed_incidents.to_crs(3857).to_parquet(tmp_path / "inc.parquet")
    with pytest.raises(CRSError, match="EPSG:3857"):
        intel.build_cube(str(tmp_path / "inc.parquet"), grid, engine="dask")


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_chicago_weekly_cube_matches_groupby(chicago_files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        inc = intel.read_incidents(chicago_files[-1])  # 2018, 230k rows
    grid = intel.make_grid(inc, cell_size_m=500)
    cube = intel.build_cube(inc, grid, freq="W-MON", start="2018-01-01", end="2018-11-12")
    n_periods = cube.attrs["cube"]["periods"]
    assert n_periods == 45
    pos = intel.assign_cells(inc, grid)
    local = inc["occurred_at"]
    start = pd.Timestamp("2018-01-01", tz=local.dt.tz)
    week = ((local - start) // pd.Timedelta(days=7)).to_numpy()
    keep = (pos >= 0) & (week >= 0) & (week < n_periods)
    ref = np.zeros((len(grid), n_periods))
    np.add.at(ref, (pos[keep], week[keep]), 1.0)
    # DST shifts week boundaries by an hour in local time: compare away from them
    np.testing.assert_allclose(cube["n"].to_numpy().reshape(len(grid), n_periods).sum(axis=1), ref.sum(axis=1),
                               atol=5)
    assert cube["n"].sum() == pytest.approx(keep.sum(), abs=1e-6)


@pytest.mark.realdata
def test_policeuk_month_resolution(shared_data):
    path = shared_data / "west_yorkshire_policeuk_jul2016_2018" / "west_yorkshire_street_2016-07_2017-07_2018-07.csv.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        inc = intel.read_incidents(path)
    grid = intel.make_grid(inc, cell_size_m=2000)
    with pytest.raises(ResolutionError, match="month resolution"):
        intel.build_cube(inc, grid, freq="W-MON")
    cube = intel.build_cube(inc, grid, freq="MS")
    monthly = cube["n"].groupby(level="period").sum()
    july = monthly[monthly > 0]
    assert [p.month for p in july.index] == [7, 7, 7]  # July 2016, 2017 and 2018, nothing spread elsewhere
    assert july.sum() == pytest.approx((intel.assign_cells(inc, grid) >= 0).sum(), abs=1e-6)
