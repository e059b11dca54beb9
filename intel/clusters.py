"""Clusters of incidents in space and time, and the table that describes them.

Three ways to find clusters, one table to describe them:

- :class:`STDBSCAN`: density-based clusters in a true space-time cylinder
  (distance <= ``eps_m`` *and* time apart <= ``eps_days``), a scikit-learn estimator.
- :func:`cluster_hdbscan`: HDBSCAN (the ``hdbscan`` package) in space, or in
  space-time with days scaled into metres.
- :class:`NNH`: CrimeStat's nearest-neighbour hierarchical clustering, with its
  random-expectation threshold, first and higher orders.
- :func:`build_cluster_table`: one row per cluster (count, first and last date,
  mean centre, standard deviational ellipse, convex hull, dominant category) from
  any of the above.

Labels follow scikit-learn: one integer per incident, ``-1`` for noise (incidents
in no cluster, or without a usable location or time).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numba import njit
from sklearn.base import BaseEstimator, ClusterMixin

from ._incidents import check_incidents
from ._pairs import (
    TIME_METRICS,
    build_index,
    count_pairs,
    incident_xyt,
    iter_pairs,
    roots_of,
    union_pairs,
)
from ._provenance import announce, attach, make_record
from ._validation import check_number, check_option
from .exceptions import InputError, NotFittedError, OptionalDependencyError

__all__ = ["STDBSCAN", "NNH", "cluster_hdbscan", "build_cluster_table"]

ELLIPSE_METHODS = ("crimestat", "arcgis")
AREA_RULES = ("box", "hull")


# ---------------------------------------------------------------------------
# ST-DBSCAN
# ---------------------------------------------------------------------------


class STDBSCAN(ClusterMixin, BaseEstimator):
    """Density-based clustering in a space-time cylinder (ST-DBSCAN).

    Two incidents are neighbours when they are at most ``eps_m`` metres apart
    **and** at most ``eps_days`` apart in time. A *core* incident has at least
    ``min_samples`` neighbours, itself included; clusters are the groups of core
    incidents linked through neighbours, plus the *border* incidents (not core,
    neighbour of a core one); everything else is noise (label ``-1``).

    The result is exactly scikit-learn's :class:`~sklearn.cluster.DBSCAN` run with
    ``eps=1`` on the precomputed "distance" ``max(d / eps_m, |dt| / eps_days)``,
    including its rules for the arbitrary parts: clusters are numbered in the
    order of their first core incident (input order), and a border incident
    within reach of several clusters joins the lowest-numbered one. Unlike
    DBSCAN, no neighbourhood is stored: pairs are found in a grid hashed by cell
    and sorted by time, streamed twice, and joined with union-find.

    Parameters
    ----------
    eps_m : float, default 100.0
        Spatial radius in metres (distance <= ``eps_m``).
    eps_days : float, default 7.0
        Temporal radius in days (time apart <= ``eps_days``).
    min_samples : int, default 5
        Neighbours (the incident itself included) that make an incident core.
    metric_time : {"days", "calendar_days"}, default "days"
        How time apart is measured: elapsed time in days, or whole local calendar
        days between the dates (for day-resolution data; ``eps_days=0`` then
        means "the same day").

    Attributes
    ----------
    labels_ : ndarray of shape (n,)
        Cluster of each incident (row), ``-1`` for noise.
    core_sample_indices_ : ndarray
        Row positions of the core incidents, ascending.
    components_ : ndarray of shape (n_core, 3)
        ``x_m, y_m, t_days`` of the core incidents (``t_days`` counted from the
        earliest incident when fitted on incidents).
    n_clusters_ : int
        Number of clusters.
    n_features_in_ : int
        Columns of the array given to ``fit`` (3 for incidents).

    See Also
    --------
    build_cluster_table : describe the clusters.
    cluster_hdbscan : clusters of varying density.

    Notes
    -----
    Input to ``fit`` is an Incidents table (locations in metres, ``occurred_at``,
    the start of an occurred-between range) or an array ``(n, 3)`` of ``x_m, y_m,
    t_days`` (more coordinate columns before the time are allowed, e.g. a height).
    Incidents without a location or a time are noise, with a
    :class:`~intel.DataQualityWarning`; an ``eps_days`` finer than the data's
    ``time_resolution`` is refused with a :class:`~intel.ResolutionError`.

    References
    ----------
    Birant, D. and Kut, A. (2007). ST-DBSCAN: an algorithm for clustering
    spatial-temporal data. *Data & Knowledge Engineering* 60(1), 208-221.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=500, hotspots=2, random_state=1)
    >>> model = intel.STDBSCAN(eps_m=100, eps_days=14, min_samples=5).fit(incidents)
    >>> model.labels_.shape == (len(incidents),)
    True
    >>> model.n_clusters_ >= 2
    True
    """

    def __init__(self, *, eps_m: float = 100.0, eps_days: float = 7.0, min_samples: int = 5,
                 metric_time: str = "days") -> None:
        self.eps_m = eps_m
        self.eps_days = eps_days
        self.min_samples = min_samples
        self.metric_time = metric_time

    def fit(self, X: Any, y: Any = None) -> "STDBSCAN":
        """Find the clusters.

        Parameters
        ----------
        X : GeoDataFrame or array-like of shape (n, 3)
            Incidents, or ``x_m, y_m, t_days`` columns.
        y : ignored
            Present for scikit-learn compatibility.

        Returns
        -------
        self : STDBSCAN
        """
        owner = "STDBSCAN"
        check_number("eps_m", self.eps_m, owner, low=0.0)
        check_number("eps_days", self.eps_days, owner, low=0.0)
        check_number("min_samples", self.min_samples, owner, low=1, integer=True)
        check_option("metric_time", self.metric_time, owner, TIME_METRICS)
        space, t, ok, per_day = _space_time_input(self, X, owner, self.metric_time)
        labels = np.full(t.size, -1, dtype=np.int64)
        core = np.zeros(t.size, dtype=bool)
        if ok.any():
            labels[ok], core[ok] = st_dbscan(space[ok], t[ok], float(self.eps_m), float(self.eps_days) * per_day,
                                             int(self.min_samples))
        self.labels_ = labels
        self.core_sample_indices_ = np.flatnonzero(core)
        self.components_ = np.column_stack([space, t / per_day])[self.core_sample_indices_]
        self.n_clusters_ = int(labels.max()) + 1 if labels.size else 0
        return self


def _space_time_input(est: BaseEstimator, X: Any, owner: str, metric_time: str):
    """``space (n, d), t, ok, per_day`` from incidents or an array (sets ``n_features_in_``)."""
    if isinstance(X, gpd.GeoDataFrame):
        est.n_features_in_ = 3
        x, y, t, ok, per_day = incident_xyt(X, owner=owner, metric_time=metric_time,
                                            window=("eps_days", float(est.eps_days)))
        return np.column_stack([x, y]), t, ok, per_day
    arr = _check_array(est, X, owner, n_columns=(2, None), what="x_m, y_m, t_days")
    t = np.floor(arr[:, -1]) if metric_time == "calendar_days" else arr[:, -1]
    return arr[:, :-1], t, np.ones(arr.shape[0], dtype=bool), 1.0


def _check_array(est: BaseEstimator, X: Any, owner: str, *, n_columns: tuple[int, int | None], what: str) -> np.ndarray:
    """Validate an array with ``n_columns = (fewest, most)`` columns (``None``: no limit)."""
    from sklearn.utils.validation import validate_data

    try:
        arr = validate_data(est, X, dtype=np.float64, ensure_min_samples=1)
    except ValueError as exc:
        raise InputError(f"{owner}.fit: {exc} Pass an Incidents GeoDataFrame or an array of {what}.") from None
    low, high = n_columns
    if arr.shape[1] < low or (high is not None and arr.shape[1] > high):
        wanted = f"{low}" if high == low else f"at least {low}"
        raise InputError(
            f"{owner}.fit needs {wanted} columns ({what}); got an array with n_features = {arr.shape[1]}. "
            "Pass an Incidents GeoDataFrame, or stack the columns in that order."
        )
    return arr


def st_dbscan(space: np.ndarray, t: np.ndarray, eps_m: float, tau: float,
              min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """ST-DBSCAN labels and core flags for finite coordinates ``(n, d)`` and times (``tau`` in ``t``'s units)."""
    n = t.size
    y = space[:, 1] if space.shape[1] > 1 else np.zeros(n)
    index = build_index(space[:, 0], y, t, eps_m, tau, extra=space[:, 2:])
    counts_fwd, counts_all = count_pairs(index)
    core = counts_all + 1 >= min_samples  # +1: a point is its own neighbour, as in DBSCAN
    parent = np.arange(n, dtype=np.int64)
    if core.any():
        for i, j, _ in iter_pairs(index, counts_fwd):
            union_pairs(parent, i, j, core)
    labels = np.full(n, -1, dtype=np.int64)
    core_pos = np.flatnonzero(core)
    if core_pos.size:
        roots = roots_of(parent)[core_pos]
        first_row = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_row, roots, index.order[core_pos])
        cluster_roots = np.unique(roots)
        # DBSCAN numbers clusters in the order their first core point appears in the input
        ranked = cluster_roots[np.argsort(first_row[cluster_roots], kind="stable")]
        label_of_root = np.full(n, -1, dtype=np.int64)
        label_of_root[ranked] = np.arange(ranked.size)
        labels[core_pos] = label_of_root[roots]
        if ((counts_all > 0) & ~core).any():
            best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
            for i, j, _ in iter_pairs(index, counts_fwd):
                _border_labels(i, j, core, labels, best)
            border = (best != np.iinfo(np.int64).max) & ~core
            labels[border] = best[border]
    out_labels = np.empty(n, dtype=np.int64)
    out_core = np.empty(n, dtype=bool)
    out_labels[index.order] = labels
    out_core[index.order] = core
    return out_labels, out_core


