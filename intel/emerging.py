"""Emerging hot spots: space-time Gi* in every bin of a cube, Mann-Kendall trends, 17 categories.

The method follows ArcGIS Pro's Emerging Hot Spot Analysis:

1. **Space-time Getis-Ord Gi\\*** in every bin (cell x period). A bin's neighbourhood
   is a cylinder: the cell and its spatial neighbours, in the bin's own period and the
   ``time_lag`` periods before it, all with weight 1. The mean and standard deviation
   are those of every bin of the cube (ArcGIS's "entire cube" global window), and the
   z-score is Getis and Ord's (1995)::

       z = (sum_j x_j - mean * k) / (sd * sqrt((n * k - k**2) / (n - 1)))

   with ``k`` the number of bins in the neighbourhood and ``n`` the number of bins in
   the cube (``sd`` divides by ``n``). In the first ``time_lag`` periods the cylinder is
   shorter. Bins are tested two-sided, at ``alpha`` after the ``correction`` across all
   bins of the cube (Benjamini-Hochberg by default, as ArcGIS does); a significant bin
   with ``z > 0`` is a hot bin, with ``z < 0`` a cold bin.

   With ``permutations > 0`` each bin's p-value is a pseudo p-value from conditional
   randomisation: the bin keeps its own value and the other ``k - 1`` members of its
   neighbourhood are drawn at random (without replacement) from the bins of the
   periods its cylinder spans. With binary weights the reference distribution only
   depends on those periods and on ``k``, so it is drawn once per period and
   neighbourhood size and shared by every bin with that size ("per slice"), which is
   what makes 999 permutations of a 15-million-bin cube take seconds. The pool holds
   the bin's own value once among ``n_cells * periods`` others, a negligible
   difference from leaving it out. p-values are two-sided:
   ``min(1, 2 * (min(#ref >= obs, #ref <= obs) + 1) / (permutations + 1))``.

2. **Mann-Kendall** trend test on each cell's series of z-scores (see
   :func:`mann_kendall`), significant at ``alpha``.

3. **Categories** (ArcGIS Pro's definitions; "90%" means at least 90% of the bins):

   ======================== ==========================================================
   ``new hot spot``          hot in the final period, never hot before
   ``consecutive hot spot``  a single run of at least two hot periods at the end,
                             never hot before that run, less than 90% of periods hot
   ``intensifying hot spot`` hot in 90% of periods including the final one, and the
                             clustering z-scores rise significantly
   ``persistent hot spot``   hot in 90% of periods including the final one, with no
                             significant trend
   ``diminishing hot spot``  hot in 90% of periods including the final one, and the
                             z-scores fall significantly
   ``sporadic hot spot``     hot in the final period, on-and-off hot before, less than
                             90% of periods hot, never cold
   ``oscillating hot spot``  hot in the final period, cold in some earlier period, less
                             than 90% of periods hot
   ``historical hot spot``   not hot in the final period, hot in at least 90% of periods
   ======================== ==========================================================

   and the same eight cold spots (for cold spots "intensifying" means the z-scores
   fall: the cold grows colder), and ``no pattern detected`` for the rest.

   Where two definitions could both apply, the final period decides first: a cell hot
   in the final period gets one of the first seven hot categories (one that was ever
   cold and is now hot with less than 90% hot periods is *oscillating*, not *new*), a
   cell cold in the final period one of the first seven cold categories (so a cell hot
   for 95% of periods but cold at the end is an *oscillating cold spot*), and only a
   cell neither hot nor cold at the end can be *historical*.

Every cell of the grid is analysed, with the grid acting as ArcGIS's polygon analysis
mask. (Without a mask ArcGIS keeps only locations with at least one incident.)
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
from numba import prange
from scipy.special import ndtri

from ._provenance import attach, make_record
from ._validation import check_number, check_option, check_random_state
from ._weights import cell_neighbours, check_neighbours, describe_neighbours
from .cube import dense_counts
from .exceptions import DataQualityWarning, InputError

__all__ = ["classify_emerging", "mann_kendall", "CATEGORIES"]

_PATTERNS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical")
CATEGORIES: tuple[str, ...] = (
    *(f"{p} hot spot" for p in _PATTERNS),
    *(f"{p} cold spot" for p in _PATTERNS),
    "no pattern detected",
)
NO_PATTERN = len(CATEGORIES) - 1
CORRECTIONS = ("fdr_bh", "bonferroni", "none")
_MIN_PERIODS = 10


def classify_emerging(
    cube: pd.DataFrame,
    grid: gpd.GeoDataFrame,
    *,
    neighbours: str | float = "queen",
    time_lag: int = 1,
    permutations: int = 0,
    correction: str = "fdr_bh",
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> gpd.GeoDataFrame:
    """Classify every cell into ArcGIS Pro's 17 emerging hot spot categories.

    Parameters
    ----------
    cube : DataFrame
        A cube from :func:`intel.build_cube` built on ``grid``.
    grid : GeoDataFrame
        The grid the cube was built on.
    neighbours : {"queen", "rook"} or float
        Spatial neighbourhood: contiguity, or cells whose centres are within that
        many metres.
    time_lag : int
        Number of earlier periods in each bin's space-time neighbourhood (ArcGIS's
        "neighborhood time step"); 0 makes the neighbourhood purely spatial.
    permutations : int
        0 for analytic (normal) p-values, as ArcGIS; otherwise the number of random
        draws per period and neighbourhood size for pseudo p-values (999 is usual).
    correction : {"fdr_bh", "bonferroni", "none"}
        Multiple-testing correction across all bins of the cube.
    alpha : float
        Significance level of the bins (after correction) and of the trend test.
    random_state : int, Generator or None
        Seed for the permutations.

    Returns
    -------
    GeoDataFrame
        CellScores: the grid's rows in its order, plus ``n`` (incidents in the cube),
        ``hotspot_class`` (one of :data:`CATEGORIES`), ``trend_z`` and ``trend_p``
        (Mann-Kendall on the cell's z-scores), ``hot_share`` and ``cold_share`` (share
        of the cell's periods that are significant hot / cold bins) and ``last_z`` (the
        z-score of the final period). ``attrs["provenance"]`` records the parameters,
        the significance threshold and the count of cells per category.

    Raises
    ------
    GridError
        The cube was not built on ``grid``.
    InputError
        Bad parameters, fewer than three periods, or a cube without incidents.

    See Also
    --------
    intel.build_cube : the cube this classifies.
    intel.mann_kendall : the trend test.

    Examples
    --------
    >>> import intel
    >>> spots = [{"x": 2500, "y": 2500, "kind": "persistent"}, {"x": 7500, "y": 2500, "kind": "new"}]
    >>> incidents = intel.make_synthetic(n_background=20000, hotspots=spots, hotspot_events=1000, random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> cube = intel.build_cube(incidents, grid, freq="W-MON", end="2018-12-31")
    >>> scores = intel.classify_emerging(cube, grid)
    >>> list(scores.index) == list(grid.index)
    True
    >>> sorted(set(scores["hotspot_class"]) - {"no pattern detected", "sporadic hot spot"})
    ['consecutive hot spot', 'persistent hot spot']
    """
    owner = "classify_emerging"
    neighbours = check_neighbours(neighbours, owner)
    check_number("time_lag", time_lag, owner, low=0, integer=True)
    check_number("permutations", permutations, owner, low=0, integer=True)
    check_option("correction", correction, owner, CORRECTIONS)
    check_number("alpha", alpha, owner, low=0, high=1, closed="neither")
    rng = check_random_state(random_state) if permutations else None
    x = dense_counts(cube, grid, owner=owner)
    n_cells, n_periods = x.shape
    if n_periods < 3:
        raise InputError(f"{owner}: the cube has {n_periods} period(s); a trend needs at least 3 "
                         f"(ArcGIS asks for {_MIN_PERIODS}). Build the cube with a shorter freq or a longer range.")
    if n_periods < _MIN_PERIODS:
        warnings.warn(f"{owner}: only {n_periods} periods; the Mann-Kendall test and the 90% rules are weak with "
                      f"fewer than {_MIN_PERIODS} (ArcGIS requires {_MIN_PERIODS}).", DataQualityWarning, stacklevel=2)
    if not (x != x.flat[0]).any():
        raise InputError(f"{owner}: every bin of the cube holds the same count ({x.flat[0]:g}); there is nothing "
                         "to find. Check the cube's range and the incidents' locations.")
    if time_lag >= n_periods:
        raise InputError(f"{owner}: time_lag={time_lag} reaches past the cube's {n_periods} periods; "
                         f"use at most {n_periods - 1}.")

    w = cell_neighbours(grid, neighbours, include_self=True)
    indptr = np.asarray(w.indptr, dtype=np.int64)
    indices = np.asarray(w.indices, dtype=np.int64)
    z, window_sums = space_time_gi(x, indptr, indices, time_lag)

    if permutations:
        seed = int(rng.integers(0, 2**31 - 1))
        p = _permutation_p(x, window_sums, indptr, time_lag, int(permutations), seed)
        hot, cold, threshold = _significant_from_p(z, p, alpha, correction)
        floor = 2.0 / (permutations + 1)
        if threshold < floor and correction != "none":
            warnings.warn(
                f"{owner}: no bin is significant after the {correction} correction across {x.size:,} bins: the "
                f"smallest p-value {permutations} permutations can give is {floor:.2g}, too coarse for the "
                "corrected threshold. Use permutations=0 (analytic p-values, as ArcGIS), more permutations, "
                "or correction='none'.", DataQualityWarning, stacklevel=2,
            )
    else:
        seed = None
        hot, cold, threshold = _significant_analytic(z, alpha, correction)

    mk_s, mk_var, trend_z, trend_p, _ = _mann_kendall(z)
    codes = _classify(hot, cold, trend_z, trend_p, alpha)

    scores = grid.copy()
    scores["n"] = x.sum(axis=1)
    scores["hotspot_class"] = pd.Categorical.from_codes(codes, categories=CATEGORIES).astype(str)
    scores["trend_z"] = trend_z
    scores["trend_p"] = trend_p
    scores["hot_share"] = hot.sum(axis=1) / n_periods
    scores["cold_share"] = cold.sum(axis=1) / n_periods
    scores["last_z"] = z[:, -1]

    counts = np.bincount(codes, minlength=len(CATEGORIES))
    cube_meta = cube.attrs.get("cube", {})
    params = {"neighbours": neighbours, "time_lag": time_lag, "permutations": permutations,
              "correction": correction, "alpha": alpha}
    extra = {
        "n_cells": n_cells, "n_periods": n_periods, "freq": cube_meta.get("freq"),
        "neighbourhood": f"{describe_neighbours(neighbours)}, this period and {time_lag} before",
        "significance": {"p_threshold": threshold, "hot_bins": int(hot.sum()), "cold_bins": int(cold.sum()),
                         "bins": int(x.size)},
        "categories": {label: int(c) for label, c in zip(CATEGORIES, counts)},
    }
    record = make_record("classify_emerging", params, seed=random_state if permutations else None, extra=extra)
    scores.attrs = {k: v for k, v in grid.attrs.items() if k == "grid"}
    return attach(scores, record)


# ---------------------------------------------------------------- space-time Gi*


def space_time_gi(x: np.ndarray, indptr: np.ndarray, indices: np.ndarray, time_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores of every bin and the neighbourhood sums they come from.

    ``indptr``/``indices`` are the CSR structure of the spatial weights *including*
    each cell itself.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.size
    mean = float(x.sum()) / n
    flat = x.ravel()
    var = float(flat @ flat) / n - mean * mean
    sd = math.sqrt(max(var, 0.0))
    z = np.empty_like(x)
    sums = np.empty_like(x)
    _gi_star(x, indptr, indices, int(time_lag), mean, sd, float(n), z, sums)
    return z, sums


@numba.njit(cache=True, parallel=True)
def _gi_star(x, indptr, indices, time_lag, mean, sd, n, z, sums):  # pragma: no cover - compiled
    n_cells, n_periods = x.shape
    for i in prange(n_cells):
        spatial = np.zeros(n_periods)
        for e in range(indptr[i], indptr[i + 1]):
            row = x[indices[e]]
            for t in range(n_periods):
                spatial[t] += row[t]
        deg = indptr[i + 1] - indptr[i]
        for t in range(n_periods):
            depth = t + 1 if t < time_lag else time_lag + 1
            # the window is re-added every period (a running sum would drift and
            # differ from a direct computation in the last bits)
            total = 0.0
            for tau in range(t - depth + 1, t + 1):
                total += spatial[tau]
            k = float(deg * depth)
            sums[i, t] = total
            denom = sd * math.sqrt((n * k - k * k) / (n - 1.0))
            z[i, t] = (total - mean * k) / denom if denom > 0 else 0.0


# ---------------------------------------------------------------- significance


def _significant_analytic(z: np.ndarray, alpha: float, correction: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Hot and cold bins from normal p-values, computing p only where it can matter."""
    # Only p <= alpha can pass Benjamini-Hochberg: rank those alone.
    z_crit = float(ndtri(1.0 - alpha / 2.0))
    threshold = _threshold(correction, alpha, z.size, lambda: _two_sided_p(_abs_at_least(z.ravel(), z_crit)))
    hot = np.zeros(z.shape, dtype=bool)
    cold = np.zeros(z.shape, dtype=bool)
    if threshold > 0:
        z_cut = float(ndtri(1.0 - threshold / 2.0)) if threshold < 1 else 0.0
        # compare z (not p) so that no p array the size of the cube is needed; the
        # cut is nudged so a bin exactly at the threshold p still counts
        _split_by_z(z.ravel(), z_cut * (1 - 1e-12), hot.ravel(), cold.ravel())
    return hot, cold, float(threshold)


@numba.njit(cache=True)
def _abs_at_least(z, cut):  # pragma: no cover - compiled
    count = 0
    for v in z:
        count += abs(v) >= cut
    out = np.empty(count)
    k = 0
    for v in z:
        if abs(v) >= cut:
            out[k] = abs(v)
            k += 1
    return out


@numba.njit(cache=True)
def _split_by_z(z, cut, hot, cold):  # pragma: no cover - compiled
    for i in range(z.shape[0]):
        v = z[i]
        hot[i] = v >= cut and v > 0
        cold[i] = -v >= cut and v < 0


def _significant_from_p(z: np.ndarray, p: np.ndarray, alpha: float, correction: str) -> tuple[np.ndarray, np.ndarray, float]:
    threshold = _threshold(correction, alpha, p.size, lambda: p[p <= alpha])
    sig = p <= threshold if threshold > 0 else np.zeros(p.shape, dtype=bool)
    return sig & (z > 0), sig & (z < 0), float(threshold)


def _threshold(correction: str, alpha: float, m: int, candidates: Any) -> float:
    """The p-value at or below which a bin is significant; ``candidates()`` gives the p <= alpha."""
    if correction == "bonferroni":
        return alpha / m
    if correction == "none":
        return alpha
    return _bh_threshold(candidates(), m, alpha)


def _two_sided_p(abs_z: np.ndarray) -> np.ndarray:
    from scipy.special import erfc

    return erfc(abs_z / math.sqrt(2.0))


def _bh_threshold(candidate_p: np.ndarray, m: int, alpha: float) -> float:
    """Largest p_(j) with p_(j) <= j * alpha / m (0 when none passes)."""
    if candidate_p.size == 0:
        return 0.0
    ps = np.sort(candidate_p)
    ranks = np.arange(1, ps.size + 1)
    passing = np.flatnonzero(ps <= ranks * (alpha / m))
    return float(ps[passing[-1]]) if passing.size else 0.0


def _permutation_p(x, sums, indptr, time_lag, permutations, seed):
    degrees = np.diff(indptr)
    sizes, size_of_cell = np.unique(degrees, return_inverse=True)
    return _permutation_kernel(np.ascontiguousarray(x), sums, sizes.astype(np.int64),
                               size_of_cell.astype(np.int64), int(time_lag), int(permutations), int(seed))


@numba.njit(cache=True, parallel=True)
def _permutation_kernel(x, sums, sizes, size_of_cell, time_lag, permutations, seed):  # pragma: no cover - compiled
    n_cells, n_periods = x.shape
    p = np.empty_like(x)
    for t in prange(n_periods):
        # one seed per period: the draws do not depend on which thread runs them
        np.random.seed(seed + t)
        lo = t - time_lag if t >= time_lag else 0
        depth = t - lo + 1
        pool_size = n_cells * depth
        pool = np.empty(pool_size)
        for i in range(n_cells):
            for d in range(depth):
                pool[i * depth + d] = x[i, lo + d]
        order = np.arange(pool_size)
        refs = np.empty((sizes.shape[0], permutations))
        for s in range(sizes.shape[0]):
            draws = min(sizes[s] * depth - 1, pool_size)
            for r in range(permutations):
                total = 0.0
                # partial Fisher-Yates: the first `draws` entries become a random subset
                for j in range(draws):
                    k = j + np.random.randint(0, pool_size - j)
                    tmp = order[j]
                    order[j] = order[k]
                    order[k] = tmp
                    total += pool[order[j]]
                refs[s, r] = total
            refs[s] = np.sort(refs[s])
        for i in range(n_cells):
            ref = refs[size_of_cell[i]]
            obs = sums[i, t] - x[i, t]
            n_le = np.searchsorted(ref, obs, side="right")
            n_ge = permutations - np.searchsorted(ref, obs, side="left")
            tail = n_le if n_le < n_ge else n_ge
            p[i, t] = min(1.0, 2.0 * (tail + 1.0) / (permutations + 1.0))
    return p


# ---------------------------------------------------------------- Mann-Kendall


def mann_kendall(series: Any) -> pd.DataFrame:
    """Mann-Kendall trend test on many series at once (compiled, parallel).

    Parameters
    ----------
    series : array-like or DataFrame
        One series per row, in time order along the columns (a 1-D array is one
        series). Missing values are not allowed.

    Returns
    -------
    DataFrame
        One row per series (the input's index for a DataFrame): ``s`` (the
        Mann-Kendall statistic), ``var_s`` (its variance with the correction for
        ties), ``tau`` (Kendall's tau-b between time and value, as
        :func:`scipy.stats.kendalltau`), ``z`` (normal approximation with the
        continuity correction: ``(s - sign(s)) / sqrt(var_s)``) and ``p_value``
        (two-sided).

    Notes
    -----
    ``var_s = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18`` where ``t`` runs over the
    sizes of groups of tied values (Kendall 1975; Hipel and McLeod 1994); this is the
    formula of ``pymannkendall.original_test``. A series with no variation has
    ``z = 0`` and ``p_value = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> import intel
    >>> result = intel.mann_kendall(np.array([[1, 2, 3, 4, 5, 6], [3, 1, 3, 1, 3, 1]]))
    >>> result["s"].tolist()
    [15, -3]
    >>> bool(result["p_value"].iloc[0] < 0.05)
    True
    """
    owner = "mann_kendall"
    index = series.index if isinstance(series, pd.DataFrame) else None
    try:
        values = np.asarray(series, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{owner}: series must be numbers (one series per row); "
                         f"got {type(series).__name__}.") from None
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise InputError(f"{owner}: series must be 1-D or 2-D (one series per row); got {values.ndim} dimensions.")
    if values.shape[1] < 2:
        raise InputError(f"{owner}: each series needs at least 2 values; got {values.shape[1]}.")
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InputError(f"{owner}: series {row} (and {int(bad.any(axis=1).sum()) - 1} others) has missing or "
                         "infinite values; drop or fill them first.")
    s, var, z, p, tau = _mann_kendall(values)
    out = pd.DataFrame({"s": s, "var_s": var, "tau": tau, "z": z, "p_value": p}, index=index)
    return attach(out, make_record("mann_kendall", {}, extra={"n_series": int(values.shape[0]),
                                                            "n_values": int(values.shape[1])}))


def _mann_kendall(values: np.ndarray) -> tuple[np.ndarray, ...]:
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.shape[1] > 65_535:
        raise InputError(f"mann_kendall: series of {values.shape[1]:,} values are longer than the 65,535 it "
                         "handles; aggregate to coarser periods first.")
    m = values.shape[0]
    s = np.empty(m, dtype=np.int64)
    var = np.empty(m)
    z = np.empty(m)
    p = np.empty(m)
    tau = np.empty(m)
    _mk_kernel(values, s, var, z, p, tau)
    return s, var, z, p, tau


_MK_BLOCK = 64


_FEW_VALUES = 64


@numba.njit(cache=True)
def _tie_term(row, values, counts):  # pragma: no cover - compiled
    """Sum of t(t-1)(2t+5) over the groups of equal values in ``row``.

    Series of Gi* z-scores take few distinct values (sparse cells have few distinct
    neighbourhood counts): tally them in a short list, which beats sorting; sort
    only when there are more than ``_FEW_VALUES`` distinct values.
    """
    d = 0
    for v in row:
        k = 0
        while k < d and values[k] != v:
            k += 1
        if k < d:
            counts[k] += 1
        elif d < _FEW_VALUES:
            values[d] = v
            counts[d] = 1
            d += 1
        else:
            return _tie_term_sorted(row)
    total = 0.0
    for k in range(d):
        t = counts[k]
        total += t * (t - 1.0) * (2.0 * t + 5.0)
    return total


@numba.njit(cache=True)
def _tie_term_sorted(row):  # pragma: no cover - compiled
    ordered = np.sort(row)
    total = 0.0
    run = 1
    for k in range(1, ordered.shape[0] + 1):
        if k < ordered.shape[0] and ordered[k] == ordered[k - 1]:
            run += 1
        else:
            total += run * (run - 1.0) * (2.0 * run + 5.0)
            run = 1
    return total


@numba.njit(cache=True, parallel=True)
def _mk_kernel(x, s_out, var_out, z_out, p_out, tau_out):  # pragma: no cover - compiled
    m, n = x.shape
    base = n * (n - 1.0) * (2.0 * n + 5.0)
    n0 = n * (n - 1.0) / 2.0
    n_blocks = (m + _MK_BLOCK - 1) // _MK_BLOCK
    for b in prange(n_blocks):
        lo = b * _MK_BLOCK
        width = min(_MK_BLOCK, m - lo)
        # A block of series laid out time-major, so the innermost loop runs across
        # series with contiguous loads: the compiler turns it into vector code.
        # (Three times faster than one series at a time.)
        buf = np.zeros((n, _MK_BLOCK))
        for r in range(width):
            for t in range(n):
                buf[t, r] = x[lo + r, t]
        values = np.empty(_FEW_VALUES)
        counts = np.zeros(_FEW_VALUES, dtype=np.int64)
        # int32 counts: twice the lanes of int64 (n(n-1)/2 fits for n < 65,536)
        up = np.zeros(_MK_BLOCK, dtype=np.int32)
        down = np.zeros(_MK_BLOCK, dtype=np.int32)
        for i in range(n - 1):
            bi = buf[i]
            for j in range(i + 1, n):
                bj = buf[j]
                for r in range(_MK_BLOCK):
                    up[r] += np.int32(bj[r] > bi[r])
                    down[r] += np.int32(bj[r] < bi[r])
        for r in range(width):
            tied = n0 - up[r] - down[r]  # pairs with equal values
            # group sizes only for series that have ties
            tie_var = _tie_term(x[lo + r], values, counts) if tied > 0 else 0.0
            var = (base - tie_var) / 18.0
            sr = np.int64(up[r]) - np.int64(down[r])
            s_out[lo + r] = sr
            var_out[lo + r] = var
            if var > 0 and sr != 0:
                zz = (sr - 1.0) / math.sqrt(var) if sr > 0 else (sr + 1.0) / math.sqrt(var)
            else:
                zz = 0.0
            z_out[lo + r] = zz
            p_out[lo + r] = math.erfc(abs(zz) / math.sqrt(2.0))
            denom = math.sqrt(n0 * (n0 - tied))
            tau_out[lo + r] = sr / denom if denom > 0 else np.nan


# ---------------------------------------------------------------- categories


def _classify(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, alpha: float) -> np.ndarray:
    """Category code (index into :data:`CATEGORIES`) of each row of hot/cold bin flags."""
    codes = np.empty(hot.shape[0], dtype=np.int64)
    _classify_kernel(np.ascontiguousarray(hot), np.ascontiguousarray(cold), np.asarray(trend_z, dtype=np.float64),
                     np.asarray(trend_p, dtype=np.float64), float(alpha), codes)
    return codes


@numba.njit(cache=True)
def _side(sig, other, trend_z, trend_p, alpha):  # pragma: no cover - compiled
    """Pattern (0..6) of a series whose final bin is significant on this side.

    ``trend_z`` is oriented so that positive means stronger clustering on this side.
    """
    n = sig.shape[0]
    n_sig = 0
    for t in range(n):
        n_sig += sig[t]
    if 10 * n_sig >= 9 * n:
        if trend_p < alpha and trend_z > 0:
            return 2  # intensifying
        if trend_p < alpha and trend_z < 0:
            return 4  # diminishing
        return 3  # persistent
    for t in range(n - 1):
        if other[t]:
            return 6  # oscillating
    run = 0
    t = n - 1
    while t >= 0 and sig[t]:
        run += 1
        t -= 1
    if n_sig > run:
        return 5  # sporadic
    return 0 if run == 1 else 1  # new, consecutive


@numba.njit(cache=True)
def _classify_kernel(hot, cold, trend_z, trend_p, alpha, codes):  # pragma: no cover - compiled
    n_cells, n = hot.shape
    for i in range(n_cells):
        if hot[i, n - 1]:
            codes[i] = _side(hot[i], cold[i], trend_z[i], trend_p[i], alpha)
        elif cold[i, n - 1]:
            codes[i] = 8 + _side(cold[i], hot[i], -trend_z[i], trend_p[i], alpha)
        else:
            n_hot = 0
            n_cold = 0
            for t in range(n):
                n_hot += hot[i, t]
                n_cold += cold[i, t]
            if 10 * n_hot >= 9 * n:
                codes[i] = 7
            elif 10 * n_cold >= 9 * n:
                codes[i] = 15
            else:
                codes[i] = 16
