"""Near repeats: the Knox test of the Near Repeat Calculator, and near-repeat labels and alert zones.

After a burglary, the same house and its neighbours run a raised risk for a few
weeks. :func:`knox_test` measures that pattern as Ratcliffe's Near Repeat
Calculator (NRC) does: it counts pairs of incidents close in space and in time,
band by band, and compares the counts with those obtained after shuffling the
dates among the incidents. :func:`classify_near_repeats` labels each incident
(originator, repeat, near repeat, isolated) and :func:`active_alert_zones` draws
the areas still inside the risk window.

Pairs are found once with a grid hash (never an N x N matrix); each permutation
only re-times those pairs, so 100,000 incidents with 99 permutations take seconds.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from numba import njit

from ._pairs import (
    TIME_METRICS,
    build_index,
    count_pairs,
    incident_times,
    incident_xyt,
    iter_pairs,
    roots_of,
    union_pairs,
)
from ._provenance import announce, attach, make_record
from ._validation import check_number, check_option, check_random_state
from .exceptions import InputError

__all__ = ["knox_test", "classify_near_repeats", "active_alert_zones", "NEAR_REPEAT_CLASSES"]

NEAR_REPEAT_CLASSES = ("originator", "repeat", "near repeat", "isolated")
# Knox keeps the pairs within the largest distance (9 bytes each): refuse more than ~2.7 GB of them.
MAX_KEPT_PAIRS = 300_000_000


def knox_test(
    incidents: gpd.GeoDataFrame,
    *,
    distance_bands_m: Sequence[float] = (0, 100, 200, 400),
    time_bands_days: Sequence[float] = (0, 7, 14, 21),
    permutations: int = 99,
    alpha: float = 0.05,
    metric_time: str = "days",
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Knox test of space-time interaction, band by band, as the Near Repeat Calculator reports it.

    Every pair of incidents falls in one distance band and one time band. The
    observed count of pairs in each cell of that table is compared with the
    counts after randomly permuting the dates among the incidents (locations
    stay put), which breaks any link between space and time and keeps everything
    else.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents with ``occurred_at`` and point locations in metres.
    distance_bands_m : sequence of float, default (0, 100, 200, 400)
        Band edges in metres, increasing; a leading 0 is implied. The bands are
        "same location" (distance exactly 0, as the NRC reports separately),
        then ``(0, 100]``, ``(100, 200]``, ``(200, 400]`` and "over 400 m".
    time_bands_days : sequence of float, default (0, 7, 14, 21)
        Band edges in days, increasing; a leading 0 is implied. The bands are
        ``[0, 7]``, ``(7, 14]``, ``(14, 21]`` and "over 21 days".
    permutations : int, default 99
        Random permutations of the dates.
    alpha : float, default 0.05
        Level for the ``significant`` column.
    metric_time : {"days", "calendar_days"}, default "days"
        Time apart as elapsed days, or as whole calendar days between the local
        dates (what the NRC computes from dates: with ``"calendar_days"`` the
        first band ``[0, 7]`` holds pairs 0 to 7 dates apart).
    random_state : int, Generator or None
        Seed of the permutations.

    Returns
    -------
    DataFrame
        One row per distance band and time band, distance-major:
        ``distance_band`` and ``time_band`` (labels), their bounds
        ``distance_from_m``, ``distance_to_m``, ``days_from``, ``days_to`` (``inf``
        for the open bands), ``observed`` (pairs), ``expected`` (mean over the
        permutations), ``knox_ratio`` (observed / expected), ``p_value``
        (``(permutations with a count >= observed + 1) / (permutations + 1)``) and
        ``significant`` (``p_value <= alpha``). ``attrs["knox"]`` holds the number of
        events, pairs and permutations; ``attrs["provenance"]`` the record.

    Notes
    -----
    Pairs within the largest distance are found once (a grid hash) and kept; each
    permutation recomputes only their time differences. The "over the largest
    distance" row follows from the time-band totals over *all* pairs, which a
    permutation of dates does not change, so no pair beyond the largest distance
    is ever listed.

    Each incident's time is its ``occurred_at`` (the start of an occurred-between
    range). Incidents without a location or a time are left out, with a
    :class:`~intel.DataQualityWarning`; data whose ``time_resolution`` is coarser
    than the shortest time band (police.uk months) are refused with a
    :class:`~intel.ResolutionError`.

    References
    ----------
    Knox, G. (1964). The detection of space-time interactions. *Journal of the
    Royal Statistical Society C* 13(1), 25-30.
    Ratcliffe, J. H. (2020). Near Repeat Calculator (version 2.0), Temple
    University.
    Johnson, S. D. et al. (2007). Space-time patterns of risk: a cross national
    assessment of residential burglary victimization. *Journal of Quantitative
    Criminology* 23, 201-219.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=800, hotspots=0,
    ...     triggering={"theta": 0.5, "omega_days": 3, "sigma_m": 50}, random_state=2)
    >>> table = intel.knox_test(incidents, permutations=19, random_state=0)
    >>> close = table.iloc[4]  # the second distance band (after "same location"), first time band
    >>> (close["distance_band"], close["time_band"], bool(close["knox_ratio"] > 1), bool(close["significant"]))
    ('0-100 m', '0-7 days', True, True)
    """
    owner = "knox_test"
    d_edges = _check_edges("distance_bands_m", distance_bands_m, owner)
    t_edges = _check_edges("time_bands_days", time_bands_days, owner)
    check_number("permutations", permutations, owner, low=1, integer=True)
    check_number("alpha", alpha, owner, low=0.0, high=1.0, closed="neither")
    check_option("metric_time", metric_time, owner, TIME_METRICS)
    rng = check_random_state(random_state)
    x, y, t, ok, per_day = incident_xyt(incidents, owner=owner, metric_time=metric_time,
                                        window=("time bands", float(np.diff(t_edges).min())))
    x, y, t = x[ok], y[ok], t[ok]
    n = x.size
    if n < 2:
        raise InputError(f"{owner}: at least 2 incidents with a location and a time are needed; got {n}.")

    index = build_index(x, y, None, d_edges[-1])
    counts_fwd, _ = count_pairs(index)
    n_close = int(counts_fwd.sum())
    if n_close > MAX_KEPT_PAIRS:
        raise InputError(
            f"{owner}: {n_close:,} pairs of incidents lie within {d_edges[-1]:g} m, more than the "
            f"{MAX_KEPT_PAIRS:,} (about {MAX_KEPT_PAIRS * 9 / 1e9:.1f} GB) the test keeps in memory. Use a smaller "
            "largest distance band, or fewer incidents (a shorter period, one category or a smaller area)."
        )
    ts = t[index.order]
    d2_edges = d_edges**2
    parts_i, parts_j, parts_b = [], [], []
    for i, j, d2 in iter_pairs(index, counts_fwd):
        parts_i.append(i)
        parts_j.append(j)
        # band 0 is d2 == 0 (same location); band b is (edge[b-1], edge[b]]
        parts_b.append(np.searchsorted(d2_edges, d2, side="left").astype(np.int8))
    pi = np.concatenate(parts_i) if parts_i else np.zeros(0, np.int32)
    pj = np.concatenate(parts_j) if parts_j else np.zeros(0, np.int32)
    pb = np.concatenate(parts_b) if parts_b else np.zeros(0, np.int8)
    del parts_i, parts_j, parts_b

    inner = t_edges[1:] * per_day  # upper edges of the closed time bands
    n_dist, n_time = d_edges.size + 1, inner.size + 1  # + the open "over" bands
    totals = _time_band_totals(np.sort(ts), inner)  # over all pairs; invariant under permutation

    observed = _table(pi, pj, pb, ts, inner, n_dist, totals)
    at_least = np.zeros_like(observed)
    total = np.zeros(observed.shape, dtype=np.float64)
    for _ in range(int(permutations)):
        table = _table(pi, pj, pb, ts[rng.permutation(n)], inner, n_dist, totals)
        at_least += table >= observed
        total += table
    expected = total / permutations
    p_value = (at_least + 1) / (permutations + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)

    d_from = np.r_[0.0, d_edges]
    d_to = np.r_[d_edges, np.inf]
    t_from = np.r_[t_edges[:-1], t_edges[-1]]
    t_to = np.r_[t_edges[1:], np.inf]
    out = pd.DataFrame({
        "distance_band": np.repeat(_distance_labels(d_edges), n_time),
        "time_band": np.tile(_time_labels(t_edges), n_dist),
        "distance_from_m": np.repeat(d_from, n_time),
        "distance_to_m": np.repeat(d_to, n_time),
        "days_from": np.tile(t_from, n_dist),
        "days_to": np.tile(t_to, n_dist),
        "observed": observed.ravel(),
        "expected": expected.ravel(),
        "knox_ratio": ratio.ravel(),
        "p_value": p_value.ravel(),
        "significant": (p_value <= alpha).ravel(),
    })
    out["distance_band"] = out["distance_band"].astype("string")
    out["time_band"] = out["time_band"].astype("string")
    summary = {"n_events": int(n), "n_pairs": int(n * (n - 1) // 2), "n_pairs_within_max_distance": int(pi.size),
               "permutations": int(permutations)}
    out.attrs["knox"] = summary
    params = dict(distance_bands_m=list(d_edges), time_bands_days=list(t_edges), permutations=permutations,
                  alpha=alpha, metric_time=metric_time)
    seed = random_state if not isinstance(random_state, np.random.Generator) else "Generator"
    return attach(out, make_record(owner, params, seed=seed, extra=summary))


def _check_edges(name: str, edges: Any, owner: str) -> np.ndarray:
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence) and not isinstance(edges, np.ndarray):
        raise InputError(f"The {name!r} parameter of {owner} must be a sequence of numbers such as (100, 200, 400). "
                         f"Got {edges!r} instead.")
    values = list(edges)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0]
    if not values or bad:
        raise InputError(f"The {name!r} parameter of {owner} must be finite numbers >= 0 such as (100, 200, 400). "
                         f"Got {edges!r} instead.")
    arr = np.asarray(values, dtype=np.float64)
    if arr[0] > 0:
        arr = np.r_[0.0, arr]
    if arr.size < 2 or np.any(np.diff(arr) <= 0):
        raise InputError(f"The {name!r} parameter of {owner} must be strictly increasing with at least one edge "
                         f"above 0, e.g. (100, 200, 400). Got {edges!r} instead.")
    return arr


