"""Space-time pair search without an N x N matrix.

Points are sorted by a square grid cell whose side is at least the search radius,
then by time. Every pair closer than the radius lies in the same cell or in one of
the eight around it, so visiting a point's own cell (later points only) and four
"forward" neighbours (north, east, north-east and south-east: ``_FORWARD``)
meets each unordered pair exactly once. Inside a cell the points are in time
order, so a time window is a contiguous run found with one binary search.

Pairs are produced in chunks (``iter_pairs``) so that callers can stream them
(ST-DBSCAN never holds every neighbourhood) or keep them (Knox keeps the spatial
pairs once and re-times them per permutation).

Positions in this module are *sorted* positions; ``SpaceTimeIndex.order`` maps
them back to input rows.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np
from numba import njit, prange

from .exceptions import InputError

# (dx, dy) of the forward neighbour cells: with the own cell (later points only)
# they cover each unordered pair of the 3 x 3 block once.
_FORWARD = np.array([[0, 1], [1, -1], [1, 0], [1, 1]], dtype=np.int64)

# ~4 M pairs per chunk: 64 MB of (i, j, d2), a good trade between memory and calls.
CHUNK_PAIRS = 1 << 22


class SpaceTimeIndex(NamedTuple):
    """Points sorted by (cell, time) and the cell blocks (see module docstring)."""

    order: np.ndarray  # sorted position -> input position
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    starts: np.ndarray  # first sorted position of each occupied cell
    ends: np.ndarray  # one past its last
    neighbours: np.ndarray  # (n_cells, 4) block number of each forward neighbour, -1 if empty
    radius: float
    tau: float
    extra: np.ndarray  # (n, m) further coordinates counted in the distance but not gridded (m is usually 0)


def build_index(x: np.ndarray, y: np.ndarray, t: np.ndarray | None, radius: float, tau: float = np.inf,
                extra: np.ndarray | None = None) -> SpaceTimeIndex:
    """Index points for pairs with distance <= ``radius`` and ``|dt| <= tau``.

    ``t`` may be ``None`` (pure spatial search). ``extra`` holds further coordinate
    columns (a third spatial dimension, say) that count in the distance; the grid
    uses ``x`` and ``y`` only, which is still exact because a projection never
    lengthens a distance. Coordinates must be finite.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    t = np.zeros(x.size) if t is None else np.ascontiguousarray(t, dtype=np.float64)
    extra = np.zeros((x.size, 0)) if extra is None else np.asarray(extra, dtype=np.float64).reshape(x.size, -1)
    n = x.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SpaceTimeIndex(empty, x, y, t, empty, empty, np.zeros((0, 4), np.int64), float(radius), float(tau),
                              extra)
    x0, y0 = x.min(), y.min()
    span = max(x.max() - x0, y.max() - y0, 1.0)
    # A cell no smaller than the radius keeps every pair within the 3 x 3 block; the
    # floor keeps the number of cells per side (and the int64 keys) bounded for tiny radii.
    cell = max(float(radius), span / 2.0**24)
    cx = np.floor((x - x0) / cell).astype(np.int64)
    cy = np.floor((y - y0) / cell).astype(np.int64)
    ny = int(cy.max()) + 3  # room for the -1 / +1 neighbour rows without aliasing
    key = (cx + 1) * ny + (cy + 1)
    order = np.lexsort((t, key))
    skey = key[order]
    first = np.flatnonzero(np.r_[True, skey[1:] != skey[:-1]])
    ukeys = skey[first]
    starts = first.astype(np.int64)
    ends = np.r_[first[1:], n].astype(np.int64)
    wanted = ukeys[:, None] + _FORWARD[:, 0][None, :] * ny + _FORWARD[:, 1][None, :]
    pos = np.searchsorted(ukeys, wanted)
    pos_c = np.minimum(pos, ukeys.size - 1)
    neighbours = np.where(ukeys[pos_c] == wanted, pos_c, -1).astype(np.int64)
    return SpaceTimeIndex(order.astype(np.int64), x[order], y[order], t[order], starts, ends, neighbours,
                          float(radius), float(tau), np.ascontiguousarray(extra[order]))


@njit(cache=True, inline="always")
def _window_start(t, s, e, tp, tau):
    """First position in the time-sorted block [s, e) with ``t >= tp - tau`` (rounding-safe)."""
    if tau == np.inf:
        return s
    lo = s + np.searchsorted(t[s:e], tp - tau)
    while lo > s and tp - t[lo - 1] <= tau:
        lo -= 1
    return lo


@njit(cache=True, inline="always")
def _dist2(x, y, extra, p, q):
    dx = x[q] - x[p]
    dy = y[q] - y[p]
    d2 = dx * dx + dy * dy
    for m in range(extra.shape[1]):
        dz = extra[q, m] - extra[p, m]
        d2 += dz * dz
    return d2


