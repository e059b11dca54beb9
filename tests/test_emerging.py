"""classify_emerging and mann_kendall: the 17 categories, space-time Gi*, trends, planted truth, CLI."""

from __future__ import annotations

import json
import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import kendalltau

import intel
from intel.emerging import CATEGORIES, _classify, space_time_gi
from intel.exceptions import DataQualityWarning, InputError

# ---------------------------------------------------------------- the 17 categories

N = 20
SIGNIFICANT = 0.001
UP, DOWN, FLAT = (3.0, SIGNIFICANT), (-3.0, SIGNIFICANT), (0.4, 0.7)
HOT_SERIES = {
    # H hot bin, C cold bin, . neither; 20 periods, the final one on the right
    "new hot spot": ("...................H", FLAT),
    "consecutive hot spot": ("...............HHHHH", UP),
    "intensifying hot spot": ("HHHHHHHHHHHHHHHHHHHH", UP),
    "persistent hot spot": (".HHHHHHHHHHHHHHHHHHH", FLAT),
    "diminishing hot spot": ("HHHHHHHHHHHHHHHHHHHH", DOWN),
    "sporadic hot spot": ("..H...H....H.....H.H", FLAT),
    "oscillating hot spot": ("..C.....H.........HH", FLAT),
    "historical hot spot": ("HHHHHHHHHHHHHHHHHHH.", DOWN),
}


def _flip(series: str) -> str:
    return series.translate(str.maketrans("HC", "CH"))


SERIES = {
    **HOT_SERIES,
    # cold spots mirror hot ones; for them "intensifying" means the z-scores fall
    **{label.replace("hot", "cold"): (_flip(s), (-z, p)) for label, (s, (z, p)) in HOT_SERIES.items()},
    "no pattern detected": ("....H....C..........", FLAT),
}


def classify_series(series: str, trend: tuple[float, float]) -> str:
    hot = np.array([[c == "H" for c in series]])
    cold = np.array([[c == "C" for c in series]])
    code = _classify(hot, cold, np.array([trend[0]]), np.array([trend[1]]), 0.05)[0]
    return CATEGORIES[code]


def test_there_are_seventeen_categories_with_arcgis_labels():
    assert len(CATEGORIES) == 17 == len(SERIES)
    assert set(SERIES) == set(CATEGORIES)
    assert CATEGORIES[-1] == "no pattern detected"


@pytest.mark.parametrize("label", list(SERIES))
def test_hand_built_series_gets_its_category(label):
    series, trend = SERIES[label]
    assert classify_series(series, trend) == label


@pytest.mark.parametrize("series, trend, label", [
    # a final run that makes 90% of the bins is no longer "consecutive"
    ("..HHHHHHHHHHHHHHHHHH", FLAT, "persistent hot spot"),
    ("...HHHHHHHHHHHHHHHHH", FLAT, "consecutive hot spot"),
    # a trend in the wrong direction or not significant leaves a persistent hot spot
    ("HHHHHHHHHHHHHHHHHHHH", (2.5, 0.2), "persistent hot spot"),
    # ever cold, now hot (and less than 90% hot): oscillating, even on the first hot bin
    ("C..................H", FLAT, "oscillating hot spot"),
    # the final bin decides first: hot for 95% of the time, then cold
    ("HHHHHHHHHHHHHHHHHHHC", FLAT, "oscillating cold spot"),
    # two separate hot runs, the last one long: sporadic, not consecutive
    ("H..........HHHHHHHHH", FLAT, "sporadic hot spot"),
    ("HHHHHHHHHHHHHHHHHH..", FLAT, "historical hot spot"),
    ("HHHHHHHHHHHHHHHHH...", FLAT, "no pattern detected"),
])
def test_category_boundaries(series, trend, label):
    assert classify_series(series, trend) == label


# ---------------------------------------------------------------- space-time Gi*


def plain_space_time_gi(x: np.ndarray, grid: gpd.GeoDataFrame, time_lag: int) -> np.ndarray:
    """The textbook computation: a dense weight matrix over every bin, neighbours from geometry."""
    geoms = grid.geometry.values
    n_cells, n_periods = x.shape
    adjacent = np.array([[shapely.intersects(a, b) for b in geoms] for a in geoms])  # queen, self included
    n = n_cells * n_periods
    w = np.zeros((n, n))
    for i in range(n_cells):
        for t in range(n_periods):
            for j in range(n_cells):
                for s in range(max(0, t - time_lag), t + 1):
                    if adjacent[i, j]:
                        w[i * n_periods + t, j * n_periods + s] = 1.0
    values = x.ravel()
    mean = values.mean()
    sd = np.sqrt((values**2).mean() - mean**2)
    k = w.sum(axis=1)
    z = (w @ values - mean * k) / (sd * np.sqrt((n * k - k**2) / (n - 1)))
    return z.reshape(n_cells, n_periods)


