"""Spatial weights between the cells of a grid, as scipy sparse matrices.

One function, :func:`cell_neighbours`, answers "which cells are next to which" for
every kind of grid intel knows:

- regular square grids (from :func:`intel.make_grid`): from their integer ``row`` /
  ``col`` columns, 8 queen or 4 rook neighbours, in a compiled loop;
- regular hexagonal grids: 6 neighbours (queen and rook coincide) in the odd-r offset
  layout of :func:`intel.grid._hex_centres` (rows of pointy-top hexagons, odd rows
  shifted right by half a cell);
- any polygon layer (beats, districts): geometric contiguity through a shapely
  STRtree (queen: the polygons share at least a point; rook: a stretch of border);
- a distance band in metres for any grid: cells whose centres are at most that far
  apart (cKDTree on the centres).

Matrices are ``n_cells x n_cells`` CSR, float64, binary, rows and columns in grid
order, sorted indices. Statistics that need row-standardised weights use
:func:`row_standardise`.
"""

from __future__ import annotations

import numbers
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import scipy.sparse as sp
import shapely

from ._validation import check_number
from .exceptions import GridError, InputError

__all__ = ["cell_neighbours", "row_standardise", "check_neighbours", "describe_neighbours"]

CONTIGUITY = ("queen", "rook")

# (d_row, d_col) offsets of the neighbours of a square cell
_QUEEN_OFFSETS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)], dtype=np.int64)
_ROOK_OFFSETS = np.array([(-1, 0), (0, -1), (0, 1), (1, 0)], dtype=np.int64)
# Hexagons in odd-r offset rows: the rows above and below hold different columns
# depending on whether the cell's own row is even or odd.
_HEX_EVEN_OFFSETS = np.array([(-1, -1), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 0)], dtype=np.int64)
_HEX_ODD_OFFSETS = np.array([(-1, 0), (-1, 1), (0, -1), (0, 1), (1, 0), (1, 1)], dtype=np.int64)
_SELF_OFFSET = np.zeros((1, 2), dtype=np.int64)


def check_neighbours(neighbours: Any, owner: str) -> str | float:
    """Return ``neighbours`` if it is ``"queen"``, ``"rook"`` or a positive distance in metres."""
    if isinstance(neighbours, str):
        if neighbours not in CONTIGUITY:
            raise InputError(
                f"The 'neighbours' parameter of {owner} must be 'queen', 'rook' or a distance in metres "
                f"(a positive number). Got {neighbours!r} instead."
            )
        return neighbours
    if isinstance(neighbours, bool) or not isinstance(neighbours, numbers.Real):
        raise InputError(
            f"The 'neighbours' parameter of {owner} must be 'queen', 'rook' or a distance in metres "
            f"(a positive number). Got {neighbours!r} instead."
        )
    return float(check_number("neighbours", neighbours, owner, low=0, closed="neither"))


def describe_neighbours(neighbours: str | float) -> str:
    """Words for a neighbours choice, for provenance and reports."""
    if isinstance(neighbours, str):
        return f"{neighbours} contiguity"
    return f"cells whose centres are within {neighbours:g} m"