def _fmt(value: float) -> str:
    return f"{value:g}"


def _distance_labels(edges: np.ndarray) -> list[str]:
    inner = [f"{_fmt(a)}-{_fmt(b)} m" for a, b in zip(edges[:-1], edges[1:])]
    return ["same location", *inner, f"over {_fmt(edges[-1])} m"]


def _time_labels(edges: np.ndarray) -> list[str]:
    inner = [f"{_fmt(a)}-{_fmt(b)} days" for a, b in zip(edges[:-1], edges[1:])]
    return [*inner, f"over {_fmt(edges[-1])} days"]


@njit(cache=True)
def _time_band_totals(sorted_t, inner):
    """Pairs per time band over all pairs: ``[0, e1], (e1, e2], ..., (e_last, inf)``."""
    n = sorted_t.size
    within = np.zeros(inner.size, dtype=np.int64)  # pairs with dt <= edge
    for k in range(inner.size):
        j = 0
        count = 0
        for i in range(n):
            if j < i:
                j = i
            while j + 1 < n and sorted_t[j + 1] - sorted_t[i] <= inner[k]:
                j += 1
            count += j - i
        within[k] = count
    totals = np.empty(inner.size + 1, dtype=np.int64)
    previous = 0
    for k in range(inner.size):
        totals[k] = within[k] - previous
        previous = within[k]
    totals[inner.size] = n * (n - 1) // 2 - previous
    return totals


