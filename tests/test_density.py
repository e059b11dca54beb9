"""score_counts, score_kde, score_dual_kde: exactness against a direct kernel sum, mass, weights,
automatic choices, errors, real data."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import intel
from intel.density import _NORM, KERNELS
from intel.exceptions import CRSError, GridError, InputError

UTM = "EPSG:32616"
OX, OY = 440_000.0, 4_630_000.0


@pytest.fixture(scope="module")
def incidents() -> gpd.GeoDataFrame:
    return intel.make_synthetic(n_background=2000, hotspots=3, hotspot_events=300, random_state=5)


@pytest.fixture(scope="module")
def clustered() -> gpd.GeoDataFrame:
    """3,000 points: half in Gaussian clusters, half uniform, inside a 10 km square."""
    rng = np.random.default_rng(3)
    n, k = 3000, 1500
    centres = rng.uniform(2000, 8000, (6, 2))
    label = rng.integers(0, 6, k)
    spread = rng.uniform(150, 700, 6)
    x = np.r_[centres[label, 0] + rng.normal(0, 1, k) * spread[label], rng.uniform(0, 10_000, n - k)]
    y = np.r_[centres[label, 1] + rng.normal(0, 1, k) * spread[label], rng.uniform(0, 10_000, n - k)]
    return gpd.GeoDataFrame({"weight": np.ones(n)}, geometry=gpd.points_from_xy(OX + x, OY + y), crs=UTM)


def _square_area(size: float, shape: str = "square") -> gpd.GeoDataFrame:
    area = gpd.GeoSeries([shapely.box(OX, OY, OX + 10_000, OY + 10_000)], crs=UTM)
    return intel.make_grid(area, cell_size_m=size, shape=shape)


def direct_sum(points: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, kernel: str, h: float, w=None) -> np.ndarray:
    """The exact kernel sum at cell centres (centroids), per km², by brute force."""
    px, py = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    w = np.ones(px.size) if w is None else np.asarray(w, dtype=float)
    if grid.attrs["grid"]["shape"] == "square":
        s = grid.attrs["grid"]["cell_size_m"]
        cx, cy = (grid["col"].to_numpy() + 0.5) * s, (grid["row"].to_numpy() + 0.5) * s
    else:
        c = grid.geometry.centroid
        cx, cy = c.x.to_numpy(), c.y.to_numpy()
    out = np.empty(cx.size)
    for a in range(0, cx.size, 400):
        u2 = ((cx[a:a + 400, None] - px) ** 2 + (cy[a:a + 400, None] - py) ** 2) / (h * h)
        if kernel == "quartic":
            k = np.where(u2 < 1, (1 - u2) ** 2, 0.0)
        elif kernel == "epanechnikov":
            k = np.where(u2 < 1, 1 - u2, 0.0)
        elif kernel == "uniform":
            k = (u2 < 1).astype(float)
        else:
            k = np.exp(-0.5 * u2)
        out[a:a + 400] = k @ w
    return out * _NORM[kernel] / (h * h) * 1e6


def rel_l2(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


# ---------------------------------------------------------------- score_counts


def test_counts_keep_the_grid_rows_and_order(incidents):
    grid = intel.make_grid(incidents, cell_size_m=500)
    cells = intel.score_counts(incidents, grid)
    pd.testing.assert_index_equal(cells.index, grid.index)
    assert list(cells.columns) == [*grid.columns, "n"]
    assert cells["n"].sum() == len(incidents)
    assert cells.attrs["provenance"]["function"] == "score_counts"
    assert cells.attrs["provenance"]["parameters"]["grid"] == "given"
    assert cells.attrs["provenance"]["grid"] == {"shape": "square", "cell_size_m": 500.0, "n_cells": len(grid), "crs": UTM}
    assert "provenance" in grid.attrs and "n" not in grid.columns  # input untouched


def test_counts_build_the_grid_like_make_grid(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_counts(incidents, shape="hex")
    grid = intel.make_grid(incidents, shape="hex")
    pd.testing.assert_index_equal(cells.index, grid.index)
    record = cells.attrs["provenance"]
    assert record["automatic"]["cell_size_m"]["value"] == grid.attrs["grid"]["cell_size_m"]
    assert record["parameters"] == {"grid": "built", "cell_size_m": None, "shape": "hex", "weights": "column 'weight'"}
    assert any("Cell size set to" in r.getMessage() for r in caplog.records)


def test_counts_with_a_given_size_record_nothing_automatic(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_counts(incidents, cell_size_m=250)
    assert cells.attrs["provenance"]["automatic"] == {}
    assert not [r for r in caplog.records if "automatically" in r.getMessage()]


def test_count_weights_column_array_and_name(incidents):
    grid = intel.make_grid(incidents, cell_size_m=1000)
    w = np.random.default_rng(2).uniform(0, 4, len(incidents))
    by_array = intel.score_counts(incidents, grid, weights=w)
    by_name = intel.score_counts(incidents.assign(severity=w), grid, weights="severity")
    by_column = intel.score_counts(incidents.assign(weight=w), grid)
    np.testing.assert_allclose(by_array["n"], by_name["n"])
    np.testing.assert_allclose(by_array["n"], by_column["n"])
    assert by_array["n"].sum() == pytest.approx(w.sum())
    assert by_name.attrs["provenance"]["parameters"]["weights"] == "column 'severity'"


def test_counts_on_a_polygon_layer():
    beats = gpd.GeoDataFrame(
        {"beat": ["A", "B"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
        crs=UTM,
    )
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([100, 200, 1500, 5000], [100, 200, 500, 5000]), crs=UTM)
    cells = intel.score_counts(pts, beats.set_index("beat"))
    assert cells["n"].to_dict() == {"A": 2.0, "B": 1.0}
    assert cells.attrs["provenance"]["weight_outside_grid"] == 1.0


def test_counts_from_coordinate_arrays(incidents):
    grid = intel.make_grid(incidents, cell_size_m=500)
    xy = (incidents.geometry.x.to_numpy(), incidents.geometry.y.to_numpy())
    np.testing.assert_array_equal(intel.score_counts(xy, grid)["n"], intel.score_counts(incidents, grid)["n"])
    with pytest.raises(InputError, match="carry no CRS"):
        intel.score_counts(xy)


def test_latlon_incidents_are_projected_and_recorded(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_counts(incidents.to_crs(4326), cell_size_m=500)
    assert cells.crs.to_epsg() == 32616
    assert cells.attrs["provenance"]["automatic"]["crs"]["value"] == "EPSG:32616"
    assert any("projected to EPSG:32616" in r.getMessage() for r in caplog.records)
    reference = intel.score_counts(incidents, cell_size_m=500)
    pd.testing.assert_series_equal(cells["n"], reference["n"])


def test_incidents_in_another_crs_than_the_grid_are_reprojected(incidents, caplog):
    grid = intel.make_grid(incidents, cell_size_m=500)
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_counts(incidents.to_crs("EPSG:3857"), grid)
    assert any("reprojected from EPSG:3857" in r.getMessage() for r in caplog.records)
    assert cells.attrs["provenance"]["automatic"]["crs"]["value"] == UTM
    assert cells["n"].sum() == len(incidents)


def test_a_grid_elsewhere_is_a_grid_error_naming_both_extents(incidents):
    far = intel.make_grid(gpd.GeoSeries([shapely.box(0, 0, 5000, 5000)], crs=UTM), cell_size_m=500)
    with pytest.raises(GridError, match=r"points cover x 44\d,\d{3} to .* grid covers x 0 to 5,000"):
        intel.score_counts(incidents, far)
    with pytest.raises(GridError, match="kernel's reach"):
        intel.score_kde(incidents, far, bandwidth_m=500)


def test_bad_inputs_are_clear_errors(incidents):
    with pytest.raises(InputError, match="no incidents with coordinates"):
        intel.score_counts(incidents.iloc[:0], cell_size_m=500)
    with pytest.raises(InputError, match="weights must be zero or more"):
        intel.score_counts(incidents, cell_size_m=500, weights=-np.ones(len(incidents)))
    with pytest.raises(InputError, match="weights has 3 values"):
        intel.score_counts(incidents, cell_size_m=500, weights=[1, 2, 3])
    with pytest.raises(InputError, match="GeoDataFrame of points"):
        intel.score_counts(incidents.drop(columns="geometry").to_dict(), cell_size_m=500)
    with pytest.raises(CRSError, match="no CRS"):
        intel.score_counts(incidents.set_crs(None, allow_override=True), cell_size_m=500)
    with pytest.raises(InputError, match="'kernel' parameter of score_kde must be one of"):
        intel.score_kde(incidents, cell_size_m=500, kernel="triangle")
    with pytest.raises(InputError, match="'bandwidth_m' parameter of score_kde"):
        intel.score_kde(incidents, cell_size_m=500, bandwidth_m=0)
    with pytest.raises(InputError, match="'algorithm' parameter"):
        intel.score_kde(incidents, cell_size_m=500, algorithm="naive")


# ---------------------------------------------------------------- score_kde: accuracy


@pytest.mark.parametrize("kernel", KERNELS)
def test_fft_surface_is_within_one_percent_of_the_direct_sum(clustered, kernel):
    grid = _square_area(200)
    h = 600.0 if kernel != "gaussian" else 250.0
    cells = intel.score_kde(clustered, grid, kernel=kernel, bandwidth_m=h, algorithm="fft")
    assert cells.attrs["provenance"]["algorithm_used"] == "fft"
    exact = direct_sum(clustered, grid, kernel, h)
    assert rel_l2(cells["kde"], exact) < 0.01


@pytest.mark.parametrize("kernel", KERNELS)
def test_exact_algorithm_is_the_direct_sum(clustered, kernel):
    grid = _square_area(250)
    h = 400.0 if kernel != "gaussian" else 150.0
    cells = intel.score_kde(clustered, grid, kernel=kernel, bandwidth_m=h, algorithm="exact")
    exact = direct_sum(clustered, grid, kernel, h)
    # the Gaussian is cut at 5 bandwidths, where it has shed all but exp(-12.5) of its mass
    tol = 5e-6 if kernel == "gaussian" else 1e-9
    np.testing.assert_allclose(cells["kde"], exact, rtol=tol, atol=tol * exact.max())


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_hex_and_polygon_grids_are_evaluated_at_centroids(clustered, kernel):
    h = 700.0 if kernel == "quartic" else 300.0
    hexes = _square_area(300, "hex")
    polygons = intel.as_grid(hexes[["geometry"]].iloc[::3])  # a polygon layer with gaps
    for grid in (hexes, polygons):
        exact = direct_sum(clustered, grid, kernel, h)
        for algorithm in ("fft", "exact"):
            cells = intel.score_kde(clustered, grid, kernel=kernel, bandwidth_m=h, algorithm=algorithm)
            assert rel_l2(cells["kde"], exact) < (0.01 if algorithm == "fft" else 5e-6)


def test_auto_algorithm_picks_a_method_and_records_it(clustered):
    grid = _square_area(200)
    small = intel.score_kde(clustered.iloc[:50], grid, bandwidth_m=300)
    assert small.attrs["provenance"]["algorithm_used"] == "exact"
    assert small.attrs["provenance"]["parameters"]["algorithm"] == "auto"
    big = gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        np.random.default_rng(0).uniform(OX, OX + 10_000, 200_000),
        np.random.default_rng(1).uniform(OY, OY + 10_000, 200_000)), crs=UTM)
    many = intel.score_kde(big, grid, bandwidth_m=1000)
    assert many.attrs["provenance"]["algorithm_used"] == "fft"


# ---------------------------------------------------------------- score_kde: mass, weights, units


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", ["square", "hex"])
def test_mass_is_conserved_away_from_the_edges(kernel, shape):
    rng = np.random.default_rng(8)
    n = 4000
    x = OX + rng.uniform(3000, 7000, n)
    y = OY + rng.uniform(3000, 7000, n)
    w = rng.uniform(0.5, 2.0, n)
    pts = gpd.GeoDataFrame({"weight": w}, geometry=gpd.points_from_xy(x, y), crs=UTM)
    grid = _square_area(100, shape)
    h = 800.0 if kernel != "gaussian" else 300.0  # reach stays inside the grid
    area_km2 = intel.grid.cell_area_m2(grid) / 1e6
    for algorithm, tol in (("fft", 1e-3), ("exact", 2e-3)):
        cells = intel.score_kde(pts, grid, kernel=kernel, bandwidth_m=h, algorithm=algorithm)
        assert (cells["kde"] >= 0).all()
        assert float((cells["kde"] * area_km2).sum()) == pytest.approx(w.sum(), rel=tol)


def test_kde_units_are_incidents_per_square_kilometre():
    # one incident at a cell centre: the peak is the kernel's height, 3 / (pi h^2), per km^2
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(OX + 5050, OY + 5050)], crs=UTM)
    cells = intel.score_kde(pts, _square_area(100), bandwidth_m=1000, algorithm="exact")
    assert cells["kde"].max() == pytest.approx(3 / (np.pi * 1.0**2))
    assert cells.attrs["provenance"]["units"].startswith("kde: weighted incidents per km2")


def test_weights_scale_and_match_repeated_points(clustered):
    grid = _square_area(250)
    once = intel.score_kde(clustered, grid, bandwidth_m=700)
    doubled = intel.score_kde(clustered, grid, bandwidth_m=700, weights=np.full(len(clustered), 2.0))
    np.testing.assert_allclose(doubled["kde"], 2 * once["kde"], rtol=1e-12)
    np.testing.assert_allclose(doubled["n"], 2 * once["n"])
    w = np.where(np.arange(len(clustered)) % 3 == 0, 2.0, 1.0)
    repeated = pd.concat([clustered, clustered[w == 2.0]])
    for algorithm in ("fft", "exact"):
        weighted = intel.score_kde(clustered, grid, bandwidth_m=700, weights=w, algorithm=algorithm)
        copies = intel.score_kde(repeated, grid, bandwidth_m=700, algorithm=algorithm)
        np.testing.assert_allclose(weighted["kde"], copies["kde"], rtol=1e-9, atol=1e-12)


def test_reruns_are_identical(clustered):
    grid = _square_area(200)
    a = intel.score_kde(clustered, grid)
    b = intel.score_kde(clustered, grid)
    np.testing.assert_array_equal(a["kde"].to_numpy(), b["kde"].to_numpy())
    assert a.attrs["provenance"] == b.attrs["provenance"]


# ---------------------------------------------------------------- score_kde: the bandwidth rule


def test_automatic_bandwidth_is_the_documented_rule_announced_and_recorded(clustered, caplog):
    grid = _square_area(200)
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_kde(clustered, grid)
    x, y = clustered.geometry.x.to_numpy(), clustered.geometry.y.to_numpy()

    def spread(v):
        q1, q3 = np.quantile(v, [0.25, 0.75])
        return min(v.std(), (q3 - q1) / 1.349)

    sigma = 0.5 * (spread(x) + spread(y)) * len(x) ** (-1 / 6)
    chosen = cells.attrs["provenance"]["automatic"]["bandwidth_m"]
    assert chosen["value"] == pytest.approx(np.sqrt(8) * sigma, rel=0.005)
    assert cells.attrs["provenance"]["bandwidth_m"] == chosen["value"]
    assert cells.attrs["provenance"]["parameters"]["bandwidth_m"] is None
    assert any("Bandwidth set to" in r.getMessage() for r in caplog.records)
    gauss = intel.score_kde(clustered, grid, kernel="gaussian")
    assert gauss.attrs["provenance"]["automatic"]["bandwidth_m"]["value"] == pytest.approx(sigma, rel=0.005)


def test_given_bandwidth_is_never_announced_or_recorded_as_automatic(clustered, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_kde(clustered, _square_area(200), bandwidth_m=500)
    assert "bandwidth_m" not in cells.attrs["provenance"]["automatic"]
    assert cells.attrs["provenance"]["parameters"]["bandwidth_m"] == 500
    assert not [r for r in caplog.records if "automatically" in r.getMessage()]


def test_automatic_bandwidth_needs_spread():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([OX + 10] * 5, [OY + 10] * 5), crs=UTM)
    grid = _square_area(500)
    with pytest.raises(InputError, match="all at one place"):
        intel.score_kde(pts, grid)
    assert intel.score_kde(pts, grid, bandwidth_m=600)["kde"].max() > 0


# ---------------------------------------------------------------- score_dual_kde


def test_dual_kde_one_category_against_all():
    inc = intel.make_synthetic(n_background=3000, categories={"burglary": 0.25, "theft": 0.75}, random_state=4)
    burglary = inc[inc["category"] == "burglary"]
    grid = intel.make_grid(inc, cell_size_m=250)
    cells = intel.score_dual_kde(burglary, inc, grid, bandwidth_m=1500)
    for column in ("n", "n_other", "kde", "kde_other", "kde_ratio"):
        assert column in cells.columns
    ratio = cells["kde_ratio"].dropna()
    assert ratio.between(0, 1 + 1e-9).all()
    assert ratio.mean() == pytest.approx(len(burglary) / len(inc), abs=0.05)
    one = intel.score_kde(burglary, grid, bandwidth_m=1500)
    np.testing.assert_allclose(cells["kde"], one["kde"], rtol=1e-12)
    assert cells["n_other"].sum() == len(inc)
    diff = intel.score_dual_kde(burglary, inc, grid, method="difference", bandwidth_m=1500)
    np.testing.assert_allclose(diff["kde_difference"], diff["kde"] - diff["kde_other"])
    assert (diff["kde_difference"] <= 1e-9).all()


def test_dual_kde_against_a_population_layer_spreads_it_by_area(incidents):
    # two blocks: all the population lives in the west half
    blocks = gpd.GeoDataFrame(
        {"population": [10_000.0, 0.0]},
        geometry=[shapely.box(OX, OY, OX + 5000, OY + 10_000), shapely.box(OX + 5000, OY, OX + 10_000, OY + 10_000)],
        crs=UTM,
    )
    grid = _square_area(500)
    cells = intel.score_dual_kde(incidents, blocks, grid, other_weights="population", bandwidth_m=1000)
    assert cells["n_other"].sum() == pytest.approx(10_000)
    east = cells["col"].to_numpy() * 500 >= OX + 6500
    west = cells["col"].to_numpy() * 500 + 500 <= OX + 4000
    # no population at risk in the east: no rate there, rather than a division by almost zero
    assert cells.loc[east, "kde_ratio"].isna().all()
    assert cells.loc[west, "kde_ratio"].notna().all()
    assert cells.attrs["provenance"]["n_cells_below_floor"] >= east.sum()
    floor = cells.attrs["provenance"]["ratio_floor_per_km2"]
    mean_density = 10_000 / 100  # people per km2 over the 100 km2 grid
    assert floor == pytest.approx(1e-3 * mean_density, rel=0.05)
    assert np.isfinite(cells["kde_ratio"].dropna()).all()
    assert "kde_ratio" in cells.attrs["provenance"]["units"]


def test_dual_kde_with_weighted_points_and_reprojection(incidents, caplog):
    rng = np.random.default_rng(0)
    homes = gpd.GeoDataFrame(
        {"households": rng.integers(1, 50, 400).astype(float)},
        geometry=gpd.points_from_xy(OX + rng.uniform(0, 10_000, 400), OY + rng.uniform(0, 10_000, 400)),
        crs=UTM,
    ).to_crs(4326)
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_dual_kde(incidents, homes, cell_size_m=500, other_weights="households", bandwidth_m=1500)
    assert cells["n_other"].sum() == pytest.approx(homes["households"].sum())
    assert cells.attrs["provenance"]["automatic"]["other_crs"]["value"] == UTM
    assert any("other layer reprojected" in r.getMessage() for r in caplog.records)


def test_dual_kde_errors(incidents):
    blocks = gpd.GeoDataFrame({"population": [5.0]}, geometry=[shapely.box(OX, OY, OX + 1000, OY + 1000)], crs=UTM)
    with pytest.raises(InputError, match="other_weights='population'"):
        intel.score_dual_kde(incidents, blocks, cell_size_m=500, bandwidth_m=800)
    with pytest.raises(InputError, match="'method' parameter of score_dual_kde"):
        intel.score_dual_kde(incidents, incidents, cell_size_m=500, method="log")
    with pytest.raises(CRSError, match="other layer has no CRS"):
        intel.score_dual_kde(incidents, incidents.set_crs(None, allow_override=True), cell_size_m=500)
    far = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0.0], [0.0]), crs=UTM)
    with pytest.raises(GridError, match="no other layer is within"):
        intel.score_dual_kde(incidents, far, cell_size_m=500, bandwidth_m=800)
    far_blocks = blocks.assign(geometry=[shapely.box(0, 0, 1000, 1000)])
    with pytest.raises(GridError, match="put no column 'population' on the grid: they cover x 0 to 1,000"):
        intel.score_dual_kde(incidents, far_blocks, cell_size_m=500, other_weights="population", bandwidth_m=800)


def test_dual_kde_bandwidth_comes_from_the_incidents(incidents, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_dual_kde(incidents.iloc[::2], incidents, cell_size_m=500)
    alone = intel.score_kde(incidents.iloc[::2], cell_size_m=500)
    assert cells.attrs["provenance"]["automatic"]["bandwidth_m"] == alone.attrs["provenance"]["automatic"]["bandwidth_m"]


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def memphis(shared_data):
    folder = shared_data / "memphis_robberies_2019"
    table = pd.read_csv(folder / "memphis_robberies_2019.csv")
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(table["longitude"], table["latitude"]), crs=4326)
    precincts = gpd.read_file(folder / "memphis_precincts.geojson")
    return points, precincts


@pytest.mark.realdata
def test_memphis_robberies_kde_is_exact_and_peaks_where_robberies_concentrate(memphis):
    points, _ = memphis
    cells = intel.score_kde(points, cell_size_m=500, bandwidth_m=1500)  # lat/lon: projected, announced
    assert cells.attrs["provenance"]["automatic"]["crs"]["value"] == "EPSG:32616"
    projected = points.to_crs(cells.crs)
    exact = direct_sum(projected, cells, "quartic", 1500)
    assert rel_l2(cells["kde"], exact) < 0.005
    # the densest cell lies among the cells with most robberies within the bandwidth
    counts = intel.score_counts(projected, cells)["n"]
    near = cells.geometry.centroid.distance(cells.geometry.centroid.iloc[int(cells["kde"].argmax())]) <= 1500
    assert counts[near].sum() >= 0.9 * max(
        counts[cells.geometry.centroid.distance(c) <= 1500].sum() for c in cells.geometry.centroid.iloc[
            np.argsort(-cells["kde"].to_numpy())[:20]]
    )
    mass = float((cells["kde"] * 0.25).sum())
    assert 0.9 * len(points) < mass <= len(points) * (1 + 1e-9)


@pytest.mark.realdata
def test_memphis_precincts_as_the_grid(memphis):
    points, precincts = memphis
    grid = intel.as_grid(precincts, id_column="precinct")
    cells = intel.score_counts(points, grid)
    assert len(cells) == 9 and cells["n"].sum() >= 0.99 * len(points)
    kde = intel.score_kde(points, grid, bandwidth_m=2000)
    projected = points.to_crs(grid.crs)
    assert rel_l2(kde["kde"], direct_sum(projected, grid, "quartic", 2000)) < 0.01
    pd.testing.assert_index_equal(kde.index, grid.index)


# ---------------------------------------------------------------- score_kde: the one-pass binning


def _xy(points: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    return points.geometry.x.to_numpy(), points.geometry.y.to_numpy()


@pytest.mark.parametrize("bandwidth", [700.0, 250.0])  # one lattice node per cell, and three
def test_counts_from_the_binning_pass_equal_count_points(clustered, bandwidth):
    x, y = _xy(clustered)
    rng = np.random.default_rng(4)
    # points outside the grid and on cell edges too
    x = np.r_[x, OX - 500.0, OX + 10_400.0, OX + 200.0 * rng.integers(0, 50, 200)]
    y = np.r_[y, OY + 300.0, OY + 5000.0, OY + 200.0 * rng.integers(0, 50, 200)]
    w = rng.uniform(0.5, 2.0, x.size)
    full = _square_area(200)
    clipped = intel.make_grid(gpd.GeoSeries([shapely.Point(OX + 5000, OY + 5000).buffer(4000)], crs=UTM),
                              cell_size_m=200)
    for grid in (full, clipped):
        for weights in (None, w):
            cells = intel.score_kde((x, y), grid, bandwidth_m=bandwidth, weights=weights, algorithm="fft")
            expected = intel.grid.count_points((x, y), grid, weights=weights)
            np.testing.assert_array_equal(cells["n"].to_numpy(), expected)


def test_points_missing_a_coordinate_are_left_out_and_announced(clustered, caplog):
    x, y = _xy(clustered)
    grid = _square_area(200)
    clean = intel.score_kde((x, y), grid, bandwidth_m=600)
    xb, yb = x.copy(), y.copy()
    xb[::7] = np.nan
    yb[3::11] = np.inf
    bad = np.isnan(xb) | np.isinf(yb)
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_kde((xb, yb), grid, bandwidth_m=600)
    assert f"{int(bad.sum())} points with missing coordinates" in caplog.text
    kept = intel.score_kde((x[~bad], y[~bad]), grid, bandwidth_m=600)
    np.testing.assert_array_equal(cells["kde"].to_numpy(), kept["kde"].to_numpy())
    np.testing.assert_array_equal(cells["n"].to_numpy(), kept["n"].to_numpy())
    assert cells.attrs["provenance"]["n_incidents"] == int((~bad).sum())
    assert cells.attrs["provenance"]["total_weight"] == float((~bad).sum())
    assert not np.array_equal(clean["n"].to_numpy(), cells["n"].to_numpy())
    with pytest.raises(InputError, match="no incidents"):
        intel.score_kde((np.full(5, np.nan), np.zeros(5)), grid, bandwidth_m=600)


@pytest.mark.parametrize("kernel", ["quartic", "epanechnikov", "gaussian"])
def test_linear_binning_only_on_fine_lattices_and_within_the_bound(clustered, kernel):
    from intel.density import _NODES_PER_BANDWIDTH

    grid = _square_area(100)
    q = _NODES_PER_BANDWIDTH[kernel]
    # one node per 100 m cell: nodes per bandwidth = h / 100
    for nodes, binning in ((q, "quadratic"), (1.4 * q, "linear")):
        h = 100.0 * nodes
        cells = intel.score_kde(clustered, grid, kernel=kernel, bandwidth_m=h, algorithm="fft")
        assert cells.attrs["provenance"]["binning"] == binning
        exact = intel.score_kde(clustered, grid, kernel=kernel, bandwidth_m=h, algorithm="exact")
        assert rel_l2(cells["kde"], exact["kde"]) < 0.005


# ---------------------------------------------------------------- score_kde: binning through moments per node


def _at_addresses(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``n`` incidents as police records hold them: at about n / 3 places (addresses), 70% of them in
    clusters, the rest spread evenly, some beyond the 10 km square; incidents per place are heavy-tailed
    as in Chicago 2018 (the busiest place 0.1% of all, the busiest 1% of places 16%)."""
    rng = np.random.default_rng(seed)
    k = n // 2
    centres = rng.uniform(1500, 8500, (8, 2))
    spread = rng.uniform(300, 1200, 8)
    label = rng.integers(0, 8, k)
    clustered = rng.random(k) < 0.7
    px = np.where(clustered, centres[label, 0] + rng.normal(0, 1, k) * spread[label], rng.uniform(-500, 10_500, k))
    py = np.where(clustered, centres[label, 1] + rng.normal(0, 1, k) * spread[label], rng.uniform(-500, 10_500, k))
    share = rng.lognormal(0.0, 1.3, k)
    pick = rng.choice(k, n, p=share / share.sum())
    return OX + px[pick], OY + py[pick]


