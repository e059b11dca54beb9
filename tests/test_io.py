"""Loaders: formats, presets, quarantine rules, times and DST, the personal-data guard, bad files, the CLI."""

from __future__ import annotations

import gzip
import json
import sqlite3
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intel
from intel.exceptions import CRSError, DataQualityWarning, InputError, IntelError, ParseError, SchemaError
from intel.io import REASONS, load_incidents, read_incidents
from intel.io._personal import is_personal, tokens
from intel.io._schemas import normalise, snake_case
from intel.datasets import SAMPLES_DIR

DATA = Path(__file__).parent / "data"
MEMPHIS = SAMPLES_DIR / "memphis_robberies.csv"
CHICAGO = SAMPLES_DIR / "chicago_district11.csv.gz"
POLICEUK = SAMPLES_DIR / "policeuk_west_yorkshire_2018_07.csv.gz"
SF = DATA / "sf_incident_reports.csv"
MAP = {"occurred_at": "when", "lat": "lat", "lon": "lon", "incident_id": "id", "category": "what"}


def quiet_load(source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load_incidents(source, **kwargs)


def accounted(result) -> None:
    r = result.report
    assert r["n_read"] == r["n_kept"] + r["n_quarantined"]
    assert len(result.incidents) == r["n_kept"]
    assert len(result.quarantine) == r["n_quarantined"]
    assert sum(r["quarantine_reasons"].values()) == r["n_quarantined"]
    rows = np.sort(np.concatenate([result.incidents["source_row"].to_numpy(), result.quarantine["source_row"].to_numpy()]))
    assert np.array_equal(rows, np.arange(1, r["n_read"] + 1))


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "when", "lat", "lon", "what"])


@pytest.fixture(scope="module")
def memphis():
    return quiet_load(MEMPHIS)


# ----------------------------------------------------------------------------- contract and presets

def test_memphis_is_recognised_and_meets_the_contract(memphis):
    inc = memphis.incidents
    accounted(memphis)
    assert memphis.report["schema"] == "code" and memphis.report["schema_detected"]
    assert list(inc.columns[:8]) == ["incident_id", "occurred_at", "occurred_to", "time_resolution", "category",
                                     "weight", "detection", "source_row"]
    assert inc.crs.to_epsg() == 32616 and memphis.report["crs"] == "EPSG:32616"
    assert str(inc["occurred_at"].dt.tz) == "America/Chicago"
    assert inc["occurred_to"].isna().all()
    assert set(inc["time_resolution"]) == {"minute"}
    assert inc["incident_id"].is_unique and inc["incident_id"].iloc[0] == "15213800"
    assert inc["occurred_at"].iloc[0] == pd.Timestamp("2019-01-01 01:30", tz="America/Chicago")
    assert (inc["weight"] == 1.0).all()
    assert inc["category"].iloc[0] == "personal robbery"
    assert isinstance(inc.index, pd.RangeIndex)
    # the report is JSON as it stands
    json.dumps(memphis.report)


def test_memphis_points_match_pyproj(memphis):
    raw = pd.read_csv(MEMPHIS)
    expected = gpd.GeoSeries(gpd.points_from_xy(raw.longitude, raw.latitude), crs=4326).to_crs(32616)
    got = memphis.incidents.geometry
    assert np.allclose(got.x, expected.x) and np.allclose(got.y, expected.y)


def test_chicago_snake_sample_quarantines_missing_coordinates():
    res = quiet_load(CHICAGO)
    accounted(res)
    r = res.report
    assert r["schema"] == "chicago" and r["coordinates"]["columns"] == ["longitude", "latitude"]
    assert r["crs"] == "EPSG:32616" and r["tz"] == "America/Chicago"
    assert r["quarantine_reasons"] == {"missing_coordinates": 210}
    assert r["automatic"]["target_crs"]["value"] == "EPSG:32616"
    assert r["automatic"]["tz"]["rule"].startswith("declared by the 'chicago' preset")
    assert {"case_number", "iucr", "description", "beat", "x_coordinate", "y_coordinate"} <= set(res.incidents.columns)
    assert "primary_type" not in res.incidents.columns and "latitude" not in res.incidents.columns  # consumed
    assert any("12:00" in w for w in r["warnings"]) and any("1st of the month" in w for w in r["warnings"])


def test_chicago_state_plane_feet_become_metres():
    feet = quiet_load(CHICAGO, columns={"x": "x_coordinate", "y": "y_coordinate"})
    assert feet.report["coordinates"]["source_crs"] == "EPSG:3435" and feet.report["crs"] == "EPSG:32616"
    assert feet.report["automatic"]["target_crs"]["value"] == "EPSG:32616"
    degrees = quiet_load(CHICAGO)
    # State Plane feet and the portal's own lat/lon agree to within a few metres once both are in UTM metres
    gap = np.hypot(feet.incidents.geometry.x - degrees.incidents.geometry.x,
                   feet.incidents.geometry.y - degrees.incidents.geometry.y)
    assert len(feet.incidents) == len(degrees.incidents) and gap.max() < 5


def test_xy_at_zero_is_null_island_even_with_lat_lon():
    df = pd.DataFrame({"ID": ["1", "2"], "Date": ["2013-05-01T10:00:00"] * 2, "Primary Type": "THEFT", "IUCR": "0820",
                       "X Coordinate": [0, 1176352], "Y Coordinate": [0, 1900927],
                       "Latitude": [36.619446, 41.8835], "Longitude": [-91.686566, -87.627877]})
    res = quiet_load(df)
    assert res.report["schema"] == "chicago"
    assert res.report["quarantine_reasons"] == {"null_island": 1}
    assert res.quarantine["ID"].tolist() == ["1"]


def test_chicago_default_time_warnings_are_raised():
    with pytest.warns(DataQualityWarning) as record:
        load_incidents(CHICAGO)
    texts = [str(w.message) for w in record]
    assert any("exactly 12:00" in t for t in texts) and any("1st of the month" in t for t in texts)
    assert all(t.startswith(str(CHICAGO)) for t in texts)