@njit(cache=True)
def _table(pi, pj, pb, t, inner, n_dist, totals):
    """Pairs per (distance band, time band) for times ``t``; the last row is "over the largest distance"."""
    n_time = inner.size + 1
    counts = np.zeros((n_dist, n_time), dtype=np.int64)
    for k in range(pi.size):
        dt = abs(t[pi[k]] - t[pj[k]])
        band = 0
        while band < inner.size and dt > inner[band]:
            band += 1
        counts[pb[k], band] += 1
    for b in range(n_time):
        within = 0
        for d in range(n_dist - 1):
            within += counts[d, b]
        counts[n_dist - 1, b] = totals[b] - within
    return counts


def classify_near_repeats(
    incidents: gpd.GeoDataFrame,
    *,
    distance_m: float = 200.0,
    days: float = 14.0,
    as_of: Any = None,
    metric_time: str = "days",
) -> gpd.GeoDataFrame:
    """Label each incident originator, repeat, near repeat or isolated.

    Two incidents are *linked* when they are at most ``distance_m`` apart and the
    later one happened at most ``days`` after the earlier one. Each incident is:

    - ``"repeat"``: linked to an earlier incident at the same location (distance 0);
    - ``"near repeat"``: otherwise linked to an earlier incident;
    - ``"originator"``: linked to no earlier incident, but to a later one;
    - ``"isolated"``: linked to none.

    "Earlier" means an earlier ``occurred_at``; incidents at the same time are
    ordered by their row. Only incidents up to ``as_of`` count, as if the analysis
    were run that day: later rows get no label.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents with ``occurred_at`` and point locations in metres.
    distance_m : float, default 200.0
        Largest distance between linked incidents.
    days : float, default 14.0
        Longest time between linked incidents.
    as_of : date or timestamp, optional
        When the analysis is run; ``None`` takes the latest ``occurred_at``. A
        naive value is read in the incidents' time zone.
    metric_time : {"days", "calendar_days"}, default "days"
        Time apart as elapsed days or whole calendar days between local dates.

    Returns
    -------
    GeoDataFrame
        A copy of ``incidents`` with ``near_repeat_class`` (string; missing after
        ``as_of`` and without a location or time), ``previous_id`` (the
        ``incident_id`` of the latest earlier incident it is linked to),
        ``chain_id`` (linked incidents, directly or through others, share it;
        ``-1`` for isolated or unlabelled ones; numbered by first incident) and
        ``alert_active`` (True for incidents within the last ``days`` up to ``as_of``).

    See Also
    --------
    active_alert_zones : the areas around the incidents whose window is still open.
    knox_test : whether near repeats happen more than chance would give.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=300, hotspots=0,
    ...     triggering={"theta": 0.5, "omega_days": 3, "sigma_m": 50}, random_state=2)
    >>> labelled = intel.classify_near_repeats(incidents, distance_m=200, days=14)
    >>> sorted(labelled["near_repeat_class"].dropna().unique())
    ['isolated', 'near repeat', 'originator']
    """
    owner = "classify_near_repeats"
    frame, x, y, t, ok, t_as_of, tau, as_of_ts, automatic = _window(incidents, distance_m, days, as_of,
                                                                    metric_time, owner)
    use = ok & (t <= t_as_of)
    rows = np.flatnonzero(use)
    n = rows.size
    # rank in (time, row) order: "earlier" is a smaller rank
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((rows, t[rows]))] = np.arange(n)
    prior_same = np.zeros(n, dtype=bool)
    prior_any = np.zeros(n, dtype=bool)
    later_any = np.zeros(n, dtype=bool)
    latest_prior = np.full(n, -1, dtype=np.int64)
    parent = np.arange(n, dtype=np.int64)
    everyone = np.ones(n, dtype=bool)
    if n:
        index = build_index(x[rows], y[rows], t[rows], float(distance_m), tau)
        for i, j, d2 in iter_pairs(index):
            a, b = index.order[i], index.order[j]
            _mark_links(a, b, d2, rank, prior_same, prior_any, later_any, latest_prior)
            union_pairs(parent, i, j, everyone)
        roots = np.empty(n, dtype=np.int64)
        roots[index.order] = roots_of(parent)
    else:
        roots = np.zeros(0, dtype=np.int64)

    labels = np.where(prior_same, "repeat", np.where(prior_any, "near repeat",
                                                     np.where(later_any, "originator", "isolated")))
    linked = prior_any | later_any
    chain = np.full(n, -1, dtype=np.int64)
    if linked.any():
        first_rank = np.full(n, n, dtype=np.int64)
        np.minimum.at(first_rank, roots[linked], rank[linked])
        chain_roots = np.unique(roots[linked])
        ordered = chain_roots[np.argsort(first_rank[chain_roots], kind="stable")]
        number = np.full(n, -1, dtype=np.int64)
        number[ordered] = np.arange(ordered.size)
        chain[linked] = number[roots[linked]]

    out = frame.copy()
    near = pd.array([pd.NA] * len(out), dtype="string")
    near[rows] = labels
    out["near_repeat_class"] = near
    previous = pd.array([pd.NA] * len(out), dtype="string")
    if "incident_id" in out.columns and n:
        has_prev = latest_prior >= 0
        ids = out["incident_id"].astype("string").to_numpy()
        by_rank = np.empty(n, dtype=np.int64)
        by_rank[rank] = np.arange(n)
        previous[rows[has_prev]] = ids[rows[by_rank[latest_prior[has_prev]]]]
    out["previous_id"] = previous
    chain_full = np.full(len(out), -1, dtype=np.int64)
    chain_full[rows] = chain
    out["chain_id"] = chain_full
    out["alert_active"] = use & (t_as_of - t <= tau)
    params = dict(distance_m=distance_m, days=days, as_of=as_of, metric_time=metric_time)
    counts = {label: int((labels == label).sum()) for label in NEAR_REPEAT_CLASSES}
    extra = {"as_of": as_of_ts, "counts": counts, "n_chains": int(chain.max()) + 1 if n else 0}
    return attach(out, make_record(owner, params, automatic=automatic, extra=extra))