@njit(cache=True)
def _border_labels(pi, pj, core, labels, best):
    # a border point joins the lowest-numbered cluster among its core neighbours
    for k in range(pi.size):
        a, b = pi[k], pj[k]
        if core[a] and not core[b]:
            if labels[a] < best[b]:
                best[b] = labels[a]
        elif core[b] and not core[a]:
            if labels[b] < best[a]:
                best[a] = labels[b]


# ---------------------------------------------------------------------------
# HDBSCAN
# ---------------------------------------------------------------------------


def cluster_hdbscan(
    incidents: gpd.GeoDataFrame,
    *,
    min_cluster_size: int = 10,
    min_samples: int | None = None,
    time_scale_m_per_day: float | None = None,
    cluster_selection_method: str = "eom",
) -> pd.Series:
    """Clusters of varying density with HDBSCAN (the ``hdbscan`` package).

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents (points in a metric CRS).
    min_cluster_size : int, default 10
        Smallest group of incidents that counts as a cluster.
    min_samples : int, optional
        Neighbours that define a core distance; ``None`` uses ``min_cluster_size``
        (hdbscan's default). Larger values call more incidents noise.
    time_scale_m_per_day : float, optional
        Cluster in space only when ``None``. Otherwise cluster in space-time with
        time turned into distance at this rate: with 50, two incidents at the same
        place 7 days apart are as far apart as two on the same day 350 m apart.
    cluster_selection_method : {"eom", "leaf"}, default "eom"
        hdbscan's choice of clusters from the tree: "eom" favours a few large
        clusters, "leaf" many small homogeneous ones.

    Returns
    -------
    Series
        Named ``cluster_id``, aligned with ``incidents`` (same index), ``-1`` for
        noise and for incidents without a location (or time); provenance in
        ``attrs["provenance"]``.

    Notes
    -----
    The ``hdbscan`` package (McInnes, Healy and Astels 2017) is used rather than
    scikit-learn's ``HDBSCAN``: it gives the same clustering with a Boruvka
    KD-tree minimum spanning tree, about 17 times faster on 100,000 points (see
    ``benchmarks/bench_clusters.py``).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=500, hotspots=2, random_state=1)
    >>> labels = intel.cluster_hdbscan(incidents, min_cluster_size=30)
    >>> int(labels.max()) + 1 >= 2
    True
    """
    owner = "cluster_hdbscan"
    check_number("min_cluster_size", min_cluster_size, owner, low=2, integer=True)
    check_number("min_samples", min_samples, owner, low=1, integer=True, allow_none=True)
    check_number("time_scale_m_per_day", time_scale_m_per_day, owner, low=0.0, closed="neither", allow_none=True)
    check_option("cluster_selection_method", cluster_selection_method, owner, ("eom", "leaf"))
    try:
        import hdbscan
    except ImportError:  # pragma: no cover - hdbscan is a dependency
        raise OptionalDependencyError(f"{owner} needs the hdbscan package: pip install hdbscan") from None
    space_time = time_scale_m_per_day is not None
    x, y, t, ok, per_day = incident_xyt(incidents, owner=owner, need_time=space_time)
    labels = np.full(x.size, -1, dtype=np.int64)
    if ok.sum() >= 2:
        # centred coordinates: the tree's arithmetic on 1e6-scale numbers loses digits
        columns = [x[ok] - x[ok].mean(), y[ok] - y[ok].mean()]
        if space_time:
            columns.append(t[ok] / per_day * float(time_scale_m_per_day))
        model = hdbscan.HDBSCAN(min_cluster_size=int(min_cluster_size), min_samples=min_samples,
                                cluster_selection_method=cluster_selection_method, core_dist_n_jobs=1)
        labels[ok] = model.fit_predict(np.column_stack(columns))
    out = pd.Series(labels, index=incidents.index, name="cluster_id")
    params = dict(min_cluster_size=min_cluster_size, min_samples=min_samples,
                  time_scale_m_per_day=time_scale_m_per_day, cluster_selection_method=cluster_selection_method)
    extra = {"n_clusters": int(labels.max()) + 1 if labels.size else 0, "n_noise": int((labels < 0).sum()),
             "space": "space-time" if space_time else "space"}
    return attach(out, make_record(owner, params, extra=extra))


