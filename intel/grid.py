"""Grids of cells: square, hexagonal, or any polygon layer, and assigning points to cells.

A Grid is a :class:`geopandas.GeoDataFrame` indexed by ``cell_id`` with polygon
geometry in a metric CRS. Regular grids (square, hex) also carry integer ``row`` and
``col`` columns and ``attrs["grid"] = {"shape": ..., "cell_size_m": ...}``; their cells
are snapped to multiples of the cell size from the CRS origin, so two grids with the
same size line up and a cell keeps its ``cell_id`` whatever data built the grid.
Any polygon layer (beats, districts) can serve as a grid: see :func:`as_grid`.

Counting and assignment on regular grids are compiled loops over the coordinates
(no per-point temporaries besides the result), split into a fixed number of chunks
that run on threads; the chunking depends only on the number of points, so weighted
sums are identical from run to run whatever the number of cores.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NamedTuple

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import shapely

from ._incidents import check_metric_crs
from ._provenance import announce, attach, make_record
from ._validation import check_number, check_option
from .exceptions import CRSError, GridError, InputError

__all__ = ["make_grid", "as_grid", "resolve_grid", "assign_cells", "count_points", "count_in_cells", "cell_area_m2"]

SHAPES = ("square", "hex")
_SQRT3 = math.sqrt(3.0)
_AUTO_CELLS_ON_SHORT_SIDE = 50
_AUTO_MAX_CELLS = 1_000_000
_MAX_CELLS = 5_000_000
# Beyond this many degrees of longitude or latitude one UTM zone distorts distances too much
# to project automatically.
_MAX_AUTO_PROJECT_DEGREES = 12.0
# Points per chunk below which threads cost more than they save.
_CHUNK_POINTS = 1 << 20
_MAX_CHUNKS = 8


class _Layout(NamedTuple):
    """Where the cells of a regular grid sit in the dense (row, col) rectangle that holds them."""

    shape: str
    size: float
    rmin: int
    cmin: int
    nrows: int
    ncols: int
    flat: np.ndarray  # dense index of each grid cell, in grid order
    full: bool  # the grid is the whole rectangle in row-major order (flat == arange)


# ---------------------------------------------------------------- public verbs


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
        (the grid covers them). Should be in a projected CRS in metres; data in
        latitude/longitude (or in feet) are projected to the UTM zone of their
        centre, which is announced and recorded. Shapely geometries are taken
        to be in the boundary's CRS.
    cell_size_m : float, optional
        Side of a square cell, or the distance between the centres of
        neighbouring hexagons (flat-to-flat width). When omitted: the shorter
        side of the extent divided by 50, rounded down to a "nice" number
        (1, 2, 2.5 or 5 times a power of ten), made larger if needed so the grid
        has at most a million cells; the choice is logged and recorded.
    shape : {"square", "hex"}
        Cell shape. Hexagons are pointy-topped, in rows.
    boundary : GeoDataFrame, GeoSeries or shapely geometry, optional
        Study area: the grid covers it, and only cells that overlap it (more
        than along an edge) are kept, whole. Polygon inputs are their own
        boundary unless one is given. A boundary in another CRS is reprojected
        (announced).

    Returns
    -------
    GeoDataFrame
        Index ``cell_id`` (e.g. ``"r1660c1784"``: row and column counted from
        the CRS origin), columns ``row``, ``col`` and ``geometry``, in row-major
        order; ``attrs["grid"]`` holds the shape and cell size,
        ``attrs["provenance"]`` how it was made.

    Raises
    ------
    CRSError
        The input has no CRS, or spans too many degrees to project automatically.
    GridError
        Nothing to cover, all points at one place with no cell size, too many
        cells, or no point inside the boundary (the message gives both extents).

    See Also
    --------
    as_grid : use beats, districts or any polygon layer as the grid.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=1)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> grid.index.name, grid.attrs["grid"]["cell_size_m"], len(grid)
    ('cell_id', 500.0, 400)
    >>> grid.index[0]
    'r9260c880'
    """
    owner = "make_grid"
    check_option("shape", shape, owner, SHAPES)
    check_number("cell_size_m", cell_size_m, owner, low=0, closed="neither", allow_none=True)
    automatic: dict[str, Any] = {}
    geoms = _as_geoseries(incidents_or_area, owner, "incidents_or_area")
    geoms = _to_metric(geoms, owner, "data", automatic)
    crs = geoms.crs
    polygonal = geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if boundary is not None:
        bgeoms = _as_geoseries(boundary, owner, "boundary", default_crs=crs)
        if bgeoms.crs is None:
            raise CRSError(f"{owner}: the boundary has no CRS. Set it with .set_crs(...) to the CRS of its coordinates.")
        if not bgeoms.crs.equals(crs):
            announce("%s: boundary reprojected from %s to %s", owner, bgeoms.crs.to_string(), crs.to_string())
            bgeoms = bgeoms.to_crs(crs)
        area = _polygon_union(bgeoms, owner, "boundary")
        _check_points_in_area(geoms[~polygonal], area, owner)
    elif polygonal.any():
        area = _polygon_union(geoms[polygonal], owner, "data")
    else:
        area = None
    extent_geoms = geoms[geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()]
    if len(extent_geoms) == 0 and area is None:
        raise GridError(f"{owner}: there is nothing to cover (no points or polygons with coordinates).")
    xmin, ymin, xmax, ymax = area.bounds if area is not None else extent_geoms.total_bounds
    if not np.all(np.isfinite([xmin, ymin, xmax, ymax])):
        raise GridError(f"{owner}: the extent has non-finite coordinates; drop rows with broken geometry first.")

    if cell_size_m is None:
        cell_size_m, rule = _auto_cell_size(xmin, ymin, xmax, ymax, shape)
        automatic["cell_size_m"] = {"value": cell_size_m, "rule": rule}
        announce("Cell size set to %s m automatically (%s). Pass cell_size_m= to choose.", _fmt(cell_size_m), rule)
    cell_size_m = float(cell_size_m)

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
        values = grid.geometry.values
        shapely.prepare(area)
        keep = shapely.intersects(values, area)
        # Touching only along an edge does not make a cell part of the study area.
        keep[keep] &= ~shapely.touches(values[keep], area)
        grid = grid.loc[keep]
        if len(grid) == 0:
            where = "the boundary" if boundary is not None else "the polygons"
            raise GridError(
                f"{owner}: no cell overlaps {where} ({_fmt_extent(area.bounds, crs)}). "
                "Check that the boundary and the points share a CRS and overlap."
            )
    grid.attrs["grid"] = {"shape": shape, "cell_size_m": cell_size_m}
    params = {
        "cell_size_m": None if "cell_size_m" in automatic else cell_size_m,
        "shape": shape,
        "boundary": boundary is not None,
    }
    extra = {"n_cells": len(grid), "crs": crs, "extent": [float(v) for v in (xmin, ymin, xmax, ymax)]}
    attach(grid, make_record("make_grid", params, automatic=automatic, extra=extra))
    return grid