@pytest.fixture(scope="module")
def small_grid():
    area = gpd.GeoSeries([shapely.box(0, 0, 599, 499)], crs="EPSG:32616")
    return intel.make_grid(area, cell_size_m=100)


def small_cube(grid: gpd.GeoDataFrame, n_periods: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, 2.0, len(grid))[:, None] * np.linspace(0.5, 1.5, n_periods)[None, :]
    counts = rng.poisson(rates).astype(float)
    periods = pd.date_range("2018-01-01", periods=n_periods, freq="W-MON", tz="UTC", name="period")
    index = pd.MultiIndex.from_product([grid.index, periods], names=["cell_id", "period"])
    cube = pd.DataFrame({"n": counts.ravel()}, index=index)
    cube.attrs["cube"] = {"freq": "W-MON", "periods": n_periods, "n_cells": len(grid)}
    return cube


@pytest.mark.parametrize("time_lag", [0, 1, 3])
def test_space_time_gi_matches_plain_numpy(small_grid, time_lag):
    from intel._weights import cell_neighbours

    cube = small_cube(small_grid, 12)
    x = cube["n"].to_numpy().reshape(len(small_grid), 12)
    w = cell_neighbours(small_grid, "queen", include_self=True)
    z, _ = space_time_gi(x, w.indptr.astype(np.int64), w.indices.astype(np.int64), time_lag)
    np.testing.assert_allclose(z, plain_space_time_gi(x, small_grid, time_lag), rtol=0, atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        scores = intel.classify_emerging(cube, small_grid, time_lag=time_lag)
    np.testing.assert_allclose(scores["last_z"], plain_space_time_gi(x, small_grid, time_lag)[:, -1], atol=1e-9)


def test_space_time_gi_matches_esda(small_grid):
    esda = pytest.importorskip("esda")
    from libpysal.weights import W

    cube = small_cube(small_grid, 10, seed=3)
    n_cells, n_periods = len(small_grid), 10
    x = cube["n"].to_numpy().reshape(n_cells, n_periods)
    geoms = small_grid.geometry.values
    neighbours: dict[int, list[int]] = {}
    for i in range(n_cells):
        for t in range(n_periods):
            me = i * n_periods + t
            neighbours[me] = [j * n_periods + s for j in range(n_cells) if shapely.intersects(geoms[i], geoms[j])
                              for s in range(max(0, t - 1), t + 1) if (j, s) != (i, t)]
    g = esda.G_Local(x.ravel(), W(neighbours, silence_warnings=True), transform="B", star=True, permutations=0)
    from intel._weights import cell_neighbours

    w = cell_neighbours(small_grid, "queen", include_self=True)
    z, _ = space_time_gi(x, w.indptr.astype(np.int64), w.indices.astype(np.int64), 1)
    np.testing.assert_allclose(z.ravel(), g.Zs, atol=1e-9)


# ---------------------------------------------------------------- Mann-Kendall


def plain_mann_kendall(row: np.ndarray) -> tuple[int, float, float]:
    n = row.size
    s = sum(np.sign(row[j] - row[i]) for i in range(n - 1) for j in range(i + 1, n))
    _, ties = np.unique(row, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    z = (s - np.sign(s)) / math.sqrt(var) if var > 0 else 0.0
    return int(s), var, z


def test_mann_kendall_matches_the_formula_and_kendall_tau_b():
    rng = np.random.default_rng(8)
    rows = np.vstack([
        rng.normal(size=(5, 30)),
        rng.integers(0, 4, size=(5, 30)).astype(float),  # many ties
        np.arange(30.0)[None, :] + rng.normal(0, 3, (2, 30)),
    ])
    result = intel.mann_kendall(rows)
    assert list(result.columns) == ["s", "var_s", "tau", "z", "p_value"]
    for k, row in enumerate(rows):
        s, var, z = plain_mann_kendall(row)
        assert result["s"].iloc[k] == s
        assert result["var_s"].iloc[k] == pytest.approx(var, rel=1e-12)
        assert result["z"].iloc[k] == pytest.approx(z, rel=1e-12, abs=1e-15)
        assert result["p_value"].iloc[k] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)
        assert result["tau"].iloc[k] == pytest.approx(kendalltau(np.arange(30), row).statistic, rel=1e-12)
    assert (result["p_value"].iloc[-2:] < 1e-6).all()


def test_mann_kendall_edge_cases():
    flat = intel.mann_kendall(np.ones(12))
    assert flat["z"].iloc[0] == 0 and flat["p_value"].iloc[0] == 1
    frame = pd.DataFrame([[1, 3, 2, 5], [4, 3, 2, 1]], index=["a", "b"])
    assert list(intel.mann_kendall(frame).index) == ["a", "b"]
    with pytest.raises(InputError, match="missing"):
        intel.mann_kendall(np.array([[1.0, np.nan, 3.0]]))
    with pytest.raises(InputError, match="at least 2"):
        intel.mann_kendall(np.array([[1.0]]))
    with pytest.raises(InputError, match="numbers"):
        intel.mann_kendall([["a", "b"]])


# ---------------------------------------------------------------- planted truth


# Discs of radius 250 m on the corners of 500 m cells: each hot spot spans four cells,
# as real ones straddle cell edges. The Gi* neighbourhood of 9 cells x 2 weeks needs
# about 2,000 incidents a year in a spot for it to be hot nearly every week.
PLANTED = [
    {"x": 2500, "y": 2500, "kind": "persistent", "events": 2000},
    {"x": 7500, "y": 2500, "kind": "new", "events": 1000},
    # a steady hot spot that also grows (or fades): ArcGIS's intensifying (diminishing)
    {"x": 2500, "y": 7500, "kind": "persistent", "events": 1000},
    {"x": 2500, "y": 7500, "kind": "intensifying", "events": 1000},
    {"x": 7500, "y": 7500, "kind": "persistent", "events": 1000},
    {"x": 7500, "y": 7500, "kind": "diminishing", "events": 1000},
]


@pytest.fixture(scope="module")
def planted():
    specs = [dict(s, radius_m=250) for s in PLANTED]
    incidents = intel.make_synthetic(n_background=20000, hotspots=specs, random_state=0)
    grid = intel.make_grid(incidents, cell_size_m=500)
    cube = intel.build_cube(incidents, grid, freq="W-MON", end="2018-12-31")
    return incidents, grid, cube


def _class_at(scores, grid, x, y):
    # the cell to the north-east of the corner the spot is centred on
    pos = intel.assign_cells((np.array([x + 440_000.0 + 1]), np.array([y + 4_630_000.0 + 1])), grid)[0]
    return scores["hotspot_class"].iloc[pos]


def test_planted_trends_are_recovered(planted):
    incidents, grid, cube = planted
    scores = intel.classify_emerging(cube, grid)
    assert _class_at(scores, grid, 2500, 2500) == "persistent hot spot"
    assert _class_at(scores, grid, 7500, 2500) in ("new hot spot", "consecutive hot spot")
    assert _class_at(scores, grid, 2500, 7500) in ("intensifying hot spot", "persistent hot spot")
    assert _class_at(scores, grid, 7500, 7500) in ("diminishing hot spot", "historical hot spot")
    # the uniform background is mostly no pattern, and never a persistent hot spot
    far = scores.geometry.centroid.distance(shapely.Point(445_000, 4_635_000)) < 1000
    assert (scores.loc[far, "hotspot_class"] == "no pattern detected").mean() > 0.8
    assert (scores["hotspot_class"] == "persistent hot spot").sum() <= 4


def test_scores_are_cell_scores_with_provenance(planted):
    _, grid, cube = planted
    scores = intel.classify_emerging(cube, grid)
    assert isinstance(scores, gpd.GeoDataFrame)
    assert list(scores.index) == list(grid.index)
    for column in ("n", "hotspot_class", "trend_z", "trend_p", "hot_share", "cold_share", "last_z"):
        assert column in scores.columns
    assert set(scores["hotspot_class"]) <= set(CATEGORIES)
    assert scores["n"].sum() == pytest.approx(cube["n"].sum())
    assert ((scores["hot_share"] >= 0) & (scores["hot_share"] <= 1)).all()
    record = scores.attrs["provenance"]
    assert sum(record["categories"].values()) == len(grid)
    assert record["parameters"]["correction"] == "fdr_bh"
    assert record["seed"] is None


def test_permutations_are_reproducible_and_agree_with_analytic(planted):
    _, grid, cube = planted
    a = intel.classify_emerging(cube, grid, permutations=199, correction="none", random_state=1)
    b = intel.classify_emerging(cube, grid, permutations=199, correction="none", random_state=1)
    c = intel.classify_emerging(cube, grid, permutations=199, correction="none", random_state=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["hot_share"].equals(c["hot_share"])
    analytic = intel.classify_emerging(cube, grid, correction="none")
    planted_cell = intel.assign_cells((np.array([442_501.0]), np.array([4_632_501.0])), grid)[0]
    assert a["hot_share"].iloc[planted_cell] > 0.9 and analytic["hot_share"].iloc[planted_cell] > 0.9
    # in a uniform background both tests flag about alpha of the bins
    background = (analytic["n"] < analytic["n"].quantile(0.5)).to_numpy()
    assert a["hot_share"].to_numpy()[background].mean() < 0.1


def test_coarse_permutations_with_fdr_warn(planted):
    _, grid, cube = planted
    with pytest.warns(DataQualityWarning, match="too coarse"):
        intel.classify_emerging(cube, grid, permutations=9, random_state=0)


def test_bad_parameters(planted):
    _, grid, cube = planted
    with pytest.raises(InputError, match="'time_lag'"):
        intel.classify_emerging(cube, grid, time_lag=-1)
    with pytest.raises(InputError, match="'correction'"):
        intel.classify_emerging(cube, grid, correction="holm-ish")
    with pytest.raises(InputError, match="'alpha'"):
        intel.classify_emerging(cube, grid, alpha=1.5)
    with pytest.raises(InputError, match="'neighbours'"):
        intel.classify_emerging(cube, grid, neighbours="bishop")
    with pytest.raises(InputError, match="build_cube"):
        intel.classify_emerging(cube.reset_index(), grid)


def test_short_and_empty_cubes(small_grid):
    with pytest.raises(InputError, match="at least 3"):
        intel.classify_emerging(small_cube(small_grid, 2), small_grid)
    with pytest.warns(DataQualityWarning, match="only 5 periods"):
        intel.classify_emerging(small_cube(small_grid, 5), small_grid)
    empty = small_cube(small_grid, 12)
    empty["n"] = 0.0
    with pytest.raises(InputError, match="same count"):
        intel.classify_emerging(empty, small_grid)


# ---------------------------------------------------------------- CLI


def test_cli_emerging_json(tmp_path, planted):
    from typer.testing import CliRunner

    from intel.cli import app

    incidents = planted[0]
    frame = pd.DataFrame(incidents.drop(columns="geometry")).assign(x=incidents.geometry.x, y=incidents.geometry.y)
    frame["occurred_at"] = frame["occurred_at"].dt.strftime("%Y-%m-%d %H:%M")
    source = tmp_path / "incidents.csv"
    frame[["incident_id", "occurred_at", "category", "x", "y"]].to_csv(source, index=False)
    out = tmp_path / "emerging.gpkg"
    result = CliRunner().invoke(app, [
        "emerging", str(source), "--map", "occurred_at=occurred_at", "--map", "x=x", "--map", "y=y",
        "--crs", "EPSG:32616", "--tz", "UTC", "--end", "2018-12-31", "--cell-size-m", "500", "--out", str(out),
        "--json",
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    from intel.cli.emerging import JSON_KEYS

    assert set(JSON_KEYS) <= set(payload)
    assert list(payload["categories"]) == sorted(CATEGORIES)
    assert sum(payload["categories"].values()) == payload["n_cells"] == 400
    assert payload["n_periods"] == 52 and payload["freq"] == "W-MON"
    assert payload["categories"]["persistent hot spot"] >= 1
    assert out.exists() and (tmp_path / "emerging.gpkg.provenance.json").exists()
    written = gpd.read_file(out)
    assert "hotspot_class" in written.columns and len(written) == 400


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_chicago_burglary_emerging(chicago_files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        frames = [intel.read_incidents(f) for f in chicago_files[-2:]]  # 2017-2018
    incidents = pd.concat(frames, ignore_index=True)
    incidents = incidents[incidents["category"].str.upper() == "BURGLARY"]
    grid = intel.make_grid(incidents, cell_size_m=1000)
    cube = intel.build_cube(incidents, grid, freq="W-MON", start="2017-01-02", end="2018-11-12")
    scores = intel.classify_emerging(cube, grid)
    counts = scores["hotspot_class"].value_counts()
    assert counts.sum() == len(grid)
    hot = scores["hotspot_class"].str.contains("hot spot")
    assert hot.sum() > 10
    # hot spot cells hold far more burglaries than the rest
    assert scores.loc[hot, "n"].mean() > 3 * scores.loc[~hot, "n"].mean()
