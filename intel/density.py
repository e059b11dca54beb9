"""Counts and kernel density surfaces on grids: ``score_counts``, ``score_kde``, ``score_dual_kde``.

Every verb returns CellScores: the grid's rows, in its order, plus named columns
(``n`` always). Give ``grid=`` (from :func:`intel.make_grid` or any polygon layer
through :func:`intel.as_grid`) to line results up row for row, or let the verb build
one from ``cell_size_m=`` and ``shape=`` as :func:`intel.make_grid` does.

How the density is computed
---------------------------
``score_kde`` spreads every incident with a kernel of radius ``bandwidth_m`` and
reports the density, in incidents per square kilometre, at the centre of every cell
(at the centroid of polygon cells). It does so in two ways, choosing the cheaper
(``algorithm="auto"``; the choice is recorded):

* ``"fft"``: the incidents are binned onto a lattice aligned with the grid (cell
  centres are lattice nodes; the lattice is finer than the grid when the bandwidth is
  small against the cells), then convolved with the kernel sampled on the lattice in
  one FFT. Where the lattice is just as fine as the kernel needs, each incident goes to
  the 3 x 3 nodes around it with quadratic weights, which keep its mass, mean position
  and spread, so binning adds no blur: linear binning (2 x 2 nodes) with the usual blur
  correction erred by 0.60% (relative L2) on 200k of Chicago's block-level geocodes at
  5 nodes per bandwidth, quadratic binning by 0.41%. Linear binning is cheaper (4
  additions per incident instead of 9, about 30% less time), and on lattices at least
  1.3 times finer than needed it stays within 0.33% on the same data for the quartic,
  Epanechnikov and Gaussian kernels, so it is used there (the uniform kernel always
  bins quadratically; the choice is recorded as ``binning``). The kernel is normalised to unit mass
  on the lattice, so the surface is mass-conserving: away from the edges, density
  times cell area sums to the weighted count. The lattice spacing is chosen per
  kernel to stay within about 0.5% of the exact kernel sum. On square grids one pass
  over the incidents bins them, counts them per cell and checks their coordinates.
  Unweighted incidents on square grids with at least 8 of them a node are binned
  through their moments per node instead (``binning`` says so): the pass adds each
  incident's count and the first and second moments of its offset from its node
  (whole numbers of 1/256 of the spacing) to that node's sums, three additions to one
  place instead of ten scattered over three rows, and each node then spreads its
  mass to the 3 x 3 nodes around it with weights that keep the mass, mean and second
  moments of its incidents, as quadratic binning does: on 10 M Chicago incidents the
  surface erred 0.20% either way, in 40% less time (27 ms against 44 on two cores).
* ``"exact"``: the kernel summed over the incidents within reach of each cell centre,
  compiled; cheaper when there are few incidents or the bandwidth is small against
  the cells.

Both run their loops over the points on threads, in chunks that depend only on the
number of points, so reruns give identical surfaces.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import scipy.fft
import shapely

from ._incidents import incident_points
from ._provenance import announce, attach, make_record
from ._validation import check_number, check_option
from .exceptions import CRSError, GridError, InputError
from .grid import (
    SHAPES,
    _cell_centres,
    _chunk_bounds,
    _fmt_extent,
    _grid_bounds,
    _layout,
    _n_threads,
    _Layout,
    _run_chunks,
    cell_area_m2,
    count_points,
    resolve_grid,
)

__all__ = ["score_counts", "score_kde", "score_dual_kde"]

KERNELS = ("quartic", "gaussian", "epanechnikov", "uniform")
ALGORITHMS = ("auto", "fft", "exact")
DUAL_METHODS = ("ratio", "difference")

_KERNEL_ID = {"quartic": 0, "epanechnikov": 1, "uniform": 2, "gaussian": 3}
# Kernel K(r) = _NORM / h^2 * profile(r / h), unit mass in the plane.
_NORM = {"quartic": 3.0 / math.pi, "epanechnikov": 2.0 / math.pi, "uniform": 1.0 / math.pi, "gaussian": 0.5 / math.pi}
# Support radius in bandwidths; the Gaussian is cut where it holds all but 4e-6 of its mass.
_SUPPORT = {"quartic": 1.0, "epanechnikov": 1.0, "uniform": 1.0, "gaussian": 5.0}
# Standard deviation along one axis of the kernel with bandwidth 1: what makes kernels comparable.
_SD_PER_BANDWIDTH = {"quartic": 1 / math.sqrt(8.0), "epanechnikov": 1 / math.sqrt(6.0), "uniform": 0.5, "gaussian": 1.0}
# Lattice nodes per bandwidth for the FFT surface to stay within ~0.5% (relative L2) of the exact
# sum; measured on clustered and uniform points. Kernels with a kink need finer lattices.
_NODES_PER_BANDWIDTH = {"quartic": 5.0, "gaussian": 2.0, "epanechnikov": 10.0}
# The uniform kernel jumps at its edge, so binning moves points across it at random: the error
# shrinks with the number of points a kernel holds (k) and with the spacing, about
# 0.34 * sqrt(spacing / bandwidth / k). Nodes per bandwidth = _UNIFORM_NODES_K / k, within bounds.
_UNIFORM_NODES_K = 4500.0
_UNIFORM_NODES_RANGE = (8.0, 60.0)
# Linear binning errs about 1.5 times as much as quadratic on the same lattice (0.60% against
# 0.41% on 200k Chicago incidents, quartic at 5 nodes per bandwidth), so it is used only on
# lattices this many times finer than the kernel needs: there it erred at most 0.32% (quartic
# 6.5, Epanechnikov 13, Gaussian 2.6 nodes per bandwidth; 20k to 3M Chicago incidents).
_LINEAR_FINENESS = 1.3
# Unit points counted in square cells are binned through their moments per node (see _moment_bin),
# their offsets from the node measured in this fraction of the spacing (see _moment_chunk).
_MOMENT_STEPS = 256
_MOMENT_BINNING = "quadratic, from the points' moments per node"
# At most this many points a set of sums, so that no 32-bit half of a word of sums can overflow.
_MAX_MOMENT_POINTS = (1 << 23) - 1
# Only on lattices of at most this many nodes (24 bytes each in each set of sums), with at least this
# many points a node: a node costs several times what a point does (its sums are zeroed, read and
# spread), and on larger lattices the sums no longer stay in cache. Measured on Chicago incidents,
# against binning each point: 262k nodes, 1 M points: equal, 3 M: 20% faster, 10 M: twice as fast;
# 508k nodes, 3 M: 20% slower, 10 M: twice as fast; 2.3 M nodes, 10 M points: 5 to 20% slower.
_MAX_MOMENT_NODES = 1 << 20
_MOMENT_POINTS_PER_NODE = 8.0
# Polygon cells are read off the lattice by bilinear interpolation, which needs a finer lattice.
_POLYGON_REFINE = 2.0
_MAX_LATTICE_NODES = 1 << 23
# Rough costs in nanoseconds, to choose between the two algorithms (measured on a 2-core machine).
_NS_PER_BINNED_POINT = 4.0
_NS_PER_FFT_NODE_LOG = 1.5
_NS_PER_EXACT_PAIR = 2.0
# Densities below this fraction of the largest are FFT round-off: reported as exactly zero.
_ROUND_OFF = 1e-10
# score_dual_kde: ratios are left missing where the other surface is below this share of its mean.
_RATIO_FLOOR_SHARE = 1e-3
_PER_KM2 = 1e6
_NO_INCIDENTS = (
    "there are no incidents with coordinates to score. "
    "Check the filters (category, dates) and that the geometry column holds points."
)


class _Points(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray | None  # None: one per point (the compiled loops skip reading weights)
    weights: str  # how the weights were chosen, for the record
    total: float  # sum of the weights


class _Lattice(NamedTuple):
    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    aligned: bool  # cell centres are lattice nodes
    binning: str  # "quadratic" or "linear" (see _binning)


# ---------------------------------------------------------------- public verbs


def score_counts(
    incidents: Any,
    grid: gpd.GeoDataFrame | None = None,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    weights: Any = None,
) -> gpd.GeoDataFrame:
    """Count incidents in every cell of a grid.

    Parameters
    ----------
    incidents : GeoDataFrame or tuple of arrays
        Incidents (points in a metric CRS; a ``weight`` column is used if
        present), or ``(x, y)`` coordinate arrays in the grid's CRS (then
        ``grid`` is required).
    grid : GeoDataFrame, optional
        Cells to count in: from :func:`intel.make_grid`, or any polygon layer
        (beats, districts), which is used through :func:`intel.as_grid`. When
        omitted, a grid is built as :func:`intel.make_grid` does.
    cell_size_m : float, optional
        Cell size of the grid built when ``grid`` is omitted; chosen from the
        data (announced and recorded) when omitted too.
    shape : {"square", "hex"}
        Cell shape of the grid built when ``grid`` is omitted.
    weights : str or array-like, optional
        Column name or one weight per incident (non-negative). Default: the
        ``weight`` column, or 1 per incident.

    Returns
    -------
    GeoDataFrame
        CellScores: the grid's rows (same index, same order) plus ``n``, the
        weighted count of incidents in the cell. ``attrs["provenance"]`` records
        the grid, the weights, how many incidents fell outside the grid, and any
        automatic choice (cell size, CRS).

    Raises
    ------
    InputError
        No incidents, bad weights or options.
    CRSError
        Incidents without a CRS.
    GridError
        No incident falls in the grid (the message gives both extents).

    See Also
    --------
    score_kde : a smooth density surface on the same grid.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=1)
    >>> cells = intel.score_counts(incidents, cell_size_m=500)
    >>> int(cells["n"].sum()) == len(incidents)
    True
    >>> cells.attrs["provenance"]["grid"]["cell_size_m"]
    500.0
    """
    owner = "score_counts"
    grid, pts, automatic, grid_params = _prepare(incidents, grid, cell_size_m, shape, weights, owner)
    n = count_points((pts.x, pts.y), grid, weights=pts.w)
    _check_overlap(float(n.sum()), pts, grid, owner)
    n_outside = _report_outside(n, pts, owner)
    cells = grid.copy(deep=False)  # copy-on-write: new columns never reach the caller's grid
    cells["n"] = n
    params = dict(grid_params, weights=pts.weights)
    extra = {
        "grid": _grid_summary(grid),
        "n_incidents": int(pts.x.size),
        "weight_outside_grid": n_outside,
        "total_weight": pts.total,
    }
    return attach(cells, make_record(owner, params, automatic=automatic, extra=extra))


def score_kde(
    incidents: Any,
    grid: gpd.GeoDataFrame | None = None,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    kernel: str = "quartic",
    bandwidth_m: float | None = None,
    weights: Any = None,
    algorithm: str = "auto",
) -> gpd.GeoDataFrame:
    """Kernel density of incidents at every cell, in incidents per square kilometre.

    Parameters
    ----------
    incidents : GeoDataFrame or tuple of arrays
        Incidents (points in a metric CRS; a ``weight`` column is used if
        present), or ``(x, y)`` coordinate arrays in the grid's CRS (then
        ``grid`` is required).
    grid : GeoDataFrame, optional
        Cells to score (:func:`intel.make_grid` or any polygon layer). The
        density is evaluated at the centre of square and hexagonal cells and
        at the centroid of other polygons. When omitted, a grid is built as
        :func:`intel.make_grid` does.
    cell_size_m : float, optional
        Cell size of the grid built when ``grid`` is omitted.
    shape : {"square", "hex"}
        Cell shape of the grid built when ``grid`` is omitted.
    kernel : {"quartic", "gaussian", "epanechnikov", "uniform"}
        Kernel shape. The quartic (biweight) is the usual choice in crime
        mapping (ArcGIS, QGIS, CrimeStat, sfhotspot).
    bandwidth_m : float, optional
        For the quartic, Epanechnikov and uniform kernels the search radius:
        incidents further away than this add nothing. For the Gaussian its
        standard deviation (the kernel is cut at 5 of them). When omitted, a
        normal-reference rule on the incidents' spread is used (announced and
        recorded): ``sigma = mean over x and y of min(sd, IQR / 1.349)``,
        times ``n_eff ** (-1/6)`` (Scott's rule in two dimensions; ``n_eff`` is
        the effective number of weighted incidents), then scaled so each
        kernel has that standard deviation along an axis (quartic radius
        ``sqrt(8) sigma``, Epanechnikov ``sqrt(6) sigma``, uniform ``2 sigma``,
        Gaussian ``sigma``), rounded to 3 significant figures. Like every
        normal-reference rule it oversmooths strongly clustered data: treat it
        as a starting point and compare a few bandwidths.
    weights : str or array-like, optional
        Column name or one weight per incident (non-negative). Default: the
        ``weight`` column, or 1 per incident.
    algorithm : {"auto", "fft", "exact"}
        ``"fft"`` bins the incidents on a lattice aligned with the grid and
        convolves once (fast for many incidents; within about 0.5% relative L2
        of the exact sum); ``"exact"`` sums the kernel over the incidents near
        each cell. ``"auto"`` picks the cheaper; the choice is recorded.

    Returns
    -------
    GeoDataFrame
        CellScores: the grid's rows plus ``n`` (weighted count in the cell) and
        ``kde`` (weighted incidents per km²). Away from the grid's edges,
        ``kde * cell area in km²`` sums to the weighted count; incidents near or
        beyond the edge spread part of their mass outside the grid, and
        incidents outside the grid but within the bandwidth count inside it.

    Raises
    ------
    InputError
        No incidents, bad weights or options, or all incidents at one place
        with no bandwidth given.
    CRSError
        Incidents without a CRS.
    GridError
        No incident within reach of the grid (the message gives both extents).

    See Also
    --------
    score_dual_kde : ratio or difference of two surfaces.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=1)
    >>> cells = intel.score_kde(incidents, cell_size_m=250, bandwidth_m=750)
    >>> area_km2 = 0.25 ** 2  # the grid ends at the incidents' extent: some mass spreads past it
    >>> round(float((cells["kde"] * area_km2).sum()) / len(incidents), 2)
    0.97
    >>> cells.attrs["provenance"]["parameters"]["bandwidth_m"]
    750
    """
    owner = "score_kde"
    check_option("kernel", kernel, owner, KERNELS)
    check_option("algorithm", algorithm, owner, ALGORITHMS)
    check_number("bandwidth_m", bandwidth_m, owner, low=0, closed="neither", allow_none=True)
    # with the bandwidth given, the points can be checked in the binning pass
    grid, pts, automatic, grid_params = _prepare(incidents, grid, cell_size_m, shape, weights, owner,
                                                 check=bandwidth_m is None)
    h = bandwidth_m if bandwidth_m is not None else _auto_bandwidth(pts, kernel, owner, automatic)
    density, used, n, binning, pts = _density(pts, grid, kernel, float(h), algorithm, owner)
    _check_reach(density, pts, grid, float(h) * _SUPPORT[kernel], owner)
    n_outside = _report_outside(n, pts, owner)
    cells = grid.copy(deep=False)  # copy-on-write: new columns never reach the caller's grid
    cells["n"] = n
    cells["kde"] = density * _PER_KM2
    params = dict(grid_params, kernel=kernel, bandwidth_m=bandwidth_m, weights=pts.weights, algorithm=algorithm)
    extra = {
        "grid": _grid_summary(grid),
        "bandwidth_m": float(h),
        "algorithm_used": used,
        "binning": binning,
        "units": "kde: weighted incidents per km2",
        "n_incidents": int(pts.x.size),
        "weight_outside_grid": n_outside,
        "total_weight": pts.total,
    }
    return attach(cells, make_record(owner, params, automatic=automatic, extra=extra))


def score_dual_kde(
    incidents: Any,
    other: Any,
    grid: gpd.GeoDataFrame | None = None,
    *,
    method: str = "ratio",
    cell_size_m: float | None = None,
    shape: str = "square",
    kernel: str = "quartic",
    bandwidth_m: float | None = None,
    weights: Any = None,
    other_weights: Any = None,
    algorithm: str = "auto",
) -> gpd.GeoDataFrame:
    """Ratio or difference of two kernel density surfaces on one grid.

    Two common uses: one category against all incidents (``other`` = the full
    incidents table: the ratio is the local share of that category), and
    incidents against a population at risk (``other`` = points with a weight
    column, such as addresses or households, or polygons with a population
    column, such as census blocks: the ratio is a local rate per unit of
    population).

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents (points in a metric CRS).
    other : GeoDataFrame
        Points, or polygons whose ``other_weights`` column is spread over the
        grid's cells in proportion to the area each polygon shares with each
        cell (areal weighting), then smoothed like the points. Reprojected to
        the grid's CRS if needed (announced).
    grid : GeoDataFrame, optional
        As for :func:`score_kde`; built from ``incidents`` when omitted.
    method : {"ratio", "difference"}
        ``"ratio"`` adds ``kde_ratio = kde / kde_other``; ``"difference"`` adds
        ``kde_difference = kde - kde_other`` (per km²).
    cell_size_m, shape, kernel, algorithm
        As for :func:`score_kde`.
    bandwidth_m : float, optional
        One bandwidth for both surfaces, so the ratio compares like with like.
        When omitted, chosen from ``incidents`` by :func:`score_kde`'s rule
        (announced and recorded).
    weights : str or array-like, optional
        Weights of the incidents, as in :func:`score_kde`.
    other_weights : str or array-like, optional
        Weights of ``other``: a column name or one value per row (required for
        polygons, e.g. ``"population"``). Default for points: their ``weight``
        column, or 1 each.

    Returns
    -------
    GeoDataFrame
        CellScores: the grid's rows plus ``n``, ``n_other`` (weighted counts in
        the cell), ``kde``, ``kde_other`` (per km²) and ``kde_ratio`` or
        ``kde_difference``. The ratio is in incidents per unit of ``other``'s
        weight. Where ``kde_other`` is below 0.1% of its mean over the grid
        (no population at risk there), the ratio is missing (NaN) rather than
        a huge number from a division by almost zero; the floor and the number
        of such cells are in ``attrs["provenance"]``.

    Raises
    ------
    InputError
        Bad options, missing ``other_weights`` for polygons, or negative weights.
    GridError
        Neither layer is within reach of the grid.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(categories={"burglary": 0.3, "theft": 0.7}, random_state=1)
    >>> burglary = incidents[incidents["category"] == "burglary"]
    >>> cells = intel.score_dual_kde(burglary, incidents, cell_size_m=500, bandwidth_m=1500)
    >>> bool(cells["kde_ratio"].dropna().between(0, 1).all())
    True
    """
    owner = "score_dual_kde"
    check_option("method", method, owner, DUAL_METHODS)
    check_option("kernel", kernel, owner, KERNELS)
    check_option("algorithm", algorithm, owner, ALGORITHMS)
    check_number("bandwidth_m", bandwidth_m, owner, low=0, closed="neither", allow_none=True)
    grid, pts, automatic, grid_params = _prepare(incidents, grid, cell_size_m, shape, weights, owner)
    opts = _other_points(other, grid, other_weights, owner, automatic)
    h = bandwidth_m if bandwidth_m is not None else _auto_bandwidth(pts, kernel, owner, automatic)
    reach = float(h) * _SUPPORT[kernel]
    # one algorithm for both surfaces, so the ratio compares like with like
    if algorithm == "auto":
        algorithm_used = _choose_algorithm(pts.x.size + opts.x.size, grid, kernel, float(h))
    else:
        algorithm_used = algorithm
    density, _, n, binning, _ = _density(pts, grid, kernel, float(h), algorithm_used, owner)
    _check_reach(density, pts, grid, reach, owner)
    density_other, _, n_other, binning_other, _ = _density(opts, grid, kernel, float(h), algorithm_used, owner)
    _check_reach(density_other, opts, grid, reach, owner, what="other layer")

    cells = grid.copy(deep=False)  # copy-on-write: new columns never reach the caller's grid
    cells["n"] = n
    cells["n_other"] = n_other
    cells["kde"] = density * _PER_KM2
    cells["kde_other"] = density_other * _PER_KM2
    extra: dict[str, Any] = {
        "grid": _grid_summary(grid),
        "bandwidth_m": float(h),
        "algorithm_used": algorithm_used,
        "binning": binning,
        "binning_other": binning_other,
        "units": "kde, kde_other: weighted points per km2",
        "n_incidents": int(pts.x.size),
        "n_other": int(opts.x.size),
    }
    if method == "ratio":
        area = cell_area_m2(grid)
        mean_other = float((density_other * area).sum() / area.sum())
        floor = _RATIO_FLOOR_SHARE * mean_other
        below = density_other < floor
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(below, np.nan, density / np.where(below, 1.0, density_other))
        cells["kde_ratio"] = ratio
        extra.update(
            units="kde, kde_other: weighted points per km2; kde_ratio: incidents per unit of the other layer's weight",
            ratio_floor_per_km2=floor * _PER_KM2,
            ratio_floor_rule=f"{_RATIO_FLOOR_SHARE:g} x the other layer's mean density over the grid",
            n_cells_below_floor=int(below.sum()),
        )
    else:
        cells["kde_difference"] = (density - density_other) * _PER_KM2
    params = dict(grid_params, method=method, kernel=kernel, bandwidth_m=bandwidth_m, weights=pts.weights,
                  other_weights=opts.weights, algorithm=algorithm)
    return attach(cells, make_record(owner, params, automatic=automatic, extra=extra))


# ---------------------------------------------------------------- shared preparation


def _prepare(
    incidents: Any, grid: Any, cell_size_m: Any, shape: str, weights: Any, owner: str, check: bool = True
) -> tuple[gpd.GeoDataFrame, _Points, dict[str, Any], dict[str, Any]]:
    """Grid, points and weights for a verb, plus the automatic choices made on the way.

    ``check=False`` may leave the points unchecked (see :func:`_points`).
    """
    check_option("shape", shape, owner, SHAPES)
    check_number("cell_size_m", cell_size_m, owner, low=0, closed="neither", allow_none=True)
    if isinstance(incidents, gpd.GeoSeries):
        incidents = incidents.to_frame("geometry")
    if isinstance(incidents, gpd.GeoDataFrame) and len(incidents) == 0:
        raise InputError(f"{owner}: {_NO_INCIDENTS}")
    automatic: dict[str, Any] = {}
    built = grid is None
    grid, incidents = resolve_grid(incidents, grid, cell_size_m=cell_size_m, shape=shape, owner=owner,
                                   automatic=automatic)
    pts = _points(incidents, weights, owner, check)
    if built:
        grid_params = {"grid": "built", "cell_size_m": cell_size_m, "shape": shape}
    else:
        grid_params = {"grid": "given"}
    return grid, pts, automatic, grid_params


def _points(incidents: Any, weights: Any, owner: str, check: bool = True) -> _Points:
    """Coordinates and weights, checked by :func:`_checked`.

    With ``check=False``, points with one weight each are returned unchecked (``total`` is NaN):
    the binning pass checks their coordinates on the way, saving a pass over them.
    """
    if isinstance(incidents, tuple):
        if len(incidents) != 2:
            raise InputError(f"{owner}: coordinates must be a tuple (x, y); got {len(incidents)} arrays.")
        x = np.ascontiguousarray(incidents[0], dtype=np.float64)
        y = np.ascontiguousarray(incidents[1], dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape:
            raise InputError(f"{owner}: x and y must be 1-d arrays of the same length; got shapes {x.shape} and {y.shape}.")
        if weights is None:
            w, label = None, "1 per point"
        elif isinstance(weights, str):
            raise InputError(f"{owner}: weights={weights!r} names a column, but the points were given as arrays.")
        else:
            w, label = np.ascontiguousarray(weights, dtype=np.float64), "array"
            if w.shape != x.shape:
                raise InputError(f"{owner}: weights has {w.size} values for {x.size} points.")
    else:
        if isinstance(weights, str):
            label = f"column {weights!r}"
        elif weights is None:
            label = "column 'weight'" if "weight" in incidents.columns else "1 per incident"
        else:
            label = "array"
        x, y, w = incident_points(incidents, owner=owner, weights=weights)
        if weights is None and "weight" not in incidents.columns:
            w = None
    pts = _Points(np.ascontiguousarray(x), np.ascontiguousarray(y), w, label, math.nan)
    if check or w is not None or x.size == 0:
        return _checked(pts, owner)
    return pts


def _checked(pts: _Points, owner: str) -> _Points:
    """The points without those missing a coordinate or weight (announced); total weight filled in.

    Raises InputError when no point is left or a weight is negative.
    """
    x, y, w = pts.x, pts.y, pts.w
    n_bad, first_negative, total = _scan(x, y, w)
    if n_bad:
        ok = np.isfinite(x) & np.isfinite(y) & (True if w is None else np.isfinite(w))
        announce("%s: %d points with missing coordinates or weight were left out", owner, n_bad)
        x, y = x[ok], y[ok]
        w = None if w is None else w[ok]
    if x.size == 0:
        raise InputError(f"{owner}: {_NO_INCIDENTS}")
    if first_negative >= 0:
        raise InputError(
            f"{owner}: weights must be zero or more; found {w[first_negative]!r} (point {first_negative}, 0-based)."
        )
    return _Points(np.ascontiguousarray(x), np.ascontiguousarray(y),
                   None if w is None else np.ascontiguousarray(w), pts.weights, float(total))


_EMPTY = np.empty(0)


def _scan(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple[int, int, float]:
    """Unusable points, the first negative weight's position among the usable (-1: none), total weight.

    One compiled pass on threads instead of several full-size boolean temporaries.
    """
    bounds = _chunk_bounds(x.size)
    out = np.zeros((len(bounds) - 1, 3))
    _run_chunks(lambda k: _scan_chunk(x, y, _EMPTY if w is None else w, bounds[k], bounds[k + 1], out[k]),
                len(bounds) - 1)
    bad = out[:, 0].astype(np.int64)
    first_negative = -1
    for k in range(len(out)):
        if out[k, 1] >= 0:
            first_negative = int(bounds[k] + out[k, 1] - bad[:k].sum())
            break
    return int(bad.sum()), first_negative, float(out[:, 2].sum())


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _scan_chunk(x, y, w, lo, hi, out):
    if w.shape[0] == 0:
        # one per point: only coordinates to check, in a loop the compiler vectorises (twice as fast)
        finite = 0
        for i in range(lo, hi):
            finite += (abs(x[i]) < np.inf) & (abs(y[i]) < np.inf)
        out[0] = hi - lo - finite
        out[1] = -1
        out[2] = finite
        return
    unit = False
    bad = 0
    first_negative = -1
    total = 0.0
    for i in range(lo, hi):
        wi = 1.0 if unit else w[i]
        if not (np.isfinite(x[i]) and np.isfinite(y[i]) and np.isfinite(wi)):
            bad += 1
            continue
        if wi < 0 and first_negative < 0:
            first_negative = i - lo - bad
        total += wi
    out[0] = bad
    out[1] = first_negative
    out[2] = total


def _other_points(other: Any, grid: gpd.GeoDataFrame, other_weights: Any, owner: str,
                  automatic: dict[str, Any]) -> _Points:
    """The other layer of a dual KDE as weighted points in the grid's CRS."""
    if not isinstance(other, gpd.GeoDataFrame):
        raise InputError(f"{owner}: other must be a GeoDataFrame of points or polygons; got {type(other).__name__}.")
    if other.crs is None:
        raise CRSError(f"{owner}: the other layer has no CRS. Set it with .set_crs(...) to the CRS of its coordinates.")
    if not other.crs.equals(grid.crs):
        announce("%s: other layer reprojected from %s to the grid's CRS %s", owner, other.crs.to_string(), grid.crs.to_string())
        automatic["other_crs"] = {"value": grid.crs.to_string(),
                                  "rule": f"other layer reprojected from {other.crs.to_string()} to the grid's CRS"}
        other = other.to_crs(grid.crs)
    types = set(other.geom_type.dropna().unique())
    if types <= {"Point"}:
        return _points(other, other_weights, owner)
    if not types <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"{owner}: other must hold only points or only polygons; found {sorted(types)}.")
    if other_weights is None:
        raise InputError(
            f"{owner}: other is a polygon layer, so say which column holds the population at risk, "
            f"e.g. other_weights='population'. Columns: {list(other.columns)[:20]}."
        )
    if isinstance(other_weights, str):
        if other_weights not in other.columns:
            raise InputError(f"{owner}: other_weights={other_weights!r} is not a column of other; columns: {list(other.columns)[:20]}.")
        values = pd.to_numeric(other[other_weights], errors="coerce").to_numpy(np.float64)
        label = f"column {other_weights!r}, spread over cells by area"
    else:
        values = np.asarray(other_weights, dtype=np.float64)
        if values.shape != (len(other),):
            raise InputError(f"{owner}: other_weights has {values.size} values for {len(other)} polygons.")
        label = "array, spread over cells by area"
    x, y, w = _spread_polygons(other.geometry.values, values, grid, owner)
    if not w.sum() > 0:
        raise GridError(
            f"{owner}: the other layer's polygons put no {label.split(',')[0]} on the grid: they cover "
            f"{_fmt_extent(other.total_bounds)}; the grid covers {_fmt_extent(_grid_bounds(grid), grid.crs)}. "
            "Check that they cover the same place and that the column holds positive numbers."
        )
    return _Points(x, y, w, label, float(w.sum()))