def as_grid(layer: gpd.GeoDataFrame | gpd.GeoSeries, *, id_column: str | None = None) -> gpd.GeoDataFrame:
    """Use any polygon layer (beats, districts, neighbourhoods) as a grid.

    Parameters
    ----------
    layer : GeoDataFrame or GeoSeries
        Polygons, ideally in a metric CRS; a layer in latitude/longitude (or
        feet) is projected to the UTM zone of its centre (announced and recorded).
    id_column : str, optional
        Column holding the area's name or number; it becomes the ``cell_id``
        index (as strings). Default: the layer's index.

    Returns
    -------
    GeoDataFrame
        A copy of the layer indexed by ``cell_id``, with
        ``attrs["grid"]["shape"] == "polygons"``. Every ``score_*`` verb takes it
        as ``grid=``; density surfaces are evaluated at the polygons' centroids.

    Raises
    ------
    InputError
        Not a GeoDataFrame or GeoSeries, or ``id_column`` is missing.
    GridError
        No polygons, geometry other than polygons, or repeated ids.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> import intel
    >>> beats = gpd.GeoDataFrame(
    ...     {"beat": ["A", "B"]},
    ...     geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
    ...     crs="EPSG:32616",
    ... )
    >>> grid = intel.as_grid(beats, id_column="beat")
    >>> list(grid.index), grid.attrs["grid"]["shape"]
    (['A', 'B'], 'polygons')
    """
    owner = "as_grid"
    if isinstance(layer, gpd.GeoSeries):
        layer = layer.to_frame("geometry")
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InputError(f"{owner} needs a GeoDataFrame of polygons; got {type(layer).__name__}.")
    if len(layer) == 0:
        raise GridError(f"{owner}: the layer has no rows; a grid needs at least one polygon.")
    types = set(layer.geom_type.dropna().unique())
    if not types or types - {"Polygon", "MultiPolygon"}:
        raise GridError(
            f"{owner}: a grid must be polygons; found {sorted(types) or 'no geometry'}. "
            "Buffer points or lines, or pick the polygon layer."
        )
    if layer.geometry.isna().any() or layer.geometry.is_empty.any():
        bad = np.flatnonzero((layer.geometry.isna() | layer.geometry.is_empty).to_numpy())[:5].tolist()
        raise GridError(f"{owner}: rows at positions {bad} have empty geometry; drop them first.")
    if id_column is not None and id_column not in layer.columns:
        raise InputError(f"{owner}: id_column={id_column!r} is not a column; columns are {list(layer.columns)}.")
    automatic: dict[str, Any] = {}
    grid = _to_metric(layer, owner, "polygons", automatic)
    grid = grid.copy() if grid is layer else grid
    if id_column is not None:
        grid.index = pd.Index(grid[id_column].astype(str).to_numpy(dtype=object), name="cell_id")
    else:
        grid.index = pd.Index(grid.index.astype(str).to_numpy(dtype=object), name="cell_id")
    if grid.index.has_duplicates:
        dup = grid.index[grid.index.duplicated()].unique()[:5].tolist()
        raise GridError(f"{owner}: cell ids must be unique; repeated: {dup}. Dissolve the layer by its id first.")
    grid.attrs = {"grid": {"shape": "polygons", "cell_size_m": None}}
    record = make_record("as_grid", {"id_column": id_column}, automatic=automatic,
                         extra={"n_cells": len(grid), "crs": grid.crs})
    attach(grid, record)
    return grid


