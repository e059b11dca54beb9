"""plan_routes: the order in which each unit visits its places, with a travel-time estimate.

Small rounds (up to ``EXACT_MAX`` places) are solved exactly (Held-Karp dynamic
programming); larger ones start from the nearest-neighbour tour and improve it with
2-opt (reverse a stretch) and Or-opt (move a run of one to three places) until no
move shortens it. Every move is accepted only if it shortens the route, so the result
is never longer than the nearest-neighbour tour.
"""

from __future__ import annotations

import itertools
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._provenance import attach, make_record
from .._validation import check_number, check_option
from ._common import check_plan, point_xy

__all__ = ["plan_routes"]

DISTANCES = ("manhattan", "euclidean")
EXACT_MAX = 9
_EPS = 1e-9


def plan_routes(
    plan: gpd.GeoDataFrame,
    *,
    start: Any,
    speed_kmh: float = 30.0,
    distance: str = "manhattan",
    return_to_start: bool = True,
) -> gpd.GeoDataFrame:
    """Visiting order of each unit's places in each shift, from a start point, with travel times.

    Parameters
    ----------
    plan : GeoDataFrame
        A PatrolPlan from :func:`recommend_patrols` (its ``unit`` column says which
        unit visits which place).
    start : tuple, shapely Point or GeoDataFrame
        Where every unit sets out (the station): ``(x, y)`` in the plan's CRS, a
        shapely Point in it, or a one-row GeoDataFrame (reprojected if needed).
    speed_kmh : float
        Average travel speed, for the time estimate.
    distance : {"manhattan", "euclidean"}
        ``"manhattan"`` (|dx| + |dy|, default) approximates travel on a street grid
        such as Chicago's; ``"euclidean"`` is the straight line (a lower bound on
        any street route). Places are represented by a point inside each.
    return_to_start : bool
        Close each round back at the start (a patrol loop) or end at the last place.

    Returns
    -------
    GeoDataFrame
        One row per leg: ``shift``, ``unit``, ``stop`` (1 = first place; the return
        leg, when closed, has a missing ``place_id``), ``place_id``, ``leg_m``,
        ``leg_minutes``, ``cumulative_minutes`` (travel only) and the leg as a
        LineString. ``attrs["routes"]`` summarises each round: ``distance_m``,
        ``travel_minutes``, ``visit_minutes`` (one visit to each place),
        ``round_minutes``, ``cycle_minutes`` (shift minutes / visits per place) and
        ``fits_cycle`` (whether one round fits in a cycle), and ``method`` ("exact"
        or "nearest neighbour + 2-opt + Or-opt").

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=250)
    >>> scores = intel.score_counts(incidents, grid)
    >>> plan = intel.recommend_patrols(scores, units=2, random_state=0)
    >>> x0, y0, x1, y1 = scores.total_bounds
    >>> routes = intel.plan_routes(plan, start=((x0 + x1) / 2, (y0 + y1) / 2))
    >>> sorted(routes["unit"].unique().tolist())
    [1, 2]
    """
    owner = "plan_routes"
    check_plan(plan, owner)
    check_number("speed_kmh", speed_kmh, owner, low=0, closed="neither")
    check_option("distance", distance, owner, DISTANCES)
    x0, y0 = point_xy(start, plan.crs, owner, "start")
    metres_per_minute = speed_kmh * 1000.0 / 60.0
    shift_minutes = {s["shift"]: s["minutes"] for s in plan.attrs.get("patrol", {}).get("shifts", [])}
    units = plan["unit"] if "unit" in plan.columns else pd.Series(1, index=plan.index)
    pts = shapely.point_on_surface(plan.geometry.values)
    px, py = shapely.get_x(pts), shapely.get_y(pts)
    rows: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    for (shift, unit), idx in plan.groupby([plan["shift"], units], sort=False).indices.items():
        xy = np.vstack([[x0, y0], np.column_stack([px[idx], py[idx]])])
        d = distance_matrix(xy, distance)
        order, method = solve_route(d, closed=return_to_start)
        stops = [0, *order] + ([0] if return_to_start else [])
        cumulative = 0.0
        for k in range(1, len(stops)):
            a, b = stops[k - 1], stops[k]
            leg = float(d[a, b])
            cumulative += leg / metres_per_minute
            rows.append({
                "shift": shift, "unit": int(unit), "stop": k,
                "place_id": plan["place_id"].iloc[idx[b - 1]] if b > 0 else None,
                "leg_m": leg, "leg_minutes": leg / metres_per_minute, "cumulative_minutes": cumulative,
                "geometry": shapely.LineString([xy[a], xy[b]]),
            })
        length = route_length(order, d, closed=return_to_start)
        visit = float((plan["minutes"] / plan["visits"].clip(lower=1)).iloc[idx].sum()) if "visits" in plan.columns else 0.0
        visits = int(plan["visits"].iloc[idx].max()) if "visits" in plan.columns else 1
        cycle = shift_minutes[shift] / visits if shift in shift_minutes else None
        travel = length / metres_per_minute
        summaries.append({
            "shift": shift, "unit": int(unit), "places": len(idx), "distance_m": length, "travel_minutes": travel,
            "visit_minutes": visit, "round_minutes": travel + visit, "cycle_minutes": cycle,
            "fits_cycle": None if cycle is None else bool(travel + visit <= cycle), "method": method,
        })
    columns = ["shift", "unit", "stop", "place_id", "leg_m", "leg_minutes", "cumulative_minutes", "geometry"]
    frame = pd.DataFrame(rows, columns=columns)
    routes = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(frame["geometry"], crs=plan.crs) if rows else gpd.GeoSeries([], crs=plan.crs), crs=plan.crs)
    routes.attrs["routes"] = summaries
    params = {"start": [x0, y0], "speed_kmh": speed_kmh, "distance": distance, "return_to_start": return_to_start}
    return attach(routes, make_record(owner, params, extra={"n_routes": len(summaries)}))