@pytest.fixture(scope="module")
def addresses() -> tuple[np.ndarray, np.ndarray]:
    return _at_addresses(300_000)


def _binning(cells: gpd.GeoDataFrame) -> str:
    return cells.attrs["provenance"]["binning"]


@pytest.mark.parametrize(("kernel", "bandwidth"), [
    ("quartic", 1000.0),  # one lattice node per 200 m cell
    ("quartic", 600.0),  # three per cell along each axis
    ("epanechnikov", 2000.0),
    ("gaussian", 400.0),
    ("uniform", 2000.0),
])
def test_moment_binning_is_as_close_to_the_exact_sum_as_binning_each_point(addresses, kernel, bandwidth):
    from intel.density import _MOMENT_BINNING

    x, y = addresses
    grid = _square_area(200)
    cells = intel.score_kde((x, y), grid, kernel=kernel, bandwidth_m=bandwidth, algorithm="fft")
    assert _binning(cells) == _MOMENT_BINNING
    # weights, even all ones, keep binning each point
    each = intel.score_kde((x, y), grid, kernel=kernel, bandwidth_m=bandwidth, weights=np.ones(x.size),
                           algorithm="fft")
    assert _binning(each) in ("quadratic", "linear")
    exact = intel.score_kde((x, y), grid, kernel=kernel, bandwidth_m=bandwidth, algorithm="exact")["kde"]
    error = rel_l2(cells["kde"], exact)
    assert error < 0.005
    assert error <= 1.02 * rel_l2(each["kde"], exact)
    np.testing.assert_array_equal(cells["n"].to_numpy(), each["n"].to_numpy())


