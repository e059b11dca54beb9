"""Tests of intel._weights: neighbours between grid cells."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
import shapely

import intel
from intel._weights import _contiguity, cell_neighbours, row_standardise
from intel.exceptions import GridError, InputError, IntelError

CRS = "EPSG:32616"


def _area_grid(width_m, height_m, cell_size_m, shape="square", origin=(440_000.0, 4_630_000.0)):
    x0, y0 = origin
    area = gpd.GeoSeries([shapely.box(x0, y0, x0 + width_m, y0 + height_m)], crs=CRS)
    return intel.make_grid(area, cell_size_m=cell_size_m, shape=shape)


def _degrees(w):
    return np.diff(w.indptr)


def _centre_distances(grid, w):
    c = grid.geometry.centroid
    x, y = c.x.to_numpy(), c.y.to_numpy()
    coo = w.tocoo()
    return np.hypot(x[coo.row] - x[coo.col], y[coo.row] - y[coo.col])


@pytest.mark.parametrize("neighbours, interior", [("queen", 8), ("rook", 4)])
def test_square_grid_matches_geometric_contiguity(neighbours, interior):
    grid = _area_grid(3000, 2000, 250)
    w = cell_neighbours(grid, neighbours)
    assert w.shape == (len(grid), len(grid))
    assert w.dtype == np.float64
    assert set(np.unique(w.data)) == {1.0}
    assert _degrees(w).max() == interior
    assert w.diagonal().sum() == 0
    assert (w != w.T).nnz == 0
    assert (w != _contiguity(grid, neighbours)).nnz == 0


@pytest.mark.parametrize("origin_row_offset", [0.0, 1.0])
def test_hex_grid_has_six_neighbours_one_cell_apart(origin_row_offset):
    size = 200.0
    # shift the area by one hexagon row so the grid's first row is odd in one case and even in the other
    origin = (440_000.0, 4_630_000.0 + origin_row_offset * size * np.sqrt(3) / 2)
    grid = _area_grid(3000, 3000, size, shape="hex", origin=origin)
    w = cell_neighbours(grid, "queen")
    assert _degrees(w).max() == 6
    np.testing.assert_allclose(_centre_distances(grid, w), size, rtol=1e-9)
    assert (w != _contiguity(grid, "queen")).nnz == 0
    assert (w != cell_neighbours(grid, "rook")).nnz == 0


def test_parity_of_first_row_differs_between_the_two_hex_cases():
    size = 200.0
    firsts = set()
    for k in (0.0, 1.0):
        grid = _area_grid(3000, 3000, size, shape="hex", origin=(440_000.0, 4_630_000.0 + k * size * np.sqrt(3) / 2))
        firsts.add(int(grid["row"].min()) & 1)
    assert firsts == {0, 1}


def test_libpysal_contiguity_agrees():
    from libpysal.weights import Queen, Rook

    grid = _area_grid(2000, 1500, 250)
    frame = grid.reset_index()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls, name in ((Queen, "queen"), (Rook, "rook")):
            ref = cls.from_dataframe(frame, use_index=False)
            ref_sparse = ref.sparse  # ids 0..n-1 in frame order
            assert (cell_neighbours(grid, name) != ref_sparse).nnz == 0


def test_clipped_grid_and_any_row_order():
    grid = _area_grid(4000, 4000, 250)
    disc = shapely.Point(442_000.0, 4_632_000.0).buffer(1500)
    clipped = intel.make_grid(gpd.GeoSeries([disc], crs=CRS), cell_size_m=250)
    w = cell_neighbours(clipped, "queen")
    assert (w != _contiguity(clipped, "queen")).nnz == 0
    assert len(clipped) < len(grid)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(grid))
    shuffled = grid.iloc[perm]
    shuffled.attrs = dict(grid.attrs)
    w_grid = cell_neighbours(grid, "queen")
    w_shuffled = cell_neighbours(shuffled, "queen")
    assert (w_shuffled != w_grid[perm][:, perm]).nnz == 0
    assert w_shuffled.has_sorted_indices


def test_include_self_puts_ones_on_the_diagonal():
    grid = _area_grid(1000, 1000, 250)
    w = cell_neighbours(grid, "queen")
    ws = cell_neighbours(grid, "queen", include_self=True)
    np.testing.assert_array_equal(ws.diagonal(), 1.0)
    assert (ws - sp.identity(len(grid)) != w).nnz == 0
    assert set(np.unique(ws.data)) == {1.0}


def test_distance_band_reproduces_rook_and_queen_on_squares():
    size = 250.0
    grid = _area_grid(2000, 2000, size)
    assert (cell_neighbours(grid, size) != cell_neighbours(grid, "rook")).nnz == 0
    assert (cell_neighbours(grid, size * np.sqrt(2)) != cell_neighbours(grid, "queen")).nnz == 0
    wide = cell_neighbours(grid, 600.0)
    assert _centre_distances(grid, wide).max() <= 600.0
    assert _degrees(wide).max() == 20  # offsets (dr, dc) with 0 < dr^2 + dc^2 <= (600/250)^2 = 5.76


def test_polygon_layer_queen_rook_and_distance():
    # Four unequal polygons with a T-junction: A spans the whole top, B, C, D below.
    polys = [
        shapely.box(0, 100, 300, 200),   # A
        shapely.box(0, 0, 100, 100),     # B
        shapely.box(100, 0, 200, 100),   # C
        shapely.box(200, 0, 300, 100),   # D
        shapely.box(300, 200, 400, 300),  # E touches A at one corner only
    ]
    layer = intel.as_grid(gpd.GeoDataFrame({"name": list("ABCDE")}, geometry=polys, crs=CRS), id_column="name")
    queen = cell_neighbours(layer, "queen").toarray()
    rook = cell_neighbours(layer, "rook").toarray()
    a, b, c, d, e = range(5)
    assert queen[a, [b, c, d, e]].tolist() == [1, 1, 1, 1]
    assert rook[a, [b, c, d, e]].tolist() == [1, 1, 1, 0]
    assert queen[b, d] == 0 and queen[b, c] == 1
    dist = cell_neighbours(layer, 120.0).toarray()  # centroids: A (150,150), B (50,50), C (150,50)...
    assert dist[a, c] == 1 and dist[a, b] == 0 and dist[b, c] == 1


def test_row_standardise_rows_sum_to_one_and_islands_stay_zero():
    w = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=float))
    r = row_standardise(w)
    np.testing.assert_allclose(r.toarray(), [[0, 0.5, 0.5], [1, 0, 0], [0, 0, 0]])
    assert w[0, 1] == 1.0  # input untouched


@pytest.mark.parametrize("bad", ["bishop", -5, 0, True, None, float("nan")])
def test_bad_neighbours_is_a_clear_error(bad):
    grid = _area_grid(1000, 1000, 250)
    with pytest.raises(InputError, match="neighbours"):
        cell_neighbours(grid, bad)


def test_bad_grid_is_a_clear_error():
    with pytest.raises(InputError, match="GeoDataFrame"):
        cell_neighbours([1, 2, 3])
    grid = _area_grid(1000, 1000, 250)
    with pytest.raises(GridError, match="no cells"):
        cell_neighbours(grid.iloc[:0])
    assert issubclass(GridError, IntelError)