def resolve_grid(
    incidents: Any,
    grid: gpd.GeoDataFrame | None,
    *,
    cell_size_m: float | None,
    shape: str,
    owner: str,
    automatic: dict[str, Any] | None = None,
) -> tuple[gpd.GeoDataFrame, Any]:
    """Return ``(grid, incidents)`` ready for scoring: builds the grid if needed, aligns CRSs.

    Used by every ``score_*`` verb. A given grid wins over ``cell_size_m``/``shape``.
    Without a grid, incidents in latitude/longitude (or feet) are projected to their
    UTM zone and the grid is built as :func:`make_grid` does. Incidents in another
    CRS than a given grid are reprojected to the grid's CRS. Each of these choices
    is announced; pass a dict as ``automatic`` to receive them
    (``{"crs": {...}, "cell_size_m": {...}}``) for the caller's provenance record.

    ``incidents`` may also be a tuple ``(x, y)`` of coordinates in the grid's CRS,
    in which case ``grid`` is required.
    """
    chosen: dict[str, Any] = {} if automatic is None else automatic
    if isinstance(incidents, tuple):
        if grid is None:
            raise InputError(
                f"{owner}: coordinates given as (x, y) arrays carry no CRS, so a grid cannot be built from them. "
                "Pass grid= (from intel.make_grid), or pass the incidents as a GeoDataFrame."
            )
    elif not isinstance(incidents, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError(
            f"{owner} needs incidents as a GeoDataFrame of points (from intel.read_incidents); "
            f"got {type(incidents).__name__}."
        )
    if grid is None:
        check_option("shape", shape, owner, SHAPES)
        incidents = _to_metric(incidents, owner, "incidents", chosen)
        grid = make_grid(incidents, cell_size_m=cell_size_m, shape=shape)
        chosen.update(grid.attrs["provenance"].get("automatic", {}))
        return grid, incidents
    if not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: grid must be a GeoDataFrame from intel.make_grid or intel.as_grid; got {type(grid).__name__}.")
    if "grid" not in grid.attrs:
        grid = as_grid(grid)
        for key, value in grid.attrs["provenance"].get("automatic", {}).items():
            chosen[f"grid_{key}"] = value
    if len(grid) == 0:
        raise GridError(f"{owner}: the grid has no cells.")
    check_metric_crs(grid.crs, owner=owner, what="grid")
    if isinstance(incidents, tuple):
        return grid, incidents
    if incidents.crs is None:
        check_metric_crs(None, owner=owner, what="incidents")
    if not incidents.crs.equals(grid.crs):
        announce("%s: incidents reprojected from %s to the grid's CRS %s", owner, incidents.crs.to_string(), grid.crs.to_string())
        chosen["crs"] = {
            "value": grid.crs.to_string(),
            "rule": f"incidents reprojected from {incidents.crs.to_string()} to the grid's CRS",
        }
        incidents = incidents.to_crs(grid.crs)
    return grid, incidents


def cell_area_m2(grid: gpd.GeoDataFrame) -> np.ndarray:
    """Area of every cell in square metres (exact for regular grids).

    Examples
    --------
    >>> import intel
    >>> grid = intel.make_grid(intel.make_synthetic(random_state=1), cell_size_m=500)
    >>> float(cell_area_m2(grid)[0])
    250000.0
    """
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
    incidents_or_xy : GeoDataFrame or GeoSeries or tuple of arrays
        Incidents (points in the grid's CRS) or ``(x, y)`` coordinate arrays.
    grid : GeoDataFrame
        A grid from :func:`make_grid` or :func:`as_grid`.

    Returns
    -------
    numpy.ndarray of int64
        One position per point; ``grid.index[pos]`` is the ``cell_id``. Points with
        missing coordinates get -1. On regular grids a point on the border between
        two cells goes to the cell above / to the right; on polygon layers to the
        first polygon (by position) that holds it.

    Raises
    ------
    CRSError
        The points and the grid are in different CRSs.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=1)
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> pos = intel.assign_cells(incidents, grid)
    >>> bool((pos >= 0).all())
    True
    """
    x, y = _xy(incidents_or_xy, grid, "assign_cells")
    layout = _layout(grid)
    if layout is None:
        if _is_regular(grid):
            return _assign_sparse_regular(x, y, grid)
        return _assign_polygons(x, y, grid)
    out = np.empty(x.shape[0], dtype=np.int64)
    row_first, row_offset, table = _position_lookup(layout)
    kernel = _assign_square_chunk if layout.shape == "square" else _assign_hex_chunk
    bounds = _chunk_bounds(x.shape[0])
    _run_chunks(
        lambda k: kernel(x, y, bounds[k], bounds[k + 1], layout.size, layout.rmin, layout.cmin,
                         layout.nrows, layout.ncols, row_first, row_offset, table, out),
        len(bounds) - 1,
    )
    return out


def count_points(incidents_or_xy: Any, grid: gpd.GeoDataFrame, *, weights: Any = None) -> np.ndarray:
    """Number (or sum of weights) of points in every cell of ``grid``, in grid order.

    On square and hexagonal grids this is one fused compiled pass over the
    coordinates: no per-point temporaries are made.

    Parameters
    ----------
    incidents_or_xy : GeoDataFrame or GeoSeries or tuple of arrays
        Points in the grid's CRS, or ``(x, y)`` coordinate arrays.
    grid : GeoDataFrame
        A grid from :func:`make_grid` or :func:`as_grid`.
    weights : array-like, optional
        One weight per point; points with a missing weight are left out.

    Returns
    -------
    numpy.ndarray of float64
        One value per cell; points outside the grid are not counted.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=1)
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> int(count_points(incidents, grid).sum()) == len(incidents)
    True
    """
    x, y = _xy(incidents_or_xy, grid, "count_points")
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != x.shape:
            raise InputError(f"count_points: weights has {w.size} values for {x.size} points.")
    layout = _layout(grid)
    if layout is None:
        return count_in_cells(assign_cells((x, y), grid), len(grid), w)
    dense = _count_dense(x, y, w, layout.shape, layout.size, layout.rmin, layout.cmin, layout.nrows, layout.ncols)
    return dense.ravel() if layout.full else dense.ravel()[layout.flat]


def _count_dense(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, shape: str, size: float,
                 rmin: int, cmin: int, nrows: int, ncols: int) -> np.ndarray:
    """Counts (or weight sums) over the (nrows, ncols) rectangle of regular cells from (rmin, cmin)."""
    bounds = _chunk_bounds(x.shape[0])
    nchunks = len(bounds) - 1
    if w is None:
        # int32 partial counts: half the cache footprint of float64, and exact
        parts = np.zeros((nchunks, nrows * ncols), dtype=np.int32 if x.shape[0] < 2**31 else np.int64)
        w = np.empty(0)
    else:
        parts = np.zeros((nchunks, nrows * ncols), dtype=np.float64)
    kernel = _count_square_chunk if shape == "square" else _count_hex_chunk
    _run_chunks(lambda k: kernel(x, y, w, bounds[k], bounds[k + 1], size, rmin, cmin, nrows, ncols, parts[k]), nchunks)
    dense = parts[0].astype(np.float64) if nchunks == 1 else parts.sum(axis=0, dtype=np.float64)
    return dense.reshape(nrows, ncols)


def count_in_cells(positions: np.ndarray, n_cells: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of weights (or count) per cell from :func:`assign_cells` positions; -1s are ignored.

    Points with a missing (NaN) weight are left out.
    """
    positions = np.asarray(positions)
    inside = positions >= 0
    if weights is None:
        return np.bincount(positions[inside], minlength=n_cells).astype(np.float64)
    w = np.asarray(weights, dtype=np.float64)
    inside &= np.isfinite(w)
    return np.bincount(positions[inside], weights=w[inside], minlength=n_cells).astype(np.float64)


