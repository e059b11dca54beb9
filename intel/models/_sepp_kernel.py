"""Self-exciting point process in continuous space (Mohler et al. 2011), sparse EM.

Mohler, G. O., Short, M. B., Brantingham, P. J., Schoenberg, F. P. and Tita, G. E.
(2011). Self-exciting point process modeling of crime. *Journal of the American
Statistical Association* 106(493), 100-108.

The intensity at a place and time is

    lambda(x, y, t) = mu(x, y) + sum over earlier incidents i of
                      theta * omega * exp(-omega (t - t_i)) * N(x - x_i, y - y_i; sigma^2)

a background ``mu`` that varies in space (a kernel density of the incidents, each
weighted by its probability of being background, as in Mohler et al.'s stochastic
declustering) plus a trigger that is exponential in time and Gaussian in space (the
parametric form; Mohler et al. estimate it by kernel density, which needs far more
data to be stable). Differences from open_cp's KDE-based SEPP that make it scale:

- only pairs closer than ``space_cutoff_m`` and ``time_cutoff_days`` can trigger; they
  are found once with a k-d tree (no N x N matrix) and every EM iteration is a few
  passes over that pair list;
- the background density at the incidents is a binned (raster, FFT) weighted KDE,
  leaving each incident's own contribution out.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

from .._provenance import announce
from .._validation import check_number
from ._base import Events, RiskModel
from ._sepp import _THETA_MAX, _exposure_moments, _m_step_omega, expected_hawkes_count, squarem
from ._spatial import CellSmoother, gaussian

__all__ = ["KernelSEPP", "trigger_pairs"]

_BANDWIDTH_NEIGHBOUR = 15  # background bandwidth: median distance to the 15th nearest incident
_MAX_RASTER_CELLS = 4_000_000


def trigger_pairs(x: np.ndarray, y: np.ndarray, t: np.ndarray, space_cutoff_m: float, time_cutoff_days: float):
    """All (parent, child) pairs with ``0 < t_child - t_parent <= time_cutoff_days`` and distance
    ``<= space_cutoff_m``, found with a k-d tree on (x, y, scaled t) and the max-norm.

    Returns ``parent``, ``child`` (int64), ``dt`` (days) and ``r2`` (squared metres).
    """
    if x.size < 2:
        empty = np.zeros(0)
        return np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty
    scale = space_cutoff_m / time_cutoff_days
    tree = cKDTree(np.column_stack([x, y, t * scale]))
    pairs = tree.query_pairs(space_cutoff_m * (1 + 1e-12), p=np.inf, output_type="ndarray")
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    dt = t[b] - t[a]
    swap = dt < 0
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    dt = np.abs(dt)
    r2 = (x[a] - x[b]) ** 2 + (y[a] - y[b]) ** 2
    keep = (dt > 0) & (dt <= time_cutoff_days) & (r2 <= space_cutoff_m**2)
    return a[keep], b[keep], dt[keep], r2[keep]


class _BinnedBackground:
    """Weighted Gaussian KDE evaluated at the incidents themselves, on a raster, own point left out."""

    def __init__(self, x: np.ndarray, y: np.ndarray, bandwidth_m: float) -> None:
        pad = 4.0 * bandwidth_m
        xmin, ymin = x.min() - pad, y.min() - pad
        width, height = x.max() + pad - xmin, y.max() + pad - ymin
        size = bandwidth_m / 2.0
        while (width / size) * (height / size) > _MAX_RASTER_CELLS:
            size *= 1.5
        self.shape = (int(height // size) + 1, int(width // size) + 1)
        rows = np.minimum(((y - ymin) // size).astype(np.int64), self.shape[0] - 1)
        cols = np.minimum(((x - xmin) // size).astype(np.int64), self.shape[1] - 1)
        self.flat = rows * self.shape[1] + cols
        reach = int(np.ceil(4.0 * bandwidth_m / size))
        off = np.arange(-reach, reach + 1) * size
        dy, dx = np.meshgrid(off, off, indexing="ij")
        table = gaussian(bandwidth_m)(np.hypot(dx, dy))
        # density per square metre of a unit mass, tabulated on raster offsets
        self.table = table / (table.sum() * size * size)
        self.self_density = self.table[reach, reach]

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        raster = np.bincount(self.flat, weights=weights, minlength=self.shape[0] * self.shape[1]).reshape(self.shape)
        dens = fftconvolve(raster, self.table, mode="same").ravel()[self.flat]
        return np.maximum(dens - weights * self.self_density, 0.0)


class KernelSEPP(RiskModel):
    """Continuous-space self-exciting point process (Mohler et al. 2011), sparse EM.

    Parameters
    ----------
    window_days : float
        Days of history before the origin to fit on (incidents assumed recorded over all of it).
    space_cutoff_m, time_cutoff_days : float
        Only incidents this close in space and time can trigger each other. Choose them
        several times the expected ``sigma_m_`` and ``omega_days_``: the trigger is
        estimated as if nothing lay beyond them.
    background_bandwidth_m : float, optional
        Standard deviation of the Gaussian kernel of the background density. Default:
        the median distance from each incident to its 15th nearest neighbour (logged and
        recorded), so the background follows the data's own scale.
    max_iter : int
        Maximum EM-map evaluations (SQUAREM-accelerated EM).
    tol : float
        Convergence tolerance on relative parameter changes.
    theta_init, omega_days_init : float
        Starting branching ratio and mean trigger delay (days).
    sigma_m_init : float, optional
        Starting spatial spread of the trigger; default ``space_cutoff_m / 5``.
    min_sigma_m : float
        Smallest spatial spread estimated: the precision of the locations. Sources that
        snap incidents to a block or street point put repeats at identical coordinates,
        which would otherwise drive the Gaussian's spread to zero and its density to
        infinity.
    min_delay_hours : float
        A follow-on incident comes at least this long after its parent (the exponential
        starts after the delay), as in :class:`GridSEPP`: duplicate reports minutes apart
        are not near repeats.

    Attributes
    ----------
    theta_, omega_, sigma_m_ : float
        Branching ratio, trigger decay rate (per day) and spatial standard deviation (m)
        of the trigger; ``omega_days_ = 1 / omega_``.
    theta_se_, omega_se_, sigma_m_se_, omega_days_se_ : float
        Standard errors from the observed information of (theta, omega, sigma) with the
        background held at its estimate (conditional on it, so slightly optimistic).
    background_bandwidth_m_ : float
        Bandwidth used for the background.
    background_prob_ : numpy.ndarray
        Probability that each training incident (time order) is background.
    n_pairs_ : int
        Candidate (parent, child) pairs within the cut-offs.
    log_likelihood_ : float
        Approximate log-likelihood at the estimate (background compensator taken as the
        expected number of background incidents).
    n_iter_, converged_ : int, bool
        EM-map evaluations and whether ``tol`` was reached.

    Notes
    -----
    Weights are ignored (a point process counts incidents). The background is constant
    in time. The forecast per cell is the background rate integrated over the cell plus
    the follow-on incidents expected from the past (Gaussian spread integrated over the
    cell) and from incidents within the horizon (kept in the cell where their parent's
    mass falls; see :func:`intel.models._sepp.expected_hawkes_count`).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=1000, hotspots=0,
    ...     triggering={"theta": 0.4, "omega_days": 3, "sigma_m": 80}, random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> model = intel.KernelSEPP().fit(incidents, grid=grid, origin="2019-01-01")
    >>> 40 < model.sigma_m_ < 160
    True
    """

    def __init__(self, *, window_days: float = 365, space_cutoff_m: float = 500.0, time_cutoff_days: float = 60.0,
                 background_bandwidth_m: float | None = None, max_iter: int = 200, tol: float = 1e-5,
                 theta_init: float = 0.5, omega_days_init: float = 7.0, sigma_m_init: float | None = None,
                 min_sigma_m: float = 25.0, min_delay_hours: float = 1.0) -> None:
        self.window_days = window_days
        self.space_cutoff_m = space_cutoff_m
        self.time_cutoff_days = time_cutoff_days
        self.background_bandwidth_m = background_bandwidth_m
        self.max_iter = max_iter
        self.tol = tol
        self.theta_init = theta_init
        self.omega_days_init = omega_days_init
        self.sigma_m_init = sigma_m_init
        self.min_sigma_m = min_sigma_m
        self.min_delay_hours = min_delay_hours

    def _validate_params(self) -> None:
        owner = type(self).__name__
        check_number("window_days", self.window_days, owner, low=0, closed="neither")
        check_number("space_cutoff_m", self.space_cutoff_m, owner, low=0, closed="neither")
        check_number("time_cutoff_days", self.time_cutoff_days, owner, low=0, closed="neither")
        check_number("background_bandwidth_m", self.background_bandwidth_m, owner, low=0, closed="neither", allow_none=True)
        check_number("max_iter", self.max_iter, owner, low=1, integer=True)
        check_number("tol", self.tol, owner, low=0, closed="neither")
        check_number("theta_init", self.theta_init, owner, low=0, high=_THETA_MAX, closed="neither")
        check_number("omega_days_init", self.omega_days_init, owner, low=0, closed="neither")
        check_number("sigma_m_init", self.sigma_m_init, owner, low=0, closed="neither", allow_none=True)
        check_number("min_sigma_m", self.min_sigma_m, owner, low=0, closed="neither")
        check_number("min_delay_hours", self.min_delay_hours, owner, low=0)

    def _lookback_days(self) -> float:
        return float(self.window_days)

    def _fit(self, events: Events) -> None:
        x, y, t = events.x, events.y, events.t
        span = float(self.window_days)
        self.background_bandwidth_m_ = self._bandwidth(x, y)
        parent, child, dt, r2 = trigger_pairs(x, y, t, float(self.space_cutoff_m), float(self.time_cutoff_days))
        lag = float(self.min_delay_hours) / 24.0
        # the trigger starts after the minimum delay: keep later pairs, measure delays beyond it
        later = dt > lag
        parent, child, dt, r2 = parent[later], child[later], dt[later] - lag, r2[later]
        self.n_pairs_ = int(parent.size)
        fit = _fit_kernel_em(
            x, y, t, parent, child, dt, r2, span, self.background_bandwidth_m_, float(self.time_cutoff_days),
            float(self.theta_init), 1.0 / float(self.omega_days_init),
            max(float(self.sigma_m_init or self.space_cutoff_m / 5.0), float(self.min_sigma_m)), int(self.max_iter),
            float(self.tol), float(self.min_sigma_m), lag,
        )
        self.theta_, self.omega_, self.sigma_m_ = fit["theta"], fit["omega"], fit["sigma"]
        self.omega_days_ = 1.0 / self.omega_
        self.background_prob_ = fit["p_bg"]
        self.n_iter_, self.converged_ = fit["n_iter"], fit["converged"]
        self.log_likelihood_ = fit["log_likelihood"]
        self.theta_se_, self.omega_se_, self.sigma_m_se_ = fit["se"]
        self.omega_days_se_ = self.omega_se_ / self.omega_**2
        if self.sigma_m_ <= self.min_sigma_m * (1 + 1e-9):
            # on its bound: held fixed for the standard errors of theta and omega, none of its own
            announce("KernelSEPP: sigma_m_ stopped at min_sigma_m = %g m (repeats at identical locations); "
                     "the spatial trigger is at least that tight.", self.min_sigma_m)
        if self.sigma_m_ > self.space_cutoff_m / 3.0:
            announce("KernelSEPP: sigma_m_ = %.0f m is more than a third of space_cutoff_m = %g m; the trigger is "
                     "truncated, so raise space_cutoff_m.", self.sigma_m_, self.space_cutoff_m)
        grid = self.grid_
        bg = CellSmoother(grid, gaussian(self.background_bandwidth_m_), 4.0 * self.background_bandwidth_m_,
                          integrate=True, normalise=True)
        self.mu_ = bg(x, y, self.background_prob_ / span)
        if len(events):
            spread = CellSmoother(grid, gaussian(self.sigma_m_), 4.0 * self.sigma_m_, integrate=True, normalise=True)
            decay = np.exp(-self.omega_ * np.maximum(-t - lag, 0.0))
            self.boost_ = spread(x, y, self.theta_ * self.omega_ * decay)
        else:
            self.boost_ = np.zeros(len(grid))

    def _bandwidth(self, x: np.ndarray, y: np.ndarray) -> float:
        if self.background_bandwidth_m is not None:
            return float(self.background_bandwidth_m)
        k = min(_BANDWIDTH_NEIGHBOUR, x.size - 1)
        if k < 1:
            value = float(self.space_cutoff_m)
        else:
            d, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=k + 1)
            value = float(max(np.median(d[:, -1]), 1.0))
        rule = f"median distance from each incident to its {_BANDWIDTH_NEIGHBOUR}th nearest neighbour"
        self.automatic_["background_bandwidth_m"] = {"value": value, "rule": rule}
        announce("KernelSEPP: background bandwidth set to %.0f m automatically (%s).", value, rule)
        return value

    def _predict(self, horizon_days: float) -> np.ndarray:
        return expected_hawkes_count(self.mu_, self.boost_, self.theta_, self.omega_, horizon_days)


def _fit_kernel_em(x, y, t, parent, child, dt, r2, span, bandwidth, time_cutoff, theta, omega, sigma, max_iter, tol,
                   min_sigma, lag=0.0):
    n = x.size
    if n == 0:
        return {"theta": 0.0, "omega": omega, "sigma": sigma, "p_bg": np.zeros(0), "n_iter": 0, "converged": True,
                "log_likelihood": 0.0, "se": (np.nan, np.nan, np.nan)}
    background = _BinnedBackground(x, y, bandwidth)
    # time each incident has had to trigger, within the cut-off the model allows
    exposure = np.sort(np.clip(np.minimum(-t, time_cutoff) - lag, 0.0, None))

    def intensity(p_bg, theta, omega, sigma):
        # an isolated incident's leave-one-out density can round to zero; a floor of one
        # incident per 10,000 km2 per year keeps every intensity positive
        mu = np.maximum(background(p_bg) / span, 1e-10 / 365.0)
        g = theta * omega * np.exp(-omega * dt - r2 / (2.0 * sigma * sigma)) / (2.0 * np.pi * sigma * sigma)
        lam = mu + np.bincount(child, weights=g, minlength=n)
        return mu, g, lam

    def loglik(p_bg, theta, omega, sigma, mu=None, lam=None):
        if lam is None:
            mu, _, lam = intensity(p_bg, theta, omega, sigma)
        return float(np.sum(np.log(np.maximum(lam, 1e-300))) - p_bg.sum() - theta * _exposure_moments(exposure, omega)[0])

    def em_map(v):
        p_bg, theta, omega, sigma = v[:n], v[n], v[n + 1], v[n + 2]
        mu, g, lam = intensity(p_bg, theta, omega, sigma)
        ll = loglik(p_bg, theta, omega, sigma, mu, lam)
        p = g / lam[child]
        new_p_bg = np.clip(mu / lam, 0.0, 1.0)
        n_trig = p.sum()
        if n_trig <= 0:
            return np.concatenate([new_p_bg, [0.0, omega, sigma]]), ll
        new_omega = _m_step_omega(n_trig, float(np.dot(p, dt)), exposure, omega)
        new_theta = min(n_trig / _exposure_moments(exposure, new_omega)[0], _THETA_MAX)
        new_sigma = max(float(np.sqrt(np.dot(p, r2) / (2.0 * n_trig))), min_sigma)
        return np.concatenate([new_p_bg, [new_theta, new_omega, new_sigma]]), ll

    def valid(v):
        return bool(np.all(v[:n] >= 0) and np.all(v[:n] <= 1) and 0 <= v[n] < _THETA_MAX and v[n + 1] > 0
                    and v[n + 2] >= min_sigma * (1 - 1e-12) and np.all(np.isfinite(v)))

    start = np.concatenate([np.full(n, 0.5), [theta, omega, sigma]])
    v, n_iter, converged = squarem(em_map, start, valid, max_iter, tol, n_scalars=3)
    p_bg, theta, omega, sigma = v[:n], float(v[n]), float(v[n + 1]), float(v[n + 2])
    se = _trigger_standard_errors(lambda th, om, sg: loglik(p_bg, th, om, sg), theta, omega, sigma,
                                  sigma_free=sigma > min_sigma * (1 + 1e-9))
    return {"theta": theta, "omega": omega, "sigma": sigma, "p_bg": p_bg, "n_iter": n_iter, "converged": converged,
            "log_likelihood": loglik(p_bg, theta, omega, sigma), "se": se}


def _trigger_standard_errors(loglik, theta, omega, sigma, sigma_free=True):
    """Square roots of the diagonal of the inverse negative Hessian (central differences on log scale).

    A sigma held on its lower bound is left out (fixed), and its standard error is NaN.
    """
    if theta <= 0:
        return np.nan, np.nan, np.nan
    k = 3 if sigma_free else 2
    p0 = np.log([theta, omega, sigma])
    f = lambda p: loglik(*np.exp(np.concatenate([p, p0[k:]])))  # noqa: E731
    q0 = p0[:k]
    h = 1e-3
    eye = np.eye(k) * h
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = eye[i], eye[j]
            hess[i, j] = hess[j, i] = (f(q0 + ei + ej) - f(q0 + ei - ej) - f(q0 - ei + ej) + f(q0 - ei - ej)) / (4 * h * h)
    try:
        cov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.nan, np.nan, np.nan
    var = np.diag(cov)
    if np.any(var <= 0):
        return np.nan, np.nan, np.nan
    # delta method back from log parameters
    se = list(np.exp(q0) * np.sqrt(var)) + [np.nan] * (3 - k)
    return float(se[0]), float(se[1]), float(se[2])