@pytest.mark.realdata
def test_moment_binning_on_chicago_is_within_half_a_percent(chicago_files, monkeypatch):
    from intel import density
    from intel.density import _MOMENT_BINNING

    feet = 0.3048006096012192
    table = pd.read_csv(chicago_files[-1], usecols=["x_coordinate", "y_coordinate"]).dropna()
    table = table[(table["x_coordinate"] > 0) & (table["y_coordinate"] > 0)]
    x, y = table["x_coordinate"].to_numpy() * feet, table["y_coordinate"].to_numpy() * feet  # 2018: 230k
    area = gpd.GeoSeries([shapely.box(x.min(), y.min(), x.max(), y.max())], crs="EPSG:26971")
    # 250 m cells and 1250 m: enough incidents a node for the moments on their own; 100 m and 500 m:
    # 1.6 incidents a node, binned through the moments all the same
    for size, bandwidth, bound in ((250.0, 1250.0, 0.003), (100.0, 500.0, 0.005)):
        grid = intel.make_grid(area, cell_size_m=size)
        if size == 100.0:
            monkeypatch.setattr(density, "_MOMENT_POINTS_PER_NODE", 0.0)
        cells = intel.score_kde((x, y), grid, bandwidth_m=bandwidth)
        assert _binning(cells) == _MOMENT_BINNING
        each = intel.score_kde((x, y), grid, bandwidth_m=bandwidth, weights=np.ones(x.size))
        exact = intel.score_kde((x, y), grid, bandwidth_m=bandwidth, algorithm="exact")
        error = rel_l2(cells["kde"], exact["kde"])
        assert error < bound
        assert error <= 1.02 * rel_l2(each["kde"], exact["kde"])
        np.testing.assert_array_equal(cells["n"].to_numpy(), intel.grid.count_points((x, y), grid))