@njit(cache=True)
def _visit_cell(b, x, y, t, extra, starts, ends, neighbours, r2, tau, fill, offsets, out_i, out_j, out_d2, base,
                counts_fwd, counts_all):
    """Pairs of the points of cell ``b`` (see module docstring).

    Count mode (``fill`` False): add to ``counts_fwd`` (pairs found from each point)
    and ``counts_all`` (pairs each point belongs to). Fill mode: write each point's
    pairs at ``offsets[p] - base``.
    """
    s0, e0 = starts[b], ends[b]
    for p in range(s0, e0):
        tp = t[p]
        k = offsets[p] - base if fill else 0
        found = 0
        for m in range(-1, neighbours.shape[1]):
            if m < 0:  # own cell: the later points, already in time order
                first, e = p + 1, e0
            else:
                nb = neighbours[b, m]
                if nb < 0:
                    continue
                e = ends[nb]
                first = _window_start(t, starts[nb], e, tp, tau)
            for q in range(first, e):
                if t[q] - tp > tau:
                    break
                if tp - t[q] > tau:  # a rounded window start may let one too many in
                    continue
                d2 = _dist2(x, y, extra, p, q)
                if d2 <= r2:
                    if fill:
                        out_i[k] = p
                        out_j[k] = q
                        out_d2[k] = d2
                        k += 1
                    else:
                        counts_all[q] += 1
                    found += 1
        if not fill:
            counts_fwd[p] += found
            counts_all[p] += found


@njit(cache=True)
def _count_pairs(x, y, t, extra, starts, ends, neighbours, r2, tau):
    n = x.size
    counts_fwd = np.zeros(n, dtype=np.int64)
    counts_all = np.zeros(n, dtype=np.int64)
    dummy_i = np.zeros(0, dtype=np.int32)
    dummy_d = np.zeros(0, dtype=np.float64)
    for b in range(starts.size):
        _visit_cell(b, x, y, t, extra, starts, ends, neighbours, r2, tau, False, counts_fwd, dummy_i, dummy_i,
                    dummy_d, 0, counts_fwd, counts_all)
    return counts_fwd, counts_all


@njit(cache=True, parallel=True)
def _fill_pairs(x, y, t, extra, starts, ends, neighbours, r2, tau, offsets, b0, b1, out_i, out_j, out_d2):
    base = offsets[starts[b0]]
    dummy = np.zeros(0, dtype=np.int64)
    for b in prange(b0, b1):
        _visit_cell(b, x, y, t, extra, starts, ends, neighbours, r2, tau, True, offsets, out_i, out_j, out_d2, base,
                    dummy, dummy)