def cell_neighbours(
    grid: gpd.GeoDataFrame,
    neighbours: str | float = "queen",
    *,
    include_self: bool = False,
) -> sp.csr_matrix:
    """Binary spatial weights between the cells of ``grid``.

    Parameters
    ----------
    grid : GeoDataFrame
        A grid from :func:`intel.make_grid` or :func:`intel.as_grid`.
    neighbours : {"queen", "rook"} or float
        ``"queen"``: cells sharing an edge or a corner (8 on a square grid, 6 on a
        hexagonal one); ``"rook"``: cells sharing an edge (4 on a square grid, 6 on
        a hexagonal one); a number: cells whose centres are at most that many
        metres apart.
    include_self : bool
        Put ones on the diagonal (each cell is its own neighbour, as Gi* needs).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n_cells x n_cells``, float64, 1.0 for neighbours, rows and columns in
        grid order, sorted indices.

    Examples
    --------
    >>> import intel
    >>> from intel._weights import cell_neighbours
    >>> grid = intel.make_grid(intel.make_synthetic(random_state=0), cell_size_m=500)
    >>> w = cell_neighbours(grid, "queen")
    >>> int(w.sum(axis=1).max())
    8
    """
    owner = "cell_neighbours"
    neighbours = check_neighbours(neighbours, owner)
    if not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: grid must be a GeoDataFrame from intel.make_grid or intel.as_grid; got {type(grid).__name__}.")
    n = len(grid)
    if n == 0:
        raise GridError(f"{owner}: the grid has no cells.")
    meta = grid.attrs.get("grid", {})
    shape = meta.get("shape")
    regular = shape in ("square", "hex") and {"row", "col"} <= set(grid.columns)
    if isinstance(neighbours, float):
        w = _distance_band(grid, neighbours)
    elif regular and _dense_enough(grid):
        return _regular(grid, shape, neighbours, include_self)
    elif regular:
        w = _contiguity_from_centres(grid, shape, neighbours)
    else:
        w = _contiguity(grid, neighbours)
    if include_self:
        w = (w + sp.identity(n, dtype=np.float64, format="csr")).tocsr()
        w.data[:] = 1.0
    w.sort_indices()
    return w


def row_standardise(w: sp.spmatrix) -> sp.csr_matrix:
    """Divide each row by its sum (rows of cells without neighbours stay zero)."""
    w = sp.csr_matrix(w, dtype=np.float64)
    sums = w @ np.ones(w.shape[1])
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    data = w.data * np.repeat(scale, np.diff(w.indptr))
    out = sp.csr_matrix((data, w.indices.copy(), w.indptr.copy()), shape=w.shape)
    out.has_sorted_indices = w.has_sorted_indices
    return out


# ---------------------------------------------------------------- regular grids


def _dense_enough(grid: gpd.GeoDataFrame) -> bool:
    """Whether a dense (row, col) lookup table over the grid's extent stays small."""
    nrows = int(grid["row"].max()) - int(grid["row"].min()) + 1
    ncols = int(grid["col"].max()) - int(grid["col"].min()) + 1
    return nrows * ncols <= 50 * len(grid) + 1_000_000


def _regular(grid: gpd.GeoDataFrame, shape: str, neighbours: str, include_self: bool) -> sp.csr_matrix:
    rows = grid["row"].to_numpy(np.int64)
    cols = grid["col"].to_numpy(np.int64)
    rmin, cmin = int(rows.min()), int(cols.min())
    nrows, ncols = int(rows.max()) - rmin + 1, int(cols.max()) - cmin + 1
    table = np.full(nrows * ncols, -1, dtype=np.int32)
    table[(rows - rmin) * ncols + (cols - cmin)] = np.arange(len(grid), dtype=np.int32)
    if np.count_nonzero(table >= 0) != len(grid):
        raise GridError("cell_neighbours: the grid has repeated (row, col) pairs; build it with intel.make_grid.")
    if shape == "square":
        even = odd = _QUEEN_OFFSETS if neighbours == "queen" else _ROOK_OFFSETS
    else:
        even, odd = _HEX_EVEN_OFFSETS, _HEX_ODD_OFFSETS
    if include_self:
        even, odd = np.vstack([_SELF_OFFSET, even]), np.vstack([_SELF_OFFSET, odd])
    indptr, indices = _offset_neighbours(rows - rmin, cols - cmin, rmin & 1, table, nrows, ncols, even, odd)
    n = len(grid)
    w = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
    w.has_sorted_indices = True
    return w


def _contiguity_from_centres(grid: gpd.GeoDataFrame, shape: str, neighbours: str) -> sp.csr_matrix:
    size = float(grid.attrs["grid"]["cell_size_m"])
    # Centre-to-centre distance of the farthest neighbour, with slack for rounding.
    reach = size * (np.sqrt(2.0) if shape == "square" and neighbours == "queen" else 1.0) * (1 + 1e-6)
    return _distance_band(grid, reach)