@pytest.mark.parametrize("bandwidth", [1000.0, 600.0])  # one lattice node per cell, and three
def test_counts_from_the_moment_pass_equal_count_points(addresses, bandwidth):
    from intel.density import _MOMENT_BINNING

    x, y = addresses
    rng = np.random.default_rng(4)
    # points outside the grid, on cell edges, and 100,000 at one place (far more than a byte or a
    # short can count)
    x = np.r_[x, OX - 500.0, OX + 10_400.0, OX + 200.0 * rng.integers(0, 50, 2000), np.full(100_000, OX + 4321.0)]
    y = np.r_[y, OY + 300.0, OY + 5000.0, OY + 200.0 * rng.integers(0, 50, 2000), np.full(100_000, OY + 1234.5)]
    full = _square_area(200)
    clipped = intel.make_grid(gpd.GeoSeries([shapely.Point(OX + 5000, OY + 5000).buffer(4000)], crs=UTM),
                              cell_size_m=200)
    for grid in (full, clipped):
        cells = intel.score_kde((x, y), grid, bandwidth_m=bandwidth, algorithm="fft")
        assert _binning(cells) == _MOMENT_BINNING
        np.testing.assert_array_equal(cells["n"].to_numpy(), intel.grid.count_points((x, y), grid))
        # the surface as binning each point gives it, the place with 100,000 included
        each = intel.score_kde((x, y), grid, bandwidth_m=bandwidth, weights=np.ones(x.size), algorithm="fft")
        exact = intel.score_kde((x, y), grid, bandwidth_m=bandwidth, algorithm="exact")["kde"]
        assert rel_l2(cells["kde"], exact) <= 1.02 * rel_l2(each["kde"], exact)