# ---------------------------------------------------------------- the routing problem
# Node 0 is the start; a route is the order of the other nodes (1..m).


def distance_matrix(xy: np.ndarray, distance: str) -> np.ndarray:
    """Pairwise distances between the rows of ``xy`` (Manhattan or Euclidean)."""
    dx = np.abs(xy[:, None, 0] - xy[None, :, 0])
    dy = np.abs(xy[:, None, 1] - xy[None, :, 1])
    return dx + dy if distance == "manhattan" else np.hypot(dx, dy)


def route_length(order: list[int], d: np.ndarray, *, closed: bool) -> float:
    """Length of start -> order -> (start)."""
    if not order:
        return 0.0
    seq = [0, *order] + ([0] if closed else [])
    return float(sum(d[a, b] for a, b in zip(seq[:-1], seq[1:])))


def solve_route(d: np.ndarray, *, closed: bool) -> tuple[list[int], str]:
    """Best order found for the places 1..m of ``d`` and the method used."""
    m = d.shape[0] - 1
    if m <= EXACT_MAX:
        return held_karp(d, closed=closed), "exact (Held-Karp)"
    order = nearest_neighbour(d)
    return improve(order, d, closed=closed), "nearest neighbour + 2-opt + Or-opt"


def nearest_neighbour(d: np.ndarray) -> list[int]:
    """Greedy order: from the start, always to the closest place not yet visited (ties: lowest index)."""
    m = d.shape[0] - 1
    left = set(range(1, m + 1))
    order, here = [], 0
    while left:
        nxt = min(left, key=lambda j: (d[here, j], j))
        order.append(nxt)
        left.remove(nxt)
        here = nxt
    return order


def improve(order: list[int], d: np.ndarray, *, closed: bool) -> list[int]:
    """2-opt and Or-opt moves until neither shortens the route."""
    order = list(order)
    while True:
        order, a = two_opt(order, d, closed=closed)
        order, b = or_opt(order, d, closed=closed)
        if not (a or b):
            return order


def two_opt(order: list[int], d: np.ndarray, *, closed: bool) -> tuple[list[int], bool]:
    """Reverse stretches of the route while that shortens it; returns the route and whether it changed."""
    seq = [0, *order]
    m = len(order)
    changed, improved = False, True
    while improved:
        improved = False
        for i in range(1, m):
            for j in range(i + 1, m + 1):
                a, b = seq[i - 1], seq[i]
                c = seq[j]
                if j < m:
                    e = seq[j + 1]
                    delta = d[a, c] + d[b, e] - d[a, b] - d[c, e]
                elif closed:
                    delta = d[a, c] + d[b, 0] - d[a, b] - d[c, 0]
                else:
                    delta = d[a, c] - d[a, b]
                if delta < -_EPS:
                    seq[i:j + 1] = seq[i:j + 1][::-1]
                    improved = changed = True
    return seq[1:], changed


def or_opt(order: list[int], d: np.ndarray, *, closed: bool) -> tuple[list[int], bool]:
    """Move runs of one to three places elsewhere (either way round) while that shortens the route."""
    best = route_length(order, d, closed=closed)
    changed = False
    improved = True
    while improved:
        improved = False
        m = len(order)
        for size in (1, 2, 3):
            for i in range(0, m - size + 1):
                run, rest = order[i:i + size], order[:i] + order[i + size:]
                for k in range(len(rest) + 1):
                    if k == i:
                        continue
                    for piece in (run, run[::-1]):
                        cand = rest[:k] + piece + rest[k:]
                        length = route_length(cand, d, closed=closed)
                        if length < best - _EPS:
                            order, best, improved, changed = cand, length, True, True
                            break
                    if improved:
                        break
                if improved:
                    break
            if improved:
                break
    return order, changed


def held_karp(d: np.ndarray, *, closed: bool) -> list[int]:
    """Exact shortest route from the start through every place (dynamic programming over subsets)."""
    m = d.shape[0] - 1
    if m == 0:
        return []
    if m == 1:
        return [1]
    full = (1 << m) - 1
    cost = {(1 << (j - 1), j): (d[0, j], 0) for j in range(1, m + 1)}
    for size in range(2, m + 1):
        for subset in itertools.combinations(range(1, m + 1), size):
            mask = 0
            for j in subset:
                mask |= 1 << (j - 1)
            for j in subset:
                prev_mask = mask & ~(1 << (j - 1))
                cost[(mask, j)] = min((cost[(prev_mask, k)][0] + d[k, j], k) for k in subset if k != j)
    end = min(range(1, m + 1), key=lambda j: (cost[(full, j)][0] + (d[j, 0] if closed else 0.0), j))
    order, mask, j = [], full, end
    while j:
        order.append(j)
        _, k = cost[(mask, j)]
        mask &= ~(1 << (j - 1))
        j = k
    return order[::-1]
