"""Grids of cells: square, hexagonal, or any polygon layer, and assigning points to cells.

A Grid is a :class:`geopandas.GeoDataFrame` indexed by ``cell_id`` with polygon
geometry in a metric CRS. Regular grids (square, hex) also carry integer ``row`` and
``col`` columns and ``attrs["grid"] = {"shape": ..., "cell_size_m": ...}``; their cells
are snapped to multiples of the cell size from the CRS origin, so two grids with the
same size line up and a cell keeps its ``cell_id`` whatever data built the grid.
Any polygon layer (beats, districts) can serve as a grid: see :func:`as_grid`.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import shapely

from ._incidents import check_metric_crs
from ._provenance import announce, attach, make_record
from ._validation import check_number, check_option
from .exceptions import CRSError, GridError, InputError

__all__ = ["make_grid", "as_grid", "assign_cells", "cell_area_m2"]

SHAPES = ("square", "hex")
_SQRT3 = math.sqrt(3.0)
_AUTO_CELLS_ON_SHORT_SIDE = 50
_MAX_CELLS = 5_000_000


def make_grid(
    incidents_or_area: Any,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    boundary: Any = None,
) -> gpd.GeoDataFrame:
    """Cover points or an area with square or hexagonal cells.

    Parameters
    ----------
    incidents_or_area : GeoDataFrame or GeoSeries or shapely geometry
        Incidents (the grid covers their extent) or polygons of a study area
        (the grid covers them). Must be in a projected CRS in metres; shapely
        geometries are taken to be in the boundary's CRS.
    cell_size_m : float, optional
        Side of a square cell, or the distance between the centres of
        neighbouring hexagons (flat-to-flat width). When omitted, the shorter
        side of the extent divided by 50, rounded down to a "nice" number
        (1, 2, 2.5 or 5 times a power of ten); the choice is logged and recorded.
    shape : {"square", "hex"}
        Cell shape. Hexagons are pointy-topped, in rows.
    boundary : GeoDataFrame, GeoSeries or shapely geometry, optional
        Study area: only cells that intersect it are kept. Polygon inputs are
        their own boundary unless one is given.

    Returns
    -------
    GeoDataFrame
        Index ``cell_id`` (e.g. ``"r1660c1784"``), columns ``row``, ``col`` and
        ``geometry``, in row-major order; ``attrs["grid"]`` holds the shape and
        cell size, ``attrs["provenance"]`` how it was made.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.load_sample("memphis_robberies")
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> grid.index.name, round(grid.attrs["grid"]["cell_size_m"])
    ('cell_id', 500)
    """
    owner = "make_grid"
    check_option("shape", shape, owner, SHAPES)
    check_number("cell_size_m", cell_size_m, owner, low=0, closed="neither", allow_none=True)
    geoms, crs = _as_geoseries(incidents_or_area, owner, "incidents_or_area")
    if boundary is not None:
        bgeoms, bcrs = _as_geoseries(boundary, owner, "boundary", default_crs=crs)
        if crs is not None and bcrs is not None and not crs.equals(bcrs):
            announce("make_grid: boundary reprojected from %s to %s", bcrs.to_string(), crs.to_string())
            bgeoms = bgeoms.to_crs(crs)
        area = shapely.union_all(bgeoms.values)
    elif (geoms.geom_type.isin(["Polygon", "MultiPolygon"])).any():
        area = shapely.union_all(geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon"])].values)
    else:
        area = None
    extent_geoms = geoms[~geoms.is_empty & geoms.notna()]
    if len(extent_geoms) == 0 and area is None:
        raise GridError("make_grid: there is nothing to cover (no points or polygons with coordinates).")
    xmin, ymin, xmax, ymax = (area.bounds if area is not None else extent_geoms.total_bounds)
    if not np.all(np.isfinite([xmin, ymin, xmax, ymax])):
        raise GridError("make_grid: the extent has non-finite coordinates.")

    automatic = {}
    if cell_size_m is None:
        short_side = min(xmax - xmin, ymax - ymin)
        if short_side <= 0:
            short_side = max(xmax - xmin, ymax - ymin)
        if short_side <= 0:
            raise GridError("make_grid: all points are at one location; give cell_size_m explicitly.")
        cell_size_m = _nice_floor(short_side / _AUTO_CELLS_ON_SHORT_SIDE)
        rule = f"shorter side of the extent ({short_side:,.0f} m) / {_AUTO_CELLS_ON_SHORT_SIDE}, rounded down to a nice number"
        automatic["cell_size_m"] = {"value": cell_size_m, "rule": rule}
        announce("Cell size set to %s m automatically (%s). Pass cell_size_m= to choose.", _fmt(cell_size_m), rule)

    if shape == "square":
        rows, cols = _square_index_range(xmin, ymin, xmax, ymax, cell_size_m)
        polys = _square_polygons(rows, cols, cell_size_m)
    else:
        rows, cols = _hex_index_range(xmin, ymin, xmax, ymax, cell_size_m)
        polys = _hex_polygons(rows, cols, cell_size_m)

    grid = gpd.GeoDataFrame(
        {"row": rows, "col": cols},
        geometry=polys,
        crs=crs,
        index=pd.Index(_cell_ids(rows, cols), name="cell_id"),
    )
    if area is not None:
        keep = shapely.intersects(grid.geometry.values, area)
        # Touching only along an edge does not make a cell part of the study area.
        keep &= ~shapely.touches(grid.geometry.values, area)
        grid = grid.loc[keep]
        if len(grid) == 0:
            raise GridError("make_grid: no cell intersects the boundary; check that the boundary and the points share a CRS.")
    grid.attrs["grid"] = {"shape": shape, "cell_size_m": float(cell_size_m)}
    params = {"cell_size_m": None if automatic else cell_size_m, "shape": shape, "boundary": boundary is not None}
    attach(grid, make_record("make_grid", params, automatic=automatic, extra={"n_cells": len(grid), "crs": crs}))
    return grid


def as_grid(layer: gpd.GeoDataFrame | gpd.GeoSeries, *, id_column: str | None = None) -> gpd.GeoDataFrame:
    """Use any polygon layer (beats, districts, neighbourhoods) as a grid.

    Parameters
    ----------
    layer : GeoDataFrame or GeoSeries
        Polygons in a metric CRS.
    id_column : str, optional
        Column holding the area's name or number; it becomes the ``cell_id``
        index (as strings). Default: the layer's index.

    Returns
    -------
    GeoDataFrame
        The layer indexed by ``cell_id``, with ``attrs["grid"]["shape"] == "polygons"``.

    Examples
    --------
    >>> import intel
    >>> precincts = intel.load_sample("memphis_precincts")
    >>> beats = intel.as_grid(precincts, id_column="precinct")
    >>> beats.attrs["grid"]["shape"]
    'polygons'
    """
    owner = "as_grid"
    if isinstance(layer, gpd.GeoSeries):
        layer = layer.to_frame("geometry")
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InputError(f"{owner} needs a GeoDataFrame of polygons; got {type(layer).__name__}.")
    check_metric_crs(layer.crs, owner=owner, what="polygons")
    types = set(layer.geom_type.dropna().unique())
    if not types or types - {"Polygon", "MultiPolygon"}:
        raise GridError(f"{owner}: a grid must be polygons; found {sorted(types) or 'no geometry'}.")
    grid = layer.copy()
    if id_column is not None:
        if id_column not in grid.columns:
            raise InputError(f"{owner}: id_column={id_column!r} is not a column; columns are {list(grid.columns)}.")
        grid.index = pd.Index(grid[id_column].astype(str), name="cell_id")
    else:
        grid.index = pd.Index(grid.index.astype(str), name="cell_id")
    if grid.index.has_duplicates:
        dup = grid.index[grid.index.duplicated()].unique()[:5].tolist()
        raise GridError(f"{owner}: cell ids must be unique; repeated: {dup}. Dissolve the layer by its id first.")
    grid.attrs = {"grid": {"shape": "polygons", "cell_size_m": None}}
    attach(grid, make_record("as_grid", {"id_column": id_column}, extra={"n_cells": len(grid), "crs": grid.crs}))
    return grid


def resolve_grid(
    incidents: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame | None,
    *,
    cell_size_m: float | None,
    shape: str,
    owner: str,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return ``(grid, incidents)`` ready for scoring: builds the grid if needed, aligns CRSs.

    Used by every ``score_*`` verb. A given grid wins over ``cell_size_m``/``shape``.
    Incidents in another CRS than the grid are reprojected to the grid's CRS (announced).
    """
    if grid is None:
        return make_grid(incidents, cell_size_m=cell_size_m, shape=shape), incidents
    if not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: grid must be a GeoDataFrame from intel.make_grid or intel.as_grid; got {type(grid).__name__}.")
    if "grid" not in grid.attrs:
        grid = as_grid(grid)
    check_metric_crs(grid.crs, owner=owner, what="grid")
    if incidents.crs is not None and not incidents.crs.equals(grid.crs):
        announce("%s: incidents reprojected from %s to the grid's CRS %s", owner, incidents.crs.to_string(), grid.crs.to_string())
        incidents = incidents.to_crs(grid.crs)
    return grid, incidents


