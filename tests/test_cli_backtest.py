"""Tests for the ``intel backtest`` and ``intel forecast`` commands (on the bundled Chicago district 11 sample)."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from intel.cli import app
from intel.datasets import SAMPLES_DIR
from intel.exceptions import InputError

SAMPLE = str(SAMPLES_DIR / "chicago_district11.csv.gz")
runner = CliRunner()

BACKTEST = ["backtest", SAMPLE, "--category", "BURGLARY", "--cell-size-m", "300", "--start", "2018-08-06",
            "--end", "2018-10-01", "--coverage", "0.01,0.05", "--n-boot", "200"]


@pytest.fixture(scope="module")
def backtest_json():
    result = runner.invoke(app, [*BACKTEST, "--models", "naive,kde", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_backtest_json_contract(backtest_json):
    rows = backtest_json["results"]
    assert {"model", "coverage", "hit_rate", "pai", "pai_ci", "pei", "n_origins"} <= set(rows[0])
    models = {row["model"] for row in rows}
    assert models == {"LastPeriod()", "RecentCount(weeks=4)", "RecentCount(weeks=52)", "SamePeriodLastYear()", "KDERisk()"}
    assert {row["coverage"] for row in rows} == {0.01, 0.05}
    assert backtest_json["origins"]["n"] == 8 and backtest_json["reference"] == "RecentCount(weeks=52)"
    for row in rows:
        assert row["n_origins"] == 8
        lo, hi = row["pai_ci"]
        assert lo <= row["pai"] <= hi
        assert 0 <= row["hit_rate"] <= 1
    reference = [r for r in rows if r["model"] == "RecentCount(weeks=52)"]
    assert all(r["vs_reference"] == "reference" for r in reference)


def test_backtest_table_and_per_origin_file(tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, [*BACKTEST, "--models", "naive", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "RecentCount(weeks=52)" in result.stdout and "reference" in result.stdout
    assert "8 origins from 2018-08-06" in result.stdout
    table = out.read_text().splitlines()
    assert len(table) == 1 + 4 * 8 * 2  # header + 4 baselines x 8 origins x 2 coverages
    assert (tmp_path / "scores.csv.provenance.json").exists()


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--models", "naive,crystal_ball"], "unknown model 'crystal_ball'"),
        (["--models", "rtm"], "needs environmental layers"),
        (["--models", "naive", "--coverage", "0.05,lots"], "--coverage"),
        (["--models", "naive", "--out", "scores.geojson"], "plain table"),
        (["--models", "naive", "--layer", "bars"], "NAME=FILE"),
    ],
)
def test_backtest_bad_options_are_clear_errors(extra, match):
    result = runner.invoke(app, [*BACKTEST, *extra])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)
    assert match in str(result.exception)


def test_forecast_writes_grid_and_model_card(tmp_path):
    out = tmp_path / "forecast.geojson"
    result = runner.invoke(app, ["forecast", SAMPLE, "--category", "BURGLARY", "--model", "kde", "--cell-size-m", "300",
                                 "--origin", "2018-10-01", "--backtest-origins", "4", "--n-boot", "200", "--out", str(out)])
    assert result.exit_code == 0, result.output
    grid = gpd.read_file(out)
    assert {"cell_id", "risk", "rank"} <= set(grid.columns) and grid["rank"].min() == 1
    card = json.loads((tmp_path / "forecast.geojson.model_card.json").read_text())
    assert card["model"]["class"] == "KDERisk"
    assert card["forecast"]["origin"].startswith("2018-10-01") and card["forecast"]["horizon"] == "7D"
    assert card["backtest"]["available"] and card["backtest"]["n_origins"] == 4
    assert set(card["data"]["categories"]) == {"BURGLARY"}
    assert any("individual" in text for text in card["out_of_scope"])
    md = (tmp_path / "forecast.geojson.model_card.md").read_text()
    assert md.startswith("# Model card: KDERisk()") and "## Out of scope" in md
    assert (tmp_path / "forecast.geojson.provenance.json").exists()
    assert "Backtest vs RecentCount(weeks=52)" in result.stdout


def test_forecast_without_backtest_says_so(tmp_path):
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["forecast", SAMPLE, "--category", "ROBBERY", "--cell-size-m", "500",
                                 "--backtest-origins", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "f.csv.model_card.json").read_text())
    assert card["model"]["label"] == "RecentCount(weeks=52)"  # "naive" forecasts with the strongest baseline
    assert card["backtest"]["available"] is False
    assert "Not backtested" in result.stdout


def test_forecast_takes_one_model(tmp_path):
    result = runner.invoke(app, ["forecast", SAMPLE, "--model", "kde,sepp", "--out", str(tmp_path / "f.csv")])
    assert isinstance(result.exception, InputError) and "give one model" in str(result.exception)


def test_forecast_and_backtest_read_a_sql_url(tmp_path):
    # INPUT is a string, not a path: a SQLAlchemy URL must reach the loader untouched
    import sqlite3

    import pandas as pd

    db = tmp_path / "crimes.db"
    with sqlite3.connect(db) as con:
        pd.read_csv(SAMPLE).to_sql("crimes", con, index=False)
    url = f"sqlite:///{db}"
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["forecast", url, "--table", "crimes", "--category", "BURGLARY", "--cell-size-m", "500",
                                 "--backtest-origins", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) > 0
    result = runner.invoke(app, ["backtest", url, "--table", "crimes", "--category", "BURGLARY", "--cell-size-m", "500",
                                 "--start", "2018-09-03", "--end", "2018-10-01", "--models", "naive", "--n-boot", "50",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert {row["model"] for row in json.loads(result.stdout)["results"]} >= {"RecentCount(weeks=52)"}


def test_backtest_progress_on_stderr_and_quiet_silences_it():
    args = [*BACKTEST[:-4], "--models", "naive", "--n-boot", "20", "--start", "2018-09-03"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "backtest origins" in shown.stderr and "backtest origins" not in shown.stdout
    quiet = runner.invoke(app, ["--quiet", *args])
    assert quiet.exit_code == 0 and "backtest origins" not in quiet.stderr
    off = runner.invoke(app, [*args, "--no-progress"])
    assert off.exit_code == 0 and "backtest origins" not in off.stderr


def test_backtest_announces_each_automatic_choice_once():
    # KDERisk chooses its bandwidth at every origin: the line shows once a run, not once an origin
    args = [*BACKTEST[:-4], "--models", "kde", "--n-boot", "20", "--start", "2018-09-03", "--no-progress"]
    for _ in range(2):  # and again in the next run of the same process
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stderr.splitlines() if "KDERisk: bandwidth set to" in line]
        assert len(lines) == 1, result.stderr