def test_chicago_portal_header_form(tmp_path):
    res = quiet_load(Path(__file__).parents[2] / "shared" / "data" / "chicago_crimes_2012_2018" / "original" /
                     "daily_sample" / "2016-07-01.csv") if (Path(__file__).parents[2] / "shared" / "data").exists() \
        else None
    # the same layout, written here so the test runs without the shared data
    src = tmp_path / "portal.csv"
    src.write_text(
        "ID,Case Number,Date,Block,IUCR,Primary Type,Description,Location Description,Arrest,Domestic,Beat,District,"
        "Ward,Community Area,FBI Code,X Coordinate,Y Coordinate,Year,Updated On,Latitude,Longitude,Location\n"
        '10581499,HZ330717,07/01/2016 12:57:00 AM,057XX S LAKE SHORE DR,2022,NARCOTICS,POSS: COCAINE,PARK PROPERTY,'
        'true,false,0331,003,5,41,18,1189729,1867390,2016,02/10/2018 03:50:01 PM,41.791160785,-87.579836586,'
        '"(41.791160785, -87.579836586)"\n'
        '10581500,HZ330693,07/01/2016 12:32:00 PM,087XX S STATE ST,1821,NARCOTICS,MANU/DEL:CANNABIS 10GM OR LESS,'
        'SIDEWALK,true,false,0632,006,21,44,18,1177810,1847135,2016,02/10/2018 03:50:01 PM,41.735857166,-87.624152861,'
        '"(41.735857166, -87.624152861)"\n'
    )
    out = quiet_load(src)
    assert out.report["schema"] == "chicago"
    inc = out.incidents
    assert inc["occurred_at"].tolist() == [pd.Timestamp("2016-07-01 00:57", tz="America/Chicago"),
                                           pd.Timestamp("2016-07-01 12:32", tz="America/Chicago")]
    assert inc["category"].tolist() == ["NARCOTICS", "NARCOTICS"]
    assert {"case_number", "fbi_code", "x_coordinate", "updated_on", "location"} <= set(inc.columns)
    assert "latitude" not in inc.columns  # consumed as the coordinates
    if res is not None:
        accounted(res)
        assert res.report["schema"] == "chicago" and res.report["date_formats"] == ["%m/%d/%Y %I:%M:%S %p"]


def test_sf_keeps_initial_reports_one_row_per_incident():
    res = quiet_load(SF)
    accounted(res)
    r = res.report
    assert r["schema"] == "sf" and r["tz"] == "America/Los_Angeles"
    assert r["quarantine_reasons"] == {"missing_coordinates": 1, "duplicate_id": 1, "supplement_report": 2}
    assert res.incidents["incident_id"].tolist() == ["180000001", "186100002", "180000003"]
    assert res.incidents["category"].tolist() == ["Robbery", "Larceny Theft", "Motor Vehicle Theft"]
    # a supplement listed before its initial report does not displace it
    vi = res.incidents.set_index("incident_id").loc["180000003"]
    assert vi["report_type_code"] == "VI" and vi["source_row"] == 6
    q = res.quarantine.set_index("source_row")
    assert q.loc[3, "reason"] == "supplement_report" and q.loc[5, "detail"] == "Vehicle Supplement"
    assert res.incidents["occurred_at"].iloc[0] == pd.Timestamp("2018-05-01 13:00", tz="America/Los_Angeles")


def test_sf_api_snake_case_names(tmp_path):
    raw = pd.read_csv(SF, dtype=str)
    raw.columns = [snake_case(c) for c in raw.columns]
    raw["incident_datetime"] = pd.to_datetime(raw["incident_datetime"], format="%Y/%m/%d %I:%M:%S %p").dt.strftime(
        "%Y-%m-%dT%H:%M:%S.000")
    path = tmp_path / "sf_api.csv"
    raw.to_csv(path, index=False)
    res = quiet_load(path)
    assert res.report["schema"] == "sf"
    assert res.incidents["incident_id"].tolist() == ["180000001", "186100002", "180000003"]
    assert res.incidents["occurred_at"].iloc[2] == pd.Timestamp("2018-05-04 23:45", tz="America/Los_Angeles")


def test_policeuk_month_resolution_and_stable_asb_ids():
    res = quiet_load(POLICEUK)
    accounted(res)
    inc = res.incidents
    assert res.report["schema"] == "policeuk"
    assert set(inc["time_resolution"]) == {"month"}
    assert (inc["occurred_at"] == pd.Timestamp("2018-07-01", tz="Europe/London")).all()
    asb = inc[inc["category"] == "Anti-social behaviour"]
    assert len(asb) > 100 and asb["incident_id"].str.startswith("syn-").all()
    assert inc["incident_id"].is_unique
    assert "duplicate_id" not in res.report["quarantine_reasons"]
    again = quiet_load(POLICEUK).incidents
    assert again["incident_id"].equals(inc["incident_id"])  # stable across loads
    assert {"lsoa_name", "lsoa_code", "location", "last_outcome_category", "falls_within"} <= set(inc.columns)
    assert res.report["dropped_columns"] == []


def test_generic_mapping_and_schema_listing():
    assert set(intel.list_schemas()) == {"chicago", "sf", "policeuk", "code"}
    res = quiet_load(MEMPHIS, columns={"occurred_at": "DATE", "category": "Offense Type", "lat": "latitude",
                                       "lon": "LONGITUDE", "incident_id": "uid"}, tz="America/Chicago")
    assert res.report["schema"] == "columns" and not res.report["schema_detected"]
    assert res.report["n_kept"] == 2245 and "tz" not in res.report["automatic"]
    assert res.incidents["category"].iloc[0] == "personal robbery"


def test_xy_mapping_needs_crs(tmp_path):
    df = pd.DataFrame({"when": ["2019-01-01 10:00"], "E": [430000.0], "N": [433000.0]})
    with pytest.raises(CRSError, match="crs="):
        load_incidents(df, columns={"occurred_at": "when", "x": "E", "y": "N"})
    res = load_incidents(df, columns={"occurred_at": "when", "x": "E", "y": "N"}, crs="EPSG:27700", tz="Europe/London")
    assert res.report["crs"] == "EPSG:27700" and "target_crs" not in res.report["automatic"]
    assert res.incidents.geometry.x.iloc[0] == 430000.0


def test_target_crs_and_bad_crs():
    res = quiet_load(MEMPHIS, target_crs="EPSG:3857")
    assert res.incidents.crs.to_epsg() == 3857 and "target_crs" not in res.report["automatic"]
    with pytest.raises(CRSError, match="metres"):
        load_incidents(MEMPHIS, target_crs="EPSG:4326")
    with pytest.raises(CRSError, match="pyproj"):
        load_incidents(MEMPHIS, target_crs="EPSG:99999999")