def test_moment_binning_does_not_depend_on_threads_or_sets(addresses, monkeypatch):
    from intel import density

    x, y = addresses
    grid = _square_area(200)
    first = intel.score_kde((x, y), grid, bandwidth_m=1000.0)
    monkeypatch.setattr(density, "_n_threads", lambda: 1)
    one_thread = intel.score_kde((x, y), grid, bandwidth_m=1000.0)
    monkeypatch.setattr(density, "_MAX_MOMENT_POINTS", 7_777)  # 39 sets of sums
    many_sets = intel.score_kde((x, y), grid, bandwidth_m=1000.0)
    for other in (one_thread, many_sets):
        np.testing.assert_array_equal(other["kde"].to_numpy(), first["kde"].to_numpy())
        np.testing.assert_array_equal(other["n"].to_numpy(), first["n"].to_numpy())


def test_moment_binning_leaves_points_missing_a_coordinate_out(addresses, caplog):
    from intel.density import _MOMENT_BINNING

    x, y = addresses
    grid = _square_area(200)
    xb, yb = x.copy(), y.copy()
    xb[::97] = np.nan
    yb[5::101] = -np.inf
    bad = ~(np.isfinite(xb) & np.isfinite(yb))
    with caplog.at_level(logging.INFO, logger="intel"):
        cells = intel.score_kde((xb, yb), grid, bandwidth_m=1000.0)
    assert f"{int(bad.sum())} points with missing coordinates" in caplog.text
    kept = intel.score_kde((x[~bad], y[~bad]), grid, bandwidth_m=1000.0)
    assert _binning(cells) == _binning(kept) == _MOMENT_BINNING
    np.testing.assert_array_equal(cells["kde"].to_numpy(), kept["kde"].to_numpy())
    np.testing.assert_array_equal(cells["n"].to_numpy(), kept["n"].to_numpy())
    assert cells.attrs["provenance"]["total_weight"] == float((~bad).sum())