# ---------------------------------------------------------------- CRS and inputs


def _is_metric(crs: Any) -> bool:
    if crs is None or not crs.is_projected:
        return False
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    return unit in ("metre", "meter")


def _to_metric(obj: Any, owner: str, what: str, automatic: dict[str, Any]) -> Any:
    """``obj`` in a metric CRS: as is, or projected to the UTM zone of its centre (announced, recorded)."""
    crs = obj.crs
    if crs is None:
        check_metric_crs(None, owner=owner, what=what)  # raises, saying how to set one
    if _is_metric(crs):
        return obj
    geoms = obj.geometry if isinstance(obj, gpd.GeoDataFrame) else obj
    present = geoms[geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()]
    if len(present) == 0:
        raise CRSError(f"{owner}: the {what} are in {crs.to_string()}, not metres, and have no coordinates to project.")
    lon0, lat0, lon1, lat1 = present.to_crs("EPSG:4326").total_bounds
    unit = "degrees" if crs.is_geographic else (crs.axis_info[0].unit_name if crs.axis_info else "unknown units")
    if not np.all(np.isfinite([lon0, lat0, lon1, lat1])) or max(lon1 - lon0, lat1 - lat0) > _MAX_AUTO_PROJECT_DEGREES:
        raise CRSError(
            f"{owner}: the {what} are in {crs.to_string()} ({unit}) and span "
            f"{lon1 - lon0:.1f} degrees of longitude and {lat1 - lat0:.1f} of latitude, too wide for one UTM zone. "
            f"Project them to a suitable metric CRS first with .to_crs(...)."
        )
    utm = present.estimate_utm_crs()
    announce(
        "%s: the %s are in %s (%s); projected to %s (UTM zone of their centre) to work in metres. "
        "Project them yourself with .to_crs(...) to choose.",
        owner, what, crs.to_string(), unit, utm.to_string(),
    )
    automatic["crs"] = {
        "value": utm.to_string(),
        "rule": f"{what} in {crs.to_string()} ({unit}) projected to the UTM zone of their centre",
    }
    return obj.to_crs(utm)