def test_unknown_headers_raise_schema_error_with_closest_names(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Ref,Reported Date,Lat_WGS,Long_WGS\n1,2019-01-01,53.8,-1.5\n")
    with pytest.raises(SchemaError) as err:
        load_incidents(path)
    text = str(err.value)
    assert str(path) in text and "occurred_at" in text and "Reported Date" in text and "Lat_WGS" in text
    with pytest.raises(SchemaError, match="Closest column names"):
        load_incidents(path, columns={"occurred_at": "Reported Dat", "lat": "Lat_WGS", "lon": "Long_WGS"})
    with pytest.raises(InputError, match="unknown intel field"):
        load_incidents(path, columns={"date": "Reported Date"})
    with pytest.raises(InputError, match="schema"):
        load_incidents(path, schema="chicgo")
    ok = load_incidents(path, columns={"occurred_at": "reported_date", "lat": "lat wgs", "lon": "LONG-WGS"},
                        tz="Europe/London")
    assert ok.report["n_kept"] == 1 and ok.incidents["time_resolution"].iloc[0] == "day"


# ----------------------------------------------------------------------------- formats

@pytest.fixture(scope="module")
def memphis_raw() -> pd.DataFrame:
    return pd.read_csv(MEMPHIS, dtype={"uid": str})


def _same_as_csv(res, memphis) -> None:
    assert res.report["n_kept"] == memphis.report["n_kept"]
    assert res.incidents["incident_id"].tolist() == memphis.incidents["incident_id"].tolist()
    assert (res.incidents["occurred_at"] == memphis.incidents["occurred_at"]).all()
    assert np.allclose(res.incidents.geometry.x, memphis.incidents.geometry.x)


@pytest.mark.parametrize("kind", ["tsv", "semicolon", "gz", "zip", "bz2", "xlsx", "parquet", "dataframe", "list"])
def test_tabular_formats_give_the_same_incidents(kind, tmp_path, memphis_raw, memphis):
    raw = memphis_raw
    if kind == "tsv":
        src = tmp_path / "m.tsv"
        raw.to_csv(src, sep="\t", index=False)
    elif kind == "semicolon":
        src = tmp_path / "m.csv"
        raw.to_csv(src, sep=";", index=False)
    elif kind == "gz":
        src = tmp_path / "m.csv.gz"
        raw.to_csv(src, index=False, compression="gzip")
    elif kind == "bz2":
        src = tmp_path / "m.csv.bz2"
        raw.to_csv(src, index=False, compression="bz2")
    elif kind == "zip":
        src = tmp_path / "m.zip"
        with zipfile.ZipFile(src, "w") as zf:
            zf.writestr("memphis.csv", raw.to_csv(index=False))
    elif kind == "xlsx":
        src = tmp_path / "m.xlsx"
        raw.assign(date=pd.to_datetime(raw["date"])).to_excel(src, index=False, sheet_name="robberies")
    elif kind == "parquet":
        src = tmp_path / "m.parquet"
        raw.to_parquet(src)
    elif kind == "dataframe":
        src = raw
    else:
        a, b = tmp_path / "a.csv", tmp_path / "b.csv"
        raw.iloc[:1000].to_csv(a, index=False)
        raw.iloc[1000:].to_csv(b, index=False)
        src = [a, b]
    res = quiet_load(src, tz="America/Chicago")
    accounted(res)
    _same_as_csv(res, memphis)
    if kind == "list":
        assert res.incidents["source_file"].iloc[0] == "a.csv" and res.incidents["source_file"].iloc[-1] == "b.csv"
        assert len(res.report["sha256"]) == 2
    if kind in ("gz", "tsv", "zip"):
        assert len(res.report["sha256"]) == 1 and len(res.report["sha256"][0]) == 64


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "shp", "geoparquet"])
def test_vector_formats_use_the_point_geometry(suffix, tmp_path, memphis_raw, memphis):
    gdf = gpd.GeoDataFrame(memphis_raw.drop(columns=["longitude", "latitude"]).rename(columns={"offense_type": "offense"}),
                           geometry=gpd.points_from_xy(memphis_raw.longitude, memphis_raw.latitude), crs=4326)
    src = tmp_path / f"m.{suffix}"
    if suffix == "geoparquet":
        gdf.to_parquet(src)
    else:
        gdf.to_file(src)
    res = quiet_load(src, columns={"occurred_at": "date", "incident_id": "uid", "category": "offense"},
                     tz="America/Chicago")
    accounted(res)
    assert res.report["coordinates"]["mode"] == "geometry"
    _same_as_csv(res, memphis)
    assert "geometry" in res.incidents.columns and res.incidents.geometry.name == "geometry"


def test_geodataframe_in_a_projected_crs_keeps_it(memphis):
    gdf = memphis.incidents[["incident_id", "occurred_at", "category", "geometry"]].to_crs(3857)
    res = load_incidents(gdf, columns={"occurred_at": "occurred_at", "incident_id": "incident_id"})
    assert res.report["crs"] == "EPSG:3857" and res.report["tz"] == "America/Chicago"
    assert (res.incidents["occurred_at"] == memphis.incidents["occurred_at"]).all()
    assert gdf.crs.to_epsg() == 3857 and list(gdf.columns) == ["incident_id", "occurred_at", "category", "geometry"]