# ---------------------------------------------------------------------------
# NNH
# ---------------------------------------------------------------------------


class NNH(ClusterMixin, BaseEstimator):
    """CrimeStat's nearest-neighbour hierarchical clustering (NNH).

    First-order clusters are groups of at least ``min_points`` incidents linked by
    pairs closer than a threshold distance (single linkage). Second-order
    clusters group the first-order clusters' mean centres in the same way, and so
    on up to ``order_max`` or until no cluster forms.

    The threshold is CrimeStat's random expectation: under complete spatial
    randomness of ``N`` points in an area ``A`` the mean nearest-neighbour
    distance is ``0.5 * sqrt(A / N)`` with standard error
    ``0.26136 / sqrt(N**2 / A)``; the threshold is that mean plus ``t`` standard
    errors, ``t`` being the one-tailed Student t quantile (``N - 1`` degrees of
    freedom) at ``p_value``. ``p_value=0.5`` gives the mean random distance itself;
    smaller values give shorter thresholds and fewer, tighter clusters. Each order
    recomputes the threshold from its number of points (incidents, then clusters)
    in the same area, and needs ``min_points`` of them per cluster, as CrimeStat does.

    Parameters
    ----------
    min_points : int, default 10
        Smallest number of incidents in a first-order cluster (and of clusters in
        a higher-order one).
    p_value : float, default 0.5
        One-tailed probability that sets the random-expectation threshold; in (0, 1).
    threshold_m : float, optional
        A fixed threshold in metres instead (used at every order); ``p_value`` is
        then ignored.
    order_max : int, optional
        Highest order to build; ``None`` goes on until no cluster forms.
    area : {"box", "hull"} or float, default "box"
        Study area for the random expectation: the points' bounding rectangle
        (CrimeStat's default), their convex hull, or an area in square metres.

    Attributes
    ----------
    labels_ : ndarray of shape (n,)
        First-order cluster of each incident, ``-1`` for none.
    labels_by_order_ : list of ndarray
        For each order (``[0]`` is the first), the cluster of each incident at that
        order, ``-1`` for none.
    centers_ : list of ndarray
        Mean centres ``(n_clusters, 2)`` of the clusters of each order.
    thresholds_m_ : list of float
        Threshold distance used at each order (one more than the orders built when
        the last attempt found no cluster).
    n_orders_ : int
        Orders with at least one cluster.
    area_m2_ : float
        Area used for the random expectation.

    Notes
    -----
    Clusters are numbered by size (largest first), ties by their first incident.
    CrimeStat draws an ellipse or convex hull around each cluster:
    :func:`build_cluster_table` gives both.

    References
    ----------
    Levine, N. (2015). CrimeStat IV, chapter 7: Hot spot analysis of points I
    (nearest neighbour hierarchical clustering). Ned Levine & Associates, Houston,
    and the National Institute of Justice, Washington, DC.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=500, hotspots=2, random_state=1)
    >>> nnh = intel.NNH(min_points=10, p_value=0.1).fit(incidents)
    >>> nnh.n_orders_ >= 1
    True
    >>> table = intel.build_cluster_table(incidents, nnh.labels_)
    """

    def __init__(self, *, min_points: int = 10, p_value: float = 0.5, threshold_m: float | None = None,
                 order_max: int | None = None, area: str | float = "box") -> None:
        self.min_points = min_points
        self.p_value = p_value
        self.threshold_m = threshold_m
        self.order_max = order_max
        self.area = area

    def fit(self, X: Any, y: Any = None) -> "NNH":
        """Build the clusters of every order.

        Parameters
        ----------
        X : GeoDataFrame or array-like of shape (n, 2)
            Incidents, or ``x_m, y_m`` columns.
        y : ignored
            Present for scikit-learn compatibility.

        Returns
        -------
        self : NNH
        """
        owner = "NNH"
        check_number("min_points", self.min_points, owner, low=2, integer=True)
        check_number("p_value", self.p_value, owner, low=0.0, high=1.0, closed="neither")
        check_number("threshold_m", self.threshold_m, owner, low=0.0, closed="neither", allow_none=True)
        check_number("order_max", self.order_max, owner, low=1, integer=True, allow_none=True)
        if not isinstance(self.area, str) or self.area not in AREA_RULES:
            if isinstance(self.area, str) or not isinstance(self.area, numbers.Real):
                check_option("area", self.area, owner, AREA_RULES)
            check_number("area", self.area, owner, low=0.0, closed="neither")
        if isinstance(X, gpd.GeoDataFrame):
            self.n_features_in_ = 2
            x, y_, _, ok, _ = incident_xyt(X, owner=owner, need_time=False)
        else:
            arr = _check_array(self, X, owner, n_columns=(2, 2), what="x_m, y_m")
            x, y_, ok = arr[:, 0], arr[:, 1], np.ones(arr.shape[0], dtype=bool)
        points = np.column_stack([x[ok], y_[ok]])
        self.area_m2_ = _study_area(points, self.area, owner)
        member = np.arange(points.shape[0])  # current-order unit of each incident (-1 when dropped)
        self.labels_by_order_, self.centers_, self.thresholds_m_ = [], [], []
        order = 0
        while self.order_max is None or order < self.order_max:
            n_units = points.shape[0]
            if n_units < self.min_points:
                break
            threshold = self.threshold_m if self.threshold_m is not None else _random_nn_threshold(
                n_units, self.area_m2_, self.p_value)
            self.thresholds_m_.append(float(threshold))
            unit_labels = _nnh_level(points, threshold, int(self.min_points))
            if unit_labels.max(initial=-1) < 0:
                break
            member = np.where(member >= 0, unit_labels[np.maximum(member, 0)], -1)
            full = np.full(x.size, -1, dtype=np.int64)
            full[ok] = member
            self.labels_by_order_.append(full)
            k = int(unit_labels.max()) + 1
            keep = unit_labels >= 0
            counts = np.bincount(unit_labels[keep], minlength=k)
            points = np.column_stack([np.bincount(unit_labels[keep], points[keep, c], minlength=k) / counts
                                      for c in range(2)])
            self.centers_.append(points)
            order += 1
        self.n_orders_ = len(self.labels_by_order_)
        self.labels_ = self.labels_by_order_[0] if self.n_orders_ else np.full(x.size, -1, dtype=np.int64)
        if self.threshold_m is None and self.thresholds_m_:
            announce("NNH: first-order threshold %.1f m (random nearest-neighbour expectation at p=%s over %.0f m2)",
                     self.thresholds_m_[0], self.p_value, self.area_m2_)
        return self


