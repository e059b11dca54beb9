"""Temporal products: hour-by-weekday table, counts by period, period comparisons."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import intel
from intel.exceptions import DataQualityWarning, InputError, ResolutionError

TZ = "Europe/London"


def make_incidents(times, *, to=None, resolution=None, category=None, tz=TZ):
    n = len(times)
    occurred = pd.Series(pd.to_datetime(times)).dt.tz_localize(tz)
    occurred_to = (pd.Series(pd.to_datetime(to)).dt.tz_localize(tz) if to is not None
                   else pd.Series(pd.NaT, index=range(n), dtype=occurred.dtype))
    return gpd.GeoDataFrame(
        {
            "incident_id": pd.array([f"i{k}" for k in range(n)], dtype="string"),
            "occurred_at": occurred,
            "occurred_to": occurred_to,
            "time_resolution": resolution or ["minute"] * n,
            "category": category or ["burglary"] * n,
            "weight": 1.0,
        },
        geometry=gpd.points_from_xy(np.zeros(n), np.zeros(n)),
        crs="EPSG:27700",
    )


# ---------------------------------------------------------------- hour by weekday


def test_hour_weekday_places_instants_in_local_hours():
    # 2018-07-02 is a Monday; British Summer Time (UTC+1) must not shift the hour
    inc = make_incidents(["2018-07-02 00:30", "2018-07-08 23:59", "2018-07-06 21:15"])
    table = intel.build_hour_weekday(inc)
    assert table.shape == (7, 24)
    assert list(table.index) == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert list(table.columns) == list(range(24))
    assert table.loc["Monday", 0] == 1 and table.loc["Sunday", 23] == 1 and table.loc["Friday", 21] == 1
    assert table.to_numpy().sum() == 3


def test_hour_weekday_spreads_windows_and_day_rows():
    inc = make_incidents(["2018-07-06 18:00", "2018-07-04 00:00"], to=["2018-07-06 20:00", None],
                         resolution=["minute", "day"])
    table = intel.build_hour_weekday(inc)
    assert table.loc["Friday", 18] == pytest.approx(0.5) and table.loc["Friday", 19] == pytest.approx(0.5)
    np.testing.assert_allclose(table.loc["Wednesday"].to_numpy(), np.full(24, 1 / 24))
    assert table.to_numpy().sum() == pytest.approx(2.0)
    plain = intel.build_hour_weekday(inc, aoristic=False)
    assert plain.loc["Friday", 18] == 1 and plain.loc["Wednesday", 0] == 1


def test_hour_weekday_long_windows_cover_every_hour():
    # 15 days: two whole weeks (2/15 of the weight to every hour of the week, each week)
    # plus one more day
    inc = make_incidents(["2018-07-02 00:00"], to=["2018-07-17 00:00"])
    table = intel.build_hour_weekday(inc).to_numpy()
    assert table.sum() == pytest.approx(1.0)
    assert table[0, 0] == pytest.approx(3 / 360)  # Mondays 00:00: three of the 360 hours
    assert table[2, 0] == pytest.approx(2 / 360)


def test_hour_weekday_refuses_month_resolution():
    inc = make_incidents(["2018-07-01 00:00"], resolution=["month"])
    with pytest.raises(ResolutionError, match="month resolution"):
        intel.build_hour_weekday(inc)


# ---------------------------------------------------------------- counts by period


def test_period_counts_have_every_pair():
    inc = make_incidents(["2018-01-03 10:00", "2018-01-20 10:00", "2018-03-01 10:00"],
                         category=["theft", "burglary", "theft"])
    counts = intel.build_period_counts(inc, freq="MS", end="2018-04-01")
    assert list(counts.columns) == ["category", "period", "n"]
    assert list(counts["category"]) == ["burglary"] * 3 + ["theft"] * 3
    assert list(counts["n"]) == [1, 0, 0, 1, 0, 1]
    assert counts["period"].dt.tz is not None
    total = intel.build_period_counts(inc, freq="MS", by=None, end="2018-04-01")
    assert list(total.columns) == ["period", "n"] and list(total["n"]) == [2, 0, 1]


def test_period_counts_refuse_weekly_counts_of_monthly_data():
    inc = make_incidents(["2018-07-01 00:00"], resolution=["month"])
    with pytest.raises(ResolutionError):
        intel.build_period_counts(inc, freq="W-MON")
    with pytest.raises(InputError, match="not a column"):
        intel.build_period_counts(inc, freq="MS", by="offence")


# ---------------------------------------------------------------- comparisons


@pytest.fixture(scope="module")
def two_years():
    rng = np.random.default_rng(4)
    days = pd.date_range("2017-01-01", "2018-12-31", freq="D")
    times = []
    for day in days:
        times.extend(day + pd.to_timedelta(rng.uniform(0, 24, rng.poisson(3)), unit="h").round("min"))
    return make_incidents(times)


def test_compare_periods_counts_and_statistics(two_years):
    table = intel.compare_periods(two_years, week="2018-W44")
    assert list(table["comparison"]) == ["prior_4_weeks", "same_week_last_year", "year_to_date"]
    row = table.iloc[0]
    assert row["current_start"] == pd.Timestamp("2018-10-29", tz=TZ)
    assert row["current_end"] == pd.Timestamp("2018-11-05", tz=TZ)
    assert row["baseline_start"] == pd.Timestamp("2018-10-01", tz=TZ)
    times = two_years["occurred_at"]
    a = ((times >= row["current_start"]) & (times < row["current_end"])).sum()
    b_total = ((times >= row["baseline_start"]) & (times < row["baseline_end"])).sum()
    assert row["current"] == a and row["baseline_total"] == b_total and row["baseline"] == b_total / 4
    assert row["z"] == pytest.approx(2 * (np.sqrt(a) - np.sqrt(b_total / 4)) / np.sqrt(1.25))
    assert row["p_value"] == pytest.approx(binomtest(int(a), int(a + b_total), 0.2).pvalue)
    assert row["percent_change"] == pytest.approx(100 * (a - b_total / 4) / (b_total / 4))
    last_year = table.iloc[1]
    assert last_year["baseline_start"] == pd.Timestamp("2017-10-30", tz=TZ)  # 52 weeks back, a Monday
    ytd = table.iloc[2]
    assert ytd["current_start"] == pd.Timestamp("2018-01-01", tz=TZ)
    assert ytd["baseline_end"] == pd.Timestamp("2017-11-05", tz=TZ)
    assert table["complete"].all()


def test_compare_periods_accepts_a_date_and_chooses_the_last_whole_week(two_years):
    by_date = intel.compare_periods(two_years, week="2018-11-01")
    by_iso = intel.compare_periods(two_years, week="2018-W44")
    pd.testing.assert_frame_equal(by_date, by_iso)
    auto = intel.compare_periods(two_years)
    assert auto.loc[0, "current_start"] == pd.Timestamp("2018-12-24", tz=TZ)
    assert auto.attrs["provenance"]["automatic"]["week"]["value"] == "2018-W52"
    assert "week" not in by_iso.attrs["provenance"]["automatic"]


def test_compare_periods_by_category_and_coverage():
    inc = make_incidents(["2018-10-30 10:00", "2018-10-31 10:00", "2018-10-10 10:00"],
                         category=["theft", "burglary", "theft"])
    with pytest.warns(DataQualityWarning, match="do not cover"):
        table = intel.compare_periods(inc, week="2018-W44", by="category")
    assert list(table.columns[:2]) == ["category", "comparison"]
    assert len(table) == 6
    theft = table[(table["category"] == "theft") & (table["comparison"] == "prior_4_weeks")].iloc[0]
    assert theft["current"] == 1 and theft["baseline_total"] == 1
    assert np.isnan(table.loc[table["comparison"] == "same_week_last_year", "z"]).all()


def test_compare_periods_bad_input(two_years):
    with pytest.raises(InputError, match="ISO week"):
        intel.compare_periods(two_years, week="2018-W60")
    with pytest.raises(InputError, match="not a column"):
        intel.compare_periods(two_years, by="offence")
    monthly = make_incidents(["2018-07-01 00:00"], resolution=["month"])
    with pytest.raises(ResolutionError):
        intel.compare_periods(monthly)


@pytest.mark.realdata
def test_chicago_district_hour_weekday_and_comparisons():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        inc = intel.load_sample("chicago_district11")
    table = intel.build_hour_weekday(inc)
    assert table.to_numpy().sum() == pytest.approx(len(inc))
    # narcotics arrests and batteries: afternoons and evenings outnumber early mornings
    assert table.loc[:, 12:20].to_numpy().sum() > 2 * table.loc[:, 3:8].to_numpy().sum()
    comparison = intel.compare_periods(inc, week="2018-W40", by="category")
    assert comparison["complete"].all()
    assert np.isfinite(comparison["z"]).all()
