"""Tests of the weekly briefing (``intel.build_briefing``, ``intel brief``) and the progress helper."""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import intel
from intel._offline import external_requests
from intel._progress import Steps, track
from intel.briefing import Briefing
from intel.cli import app
from intel.cli.brief import JSON_KEYS
from intel.exceptions import InputError
from intel.io._readers import expand_directories

REPO = Path(__file__).resolve().parents[1]
DISTRICT11 = REPO / "data" / "samples" / "chicago_district11.csv.gz"
WEEK = "2018-W44"
REQUIRED = ("week", "counts", "hotspots", "emerging", "near_repeat", "forecast", "patrol", "data_quality", "provenance")

runner = CliRunner()


@pytest.fixture(scope="module")
def loaded():
    if not DISTRICT11.exists():
        pytest.skip(f"bundled sample {DISTRICT11} missing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", intel.DataQualityWarning)  # the sample's default times, kept in the report
        return intel.load_incidents(DISTRICT11)


@pytest.fixture(scope="module")
def briefing(loaded) -> Briefing:
    # the README's first command: the whole district, every category, the model chosen by the backtest
    return intel.build_briefing(loaded, week=WEEK)


@pytest.fixture(scope="module")
def written(briefing, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("briefing")
    briefing.write(out)
    return out


def _week_end() -> pd.Timestamp:
    return pd.Timestamp("2018-11-05", tz="America/Chicago")


# ---------------------------------------------------------------- contents


def test_json_has_the_contract_keys_and_is_strict_json(briefing, written):
    data = json.loads((written / "briefing.json").read_text(encoding="utf-8"))
    assert set(REQUIRED) <= set(data)
    assert data == briefing.data
    assert data["week"]["label"] == WEEK
    assert data["week"]["start"] == "2018-10-29T00:00:00-05:00"
    assert data["week"]["end"] == "2018-11-05T00:00:00-06:00"  # the clocks went back on 4 November
    assert data["week"]["last_day"] == "2018-11-04"
    # strict JSON: NaN would break other readers
    json.loads((written / "briefing.json").read_text(encoding="utf-8"), parse_constant=pytest.fail)


def test_every_table_is_written_as_csv(briefing, written):
    assert briefing.tables, "no tables"
    for name, table in briefing.tables.items():
        frame = pd.read_csv(written / f"{name}.csv")
        assert list(frame.columns) == [str(c) for c in table.columns], name
        assert len(frame) == len(table), name


def test_html_is_self_contained_and_holds_every_section(briefing, written):
    page = (written / "briefing.html").read_text(encoding="utf-8")
    assert page == briefing.html
    assert external_requests(page) == []
    assert "cdn." not in page and "unpkg.com" not in page
    for anchor in ("counts", "hotspots", "emerging", "when", "near-repeat", "forecast", "patrol", "quality",
                   "provenance"):
        assert f'id="{anchor}"' in page, anchor
    # maps are whole pages inlined as srcdoc, each with its own embedded Leaflet
    assert page.count("<iframe") >= 4
    assert page.count("L.map(") >= 4
    assert "Known limits" in page and "Safeguards" in page
    assert briefing.data["provenance"]["input"]["sha256"][0] in page


def test_rerun_gives_byte_identical_files(loaded, written, tmp_path):
    again = intel.build_briefing(loaded, week=WEEK)
    again.write(tmp_path)
    names = sorted(p.name for p in written.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (written / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_counts_agree_with_compare_periods(loaded, briefing):
    expected = intel.compare_periods(loaded.incidents, week=WEEK)
    got = briefing.data["counts"]["comparisons"]
    assert [row["comparison"] for row in got] == expected["comparison"].tolist()
    for row, (_, want) in zip(got, expected.iterrows()):
        for key in ("current", "baseline", "baseline_total", "z", "p_value"):
            assert row[key] == pytest.approx(float(want[key]), rel=1e-5), key
    assert briefing.data["counts"]["this_week"] == float(expected.loc[0, "current"])
    by = briefing.data["counts"]["by_category"]
    assert sum(1 for _ in by) <= 10
    assert [r["this_week"] for r in by] == sorted((r["this_week"] for r in by), reverse=True)


def test_nothing_after_the_week_is_used(loaded, briefing):
    dq = briefing.data["data_quality"]
    after = int((loaded.incidents["occurred_at"] >= _week_end()).sum())
    assert after > 0  # the sample runs on to 12 November
    assert dq["n_after_week"] == after
    assert dq["n_analysed"] == len(loaded.incidents) - after
    assert pd.Timestamp(dq["last"]) < _week_end()
    assert briefing.data["forecast"]["origin"] == _week_end().isoformat()


def test_hot_spot_ranks_and_changes(briefing):
    top = briefing.data["hotspots"]["top"]
    assert len(top) == 10
    counts = [row["n"] for row in top]
    assert counts == sorted(counts, reverse=True)
    assert top[0]["rank"] == 1
    for row in top:
        if row["n_before"] == 0:
            assert row["previous_rank"] is None
        else:
            assert row["rank_change"] == row["previous_rank"] - row["rank"]
    table = briefing.tables["hotspots"]
    assert (table["rank"] >= 1).all() and (table["n"] > 0).all()


def test_forecast_is_backtested_against_the_baselines_with_its_limits(briefing):
    f = briefing.data["forecast"]
    models = {row["model"] for row in f["backtest"]["rows"]}
    assert "RecentCount(weeks=52)" in models and f["model"] in models
    assert f["backtest"]["n_origins"] == 8
    card = f["model_card"]
    assert card["backtest"]["available"] is True
    assert any("individual" in text for text in f["out_of_scope"])
    assert f["limits"] and f["expected_total"] > 0
    ranks = [row["rank"] for row in f["top"]]
    assert ranks == sorted(ranks) and ranks[0] == 1


def test_patrol_plan_respects_capacity_and_lists_safeguards(briefing):
    p = briefing.data["patrol"]
    assert p["date"] == "2018-11-05"
    assert {"capacity", "exploration", "unpredictable_times", "detection"} <= set(p["safeguards"])
    for shift in p["shifts"]:
        assert shift["minutes_planned"] <= shift["minutes_available"]
    assert {row["selection"] for row in p["places"]} == {"risk", "exploration"}


def test_near_repeats_look_at_burglary_and_zones_are_current(briefing):
    nr = briefing.data["near_repeat"]
    assert nr["categories"] == ["BURGLARY"]
    assert len(nr["knox"]) == 20  # 5 distance bands x 4 time bands
    for zone in nr["zones"]:
        assert pd.Timestamp(zone["last_at"]) < _week_end() <= pd.Timestamp(zone["expires_at"])


def test_data_quality_carries_the_load_report(loaded, briefing):
    report = briefing.data["data_quality"]["load_report"]
    assert report["n_read"] == loaded.report["n_read"]
    assert report["quarantine_reasons"] == loaded.report["quarantine_reasons"]
    assert report["warnings"] == loaded.report["warnings"]
    prov = briefing.data["provenance"]
    assert prov["input"]["sha256"] == loaded.report["sha256"]
    assert prov["parameters"]["week"] == WEEK and prov["seed"] == 0
    assert "cell_size_m" in prov["automatic"]


def test_a_geodataframe_from_load_sample_keeps_its_load_report(loaded):
    incidents = loaded.incidents
    small = incidents[incidents["beat"] == 1131]
    b = intel.build_briefing(small, week=WEEK, model="naive", cell_size_m=200)
    assert b.data["data_quality"]["load_report"]["n_read"] == loaded.report["n_read"]
    assert b.data["forecast"]["model"] == "RecentCount(weeks=52)"
    assert b.data["provenance"]["parameters"]["cell_size_m"] == 200
    assert "cell_size_m" not in b.data["provenance"]["automatic"]


def test_area_selection(loaded):
    b = intel.build_briefing(loaded, week=WEEK, area_column="beat", area="1131", model="naive")
    area = b.data["data_quality"]["area"]
    assert area["column"] == "beat" and area["n_after"] < area["n_before"]
    assert b.data["week"]["area_label"] == "beat 1131"
    assert "beat 1131" in b.data["title"]


def test_default_week_is_the_last_whole_week(loaded):
    small = loaded.incidents[loaded.incidents["beat"] == 1131]
    expected = intel.compare_periods(small).attrs["provenance"]["automatic"]["week"]["value"]
    b = intel.build_briefing(small, model="naive")
    assert b.data["week"]["label"] == expected
    assert b.data["provenance"]["automatic"]["week"]["value"] == expected


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("week", ["2030-W01", "2015-W10", "2018-W46"])
def test_a_week_outside_the_data_is_a_clear_error(loaded, week):
    with pytest.raises(InputError, match=r"not covered by the data, which run from 2016-01-01 to 2018-11-12.*week='2018-W45'"):
        intel.build_briefing(loaded, week=week)


@pytest.mark.parametrize("kwargs, match", [
    ({"week": "2018-W99"}, "not an ISO week"),
    ({"model": "magic"}, "'model' parameter of build_briefing"),
    ({"area_column": "district"}, "give both area_column and area"),
    ({"area_column": "district", "area": 99}, "no incidents with district == 99"),
    ({"area_column": "precinct", "area": 1}, "no column 'precinct'"),
    ({"units": 0}, "'units' parameter"),
    ({"cell_size_m": -5}, "'cell_size_m' parameter"),
    ({"random_state": "seed"}, "random_state must be"),
    ({"shifts": ["morning"]}, "cannot read the shift"),
])
def test_bad_parameters_are_clear_errors(loaded, kwargs, match):
    with pytest.raises(InputError, match=match):
        intel.build_briefing(loaded, **{"week": WEEK, **kwargs})


def test_not_incidents_is_a_clear_error():
    with pytest.raises(intel.IntelError):
        intel.build_briefing(pd.DataFrame({"a": [1]}), week=WEEK)
    with pytest.raises(InputError, match="grid= or cell_size_m="):
        intel.build_briefing(intel.make_synthetic(random_state=0), grid=intel.make_grid(
            intel.make_synthetic(random_state=0), cell_size_m=500), cell_size_m=100)


def test_write_refuses_a_file_as_directory(briefing, tmp_path):
    target = tmp_path / "briefing.html"
    target.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        briefing.write(target)


# ---------------------------------------------------------------- command line


def test_cli_json_contract(loaded, tmp_path):
    out = tmp_path / "brief"
    result = runner.invoke(app, ["--quiet", "brief", str(DISTRICT11), "--week", WEEK, "--model", "naive",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(JSON_KEYS) <= set(summary)
    assert summary["week"]["label"] == WEEK
    assert summary["forecast"]["model"] == "RecentCount(weeks=52)"
    assert Path(summary["files"]["html"]).is_file() and Path(summary["files"]["json"]).is_file()
    expected = intel.compare_periods(loaded.incidents, week=WEEK)
    assert summary["counts"][0]["current"] == float(expected.loc[0, "current"])
    assert summary["n_incidents"] == json.loads((out / "briefing.json").read_text())["data_quality"]["n_analysed"]


def test_cli_reads_a_directory_of_yearly_files(loaded, tmp_path):
    raw = pd.read_csv(DISTRICT11, dtype=str)
    folder = tmp_path / "exports"
    folder.mkdir()
    year = raw["datetime"].str[:4]
    raw[year < "2018"].to_csv(folder / "crimes_2016_2017.csv", index=False)
    raw[year == "2018"].to_csv(folder / "crimes_2018.csv", index=False)
    (folder / "README.md").write_text("not data")
    out = tmp_path / "brief"
    result = runner.invoke(app, ["--quiet", "brief", str(folder), "--week", WEEK, "--model", "naive",
                                 "--area-column", "beat", "--area", "1131", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "briefing.json").read_text())
    assert data["provenance"]["input"]["files"] == ["crimes_2016_2017.csv", "crimes_2018.csv"]
    assert data["data_quality"]["load_report"]["n_read"] == len(raw)


def test_expand_keeps_files_and_patterns_and_lists_directories(tmp_path):
    (tmp_path / "b.csv").write_text("x")
    (tmp_path / "a.csv.gz").write_bytes(b"x")
    (tmp_path / "notes.md").write_text("x")
    assert expand_directories([str(tmp_path)]) == [str(tmp_path / "a.csv.gz"), str(tmp_path / "b.csv")]
    assert expand_directories(["x/*.csv", "sqlite:///crimes.db"]) == ["x/*.csv", "sqlite:///crimes.db"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no incident files"):
        expand_directories([str(empty)])


def test_cli_week_outside_the_data_exits_with_one_line(tmp_path, capsys):
    import sys

    from intel.cli import main

    argv = sys.argv
    sys.argv = ["intel", "--quiet", "brief", str(DISTRICT11), "--week", "2030-W01", "--out", str(tmp_path / "b")]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = argv
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("intel: error: build_briefing: week 2030-W01") and "not covered" in err[-1]


# ---------------------------------------------------------------- progress


def test_progress_is_silent_unless_asked(capsys):
    items = [1, 2, 3]
    assert track(items, desc="x") is items
    with Steps(2, desc="quiet") as steps:
        with steps.step("one"):
            pass
    assert capsys.readouterr().err == ""
    assert list(track(items, desc="loud", enabled=True)) == items
    with Steps(1, desc="loud steps", enabled=True) as steps:
        with steps.step("one"):
            pass
    err = capsys.readouterr().err
    assert "loud" in err and "loud steps" in err and "1/1" in err


def test_library_call_prints_nothing(loaded, capsys, monkeypatch):
    # a CLI test in this process may have given the "intel" logger a stderr handler: logging is not printing
    monkeypatch.setattr(logging.getLogger("intel"), "handlers", [logging.NullHandler()])
    small = loaded.incidents[loaded.incidents["beat"] == 1131]
    intel.build_briefing(small, week=WEEK, model="naive")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_notebook_display_is_framed(briefing):
    shown = briefing._repr_html_()
    assert shown.startswith("<iframe") and "srcdoc=" in shown
    assert "Briefing(week='2018-W44'" in repr(briefing)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_whole_of_chicago_2018_completes(shared_data, tmp_path):
    folder = shared_data / "chicago_crimes_2012_2018"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", intel.DataQualityWarning)
        loaded = intel.load_incidents([folder / "chicago_crimes_2017.csv.gz", folder / "chicago_crimes_2018.csv.gz"])
    b = intel.build_briefing(loaded, week=WEEK)
    paths = b.write(tmp_path)
    data = b.data
    assert data["counts"]["this_week"] > 3000  # the whole city, every category
    assert all(row["complete"] for row in data["counts"]["comparisons"])
    assert math.isfinite(data["counts"]["comparisons"][1]["z"])
    assert data["hotspots"]["n_cells"] > 10_000
    assert data["near_repeat"]["n_zones"] > 0
    assert external_requests(paths["html"].read_text(encoding="utf-8")) == []
    assert np.isfinite(data["forecast"]["expected_total"])
