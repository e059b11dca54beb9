"""plan_routes (exact and heuristic routing) and locate_posts (maximal covering)."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import intel
from intel.exceptions import InputError
from intel.patrol import locate_posts, plan_routes, recommend_patrols
from intel.patrol._posts import coverage_matrix, greedy_cover
from intel.patrol._routes import (
    distance_matrix,
    held_karp,
    improve,
    nearest_neighbour,
    route_length,
    solve_route,
    two_opt,
)


@pytest.fixture(scope="module")
def scores() -> gpd.GeoDataFrame:
    incidents = intel.make_synthetic(n_background=1500, hotspots=5, random_state=11)
    grid = intel.make_grid(incidents, cell_size_m=250)
    return intel.score_counts(incidents, grid)


def _brute_force(d: np.ndarray, closed: bool) -> float:
    m = d.shape[0] - 1
    return min(route_length(list(p), d, closed=closed) for p in itertools.permutations(range(1, m + 1)))


# ---------------------------------------------------------------- routing internals


@pytest.mark.parametrize("closed", [True, False])
@pytest.mark.parametrize("distance", ["euclidean", "manhattan"])
def test_exact_solver_matches_brute_force_on_small_cases(closed, distance):
    rng = np.random.default_rng(0)
    for m in range(1, 8):
        for _ in range(4):
            d = distance_matrix(rng.uniform(0, 5000, (m + 1, 2)), distance)
            order = held_karp(d, closed=closed)
            assert sorted(order) == list(range(1, m + 1))
            assert route_length(order, d, closed=closed) == pytest.approx(_brute_force(d, closed))


@pytest.mark.parametrize("closed", [True, False])
def test_two_opt_never_lengthens_the_nearest_neighbour_route(closed):
    rng = np.random.default_rng(1)
    improved = 0
    for m in (5, 10, 20, 30):
        for _ in range(8):
            d = distance_matrix(rng.uniform(0, 5000, (m + 1, 2)), "euclidean")
            nn = nearest_neighbour(d)
            opt, _ = two_opt(nn, d, closed=closed)
            full = improve(nn, d, closed=closed)
            assert sorted(opt) == sorted(full) == list(range(1, m + 1))
            base = route_length(nn, d, closed=closed)
            assert route_length(opt, d, closed=closed) <= base + 1e-9
            assert route_length(full, d, closed=closed) <= route_length(opt, d, closed=closed) + 1e-9
            improved += route_length(full, d, closed=closed) < base - 1e-6
    assert improved > 16  # the moves do something on most random instances


def test_heuristic_is_close_to_the_optimum_on_small_cases():
    rng = np.random.default_rng(2)
    gaps = []
    for _ in range(30):
        d = distance_matrix(rng.uniform(0, 5000, (8, 2)), "euclidean")
        heuristic = route_length(improve(nearest_neighbour(d), d, closed=True), d, closed=True)
        gaps.append(heuristic / _brute_force(d, True) - 1)
    assert max(gaps) < 0.1 and np.mean(gaps) < 0.02


def test_large_rounds_use_the_heuristic():
    d = distance_matrix(np.random.default_rng(3).uniform(0, 5000, (15, 2)), "manhattan")
    order, method = solve_route(d, closed=True)
    assert sorted(order) == list(range(1, 15)) and "2-opt" in method


# ---------------------------------------------------------------- plan_routes


def test_routes_visit_each_units_places_once_from_the_start(scores):
    plan = recommend_patrols(scores, units=3, random_state=0)
    x0, y0, x1, y1 = scores.total_bounds
    station = ((x0 + x1) / 2, (y0 + y1) / 2)
    routes = plan_routes(plan, start=station, speed_kmh=30)
    for (shift, unit), part in routes.groupby(["shift", "unit"]):
        places = plan[(plan["shift"] == shift) & (plan["unit"] == unit)]["place_id"]
        visited = part["place_id"].dropna()
        assert sorted(visited) == sorted(places)
        assert pd.isna(part["place_id"].iloc[-1])  # closed round: back to the station
        first = part.iloc[0].geometry.coords[0]
        assert first == pytest.approx(station)
        assert part["leg_minutes"].to_numpy() == pytest.approx(part["leg_m"].to_numpy() / 500.0)
        assert part["cumulative_minutes"].iloc[-1] == pytest.approx(part["leg_minutes"].sum())
    summary = routes.attrs["routes"][0]
    assert summary["round_minutes"] == pytest.approx(summary["travel_minutes"] + summary["visit_minutes"])
    assert summary["cycle_minutes"] == 120
    assert summary["distance_m"] == pytest.approx(
        routes[(routes["shift"] == summary["shift"]) & (routes["unit"] == summary["unit"])]["leg_m"].sum())


def test_route_of_a_small_round_is_the_brute_force_optimum(scores):
    plan = recommend_patrols(scores, units=1, max_places=6, shifts=("08-16",), random_state=0)
    station = shapely.Point(scores.total_bounds[:2])
    routes = plan_routes(plan, start=station, distance="euclidean")
    pts = shapely.point_on_surface(plan.geometry.values)
    xy = np.vstack([[station.x, station.y], np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])])
    assert routes["leg_m"].sum() == pytest.approx(_brute_force(distance_matrix(xy, "euclidean"), True))
    open_route = plan_routes(plan, start=station, distance="euclidean", return_to_start=False)
    assert open_route["place_id"].notna().all()
    assert open_route["leg_m"].sum() == pytest.approx(_brute_force(distance_matrix(xy, "euclidean"), False))


def test_start_in_another_crs_is_reprojected(scores):
    plan = recommend_patrols(scores, units=1, max_places=3, random_state=0)
    x0, y0 = scores.total_bounds[:2]
    here = gpd.GeoDataFrame(geometry=[shapely.Point(x0, y0)], crs=scores.crs)
    a = plan_routes(plan, start=(x0, y0))
    b = plan_routes(plan, start=here.to_crs(4326))
    assert a["leg_m"].to_numpy() == pytest.approx(b["leg_m"].to_numpy(), abs=0.01)


def test_route_errors(scores):
    plan = recommend_patrols(scores, units=1, random_state=0)
    with pytest.raises(InputError, match="start"):
        plan_routes(plan, start="station")
    with pytest.raises(InputError, match="'distance' parameter"):
        plan_routes(plan, start=(0, 0), distance="road")
    with pytest.raises(InputError, match="speed_kmh"):
        plan_routes(plan, start=(0, 0), speed_kmh=0)
    with pytest.raises(InputError, match="PatrolPlan"):
        plan_routes(scores, start=(0, 0))


# ---------------------------------------------------------------- locate_posts


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # spopt builds its model with PuLP's pre-4.0 API
def test_exact_covering_matches_spopt_mclp(scores):
    pulp = pytest.importorskip("pulp")
    from spopt.locate import MCLP

    small = scores[scores["n"] > 0].iloc[::3]
    candidates = gpd.GeoDataFrame(geometry=small.geometry.centroid.iloc[::2].to_numpy(), crs=scores.crs)
    posts = locate_posts(small, candidates, 3, response_minutes=2, speed_kmh=30, distance="euclidean")
    demand = np.column_stack([small.geometry.centroid.x, small.geometry.centroid.y])
    sites = np.column_stack([candidates.geometry.x, candidates.geometry.y])
    cost = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    model = MCLP.from_cost_matrix(cost, small["n"].to_numpy(), service_radius=1000.0, p_facilities=3)
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    chosen = [j for j, v in enumerate(model.fac_vars) if v.value() > 0.5]
    spopt_covered = small["n"].to_numpy()[(cost[:, chosen] <= 1000.0).any(axis=1)].sum()
    ours = posts.attrs["coverage"]["chosen_share"] * small["n"].sum()
    assert ours == pytest.approx(spopt_covered)
    assert posts.attrs["coverage"]["radius_m"] == pytest.approx(1000.0)
    assert "exact" in posts.attrs["coverage"]["method"]


def test_greedy_covers_at_least_1_minus_1_over_e_of_the_optimum(scores):
    for k in (1, 2, 4):
        exact = locate_posts(scores, None, k, response_minutes=2)
        greedy = locate_posts(scores, None, k, response_minutes=2, solver="greedy")
        a, g = exact.attrs["coverage"]["chosen_share"], greedy.attrs["coverage"]["chosen_share"]
        assert g <= a + 1e-9
        assert g >= (1 - 1 / np.e) * a
        assert "greedy" in greedy.attrs["coverage"]["method"]


def test_posts_report_marginal_gains_and_existing_coverage(scores):
    posts = locate_posts(scores, None, 3, response_minutes=3,
                         existing=gpd.GeoSeries([shapely.Point(scores.total_bounds[:2])], crs=scores.crs))
    assert list(posts["post"]) == [1, 2, 3]
    assert posts["covered_risk"].is_monotonic_decreasing
    assert posts["covered_risk"].sum() == pytest.approx(posts.attrs["coverage"]["chosen_share"] * scores["n"].sum())
    existing = posts.attrs["coverage"]["existing_share"]
    assert 0 <= existing < posts.attrs["coverage"]["chosen_share"]


def test_coverage_matrix_uses_the_stated_distance():
    demand = np.array([[0.0, 0.0], [700.0, 700.0]])
    site = np.array([[0.0, 0.0]])
    assert coverage_matrix(demand, site, 1000.0, "euclidean").toarray().ravel().tolist() == [True, True]
    assert coverage_matrix(demand, site, 1000.0, "manhattan").toarray().ravel().tolist() == [True, False]
    cover = coverage_matrix(demand, np.array([[0.0, 0.0], [700.0, 700.0]]), 10.0, "euclidean")
    assert greedy_cover(cover, np.array([1.0, 5.0]), 1) == [1]


def test_post_errors(scores):
    with pytest.raises(InputError, match="n_posts"):
        locate_posts(scores, None, 0)
    with pytest.raises(InputError, match="only 1 candidate"):
        locate_posts(scores, gpd.GeoSeries([shapely.Point(0, 0)], crs=scores.crs), 2)
    with pytest.raises(InputError, match="'solver' parameter"):
        locate_posts(scores, None, 1, solver="magic")
    with pytest.raises(InputError, match="no CRS"):
        locate_posts(scores, gpd.GeoSeries([shapely.Point(0, 0)]), 1)