def test_a_directory_reads_its_incident_files_in_name_order(tmp_path, memphis_raw, memphis):
    folder = tmp_path / "exports"
    folder.mkdir()
    memphis_raw.iloc[1000:].to_csv(folder / "b.csv", index=False)
    memphis_raw.iloc[:1000].to_csv(folder / "a.csv.gz", index=False, compression="gzip")
    (folder / "README.md").write_text("not incidents")
    (folder / "sub").mkdir()
    res = quiet_load(folder, tz="America/Chicago")
    accounted(res)
    _same_as_csv(res, memphis)
    assert [Path(f).name for f in res.report["files"]] == ["a.csv.gz", "b.csv"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        assert len(read_incidents(str(folder), tz="America/Chicago")) == memphis.report["n_kept"]
    with pytest.raises(InputError, match="no incident files"):
        load_incidents(folder / "sub")


def test_sqlite_table_and_query(tmp_path, memphis_raw, memphis):
    db = tmp_path / "crimes.db"
    with sqlite3.connect(db) as con:
        memphis_raw.to_sql("robberies", con, index=False)
    url = f"sqlite:///{db}"
    res = quiet_load(url, table="robberies", tz="America/Chicago")
    accounted(res)
    _same_as_csv(res, memphis)
    assert res.report["format"] == "sql" and len(res.report["sha256"]) == 1
    q = quiet_load(url, query="SELECT * FROM robberies WHERE date < '2019-02-01'", tz="America/Chicago")
    assert 0 < q.report["n_kept"] < 300
    with pytest.raises(InputError, match="exactly one"):
        load_incidents(url)
    with pytest.raises(InputError, match="robberies"):
        load_incidents(url, table="nope")
    with pytest.raises(ParseError, match="refused"):
        load_incidents(url, query="SELECT * FROM nope")


# ----------------------------------------------------------------------------- quarantine rules

def test_every_quarantine_rule_in_order():
    rows = [
        {"id": "a", "when": "2019-03-01 10:00", "lat": 35.1, "lon": -90.0, "what": "ok"},
        {"id": "b", "when": "not a date", "lat": 35.1, "lon": -90.0, "what": "x"},
        {"id": "c", "when": None, "lat": 35.1, "lon": -90.0, "what": "x"},
        {"id": "d", "when": "2019-03-01 10:00", "lat": None, "lon": -90.0, "what": "x"},
        {"id": "e", "when": "2019-03-01 10:00", "lat": "abc", "lon": -90.0, "what": "x"},
        {"id": "f", "when": "2019-03-01 10:00", "lat": 0.0, "lon": 0.0, "what": "x"},
        {"id": "g", "when": "2019-03-01 10:00", "lat": 95.0, "lon": -90.0, "what": "x"},
        {"id": "h", "when": "2019-03-01 10:00", "lat": 36.5, "lon": -90.0, "what": "x"},
        {"id": "a", "when": "2019-03-01 11:00", "lat": 35.1, "lon": -90.0, "what": "dup"},
        {"id": "j", "when": "2999-01-01 10:00", "lat": 35.1, "lon": -90.0, "what": "x"},
        {"id": "k", "when": "1850-01-01 10:00", "lat": 35.1, "lon": -90.0, "what": "x"},
        {"id": "l", "when": "not a date", "lat": None, "lon": None, "what": "two faults: the first rule wins"},
    ]
    df = frame(rows)
    before = df.copy()
    res = quiet_load(df, columns=MAP, tz="America/Chicago", bounds=(-91, 34, -89, 36))
    accounted(res)
    pd.testing.assert_frame_equal(df, before)  # input not mutated
    q = res.quarantine.set_index("source_row")["reason"].to_dict()
    assert q == {2: "unparseable_date", 3: "missing_date", 4: "missing_coordinates", 5: "non_numeric_coordinates",
                 6: "null_island", 7: "out_of_range_coordinates", 8: "outside_bounds", 9: "duplicate_id",
                 10: "future_date", 11: "before_min_date", 12: "unparseable_date"}
    assert res.incidents["incident_id"].tolist() == ["a"]
    assert list(res.quarantine.columns) == ["id", "when", "lat", "lon", "what", "source_row", "reason", "detail"]
    assert res.quarantine.set_index("source_row").loc[2, "detail"] == "when='not a date'"
    assert set(res.report["quarantine_reasons"]) <= set(REASONS)
    assert list(res.report["quarantine_reasons"]) == [r for r in REASONS if r in res.report["quarantine_reasons"]]


def test_duplicates_keep_the_first_valid_row_and_dates_bound():
    rows = [
        {"id": "a", "when": "garbage", "lat": 35.1, "lon": -90.0, "what": "bad first copy"},
        {"id": "a", "when": "2019-03-01 10:00", "lat": 35.1, "lon": -90.0, "what": "good second copy"},
        {"id": "a", "when": "2019-03-02 10:00", "lat": 35.1, "lon": -90.0, "what": "third"},
        {"id": "b", "when": "2019-06-01 10:00", "lat": 35.1, "lon": -90.0, "what": "after max"},
        {"id": "c", "when": "2019-01-01 10:00", "lat": 35.1, "lon": -90.0, "what": "before min"},
    ]
    res = quiet_load(frame(rows), columns=MAP, tz="America/Chicago", min_date="2019-02-01", max_date="2019-05-01")
    assert res.incidents["category"].tolist() == ["good second copy"]
    q = res.quarantine.set_index("source_row")["reason"].to_dict()
    assert q == {1: "unparseable_date", 3: "duplicate_id", 4: "future_date", 5: "before_min_date"}


def test_occurred_to_before_occurred_at_and_study_area():
    df = pd.DataFrame({
        "from": ["2019-03-01 10:00", "2019-03-01 10:00", "2019-03-01 10:00", "2019-03-01 10:00"],
        "to": ["2019-03-01 12:00", "2019-03-01 09:00", None, "bad"],
        "lat": [35.10, 35.10, 35.10, 35.50],
        "lon": [-90.00, -90.00, -90.00, -90.00],
    })
    area = shapely.box(-90.1, 35.0, -89.9, 35.2)
    res = quiet_load(df, columns={"occurred_at": "from", "occurred_to": "to", "lat": "lat", "lon": "lon"},
                     tz="America/Chicago", study_area=area)
    accounted(res)
    q = res.quarantine.set_index("source_row")["reason"].to_dict()
    assert q == {2: "occurred_to_before_occurred_at", 4: "outside_study_area"}
    inc = res.incidents
    assert inc["occurred_to"].iloc[0] == pd.Timestamp("2019-03-01 12:00", tz="America/Chicago")
    assert inc["occurred_to"].isna().iloc[1]
    assert inc["incident_id"].str.startswith("syn-").all()
    gdf_area = gpd.GeoDataFrame(geometry=[area], crs=4326).to_crs(3857)
    same = quiet_load(df, columns={"occurred_at": "from", "occurred_to": "to", "lat": "lat", "lon": "lon"},
                      tz="America/Chicago", study_area=gdf_area)
    assert same.report["quarantine_reasons"] == res.report["quarantine_reasons"]


def test_bad_arguments():
    df = frame([{"id": "a", "when": "2019-03-01 10:00", "lat": 35.1, "lon": -90.0, "what": "x"}])
    with pytest.raises(InputError, match="dst"):
        load_incidents(df, columns=MAP, dst="first")
    with pytest.raises(InputError, match="personal_columns"):
        load_incidents(df, columns=MAP, personal_columns="hide")
    with pytest.raises(InputError, match="time zone"):
        load_incidents(df, columns=MAP, tz="Mars/Olympus")
    with pytest.raises(InputError, match="west must be < east"):
        load_incidents(df, columns=MAP, bounds=(1, 2, 0, 3))
    with pytest.raises(InputError, match="cannot read 'soon' as a date"):
        load_incidents(df, columns=MAP, tz="America/Chicago", max_date="soon")
    with pytest.raises(InputError, match="source must be"):
        load_incidents(42)
    with pytest.raises(InputError, match="no such file"):
        load_incidents("/nonexistent/crimes.csv")


# ----------------------------------------------------------------------------- times

def test_time_resolution_per_row_and_formats():
    df = pd.DataFrame({
        "when": ["2019-03-01T10:15:00", "2019-03-01", "2019-03", "2019-03-01 10:15", "2019-03-01T10:15:00.000"],
        "lat": 35.1, "lon": -90.0,
    })
    res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    assert res.incidents["time_resolution"].tolist() == ["minute", "day", "month", "minute", "minute"]
    assert res.report["time_resolution"] == {"minute": 3, "hour": 0, "day": 1, "month": 1}
    declared = pd.DataFrame({"when": ["2019-03-01"], "res": ["month"], "lat": 35.1, "lon": -90.0})
    out = load_incidents(declared, columns={"occurred_at": "when", "time_resolution": "res", "lat": "lat", "lon": "lon"},
                         tz="UTC")
    assert out.incidents["time_resolution"].tolist() == ["month"]


@pytest.mark.parametrize("text,day_first,expected", [
    ("03/04/2019 13:05", None, "2019-03-04 13:05"),
    ("03/04/2019 13:05", True, "2019-04-03 13:05"),
    ("2019/03/04 01:05:00 PM", None, "2019-03-04 13:05"),
    ("04.03.2019 13:05", None, "2019-03-04 13:05"),
    ("25/12/2019", None, "2019-12-25 00:00"),
])
def test_date_forms(text, day_first, expected):
    df = pd.DataFrame({"when": [text], "lat": 35.1, "lon": -90.0})
    res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="UTC", day_first=day_first)
    assert res.incidents["occurred_at"].iloc[0] == pd.Timestamp(expected, tz="UTC")