def _study_area(points: np.ndarray, area: str | float, owner: str) -> float:
    if not isinstance(area, str):
        return float(area)
    if points.shape[0] < 3:
        raise InputError(f"{owner}: at least 3 incidents with a location are needed to measure the study area; "
                         f"got {points.shape[0]}.")
    if area == "box":
        value = float(np.ptp(points[:, 0]) * np.ptp(points[:, 1]))
    else:
        value = float(shapely.MultiPoint(points).convex_hull.area)
    if not value > 0:
        raise InputError(f"{owner}: the incidents lie on a line or a point, so their {area} has no area. "
                         "Give the study area in square metres with area=...")
    return value


def _random_nn_threshold(n: int, area_m2: float, p_value: float) -> float:
    """CrimeStat's threshold: mean random nearest-neighbour distance + t(p) standard errors."""
    from scipy import stats

    mean = 0.5 * math.sqrt(area_m2 / n)
    se = 0.26136 / math.sqrt(n * n / area_m2)
    return mean + float(stats.t.ppf(p_value, df=max(n - 1, 1))) * se


def _nnh_level(points: np.ndarray, threshold: float, min_points: int) -> np.ndarray:
    """Single-linkage groups of pairs closer than ``threshold``, numbered by size; small groups -1."""
    n = points.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0 or threshold <= 0:
        return labels
    index = build_index(points[:, 0], points[:, 1], None, threshold)
    parent = np.arange(n, dtype=np.int64)
    everyone = np.ones(n, dtype=bool)
    limit = threshold * threshold
    for i, j, d2 in iter_pairs(index):
        close = d2 < limit  # "closer than" the threshold, as CrimeStat says
        union_pairs(parent, i[close], j[close], everyone)
    roots = np.empty(n, dtype=np.int64)
    roots[index.order] = roots_of(parent)
    uniq, inverse, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    first = np.full(uniq.size, n, dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(n))
    big = np.flatnonzero(sizes >= min_points)
    ranked = big[np.lexsort((first[big], -sizes[big]))]
    rank = np.full(uniq.size, -1, dtype=np.int64)
    rank[ranked] = np.arange(ranked.size)
    return rank[inverse]