def _spread_polygons(polys: np.ndarray, values: np.ndarray, grid: gpd.GeoDataFrame,
                     owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Areal weighting: each polygon's value goes to the pieces it shares with the cells, by area."""
    ok = np.isfinite(values) & ~shapely.is_missing(polys) & ~shapely.is_empty(polys)
    if (values[ok] < 0).any():
        raise InputError(f"{owner}: other_weights must be zero or more.")
    polys = shapely.make_valid(polys[ok])
    values = values[ok]
    cells = grid.geometry.values
    tree = shapely.STRtree(cells)
    pidx, cidx = tree.query(polys, predicate="intersects")
    pieces = shapely.intersection(polys[pidx], cells[cidx])
    share = shapely.area(pieces) / np.maximum(shapely.area(polys[pidx]), 1e-300)
    keep = share > 0
    pieces, share, pidx = pieces[keep], share[keep], pidx[keep]
    centre = shapely.centroid(pieces)
    w = values[pidx] * share
    return (np.asarray(shapely.get_x(centre), dtype=np.float64), np.asarray(shapely.get_y(centre), dtype=np.float64),
            np.asarray(w, dtype=np.float64))


def _grid_summary(grid: gpd.GeoDataFrame) -> dict[str, Any]:
    meta = grid.attrs.get("grid", {})
    return {"shape": meta.get("shape"), "cell_size_m": meta.get("cell_size_m"), "n_cells": len(grid), "crs": grid.crs}


def _extents(pts: _Points, grid: gpd.GeoDataFrame) -> str:
    pbounds = (pts.x.min(), pts.y.min(), pts.x.max(), pts.y.max())
    return f"the points cover {_fmt_extent(pbounds)}; the grid covers {_fmt_extent(_grid_bounds(grid), grid.crs)}"


def _check_overlap(inside: float, pts: _Points, grid: gpd.GeoDataFrame, owner: str) -> None:
    if inside == 0 and pts.total > 0:
        raise GridError(
            f"{owner}: no incident falls in the grid: {_extents(pts, grid)}. "
            "Check that both are in the same CRS and cover the same place, or build the grid from these incidents."
        )


def _check_reach(density: np.ndarray, pts: _Points, grid: gpd.GeoDataFrame, reach: float, owner: str,
                 what: str = "incident") -> None:
    if pts.total > 0 and not (density > 0).any():
        raise GridError(
            f"{owner}: no {what} is within {reach:,.0f} m (the kernel's reach) of a cell: {_extents(pts, grid)}. "
            "Check that both are in the same CRS and cover the same place, or widen bandwidth_m."
        )


def _report_outside(n: np.ndarray, pts: _Points, owner: str) -> float:
    """Weight of the incidents outside the grid, announced (normal with a clipped grid, worth knowing)."""
    outside = max(pts.total - float(n.sum()), 0.0)
    if outside > 1e-9 * max(pts.total, 1.0):
        announce("%s: incidents weighing %s in all fall outside the grid and are not counted in n", owner, f"{outside:,.6g}")
        return outside
    return 0.0


# ---------------------------------------------------------------- bandwidth


def _auto_bandwidth(pts: _Points, kernel: str, owner: str, automatic: dict[str, Any]) -> float:
    w = _EMPTY if pts.w is None else pts.w
    if pts.total <= 0:
        raise InputError(f"{owner}: all weights are zero, so no bandwidth can be chosen from the data; give bandwidth_m.")
    n_eff = pts.x.size if pts.w is None else pts.total ** 2 / float(np.dot(pts.w, pts.w))
    sigma = 0.5 * (_robust_sd(pts.x, w) + _robust_sd(pts.y, w)) * n_eff ** (-1.0 / 6.0)
    if not sigma > 0:
        raise InputError(f"{owner}: the incidents are all at one place, so no bandwidth can be chosen; give bandwidth_m.")
    h = float(f"{sigma / _SD_PER_BANDWIDTH[kernel]:.3g}")
    rule = (
        "Scott's normal-reference rule in 2-D: mean over x, y of min(sd, IQR/1.349) "
        f"x n_eff^(-1/6) (n_eff = {n_eff:,.0f}) = {sigma:,.0f} m, "
        f"scaled to the {kernel} kernel's standard deviation, 3 significant figures"
    )
    automatic["bandwidth_m"] = {"value": h, "rule": rule}
    announce("Bandwidth set to %s m automatically (%s). Pass bandwidth_m= to choose.", f"{h:,.4g}", rule)
    return h


def _robust_sd(v: np.ndarray, w: np.ndarray) -> float:
    """min(weighted sd, weighted IQR / 1.349); quartiles from a fine histogram (no sort), passes on threads."""
    bounds = _chunk_bounds(v.size)
    nchunks = len(bounds) - 1
    shift = float(v[0])  # shifted sums keep the variance accurate for large projected coordinates
    moments = np.zeros((nchunks, 5))
    _run_chunks(lambda k: _moments_chunk(v, w, bounds[k], bounds[k + 1], shift, moments[k]), nchunks)
    lo, hi = moments[:, 0].min(), moments[:, 1].max()
    sw, s1, s2 = moments[:, 2:].sum(axis=0)
    if not (sw > 0 and hi > lo):
        return 0.0
    mean = s1 / sw
    sd = math.sqrt(max(s2 / sw - mean * mean, 0.0))
    hist = np.zeros((nchunks, 1 << 16))
    _run_chunks(lambda k: _histogram_chunk(v, w, bounds[k], bounds[k + 1], lo, hi, hist[k]), nchunks)
    q1, q3 = _quartiles(hist.sum(axis=0), lo, hi)
    iqr = (q3 - q1) / 1.349
    return min(sd, iqr) if iqr > 0 else sd


@numba.njit(cache=True, nogil=True)
def _moments_chunk(v, w, lo, hi, shift, out):
    unit = w.shape[0] == 0
    vmin, vmax = np.inf, -np.inf
    sw = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(lo, hi):
        wi = 1.0 if unit else w[i]
        if wi <= 0:
            continue
        vmin = min(vmin, v[i])
        vmax = max(vmax, v[i])
        d = v[i] - shift
        sw += wi
        s1 += wi * d
        s2 += wi * d * d
    out[0], out[1], out[2], out[3], out[4] = vmin, vmax, sw, s1, s2


@numba.njit(cache=True, nogil=True)
def _histogram_chunk(v, w, lo, hi, vmin, vmax, hist):
    unit = w.shape[0] == 0
    nbins = hist.shape[0]
    scale = nbins / (vmax - vmin)
    for i in range(lo, hi):
        wi = 1.0 if unit else w[i]
        if wi > 0:
            hist[min(np.int64((v[i] - vmin) * scale), nbins - 1)] += wi


@numba.njit(cache=True, nogil=True)
def _quartiles(hist, vmin, vmax):
    nbins = hist.shape[0]
    scale = nbins / (vmax - vmin)
    total = hist.sum()
    out = np.full(2, vmax)
    targets = (0.25 * total, 0.75 * total)
    acc = 0.0
    j = 0
    for k in range(nbins):
        # linear within the bin
        while j < 2 and hist[k] > 0 and acc + hist[k] >= targets[j]:
            out[j] = vmin + (k + (targets[j] - acc) / hist[k]) / scale
            j += 1
        acc += hist[k]
    return out[0], out[1]


# ---------------------------------------------------------------- density engine


def _density(pts: _Points, grid: gpd.GeoDataFrame, kernel: str, h: float, algorithm: str,
             owner: str) -> tuple[np.ndarray, str, np.ndarray, str | None, _Points]:
    """Density per m² at every cell's centre, the algorithm used, the weighted count per cell, the binning.

    Also the points, checked (see :func:`_points`) if they were not.
    """
    layout = _layout(grid)
    if algorithm == "auto":
        algorithm = _choose_algorithm(pts.x.size, grid, kernel, h, layout)
    # square cells are counted in the same pass over the points as the binning
    cells = layout if algorithm == "fft" and layout is not None and layout.shape == "square" else None
    if cells is None and math.isnan(pts.total):
        pts = _checked(pts, owner)
    counts = None
    if algorithm == "fft":
        lattice = _lattice(grid, kernel, h, pts.x.size, layout)
        nodes = lattice.nx * lattice.ny
        if nodes > _MAX_LATTICE_NODES:
            raise InputError(
                f"score_kde: algorithm='fft' would need a lattice of {nodes:,} nodes for a bandwidth of {h:g} m on this "
                "grid (too much memory). Use algorithm='exact' or 'auto', or a larger bandwidth_m."
            )
        values, counts, n_bad, binning = _fft_density(pts, grid, kernel, h, lattice, cells)
        if math.isnan(pts.total):
            if n_bad:  # rare: leave the bad points out (announced) and start again
                return _density(_checked(pts, owner), grid, kernel, h, algorithm, owner)
            pts = pts._replace(total=float(pts.x.size))
    else:
        values, binning = _exact_density(pts, grid, kernel, h), None
    if counts is None:
        counts = count_points((pts.x, pts.y), grid, weights=pts.w)
    peak = values.max() if values.size else 0.0
    values[values < _ROUND_OFF * peak] = 0.0
    return values, algorithm, counts, binning, pts


def _choose_algorithm(n_points: int, grid: gpd.GeoDataFrame, kernel: str, h: float,
                      layout: _Layout | None | bool = False) -> str:
    lattice = _lattice(grid, kernel, h, n_points, layout)
    nodes = lattice.nx * lattice.ny
    fft_ns = _NS_PER_BINNED_POINT * n_points + _NS_PER_FFT_NODE_LOG * nodes * math.log2(max(nodes, 2)) * 3
    exact_ns = _NS_PER_EXACT_PAIR * _expected_pairs(n_points, grid, kernel, h)
    if nodes > _MAX_LATTICE_NODES or exact_ns < fft_ns:
        return "exact"
    return "fft"


def _expected_pairs(n_points: int, grid: gpd.GeoDataFrame, kernel: str, h: float) -> float:
    x0, y0, x1, y1 = _grid_bounds(grid)
    area = max((x1 - x0) * (y1 - y0), 1.0)
    reach = h * _SUPPORT[kernel]
    # the exact loop scans a square of buckets about three reaches wide around each point
    window = (3.0 * max(reach, math.sqrt(area / (4.0 * len(grid))))) ** 2
    return n_points * min(len(grid), len(grid) * window / area + 1.0)


def _per_kernel(n_points: int, grid: gpd.GeoDataFrame, h: float) -> float:
    """Mean number of points within one bandwidth of a place on the grid."""
    x0, y0, x1, y1 = _grid_bounds(grid)
    return n_points * math.pi * h * h / max((x1 - x0) * (y1 - y0), 1.0)


def _nodes_per_bandwidth(kernel: str, h: float, n_points: int, grid: gpd.GeoDataFrame) -> float:
    if kernel != "uniform":
        return _NODES_PER_BANDWIDTH[kernel]
    per_kernel = _per_kernel(n_points, grid, h)
    lo, hi = _UNIFORM_NODES_RANGE
    return min(hi, max(lo, _UNIFORM_NODES_K / max(per_kernel, 1e-9)))


def _lattice(grid: gpd.GeoDataFrame, kernel: str, h: float, n_points: int,
             layout: _Layout | None | bool = False) -> _Lattice:
    """Lattice for the FFT surface: cell centres fall on nodes for square and hex grids.

    ``layout`` is the grid's :func:`~intel.grid._layout` when the caller has it (False: work it out).
    """
    q = _nodes_per_bandwidth(kernel, h, n_points, grid)
    reach = h * _SUPPORT[kernel]
    if layout is False:
        layout = _layout(grid)
    if layout is not None and layout.shape == "square":
        s = layout.size
        m = max(1, math.ceil(q * s / h - 1e-9))
        m += 1 - m % 2  # odd, so that cell centres are nodes
        d = s / m
        p = math.ceil(reach / d) + 1
        return _Lattice(layout.cmin * s + 0.5 * d - p * d, layout.rmin * s + 0.5 * d - p * d, d, d,
                        layout.ncols * m + 2 * p, layout.nrows * m + 2 * p, True, _binning(kernel, h, d, d))
    if layout is not None and layout.shape == "hex":
        s = layout.size
        # centres sit at multiples of s/2 across and s*sqrt(3)/2 up: divide both evenly
        kx = max(1, math.ceil(q * 0.5 * s / h - 1e-9))
        ky = max(1, math.ceil(q * 0.5 * math.sqrt(3.0) * s / h - 1e-9))
        dx, dy = 0.5 * s / kx, 0.5 * math.sqrt(3.0) * s / ky
        px, py = math.ceil(reach / dx) + 1, math.ceil(reach / dy) + 1
        return _Lattice(layout.cmin * s - px * dx, layout.rmin * 0.5 * math.sqrt(3.0) * s - py * dy, dx, dy,
                        2 * layout.ncols * kx + 2 * px + 1, (layout.nrows - 1) * ky + 2 * py + 1, True,
                        _binning(kernel, h, dx, dy))
    cx, cy = _cell_centres(grid)
    d = h / (q * _POLYGON_REFINE)
    p = math.ceil(reach / d) + 1
    nx = math.ceil((float(cx.max()) - float(cx.min())) / d) + 2 * p + 2
    ny = math.ceil((float(cy.max()) - float(cy.min())) / d) + 2 * p + 2
    return _Lattice(float(cx.min()) - p * d, float(cy.min()) - p * d, d, d, nx, ny, False, _binning(kernel, h, d, d))


def _binning(kernel: str, h: float, dx: float, dy: float) -> str:
    """Linear binning (4 nodes a point, half the cost) where the lattice is fine enough for it, else quadratic."""
    if kernel == "uniform":  # its box-averaged lattice kernel has no blur correction for linear binning
        return "quadratic"
    fine = h / max(dx, dy) >= _LINEAR_FINENESS * _NODES_PER_BANDWIDTH[kernel]
    return "linear" if fine else "quadratic"


def _fft_density(pts: _Points, grid: gpd.GeoDataFrame, kernel: str, h: float, lat: _Lattice,
                 cells: _Layout | None = None) -> tuple[np.ndarray, np.ndarray | None, int, str]:
    """Density at the cell centres from the binned lattice, the weighted counts in ``cells`` (a square layout;
    None without), the number of points with a coordinate missing (they are left out of both), and the
    binning used.
    """
    if _moment_binning(pts, lat, cells):
        binned, counts, n_bad = _moment_bin(pts, lat, cells)
        # the moments keep the points' spread but for the rounding of their offsets (see _moment_bin)
        blur_share, binning = 0.5 / _MOMENT_STEPS**2, _MOMENT_BINNING
    else:
        quadratic = lat.binning == "quadratic"
        binned, counts, n_bad = _bin(pts, lat, quadratic, cells)
        # quadratic weights add no blur; linear ones blur as much as a variance of dx²/6 on average
        blur_share, binning = 0.0 if quadratic else 1.0, lat.binning
    shape = (scipy.fft.next_fast_len(lat.ny, real=True), scipy.fft.next_fast_len(lat.nx, real=True))
    workers = _n_threads()
    spectrum = scipy.fft.rfft2(binned, shape, workers=workers)
    spectrum *= _kernel_spectrum(kernel, h, lat.dx, lat.dy, blur_share, shape)
    surface = scipy.fft.irfft2(spectrum, shape, workers=workers, overwrite_x=True)
    if cells is not None and lat.aligned:
        # cell (r, c) has its centre on node p + r * m + (m - 1) // 2 of each axis: a strided slice
        m = round(cells.size / lat.dx)
        fx = round(((cells.cmin + 0.5) * cells.size - lat.x0) / lat.dx)
        fy = round(((cells.rmin + 0.5) * cells.size - lat.y0) / lat.dy)
        dense = surface[fy:fy + cells.nrows * m:m, fx:fx + cells.ncols * m:m]
        values = dense.ravel() if cells.full else dense.ravel()[cells.flat]
        return np.ascontiguousarray(values), counts, n_bad, binning
    cx, cy = _cell_centres(grid)
    fx, fy = (cx - lat.x0) / lat.dx, (cy - lat.y0) / lat.dy
    if lat.aligned:
        return surface[np.rint(fy).astype(np.int64), np.rint(fx).astype(np.int64)], counts, n_bad, binning
    return _bilinear(surface, fx, fy), counts, n_bad, binning


@functools.lru_cache(maxsize=8)
def _kernel_spectrum(kernel: str, h: float, dx: float, dy: float, blur_share: float,
                     shape: tuple[int, int]) -> np.ndarray:
    """FFT of the lattice kernel placed for circular convolution (kept: weekly reruns reuse it)."""
    weights = _lattice_kernel(kernel, h, dx, dy, blur_share=blur_share)
    py, px = (weights.shape[0] - 1) // 2, (weights.shape[1] - 1) // 2
    # circular convolution is enough: the lattice's margin is wider than the kernel's reach,
    # so the wrap-around only touches margin nodes, never a cell centre
    placed = np.zeros(shape)
    placed[: 2 * py + 1, : 2 * px + 1] = weights
    placed = np.roll(placed, (-py, -px), axis=(0, 1))
    spectrum = scipy.fft.rfft2(placed, workers=_n_threads())
    spectrum.flags.writeable = False
    return spectrum


def _bin(pts: _Points, lat: _Lattice, quadratic: bool,
         cells: _Layout | None = None) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The points binned onto the lattice, their weighted counts in square ``cells`` (None without),
    and the number of points with a coordinate missing.

    One pass over the points for all three, in chunks on threads, each into arrays of its own.
    """
    bounds = _chunk_bounds(pts.x.size)
    nchunks = len(bounds) - 1
    parts = np.zeros((nchunks, lat.ny, lat.nx))
    w = _EMPTY if pts.w is None else pts.w
    if cells is None:
        size, rmin, cmin, nrows, ncols = 1.0, 0, 0, 0, 0
        counts = np.zeros((nchunks, 0))
    else:
        size, rmin, cmin, nrows, ncols = cells.size, cells.rmin, cells.cmin, cells.nrows, cells.ncols
        # int32 partial counts of unit points, exact and half the cache footprint (as count_points)
        dtype = np.int32 if pts.w is None and pts.x.size < 2**31 else np.float64
        counts = np.zeros((nchunks, nrows * ncols), dtype=dtype)
    bad = np.zeros(nchunks, dtype=np.int64)
    _run_chunks(
        lambda k: _bin_chunk(pts.x, pts.y, w, bounds[k], bounds[k + 1], lat.x0, lat.y0, 1.0 / lat.dx, 1.0 / lat.dy,
                             quadratic, parts[k], 1.0 / size, rmin, cmin, nrows, ncols, counts[k], bad[k:k + 1]),
        nchunks,
    )
    binned = parts[0] if nchunks == 1 else parts.sum(axis=0)
    if cells is None:
        return binned, None, int(bad.sum())
    dense = counts[0].astype(np.float64) if nchunks == 1 else counts.sum(axis=0, dtype=np.float64)
    return binned, dense if cells.full else dense[cells.flat], int(bad.sum())


# Points per block of the binning loop: its offsets stay in the first-level cache.
_BIN_BLOCK = 2048


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _bin_chunk(x, y, w, lo, hi, x0, y0, inv_dx, inv_dy, quadratic, out, inv_size, rmin, cmin, nrows, ncols, counts,
               bad):
    """Bin points lo..hi onto ``out``; when ``counts`` is not empty, also count them in square cells.

    Quadratic binning sends a point to the 3 x 3 nodes around the nearest one with the
    quadratic Lagrange weights: they keep its mass, mean and second moment, so binning adds
    no blur. Linear binning sends it to the 2 x 2 nodes around it. Points off the lattice are
    beyond the kernel's reach of every cell centre. ``bad[0]`` gets the number of points with
    a coordinate missing (not finite); they are skipped. Each block of points takes two
    loops: nodes and offsets first (the compiler vectorises that loop), then the scattered
    adds; in one loop both stay scalar (about 25% slower). The adds take most of the time:
    about 7 ns a point on one core for the ten of quadratic binning and counting.
    """
    ny, nx = out.shape
    flat = out.ravel()
    unit = w.shape[0] == 0
    shift = 0.5 if quadratic else 0.0  # quadratic: offsets from the nearest node, in [-0.5, 0.5)
    first = 1.0 if quadratic else 0.0
    xmax, ymax = nx - 1.0, ny - 1.0
    # unsigned indices: signed ones make every access check for a negative index (about 15% slower)
    unx, one, two = np.uint64(nx), np.uint64(1), np.uint64(2)
    node = np.empty(_BIN_BLOCK, dtype=np.int64)
    cell = np.empty(_BIN_BLOCK, dtype=np.int64)
    tx = np.empty(_BIN_BLOCK)
    ty = np.empty(_BIN_BLOCK)
    finite = 0
    for b0 in range(lo, hi, _BIN_BLOCK):
        m = min(_BIN_BLOCK, hi - b0)
        xb = x[b0:b0 + m]  # slices: indices the compiler knows are not negative (see _moment_chunk)
        yb = y[b0:b0 + m]
        for j in range(m):
            xi = xb[j]
            yi = yb[j]
            finite += (abs(xi) < np.inf) & (abs(yi) < np.inf)
            fx = (xi - x0) * inv_dx + shift
            fy = (yi - y0) * inv_dy + shift
            ok = (fx >= first) & (fy >= first) & (fx < xmax) & (fy < ymax)  # NaN fails
            fx = fx if ok else first
            fy = fy if ok else first
            jx = np.int32(fx)
            jy = np.int32(fy)
            tx[j] = fx - jx - shift
            ty[j] = fy - jy - shift
            node[j] = np.int64(jy) * nx + jx if ok else -1
            # the cell as count_points finds it (cmin, rmin are whole, so truncating floors)
            fc = xi * inv_size - cmin
            fr = yi * inv_size - rmin
            inside = (fc >= 0.0) & (fr >= 0.0) & (fc < ncols) & (fr < nrows)
            fc = fc if inside else 0.0
            fr = fr if inside else 0.0
            cell[j] = np.int64(np.int32(fr)) * ncols + np.int32(fc) if inside else -1
        for j in range(m):
            wi = 1.0 if unit else w[b0 + j]
            c = cell[j]
            if c >= 0:
                if unit:
                    counts[np.uint64(c)] += 1  # int32: no conversions
                else:
                    counts[np.uint64(c)] += wi
            k = node[j]
            if k < 0:
                continue
            if quadratic:
                t = tx[j]
                a0 = 0.5 * t * (t - 1.0)
                a1 = 1.0 - t * t
                a2 = 0.5 * t * (t + 1.0)
                t = ty[j]
                b = wi * 0.5 * t * (t - 1.0)
                r = np.uint64(k - nx - 1)
                flat[r] += b * a0
                flat[r + one] += b * a1
                flat[r + two] += b * a2
                b = wi * (1.0 - t * t)
                r += unx
                flat[r] += b * a0
                flat[r + one] += b * a1
                flat[r + two] += b * a2
                b = wi * 0.5 * t * (t + 1.0)
                r += unx
                flat[r] += b * a0
                flat[r + one] += b * a1
                flat[r + two] += b * a2
            else:
                upper = wi * ty[j]
                lower = wi - upper
                t = tx[j]
                r = np.uint64(k)
                flat[r] += (1.0 - t) * lower
                flat[r + one] += t * lower
                r += unx
                flat[r] += (1.0 - t) * upper
                flat[r + one] += t * upper
    bad[0] = hi - lo - finite


def _moment_binning(pts: _Points, lat: _Lattice, cells: _Layout | None) -> bool:
    """Whether the points are binned through their moments per node (:func:`_moment_bin`): unit points
    counted in square cells, many enough for the pass over the nodes to pay, on a lattice small enough.
    """
    if pts.w is not None or cells is None or not lat.aligned:
        return False
    nodes = _widened(cells, lat)[3]
    return nodes <= _MAX_MOMENT_NODES and pts.x.size >= _MOMENT_POINTS_PER_NODE * nodes


def _widened(cells: _Layout, lat: _Lattice) -> tuple[int, int, int, int]:
    """Nodes a cell along each axis, cells added on every side of the grid to cover the lattice, the
    lattice's margin in nodes, and the number of nodes of the widened grid."""
    m = round(cells.size / lat.dx)
    p = round((cells.cmin * cells.size + 0.5 * lat.dx - lat.x0) / lat.dx)
    pad = -(-p // m)
    return m, pad, p, (cells.nrows + 2 * pad) * (cells.ncols + 2 * pad) * m * m


def _moment_bin(pts: _Points, lat: _Lattice, cells: _Layout) -> tuple[np.ndarray, np.ndarray, int]:
    """The unit points binned onto the lattice through their moments per node, their counts in ``cells``,
    and the number of points with a coordinate missing.

    One pass over the points (on threads) adds, for each point, its count and the first and second
    moments of its offset from the nearest node to that node's six sums: the offsets are measured
    in 1/256 of the spacing (``_MOMENT_STEPS``), so the sums are whole numbers, exact, and do not
    depend on how the points are split among threads. Packed two to a 64-bit word, they take three
    additions to one 24-byte slot: about 4 ns a point on one core (10 M Chicago incidents, 512 x
    512 nodes), against 7 ns for nine scattered additions over three rows of the lattice and a
    tenth for the count when binning each point quadratically. A point's node is found within its cell
    as :func:`intel.count_points` finds the cell (the grid is widened by whole cells to cover the
    lattice), so the counts per cell, sums of its nodes' counts, are exactly ``count_points``'.
    Then each node sends its mass to the 3 x 3 nodes around it with weights built from its moments
    (:func:`_spread_moments`): they keep the mass, the mean and the second moments of its points,
    as quadratic binning does, so binning adds no blur but the rounding of the offsets (a variance
    of ``(dx / 256)² / 12``, undone by the lattice kernel). On Chicago incidents (quartic, 5 nodes
    per bandwidth) the surface erred 0.39% against the exact sum on 1 M of them and 0.20% on 10 M,
    as binning each point quadratically did.
    """
    m, pad, p, n_nodes = _widened(cells, lat)
    nrows_pad, ncols_pad = cells.nrows + 2 * pad, cells.ncols + 2 * pad
    n = pts.x.size
    # at most 2**23 - 1 points a set of sums, so that none of them overflows (see _moment_chunk)
    sets = max(min(_n_threads(), len(_chunk_bounds(n)) - 1), -(-n // _MAX_MOMENT_POINTS))
    bounds = np.linspace(0, n, sets + 1).astype(np.int64)
    sums = np.zeros((sets, n_nodes * 3), dtype=np.uint64)
    bad = np.zeros(sets, dtype=np.int64)
    _run_chunks(
        lambda t: _moment_chunk(pts.x, pts.y, bounds[t], bounds[t + 1], 1.0 / cells.size, cells.cmin, cells.rmin,
                                pad, nrows_pad, ncols_pad, m, sums[t], bad[t:t + 1]),
        sets,
    )
    binned = np.zeros((lat.ny, lat.nx))
    counts = np.zeros((cells.nrows, cells.ncols))
    # threads take bands of whole cell rows, each writing only its own lattice rows and counts
    bands = min(_n_threads(), nrows_pad)
    edges = np.linspace(0, nrows_pad, bands + 1).astype(np.int64) * m
    _run_chunks(
        lambda b: _spread_moments(sums, edges[b], edges[b + 1], m, pad, ncols_pad, p - pad * m, binned, counts),
        bands,
    )
    dense = counts.ravel()
    return binned, dense if cells.full else dense[cells.flat], int(bad.sum())


@numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _moment_chunk(x, y, lo, hi, inv_size, cmin, rmin, pad, nrows_pad, ncols_pad, m, sums, bad):
    """Add points lo..hi to the sums of their nodes, three 64-bit words a node.

    ``fc = x / size - cmin`` as :func:`intel.count_points` has it; the point's cell (widened by
    ``pad``) is ``floor(fc) + pad``, its node ``floor(u * m)`` within the cell, where ``u = fc -
    floor(fc)``, and its offset from the node's centre is ``(vx + 0.5) / 256`` node spacings,
    ``vx = floor(u * m * 256) - node * 256 - 128``, from -128 to 127 (likewise vy). The words hold
    two sums each, in their low and high 32 bits: the count and vx + 128; vy + 128 and vx² // 64;
    vy² // 64 and (vx * vy + 16384) // 128. Every term is at least 0 and at most 256, so with fewer
    than 2**23 points neither half can overflow: three additions a point instead of six, the words
    made in the vectorised loop. The squares are kept to within 1/500 of a squared spacing, which
    is plenty: the offsets themselves must be finer, as a place where thousands of incidents share
    one address moves with its rounding (1/32 of a spacing made the surface err 10% more than
    binning each point where such places dominate; 1/256 erred 3% less). Points off the widened
    grid are beyond the kernel's reach of every cell centre. ``bad[0]`` gets the points with a
    coordinate missing (not finite). The first loop of each block is vectorised: its slices of x and
    y have indices the compiler knows are not negative (with ``x[b0 + j]`` it stays scalar, three
    times slower).
    """
    steps = float(_MOMENT_STEPS)
    fine = float(m * _MOMENT_STEPS)
    last = fine - 1.0
    inv_steps = 1.0 / steps
    half = 0.5 * steps
    padf = float(pad)
    mf = float(m)
    width = float(ncols_pad * m)
    xlim = float(ncols_pad - pad)
    ylim = float(nrows_pad - pad)
    one = np.uint64(1)
    two = np.uint64(2)
    node = np.empty(_BIN_BLOCK, dtype=np.int64)
    w0 = np.empty(_BIN_BLOCK, dtype=np.uint64)
    w1 = np.empty(_BIN_BLOCK, dtype=np.uint64)
    w2 = np.empty(_BIN_BLOCK, dtype=np.uint64)
    finite = 0
    for b0 in range(lo, hi, _BIN_BLOCK):
        n = min(_BIN_BLOCK, hi - b0)
        xb = x[b0:b0 + n]
        yb = y[b0:b0 + n]
        for j in range(n):
            xi = xb[j]
            yi = yb[j]
            finite += (abs(xi) < np.inf) & (abs(yi) < np.inf)
            fc = xi * inv_size - cmin  # as count_points
            fr = yi * inv_size - rmin
            ok = (fc >= -padf) & (fr >= -padf) & (fc < xlim) & (fr < ylim)  # NaN fails
            fc = fc if ok else 0.0
            fr = fr if ok else 0.0
            c = np.floor(fc)
            r = np.floor(fr)
            ux = (fc - c) * fine
            uy = (fr - r) * fine
            ux = np.floor(ux if ux < last else last)  # whole numbers from here on: exact in floating point
            uy = np.floor(uy if uy < last else last)
            ix = np.floor(ux * inv_steps)
            iy = np.floor(uy * inv_steps)
            a = np.int64(ux - ix * steps - half)
            b = np.int64(uy - iy * steps - half)
            k = ((r + padf) * mf + iy) * width + (c + padf) * mf + ix
            node[j] = np.int64(k * 3.0 if ok else -1.0)
            w0[j] = np.uint64(1 + ((a + 128) << 32))
            w1[j] = np.uint64(b + 128 + ((a * a >> 6) << 32))
            w2[j] = np.uint64((b * b >> 6) + ((a * b + 16384 >> 7) << 32))
        for j in range(n):
            k = node[j]
            if k >= 0:
                u = np.uint64(k)
                sums[u] += w0[j]
                sums[u + one] += w1[j]
                sums[u + two] += w2[j]
    bad[0] = hi - lo - finite


@numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _spread_moments(sums, r0, r1, m, pad, ncols_pad, off, binned, counts):
    """Spread the nodes' mass onto the lattice rows of node rows r0..r1 of the widened grid, and add up
    the counts of the grid's cells in those rows.

    Node (r, c) of the widened grid is lattice node (r + off, c + off); its sums are words
    ``3 * (r * nodes + c)`` to ``+ 2`` of every set (see :func:`_moment_chunk`). A point at offset
    (tx, ty) from its node goes to the node offset by (a, b) in {-1, 0, 1}² with weight
    ``A_a(tx) A_b(ty)``, ``A_-1(t) = (t² - t) / 2``, ``A_0 = 1 - t²``, ``A_1 = (t² + t) / 2``
    (quadratic binning); leaving out its terms of third and fourth order, the weights need only
    the sums the node holds, and still keep the mass, the mean and the second moments of its
    points. Nodes beyond the lattice are dropped: they are beyond the kernel's reach of every
    cell centre. Indices into the rows are unsigned, so the loops vectorise.
    """
    sets = sums.shape[0]
    ny, nx = binned.shape
    nrows, ncols = counts.shape
    nodes = ncols_pad * m
    scale = 1.0 / _MOMENT_STEPS
    scale2 = scale * scale
    n_node_rows = sums.shape[1] // (3 * nodes)
    low = np.uint64(0xFFFFFFFF)
    high = np.uint64(32)
    # a row of nodes' sums over the sets: count, vx, vy, vx², vy², vx * vy
    total = np.empty((6, nodes))
    # share[b, a, c + 1]: what node c sends to the node a - 1 along x, b - 1 along y (0 beyond the ends)
    share = np.zeros((3, 3, nodes + 2))
    s00, s01, s02 = share[0, 0, 1:], share[0, 1, 1:], share[0, 2, 1:]
    s10, s11, s12 = share[1, 0, 1:], share[1, 1, 1:], share[1, 2, 1:]
    s20, s21, s22 = share[2, 0, 1:], share[2, 1, 1:], share[2, 2, 1:]
    lo = max(-off, 0)
    hi = min(nx - off, nodes)
    for r in range(max(r0 - 1, 0), min(r1 + 1, n_node_rows)):
        base = r * nodes * 3
        n = total[0]
        sx = total[1]
        sy = total[2]
        sxx = total[3]
        syy = total[4]
        sxy = total[5]
        for t in range(sets):
            row = sums[t, base:base + 3 * nodes]
            for c in range(nodes):
                i = np.uint64(3 * c)
                a = row[i]
                b = row[i + np.uint64(1)]
                d = row[i + np.uint64(2)]
                if t == 0:
                    n[c] = np.int64(a & low)
                    sx[c] = np.int64(a >> high)
                    sy[c] = np.int64(b & low)
                    sxx[c] = np.int64(b >> high)
                    syy[c] = np.int64(d & low)
                    sxy[c] = np.int64(d >> high)
                else:
                    n[c] += np.int64(a & low)
                    sx[c] += np.int64(a >> high)
                    sy[c] += np.int64(b & low)
                    sxx[c] += np.int64(b >> high)
                    syy[c] += np.int64(d & low)
                    sxy[c] += np.int64(d >> high)
        cell_row = r // m - pad
        if r0 <= r < r1 and 0 <= cell_row < nrows:
            out = counts[cell_row]
            for c in range(ncols):
                a0 = (c + pad) * m
                s = 0.0
                for i in range(m):
                    s += n[a0 + i]
                out[c] += s
        for c in range(nodes):
            nc = n[c]
            # sums of vx, vy, vx², vy² and vx * vy; the squares were rounded down to multiples of 64
            # (128), which took off 21.5 (61.75) on average over evenly spread offsets
            vx = sx[c] - 128.0 * nc
            vy = sy[c] - 128.0 * nc
            vxx = 64.0 * sxx[c] + 21.5 * nc
            vyy = 64.0 * syy[c] + 21.5 * nc
            vxy = 128.0 * sxy[c] + (61.75 - 16384.0) * nc
            # moments of the offsets in node spacings: t = (v + 0.5) / steps
            tx = (vx + 0.5 * nc) * scale
            ty = (vy + 0.5 * nc) * scale
            txx = (vxx + vx + 0.25 * nc) * scale2
            tyy = (vyy + vy + 0.25 * nc) * scale2
            txy = (vxy + 0.5 * (vx + vy) + 0.25 * nc) * scale2
            # A_a(tx) A_b(ty) to second order: A = alpha + beta t + gamma t², alpha = (0, 1, 0),
            # beta = (-1/2, 0, 1/2), gamma = (1/2, -1, 1/2)
            s11[c] = nc - txx - tyy
            s10[c] = 0.5 * (txx - tx)
            s12[c] = 0.5 * (txx + tx)
            s01[c] = 0.5 * (tyy - ty)
            s21[c] = 0.5 * (tyy + ty)
            s00[c] = 0.25 * txy
            s02[c] = -0.25 * txy
            s20[c] = -0.25 * txy
            s22[c] = 0.25 * txy
        for b in range(3):
            target = r + b - 1
            lat_row = target + off
            if r0 <= target < r1 and 0 <= lat_row < ny:
                out = binned[lat_row, lo + off:hi + off]
                from_before = share[b, 2, lo:hi]  # what node c - 1 sends to the node after it
                own = share[b, 1, lo + 1:hi + 1]
                from_after = share[b, 0, lo + 2:hi + 2]  # what node c + 1 sends to the node before it
                for c in range(hi - lo):
                    out[c] += from_before[c] + own[c] + from_after[c]


def _lattice_kernel(kernel: str, h: float, dx: float, dy: float, blur_share: float = 1.0) -> np.ndarray:
    """Kernel weights on lattice offsets, with unit mass on the lattice.

    Smooth kernels are sampled at the nodes. After linear binning (``blur_share=1``),
    which acts like an extra blur of variance dx²/6 (dy²/6) on average, a twelfth of the
    discrete Laplacian is subtracted to undo it to second order; quadratic binning adds
    no blur (``blur_share=0``). The uniform kernel jumps at its edge, so its nodes take
    the kernel's average over their own dx-by-dy rectangle instead.
    """
    reach = h * _SUPPORT[kernel]
    px, py = math.ceil(reach / dx) + 1, math.ceil(reach / dy) + 1
    ox = np.arange(-px, px + 1) * dx
    oy = np.arange(-py, py + 1) * dy
    if kernel == "uniform":
        weights = _box_averaged_uniform(ox, oy, h, dx, dy)
    else:
        u2 = (oy[:, None] ** 2 + ox[None, :] ** 2) / (h * h)
        weights = _profile(kernel, u2)
        padded = np.pad(weights, 1)
        d2x = padded[1:-1, :-2] - 2.0 * weights + padded[1:-1, 2:]
        d2y = padded[:-2, 1:-1] - 2.0 * weights + padded[2:, 1:-1]
        weights = weights - blur_share * (d2x + d2y) / 12.0
    return weights / (weights.sum() * dx * dy)


def _profile(kernel: str, u2: np.ndarray) -> np.ndarray:
    if kernel == "gaussian":
        return np.where(u2 < _SUPPORT["gaussian"] ** 2, np.exp(-0.5 * u2), 0.0)
    inside = u2 < 1.0
    if kernel == "quartic":
        return np.where(inside, (1.0 - u2) ** 2, 0.0)
    if kernel == "epanechnikov":
        return np.where(inside, 1.0 - u2, 0.0)
    return inside.astype(np.float64)


def _box_averaged_uniform(ox: np.ndarray, oy: np.ndarray, h: float, dx: float, dy: float, sub: int = 16) -> np.ndarray:
    r = np.sqrt(oy[:, None] ** 2 + ox[None, :] ** 2)
    half_diag = 0.5 * math.hypot(dx, dy)
    weights = (r < h).astype(np.float64)
    iy, ix = np.nonzero(np.abs(r - h) <= half_diag)  # only rectangles the circle crosses need averaging
    t = (np.arange(sub) + 0.5) / sub - 0.5
    sx = ox[ix][:, None, None] + dx * t[None, None, :]
    sy = oy[iy][:, None, None] + dy * t[None, :, None]
    weights[iy, ix] = ((sx * sx + sy * sy) < h * h).mean(axis=(1, 2))
    return weights


def _bilinear(surface: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    jx = np.floor(fx).astype(np.int64)
    jy = np.floor(fy).astype(np.int64)
    tx = fx - jx
    ty = fy - jy
    return (surface[jy, jx] * (1 - tx) * (1 - ty) + surface[jy, jx + 1] * tx * (1 - ty)
            + surface[jy + 1, jx] * (1 - tx) * ty + surface[jy + 1, jx + 1] * tx * ty)


def _exact_density(pts: _Points, grid: gpd.GeoDataFrame, kernel: str, h: float) -> np.ndarray:
    """Kernel sum at every cell centre over the points within reach, via buckets of centres."""
    cx, cy = _cell_centres(grid)
    cx = np.ascontiguousarray(cx, dtype=np.float64)
    cy = np.ascontiguousarray(cy, dtype=np.float64)
    reach = h * _SUPPORT[kernel]
    x0, y0 = float(cx.min()), float(cy.min())
    wx, wy = float(cx.max()) - x0, float(cy.max()) - y0
    # buckets at least one reach wide (a point's cells lie in the 3x3 buckets around it), and not
    # many more buckets than cells
    side = max(reach, math.sqrt(max(wx * wy, 1.0) / (4.0 * cx.size)))
    nbx, nby = int(wx / side) + 1, int(wy / side) + 1
    bucket = (np.minimum((cy - y0) / side, nby - 1).astype(np.int64) * nbx
              + np.minimum((cx - x0) / side, nbx - 1).astype(np.int64))
    order = np.argsort(bucket, kind="stable")
    starts = np.searchsorted(bucket[order], np.arange(nbx * nby + 1))
    bounds = _chunk_bounds(pts.x.size)
    nchunks = len(bounds) - 1
    parts = np.zeros((nchunks, cx.size))
    w = _EMPTY if pts.w is None else pts.w
    kid = _KERNEL_ID[kernel]
    _run_chunks(
        lambda k: _exact_chunk(pts.x, pts.y, w, bounds[k], bounds[k + 1], cx, cy, order, starts,
                               x0, y0, side, nbx, nby, kid, h, reach, parts[k]),
        nchunks,
    )
    total = parts[0] if nchunks == 1 else parts.sum(axis=0)
    return total * (_NORM[kernel] / (h * h))


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _exact_chunk(x, y, w, lo, hi, cx, cy, order, starts, x0, y0, side, nbx, nby, kid, h, reach, acc):
    unit = w.shape[0] == 0
    inv_side = 1.0 / side
    inv_h2 = 1.0 / (h * h)
    reach2 = reach * reach
    for i in range(lo, hi):
        xi, yi = x[i], y[i]
        wi = 1.0 if unit else w[i]
        fx = (xi - x0) * inv_side
        fy = (yi - y0) * inv_side
        if not (fx > -2.0 and fy > -2.0 and fx < nbx + 1.0 and fy < nby + 1.0):
            continue  # further than a bucket (at least one reach) from every centre
        bx = np.int64(np.floor(fx))
        by = np.int64(np.floor(fy))
        for yy in range(max(by - 1, 0), min(by + 2, nby)):
            for xx in range(max(bx - 1, 0), min(bx + 2, nbx)):
                b = yy * nbx + xx
                for t in range(starts[b], starts[b + 1]):
                    c = order[t]
                    ddx = cx[c] - xi
                    ddy = cy[c] - yi
                    r2 = ddx * ddx + ddy * ddy
                    if r2 >= reach2:
                        continue
                    u2 = r2 * inv_h2
                    if kid == 0:
                        v = (1.0 - u2) * (1.0 - u2)
                    elif kid == 1:
                        v = 1.0 - u2
                    elif kid == 2:
                        v = 1.0
                    else:
                        v = np.exp(-0.5 * u2)
                    acc[c] += wi * v
