"""Hot spot statistics on grids: Getis-Ord Gi*, local Moran's I, change between periods, concentration.

Every verb takes incidents first, then an optional grid (built as :func:`intel.make_grid`
would when omitted), and returns CellScores: the grid's rows, in its order, with the
count ``n`` and the verb's own columns. Multiple-testing corrections are applied once,
to ``p_value``, giving ``p_adj``; classes are judged on ``p_adj``; the provenance names
the correction and the column it was applied to.

The statistics match PySAL's ``esda`` (``G_Local(star=True, transform="B")`` and
``Moran_Local``) on the same weights; the conditional-randomisation loops are compiled
with numba and run in parallel.
"""

from __future__ import annotations

import warnings
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import fft as sp_fft
from scipy import stats as _st

from ._incidents import check_incidents
from ._provenance import attach, make_record
from ._validation import check_number, check_option, check_random_state
from ._weights import cell_neighbours, check_neighbours, describe_neighbours, row_standardise
from .exceptions import DataQualityWarning, GridError, InputError
from .grid import SHAPES, make_grid

__all__ = ["score_gistar", "score_moran", "score_change", "concentration", "HOTSPOT_CLASSES", "MORAN_CLASSES",
           "CHANGE_CLASSES"]

CORRECTIONS = ("fdr_bh", "bonferroni", "none")
ALTERNATIVES = ("two-sided", "greater", "less")
NOT_SIGNIFICANT = "not significant"
# Confidence levels of the desktop tools' Gi_Bin, from the most confident down.
_LEVELS = ((0.01, "99%"), (0.05, "95%"), (0.10, "90%"))
HOTSPOT_CLASSES = (
    "hot spot 99%", "hot spot 95%", "hot spot 90%", NOT_SIGNIFICANT, "cold spot 90%", "cold spot 95%", "cold spot 99%",
)
MORAN_CLASSES = ("high-high", "low-low", "high-low", "low-high", NOT_SIGNIFICANT)
CHANGE_CLASSES = ("significant increase", "significant decrease", "no significant change")
_CLASS_LABELS = {"hotspot_class": HOTSPOT_CLASSES, "moran_class": MORAN_CLASSES, "change_class": CHANGE_CLASSES}
_MIN_CELLS = 3
# largest neighbourhood sum for which exact tail probabilities are computed (else the normal approximation)
_MAX_EXACT_SUM = 5_000_000


# ---------------------------------------------------------------- Gi*


