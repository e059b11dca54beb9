"""Loaders on the full real data sets in ../shared/data (skipped, saying why, where they are absent)."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from intel.exceptions import DataQualityWarning
from intel.io import load_incidents

pytestmark = pytest.mark.realdata


def quiet_load(source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load_incidents(source, **kwargs)


def accounted(res) -> None:
    r = res.report
    assert r["n_read"] == r["n_kept"] + r["n_quarantined"] == len(res.incidents) + len(res.quarantine)
    assert sum(r["quarantine_reasons"].values()) == r["n_quarantined"]


@pytest.mark.slow
def test_all_of_chicago_2012_2018(chicago_files):
    assert len(chicago_files) == 7
    res = quiet_load(chicago_files)
    accounted(res)
    r = res.report
    assert r["n_read"] == 1_949_344 and r["schema"] == "chicago"
    assert r["n_kept"] >= 0.99 * r["n_read"]
    # README: 14,267 rows without coordinates; 26 rows at x = y = 0 feet (lat/lon 36.62, -91.69)
    assert r["quarantine_reasons"] == {"missing_coordinates": 14_267, "null_island": 26}
    bogus = res.quarantine[res.quarantine["reason"] == "null_island"]
    assert np.allclose(bogus["latitude"], 36.619446) and (bogus["x_coordinate"] == 0).all()
    assert res.incidents["incident_id"].is_unique
    assert r["crs"] == "EPSG:32616" and r["tz"] == "America/Chicago"
    assert r["time_resolution"]["minute"] == r["n_kept"]
    assert any("exactly 12:00" in w for w in r["warnings"])
    assert any("1st of the month" in w for w in r["warnings"])
    assert len(r["sha256"]) == 7 and r["files"][0].endswith("chicago_crimes_2012.csv.gz")
    inc = res.incidents
    assert inc["occurred_at"].min() == pd.Timestamp("2012-01-01 00:00", tz="America/Chicago")
    assert inc["occurred_at"].max() <= pd.Timestamp("2018-11-12 23:59", tz="America/Chicago")
    assert set(inc["source_file"].cat.categories) == {p.name for p in chicago_files}
    # every kept point lies in or near Chicago (UTM 16N metres)
    assert inc.geometry.x.between(420_000, 470_000).all() and inc.geometry.y.between(4_600_000, 4_660_000).all()


def test_chicago_portal_daily_files(shared_data):
    files = sorted((shared_data / "chicago_crimes_2012_2018" / "original" / "daily_sample").glob("2016-07-0*.csv"))
    res = quiet_load(files)
    accounted(res)
    assert res.report["schema"] == "chicago" and res.report["n_read"] == 5755
    assert res.report["date_formats"] == ["%m/%d/%Y %I:%M:%S %p"]
    days = res.incidents["occurred_at"].dt.day.unique()
    assert sorted(days) == [1, 2, 3, 4, 5, 6, 7]
    assert res.incidents["beat"].dtype.kind in "iu"  # the portal's zero-padded beats, read as numbers


def test_west_yorkshire_clean_file(shared_data):
    path = shared_data / "west_yorkshire_policeuk_jul2016_2018" / "west_yorkshire_street_2016-07_2017-07_2018-07.csv.gz"
    res = quiet_load(path)
    accounted(res)
    assert res.report["schema"] == "policeuk" and res.report["n_read"] == 87_348
    assert res.report["quarantine_reasons"] == {"missing_coordinates": 3_771}
    assert set(res.incidents["time_resolution"]) == {"month"}
    assert res.incidents["incident_id"].is_unique
    assert sorted(res.incidents["occurred_at"].dt.year.unique()) == [2016, 2017, 2018]


@pytest.fixture(scope="module")
def multicity(shared_data) -> Path:
    return shared_data / "crimemappingdata_multicity"


def test_every_multicity_clean_set_loads_and_adds_up(multicity):
    files = sorted((multicity / "clean").glob("*.csv*"))
    assert len(files) == 16
    seen = {}
    for path in files:
        res = quiet_load(path)
        accounted(res)
        assert res.report["schema"] == "code", path.name
        assert res.incidents["incident_id"].is_unique
        assert res.incidents.crs.is_projected
        seen[path.name.split(".")[0]] = res.report
    cdmx = seen["cdmx_car_jacking_2019"]
    assert cdmx["quarantine_reasons"].get("null_island") == 152 and cdmx["n_read"] == 2811
    assert seen["medellin_homicides_2010_2019"]["dropped_columns"] == ["victim_sex", "victim_age"]
    assert seen["sao_paulo_homicides_2017_2022"]["dropped_columns"] == ["victim_sex"]
    assert seen["sao_paulo_homicides_2017_2022"]["tz"] == "America/Sao_Paulo"
    assert seen["nyc_shootings_2019"]["time_resolution"]["day"] == seen["nyc_shootings_2019"]["n_kept"]
    assert seen["lancashire_asb_2022"]["time_resolution"]["month"] == seen["lancashire_asb_2022"]["n_kept"]
    # Cincinnati repeats an incident number per offence or victim: later copies are duplicates
    assert seen["cincinnati_burglary_2016_2018"]["quarantine_reasons"]["duplicate_id"] > 1000
    # Czechia has one row with no date, Austin two
    assert seen["czechia_mcycle_thefts_2020_2022"]["quarantine_reasons"].get("missing_date") == 1
    assert seen["austin_aggravated_assaults_2019"]["quarantine_reasons"].get("missing_date") == 2


def test_medellin_personal_columns_dropped_or_kept(multicity):
    path = multicity / "clean" / "medellin_homicides_2010_2019.csv"
    res = quiet_load(path)
    assert "victim_sex" not in res.incidents.columns and "victim_age" not in res.incidents.columns
    assert "victim_sex" not in res.quarantine.columns
    assert res.report["dropped_columns"] == ["victim_sex", "victim_age"]
    assert "subcategory" in res.incidents.columns
    with pytest.warns(DataQualityWarning, match="personal columns kept"):
        kept = load_incidents(path, personal_columns="keep")
    assert {"victim_sex", "victim_age"} <= set(kept.incidents.columns)


def test_all_events_core_file(multicity):
    res = quiet_load(multicity / "all_events_core_columns.csv.gz")
    accounted(res)
    assert res.report["n_read"] == 154_065
    assert res.report["quarantine_reasons"]["null_island"] == 152
    assert {"dataset", "place"} <= set(res.incidents.columns)


def test_original_medellin_semicolons_decimal_commas_and_offsets(multicity):
    path = multicity / "original" / "extdata" / "medellin_homicides.csv"
    res = quiet_load(path, columns={"occurred_at": "fecha_hecho", "lat": "latitud", "lon": "longitud",
                                    "category": "modalidad"}, tz="America/Bogota")
    accounted(res)
    assert res.report["reader"]["delimiter"] == ";"
    assert "decimal_comma" in res.report["automatic"]
    assert res.report["dropped_columns"] == ["sexo", "edad"]
    # "2019-04-23T12:30:00Z" is an instant: 07:30 in Bogota (UTC-5)
    first = res.incidents.loc[res.incidents["source_row"] == 1, "occurred_at"].iloc[0]
    assert first == pd.Timestamp("2019-04-23 07:30", tz="America/Bogota")
    assert res.report["n_kept"] > 9000


def test_original_excel_sheets_geopackage_and_tab(multicity):
    ext = multicity / "original" / "extdata"
    fw = quiet_load(ext / "aggravated_assaults.xlsx", sheet="Fort Worth",
                    columns={"occurred_at": "date", "lat": "latitude", "lon": "longitude"})
    accounted(fw)
    assert fw.report["n_read"] == 1577 and fw.report["tz"] == "America/Chicago"
    cdmx = quiet_load(ext / "cdmx_car_jacking.gpkg", columns={"occurred_at": "fecha_hechos"})
    accounted(cdmx)
    assert cdmx.report["coordinates"]["mode"] == "geometry"
    assert cdmx.report["quarantine_reasons"] == {"null_island": 152}
    assert cdmx.report["tz"] == "America/Mexico_City"
    tab = quiet_load(ext / "lancashire_asb.tab", columns={"occurred_at": "month", "lat": "latitude",
                                                          "lon": "longitude"}, tz="Europe/London")
    accounted(tab)
    assert tab.report["reader"]["delimiter"] == "\t" and tab.report["n_read"] == 56_434


def test_memphis_within_its_precincts(shared_data):
    folder = shared_data / "memphis_robberies_2019"
    precincts = gpd.read_file(folder / "memphis_precincts.geojson")
    res = quiet_load(folder / "memphis_robberies_2019.csv", study_area=precincts)
    accounted(res)
    assert res.report["n_kept"] >= 0.98 * res.report["n_read"]
    outside = quiet_load(folder / "memphis_robberies_2019.csv", bounds=(-90.0, 35.0, -89.9, 35.2))
    assert 0 < outside.report["quarantine_reasons"]["outside_bounds"] < 2245