@njit(cache=True)
def _mark_links(a, b, d2, rank, prior_same, prior_any, later_any, latest_prior):
    for k in range(a.size):
        first, second = a[k], b[k]
        if rank[second] < rank[first]:
            first, second = second, first
        later_any[first] = True
        prior_any[second] = True
        if d2[k] == 0.0:
            prior_same[second] = True
        if rank[first] > latest_prior[second]:
            latest_prior[second] = rank[first]


def active_alert_zones(
    incidents: gpd.GeoDataFrame,
    *,
    distance_m: float = 200.0,
    days: float = 14.0,
    as_of: Any = None,
    metric_time: str = "days",
) -> gpd.GeoDataFrame:
    """Areas still at raised near-repeat risk as of a date.

    Each incident of the last ``days`` up to ``as_of`` opens a disc of radius
    ``distance_m`` around it; overlapping discs merge into one zone. A zone stays
    active until ``days`` after its latest incident.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents with ``occurred_at`` and point locations in metres.
    distance_m : float, default 200.0
        Radius of the zone around each recent incident.
    days : float, default 14.0
        How long an incident keeps its zone active.
    as_of : date or timestamp, optional
        When the alert is issued; ``None`` takes the latest ``occurred_at``.
    metric_time : {"days", "calendar_days"}, default "days"
        With ``"calendar_days"`` an incident counts while its local date is at most
        ``days`` dates before ``as_of``'s.

    Returns
    -------
    GeoDataFrame
        One row per zone, most recent activity first: ``zone_id``, ``n``
        (incidents), ``first_at``, ``last_at``, ``expires_at`` (``last_at + days``),
        ``incident_ids`` (comma-separated), ``categories`` (comma-separated,
        sorted) and the zone polygon; ``attrs["as_of"]``.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=300, hotspots=0, random_state=2)
    >>> zones = intel.active_alert_zones(incidents, distance_m=200, days=14)
    >>> bool((zones["n"] >= 1).all())
    True
    """
    owner = "active_alert_zones"
    frame, x, y, t, ok, t_as_of, tau, as_of_ts, automatic = _window(incidents, distance_m, days, as_of,
                                                                    metric_time, owner)
    rows = np.flatnonzero(ok & (t <= t_as_of) & (t_as_of - t <= tau))
    n = rows.size
    zone = np.zeros(n, dtype=np.int64)
    if n:
        # discs of radius r overlap when their centres are within 2r
        index = build_index(x[rows], y[rows], None, 2.0 * float(distance_m))
        parent = np.arange(n, dtype=np.int64)
        everyone = np.ones(n, dtype=bool)
        for i, j, _ in iter_pairs(index):
            union_pairs(parent, i, j, everyone)
        zone[index.order] = roots_of(parent)
    recent = frame.iloc[rows]
    times = recent["occurred_at"]
    parts = gpd.GeoDataFrame(
        {
            "zone": zone,
            "occurred_at": times.to_numpy(),
            "incident_id": (recent["incident_id"].astype("string").to_numpy() if "incident_id" in recent.columns
                            else rows.astype(str)),
            "category": (recent["category"].astype("string").to_numpy() if "category" in recent.columns
                         else np.full(n, "", dtype=object)),
        },
        geometry=recent.geometry.buffer(float(distance_m), quad_segs=16).to_numpy(),
        crs=frame.crs,
    )
    grouped = parts.groupby("zone", sort=True)
    table = pd.DataFrame({
        "n": grouped.size().astype(np.int64),
        "first_at": grouped["occurred_at"].min(),
        "last_at": grouped["occurred_at"].max(),
        "incident_ids": grouped["incident_id"].agg(",".join).astype("string"),
        "categories": grouped["category"].agg(lambda s: ",".join(sorted(set(s.dropna()) - {""}))).astype("string"),
    })
    table["expires_at"] = table["last_at"] + pd.Timedelta(days=float(days))
    shapes = parts[["zone", "geometry"]].dissolve(by="zone").geometry
    table = table.sort_values(["last_at", "first_at"], ascending=[False, True], kind="stable")
    out = gpd.GeoDataFrame(
        table[["n", "first_at", "last_at", "expires_at", "incident_ids", "categories"]].reset_index(drop=True),
        geometry=shapes.reindex(table.index).to_numpy(),
        crs=frame.crs,
    )
    out.insert(0, "zone_id", np.arange(len(out), dtype=np.int64))
    out.attrs["as_of"] = as_of_ts.isoformat()
    params = dict(distance_m=distance_m, days=days, as_of=as_of, metric_time=metric_time)
    return attach(out, make_record(owner, params, automatic=automatic,
                                   extra={"as_of": as_of_ts, "n_zones": len(out), "n_incidents": int(n)}))