def test_offsets_are_converted_to_tz():
    df = pd.DataFrame({"when": ["2019-07-01T15:00:00Z", "2019-07-01T17:00:00+02:00", "2019-07-01 10:00:00"],
                       "lat": 41.8, "lon": -87.6})
    res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    at = res.incidents["occurred_at"]
    assert (at == pd.Timestamp("2019-07-01 10:00", tz="America/Chicago")).all()


def test_typed_datetimes_and_midnight_dates():
    aware = pd.DataFrame({"when": pd.to_datetime(["2019-07-01 15:00"]).tz_localize("UTC"), "lat": 41.8, "lon": -87.6})
    res = load_incidents(aware, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    assert res.incidents["occurred_at"].iloc[0] == pd.Timestamp("2019-07-01 10:00", tz="America/Chicago")
    dates = pd.DataFrame({"when": pd.to_datetime(["2019-07-01", "2019-07-02"]), "lat": 41.8, "lon": -87.6})
    out = load_incidents(dates, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    assert set(out.incidents["time_resolution"]) == {"day"}
    assert out.report["automatic"]["time_resolution"]["value"] == "day"


@pytest.mark.parametrize("dst,expected_utc", [("earliest", "2019-11-03 06:30"), ("latest", "2019-11-03 07:30")])
def test_dst_ambiguous_policy(dst, expected_utc):
    df = pd.DataFrame({"when": ["2019-11-03 01:30", "2019-03-10 02:30", "2019-07-01 12:00"], "lat": 41.8, "lon": -87.6})
    res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago", dst=dst)
    at = res.incidents["occurred_at"].dt.tz_convert("UTC")
    assert at.iloc[0] == pd.Timestamp(expected_utc, tz="UTC")
    # 02:30 on spring-forward day never happened: shifted to 03:00 CDT
    assert res.incidents["occurred_at"].iloc[1] == pd.Timestamp("2019-03-10 03:00", tz="America/Chicago")
    assert res.report["dst"] == {"policy": dst, "ambiguous": 1, "nonexistent_shifted": 1}


def test_dst_quarantine_policy():
    df = pd.DataFrame({"when": ["2019-11-03 01:30", "2019-11-03 03:30"], "lat": 41.8, "lon": -87.6})
    res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago",
                         dst="quarantine")
    assert res.report["quarantine_reasons"] == {"ambiguous_time": 1}
    assert "happens twice" in res.quarantine["detail"].iloc[0]


def test_tz_is_looked_up_from_the_location_and_announced(caplog):
    df = pd.DataFrame({"when": ["2019-07-01 10:00"], "lat": 53.80, "lon": -1.55})
    with caplog.at_level("INFO", logger="intel"):
        res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"})
    assert res.report["tz"] == "Europe/London" and res.report["automatic"]["tz"]["value"] == "Europe/London"
    assert any("Europe/London" in m for m in caplog.messages)
    assert res.report["crs"] == "EPSG:32630"


# ----------------------------------------------------------------------------- warnings

def test_default_geocode_and_low_geocoding_rate_warn():
    n = 400
    lat = np.r_[np.full(100, 35.15), np.linspace(35.0, 35.3, n - 100)]
    df = pd.DataFrame({"when": "2019-03-01 10:07", "lat": lat, "lon": np.r_[np.full(100, -90.05),
                                                                           np.linspace(-90.2, -89.8, n - 100)]})
    with pytest.warns(DataQualityWarning, match="default geocode"):
        load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    df.loc[: n // 5, "lat"] = np.nan
    with pytest.warns(DataQualityWarning, match="usable coordinates"):
        res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    assert any("below 85%" in w for w in res.report["warnings"])


def test_no_warning_on_clean_spread_times():
    rng = np.random.default_rng(0)
    t = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, 3000), unit="min")
    df = pd.DataFrame({"when": t.strftime("%Y-%m-%d %H:%M"), "lat": rng.uniform(35, 35.3, 3000),
                       "lon": rng.uniform(-90.2, -89.8, 3000)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")
    assert res.report["warnings"] == []
    noon = df.copy()
    noon.loc[:300, "when"] = t[:301].strftime("%Y-%m-%d 12:00")
    with pytest.warns(DataQualityWarning, match="exactly 12:00"):
        load_incidents(noon, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="America/Chicago")


# ----------------------------------------------------------------------------- personal data

@pytest.mark.parametrize("name", ["victim_sex", "Victim Age", "VictimAge", "suspect_race", "Date of Birth", "DOB",
                                  "name", "First Name", "offender_ethnicity", "Narrative", "arrestee_gender", "sexo",
                                  "edad", "religion"])
def test_personal_columns_are_recognised(name):
    assert is_personal(name)


@pytest.mark.parametrize("name", ["lsoa_name", "LSOA name", "description", "location_description", "Agency",
                                  "street_name", "Crime type", "Reported by", "arrest", "district", "Primary Type",
                                  "page", "usage", "Last outcome category"])
def test_place_and_offence_columns_are_not_personal(name):
    assert not is_personal(name)


def test_tokens_split_camel_case_and_punctuation():
    assert tokens("VictimAge") == ["victim", "age"]
    assert tokens("LSOA name") == ["lsoa", "name"]
    assert normalise("Case-Number ") == "casenumber"
    assert snake_case("IncidentID") == "incident_id" and snake_case("Case Number") == "case_number"


def test_personal_columns_dropped_by_default_and_kept_on_request():
    df = frame([{"id": "a", "when": "2019-03-01 10:00", "lat": 35.1, "lon": -90.0, "what": "x"}]).assign(
        victim_age=34, suspect_name="Smith", lsoa_name="Memphis 001")
    res = load_incidents(df, columns=MAP, tz="America/Chicago")
    assert res.report["dropped_columns"] == ["victim_age", "suspect_name"]
    assert "victim_age" not in res.incidents.columns and "lsoa_name" in res.incidents.columns
    assert "victim_age" not in res.quarantine.columns
    with pytest.warns(DataQualityWarning, match="personal columns kept"):
        kept = load_incidents(df, columns=MAP, tz="America/Chicago", personal_columns="keep")
    assert "victim_age" in kept.incidents.columns and kept.report["dropped_columns"] == []
    assert kept.report["kept_personal_columns"] == ["victim_age", "suspect_name"]


# ----------------------------------------------------------------------------- bad files

def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    with pytest.raises(ParseError, match="empty") as err:
        load_incidents(p)
    assert str(p) in str(err.value)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n  \n")
    with pytest.raises(ParseError, match="empty"):
        load_incidents(blank)


def test_header_only(tmp_path):
    p = tmp_path / "header.csv"
    p.write_text("uid,offense_type,date,longitude,latitude\n")
    with pytest.raises(ParseError, match="no data rows") as err:
        load_incidents(p)
    assert str(p) in str(err.value)


def test_unknown_delimiter_gives_schema_error(tmp_path):
    p = tmp_path / "tilde.csv"
    p.write_text("uid~date~longitude~latitude\n1~2019-01-01~-90~35\n")
    with pytest.raises(SchemaError) as err:
        load_incidents(p)
    assert str(p) in str(err.value)


RAGGED_MAP = {"occurred_at": "Date", "category": "Primary Type", "lat": "Latitude", "lon": "Longitude",
              "incident_id": "ID"}
RAGGED_HEADER = "ID,Date,Primary Type,Latitude,Longitude\n"


@pytest.mark.filterwarnings("ignore:.*usable coordinates")
def test_rows_with_too_many_fields_are_quarantined(tmp_path, monkeypatch):
    # source_row counts data rows, as for every other reason: a quoted newline does not start a row,
    # a blank line is no row
    rows = ['1,2018-01-01 10:00,"THEFT\nFROM AUTO",41.88,-87.63', "",
            "2,2018-01-02 11:00,THEFT,41.89,-87.62,extra",
            "3,2018-01-03 12:30,BATTERY,41.87,-87.64",
            "4,2018-01-04 12:30,BATTERY,41.87",  # too few fields: read with Longitude empty
            '5,2018-01-05 09:00,"ROBBERY, ARMED",41.86,-87.65,x,y',
            "6,2018-01-06 09:00,ASSAULT,41.86,-87.65"]
    p = tmp_path / "ragged.csv.gz"
    p.write_bytes(gzip.compress((RAGGED_HEADER + "\r\n".join(rows) + "\r\n").encode()))
    with pytest.warns(DataQualityWarning, match=r"2 rows have more fields than the header \(5\), e\.g\. row 2 with 6"):
        res = load_incidents(p, columns=RAGGED_MAP, tz="America/Chicago")
    accounted(res)
    r = res.report
    assert (r["n_read"], r["n_kept"], r["n_quarantined"]) == (6, 3, 3)
    assert list(r["quarantine_reasons"].items())[0] == ("wrong_field_count", 2)
    assert r["quarantine_reasons"]["missing_coordinates"] == 1
    assert any("wrong_field_count" in w for w in r["warnings"])
    inc = res.incidents.set_index("incident_id")
    assert inc["source_row"].to_dict() == {"1": 1, "3": 3, "6": 6}
    assert inc.loc["1", "category"] == "THEFT\nFROM AUTO"
    q = res.quarantine
    assert q["source_row"].tolist() == [2, 4, 5]
    assert q["reason"].tolist() == ["wrong_field_count", "missing_coordinates", "wrong_field_count"]
    assert q["detail"].iloc[0] == "6 fields where the header has 5: 2,2018-01-02 11:00,THEFT,41.89,-87.62,extra"
    assert q["detail"].iloc[2].endswith('5,2018-01-05 09:00,"ROBBERY, ARMED",41.86,-87.65,x,y')
    assert q["ID"].tolist()[1] == 4 and q["ID"].isna().tolist() == [True, False, True]

    # the same file without the extra fields reads in one pass and sets nothing aside
    def no_second_pass(*args, **kwargs):
        raise AssertionError("a well-formed file must not be scanned for long rows")

    monkeypatch.setattr("intel.io._readers._long_rows", no_second_pass)
    clean = tmp_path / "clean.csv"
    clean.write_text(RAGGED_HEADER + "\n".join(row.replace(",extra", "").replace(",x,y", "") for row in rows) + "\n")
    res = quiet_load(clean, columns=RAGGED_MAP, tz="America/Chicago")
    accounted(res)
    assert (res.report["n_read"], res.report["n_kept"]) == (6, 5)
    assert res.report["quarantine_reasons"] == {"missing_coordinates": 1}
    assert res.quarantine["source_row"].tolist() == [4]


def test_long_first_row_and_several_files_keep_row_numbers(tmp_path):
    # a first data row longer than the header once made pandas take the ids for an index, shifting every column
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(RAGGED_HEADER + "1,2018-01-01 10:00,THEFT,41.88,-87.63,extra\n2,2018-01-02 11:00,THEFT,41.89,-87.62\n"
                 "3,2018-01-03 12:30,BATTERY,41.87,-87.64\n")
    b.write_text(RAGGED_HEADER + "4,2018-01-04 10:00,THEFT,41.88,-87.63\n5,2018-01-05 11:00,THEFT,41.89,-87.62,,\n"
                 "6,2018-01-06 12:30,BATTERY,41.87,-87.64\n")
    res = quiet_load([a, b], columns=RAGGED_MAP, tz="America/Chicago")
    accounted(res)
    assert res.report["quarantine_reasons"] == {"wrong_field_count": 2}
    assert res.quarantine["source_row"].tolist() == [1, 5]
    assert res.incidents[["incident_id", "source_row", "source_file"]].values.tolist() == [
        ["2", 2, "a.csv"], ["3", 3, "a.csv"], ["4", 4, "b.csv"], ["6", 6, "b.csv"]]
    assert res.incidents["category"].tolist() == ["THEFT", "BATTERY", "THEFT", "BATTERY"]


def test_mostly_ragged_rows_give_parse_error(tmp_path):
    # most rows too long: the delimiter or quoting is wrong, not a few lines; quarantining them would hide it
    p = tmp_path / "ragged.csv"
    p.write_text("uid,offense_type,date,longitude,latitude\n1,a,2019-01-01,-90,35\n2,b,2019-01-01,-90,35,7,8,9\n"
                 "3,b,2019-01-01,-90,35,7\n")
    with pytest.raises(ParseError) as err:
        load_incidents(p)
    assert str(p) in str(err.value) and "delimited" in str(err.value) and "2 of the 3 data rows" in str(err.value)
    first = tmp_path / "first.csv"
    first.write_text("uid,offense_type,date,longitude,latitude\n1,a,2019-01-01,-90,35,7\n")
    with pytest.raises(ParseError, match="first data row has more fields than the header"):
        load_incidents(first)


def test_latin1_and_bom_files_load(tmp_path):
    text = "uid,offense_type,date,longitude,latitude\n1,robo en vía pública,2019-01-01 10:00,-90,35\n"
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.encode("latin-1"))
    res = load_incidents(latin, tz="America/Chicago")
    assert res.incidents["category"].iloc[0] == "robo en vía pública"
    assert res.report["reader"]["encoding"] == "latin-1"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    res = load_incidents(bom, tz="America/Chicago")
    assert res.report["schema"] == "code" and res.incidents["category"].iloc[0] == "robo en vía pública"


def test_huge_field_loads(tmp_path):
    p = tmp_path / "huge.csv"
    big = "x" * 3_000_000
    p.write_text(f'uid,offense_type,date,longitude,latitude,big_field\n1,a,2019-01-01 10:00,-90,35,"{big}"\n'
                 "2,b,2019-01-02 10:00,-90,35,short\n")
    res = load_incidents(p, tz="America/Chicago")
    assert res.report["n_kept"] == 2 and len(res.incidents["big_field"].iloc[0]) == 3_000_000


@pytest.mark.parametrize("payload", [bytes(range(256)) * 40, b"\x89PNG\r\n\x1a\n" + bytes(4000)])
def test_binary_garbage(tmp_path, payload):
    p = tmp_path / "garbage.csv"
    p.write_bytes(payload)
    with pytest.raises(IntelError) as err:
        load_incidents(p)
    assert isinstance(err.value, (ParseError, SchemaError)) and str(p) in str(err.value)


def test_truncated_gzip(tmp_path, memphis_raw):
    p = tmp_path / "cut.csv.gz"
    data = gzip.compress(memphis_raw.to_csv(index=False).encode())
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError) as err:
        load_incidents(p)
    assert str(p) in str(err.value)