def test_weighted_points_keep_binning_each_point(addresses):
    from intel.density import _MOMENT_BINNING

    x, y = addresses
    grid = _square_area(200)
    w = np.where(np.arange(x.size) % 4 == 0, 3.0, 1.0)
    unit = intel.score_kde((x, y), grid, bandwidth_m=1000.0)
    weighted = intel.score_kde((x, y), grid, bandwidth_m=1000.0, weights=w)
    assert _binning(unit) == _MOMENT_BINNING
    assert _binning(weighted) == "quadratic"
    np.testing.assert_array_equal(weighted["n"].to_numpy(), intel.grid.count_points((x, y), grid, weights=w))
    # a weight of 3 is three points at the same place, binned through the moments
    copies = intel.score_kde((np.r_[x, x[w == 3.0], x[w == 3.0]], np.r_[y, y[w == 3.0], y[w == 3.0]]), grid,
                             bandwidth_m=1000.0)
    assert _binning(copies) == _MOMENT_BINNING
    np.testing.assert_array_equal(weighted["n"].to_numpy(), copies["n"].to_numpy())
    assert rel_l2(weighted["kde"], copies["kde"]) < 1e-3
    exact = intel.score_kde((x, y), grid, bandwidth_m=1000.0, weights=w, algorithm="exact")["kde"]
    assert rel_l2(weighted["kde"], exact) < 0.005