def cell_area_m2(grid: gpd.GeoDataFrame) -> np.ndarray:
    """Area of every cell in square metres (exact for regular grids)."""
    meta = grid.attrs.get("grid", {})
    size = meta.get("cell_size_m")
    if meta.get("shape") == "square" and size:
        return np.full(len(grid), size * size)
    if meta.get("shape") == "hex" and size:
        return np.full(len(grid), _SQRT3 / 2.0 * size * size)
    return np.asarray(grid.geometry.area, dtype=np.float64)


def assign_cells(incidents_or_xy: Any, grid: gpd.GeoDataFrame) -> np.ndarray:
    """Position (0-based row of ``grid``) of the cell holding each point, -1 outside the grid.

    Parameters
    ----------
    incidents_or_xy : GeoDataFrame or tuple of arrays
        Incidents (points in the grid's CRS) or ``(x, y)`` coordinate arrays.
    grid : GeoDataFrame
        A grid from :func:`make_grid` or :func:`as_grid`.

    Returns
    -------
    numpy.ndarray of int64
        One position per point; ``grid.index[pos]`` is the ``cell_id``.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.load_sample("memphis_robberies")
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> pos = intel.assign_cells(incidents, grid)
    >>> bool((pos >= 0).all())
    True
    """
    if isinstance(incidents_or_xy, (gpd.GeoDataFrame, gpd.GeoSeries)):
        g = incidents_or_xy.geometry if isinstance(incidents_or_xy, gpd.GeoDataFrame) else incidents_or_xy
        if g.crs is not None and grid.crs is not None and not g.crs.equals(grid.crs):
            raise CRSError(
                f"assign_cells: points are in {g.crs.to_string()} but the grid is in {grid.crs.to_string()}; "
                "reproject one with .to_crs(...)."
            )
        x = np.asarray(shapely.get_x(g.values), dtype=np.float64)
        y = np.asarray(shapely.get_y(g.values), dtype=np.float64)
    else:
        x, y = (np.asarray(a, dtype=np.float64) for a in incidents_or_xy)
    meta = grid.attrs.get("grid", {})
    shape, size = meta.get("shape"), meta.get("cell_size_m")
    if shape in SHAPES and size and {"row", "col"} <= set(grid.columns):
        table, rmin, cmin, ncols = _lookup_table(grid)
        if shape == "square":
            return _assign_square(x, y, float(size), table, rmin, cmin, ncols)
        return _assign_hex(x, y, float(size), table, rmin, cmin, ncols)
    return _assign_polygons(x, y, grid)


