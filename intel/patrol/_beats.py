"""design_beats: contiguous, compact beats of balanced workload, and the officers each needs.

The regionalisation is written here because spopt's heuristics (max-p, SKATER, AZP,
region k-means) minimise attribute heterogeneity or need a floor, not a balance of
workload. It is an automatic zoning procedure (Openshaw 1977) with a balance
objective:

1. start: a power diagram of the cell centres (Voronoi regions with additive
   weights, tuned until the regions' workloads balance, centres moved to their
   regions' centroids; capacity-constrained Voronoi after Balzer, Schlomer & Deussen
   2009), seeded by a workload-weighted k-means; power regions are convex, so compact;
2. repair: any piece of a region cut off from the rest (the grid is not continuous
   space) goes to the neighbouring region it touches most, so every region is
   contiguous;
3. local search: a cell on a region's edge moves to the neighbouring region when that
   lowers ``sum_r ((L_r - L_mean) / L_mean)^2 + compactness_weight * I`` (``L_r`` the
   region's workload, ``I`` the moment of inertia of the regions about their own
   centroids divided by that of the whole district about its centroid) and its old
   region stays connected; until no move helps.
"""

from __future__ import annotations

import math
from collections import deque

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from .._provenance import announce, attach, make_record
from .._validation import check_number, check_random_state
from .._weights import cell_neighbours
from ..exceptions import InputError
from ..grid import as_grid, assign_cells
from ._common import cell_centres, check_cells, numeric_column

__all__ = ["design_beats", "imbalance"]

_MAX_PASSES = 200