# ----------------------------------------------------------------------------- property: every row accounted for

_dates = st.one_of(
    st.none(), st.just(""), st.just("garbage"), st.just("2019-11-03 01:30"), st.just("2019-03-10 02:30"),
    st.just("2999-01-01"), st.just("1800-05-05 10:00"), st.just("2019-02"), st.just("13/45/2019"),
    st.datetimes(min_value=pd.Timestamp("2000-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("2020-01-01").to_pydatetime()).map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
)
_coords = st.one_of(st.none(), st.just(0.0), st.just("n/a"), st.just(200.0), st.floats(-91, 91), st.floats(34.5, 35.5))
_ids = st.one_of(st.none(), st.just(""), st.sampled_from(["a", "b", "c", "d"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_ids, _dates, _coords, _coords), min_size=1, max_size=25),
       st.sampled_from(["earliest", "latest", "quarantine"]))
def test_every_row_is_kept_or_quarantined_once(rows, dst):
    df = pd.DataFrame(rows, columns=["id", "when", "lat", "lon"], dtype=object)
    before = df.copy()
    res = quiet_load(df, columns={"incident_id": "id", "occurred_at": "when", "lat": "lat", "lon": "lon"},
                     tz="America/Chicago", dst=dst)
    accounted(res)
    assert set(res.quarantine["reason"]) <= set(REASONS)
    assert res.incidents["incident_id"].is_unique
    assert res.quarantine["detail"].notna().all()
    pd.testing.assert_frame_equal(df, before)


# ----------------------------------------------------------------------------- read_incidents and provenance

def test_read_incidents_returns_the_table_with_the_report(memphis):
    inc = read_incidents(MEMPHIS)
    prov = inc.attrs["provenance"]
    assert prov["function"] == "load_incidents" and prov["n_kept"] == len(inc) == memphis.report["n_kept"]
    assert prov["schema"] == "code" and prov["automatic"]["tz"]["value"] == "America/Chicago"
    assert "versions" in prov and json.dumps(prov)
    again = read_incidents(MEMPHIS)
    assert json.dumps(again.attrs["provenance"], sort_keys=True) == json.dumps(prov, sort_keys=True)


def test_summary_and_repr(memphis):
    text = memphis.summary()
    assert "2,245 rows read" in text and "schema 'code'" in text
    assert repr(memphis).startswith("LoadResult(schema='code', n_read=2245")


# ----------------------------------------------------------------------------- CLI

def _cli(args):
    from typer.testing import CliRunner

    from intel.cli import app

    return CliRunner().invoke(app, args)


def test_cli_validate_json_counts_add_up(tmp_path):
    out = _cli(["validate", str(CHICAGO), "--json", "--quarantine", str(tmp_path / "q.csv")])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("n_read", "n_kept", "n_quarantined", "quarantine_reasons", "warnings", "dropped_columns", "schema",
                "crs"):
        assert key in report
    assert report["n_read"] == report["n_kept"] + report["n_quarantined"] == 53059
    q = pd.read_csv(tmp_path / "q.csv")
    assert len(q) == report["n_quarantined"] and set(q["reason"]) == {"missing_coordinates"}
    assert (tmp_path / "q.csv.provenance.json").exists()


def test_cli_validate_map_and_human_summary(tmp_path):
    p = tmp_path / "unseen.csv"
    p.write_text("Ref,When Reported,Lat_WGS,Long_WGS,Offence\n1,2019-01-01 10:00,35.1,-90.0,theft\n"
                 "2,2019-01-02 11:00,,,theft\n")
    out = _cli(["validate", str(p), "--map", "occurred_at=When Reported", "--map", "lat=Lat_WGS",
                "--map", "lon=Long_WGS", "--map", "category=Offence", "--tz", "America/Chicago"])
    assert out.exit_code == 0, out.output
    assert "2 rows read, 1 kept, 1 quarantined" in out.stdout and "missing_coordinates" in out.stdout


def test_cli_validate_sql(tmp_path, memphis_raw):
    db = tmp_path / "c.db"
    with sqlite3.connect(db) as con:
        memphis_raw.to_sql("robberies", con, index=False)
    out = _cli(["validate", f"sqlite:///{db}", "--table", "robberies", "--tz", "America/Chicago", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["n_kept"] == 2245


def test_cli_validate_errors_are_one_line(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    out = _cli(["validate", str(p)])
    assert out.exit_code != 0 and isinstance(out.exception, ParseError)


def test_xy_outside_the_crs_area_of_use_is_out_of_range():
    df = pd.DataFrame({"when": ["2019-01-01 10:00", "2019-01-01 11:00"], "E": [430000.0, 9.0e7], "N": [433000.0, 433000.0]})
    with pytest.warns(DataQualityWarning, match="usable coordinates"):
        res = load_incidents(df, columns={"occurred_at": "when", "x": "E", "y": "N"}, crs="EPSG:27700",
                             tz="Europe/London")
    assert res.report["quarantine_reasons"] == {"out_of_range_coordinates": 1}
    assert res.quarantine["detail"].iloc[0] == "E=90000000.0, N=433000.0"


def test_weight_detection_and_study_area_file(tmp_path):
    df = pd.DataFrame({"when": ["2019-03-01 10:00"] * 4, "lat": [35.10, 35.11, 35.12, 35.13], "lon": -90.0,
                       "w": [2.0, None, 0.5, 1.0], "how": ["Reported", "Call for service", "proactive", "other"]})
    area = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(-90.1, 35.0, -89.9, 35.125)], crs=4326).to_file(area)
    with pytest.warns(DataQualityWarning):
        res = load_incidents(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon", "weight": "w",
                                          "detection": "how"}, tz="America/Chicago", study_area=str(area))
    inc = res.incidents
    assert inc["weight"].tolist() == [2.0, 1.0, 0.5]
    assert inc["detection"].tolist()[:3] == ["reported", "reported", "discovered"]
    assert res.report["quarantine_reasons"] == {"outside_study_area": 1}
    assert any("missing, negative or non-numeric weight" in w for w in res.report["warnings"])


def test_json_records_and_padded_headers(tmp_path, memphis_raw, memphis):
    path = tmp_path / "api.json"
    memphis_raw.to_json(path, orient="records")
    res = quiet_load(path, tz="America/Chicago")
    assert res.report["format"] == "json" and res.report["schema"] == "code"
    _same_as_csv(res, memphis)
    padded = tmp_path / "padded.csv"
    padded.write_text(" uid , offense_type , date , longitude , latitude \n1,a,2019-01-01 10:00,-90,35\n")
    out = load_incidents(padded, tz="America/Chicago")
    assert out.report["n_kept"] == 1 and out.incidents["incident_id"].iloc[0] == "1"


def test_leading_zero_ids_and_compact_dates_survive_the_csv_reader(tmp_path):
    p = tmp_path / "zeros.csv"
    p.write_text("ref,stamp,lat,lon\n007,20190105,35.1,-90.0\n7,201901051530,35.1,-90.0\n0100,20190106,35.1,-90.0\n")
    res = load_incidents(p, columns={"incident_id": "ref", "occurred_at": "stamp", "lat": "lat", "lon": "lon"},
                         tz="America/Chicago")
    inc = res.incidents
    assert inc["incident_id"].tolist() == ["007", "7", "0100"]
    assert inc["occurred_at"].tolist() == [pd.Timestamp("2019-01-05", tz="America/Chicago"),
                                           pd.Timestamp("2019-01-05 15:30", tz="America/Chicago"),
                                           pd.Timestamp("2019-01-06", tz="America/Chicago")]
    assert inc["time_resolution"].tolist() == ["day", "minute", "day"]
    ints = pd.DataFrame({"stamp": [20190105, 20190106], "lat": 35.1, "lon": -90.0})
    out = load_incidents(ints, columns={"occurred_at": "stamp", "lat": "lat", "lon": "lon"}, tz="UTC")
    assert out.incidents["occurred_at"].dt.day.tolist() == [5, 6]


def test_padded_and_blank_dates_in_a_clean_column():
    when = ["2019-03-01 10:00"] * 2500 + ["  2019-03-02 11:00 ", "   ", "nonsense"]
    df = pd.DataFrame({"when": when, "lat": 35.1, "lon": -90.0})
    res = quiet_load(df, columns={"occurred_at": "when", "lat": "lat", "lon": "lon"}, tz="UTC")
    q = res.quarantine.set_index("source_row")["reason"].to_dict()
    assert q == {2502: "missing_date", 2503: "unparseable_date"}
    assert res.incidents["occurred_at"].iloc[-1] == pd.Timestamp("2019-03-02 11:00", tz="UTC")
