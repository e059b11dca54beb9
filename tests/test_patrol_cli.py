"""``intel patrol``: the command, its files and its --json contract, on the bundled Chicago sample."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from intel.cli import app
from intel.datasets import SAMPLES_DIR

SAMPLE = str(SAMPLES_DIR / "chicago_district11.csv.gz")


def _run(*args: str):
    return CliRunner().invoke(app, ["--quiet", "patrol", SAMPLE, *args])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("patrol") / "plan.geojson"
    log = out.with_name("visits.csv")
    run = _run("--date", "2018-06-04", "--units", "2", "--area-column", "district", "--area", "11",
               "--discovered-category", "NARCOTICS", "--seed", "3", "--out", str(out), "--visit-log", str(log), "--json")
    return run, out, log


def test_json_follows_the_contract(result):
    run, out, _ = result
    assert run.exit_code == 0, run.output
    doc = json.loads(run.stdout)
    assert {"shifts", "safeguards"} <= set(doc)
    assert [s["shift"] for s in doc["shifts"]] == ["06-14", "14-22", "22-06"]
    for shift in doc["shifts"]:
        assert {"shift", "places", "minutes_planned", "minutes_available"} <= set(shift)
        assert shift["minutes_planned"] <= shift["minutes_available"] == 2 * 480
        for place in shift["places"]:
            assert {"place_id", "cell_ids", "minutes", "visits", "expected_share", "reason"} <= set(place)
        assert sum(p["minutes"] for p in shift["places"]) == shift["minutes_planned"]
    guards = doc["safeguards"]
    assert guards["exploration"]["on"] and guards["capacity"]["on"]
    assert guards["detection"]["discovered_categories"] == ["narcotics"]
    assert guards["detection"]["n_dropped"] > 5000
    assert doc["model"] == "RecentCount(weeks=52)" and doc["area"] == "11" and doc["seed"] == 3


def test_files_are_written_with_provenance_and_a_visit_log(result):
    run, out, log = result
    assert run.exit_code == 0, run.output
    plan = gpd.read_file(out)
    doc = json.loads(run.stdout)
    assert len(plan) == sum(len(s["places"]) for s in doc["shifts"])
    assert plan["cell_ids"].str.len().gt(0).all()
    provenance = json.loads(out.with_name(out.name + ".provenance.json").read_text())
    assert provenance["function"] == "recommend_patrols" and provenance["seed"] == 3
    visits = pd.read_csv(log)
    assert len(visits) == plan["visits"].sum()
    assert visits["actual_arrival"].isna().all()


def test_same_seed_same_plan(result, tmp_path):
    run, _, _ = result
    again = _run("--date", "2018-06-04", "--units", "2", "--area-column", "district", "--area", "11",
                 "--discovered-category", "NARCOTICS", "--seed", "3", "--out", str(tmp_path / "p.csv"), "--json")
    assert again.exit_code == 0, again.output
    first, second = json.loads(run.stdout), json.loads(again.stdout)
    assert first["shifts"] == second["shifts"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--date", "2018-06-04", "--area-column", "district", "--area", "99"], "no incidents with district"),
        (["--date", "2018-06-04", "--area-column", "district"], "give both"),
        (["--date", "2000-01-01"], "no incidents before"),
        (["--date", "2018-06-04", "--shifts", "6 to 14"], "cannot read the shift"),
        (["--date", "2018-06-04", "--model", "oracle"], "unknown model"),
    ],
)
def test_bad_options_give_one_clear_error(tmp_path, args, match):
    run = _run(*args, "--out", str(tmp_path / "plan.csv"))
    assert run.exit_code != 0
    assert match in str(run.exception) or match in run.output