def _as_geoseries(obj: Any, owner: str, name: str, default_crs: Any = None) -> gpd.GeoSeries:
    if isinstance(obj, gpd.GeoDataFrame):
        return obj.geometry
    if isinstance(obj, gpd.GeoSeries):
        return obj
    if isinstance(obj, shapely.Geometry):
        return gpd.GeoSeries([obj], crs=default_crs)
    raise InputError(f"{owner}: {name} must be a GeoDataFrame, GeoSeries or shapely geometry; got {type(obj).__name__}.")


def _polygon_union(geoms: gpd.GeoSeries, owner: str, name: str) -> Any:
    polys = geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    if len(polys) == 0:
        raise GridError(f"{owner}: the {name} has no polygons (found {sorted(set(geoms.geom_type.dropna()))}).")
    area = shapely.union_all(shapely.make_valid(polys.values))
    if area.is_empty:
        raise GridError(f"{owner}: the {name} polygons are empty.")
    return area


def _check_points_in_area(points: gpd.GeoSeries, area: Any, owner: str) -> None:
    """Points given with a boundary must touch it somewhere: otherwise one of them is misplaced."""
    points = points[points.notna().to_numpy() & ~points.is_empty.to_numpy()]
    if len(points) == 0:
        return
    shapely.prepare(area)
    if not shapely.intersects(area, points.values).any():
        raise GridError(
            f"{owner}: no point lies inside the boundary: the points cover {_fmt_extent(points.total_bounds)}, "
            f"the boundary covers {_fmt_extent(area.bounds, points.crs)}. Check that both are in the same CRS "
            "(a boundary in another CRS must say so: .set_crs(...)) and cover the same place."
        )


