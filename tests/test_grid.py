"""Grids: stable cell ids, clipping, automatic cell size, CRS handling, fast assignment and counting."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import intel
from intel.exceptions import CRSError, GridError, InputError
from intel.grid import (
    _MAX_CELLS,
    _auto_cell_size,
    _layout,
    _position_lookup,
    assign_cells,
    cell_area_m2,
    count_in_cells,
    count_points,
    resolve_grid,
)

UTM = "EPSG:32616"


@pytest.fixture(scope="module")
def incidents() -> gpd.GeoDataFrame:
    return intel.make_synthetic(n_background=1500, hotspots=3, random_state=7)


def _points(n: int, seed: int, extent=(440_000.0, 4_630_000.0, 450_000.0, 4_640_000.0)) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = extent
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)), crs=UTM)


# ---------------------------------------------------------------- make_grid


def test_square_cells_snap_to_multiples_of_the_size(incidents):
    grid = intel.make_grid(incidents, cell_size_m=250)
    b = shapely.bounds(grid.geometry.values)
    np.testing.assert_array_equal(b[:, 0], grid["col"].to_numpy() * 250.0)
    np.testing.assert_array_equal(b[:, 1], grid["row"].to_numpy() * 250.0)
    assert list(grid.index[:2]) == [f"r{grid['row'].iloc[0]}c{grid['col'].iloc[0]}",
                                    f"r{grid['row'].iloc[1]}c{grid['col'].iloc[1]}"]
    assert grid.index.is_unique and grid.index.name == "cell_id"
    # row-major order
    order = np.lexsort((grid["col"].to_numpy(), grid["row"].to_numpy()))
    np.testing.assert_array_equal(order, np.arange(len(grid)))


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_ids_are_stable_across_runs_and_subsets(incidents, shape):
    full = intel.make_grid(incidents, cell_size_m=400, shape=shape)
    again = intel.make_grid(incidents, cell_size_m=400, shape=shape)
    pd.testing.assert_index_equal(full.index, again.index)
    assert full.geometry.geom_equals_exact(again.geometry, 0).all()
    subset = incidents.iloc[::7]
    part = intel.make_grid(subset, cell_size_m=400, shape=shape)
    assert set(part.index) <= set(full.index)
    shared = part.index
    assert part.geometry.geom_equals_exact(full.loc[shared].geometry, 1e-6).all()
    # every point of the subset lands in the cell of the same id in both grids
    np.testing.assert_array_equal(part.index[assign_cells(subset, part)], full.index[assign_cells(subset, full)])


def test_grid_covers_every_point(incidents):
    for shape in ("square", "hex"):
        grid = intel.make_grid(incidents, cell_size_m=333, shape=shape)
        assert (assign_cells(incidents, grid) >= 0).all()


def test_point_on_the_extent_edge_is_inside():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0.0, 300.0, 0.07 * 1000], [0.0, 300.0, 0.3]), crs=UTM)
    grid = intel.make_grid(pts, cell_size_m=100)
    assert (assign_cells(pts, grid) >= 0).all()
    assert count_points(pts, grid).sum() == 3


def test_hex_cells_are_regular_and_tile(incidents):
    grid = intel.make_grid(incidents, cell_size_m=500, shape="hex")
    areas = grid.geometry.area.to_numpy()
    np.testing.assert_allclose(areas, np.sqrt(3) / 2 * 500**2)
    np.testing.assert_allclose(cell_area_m2(grid), areas)
    # neighbouring hexagons share edges, never overlap
    union = shapely.union_all(grid.geometry.values)
    assert union.area == pytest.approx(areas.sum(), rel=1e-9)


def test_automatic_cell_size_is_announced_and_recorded(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        grid = intel.make_grid(incidents)
    auto = grid.attrs["provenance"]["automatic"]
    assert auto["cell_size_m"]["value"] == grid.attrs["grid"]["cell_size_m"] == 100.0
    assert "shorter side" in auto["cell_size_m"]["rule"]
    assert grid.attrs["provenance"]["parameters"]["cell_size_m"] is None
    assert any("Cell size set to 100 m automatically" in r.getMessage() for r in caplog.records)


def test_given_cell_size_is_never_announced_or_recorded_as_automatic(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        grid = intel.make_grid(incidents, cell_size_m=300)
    assert grid.attrs["provenance"]["automatic"] == {}
    assert grid.attrs["provenance"]["parameters"]["cell_size_m"] == 300
    assert not [r for r in caplog.records if "automatically" in r.getMessage()]


def test_automatic_cell_size_stays_bounded_for_a_long_thin_extent():
    size, rule = _auto_cell_size(0.0, 0.0, 400_000.0, 40.0, "square")
    assert 400_000 * 40 / size**2 <= 1_000_000 < 400_000 * 40 / (size / 2) ** 2
    assert "enlarged" in rule
    assert size in {m * 10.0**k for m in (1, 2, 2.5, 5) for k in range(-2, 6)}
    size, rule = _auto_cell_size(0.0, 0.0, 9_000.0, 6_000.0, "hex")
    assert size == 100.0 and "enlarged" not in rule


def test_clipping_to_a_boundary(incidents):
    ox, oy = 440_000.0, 4_630_000.0
    disc = shapely.Point(ox + 5000, oy + 5000).buffer(3000)
    grid = intel.make_grid(incidents, cell_size_m=500, boundary=gpd.GeoSeries([disc], crs=UTM))
    cells = grid.geometry.values
    assert shapely.intersects(cells, disc).all()
    assert not shapely.touches(cells, disc).any()
    # every cell overlapping the disc is there, and nothing else
    whole = intel.make_grid(gpd.GeoSeries([disc.envelope], crs=UTM), cell_size_m=500)
    overlapping = whole.index[shapely.area(shapely.intersection(whole.geometry.values, disc)) > 0]
    assert set(grid.index) == set(overlapping)
    assert grid.attrs["provenance"]["parameters"]["boundary"] is True


def test_boundary_in_another_crs_is_reprojected_with_an_announcement(incidents, caplog):
    ox, oy = 440_000.0, 4_630_000.0
    box = gpd.GeoSeries([shapely.box(ox + 1000, oy + 1000, ox + 4000, oy + 4000)], crs=UTM)
    reference = intel.make_grid(incidents, cell_size_m=500, boundary=box)
    with caplog.at_level(logging.INFO, logger="intel"):
        grid = intel.make_grid(incidents, cell_size_m=500, boundary=box.to_crs(4326))
    assert any("boundary reprojected from EPSG:4326" in r.getMessage() for r in caplog.records)
    assert set(grid.index) >= set(reference.index)
    assert len(grid) - len(reference) <= 30  # a reprojected straight edge may graze a few more cells


def test_polygon_input_is_its_own_boundary():
    poly = gpd.GeoDataFrame(geometry=[shapely.Polygon([(0, 0), (1000, 0), (0, 1000)])], crs=UTM)
    grid = intel.make_grid(poly, cell_size_m=100)
    assert len(grid) < 100  # a triangle keeps about half of the 10 x 10 square
    assert shapely.intersects(grid.geometry.values, poly.geometry.iloc[0]).all()


def test_boundary_that_misses_every_point_names_both_extents(incidents):
    far = gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs=UTM)
    with pytest.raises(GridError, match=r"points cover x 44\d,\d{3} to .*the boundary covers x 0 to 1,000, y 0 to 1,000"):
        intel.make_grid(incidents, cell_size_m=100, boundary=far)


def test_latlon_input_is_projected_with_an_announcement(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        grid = intel.make_grid(incidents.to_crs(4326), cell_size_m=500)
    assert grid.crs.to_epsg() == 32616
    assert grid.attrs["provenance"]["automatic"]["crs"]["value"] == "EPSG:32616"
    assert any("projected to EPSG:32616" in r.getMessage() for r in caplog.records)
    reference = intel.make_grid(incidents, cell_size_m=500)
    assert set(grid.index) == set(reference.index)


def test_feet_are_projected_to_metres(incidents):
    grid = intel.make_grid(incidents.to_crs("EPSG:3435"), cell_size_m=500)  # Illinois East, US feet
    assert grid.crs.to_epsg() == 32616
    assert "feet" in grid.attrs["provenance"]["automatic"]["crs"]["rule"].lower() or \
        "foot" in grid.attrs["provenance"]["automatic"]["crs"]["rule"].lower()


def test_latlon_spanning_a_continent_is_refused():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([-120, -75], [35, 40]), crs=4326)
    with pytest.raises(CRSError, match="too wide for one UTM zone"):
        intel.make_grid(pts, cell_size_m=1000)


def test_missing_crs_is_a_crs_error():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1000], [0, 1000]))
    with pytest.raises(CRSError, match="no CRS"):
        intel.make_grid(pts, cell_size_m=100)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shape": "round"}, "'shape' parameter of make_grid must be one of 'square', 'hex'"),
        ({"cell_size_m": -5}, "'cell_size_m' parameter of make_grid"),
        ({"cell_size_m": float("nan")}, "'cell_size_m' parameter of make_grid"),
    ],
)
def test_bad_options(incidents, kwargs, match):
    with pytest.raises(InputError, match=match):
        intel.make_grid(incidents, **kwargs)


def test_bad_inputs(incidents):
    with pytest.raises(InputError, match="GeoDataFrame, GeoSeries or shapely geometry"):
        intel.make_grid([1, 2, 3], cell_size_m=10)
    one_place = gpd.GeoDataFrame(geometry=gpd.points_from_xy([5.0, 5.0], [5.0, 5.0]), crs=UTM)
    with pytest.raises(GridError, match="give cell_size_m explicitly"):
        intel.make_grid(one_place)
    with pytest.raises(GridError, match="cells"):
        intel.make_grid(incidents, cell_size_m=1.0)
    assert _MAX_CELLS < (10_000 // 1) ** 2


# ---------------------------------------------------------------- assignment and counting


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_assignment_matches_point_in_polygon(shape):
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.uniform(-1000, 1000, n)
    y = rng.uniform(-1000, 1000, n)
    # points on cell borders and corners too
    x[:200] = np.round(x[:200] / 100) * 100
    y[:100] = np.round(y[:100] / 100) * 100
    grid = intel.make_grid(gpd.GeoSeries([shapely.box(-1000, -1000, 1000, 1000)], crs=UTM), cell_size_m=100, shape=shape)
    pos = assign_cells((x, y), grid)
    pts = shapely.points(x, y)
    covered = pos >= 0
    assert covered.mean() > 0.99  # hexes along the square's edge leave a few corners out
    holder = grid.geometry.values[pos[covered]]
    assert (shapely.distance(holder, pts[covered]) < 1e-6).all()  # hex vertices carry rounding
    # strict interiors: the cell found is the only one holding the point
    tree = shapely.STRtree(grid.geometry.values)
    pidx, gidx = tree.query(pts, predicate="within")
    clear = shapely.distance(shapely.boundary(grid.geometry.values[gidx]), pts[pidx]) > 1e-6
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(pos[pidx[clear]], gidx[clear])
    # points left out are strictly inside no cell (at most on the grid's outer border, which by the
    # border rule belongs to the cell beyond)
    assert len(tree.query(pts[~covered], predicate="within")[0]) == 0


def test_count_points_matches_bincount_weighted_and_unweighted(incidents):
    grid = intel.make_grid(incidents, cell_size_m=250)
    pos = assign_cells(incidents, grid)
    np.testing.assert_array_equal(count_points(incidents, grid), count_in_cells(pos, len(grid)))
    w = np.random.default_rng(1).uniform(0, 3, len(incidents))
    np.testing.assert_allclose(count_points(incidents, grid, weights=w), count_in_cells(pos, len(grid), w), rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["square", "hex"])
def test_many_points_go_through_threaded_chunks_deterministically(shape):
    rng = np.random.default_rng(11)
    n = 3_000_000  # several chunks
    x = rng.normal(0, 2000, n)
    y = rng.normal(0, 2000, n)
    x[::1000] = np.nan
    w = rng.uniform(0, 2, n)
    grid = intel.make_grid(gpd.GeoSeries([shapely.box(-5000, -5000, 5000, 5000)], crs=UTM), cell_size_m=50, shape=shape)
    pos = assign_cells((x, y), grid)
    assert (pos[::1000] == -1).all()
    np.testing.assert_array_equal(count_points((x, y), grid), np.bincount(pos[pos >= 0], minlength=len(grid)))
    a = count_points((x, y), grid, weights=w)
    b = count_points((x, y), grid, weights=w)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, np.bincount(pos[pos >= 0], weights=w[pos >= 0], minlength=len(grid)), rtol=1e-9)


def test_points_outside_and_missing_are_not_counted():
    grid = intel.make_grid(gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs=UTM), cell_size_m=100)
    x = np.array([50.0, 50.0, -10.0, 2000.0, np.nan, 999.0])
    y = np.array([50.0, 60.0, 50.0, 50.0, 50.0, np.inf])
    pos = assign_cells((x, y), grid)
    np.testing.assert_array_equal(pos, [0, 0, -1, -1, -1, -1])
    counts = count_points((x, y), grid)
    assert counts[0] == 2 and counts.sum() == 2
    assert count_points((x, y), grid, weights=[1.0, np.nan, 5, 5, 5, 5])[0] == 1.0


@pytest.mark.parametrize("shape", ["square", "hex"])
@pytest.mark.parametrize("clip", ["disc", "ring", None])
def test_every_lookup_path_matches_point_in_polygon(incidents, shape, clip):
    ox, oy = 440_000.0, 4_630_000.0
    disc = shapely.Point(ox + 5000, oy + 5000).buffer(4000)
    # a ring leaves rows with two runs of cells: the dense-table path; a disc leaves one run per row
    area = {"disc": disc, "ring": disc.difference(disc.buffer(-2000)), None: None}[clip]
    boundary = None if area is None else gpd.GeoSeries([area], crs=UTM)
    grid = intel.make_grid(incidents, cell_size_m=200, shape=shape, boundary=boundary)
    lookup = _position_lookup(_layout(grid))
    kind = "table" if lookup[2].size else ("runs" if lookup[0].size else "whole rectangle")
    assert kind == {"ring": "table", "disc": "runs", None: "runs" if shape == "hex" else "whole rectangle"}[clip]
    pos = assign_cells(incidents, grid)
    pip = np.full(len(incidents), -1)
    pidx, gidx = shapely.STRtree(grid.geometry.values).query(incidents.geometry.values, predicate="within")
    pip[pidx] = gidx
    np.testing.assert_array_equal(pos, pip)
    np.testing.assert_array_equal(count_points(incidents, grid), count_in_cells(pos, len(grid)))


def test_scattered_regular_cells_use_the_sparse_lookup():
    a = intel.make_grid(gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs=UTM), cell_size_m=100)
    b = intel.make_grid(gpd.GeoSeries([shapely.box(5e6, 5e6, 5e6 + 1000, 5e6 + 1000)], crs=UTM), cell_size_m=100)
    grid = pd.concat([a, b])
    grid.attrs = dict(a.attrs)
    assert _layout(grid) is None
    x = np.array([50.0, 5e6 + 150, 3e6])
    y = np.array([50.0, 5e6 + 50, 3e6])
    pos = assign_cells((x, y), grid)
    assert list(grid.index[pos[:2]]) == ["r0c0", "r50000c50001"]
    assert pos[2] == -1
    np.testing.assert_array_equal(count_points((x, y), grid)[pos[:2]], [1, 1])


def test_assign_cells_refuses_mismatched_crs(incidents):
    grid = intel.make_grid(incidents, cell_size_m=500)
    with pytest.raises(CRSError, match="reproject one"):
        assign_cells(incidents.to_crs(4326), grid)


# ---------------------------------------------------------------- polygon layers and resolve_grid


def _beats() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"beat": ["A", "B", "C"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000), shapely.box(0, 1000, 2000, 2000)],
        crs=UTM,
    )


def test_any_polygon_layer_is_a_grid():
    grid = intel.as_grid(_beats(), id_column="beat")
    assert list(grid.index) == ["A", "B", "C"] and grid.attrs["grid"]["shape"] == "polygons"
    pos = assign_cells((np.array([500.0, 1500, 1000, 3000]), np.array([500.0, 500, 1500, 3000])), grid)
    np.testing.assert_array_equal(pos, [0, 1, 2, -1])
    np.testing.assert_allclose(cell_area_m2(grid), [1e6, 1e6, 2e6])


def test_as_grid_projects_latlon_polygons_and_checks_its_input(caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        grid = intel.as_grid(_beats().translate(440_000, 4_630_000).to_frame("geometry").assign(beat=list("ABC"))
                             .to_crs(4326), id_column="beat")
    assert grid.crs.to_epsg() == 32616
    assert grid.attrs["provenance"]["automatic"]["crs"]["value"] == "EPSG:32616"
    assert any("projected to EPSG:32616" in r.getMessage() for r in caplog.records)
    dup = _beats().assign(beat=["A", "A", "B"])
    with pytest.raises(GridError, match=r"repeated: \['A'\]"):
        intel.as_grid(dup, id_column="beat")
    with pytest.raises(GridError, match="must be polygons"):
        intel.as_grid(gpd.GeoDataFrame(geometry=gpd.points_from_xy([0], [0]), crs=UTM))
    with pytest.raises(InputError, match="is not a column"):
        intel.as_grid(_beats(), id_column="district")
    with pytest.raises(GridError, match="no rows"):
        intel.as_grid(_beats().iloc[:0])


def test_resolve_grid_reprojects_incidents_and_reports_it(incidents, caplog):
    grid = intel.make_grid(incidents, cell_size_m=500)
    chosen: dict = {}
    with caplog.at_level(logging.INFO, logger="intel"):
        g, inc = resolve_grid(incidents.to_crs(4326), grid, cell_size_m=None, shape="square", owner="test",
                              automatic=chosen)
    assert g is grid and inc.crs.equals(grid.crs)
    assert chosen["crs"]["value"] == "EPSG:32616"
    assert any("incidents reprojected from EPSG:4326" in r.getMessage() for r in caplog.records)
    # without a grid, the grid's automatic choices come back too
    chosen = {}
    resolve_grid(incidents, None, cell_size_m=None, shape="hex", owner="test", automatic=chosen)
    assert set(chosen) == {"cell_size_m"}
    with pytest.raises(InputError, match="carry no CRS"):
        resolve_grid((np.zeros(2), np.zeros(2)), None, cell_size_m=None, shape="square", owner="test")
    with pytest.raises(InputError, match="GeoDataFrame from intel.make_grid"):
        resolve_grid(incidents, "grid.gpkg", cell_size_m=None, shape="square", owner="test")