def _window(incidents: Any, distance_m: float, days: float, as_of: Any, metric_time: str, owner: str):
    """Checked inputs of a near-repeat window: frame, x, y, t, usable rows, t(as_of), tau, as_of, automatic."""
    check_number("distance_m", distance_m, owner, low=0.0)
    check_number("days", days, owner, low=0.0)
    check_option("metric_time", metric_time, owner, TIME_METRICS)
    if not isinstance(incidents, gpd.GeoDataFrame):
        raise InputError(f"{owner} needs an Incidents GeoDataFrame (from intel.read_incidents); "
                         f"got {type(incidents).__name__}.")
    if "occurred_at" not in incidents.columns:
        raise InputError(f"{owner}: the incidents table lacks the column 'occurred_at'. "
                         "Load it with intel.read_incidents, which produces it.")
    x, y, _, ok, per_day = incident_xyt(incidents, owner=owner, metric_time=metric_time, window=("days", float(days)))
    as_of_ts, automatic = _resolve_as_of(incidents, as_of, ok, owner)
    t, t_as_of = _times_with(incidents["occurred_at"], as_of_ts, metric_time)
    return incidents, x, y, t, ok, t_as_of, float(days) * per_day, as_of_ts, automatic


def _resolve_as_of(frame: gpd.GeoDataFrame, as_of: Any, ok: np.ndarray, owner: str) -> tuple[pd.Timestamp, dict]:
    times = frame["occurred_at"]
    tz = getattr(times.dt, "tz", None)
    if as_of is None:
        if not ok.any():
            raise InputError(f"{owner}: no incident has both a location and a time.")
        value = pd.Timestamp(times[ok].max())
        announce("%s: as_of set to the latest incident, %s", owner, value.isoformat())
        return value, {"as_of": {"value": value, "rule": "latest occurred_at"}}
    try:
        value = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        raise InputError(f"The 'as_of' parameter of {owner} must be a date or timestamp such as '2018-06-30'. "
                         f"Got {as_of!r} instead.") from None
    if value is pd.NaT:
        raise InputError(f"The 'as_of' parameter of {owner} must be a date or timestamp. Got {as_of!r} instead.")
    if tz is not None:
        value = value.tz_localize(tz) if value.tzinfo is None else value.tz_convert(tz)
    return value, {}


def _times_with(occurred_at: pd.Series, as_of: pd.Timestamp, metric_time: str) -> tuple[np.ndarray, float]:
    """Incident times and ``as_of`` on the same scale (see ``_pairs.incident_times``)."""
    both = pd.concat([pd.Series(occurred_at.to_numpy()), pd.Series([as_of]).astype(occurred_at.dtype)],
                     ignore_index=True)
    values, _ = incident_times(both, metric_time)
    return values[:-1], float(values[-1])
