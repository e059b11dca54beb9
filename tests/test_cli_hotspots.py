"""Tests of ``intel hotspots``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from intel._offline import external_requests
from intel.cli import app
from intel.cli.hotspots import JSON_KEYS
from intel.exceptions import InputError
from intel.stats import HOTSPOT_CLASSES, MORAN_CLASSES

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
MEMPHIS = SAMPLES / "memphis_robberies.csv"
DISTRICT11 = SAMPLES / "chicago_district11.csv.gz"

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["--quiet", "hotspots", *map(str, args)], catch_exceptions=True)


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _samples_present():
    if not MEMPHIS.exists():
        pytest.skip(f"bundled sample {MEMPHIS} missing")


def test_readme_command_writes_an_offline_hot_spot_map(tmp_path):
    if not DISTRICT11.exists():
        pytest.skip(f"bundled sample {DISTRICT11} missing")
    out = tmp_path / "out" / "hotspots.html"
    result = runner.invoke(app, ["hotspots", str(DISTRICT11), "--method", "gistar", "--cell-size-m", "250",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "hot spot 99%" in html
    assert "approximate" in html
    assert external_requests(html) == []
    record = json.loads((out.parent / "hotspots.html.provenance.json").read_text())
    assert record["function"] == "score_gistar" and record["correction"] == "fdr_bh"
    assert "hot spot 99%" in result.output


def test_json_contract_and_automatic_choices(tmp_path):
    out = tmp_path / "memphis.geojson"
    report = _json(_run(MEMPHIS, "--out", out, "--json"))
    assert tuple(sorted(report)) == tuple(sorted(JSON_KEYS))
    assert report["method"] == "gistar"
    assert report["automatic"]["cell_size_m"]["value"] > 0
    assert report["parameters"]["cell_size_m"] is None
    assert report["n_incidents"] == 2245
    assert set(report["classes"]) == set(HOTSPOT_CLASSES)
    assert sum(report["classes"].values()) == report["n_cells"]
    assert report["classes"]["hot spot 99%"] > 0
    assert report["out"] == str(out)
    written = gpd.read_file(out)
    assert len(written) == report["n_cells"]
    assert written.crs.to_epsg() == 4326
    assert (written["hotspot_class"].value_counts().get("hot spot 99%", 0)) == report["classes"]["hot spot 99%"]

    given = _json(_run(MEMPHIS, "--cell-size-m", "1000", "--out", tmp_path / "m.csv", "--json"))
    assert "cell_size_m" not in given["automatic"]
    assert given["parameters"]["cell_size_m"] == 1000


@pytest.mark.parametrize("suffix", [".csv", ".gpkg", ".parquet"])
def test_other_formats(tmp_path, suffix):
    out = tmp_path / f"scores{suffix}"
    _json(_run(MEMPHIS, "--cell-size-m", "1000", "--out", out, "--json"))
    if suffix == ".csv":
        table = pd.read_csv(out)
        assert {"cell_id", "n", "gi_star", "p_value", "p_adj", "hotspot_class", "wkt"} <= set(table.columns)
    elif suffix == ".gpkg":
        table = gpd.read_file(out)
        assert "hotspot_class" in table.columns
    else:
        table = pd.read_parquet(out)
        assert "gi_star" in table.columns
    assert table["n"].sum() == 2245
    assert (out.parent / (out.name + ".provenance.json")).exists()


def test_moran_with_exact_p_values(tmp_path):
    report = _json(_run(MEMPHIS, "--method", "moran", "--cell-size-m", "1000", "--permutations", "0",
                        "--out", tmp_path / "moran.html", "--json"))
    assert set(report["classes"]) == set(MORAN_CLASSES)
    assert report["parameters"]["permutations"] == 0
    assert report["classes"]["high-high"] > 0
    assert "high-high" in (tmp_path / "moran.html").read_text(encoding="utf-8")


def test_gistar_options_pass_through(tmp_path):
    report = _json(_run(MEMPHIS, "--cell-size-m", "1000", "--shape", "hex", "--neighbours", "1500",
                        "--correction", "bonferroni", "--out", tmp_path / "h.csv", "--json"))
    assert report["parameters"]["shape"] == "hex"
    assert report["parameters"]["neighbours"] == 1500.0
    assert report["parameters"]["correction"] == "bonferroni"


def test_filters_change_the_incidents(tmp_path):
    report = _json(_run(MEMPHIS, "--cell-size-m", "1000", "--start", "2019-07-01", "--end", "2019-10-01",
                        "--out", tmp_path / "q3.csv", "--json"))
    assert 0 < report["n_incidents"] < 2245


@pytest.mark.parametrize("method, column", [("counts", "n"), ("kde", "kde")])
def test_counts_and_kde(tmp_path, method, column):
    pytest.importorskip("intel.density", reason="intel.density (score_counts, score_kde) not built yet")
    out = tmp_path / f"{method}.html"
    report = _json(_run(MEMPHIS, "--method", method, "--cell-size-m", "1000", "--out", out, "--json"))
    assert report["method"] == method
    assert report["n_cells"] > 0
    assert out.exists()


def test_boundary_clips_the_grid(tmp_path):
    beats = SAMPLES / "chicago_district11_beats.geojson"
    if not (DISTRICT11.exists() and beats.exists()):
        pytest.skip("chicago_district11 samples missing")
    whole = _json(_run(DISTRICT11, "--cell-size-m", "500", "--out", tmp_path / "a.csv", "--json"))
    clipped = _json(_run(DISTRICT11, "--cell-size-m", "500", "--boundary", beats, "--out", tmp_path / "b.csv",
                         "--json"))
    assert clipped["n_cells"] < whole["n_cells"]
    assert clipped["parameters"]["boundary"] == str(beats)
    # the empty land around the district was what made most of the cold spots
    cold = [k for k in HOTSPOT_CLASSES if k.startswith("cold")]
    assert sum(clipped["classes"][k] for k in cold) < sum(whole["classes"][k] for k in cold)


@pytest.mark.parametrize(
    "args, match",
    [
        (["--method", "hdbscan"], "--method"),
        (["--neighbours", "bishop"], "--neighbours"),
        (["--correction", "holm"], "correction"),
        (["--boundary", "no/such/file.geojson"], "no such file"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path, args, match):
    result = _run(MEMPHIS, *args, "--out", tmp_path / "x.csv")
    assert isinstance(result.exception, InputError), result.output
    assert match in str(result.exception)


def test_unknown_suffix_is_a_clear_error(tmp_path):
    result = _run(MEMPHIS, "--cell-size-m", "1000", "--out", tmp_path / "x.shp")
    assert isinstance(result.exception, InputError)
    assert "suffix" in str(result.exception)


def test_errors_reach_the_shell_as_one_line_and_exit_code_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from intel.cli import main; main()", "hotspots", str(MEMPHIS), "--method", "nope",
         "--out", str(tmp_path / "x.csv")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("intel: error:")
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the maps it draws (intel.maps, first version)


def test_maps_are_offline_and_classed():
    import intel

    scores = intel.score_gistar(intel.make_synthetic(random_state=0), cell_size_m=250)
    hot = intel.map_hotspots(scores).get_root().render()
    assert external_requests(hot) == []
    assert "#d62f27" in hot and "hot spot 99%" in hot  # the desktop tools' hot red, and the class in the legend
    shaded = intel.map_scores(scores, "gi_star", cmap="RdBu_r", k=4).get_root().render()
    assert external_requests(shaded) == []
    assert "gi star" in shaded  # popup alias
    with pytest.raises(InputError, match="not numeric"):
        intel.map_scores(scores, "hotspot_class")
    with pytest.raises(InputError, match="'k'"):
        intel.map_scores(scores, "n", k=1)
    with pytest.raises(InputError, match="no class column"):
        intel.map_hotspots(scores.drop(columns="hotspot_class"))
    with pytest.raises(InputError, match="not in the table"):
        intel.map_scores(scores, "risk")