def count_in_cells(positions: np.ndarray, n_cells: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of weights (or count) per cell from :func:`assign_cells` positions; -1s are ignored."""
    inside = positions >= 0
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[inside]
    return np.bincount(positions[inside], weights=w, minlength=n_cells).astype(np.float64)


# ---------------------------------------------------------------- internals


def _as_geoseries(obj: Any, owner: str, name: str, default_crs: Any = None) -> tuple[gpd.GeoSeries, Any]:
    if isinstance(obj, gpd.GeoDataFrame):
        geoms = obj.geometry
    elif isinstance(obj, gpd.GeoSeries):
        geoms = obj
    elif isinstance(obj, shapely.Geometry):
        geoms = gpd.GeoSeries([obj], crs=default_crs)
    else:
        raise InputError(f"{owner}: {name} must be a GeoDataFrame, GeoSeries or shapely geometry; got {type(obj).__name__}.")
    if geoms.crs is not None or default_crs is None:
        check_metric_crs(geoms.crs, owner=owner, what=name)
    return geoms, geoms.crs


def _nice_floor(value: float) -> float:
    """Largest of 1, 2, 2.5, 5 x 10^k not above ``value``."""
    exp = math.floor(math.log10(value))
    for m in (5.0, 2.5, 2.0, 1.0):
        nice = m * 10.0**exp
        if nice <= value * (1 + 1e-12):
            return nice
    return 10.0**exp


def _fmt(v: float) -> str:
    return f"{v:g}"


def _check_size(n: int) -> None:
    if n > _MAX_CELLS:
        raise GridError(
            f"make_grid: that would make {n:,} cells (more than {_MAX_CELLS:,}); choose a larger cell_size_m "
            "or a smaller area."
        )


def _square_index_range(xmin, ymin, xmax, ymax, s):
    r0, r1 = math.floor(ymin / s), math.floor(ymax / s)
    c0, c1 = math.floor(xmin / s), math.floor(xmax / s)
    _check_size((r1 - r0 + 1) * (c1 - c0 + 1))
    rr, cc = np.meshgrid(np.arange(r0, r1 + 1), np.arange(c0, c1 + 1), indexing="ij")
    return rr.ravel().astype(np.int64), cc.ravel().astype(np.int64)


def _square_polygons(rows, cols, s):
    x0, y0 = cols * s, rows * s
    return shapely.box(x0, y0, x0 + s, y0 + s)


def _hex_centres(rows, cols, s):
    return s * (cols + 0.5 * (rows & 1)), rows * (s * _SQRT3 / 2.0)


def _hex_index_range(xmin, ymin, xmax, ymax, s):
    dy = s * _SQRT3 / 2.0
    radius = s / _SQRT3
    r0, r1 = math.floor((ymin - radius) / dy), math.ceil((ymax + radius) / dy)
    c0, c1 = math.floor(xmin / s) - 1, math.ceil(xmax / s) + 1
    _check_size((r1 - r0 + 1) * (c1 - c0 + 1))
    rr, cc = np.meshgrid(np.arange(r0, r1 + 1), np.arange(c0, c1 + 1), indexing="ij")
    rows, cols = rr.ravel().astype(np.int64), cc.ravel().astype(np.int64)
    cx, cy = _hex_centres(rows, cols, s)
    # keep only hexagons that reach into the extent
    keep = (cx + s / 2 > xmin) & (cx - s / 2 < xmax) & (cy + radius > ymin) & (cy - radius < ymax)
    return rows[keep], cols[keep]


def _hex_polygons(rows, cols, s):
    cx, cy = _hex_centres(rows, cols, s)
    radius = s / _SQRT3
    angles = np.deg2rad(np.arange(6) * 60.0 + 30.0)  # pointy top: vertices at 30, 90, ... degrees
    xs = cx[:, None] + radius * np.cos(angles)[None, :]
    ys = cy[:, None] + radius * np.sin(angles)[None, :]
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def _cell_ids(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return ("r" + pd.Series(rows).astype(str) + "c" + pd.Series(cols).astype(str)).to_numpy()


def _lookup_table(grid: gpd.GeoDataFrame) -> tuple[np.ndarray, int, int, int]:
    """Dense (row, col) -> position table over the grid's row/col extent."""
    rows = grid["row"].to_numpy(np.int64)
    cols = grid["col"].to_numpy(np.int64)
    rmin, cmin = int(rows.min()), int(cols.min())
    nrows, ncols = int(rows.max()) - rmin + 1, int(cols.max()) - cmin + 1
    table = np.full(nrows * ncols, -1, dtype=np.int64)
    table[(rows - rmin) * ncols + (cols - cmin)] = np.arange(len(grid), dtype=np.int64)
    return table, rmin, cmin, ncols


@numba.njit(cache=True, nogil=True)
def _lookup(table, r, c, rmin, cmin, ncols):
    rr = r - rmin
    cc = c - cmin
    if rr < 0 or cc < 0 or cc >= ncols:
        return -1
    k = rr * ncols + cc
    if k >= table.shape[0]:
        return -1
    return table[k]


@numba.njit(cache=True, nogil=True)
def _assign_square(x, y, s, table, rmin, cmin, ncols):
    out = np.empty(x.shape[0], dtype=np.int64)
    inv = 1.0 / s
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        if not (np.isfinite(xi) and np.isfinite(yi)):
            out[i] = -1
            continue
        out[i] = _lookup(table, np.int64(np.floor(yi * inv)), np.int64(np.floor(xi * inv)), rmin, cmin, ncols)
    return out


@numba.njit(cache=True, nogil=True)
def _hex_rowcol(xi, yi, s):
    radius = s / np.sqrt(3.0)
    # fractional axial coordinates of a pointy-top layout
    q = (np.sqrt(3.0) / 3.0 * xi - yi / 3.0) / radius
    r = (2.0 / 3.0 * yi) / radius
    cx, cz = q, r
    cy = -cx - cz
    rx, ry, rz = np.round(cx), np.round(cy), np.round(cz)
    dx, dy, dz = abs(rx - cx), abs(ry - cy), abs(rz - cz)
    if dx > dy and dx > dz:
        rx = -ry - rz
    elif dy > dz:
        ry = -rx - rz
    else:
        rz = -rx - ry
    row = np.int64(rz)
    col = np.int64(rx) + (row - (row & 1)) // 2
    return row, col


@numba.njit(cache=True, nogil=True)
def _assign_hex(x, y, s, table, rmin, cmin, ncols):
    out = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        if not (np.isfinite(xi) and np.isfinite(yi)):
            out[i] = -1
            continue
        row, col = _hex_rowcol(xi, yi, s)
        out[i] = _lookup(table, row, col, rmin, cmin, ncols)
    return out


def _assign_polygons(x: np.ndarray, y: np.ndarray, grid: gpd.GeoDataFrame) -> np.ndarray:
    out = np.full(x.shape[0], -1, dtype=np.int64)
    ok = np.isfinite(x) & np.isfinite(y)
    pts = shapely.points(x[ok], y[ok])
    tree = shapely.STRtree(grid.geometry.values)
    # "intersects" so points on a shared border still land in one cell (the first by position)
    pidx, gidx = tree.query(pts, predicate="intersects")
    order = np.lexsort((gidx, pidx))
    pidx, gidx = pidx[order], gidx[order]
    first = np.ones(pidx.size, dtype=bool)
    first[1:] = pidx[1:] != pidx[:-1]
    sub = np.full(pts.size, -1, dtype=np.int64)
    sub[pidx[first]] = gidx[first]
    out[ok] = sub
    return out
