"""design_beats: contiguity, balance, compactness, officers; Chicago district 11 against its real beats."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

import intel
from intel._weights import cell_neighbours
from intel.exceptions import InputError
from intel.patrol import design_beats


@pytest.fixture(scope="module")
def cells() -> gpd.GeoDataFrame:
    incidents = intel.make_synthetic(n_background=3000, hotspots=4, random_state=5)
    grid = intel.make_grid(incidents, cell_size_m=500)
    return intel.score_counts(incidents, grid)


def _assert_partition(beats: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> None:
    ids = [c for group in beats["cell_ids"] for c in group]
    assert sorted(ids) == sorted(cells.index)  # every cell in exactly one beat
    w = cell_neighbours(cells, "queen")
    pos = pd.Series(np.arange(len(cells)), index=cells.index)
    for group in beats["cell_ids"]:
        idx = pos[group].to_numpy()
        n_comp, _ = sp.csgraph.connected_components(w[idx][:, idx], directed=False)
        assert n_comp == 1
    assert beats.attrs["beats"]["contiguous"] is True


def test_beats_partition_the_cells_into_contiguous_balanced_compact_regions(cells):
    beats = design_beats(cells, 6)
    _assert_partition(beats, cells)
    assert list(beats.index) == [f"B0{i}" for i in range(1, 7)]
    assert beats["workload"].sum() == pytest.approx(cells["n"].sum())
    assert beats.attrs["beats"]["imbalance"] == pytest.approx(beats["workload"].max() / beats["workload"].mean())
    assert beats.attrs["beats"]["imbalance"] < 1.05
    assert beats["compactness"].min() > 0.3
    pp = 4 * math.pi * beats.geometry.area / beats.geometry.length**2
    assert beats["compactness"].to_numpy() == pytest.approx(pp.to_numpy())
    assert beats["area_km2"].sum() == pytest.approx(cells.geometry.area.sum() / 1e6)


def test_same_seed_same_beats(cells):
    a = design_beats(cells, 5, random_state=3)
    b = design_beats(cells, 5, random_state=3)
    assert a["cell_ids"].tolist() == b["cell_ids"].tolist()
    assert a.attrs["provenance"]["seed"] == 3


def test_designed_beats_are_better_balanced_than_unbalanced_existing_ones(cells):
    x0, y0, x1, y1 = cells.total_bounds
    edges = np.linspace(x0, x1, 5)
    strips = gpd.GeoDataFrame({"name": ["a", "b", "c", "d"]}, crs=cells.crs,
                              geometry=[shapely.box(edges[i], y0, edges[i + 1], y1) for i in range(4)])
    beats = design_beats(cells, existing=strips, existing_id="name")
    info = beats.attrs["beats"]
    assert info["n_beats"] == 4
    assert set(info["existing"]) == {"a", "b", "c", "d"}
    assert sum(info["existing"].values()) == pytest.approx(cells["n"].sum())
    assert info["imbalance"] < info["existing_imbalance"]


def test_islands_are_linked_so_every_cell_gets_a_beat(cells):
    gap = cells[(cells["col"] - cells["col"].min()) % 10 != 5]  # a one-cell-wide empty strip splits the grid
    gap.attrs = dict(cells.attrs)
    beats = design_beats(gap, 4)
    assert beats.attrs["beats"]["linked_components"] >= 1
    assert sorted(c for g in beats["cell_ids"] for c in g) == sorted(gap.index)


def test_officers_from_workload_from_a_total_and_from_population(cells):
    beats = design_beats(cells, 4, hours_per_incident=2.0, workload_days=182.5, response_hours_per_officer=500)
    expected = np.ceil(beats["workload"] * 2.0 * 2 / 500 - 1e-9)
    assert beats["officers"].tolist() == expected.astype(int).tolist()
    assert "Wilson & Weiss" in beats.attrs["beats"]["officer_rule"]

    shared = design_beats(cells, 4, officers=37)
    assert shared["officers"].sum() == 37
    quota = shared["workload"] / shared["workload"].sum() * 37
    assert (np.abs(shared["officers"] - quota) < 1).all()

    per_cell = cells.assign(residents=1000.0)
    by_column = design_beats(per_cell, 4, population="residents", officers_per=3000)
    assert by_column["population"].tolist() == (by_column["n_cells"] * 1000.0).tolist()
    assert by_column["officers"].tolist() == np.ceil(by_column["population"] / 3000).astype(int).tolist()
    assert "3000 residents per officer" in by_column.attrs["beats"]["officer_rule"]

    x0, y0, x1, y1 = cells.total_bounds
    layer = gpd.GeoDataFrame({"population": [90_000.0]}, geometry=[shapely.box(x0, y0, x1, y1)], crs=cells.crs)
    by_layer = design_beats(cells, 4, population=layer)
    assert by_layer["population"].sum() == pytest.approx(90_000.0 * cells.geometry.area.sum() / layer.area.iloc[0])
    assert by_layer["population"].to_numpy() == pytest.approx(
        (90_000.0 * by_layer.geometry.area / layer.area.iloc[0]).to_numpy())


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((), {}, "give n_beats"),
        ((0,), {}, "n_beats"),
        ((10_000,), {}, "n_beats"),
        ((3,), {"workload": "calls"}, "'calls'"),
        ((3,), {"population": "residents"}, "'residents'"),
        ((3,), {"existing": "beats"}, "GeoDataFrame of beat polygons"),
        ((3,), {"officers_per": 0}, "officers_per"),
    ],
)
def test_bad_input_raises_clear_errors(cells, args, kwargs, match):
    with pytest.raises(InputError, match=match):
        design_beats(cells, *args, **kwargs)


def test_chicago_district_11_designed_beats_beat_the_real_beats_on_balance():
    incidents = intel.load_sample("chicago_district11")
    real = intel.load_sample("chicago_district11_beats")
    last_year = incidents[incidents["occurred_at"] >= pd.Timestamp("2017-11-13", tz="America/Chicago")]
    grid = intel.make_grid(real, cell_size_m=150)
    cells = intel.score_counts(last_year, grid)
    beats = design_beats(cells, existing=real, existing_id="beat_num")
    info = beats.attrs["beats"]
    assert info["n_beats"] == len(real) == 15
    _assert_partition(beats, cells)
    # the real beats, on the same cell workloads, are far less even (about 1.46 in this window)
    assert info["existing_imbalance"] > 1.3
    assert info["imbalance"] < 1.05 < info["existing_imbalance"]
    assert beats["compactness"].mean() > 0.4
