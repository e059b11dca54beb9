"""locate_posts: where to station units so that most risk is reachable within the response time.

This is the maximal covering location problem (Church & ReVelle 1974): choose
``n_posts`` candidate sites maximising the risk of the cells within ``response_minutes``
of travel. It is solved exactly as an integer programme (the model of spopt's ``MCLP``,
built sparsely) with the CBC solver that comes with PuLP. When PuLP/CBC is not
available or does not reach the optimum in time, a greedy heuristic takes over: it adds, one at a time,
the site covering the most risk not yet covered; coverage is submodular, so the greedy
answer covers at least (1 - 1/e), about 63%, of the optimum (Nemhauser, Wolsey &
Fisher 1978).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from .._provenance import announce, attach, make_record
from .._validation import check_number, check_option
from ..exceptions import InputError
from ._common import cell_centres, check_cells, numeric_column
from ._routes import DISTANCES

__all__ = ["locate_posts"]

SOLVERS = ("mclp", "greedy")
MAX_CELL_CANDIDATES = 2_000  # default sites when candidates=None: cell centroids, thinned above this
MAX_EXACT_PAIRS = 2_000_000  # (cell, site) pairs within reach beyond which the integer programme is not tried


def locate_posts(
    scores: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | None,
    n_posts: int,
    *,
    response_minutes: float = 5.0,
    speed_kmh: float = 30.0,
    existing: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    distance: str = "manhattan",
    risk_column: str | None = None,
    solver: str = "mclp",
    time_limit_s: float = 60.0,
) -> gpd.GeoDataFrame:
    """Choose post locations covering the most risk within the response time (maximal covering).

    Parameters
    ----------
    scores : GeoDataFrame
        CellScores with ``risk`` (or ``n``); each cell's risk sits at its centroid.
    candidates : GeoDataFrame or GeoSeries of points, or None
        Possible post sites (stations, intersections, car parks). ``None``: the cell
        centroids (above 2,000 cells, one per square of a coarser lattice; announced
        and recorded).
    n_posts : int
        Number of posts to choose.
    response_minutes : float
        A cell is covered by a post when travel between them takes at most this.
    speed_kmh : float
        Travel speed: coverage radius = ``speed_kmh x response_minutes``.
    existing : GeoDataFrame or GeoSeries of points, optional
        Current posts, whose coverage is reported alongside.
    distance : {"manhattan", "euclidean"}
        Travel distance between a post and a cell centroid (Manhattan approximates a
        street grid).
    risk_column : str, optional
        Column to cover; default ``risk``, else ``n``.
    solver : {"mclp", "greedy"}
        ``"mclp"``: the exact integer programme (PuLP CBC), falling back to the
        greedy heuristic (announced) when it cannot run, does not finish in
        ``time_limit_s`` or has more than 2 million (cell, site) pairs within reach;
        ``"greedy"``: the heuristic.
    time_limit_s : float
        Time limit handed to the CBC solver.

    Returns
    -------
    GeoDataFrame
        The chosen posts (rows of ``candidates``, same geometry) with ``post``
        (1..n_posts, in order of marginal coverage), ``covered_risk`` (risk first
        covered by this post, in that order) and ``candidate`` (the candidate's
        position). ``attrs["coverage"]`` holds ``chosen_share`` (share of all risk
        within reach of a chosen post), ``existing_share`` (same for the existing
        posts, or None), ``radius_m``, ``method`` and ``distance``.

    References
    ----------
    Church, R. & ReVelle, C. (1974). The maximal covering location problem. Papers of
    the Regional Science Association 32.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> scores = intel.score_counts(incidents, grid)
    >>> posts = intel.locate_posts(scores, None, 3, response_minutes=3)
    >>> len(posts), 0 < posts.attrs["coverage"]["chosen_share"] <= 1
    (3, True)
    """
    owner = "locate_posts"
    check_cells(scores, owner)
    check_number("n_posts", n_posts, owner, low=1, integer=True)
    check_number("response_minutes", response_minutes, owner, low=0, closed="neither")
    check_number("speed_kmh", speed_kmh, owner, low=0, closed="neither")
    check_number("time_limit_s", time_limit_s, owner, low=0, closed="neither")
    check_option("distance", distance, owner, DISTANCES)
    check_option("solver", solver, owner, SOLVERS)
    column = risk_column or ("risk" if "risk" in scores.columns else "n")
    risk = numeric_column(scores, column, owner, what="risk")
    demand = cell_centres(scores)
    automatic: dict[str, Any] = {} if risk_column else {"risk_column": {"value": column, "rule": "'risk' if present, else 'n'"}}
    cand_gdf, cand_xy = _points(candidates, scores, owner, "candidates")
    if candidates is None and len(cand_gdf) > MAX_CELL_CANDIDATES:
        cand_gdf, cand_xy, spacing = _thin_candidates(cand_gdf, cand_xy, scores)
        rule = (f"one cell centroid per {spacing:,.0f} m square (at most about {MAX_CELL_CANDIDATES:,} sites) instead of "
                "every cell; pass candidates= to choose")
        automatic["candidates"] = {"value": len(cand_gdf), "rule": rule}
        announce("%s: %d candidate sites: %s", owner, len(cand_gdf), rule)
    if n_posts > len(cand_xy):
        raise InputError(f"{owner}: n_posts={n_posts} but there are only {len(cand_xy)} candidate sites.")
    radius = speed_kmh * 1000.0 / 60.0 * response_minutes
    cover = coverage_matrix(demand, cand_xy, radius, distance)
    method = solver
    chosen = None
    if solver == "mclp" and cover[risk > 0].nnz > MAX_EXACT_PAIRS:
        solver_note = f"{cover[risk > 0].nnz:,} (cell, site) pairs within reach is too many for the exact solver"
        method = "greedy"
        announce("%s: %s; using the greedy heuristic (at least 63%% of the optimal coverage)", owner, solver_note)
    elif solver == "mclp":
        chosen, why = _solve_mclp(cover, risk, n_posts, time_limit_s)
        if chosen is None:
            method = "greedy"
            announce("%s: %s; using the greedy heuristic (at least 63%% of the optimal coverage)", owner, why)
    if chosen is None:
        chosen = greedy_cover(cover, risk, n_posts)
    chosen = _order_by_gain(cover, risk, chosen)
    total = risk.sum()
    covered_by = cover[:, chosen]
    gains = _marginal_gains(covered_by, risk)
    posts = cand_gdf.iloc[chosen].copy()
    posts.attrs = {}
    posts["post"] = np.arange(1, len(chosen) + 1)
    posts["covered_risk"] = gains
    posts["candidate"] = chosen
    existing_share = None
    if existing is not None:
        _, ex_xy = _points(existing, scores, owner, "existing")
        existing_share = _share(coverage_matrix(demand, ex_xy, radius, distance), risk)
    posts.attrs["coverage"] = {
        "chosen_share": _share(covered_by, risk) if total > 0 else 0.0,
        "existing_share": existing_share, "radius_m": radius, "risk_column": column,
        "method": "exact integer programme (maximal covering, PuLP CBC)" if method == "mclp" else "greedy (>= 1 - 1/e of optimum)",
        "distance": distance,
    }
    params = dict(n_posts=n_posts, response_minutes=response_minutes, speed_kmh=speed_kmh, distance=distance,
                  risk_column=risk_column, solver=solver, existing=existing is not None, candidates=candidates is not None)
    return attach(posts, make_record(owner, params, automatic=automatic, extra={"n_candidates": len(cand_xy)}))


def coverage_matrix(demand: np.ndarray, sites: np.ndarray, radius: float, distance: str) -> sp.csc_matrix:
    """Boolean sparse matrix: cell i (row) is within ``radius`` of site j (column)."""
    from scipy.spatial import cKDTree

    p = 1 if distance == "manhattan" else 2
    lists = cKDTree(sites).query_ball_point(demand, r=radius * (1 + 1e-12), p=p)
    rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    cols = np.fromiter((j for x in lists for j in x), dtype=np.int64, count=rows.size)
    return sp.csc_matrix((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(len(demand), len(sites)))


def greedy_cover(cover: sp.csc_matrix, risk: np.ndarray, k: int) -> list[int]:
    """Add the site covering the most not-yet-covered risk, ``k`` times (ties: lowest index)."""
    covered = np.zeros(cover.shape[0], dtype=bool)
    chosen: list[int] = []
    cover = cover.tocsc()
    for _ in range(k):
        left = np.where(covered, 0.0, risk)
        gain = cover.T.astype(np.float64) @ left
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        chosen.append(j)
        covered |= cover[:, j].toarray().ravel()
    return chosen


def _solve_mclp(cover: sp.csc_matrix, risk: np.ndarray, k: int, time_limit_s: float) -> tuple[list[int] | None, str]:
    """Church & ReVelle's integer programme, written sparsely.

    spopt's ``MCLP`` builds the same model from a dense cost matrix, one PuLP term per
    (cell, site) pair, which takes seconds at a few hundred cells; here only the pairs
    within reach enter, and cells with no risk are left out (they add nothing to the
    objective). The tests check the optimum against spopt's on small problems.
    """
    try:
        import pulp
    except ImportError as exc:  # pragma: no cover - pulp comes with spopt, a dependency
        return None, f"PuLP is unavailable ({exc})"
    with warnings.catch_warnings():
        # PuLP 3.3 announces that the bundled CBC moves to an extra in PuLP 4; it is still the one installed
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s)
    if not solver.available():  # pragma: no cover - CBC ships with pulp
        return None, "the CBC solver is unavailable"
    new_api = hasattr(pulp.LpProblem, "add_variable")
    csr = cover.tocsr()
    demand = [i for i in np.flatnonzero(risk > 0) if csr.indptr[i + 1] > csr.indptr[i]]
    sites = np.unique(csr[demand].indices) if demand else np.array([], dtype=np.int64)
    if len(sites) <= k:
        extra = [j for j in range(cover.shape[1]) if j not in set(sites.tolist())][: k - len(sites)]
        return sorted(sites.tolist() + extra), ""
    problem = pulp.LpProblem("mclp", pulp.LpMaximize)
    variable = problem.add_variable if new_api else pulp.LpVariable  # PuLP >= 3.3 attaches variables to the model
    x = {int(j): variable(f"x_{j}", 0, 1, cat="Binary") for j in sites}
    # y (covered) may be continuous: with binary x the optimum puts it at 0 or 1 anyway
    y = {int(i): variable(f"y_{i}", 0, 1) for i in demand}
    problem += pulp.lpSum(float(risk[i]) * y[i] for i in demand)
    for i in demand:
        problem += y[i] <= pulp.lpSum(x[int(j)] for j in csr.indices[csr.indptr[i]:csr.indptr[i + 1]])
    problem += pulp.lpSum(x.values()) == k
    status = problem.solve(solver)
    if pulp.LpStatus[status] != "Optimal":
        return None, f"the solver stopped with status {pulp.LpStatus[status]!r}"
    chosen = [j for j, var in x.items() if (var.value() or 0) > 0.5]
    if len(chosen) != k:
        return None, f"the solver returned {len(chosen)} posts instead of {k}"
    return sorted(chosen), ""


def _order_by_gain(cover, risk, chosen: list[int]) -> list[int]:
    """The chosen sites, re-ordered greedily so that ``covered_risk`` reads as marginal gains."""
    sub = cover[:, chosen]
    order = greedy_cover(sub, risk, len(chosen))
    return [chosen[j] for j in order]


def _marginal_gains(covered_by: sp.csc_matrix, risk: np.ndarray) -> np.ndarray:
    covered = np.zeros(covered_by.shape[0], dtype=bool)
    gains = []
    for j in range(covered_by.shape[1]):
        col = covered_by[:, j].toarray().ravel()
        gains.append(float(risk[col & ~covered].sum()))
        covered |= col
    return np.array(gains)


def _share(cover: sp.spmatrix, risk: np.ndarray) -> float:
    total = risk.sum()
    if total <= 0:
        return 0.0
    reached = np.asarray(cover.sum(axis=1)).ravel() > 0
    return float(risk[reached].sum() / total)


def _thin_candidates(gdf: gpd.GeoDataFrame, xy: np.ndarray, scores: gpd.GeoDataFrame):
    """One cell centroid per square of a coarser lattice: the one nearest the square's centre."""
    x0, y0, x1, y1 = scores.total_bounds
    spacing = math.sqrt(max((x1 - x0) * (y1 - y0), 1.0) / MAX_CELL_CANDIDATES)
    while True:
        ix, iy = np.floor((xy[:, 0] - x0) / spacing), np.floor((xy[:, 1] - y0) / spacing)
        key = ix * 1e7 + iy
        if np.unique(key).size <= MAX_CELL_CANDIDATES:
            break
        spacing *= 1.2
    d = np.hypot(xy[:, 0] - (x0 + (ix + 0.5) * spacing), xy[:, 1] - (y0 + (iy + 0.5) * spacing))
    order = np.lexsort((np.arange(key.size), d, key))
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
    first.sort()
    return gdf.iloc[first], xy[first], spacing


def _points(layer: Any, scores: gpd.GeoDataFrame, owner: str, name: str) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    if layer is None:
        c = shapely.centroid(scores.geometry.values)
        gdf = gpd.GeoDataFrame({"cell_id": scores.index.astype(str)}, geometry=c, crs=scores.crs)
    elif isinstance(layer, (gpd.GeoDataFrame, gpd.GeoSeries)):
        gdf = layer if isinstance(layer, gpd.GeoDataFrame) else layer.to_frame("geometry")
        if gdf.crs is None:
            raise InputError(f"{owner}: {name} have no CRS; set it with .set_crs(...).")
        if not gdf.crs.equals(scores.crs):
            gdf = gdf.to_crs(scores.crs)
        if len(gdf) == 0:
            raise InputError(f"{owner}: {name} has no rows.")
        if set(gdf.geom_type.unique()) - {"Point"}:
            gdf = gdf.set_geometry(gdf.geometry.representative_point())
    else:
        raise InputError(f"{owner}: {name} must be a GeoDataFrame/GeoSeries of points or None; got {type(layer).__name__}.")
    xy = np.column_stack([shapely.get_x(gdf.geometry.values), shapely.get_y(gdf.geometry.values)])
    return gdf, xy
