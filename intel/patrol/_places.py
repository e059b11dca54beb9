"""Patrol places: adjacent high-risk cells merged into compact places, chosen under the safeguards.

A place grows from a seed cell (the highest-risk cell not yet used) through its queen
neighbours: a neighbour joins when its risk is at least half the seed's and at least
that of the n-th highest-risk cell (n = the places wanted by risk in the shift), and
its centre lies within ``max_place_radius_m`` of the seed's centre. Places whose centres are
closer than ``min_spacing_m`` to a place already chosen are skipped, so a large hot
area yields several places spread over it rather than one blob or a cluster of
single cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

# A neighbour joins a place when its risk is at least this share of the seed's.
JOIN_RATIO = 0.5


@dataclass
class Place:
    """One chosen place: cell positions, the seed, its centre, how it was chosen."""

    cells: np.ndarray
    seed: int
    centre: tuple[float, float]
    selection: str  # "risk" or "exploration"
    area: Any = None


def n_exploration(n_places: int, share: float) -> int:
    """Exploration places among ``n_places``: ``share`` of them, rounded, and at least one when
    the share is positive and there are two places or more (so the safeguard never rounds away)."""
    if share <= 0 or n_places == 0:
        return 0
    k = math.floor(share * n_places + 0.5)
    if k == 0 and n_places >= 2:
        k = 1
    return min(k, n_places)


def grow_place(seed: int, risk: np.ndarray, centres: np.ndarray, w: sp.csr_matrix, free: np.ndarray,
               max_radius_m: float, floor: float = 0.0) -> np.ndarray:
    """Cells of the place grown from ``seed`` (breadth-first through ``w``, see the module docstring)."""
    threshold = max(JOIN_RATIO * risk[seed], floor)
    sx, sy = centres[seed]
    members = [seed]
    seen = {seed}
    queue = [seed]
    indptr, indices = w.indptr, w.indices
    while queue:
        c = queue.pop(0)
        for nb in indices[indptr[c]:indptr[c + 1]]:
            nb = int(nb)
            if nb in seen:
                continue
            seen.add(nb)
            if (free[nb] and risk[nb] > 0 and risk[nb] >= threshold
                    and math.hypot(centres[nb, 0] - sx, centres[nb, 1] - sy) <= max_radius_m + 1e-9):
                members.append(nb)
                queue.append(nb)
    return np.array(sorted(members), dtype=np.int64)


def _centre(cells: np.ndarray, risk: np.ndarray, centres: np.ndarray) -> tuple[float, float]:
    w = risk[cells]
    if w.sum() <= 0:
        w = np.ones(cells.size)
    c = (centres[cells] * w[:, None]).sum(axis=0) / w.sum()
    return float(c[0]), float(c[1])


class _Chooser:
    """Keeps the chosen places and answers "may this one be added?" (spacing, area cap)."""

    def __init__(self, n_cells: int, min_spacing_m: float, areas: np.ndarray | None, allowed_per_area: float):
        self.used = np.zeros(n_cells, dtype=bool)
        self.min_spacing_m = min_spacing_m
        self.areas = areas
        self.allowed = allowed_per_area
        self.per_area: dict[Any, int] = {}
        self.places: list[Place] = []
        self._centres: list[tuple[float, float]] = []

    def area_full(self, cell: int) -> bool:
        if self.areas is None:
            return False
        return self.per_area.get(self.areas[cell], 0) >= self.allowed

    def too_close(self, xy: tuple[float, float]) -> bool:
        if not self._centres or self.min_spacing_m <= 0:
            return False
        c = np.asarray(self._centres)
        return bool((np.hypot(c[:, 0] - xy[0], c[:, 1] - xy[1]) < self.min_spacing_m - 1e-9).any())

    def add(self, place: Place) -> None:
        self.used[place.cells] = True
        self._centres.append(place.centre)
        if self.areas is not None:
            place.area = self.areas[place.seed]
            self.per_area[place.area] = self.per_area.get(place.area, 0) + 1
        self.places.append(place)


def choose_places(
    risk: np.ndarray,
    centres: np.ndarray,
    w: sp.csr_matrix,
    *,
    n_places: int,
    exploration_share: float,
    max_radius_m: float,
    min_spacing_m: float,
    areas: np.ndarray | None,
    max_share_per_area: float | None,
    rng: np.random.Generator,
) -> list[Place]:
    """The places of one shift: the best by risk, then the exploration draw, under the area cap.

    With an area cap the number of places is lowered until every area's share of the
    places (each place gets the same minutes) is at most the cap.
    """
    positive = np.flatnonzero(risk > 0)
    if positive.size == 0 or n_places <= 0:
        return []
    order = positive[np.argsort(-risk[positive], kind="stable")]
    ranks = _ranks_high_first(risk[positive])
    # One draw of random keys, reused when the area cap makes us try again with fewer places,
    # so the exploration draw does not change merely because the loop ran twice.
    keys = np.log(rng.uniform(size=positive.size)) / ranks
    explore_order = positive[np.argsort(-keys, kind="stable")]
    target = n_places
    while True:
        allowed = math.inf if max_share_per_area is None else math.floor(max_share_per_area * target + 1e-9)
        chooser = _Chooser(risk.size, min_spacing_m, areas, allowed)
        k_explore = n_exploration(target, exploration_share)
        _by_risk(chooser, order, risk, centres, w, target - k_explore, max_radius_m)
        _by_exploration(chooser, explore_order, risk, centres, k_explore)
        got = len(chooser.places)
        if max_share_per_area is None or got >= target or got == 0:
            return chooser.places
        target = got


def _by_risk(chooser: _Chooser, order: np.ndarray, risk, centres, w, n: int, max_radius_m: float) -> None:
    taken = 0
    # Only cells as risky as the n-th best cell may join a place: a place grows with cells the
    # plan would have patrolled anyway, never with weaker ones that merely touch a hot cell.
    floor = float(risk[order[min(n, order.size) - 1]]) if n > 0 else 0.0
    for s in order:
        if taken >= n:
            return
        s = int(s)
        if chooser.used[s] or chooser.area_full(s) or chooser.too_close(tuple(centres[s])):
            continue
        cells = grow_place(s, risk, centres, w, ~chooser.used, max_radius_m, floor)
        centre = _centre(cells, risk, centres)
        if chooser.too_close(centre):
            cells, centre = np.array([s]), (float(centres[s, 0]), float(centres[s, 1]))
        chooser.add(Place(cells, s, centre, "risk"))
        taken += 1


def _by_exploration(chooser: _Chooser, explore_order: np.ndarray, risk, centres, n: int) -> None:
    taken = 0
    for s in explore_order:
        if taken >= n:
            return
        s = int(s)
        xy = (float(centres[s, 0]), float(centres[s, 1]))
        if chooser.used[s] or chooser.area_full(s) or chooser.too_close(xy):
            continue
        chooser.add(Place(np.array([s]), s, xy, "exploration"))
        taken += 1


def _ranks_high_first(values: np.ndarray) -> np.ndarray:
    """Average ranks, 1 for the highest value (so low-risk cells get the largest ranks)."""
    from scipy.stats import rankdata

    return rankdata(-values, method="average")