def design_beats(
    cells: gpd.GeoDataFrame,
    n_beats: int | None = None,
    *,
    workload: str = "n",
    existing: gpd.GeoDataFrame | None = None,
    existing_id: str | None = None,
    population: gpd.GeoDataFrame | str | None = None,
    population_column: str = "population",
    officers_per: float = 3000.0,
    officers: int | None = None,
    hours_per_incident: float = 1.0,
    workload_days: float = 365.0,
    response_hours_per_officer: float = 560.0,
    compactness_weight: float = 0.5,
    random_state: int | np.random.Generator | None = 0,
) -> gpd.GeoDataFrame:
    """Partition a district's cells into contiguous, compact beats of balanced workload.

    See the module docstring of :mod:`intel.patrol._beats` for the procedure. The
    result reports the workload imbalance (largest beat workload over the mean) and,
    with ``existing`` beats, theirs on the same cell workloads (each cell counted in
    the existing beat holding its centre).

    Parameters
    ----------
    cells : GeoDataFrame
        CellScores covering the district (e.g. a grid clipped to it) with a workload
        column.
    n_beats : int, optional
        Number of beats. Default: as many as ``existing`` has (then required).
    workload : str
        Column of ``cells`` holding each cell's workload (``"n"``: incidents; or
        calls for service, or hours).
    existing : GeoDataFrame, optional
        Current beat polygons, to compare with.
    existing_id : str, optional
        Column naming the existing beats (default: their index).
    population : GeoDataFrame or str, optional
        A polygon layer with ``population_column`` (spread over the beats by area
        share) or the name of a column of ``cells`` holding residents per cell.
        When given, officers follow population at ``officers_per`` residents per
        officer.
    population_column : str
        Column of the population layer holding residents.
    officers_per : float
        Residents per officer for the population rule (e.g. 3,000).
    officers : int, optional
        Officers to share among the beats in proportion to workload (largest
        remainder), used when no population is given.
    hours_per_incident, workload_days, response_hours_per_officer : float
        The workload rule, used when neither ``population`` nor ``officers`` is given
        (after the workload-based model of Wilson & Weiss 2012): a beat needs
        ``workload x hours_per_incident x (365 / workload_days) /
        response_hours_per_officer`` officers, rounded up, i.e. the hours its
        incidents take in a year over the hours an officer gives to responding in a
        year (default 560: about a third of 1,700 available hours, the rest kept for
        proactive work and administration). ``workload_days`` is how many days the
        workload column covers.
    compactness_weight : float
        Weight of compactness against balance in the local search (0: balance only).
    random_state : int, Generator or None
        Seed of the k-means seeding.

    Returns
    -------
    GeoDataFrame
        One row per beat, indexed by ``beat`` (``"B01"`` ...): ``cell_ids`` (list),
        ``n_cells``, ``workload``, ``workload_share``, ``area_km2``, ``compactness``
        (Polsby-Popper, 4 pi area / perimeter^2; 1 for a disc), ``officers`` and
        ``officers_workload`` (plus ``population``, ``officers_population`` with a
        population), and the beat's polygon. ``attrs["beats"]`` holds
        ``imbalance``, ``existing_imbalance`` (None without existing beats),
        ``existing`` (workload per existing beat), ``officer_rule`` and
        ``contiguous``.

    References
    ----------
    Openshaw, S. (1977). A geographical solution to scale and aggregation problems in
    region-building, partitioning and spatial modelling. Trans. IBG 2(4).
    Balzer, M., Schlomer, T. & Deussen, O. (2009). Capacity-constrained point
    distributions: a variant of Lloyd's method. ACM Trans. Graphics 28(3).
    Wilson, J. M. & Weiss, A. (2012). A Performance-Based Approach to Police
    Staffing and Allocation. COPS Office, US Department of Justice.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> cells = intel.score_counts(incidents, grid)
    >>> beats = intel.design_beats(cells, 4)
    >>> len(beats), beats.attrs["beats"]["imbalance"] < 1.2
    (4, True)
    """
    owner = "design_beats"
    check_cells(cells, owner, name="cells")
    if n_beats is None:
        if existing is None:
            raise InputError(f"{owner}: give n_beats, or existing= beats to match their number.")
        n_beats = len(existing)
    check_number("n_beats", n_beats, owner, low=1, high=len(cells), integer=True)
    for name, value in (("officers_per", officers_per), ("hours_per_incident", hours_per_incident),
                        ("workload_days", workload_days), ("response_hours_per_officer", response_hours_per_officer)):
        check_number(name, value, owner, low=0, closed="neither")
    check_number("officers", officers, owner, low=1, integer=True, allow_none=True)
    check_number("compactness_weight", compactness_weight, owner, low=0)
    load = numeric_column(cells, workload, owner, what="workload") if isinstance(workload, str) else None
    if load is None:
        raise InputError(f"The 'workload' parameter of {owner} must be a column name of cells, e.g. 'n'. Got {workload!r} instead.")
    rng = check_random_state(random_state)

    w = cell_neighbours(cells, "queen")
    centres = cell_centres(cells)
    w, links = _connect_components(w, centres)
    if links:
        announce("%s: the cells form %d separate groups; each was linked to its nearest neighbour group so beats can span them",
                 owner, links + 1)
    labels = _repair_contiguity(_power_partition(load, centres, n_beats, rng), load, w, n_beats)
    labels, passes = _local_search(labels, load, centres, w, n_beats, compactness_weight)

    beats = _beat_table(cells, labels, load, n_beats)
    contiguous = all(_connected(np.flatnonzero(labels == r), w) for r in range(n_beats))
    existing_info = _existing_workloads(cells, load, existing, existing_id, owner) if existing is not None else None
    rule = _officers(beats, cells, population, population_column, officers_per, officers, hours_per_incident,
                     workload_days, response_hours_per_officer, owner)
    beats.attrs["beats"] = {
        "n_beats": n_beats, "imbalance": imbalance(beats["workload"].to_numpy()),
        "existing_imbalance": None if existing_info is None else imbalance(np.array(list(existing_info.values()))),
        "existing": existing_info, "officer_rule": rule, "contiguous": contiguous,
        "linked_components": links, "local_search_passes": passes,
        "imbalance_definition": "largest beat workload / mean beat workload",
    }
    params = dict(n_beats=n_beats, workload=workload, existing=existing is not None, existing_id=existing_id,
                  population=population if isinstance(population, str) else population is not None,
                  population_column=population_column, officers_per=officers_per, officers=officers,
                  hours_per_incident=hours_per_incident, workload_days=workload_days,
                  response_hours_per_officer=response_hours_per_officer, compactness_weight=compactness_weight)
    seed = random_state if not isinstance(random_state, np.random.Generator) else "Generator"
    return attach(beats, make_record(owner, params, seed=seed, extra={"n_cells": len(cells)}))


def imbalance(workloads: np.ndarray) -> float | None:
    """Largest workload over the mean workload (1 = perfectly balanced)."""
    workloads = np.asarray(workloads, dtype=np.float64)
    if workloads.size == 0 or workloads.mean() <= 0:
        return None
    return float(workloads.max() / workloads.mean())


# ---------------------------------------------------------------- regionalisation