# ---------------------------------------------------------------------------
# Cluster table
# ---------------------------------------------------------------------------


def build_cluster_table(
    incidents: gpd.GeoDataFrame,
    labels: Any,
    *,
    ellipse: str = "crimestat",
    n_vertices: int = 64,
) -> gpd.GeoDataFrame:
    """One row per cluster: size, dates, centre, standard deviational ellipse, hull, category.

    Parameters
    ----------
    incidents : GeoDataFrame
        The incidents that were clustered.
    labels : array-like or Series
        One cluster number per incident (``-1`` = none), e.g. ``STDBSCAN().fit(incidents).labels_``,
        ``NNH().fit(incidents).labels_by_order_[1]`` or :func:`cluster_hdbscan`'s Series.
        Also accepts a fitted STDBSCAN or NNH (its ``labels_``).
    ellipse : {"crimestat", "arcgis"}, default "crimestat"
        Standard deviations of the ellipse: CrimeStat divides the sums of squares by
        ``n - 2``, ArcGIS Pro's Directional Distribution by ``n``; both multiply by
        ``sqrt(2)`` and use the same angle (Yuill 1971). One standard deviation.
    n_vertices : int, default 64
        Vertices of each ellipse polygon.

    Returns
    -------
    GeoDataFrame
        One row per cluster, ordered by ``cluster_id``, in the incidents' CRS:

        - ``cluster_id``, ``n`` (incidents),
        - ``first_date``, ``last_date`` (earliest and latest ``occurred_at``),
        - ``centroid_x``, ``centroid_y``: mean centre, also the ellipse's centre,
        - ``sde_sx_m``, ``sde_sy_m``: standard distances along the ellipse's x and
          y axes; ``sde_rotation_deg``: azimuth of its y axis, clockwise from north
          in [0, 180). With Yuill's angle the y axis is the long one, so
          ``sde_sy_m >= sde_sx_m``. Missing for clusters of fewer than 3 incidents,
        - ``ellipse_wkt``: the ellipse polygon as WKT (``gpd.GeoSeries.from_wkt`` reads it),
        - ``dominant_category`` and ``dominant_share`` (ties: alphabetical first),
        - ``geometry``: the convex hull (a point or line for degenerate clusters).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=500, hotspots=2, random_state=1)
    >>> model = intel.STDBSCAN(eps_m=100, eps_days=14).fit(incidents)
    >>> table = intel.build_cluster_table(incidents, model.labels_)
    >>> list(table.columns[:4])
    ['cluster_id', 'n', 'first_date', 'last_date']
    """
    owner = "build_cluster_table"
    check_incidents(incidents, owner=owner, need=("geometry",))
    check_option("ellipse", ellipse, owner, ELLIPSE_METHODS)
    check_number("n_vertices", n_vertices, owner, low=8, integer=True)
    if isinstance(labels, BaseEstimator):
        if not hasattr(labels, "labels_"):
            raise NotFittedError(f"{owner}: the {type(labels).__name__} given as labels is not fitted; "
                                 "call .fit first.")
        labels = labels.labels_
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.size != len(incidents):
        raise InputError(f"{owner}: labels has shape {lab.shape}, but there are {len(incidents):,} incidents; "
                         "pass one label per incident (e.g. model.labels_).")
    if not np.issubdtype(lab.dtype, np.integer):
        if not np.issubdtype(lab.dtype, np.floating) or np.any(np.isfinite(lab) & (lab != np.round(lab))):
            raise InputError(f"{owner}: labels must be integers (cluster numbers, -1 for none); got dtype {lab.dtype}.")
        lab = np.where(np.isfinite(lab), lab, -1).astype(np.int64)
    geom = incidents.geometry
    empty = (geom.isna() | geom.is_empty).to_numpy()
    keep = (lab >= 0) & ~empty
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(lab[rows], kind="stable")]  # grouped by cluster, as shapely.multipoints needs
    ids, cid = np.unique(lab[rows], return_inverse=True)
    x = geom.iloc[rows].x.to_numpy(np.float64)
    y = geom.iloc[rows].y.to_numpy(np.float64)
    k = ids.size
    n = np.bincount(cid, minlength=k).astype(np.int64)
    cx = np.bincount(cid, x, minlength=k) / np.maximum(n, 1)
    cy = np.bincount(cid, y, minlength=k) / np.maximum(n, 1)
    sx, sy, rot = _sde(x - cx[cid], y - cy[cid], cid, n, ellipse)
    table = pd.DataFrame({"cluster_id": ids.astype(np.int64), "n": n})
    if "occurred_at" in incidents.columns:
        times = pd.Series(incidents["occurred_at"].to_numpy()[rows]).groupby(cid)
        table["first_date"] = times.min().reindex(range(k)).to_numpy()
        table["last_date"] = times.max().reindex(range(k)).to_numpy()
    else:
        table["first_date"] = pd.NaT
        table["last_date"] = pd.NaT
    table["centroid_x"], table["centroid_y"] = cx, cy
    table["sde_sx_m"], table["sde_sy_m"], table["sde_rotation_deg"] = sx, sy, rot
    wkt = shapely.to_wkt(_ellipse_polygons(cx, cy, sx, sy, rot, int(n_vertices)), rounding_precision=3)
    table["ellipse_wkt"] = pd.array(wkt, dtype="string")
    table["dominant_category"], table["dominant_share"] = _dominant(incidents, rows, cid, n)
    hulls = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y]), indices=cid)) if k else []
    out = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(hulls, crs=incidents.crs), crs=incidents.crs)
    record = make_record(owner, {"ellipse": ellipse, "n_vertices": n_vertices},
                         extra={"n_clusters": int(k), "n_clustered": int(rows.size),
                                "n_noise": int(len(incidents) - rows.size)})
    return attach(out, record)