def count_pairs(index: SpaceTimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Per sorted position: pairs found from it (forward) and pairs it belongs to (all)."""
    return _count_pairs(index.x, index.y, index.t, index.extra, index.starts, index.ends, index.neighbours,
                        index.radius**2, index.tau)


def iter_pairs(
    index: SpaceTimeIndex,
    counts_fwd: np.ndarray | None = None,
    *,
    chunk_pairs: int = CHUNK_PAIRS,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(i, j, d2)`` chunks of all pairs (sorted positions, squared distance).

    Each unordered pair appears once, with ``i`` the point whose cell was visited.
    Chunks end at cell boundaries, so one very dense cell may exceed ``chunk_pairs``.
    """
    if counts_fwd is None:
        counts_fwd, _ = count_pairs(index)
    if index.x.size >= 2**31 - 1:
        raise InputError(f"too many points ({index.x.size:,}) for the pair search; split the data by time or area.")
    offsets = np.zeros(counts_fwd.size + 1, dtype=np.int64)
    np.cumsum(counts_fwd, out=offsets[1:])
    cell_end = offsets[index.ends]
    b0, n_cells = 0, index.starts.size
    while b0 < n_cells:
        base = offsets[index.starts[b0]]
        b1 = int(np.searchsorted(cell_end, base + chunk_pairs, side="right"))
        b1 = max(b1, b0 + 1)
        size = int(cell_end[b1 - 1] - base)
        if size:
            out_i = np.empty(size, dtype=np.int32)
            out_j = np.empty(size, dtype=np.int32)
            out_d2 = np.empty(size, dtype=np.float64)
            _fill_pairs(index.x, index.y, index.t, index.extra, index.starts, index.ends, index.neighbours,
                        index.radius**2, index.tau, offsets, b0, b1, out_i, out_j, out_d2)
            yield out_i, out_j, out_d2
        b0 = b1


@njit(cache=True)
def find_root(parent, i):
    """Union-find root with path halving."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def union_pairs(parent, pi, pj, mask):
    """Union the pairs ``(pi[k], pj[k])`` whose endpoints are both in ``mask``."""
    for k in range(pi.size):
        a, b = pi[k], pj[k]
        if mask[a] and mask[b]:
            ra, rb = find_root(parent, a), find_root(parent, b)
            if ra != rb:
                if ra < rb:
                    parent[rb] = ra
                else:
                    parent[ra] = rb


@njit(cache=True)
def roots_of(parent):
    out = np.empty(parent.size, dtype=np.int64)
    for i in range(parent.size):
        out[i] = find_root(parent, i)
    return out


US_PER_DAY = 86_400e6
TIME_METRICS = ("days", "calendar_days")


def incident_times(occurred_at: "pd.Series", metric_time: str) -> tuple[np.ndarray, float]:
    """Times as float64 in microseconds from the earliest, and the number of units per day.

    Integer microseconds are exact in float64, so differences such as "exactly 7 days"
    compare exactly with a band edge (real data are full of 00:00 default times).
    ``"calendar_days"`` measures whole local calendar days (what the Near Repeat
    Calculator reads from dates); ``"days"`` elapsed time.
    """
    import pandas as pd

    times = pd.Series(occurred_at)
    missing = times.isna().to_numpy()
    if metric_time == "calendar_days":
        if getattr(times.dt, "tz", None) is not None:
            times = times.dt.tz_localize(None)  # local wall-clock dates
        times = times.dt.normalize()
    elif getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    us = times.to_numpy(dtype="datetime64[us]").astype(np.int64)
    out = np.full(us.size, np.nan)
    if (~missing).any():
        out[~missing] = (us[~missing] - us[~missing].min()).astype(np.float64)
    return out, US_PER_DAY


def incident_xyt(
    incidents: object, *, owner: str, metric_time: str = "days", need_time: bool = True,
    window: tuple[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """``x``, ``y`` (metres), ``t`` (see :func:`incident_times`), a mask of usable rows, units per day.

    Rows without a location (or a time, when ``need_time``) are not usable; a
    :class:`DataQualityWarning` says how many. ``window`` names the shortest time
    span the caller resolves, e.g. ``("eps_days", 7.0)``: a
    :class:`~intel.ResolutionError` refuses it when the data's times are coarser.
    """
    import warnings

    from ._incidents import check_incidents
    from .exceptions import DataQualityWarning

    need = ("geometry", "occurred_at") if need_time else ("geometry",)
    check_incidents(incidents, owner=owner, need=need)
    geom = incidents.geometry  # type: ignore[attr-defined]
    empty = (geom.isna() | geom.is_empty).to_numpy()
    x = np.full(len(geom), np.nan)
    y = np.full(len(geom), np.nan)
    if (~empty).any():
        x[~empty] = geom[~empty].x.to_numpy(np.float64)
        y[~empty] = geom[~empty].y.to_numpy(np.float64)
    if need_time:
        t, per_day = incident_times(incidents["occurred_at"], metric_time)  # type: ignore[index]
    else:
        t, per_day = np.zeros(x.size), US_PER_DAY
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
    if window is not None and "time_resolution" in incidents.columns:  # type: ignore[attr-defined]
        resolutions = incidents["time_resolution"].to_numpy()[ok]  # type: ignore[index]
        _check_resolution(resolutions, window, metric_time, owner)
    if not ok.all():
        what = "a location or a time" if need_time else "a location"
        warnings.warn(
            f"{owner}: {int((~ok).sum()):,} of {ok.size:,} incidents have no {what} and were left out "
            "(their label is -1). Geocode them or drop them first to silence this warning.",
            DataQualityWarning,
            stacklevel=3,
        )
    return x, y, t, ok, per_day


# Shortest time span (days) that rows of each resolution can resolve. Calendar days
# are whole dates, which day-resolution data do give.
_RESOLUTION_DAYS = {"month": 28.0, "day": 1.0, "hour": 1.0 / 24.0}


def _check_resolution(resolutions: np.ndarray, window: tuple[str, float], metric_time: str, owner: str) -> None:
    from .exceptions import ResolutionError

    name, days = window
    for resolution, length in _RESOLUTION_DAYS.items():
        if metric_time == "calendar_days" and resolution != "month":
            continue
        n = int((resolutions == resolution).sum())
        if n and days < length:
            raise ResolutionError(
                f"{owner}: {n:,} incidents have {resolution} resolution (each could have happened any time in its "
                f"{resolution}), so a time window of {days:g} days ({name}) would invent detail the data do not have. "
                f"Use {name} of at "
                f"least {length:g} days"
                + (", or metric_time='calendar_days'" if resolution == "day" else "")
                + f", or leave those rows out first: incidents[incidents['time_resolution'] != '{resolution}']."
            )