def _connect_components(w: sp.csr_matrix, centres: np.ndarray) -> tuple[sp.csr_matrix, int]:
    """Link separate groups of cells (islands) to their nearest other group, so growth can reach them."""
    n_comp, comp = sp.csgraph.connected_components(w, directed=False)
    if n_comp == 1:
        return w, 0
    from scipy.spatial import cKDTree

    w = w.tolil(copy=True)
    links = 0
    while n_comp > 1:
        sizes = np.bincount(comp)
        small = int(np.argmin(sizes))
        inside, outside = np.flatnonzero(comp == small), np.flatnonzero(comp != small)
        dist, j = cKDTree(centres[outside]).query(centres[inside])
        i = int(np.argmin(dist))
        a, b = int(inside[i]), int(outside[j[i]])
        w[a, b] = w[b, a] = 1.0
        links += 1
        n_comp, comp = sp.csgraph.connected_components(w.tocsr(), directed=False)
    return w.tocsr(), links


def _power_partition(load: np.ndarray, centres: np.ndarray, k: int, rng: np.random.Generator,
                     n_outer: int = 30, n_inner: int = 60) -> np.ndarray:
    """Balanced, compact starting partition: a power diagram (Voronoi cells with additive weights).

    Each cell goes to the region minimising ``|x - c_r|^2 - offset_r``; offsets rise for
    regions short of the mean workload and fall for those above it, and the region
    centres move to the centroids of their cells (capacity-constrained Voronoi, after
    Balzer, Schlomer & Deussen 2009). Power cells are convex, so regions come out compact.
    """
    weight = load + max(load.mean(), 1e-9) * 0.05  # empty cells still pull a little, so seeds cover the area
    sites = _weighted_kmeans(centres, weight, k, rng)
    scale = float(((centres - centres.mean(axis=0)) ** 2).sum(axis=1).mean()) / k
    mean = max(load.sum() / k, 1e-12)
    offset = np.zeros(k)
    best, best_score = None, np.inf
    for _ in range(n_outer):
        d2 = ((centres[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2)
        for _ in range(n_inner):
            labels = np.argmin(d2 - offset[None, :], axis=1)
            loads = np.bincount(labels, weights=load, minlength=k)
            score = loads.max() / mean
            if score < best_score:
                best, best_score = labels.copy(), score
            offset += 0.5 * scale * (mean - loads) / mean
        counts = np.bincount(labels, minlength=k)
        for r in np.flatnonzero(counts):
            sites[r] = centres[labels == r].mean(axis=0)
    return best


def _repair_contiguity(labels: np.ndarray, load: np.ndarray, w: sp.csr_matrix, k: int) -> np.ndarray:
    """Give every detached piece of a region to the neighbouring region it touches most."""
    labels = labels.copy()
    for _ in range(labels.size):
        changed = False
        for r in range(k):
            members = np.flatnonzero(labels == r)
            if members.size <= 1:
                continue
            sub = w[members][:, members]
            n_comp, comp = sp.csgraph.connected_components(sub, directed=False)
            if n_comp == 1:
                continue
            mass = np.bincount(comp, weights=load[members] + 1e-9, minlength=n_comp)
            keep = int(np.argmax(mass))
            for c in range(n_comp):
                if c == keep:
                    continue
                piece = members[comp == c]
                touching = labels[w[piece].indices]
                touching = touching[touching != r]
                if touching.size:
                    labels[piece] = np.bincount(touching, minlength=k).argmax()
                    changed = True
        if not changed:
            break
    for r in np.setdiff1d(np.arange(k), labels):
        # a region lost all its cells: it restarts from a cell the largest region can spare
        donor = np.flatnonzero(labels == np.bincount(labels, minlength=k).argmax())
        for cell in donor:
            if _connected(donor[donor != cell], w):
                labels[cell] = r
                break
    return labels


def _weighted_kmeans(points: np.ndarray, weight: np.ndarray, k: int, rng: np.random.Generator,
                     n_iter: int = 100) -> np.ndarray:
    """Lloyd's k-means with sample weights and k-means++ starts (a few hundred cells: plain numpy is enough)."""
    p = weight / weight.sum()
    centres = [points[rng.choice(points.shape[0], p=p)]]
    for _ in range(1, k):
        d2 = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0) * weight
        centres.append(points[rng.choice(points.shape[0], p=d2 / d2.sum())] if d2.sum() > 0 else points[rng.integers(points.shape[0])])
    centres = np.array(centres, dtype=np.float64)
    for _ in range(n_iter):
        label = np.argmin(((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
        mass = np.bincount(label, weights=weight, minlength=k)
        new = centres.copy()
        filled = mass > 0
        for dim in range(2):
            new[filled, dim] = np.bincount(label, weights=weight * points[:, dim], minlength=k)[filled] / mass[filled]
        if np.allclose(new, centres):
            break
        centres = new
    return centres


class _Regions:
    """Workload and inertia sums per region, updated in O(1) per move."""

    def __init__(self, labels, load, centres, k, compactness_weight):
        self.labels, self.load, self.centres, self.lam = labels, load, centres, compactness_weight
        self.total = np.bincount(labels, weights=load, minlength=k)
        self.count = np.bincount(labels, minlength=k).astype(float)
        self.sx = np.bincount(labels, weights=centres[:, 0], minlength=k)
        self.sy = np.bincount(labels, weights=centres[:, 1], minlength=k)
        self.s2 = np.bincount(labels, weights=(centres ** 2).sum(axis=1), minlength=k)
        self.mean = max(load.sum() / k, 1e-12)
        c = centres - centres.mean(axis=0)
        self.inertia0 = max(float((c ** 2).sum()), 1e-12)

    def _inertia(self, n, sx, sy, s2):
        return 0.0 if n <= 0 else s2 - (sx * sx + sy * sy) / n

    def delta(self, i: int, a: int, b: int) -> float:
        """Change of the objective if cell ``i`` moves from region ``a`` to ``b``."""
        li, (x, y) = self.load[i], self.centres[i]
        q = x * x + y * y
        m = self.mean
        bal = (((self.total[a] - li - m) ** 2 + (self.total[b] + li - m) ** 2)
               - ((self.total[a] - m) ** 2 + (self.total[b] - m) ** 2)) / (m * m)
        if self.lam == 0:
            return bal
        before = self._inertia(self.count[a], self.sx[a], self.sy[a], self.s2[a]) + \
            self._inertia(self.count[b], self.sx[b], self.sy[b], self.s2[b])
        after = self._inertia(self.count[a] - 1, self.sx[a] - x, self.sy[a] - y, self.s2[a] - q) + \
            self._inertia(self.count[b] + 1, self.sx[b] + x, self.sy[b] + y, self.s2[b] + q)
        return bal + self.lam * (after - before) / self.inertia0

    def move(self, i: int, a: int, b: int) -> None:
        li, (x, y) = self.load[i], self.centres[i]
        q = x * x + y * y
        self.total[a] -= li; self.total[b] += li
        self.count[a] -= 1; self.count[b] += 1
        self.sx[a] -= x; self.sx[b] += x
        self.sy[a] -= y; self.sy[b] += y
        self.s2[a] -= q; self.s2[b] += q
        self.labels[i] = b


def _local_search(labels, load, centres, w, k, compactness_weight) -> tuple[np.ndarray, int]:
    labels = labels.copy()
    regions = _Regions(labels, load, centres, k, compactness_weight)
    indptr, indices = w.indptr, w.indices
    for passes in range(1, _MAX_PASSES + 1):
        moved = False
        for i in range(labels.size):
            a = int(labels[i])
            neighbours = indices[indptr[i]:indptr[i + 1]]
            targets = {int(labels[j]) for j in neighbours} - {a}
            if not targets or regions.count[a] <= 1:
                continue
            best, best_delta = -1, -1e-12
            for b in sorted(targets):
                d = regions.delta(i, a, b)
                if d < best_delta:
                    best, best_delta = b, d
            if best < 0:
                continue
            rest = np.flatnonzero(labels == a)
            rest = rest[rest != i]
            if not _connected(rest, w):
                continue
            regions.move(i, a, best)
            moved = True
        if not moved:
            return labels, passes
    return labels, _MAX_PASSES


def _connected(members: np.ndarray, w: sp.csr_matrix) -> bool:
    """Whether ``members`` form one connected group through ``w``."""
    if members.size <= 1:
        return True
    inside = set(members.tolist())
    start = int(members[0])
    seen = {start}
    queue = deque([start])
    indptr, indices = w.indptr, w.indices
    while queue:
        c = queue.popleft()
        for nb in indices[indptr[c]:indptr[c + 1]]:
            nb = int(nb)
            if nb in inside and nb not in seen:
                seen.add(nb)
                queue.append(nb)
    return len(seen) == len(inside)


# ---------------------------------------------------------------- results


def _beat_table(cells: gpd.GeoDataFrame, labels: np.ndarray, load: np.ndarray, k: int) -> gpd.GeoDataFrame:
    rows = []
    total = load.sum()
    for r in range(k):
        members = np.flatnonzero(labels == r)
        geom = shapely.union_all(cells.geometry.values[members])
        perimeter = geom.length
        rows.append({
            "beat": f"B{r + 1:02d}",
            "cell_ids": [str(c) for c in cells.index[members]],
            "n_cells": int(members.size),
            "workload": float(load[members].sum()),
            "workload_share": float(load[members].sum() / total) if total > 0 else 0.0,
            "area_km2": geom.area / 1e6,
            "compactness": 4 * math.pi * geom.area / perimeter**2 if perimeter > 0 else 0.0,
            "geometry": geom,
        })
    frame = pd.DataFrame(rows).set_index("beat")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=cells.crs)


def _existing_workloads(cells, load, existing, existing_id, owner) -> dict[str, float]:
    if not isinstance(existing, gpd.GeoDataFrame):
        raise InputError(f"{owner}: existing must be a GeoDataFrame of beat polygons; got {type(existing).__name__}.")
    layer = existing.to_crs(cells.crs) if existing.crs is not None and not existing.crs.equals(cells.crs) else existing
    beats = as_grid(layer, id_column=existing_id)
    c = shapely.centroid(cells.geometry.values)
    pos = assign_cells((shapely.get_x(c), shapely.get_y(c)), beats)
    sums = np.bincount(pos[pos >= 0], weights=load[pos >= 0], minlength=len(beats))
    return {str(b): float(v) for b, v in zip(beats.index, sums)}


def _officers(beats, cells, population, population_column, officers_per, officers, hours_per_incident,
              workload_days, response_hours, owner) -> str:
    hours = beats["workload"].to_numpy() * hours_per_incident * (365.0 / workload_days)
    beats["officers_workload"] = np.ceil(hours / response_hours - 1e-9).astype(np.int64)
    workload_rule = (f"workload x {hours_per_incident:g} h per incident x 365/{workload_days:g} days / "
                     f"{response_hours:g} response hours per officer per year, rounded up (after Wilson & Weiss 2012)")
    if population is not None:
        beats["population"] = _population(beats, cells, population, population_column, owner)
        beats["officers_population"] = np.ceil(beats["population"].to_numpy() / officers_per - 1e-9).astype(np.int64)
        beats["officers"] = beats["officers_population"]
        return f"population / {officers_per:g} residents per officer, rounded up; officers_workload: {workload_rule}"
    if officers is not None:
        beats["officers"] = _largest_remainder(beats["workload"].to_numpy(), officers)
        return f"{officers} officers shared in proportion to workload (largest remainder); officers_workload: {workload_rule}"
    beats["officers"] = beats["officers_workload"]
    return workload_rule


def _population(beats, cells, population, column, owner) -> np.ndarray:
    if isinstance(population, str):
        per_cell = numeric_column(cells, population, owner, what="population")
        index = {c: i for i, c in enumerate(cells.index.astype(str))}
        return np.array([per_cell[[index[c] for c in ids]].sum() for ids in beats["cell_ids"]])
    if not isinstance(population, gpd.GeoDataFrame) or column not in population.columns:
        raise InputError(f"{owner}: population must be a column name of cells or a polygon GeoDataFrame with a "
                         f"{column!r} column (population_column=).")
    layer = population.to_crs(beats.crs) if population.crs is not None and not population.crs.equals(beats.crs) else population
    values = numeric_column(layer, column, owner, what="population")
    areas = layer.geometry.area.to_numpy()
    tree = shapely.STRtree(layer.geometry.values)
    out = np.zeros(len(beats))
    for b, geom in enumerate(beats.geometry.values):
        idx = tree.query(geom, predicate="intersects")
        if idx.size:
            share = shapely.area(shapely.intersection(layer.geometry.values[idx], geom)) / np.maximum(areas[idx], 1e-12)
            out[b] = float((values[idx] * share).sum())
    return out


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    quota = weights / weights.sum() * total
    base = np.floor(quota).astype(np.int64)
    left = total - base.sum()
    order = np.argsort(-(quota - base), kind="stable")
    base[order[:left]] += 1
    return base