def _sde(dx: np.ndarray, dy: np.ndarray, cid: np.ndarray, n: np.ndarray, method: str):
    """Standard deviational ellipse per cluster (Yuill 1971; CrimeStat / ArcGIS Pro)."""
    k = n.size
    sxx = np.bincount(cid, dx * dx, minlength=k)
    syy = np.bincount(cid, dy * dy, minlength=k)
    sxy = np.bincount(cid, dx * dy, minlength=k)
    a = sxx - syy
    b = np.sqrt(a * a + 4 * sxy * sxy)
    c = 2 * sxy
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(c != 0, np.arctan((a + b) / np.where(c != 0, c, 1.0)), np.where(a > 0, np.pi / 2, 0.0))
    theta = np.mod(theta, np.pi)
    sin, cos = np.sin(theta), np.cos(theta)
    along_x = sxx * cos**2 - 2 * sxy * sin * cos + syy * sin**2
    along_y = sxx * sin**2 + 2 * sxy * sin * cos + syy * cos**2
    dof = (n - 2.0) if method == "crimestat" else n.astype(np.float64)
    ok = n >= 3
    with np.errstate(divide="ignore", invalid="ignore"):
        sx = np.where(ok, np.sqrt(2 * np.maximum(along_x, 0) / dof), np.nan)
        sy = np.where(ok, np.sqrt(2 * np.maximum(along_y, 0) / dof), np.nan)
    return sx, sy, np.where(ok, np.degrees(theta), np.nan)