def score_gistar(
    incidents: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame | None = None,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    neighbours: str | float = "queen",
    star: bool = True,
    permutations: int = 0,
    correction: str = "fdr_bh",
    alternative: str = "two-sided",
    random_state: int | np.random.Generator | None = None,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots of incident counts.

    Each cell's count plus its neighbours' counts is compared with what the
    grid-wide mean would give (Getis and Ord 1992; Ord and Getis 1995). Cells
    are classed as hot or cold spots at 99, 95 or 90% confidence after the
    multiple-testing correction, as in the desktop tools' ``Gi_Bin``.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents (points in a metric CRS); the ``weight`` column, if any, is used.
    grid : GeoDataFrame, optional
        A grid from :func:`intel.make_grid` or any polygon layer
        (:func:`intel.as_grid`). Built from ``cell_size_m`` and ``shape`` when omitted.
    cell_size_m : float, optional
        Cell size when the grid is built here; chosen from the data (and
        recorded) when omitted.
    shape : {"square", "hex"}
        Cell shape when the grid is built here.
    neighbours : {"queen", "rook"} or float
        Which cells form a cell's neighbourhood: contiguity, or every cell whose
        centre is within that many metres.
    star : bool
        ``True`` (default) for Gi*: the cell itself is part of its neighbourhood.
        ``False`` for Gi, which leaves it out.
    permutations : int
        0 (default): exact p-values of the neighbourhood sum under random
        relabelling of the counts (the null that ``gi_star`` standardises; see
        Notes). More: esda's conditional randomisation with that many
        permutations, which keeps each cell's own count and redraws its
        neighbours, so it asks whether the surroundings are unusual.
    correction : {"fdr_bh", "bonferroni", "none"}
        Multiple-testing correction over all cells, applied once to ``p_value``
        to give ``p_adj``: Benjamini-Hochberg false discovery rate (default),
        Bonferroni family-wise error, or none.
    alternative : {"two-sided", "greater", "less"}
        Test hot and cold spots, hot spots only, or cold spots only.
    random_state : int, Generator or None
        Seed of the permutations (ignored when ``permutations=0``).

    Returns
    -------
    GeoDataFrame
        The grid's rows plus ``n`` (weighted count), ``gi_star`` (z-score, equal
        to esda's ``G_Local(star=True, transform="B").Zs``), ``p_value``,
        ``p_adj`` and ``hotspot_class`` (``"hot spot 99%"`` ... ``"not
        significant"`` ... ``"cold spot 99%"``). ``attrs["provenance"]`` records
        the statistic, weights, correction and every automatic choice.

    Raises
    ------
    GridError
        No incident falls inside the grid, or the grid has fewer than 3 cells.

    Notes
    -----
    ``gi_star`` is the usual z-score, but ``p_value`` is not read off the
    normal curve: with sparse counts (most cells holding 0 or 1 incident) the
    normal approximation is far too optimistic, and uniform random points then
    show "hot spots" after any correction. Instead ``p_value`` is the exact
    tail probability of the cell's neighbourhood sum when the grid's counts
    are dealt out at random (drawn with replacement; the k-fold convolution of
    the counts' distribution). Counts that are not whole numbers fall back to
    the normal approximation, as the provenance says.

    With ``P`` permutations, of which ``k_ge`` give a neighbourhood sum at least
    and ``k_le`` at most the observed one, one-sided pseudo p-values are
    ``(k_ge + 1) / (P + 1)`` (``"greater"``) and ``(k_le + 1) / (P + 1)``
    (``"less"``); two-sided is twice the smaller, capped at 1, so that "95%"
    means the same with or without permutations. Without ties this is twice
    esda's folded ``p_sim``; with tied counts (most cells empty) esda counts
    ties in the upper tail only and would call every cell with empty
    surroundings a significant cold spot, which intel does not.
    The smallest pseudo p-value is ``1 / (P + 1)``: with many cells and a
    Bonferroni correction, few permutations cannot reach significance.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> scores = intel.score_gistar(incidents, cell_size_m=250)
    >>> int((scores["hotspot_class"] == "hot spot 99%").sum()) > 0
    True
    >>> scores.attrs["provenance"]["correction"]
    'fdr_bh'
    """
    owner = "score_gistar"
    neighbours = check_neighbours(neighbours, owner)
    _check_common(owner, shape=shape, correction=correction, alternative=alternative, permutations=permutations)
    if not isinstance(star, (bool, np.bool_)):
        raise InputError(f"The 'star' parameter of {owner} must be True or False. Got {star!r} instead.")
    rng = check_random_state(random_state)
    grid, n, info = _cell_counts(incidents, grid, cell_size_m=cell_size_m, shape=shape, owner=owner)

    others = cell_neighbours(grid, neighbours)
    z, p, p_adj, labels, p_method = gistar_arrays(n, others, star=bool(star), permutations=permutations,
                                                  correction=correction, alternative=alternative, rng=rng)
    _warn_if_unreachable(owner, permutations, alternative, correction, p.size, level=_LEVELS[-1][0])

    out = _scores_frame(grid, {"n": n, "gi_star": z, "p_value": p, "p_adj": p_adj, "hotspot_class": labels})
    extra = {
        "statistic": "Gi* (each cell's own count included)" if star else "Gi (each cell's own count excluded)",
        "star": bool(star),
        "weights": f"{describe_neighbours(neighbours)}, binary",
        "p_value_method": p_method,
        **_correction_record(correction, p),
        "classes": _class_counts(out["hotspot_class"]),
        **info,
    }
    params = {"cell_size_m": cell_size_m, "shape": shape, "neighbours": neighbours, "star": star,
              "permutations": permutations, "correction": correction, "alternative": alternative,
              "grid": info["grid_source"]}
    seed = _seed_record(random_state) if permutations else None
    return attach(out, make_record(owner, params, automatic=info["automatic"], seed=seed, extra=extra))


def gistar_arrays(
    y: np.ndarray,
    others: sp.csr_matrix,
    *,
    star: bool = True,
    permutations: int = 0,
    correction: str = "fdr_bh",
    alternative: str = "two-sided",
    rng: np.random.Generator | None = None,
    owner: str = "score_gistar",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """The array core of :func:`score_gistar`, for code that already has counts and weights.

    ``y`` are the cell counts in grid order, ``others`` the binary neighbour
    weights without the diagonal (:func:`intel._weights.cell_neighbours`).
    Returns ``(gi_star, p_value, p_adj, class codes into HOTSPOT_CLASSES,
    description of how the p-values were computed)``. Parameters are not
    validated here.
    """
    lag = others @ y
    z = _gistar_z(y, others, star=star, owner=owner, lag=lag)
    if permutations:
        rng = rng if rng is not None else np.random.default_rng()
        p = _tails_p(*_permutation_tails(y, others, permutations, rng), alternative)
        p_method = f"conditional randomisation (as esda), {permutations} permutations"
    else:
        # The z-score's null: the counts randomly relabelled over the cells. Its exact tail, because the
        # normal approximation is far too optimistic for sparse counts (false hot spots in uniform data).
        degree = np.diff(others.indptr)
        tails = _exact_sum_tails(y, degree + (1 if star else 0), lag + y if star else lag)
        if tails is None:
            p, p_method = _normal_p(z, alternative), "normal approximation of gi_star (counts are not whole numbers)"
        else:
            p = _tails_p(*tails, alternative)
            p_method = "exact tail of the neighbourhood sum under random relabelling of the counts"
    p_adj = _adjust(p, correction)
    return z, p, p_adj, _classify_gistar(z, p_adj), p_method


def _gistar_z(
    y: np.ndarray, others: sp.csr_matrix, *, star: bool, owner: str = "score_gistar", lag: np.ndarray | None = None
) -> np.ndarray:
    """Gi* (or Gi) z-scores with binary weights, as ``esda.G_Local(transform="B")`` computes them.

    ``others`` are the binary neighbour weights without the diagonal; for Gi*
    each cell's own count is added to its neighbourhood sum (self weight 1, as
    esda sets it for ``star=True`` on binary weights). ``lag`` is ``others @ y``
    when the caller has it already. esda's ``(G - E[G]) / sqrt(V[G])`` is
    written here as ``(sum - k * mean) / (sd * sqrt(k (N - k) / (N - 1)))``,
    the same number in fewer passes over the cells.
    """
    n = y.size
    lag = others @ y if lag is None else lag
    cardinality = np.diff(others.indptr).astype(np.float64)
    if star:
        # the cell is one of its own neighbours: the mean and variance are the grid's, plain numbers
        big_n, total, squares = float(n), float(y.sum()), float(y @ y)
        cardinality += 1.0
        sums = lag + y
    else:
        # Gi leaves the cell out, so each cell's mean and variance are over the other n - 1 cells
        big_n, total, squares = n - 1.0, y.sum() - y, (y @ y) - y * y
        sums = lag
    mean = total / big_n
    variance = squares / big_n - mean**2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (sums - cardinality * mean) / (
            np.sqrt(variance) * np.sqrt(cardinality * (big_n - cardinality) / (big_n - 1.0)))
    bad = ~np.isfinite(z)
    if bad.any():
        if np.all(np.asarray(variance) <= 0):
            warnings.warn(
                f"{owner}: every cell has the same count, so nothing can stand out; gi_star is 0 everywhere.",
                DataQualityWarning,
                stacklevel=3,
            )
        z[bad] = 0.0
    return z


# ---------------------------------------------------------------- local Moran


def score_moran(
    incidents: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame | None = None,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    neighbours: str | float = "queen",
    permutations: int = 0,
    correction: str = "fdr_bh",
    alternative: str = "two-sided",
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> gpd.GeoDataFrame:
    """Local Moran's I clusters (high-high, low-low) and outliers (high-low, low-high).

    Anselin's (1995) local indicator of spatial association on cell counts with
    row-standardised weights, tested by conditional randomisation.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents (points in a metric CRS); the ``weight`` column, if any, is used.
    grid : GeoDataFrame, optional
        A grid from :func:`intel.make_grid` or :func:`intel.as_grid`; built from
        ``cell_size_m`` and ``shape`` when omitted.
    cell_size_m : float, optional
        Cell size when the grid is built here (chosen from the data when omitted).
    shape : {"square", "hex"}
        Cell shape when the grid is built here.
    neighbours : {"queen", "rook"} or float
        Contiguity, or a distance band in metres between cell centres.
    permutations : int
        0 (the default, as in :func:`score_gistar`): exact p-values of the
        neighbours' sum under the conditional-randomisation null (draws with
        replacement from the grid's counts), which a correction over thousands
        of cells can let through. A positive number: conditional-randomisation
        permutations as esda (which defaults to 999); the smallest pseudo
        p-value is then 1/(permutations+1), 0.002 for 999, which a correction
        over thousands of cells rarely lets through (a warning says when it cannot);
        counts that are not whole numbers then use the normal approximation
        with the conditional-randomisation moments of Sokal et al. (1998).
    correction : {"fdr_bh", "bonferroni", "none"}
        Multiple-testing correction, applied once to ``p_value`` to give ``p_adj``.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` tests for clusters only (I above its expectation),
        ``"less"`` for outliers only.
    alpha : float
        Significance level on ``p_adj`` for the classes.
    random_state : int, Generator or None
        Seed of the permutations.

    Returns
    -------
    GeoDataFrame
        The grid's rows plus ``n``, ``moran_i`` (equal to esda's
        ``Moran_Local(...).Is``), ``p_value``, ``p_adj`` and ``moran_class``
        (``"high-high"``, ``"low-low"``, ``"high-low"``, ``"low-high"`` or
        ``"not significant"``).

    Notes
    -----
    Pseudo p-values follow :func:`score_gistar` (two-sided: twice the smaller
    tail, ties counted in both, capped at 1).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> scores = intel.score_moran(incidents, cell_size_m=250, permutations=0)
    >>> int((scores["moran_class"] == "high-high").sum()) > 0
    True
    """
    owner = "score_moran"
    neighbours = check_neighbours(neighbours, owner)
    _check_common(owner, shape=shape, correction=correction, alternative=alternative, permutations=permutations)
    check_number("alpha", alpha, owner, low=0, high=1, closed="neither")
    rng = check_random_state(random_state)
    grid, n, info = _cell_counts(incidents, grid, cell_size_m=cell_size_m, shape=shape, owner=owner)

    binary = cell_neighbours(grid, neighbours)
    w = row_standardise(binary)
    islands = int((np.diff(binary.indptr) == 0).sum())
    if islands:
        warnings.warn(
            f"{owner}: {islands} cells have no neighbours ({describe_neighbours(neighbours)}); their moran_i is 0 "
            "and they cannot be significant. Use a distance band (neighbours=<metres>) to connect them.",
            DataQualityWarning,
            stacklevel=2,
        )
    z, lag, moran_i = _moran_local(n, w)
    if not np.any(z):
        warnings.warn(
            f"{owner}: every cell has the same count, so nothing can stand out; moran_i is 0 everywhere.",
            DataQualityWarning,
            stacklevel=2,
        )
    if permutations:
        tails = _permutation_tails(n, binary, permutations, rng)
        p_method = f"conditional randomisation (as esda), {permutations} permutations"
    else:
        tails = _exact_sum_tails(n, np.diff(binary.indptr), binary @ n)
        p_method = "conditional randomisation, exact tail of the neighbours' sum (draws with replacement)"
    if tails is None:
        expected, variance = _moran_moments(z, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            zi = (moran_i - expected) / np.sqrt(variance)
        zi[~np.isfinite(zi)] = 0.0
        p = _normal_p(zi, alternative)
        p_method = "normal approximation, conditional-randomisation moments (Sokal et al. 1998)"
    else:
        ge, le = tails
        # I_i is z_i times the neighbours' mean: for z_i < 0 a larger neighbour sum is a smaller I_i
        up = np.where(z > 0, ge, np.where(z < 0, le, 1.0))
        down = np.where(z > 0, le, np.where(z < 0, ge, 1.0))
        p = _tails_p(up, down, alternative)
    p_adj = _adjust(p, correction)
    _warn_if_unreachable(owner, permutations, alternative, correction, p.size, level=alpha)
    labels = _classify_moran(z, lag, p_adj, alpha)

    out = _scores_frame(grid, {"n": n, "moran_i": moran_i, "p_value": p, "p_adj": p_adj, "moran_class": labels})
    extra = {
        "statistic": "local Moran's I (Anselin 1995)",
        "weights": f"{describe_neighbours(neighbours)}, row-standardised",
        "p_value_method": p_method,
        **_correction_record(correction, p),
        "alpha": alpha,
        "classes": _class_counts(out["moran_class"]),
        **info,
    }
    params = {"cell_size_m": cell_size_m, "shape": shape, "neighbours": neighbours, "permutations": permutations,
              "correction": correction, "alternative": alternative, "alpha": alpha, "grid": info["grid_source"]}
    seed = _seed_record(random_state) if permutations else None
    return attach(out, make_record(owner, params, automatic=info["automatic"], seed=seed, extra=extra))


def _moran_local(y: np.ndarray, w: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised values, their spatial lag and local Moran's I, as ``esda.Moran_Local`` computes them."""
    n = y.size
    sd = y.std()
    z = (y - y.mean()) / sd if sd > 0 else np.zeros(n)
    lag = w @ z
    den = (z * z).sum()
    moran_i = (n - 1) * z * lag / den if den > 0 else np.zeros(n)
    return z, lag, moran_i


def _moran_moments(z: np.ndarray, w: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Expectation and variance of I_i under conditional randomisation (esda's ``EIc``, ``VIc``)."""
    n = z.size
    m2 = (z * z).sum() / n
    wi = np.asarray(w.sum(axis=1)).ravel()
    wi2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = -(z**2 * wi) / ((n - 1) * m2)
        variance = (z / m2) ** 2 * (n / (n - 2)) * (wi2 - wi**2 / (n - 1)) * (m2 - z**2 / (n - 1))
    return expected, variance


# ---------------------------------------------------------------- change


def score_change(
    before: gpd.GeoDataFrame,
    after: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame | None = None,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    rate_ratio: float = 1.0,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
    alternative: str = "two-sided",
) -> gpd.GeoDataFrame:
    """Per-cell change in counts between two periods, with an exact test.

    For each cell the count after is tested against the count before,
    conditionally on their sum: under no change, ``n_after`` given
    ``n_before + n_after`` is binomial with probability
    ``rate_ratio / (1 + rate_ratio)`` (0.5 for periods of equal length).

    Parameters
    ----------
    before, after : GeoDataFrame
        Incidents of the two periods, or two CellScores with an ``n`` column on
        the same grid (e.g. from :func:`score_gistar`).
    grid : GeoDataFrame, optional
        Grid for incidents; built over both periods' points when omitted.
        Ignored (must be omitted) when CellScores are given.
    cell_size_m : float, optional
        Cell size when the grid is built here (chosen from the data when omitted).
    shape : {"square", "hex"}
        Cell shape when the grid is built here.
    rate_ratio : float
        Expected ratio of the after count to the before count when nothing
        changed, e.g. the ratio of the periods' lengths (2.0 when the after
        period is twice as long).
    alpha : float
        Significance level on ``p_adj`` for the classes.
    correction : {"fdr_bh", "bonferroni", "none"}
        Multiple-testing correction over the cells with at least one incident
        in either period (cells with none carry no information and get
        ``p_value = 1``), applied once to give ``p_adj``.
    alternative : {"two-sided", "greater", "less"}
        Test increases and decreases, increases only, or decreases only.

    Returns
    -------
    GeoDataFrame
        The grid's rows plus ``n_before``, ``n_after``, ``change_z``
        (``2 * (sqrt(n_after) - sqrt(rate_ratio * n_before))``, the Poisson
        square-root difference, which has standard deviation about
        ``sqrt(1 + rate_ratio)`` under no change), ``p_value`` (exact
        conditional binomial test; two-sided is twice the smaller tail, capped
        at 1), ``p_adj`` and ``change_class`` (``"significant increase"``,
        ``"significant decrease"`` or ``"no significant change"``).

    Notes
    -----
    Percent change is deliberately absent: from 1 to 3 incidents is +200% and
    means nothing; the test says whether a change is larger than chance.
    The counts are weighted counts rounded to whole incidents for the test.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> first = incidents[incidents["occurred_at"] < "2018-07-01"]
    >>> second = incidents[incidents["occurred_at"] >= "2018-07-01"]
    >>> change = intel.score_change(first, second, cell_size_m=500)
    >>> list(change.columns[-6:])
    ['n_before', 'n_after', 'change_z', 'p_value', 'p_adj', 'change_class']
    >>> change.attrs["provenance"]["correction"]
    'fdr_bh'
    """
    owner = "score_change"
    _check_common(owner, shape=shape, correction=correction, alternative=alternative, permutations=0)
    check_number("alpha", alpha, owner, low=0, high=1, closed="neither")
    check_number("rate_ratio", rate_ratio, owner, low=0, closed="neither")
    cell_scores = [_is_cell_scores(t) for t in (before, after)]
    if any(cell_scores):
        if not all(cell_scores):
            raise InputError(
                f"{owner}: give two incident tables or two CellScores (tables with an 'n' column), not one of each."
            )
        if grid is not None:
            raise InputError(f"{owner}: CellScores carry their grid; leave grid= out when passing them.")
        if not before.index.equals(after.index):
            raise GridError(
                f"{owner}: the two CellScores are on different grids ({len(before)} and {len(after)} cells, or "
                "different cell_ids); score both periods with the same grid= first."
            )
        grid = before.drop(columns=[c for c in before.columns if c not in ("geometry", "row", "col")])
        grid.attrs = {k: v for k, v in before.attrs.items() if k == "grid"}
        n_before = before["n"].to_numpy(np.float64)
        n_after = after["n"].to_numpy(np.float64)
        info = {"automatic": {}, "grid_source": "CellScores", "n_cells": len(grid),
                "n_incidents_before": float(n_before.sum()), "n_incidents_after": float(n_after.sum())}
    else:
        for name, table in (("before", before), ("after", after)):
            check_incidents(table, owner=f"{owner} ({name})")
        automatic, source = {}, "given"
        if grid is None:
            # one grid over both periods, so a cell that only the after period reaches still exists
            both = pd.concat([before.geometry, after.geometry.to_crs(before.crs)], ignore_index=True)
            grid = make_grid(gpd.GeoSeries(both, crs=before.crs), cell_size_m=cell_size_m, shape=shape)
            automatic, source = dict(grid.attrs["provenance"].get("automatic", {})), "built"
        counted, n_before, info_b = _cell_counts(before, grid, cell_size_m=None, shape=shape, owner=owner,
                                                 allow_empty=True)
        grid = counted.drop(columns="n", errors="ignore")
        _, n_after, info_a = _cell_counts(after, grid, cell_size_m=None, shape=shape, owner=owner, allow_empty=True)
        info = {"automatic": automatic, "grid_source": source, "n_cells": len(grid),
                "n_incidents_before": info_b["n_incidents"], "n_incidents_after": info_a["n_incidents"]}
    if n_before.sum() + n_after.sum() == 0:
        raise GridError(f"{owner}: neither period has an incident inside the grid; check the grid and the CRS.")

    b = np.rint(n_before).astype(np.int64)
    a = np.rint(n_after).astype(np.int64)
    total = a + b
    prob = rate_ratio / (1.0 + rate_ratio)
    upper = _st.binom.sf(a - 1, total, prob)  # P(X >= a)
    lower = _st.binom.cdf(a, total, prob)  # P(X <= a)
    if alternative == "greater":
        p = upper
    elif alternative == "less":
        p = lower
    else:
        p = np.minimum(1.0, 2.0 * np.minimum(upper, lower))
    tested = total > 0
    p = np.where(tested, p, 1.0)
    p_adj = np.ones_like(p)
    p_adj[tested] = _adjust(p[tested], correction)
    change_z = 2.0 * (np.sqrt(n_after) - np.sqrt(rate_ratio * n_before))
    expected_after = prob * total
    significant = p_adj < alpha
    labels = np.select([significant & (a > expected_after), significant & (a < expected_after)], [0, 1], default=2)

    out = _scores_frame(grid, {"n_before": n_before, "n_after": n_after, "change_z": change_z, "p_value": p,
                               "p_adj": p_adj, "change_class": labels})
    extra = {
        "statistic": "exact conditional binomial test of n_after given n_before + n_after",
        "null_probability": prob,
        "change_z": "2 * (sqrt(n_after) - sqrt(rate_ratio * n_before))",
        **_correction_record(correction, p[tested]),
        "alpha": alpha,
        "classes": _class_counts(out["change_class"]),
        **info,
    }
    params = {"cell_size_m": cell_size_m, "shape": shape, "rate_ratio": rate_ratio, "alpha": alpha,
              "correction": correction, "alternative": alternative, "grid": info["grid_source"]}
    return attach(out, make_record(owner, params, automatic=info["automatic"], extra=extra))


# ---------------------------------------------------------------- concentration


def concentration(
    scores_or_incidents: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame | None = None,
    *,
    cell_size_m: float | None = None,
    shape: str = "square",
    shares: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5),
) -> pd.DataFrame:
    """How concentrated incidents are: the share in the busiest cells, and the Gini of cell counts.

    Parameters
    ----------
    scores_or_incidents : GeoDataFrame
        CellScores with an ``n`` column (from any ``score_*`` verb), or incidents.
    grid : GeoDataFrame, optional
        Grid for incidents (built from ``cell_size_m`` and ``shape`` when omitted).
    cell_size_m : float, optional
        Cell size when the grid is built here (chosen from the data when omitted).
    shape : {"square", "hex"}
        Cell shape when the grid is built here.
    shares : tuple of float
        Shares of cells, each in (0, 1].

    Returns
    -------
    DataFrame
        One row per share: ``share_of_cells``, ``n_cells`` (the busiest
        ``ceil(share * cells)`` cells), ``n_incidents`` in them and
        ``share_of_incidents``. ``attrs["gini"]`` holds the Gini coefficient of
        the cell counts (0: every cell has the same count; near 1: all in one
        cell) and ``attrs["provenance"]`` how the table was made.

    Notes
    -----
    Every cell of the grid counts, empty ones included, so the answer depends on
    the grid's extent. With fewer incidents than cells, most cells are empty by
    chance alone and the Gini is high even for random points (Bernasco and
    Steenbeek 2017); compare against uniform data before reading much into it.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> table = intel.concentration(incidents, cell_size_m=500)
    >>> list(table.columns)
    ['share_of_cells', 'n_cells', 'n_incidents', 'share_of_incidents']
    >>> 0 < table.attrs["gini"] < 1
    True
    """
    owner = "concentration"
    check_option("shape", shape, owner, SHAPES)
    try:
        shares = tuple(float(s) for s in np.atleast_1d(shares))
    except (TypeError, ValueError):
        raise InputError(f"The 'shares' parameter of {owner} must be numbers in (0, 1]. Got {shares!r} instead.") from None
    if not shares or any(not (0 < s <= 1) for s in shares):
        raise InputError(f"The 'shares' parameter of {owner} must be numbers in (0, 1]. Got {shares!r} instead.")
    if _is_cell_scores(scores_or_incidents):
        if grid is not None:
            raise InputError(f"{owner}: CellScores carry their grid; leave grid= out when passing them.")
        n = scores_or_incidents["n"].to_numpy(np.float64)
        info = {"automatic": {}, "grid_source": "CellScores", "n_cells": n.size, "n_incidents": float(n.sum())}
    else:
        _, n, info = _cell_counts(scores_or_incidents, grid, cell_size_m=cell_size_m, shape=shape, owner=owner)
    if not np.all(np.isfinite(n)) or (n < 0).any():
        raise InputError(f"{owner}: the 'n' column must hold non-negative counts.")
    total = n.sum()
    if total <= 0:
        raise InputError(f"{owner}: there are no incidents to measure concentration on.")
    ordered = np.sort(n)[::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(ordered)])
    k = np.maximum(1, np.ceil(np.asarray(shares) * n.size - 1e-9).astype(np.int64))
    table = pd.DataFrame({
        "share_of_cells": shares,
        "n_cells": k,
        "n_incidents": cumulative[k],
        "share_of_incidents": cumulative[k] / total,
    })
    gini = _gini(n)
    table.attrs["gini"] = gini
    params = {"cell_size_m": cell_size_m, "shape": shape, "shares": list(shares), "grid": info["grid_source"]}
    extra = {"gini": gini, **{k: v for k, v in info.items() if k not in ("automatic",)}}
    return attach(table, make_record(owner, params, automatic=info["automatic"], extra=extra))


def _gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 for all equal)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * total))


# ---------------------------------------------------------------- shared pieces


def _check_common(owner: str, *, shape: str, correction: str, alternative: str, permutations: Any) -> None:
    check_option("shape", shape, owner, SHAPES)
    check_option("correction", correction, owner, CORRECTIONS)
    check_option("alternative", alternative, owner, ALTERNATIVES)
    check_number("permutations", permutations, owner, low=0, high=100_000, integer=True)


def _is_cell_scores(table: Any) -> bool:
    return isinstance(table, gpd.GeoDataFrame) and "n" in table.columns and table.index.name == "cell_id"


def _cell_counts(
    incidents: gpd.GeoDataFrame,
    grid: gpd.GeoDataFrame | None,
    *,
    cell_size_m: float | None,
    shape: str,
    owner: str,
    allow_empty: bool = False,
) -> tuple[gpd.GeoDataFrame, np.ndarray, dict[str, Any]]:
    """Counts per cell through :func:`intel.score_counts`, and what the provenance should say about them.

    Returns the counts table (the grid's rows plus ``n``, its history kept), the
    counts, and the grid source, automatic choices (cell size, CRS) and totals.
    """
    from .density import score_counts

    if allow_empty and grid is not None and isinstance(incidents, gpd.GeoDataFrame) and len(incidents) == 0:
        n = np.zeros(len(grid))
        return grid, n, {"automatic": {}, "grid_source": "given", "n_cells": len(grid), "n_incidents": 0.0,
                         "n_outside_grid": 0.0}
    cells = score_counts(incidents, grid, cell_size_m=cell_size_m, shape=shape)
    if len(cells) < _MIN_CELLS:
        raise GridError(f"{owner}: the grid has {len(cells)} cells; hot spot statistics need at least {_MIN_CELLS}. "
                        "Use a smaller cell_size_m.")
    record = cells.attrs["provenance"]
    n = cells["n"].to_numpy(dtype=np.float64)
    info = {"automatic": dict(record.get("automatic", {})), "grid_source": "built" if grid is None else "given",
            "n_cells": len(cells), "n_incidents": float(n.sum()), "n_outside_grid": record.get("weight_outside_grid", 0.0)}
    return cells, n, info


def _scores_frame(grid: gpd.GeoDataFrame, columns: dict[str, Any]) -> gpd.GeoDataFrame:
    """The grid's rows plus ``columns``; class columns arrive as integer codes into their fixed labels."""
    out = grid.copy()
    for name, values in columns.items():
        if name.endswith("_class"):
            values = pd.Categorical.from_codes(values, categories=list(_CLASS_LABELS[name]))
        out[name] = values
    return out


def _normal_p(z: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "greater":
        return _st.norm.sf(z)
    if alternative == "less":
        return _st.norm.cdf(z)
    return np.minimum(1.0, 2.0 * _st.norm.sf(np.abs(z)))


def _tails_p(p_ge: np.ndarray, p_le: np.ndarray, alternative: str) -> np.ndarray:
    """p-values from the tail probabilities of a statistic at least / at most as large as observed."""
    if alternative == "greater":
        return p_ge
    if alternative == "less":
        return p_le
    # Twice the smaller tail. Ties count in both tails: esda's folded p_sim counts them only in the
    # upper one, which makes a cell whose neighbours are all empty a "significant" cold spot.
    return np.minimum(1.0, 2.0 * np.minimum(p_ge, p_le))


def _adjust(p: np.ndarray, correction: str) -> np.ndarray:
    """Multiple-testing correction of ``p`` (all tests of one family)."""
    m = p.size
    if m == 0 or correction == "none":
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(1.0, p * m)
    # Benjamini-Hochberg step-up: p_(k) * m / k, made monotone from the largest p down. p-values of 1
    # (most cells, on sparse grids) take the last ranks and stay 1, so only the others are sorted.
    out = np.ones(m)
    below = np.flatnonzero(p < 1.0)
    order = below[np.argsort(p[below])]  # ties end up with equal adjusted values whatever their order
    ranked = p[order] * m / np.arange(1, order.size + 1)
    out[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return out


def _warn_if_unreachable(owner: str, permutations: int, alternative: str, correction: str, m: int, *, level: float) -> None:
    """Warn when pseudo p-values are too coarse for the correction to let any single cell through."""
    if not permutations or correction == "none":
        return
    smallest = (2.0 if alternative == "two-sided" else 1.0) / (permutations + 1)
    needed = int(np.ceil(smallest * m / level - 1e-12))
    if needed <= 1:
        return
    how = ("no cell can be significant" if correction == "bonferroni"
           else f"a cell is significant only when at least {needed} cells all reach that smallest p-value")
    warnings.warn(
        f"{owner}: with {permutations} permutations the smallest p-value is {smallest:.4g}; after the {correction} "
        f"correction over {m} cells at {level:g}, {how}. Use permutations=0 for exact p-values, or many more "
        "permutations.",
        UserWarning,
        stacklevel=3,
    )


def _correction_record(correction: str, p: np.ndarray) -> dict[str, Any]:
    return {"correction": correction, "correction_applied_to": "p_value", "correction_result": "p_adj",
            "n_tests": int(p.size)}


def _classify_gistar(z: np.ndarray, p_adj: np.ndarray) -> np.ndarray:
    """Codes into HOTSPOT_CLASSES: 0-2 hot (99, 95, 90%), 3 not significant, 4-6 cold (90, 95, 99%)."""
    level = np.full(z.size, 3, dtype=np.int8)  # index into _LEVELS, 3 = none reached
    for k in reversed(range(len(_LEVELS))):
        level[p_adj < _LEVELS[k][0]] = k
    reached = level < 3
    return np.where(reached & (z > 0), level, np.where(reached & (z < 0), 6 - level, 3)).astype(np.int8)


def _classify_moran(z: np.ndarray, lag: np.ndarray, p_adj: np.ndarray, alpha: float) -> np.ndarray:
    """Codes into MORAN_CLASSES."""
    high, high_lag = z > 0, lag > 0
    quadrant = np.select([high & high_lag, ~high & ~high_lag, high & ~high_lag], [0, 1, 2], default=3)
    return np.where(p_adj < alpha, quadrant, 4).astype(np.int8)


def _class_counts(labels: pd.Series) -> dict[str, int]:
    codes = np.asarray(labels.cat.codes)
    counts = np.bincount(codes, minlength=len(labels.cat.categories))
    return {label: int(c) for label, c in zip(labels.cat.categories, counts)}


def _seed_record(random_state: Any) -> Any:
    return "Generator" if isinstance(random_state, np.random.Generator) else random_state


# ---------------------------------------------------------------- conditional randomisation


def _permutation_tails(
    y: np.ndarray, others: sp.csr_matrix, permutations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional randomisation as in esda: P(random neighbour sum >= / <= observed), Monte Carlo.

    A cell's own count stays; its ``k`` neighbours' counts are replaced by ``k``
    counts of other cells drawn at random without replacement. ``others`` are the
    binary weights without the diagonal. Tails are ``(count + 1) / (P + 1)``.
    """
    others = sp.csr_matrix(others)
    table = _permutation_table(y.size, int(np.diff(others.indptr).max(initial=0)), permutations, rng)
    tol = 1e-9 * max(1.0, float(np.abs(y).max(initial=0.0)))
    ge, le = _crand_sums(y, others.indptr, others.indices, table, tol)
    return (ge + 1.0) / (permutations + 1.0), (le + 1.0) / (permutations + 1.0)


def _exact_sum_tails(y: np.ndarray, draws: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """P(S >= observed) and P(S <= observed), S the sum of ``draws`` counts drawn at random from the grid's counts.

    Exact for draws with replacement (the k-fold convolution of the counts'
    distribution); without replacement, as in a permutation, differs by
    O(draws / n_cells). Returns ``None`` when the counts are not whole numbers
    or too large to convolve.
    """
    counts = np.rint(y)
    most = int(draws.max(initial=0))
    top = int(counts.max(initial=0))
    if not np.array_equal(counts, y) or counts.min(initial=0.0) < 0 or top * most > _MAX_EXACT_SUM:
        return None
    pmf = np.bincount(counts.astype(np.int64), minlength=top + 1) / counts.size
    # the k-fold convolution of the counts' distribution, as a power of its Fourier transform: absolute
    # error about 1e-15, far below any p-value a correction over a grid can call significant
    size = sp_fft.next_fast_len(most * top + 1, real=True)
    transform = sp_fft.rfft(pmf, size)
    observed = np.rint(observed).astype(np.int64)
    p_ge, p_le = np.ones(y.size), np.ones(y.size)
    for k in np.flatnonzero(np.bincount(draws)[1:]) + 1:  # the neighbourhood sizes present (no sort)
        cells = draws == k
        dist = np.clip(sp_fft.irfft(transform**k, size)[: k * top + 1], 0.0, None)
        at_most = np.minimum(np.cumsum(dist), 1.0)
        at_least = np.minimum(np.cumsum(dist[::-1])[::-1], 1.0)
        p_ge[cells], p_le[cells] = at_least[observed[cells]], at_most[observed[cells]]
    return p_ge, p_le


def _permutation_table(n: int, max_neighbours: int, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Random draws of ``max_neighbours`` distinct cells out of the ``n - 1`` others, one row per permutation.

    As in esda, the same draws serve every cell: position ``j >= i`` stands for
    cell ``j + 1``, so a cell never draws itself.
    """
    size = min(max_neighbours, n - 1)
    table = np.empty((permutations, max(size, 1)), dtype=np.int32)
    for k in range(permutations):
        table[k, :size] = rng.choice(n - 1, size=size, replace=False)
    return table


def _crand_sums(
    y: np.ndarray, indptr: np.ndarray, indices: np.ndarray, table: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """How many permuted neighbour sums are >= and <= the observed one, for every cell.

    Row ``p`` of ``table`` holds draws among the ``n - 1`` other cells: for cell
    ``i`` a draw ``j`` stands for cell ``j`` when ``j < i`` and ``j + 1`` otherwise
    (esda's convention); a cell with ``k`` neighbours uses the first ``k`` draws.
    Comparing sums of counts (not statistics derived from them) keeps ties exact
    for whole-number counts; ``tol`` absorbs rounding for fractional ones.
    """
    flat = table.ravel()
    order = np.argsort(flat, kind="stable")
    width = table.shape[1]
    return _crand_sweep(np.ascontiguousarray(y, dtype=np.float64), indptr, indices, table,
                        flat[order].astype(np.int64), (order // width).astype(np.int64),
                        (order % width).astype(np.int64), tol, min(y.size, 4 * numba.get_num_threads()))


@numba.njit(parallel=True, cache=True, nogil=True)
def _crand_sweep(y, indptr, indices, table, event_draw, event_row, event_col, tol, n_chunks):  # pragma: no cover
    # Cells are swept in order. Between cell i - 1 and cell i only the draws equal to i - 1 change
    # meaning (from cell i to cell i - 1), so the running sums of every permutation are updated at
    # those few events instead of re-gathered for every cell: P * k random reads per cell become a
    # sequential scan of P sums. Chunks of cells run in parallel, each starting from scratch.
    n = y.shape[0]
    permutations, width = table.shape
    ge = np.zeros(n, dtype=np.int64)
    le = np.zeros(n, dtype=np.int64)
    for c in numba.prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        # running[k, p]: sum of the first k draws of permutation p, as cell lo reads them
        running = np.zeros((width + 1, permutations))
        for p in range(permutations):
            for m in range(width):
                j = table[p, m]
                running[m + 1, p] = running[m, p] + (y[j] if j < lo else y[j + 1])
        e = np.searchsorted(event_draw, lo)  # first event with draw >= lo
        for i in range(lo, hi):
            if i > lo:
                while e < event_draw.shape[0] and event_draw[e] == i - 1:
                    j = event_draw[e]
                    delta = y[j] - y[j + 1]
                    p = event_row[e]
                    for k in range(event_col[e] + 1, width + 1):
                        running[k, p] += delta
                    e += 1
            observed = 0.0
            k = 0
            for t in range(indptr[i], indptr[i + 1]):
                j = indices[t]
                if j != i:
                    observed += y[j]
                    k += 1
            at_least = 0
            at_most = 0
            sums = running[k]
            for p in range(permutations):
                if sums[p] >= observed - tol:
                    at_least += 1
                if sums[p] <= observed + tol:
                    at_most += 1
            ge[i] = at_least
            le[i] = at_most
    return ge, le