@numba.njit(cache=True, nogil=True)
def _offset_neighbours(rows, cols, parity, table, nrows, ncols, even, odd):  # pragma: no cover - compiled
    # Two passes (count, then fill) so nothing larger than the result is allocated;
    # int32 indices are what scipy keeps for matrices this size, so it copies nothing.
    n = rows.shape[0]
    indptr = np.empty(n + 1, dtype=np.int32)
    indptr[0] = 0
    nnz = 0
    for i in range(n):
        r, c = rows[i], cols[i]
        # rows were shifted by rmin; the hexagon layout depends on the parity of the absolute row
        offs = odd if ((r + parity) & 1) == 1 else even
        for o in range(offs.shape[0]):
            rr = r + offs[o, 0]
            cc = c + offs[o, 1]
            if 0 <= rr < nrows and 0 <= cc < ncols and table[rr * ncols + cc] >= 0:
                nnz += 1
        indptr[i + 1] = nnz
    indices = np.empty(nnz, dtype=np.int32)
    for i in range(n):
        r, c = rows[i], cols[i]
        offs = odd if ((r + parity) & 1) == 1 else even
        start = indptr[i]
        end = start
        for o in range(offs.shape[0]):
            rr = r + offs[o, 0]
            cc = c + offs[o, 1]
            if not (0 <= rr < nrows and 0 <= cc < ncols):
                continue
            j = table[rr * ncols + cc]
            if j < 0:
                continue
            # insertion sort: at most 9 entries per row, and the grid may be in any order
            p = end
            while p > start and indices[p - 1] > j:
                indices[p] = indices[p - 1]
                p -= 1
            indices[p] = j
            end += 1
    return indptr, indices


# ---------------------------------------------------------------- any polygons


def _contiguity(grid: gpd.GeoDataFrame, neighbours: str) -> sp.csr_matrix:
    geoms = grid.geometry.values
    if geoms.isna().any() or shapely.is_empty(geoms).any():
        raise GridError("cell_neighbours: some cells have no geometry; drop them before computing neighbours.")
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left != right
    left, right = left[keep], right[keep]
    if neighbours == "rook" and left.size:
        # a shared stretch of border, not just a corner point
        edge = shapely.length(shapely.intersection(geoms[left], geoms[right])) > 0
        left, right = left[edge], right[edge]
    n = len(grid)
    w = sp.csr_matrix((np.ones(left.size), (left, right)), shape=(n, n))
    w.data[:] = 1.0
    return w


def _distance_band(grid: gpd.GeoDataFrame, distance_m: float) -> sp.csr_matrix:
    from scipy.spatial import cKDTree

    meta = grid.attrs.get("grid", {})
    if meta.get("shape") in ("square", "hex") and {"row", "col"} <= set(grid.columns):
        xy = _regular_centres(grid)
    else:
        centres = grid.geometry.centroid
        xy = np.column_stack([centres.x.to_numpy(), centres.y.to_numpy()])
    n = len(grid)
    tree = cKDTree(xy)
    # relative slack so that a band of exactly one cell size catches the neighbours
    # whose centre distance rounds to a hair above it
    pairs = tree.query_pairs(distance_m * (1 + 1e-9), output_type="ndarray")
    if pairs.size == 0:
        return sp.csr_matrix((n, n), dtype=np.float64)
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n))


def _regular_centres(grid: gpd.GeoDataFrame) -> np.ndarray:
    from .grid import _hex_centres

    size = float(grid.attrs["grid"]["cell_size_m"])
    rows = grid["row"].to_numpy(np.int64)
    cols = grid["col"].to_numpy(np.int64)
    if grid.attrs["grid"]["shape"] == "square":
        return np.column_stack([(cols + 0.5) * size, (rows + 0.5) * size])
    cx, cy = _hex_centres(rows, cols, size)
    return np.column_stack([cx, cy])