def _ellipse_polygons(cx, cy, sx, sy, rot_deg, n_vertices):
    out = np.full(cx.size, None, dtype=object)
    ok = np.isfinite(sx) & np.isfinite(sy)
    if not ok.any():
        return out
    theta = np.radians(rot_deg[ok])[:, None]
    phi = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)[None, :]
    a = sx[ok][:, None] * np.cos(phi)
    b = sy[ok][:, None] * np.sin(phi)
    # the x axis is east turned clockwise by theta, the y axis north turned clockwise by theta
    px = cx[ok][:, None] + a * np.cos(theta) + b * np.sin(theta)
    py = cy[ok][:, None] - a * np.sin(theta) + b * np.cos(theta)
    ring = np.stack([px, py], axis=-1)
    out[ok] = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    return out


def _dominant(incidents: gpd.GeoDataFrame, rows: np.ndarray, cid: np.ndarray, n: np.ndarray):
    k = n.size
    if "category" not in incidents.columns or k == 0:
        return pd.array([pd.NA] * k, dtype="string"), np.full(k, np.nan)
    frame = pd.DataFrame({"cid": cid, "category": incidents["category"].astype("string").to_numpy()[rows]})
    counts = frame.dropna().groupby(["cid", "category"]).size().rename("count").reset_index()
    counts = counts.sort_values(["cid", "count", "category"], ascending=[True, False, True])
    top = counts.drop_duplicates("cid").set_index("cid").reindex(range(k))
    return pd.array(top["category"], dtype="string"), (top["count"] / n).to_numpy(np.float64)