def _xy(obj: Any, grid: gpd.GeoDataFrame, owner: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        g = obj.geometry if isinstance(obj, gpd.GeoDataFrame) else obj
        if g.crs is not None and grid.crs is not None and not g.crs.equals(grid.crs):
            raise CRSError(
                f"{owner}: points are in {g.crs.to_string()} but the grid is in {grid.crs.to_string()}; "
                "reproject one with .to_crs(...)."
            )
        values = g.values
        return (np.asarray(shapely.get_x(values), dtype=np.float64),
                np.asarray(shapely.get_y(values), dtype=np.float64))
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        x = np.ascontiguousarray(obj[0], dtype=np.float64)
        y = np.ascontiguousarray(obj[1], dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape:
            raise InputError(f"{owner}: x and y must be 1-d arrays of the same length; got shapes {x.shape} and {y.shape}.")
        return x, y
    raise InputError(f"{owner}: points must be a GeoDataFrame, a GeoSeries or an (x, y) tuple; got {type(obj).__name__}.")


def _fmt(v: float) -> str:
    return f"{v:g}"


def _fmt_extent(bounds: Any, crs: Any = None) -> str:
    x0, y0, x1, y1 = (float(v) for v in bounds)
    where = f" in {crs.to_string()}" if crs is not None else ""
    return f"x {x0:,.0f} to {x1:,.0f}, y {y0:,.0f} to {y1:,.0f}{where}"


# ---------------------------------------------------------------- building cells


def _nice_floor(value: float) -> float:
    """Largest of 1, 2, 2.5, 5 x 10^k not above ``value``."""
    exp = math.floor(math.log10(value))
    for m in (5.0, 2.5, 2.0, 1.0):
        nice = m * 10.0**exp
        if nice <= value * (1 + 1e-12):
            return nice
    return 10.0**exp


def _nice_ceil(value: float) -> float:
    """Smallest of 1, 2, 2.5, 5 x 10^k not below ``value``."""
    exp = math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        nice = m * 10.0**exp
        if nice >= value * (1 - 1e-12):
            return nice
    return 10.0 ** (exp + 1)


def _auto_cell_size(xmin: float, ymin: float, xmax: float, ymax: float, shape: str) -> tuple[float, str]:
    """sfhotspot's rule (50 cells across the shorter side), on a nice number, capped in cell count."""
    width, height = xmax - xmin, ymax - ymin
    short_side = min(width, height)
    if short_side <= 0:
        short_side = max(width, height)
    if short_side <= 0:
        raise GridError("make_grid: all points are at one location; give cell_size_m explicitly.")
    size = _nice_floor(short_side / _AUTO_CELLS_ON_SHORT_SIDE)
    rule = f"shorter side of the extent ({short_side:,.0f} m) / {_AUTO_CELLS_ON_SHORT_SIDE}, rounded down to a nice number"
    cell_area = size * size if shape == "square" else _SQRT3 / 2.0 * size * size
    if max(width, size) * max(height, size) / cell_area > _AUTO_MAX_CELLS:
        size = _nice_ceil(math.sqrt(max(width, size) * max(height, size) / _AUTO_MAX_CELLS))
        rule += f", then enlarged to keep the grid under {_AUTO_MAX_CELLS:,} cells (a long, thin extent)"
    return size, rule


def _check_size(n: int) -> None:
    if n > _MAX_CELLS:
        raise GridError(
            f"make_grid: that would make {n:,} cells (more than {_MAX_CELLS:,}); choose a larger cell_size_m "
            "or a smaller area (a few points far away can stretch the extent: check for stray coordinates)."
        )


def _square_index_range(xmin, ymin, xmax, ymax, s):
    # the same arithmetic as the assignment loops (coordinate times 1/s, floored), so a point on
    # the extent's edge always lands in a cell of the grid
    inv = 1.0 / s
    r0, r1 = math.floor(ymin * inv), math.floor(ymax * inv)
    c0, c1 = math.floor(xmin * inv), math.floor(xmax * inv)
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
    return ("r" + pd.Series(rows).astype(str) + "c" + pd.Series(cols).astype(str)).to_numpy(dtype=object)


def _cell_centres(grid: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact centres of regular cells; centroids of other polygons."""
    if _is_regular(grid):
        size = float(grid.attrs["grid"]["cell_size_m"])
        rows = grid["row"].to_numpy(np.int64)
        cols = grid["col"].to_numpy(np.int64)
        if grid.attrs["grid"]["shape"] == "square":
            return (cols + 0.5) * size, (rows + 0.5) * size
        return _hex_centres(rows, cols, size)
    c = grid.geometry.centroid.values
    return np.asarray(shapely.get_x(c), dtype=np.float64), np.asarray(shapely.get_y(c), dtype=np.float64)


def _grid_bounds(grid: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """The grid's extent; from rows and columns on regular grids (geometry bounds cost ~10 ms per 250k cells)."""
    if _is_regular(grid) and len(grid):
        size = float(grid.attrs["grid"]["cell_size_m"])
        rows = grid["row"].to_numpy(np.int64)
        cols = grid["col"].to_numpy(np.int64)
        if grid.attrs["grid"]["shape"] == "square":
            return cols.min() * size, rows.min() * size, (cols.max() + 1) * size, (rows.max() + 1) * size
        cx, cy = _hex_centres(rows, cols, size)
        radius = size / _SQRT3
        return cx.min() - size / 2, cy.min() - radius, cx.max() + size / 2, cy.max() + radius
    return tuple(float(v) for v in grid.total_bounds)


# ---------------------------------------------------------------- layout of regular grids


def _is_regular(grid: gpd.GeoDataFrame) -> bool:
    meta = grid.attrs.get("grid", {})
    return meta.get("shape") in SHAPES and bool(meta.get("cell_size_m")) and {"row", "col"} <= set(grid.columns)


def _layout(grid: gpd.GeoDataFrame) -> _Layout | None:
    """Dense-rectangle layout of a regular grid, or None (polygons, or too sparse for a dense array)."""
    if not _is_regular(grid) or len(grid) == 0:
        return None
    rows = grid["row"].to_numpy(np.int64)
    cols = grid["col"].to_numpy(np.int64)
    rmin, cmin = int(rows.min()), int(cols.min())
    nrows, ncols = int(rows.max()) - rmin + 1, int(cols.max()) - cmin + 1
    # a subset of cells scattered over a huge rectangle is counted through a sorted lookup instead
    if nrows * ncols > max(8 * len(grid), 1 << 22):
        return None
    flat = (rows - rmin) * ncols + (cols - cmin)
    full = flat.size == nrows * ncols and bool(np.all(flat == np.arange(flat.size)))
    meta = grid.attrs["grid"]
    return _Layout(meta["shape"], float(meta["cell_size_m"]), rmin, cmin, nrows, ncols, flat, full)


def _position_lookup(layout: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How the assignment loops turn (row, col) in the rectangle into a position in the grid.

    Grids whose rows each hold one run of consecutive columns (every grid make_grid builds
    without a boundary) need only each row's first column and first position, a few KB that
    stay in cache; others get a dense table over the rectangle, whose scattered reads cost a
    cache miss per point.
    """
    empty = np.empty(0, dtype=np.int64)
    if layout.full:
        return empty, empty, empty
    flat = layout.flat
    step = np.diff(flat)
    if flat.size and np.all(step > 0):  # row-major order, as make_grid builds it
        rows = flat // layout.ncols
        new_row = np.diff(rows) > 0
        starts = np.r_[0, np.flatnonzero(new_row) + 1]
        # every row present, each one run of consecutive columns
        if starts.size == layout.nrows and np.all(step[~new_row] == 1):
            row_offset = np.r_[starts, flat.size].astype(np.int64)
            return (flat[starts] - rows[starts] * layout.ncols).astype(np.int64), row_offset, empty
    table = np.full(layout.nrows * layout.ncols, -1, dtype=np.int64)
    table[flat] = np.arange(flat.size, dtype=np.int64)
    return empty, empty, table


def _chunk_bounds(n: int) -> np.ndarray:
    """Chunk edges that depend on ``n`` only, so sums come out the same on any machine."""
    k = int(min(_MAX_CHUNKS, max(1, n // _CHUNK_POINTS)))
    return np.linspace(0, n, k + 1).astype(np.int64)


def _n_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, numba.get_num_threads()))


def _run_chunks(func: Callable[[int], Any], n_chunks: int) -> None:
    """Run ``func(k)`` for every chunk, on threads when there are several.

    Python threads over ``nogil`` compiled loops rather than numba's ``parallel=True``:
    its OpenMP layer aborts a later ``fork()`` (multiprocessing's default on Linux),
    and its workqueue layer is not safe when two threads call in at once.
    """
    threads = min(n_chunks, _n_threads())
    if threads <= 1:
        for k in range(n_chunks):
            func(k)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(func, range(n_chunks)):
            pass


# ---------------------------------------------------------------- compiled loops


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _square_rc(xi, yi, inv, rmin, cmin, nrows, ncols):
    """(row, col) in the rectangle of the square cell holding (xi, yi); row -1 outside (NaN fails every test)."""
    fc = xi * inv - cmin
    fr = yi * inv - rmin
    # cmin, rmin are whole numbers, so truncating the shifted value floors the unshifted one
    if fc >= 0.0 and fr >= 0.0 and fc < ncols and fr < nrows:
        return np.int64(fr), np.int64(fc)
    return -1, -1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _square_dense(xi, yi, inv, rmin, cmin, nrows, ncols):
    rr, cc = _square_rc(xi, yi, inv, rmin, cmin, nrows, ncols)
    return rr * ncols + cc if rr >= 0 else -1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _hex_rowcol(xi, yi, s):
    # fractional axial coordinates of a pointy-top layout (radius s / sqrt(3)), cube-rounded
    q = xi / s - yi / (s * np.sqrt(3.0))
    r = 2.0 * yi / (s * np.sqrt(3.0))
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


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _hex_rc(xi, yi, s, rmin, cmin, nrows, ncols):
    if not (np.isfinite(xi) and np.isfinite(yi)):
        return -1, -1
    row, col = _hex_rowcol(xi, yi, s)
    rr = row - rmin
    cc = col - cmin
    if rr < 0 or cc < 0 or rr >= nrows or cc >= ncols:
        return -1, -1
    return rr, cc


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _hex_dense(xi, yi, s, rmin, cmin, nrows, ncols):
    rr, cc = _hex_rc(xi, yi, s, rmin, cmin, nrows, ncols)
    return rr * ncols + cc if rr >= 0 else -1


# inlined: called per point with array arguments, whose reference counting would cost ~100 ns a call
@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _position(rr, cc, ncols, row_first, row_offset, table):
    """Grid position of (row, col) in the rectangle (-1 stays -1): arithmetic, row runs, or the table."""
    if rr < 0:
        return -1
    if table.shape[0] > 0:
        return table[rr * ncols + cc]
    if row_first.shape[0] == 0:  # the whole rectangle, row-major
        return rr * ncols + cc
    c = cc - row_first[rr]
    if c < 0 or c >= row_offset[rr + 1] - row_offset[rr]:
        return -1
    return row_offset[rr] + c


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _assign_square_chunk(x, y, lo, hi, s, rmin, cmin, nrows, ncols, row_first, row_offset, table, out):
    inv = 1.0 / s
    for i in range(lo, hi):
        rr, cc = _square_rc(x[i], y[i], inv, rmin, cmin, nrows, ncols)
        out[i] = _position(rr, cc, ncols, row_first, row_offset, table)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _hex_dense_block(x, y, lo, hi, s, rmin, cmin, nrows, ncols, out):
    # a loop of its own so the compiler vectorises the rounding's data-dependent choices into
    # selects; fused with a scatter it stays scalar and mispredicts branches (about 5x slower)
    for i in range(lo, hi):
        out[i - lo] = _hex_dense(x[i], y[i], s, rmin, cmin, nrows, ncols)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _assign_hex_chunk(x, y, lo, hi, s, rmin, cmin, nrows, ncols, row_first, row_offset, table, out):
    _hex_dense_block(x, y, lo, hi, s, rmin, cmin, nrows, ncols, out[lo:hi])
    # one tight loop per lookup kind: a generic per-point lookup here ran ~8x slower
    if table.shape[0] > 0:
        for i in range(lo, hi):
            if out[i] >= 0:
                out[i] = table[out[i]]
    elif row_first.shape[0] > 0:
        for i in range(lo, hi):
            k = out[i]
            if k >= 0:
                rr = np.int64(np.uint64(k) // np.uint64(ncols))  # unsigned: no floor-division fix-ups
                c = k - rr * ncols - row_first[rr]
                out[i] = row_offset[rr] + c if 0 <= c < row_offset[rr + 1] - row_offset[rr] else -1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _count_square_chunk(x, y, w, lo, hi, s, rmin, cmin, nrows, ncols, acc):
    """Add points lo..hi to ``acc`` (dense rectangle): one each when ``w`` is empty, else their weights."""
    unit = w.shape[0] == 0
    inv = 1.0 / s
    for i in range(lo, hi):
        k = _square_dense(x[i], y[i], inv, rmin, cmin, nrows, ncols)
        if k >= 0:
            if unit:
                acc[k] += 1
            elif np.isfinite(w[i]):
                acc[k] += w[i]


_HEX_BLOCK = 4096


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _count_hex_chunk(x, y, w, lo, hi, s, rmin, cmin, nrows, ncols, acc):
    unit = w.shape[0] == 0
    block = np.empty(_HEX_BLOCK, dtype=np.int64)
    for b0 in range(lo, hi, _HEX_BLOCK):
        b1 = min(b0 + _HEX_BLOCK, hi)
        _hex_dense_block(x, y, b0, b1, s, rmin, cmin, nrows, ncols, block)
        for j in range(b1 - b0):
            k = block[j]
            if k >= 0:
                if unit:
                    acc[k] += 1
                elif np.isfinite(w[b0 + j]):
                    acc[k] += w[b0 + j]


@numba.njit(cache=True, nogil=True)
def _rowcol_all(x, y, s, hexagonal):
    n = x.shape[0]
    rows = np.empty(n, dtype=np.int64)
    cols = np.empty(n, dtype=np.int64)
    ok = np.empty(n, dtype=np.bool_)
    inv = 1.0 / s
    for i in range(n):
        xi, yi = x[i], y[i]
        ok[i] = np.isfinite(xi) and np.isfinite(yi)
        if not ok[i]:
            rows[i] = 0
            cols[i] = 0
        elif hexagonal:
            rows[i], cols[i] = _hex_rowcol(xi, yi, s)
        else:
            rows[i] = np.int64(np.floor(yi * inv))
            cols[i] = np.int64(np.floor(xi * inv))
    return rows, cols, ok


def _assign_sparse_regular(x: np.ndarray, y: np.ndarray, grid: gpd.GeoDataFrame) -> np.ndarray:
    """Regular cells scattered over a huge rectangle: match (row, col) keys by sorting."""
    meta = grid.attrs["grid"]
    rows, cols, ok = _rowcol_all(x, y, float(meta["cell_size_m"]), meta["shape"] == "hex")
    grows = grid["row"].to_numpy(np.int64)
    gcols = grid["col"].to_numpy(np.int64)
    cmin = min(int(gcols.min()), int(cols[ok].min()) if ok.any() else 0)
    span = max(int(gcols.max()), int(cols[ok].max()) if ok.any() else 0) - cmin + 1
    gkey = (grows * span) + (gcols - cmin)
    order = np.argsort(gkey, kind="stable")
    sorted_keys = gkey[order]
    key = rows * span + (cols - cmin)
    at = np.clip(np.searchsorted(sorted_keys, key), 0, sorted_keys.size - 1)
    hit = ok & (sorted_keys[at] == key)
    return np.where(hit, order[at], -1).astype(np.int64)


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
