"""simulate_feedback: does following the forecast concentrate patrols on the wrong places?

After Ensign et al. (2018), "Runaway feedback loops in predictive policing": patrols go
where the data say incidents are, and part of the data (incidents discovered by
police) only exists where patrols went. The simulation plays that loop forward.

Each period, in every area ``i``: ``N_i ~ Poisson(truth_i)`` incidents occur; each is
reported by the public with probability ``reported_share``; each unreported one is
discovered with probability ``1 - exp(-discovery_per_patrol_minute x minutes_i)``,
where ``minutes_i`` is the patrol time the area received. The forecast for the next
period is the cumulative count of the incidents it is allowed to see, per period.

- Without safeguards the forecast counts reported and discovered incidents, and
  patrols follow it alone.
- With safeguards the forecast counts reported incidents only (:func:`reported_only`)
  and an ``exploration_share`` of the patrol goes to areas drawn at random with
  probability proportional to their rank (1 = highest estimate), as in
  :func:`recommend_patrols`.

``allocation="top"`` sends one unit to each of the ``units`` highest-ranked areas (as
:func:`recommend_patrols` does with places); ``"proportional"`` spreads all patrol
minutes in proportion to the estimates (Ensign et al.'s urn).

With equal true rates everywhere, any lasting concentration of patrol is an artefact
of the loop: without safeguards, ``"top"`` patrols lock onto whichever areas led the
first noisy forecast (their cumulative ``top_share`` goes to 1 and the data overstate
them several times over); with safeguards the lead keeps changing hands and the
cumulative allocation spreads out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from .._provenance import attach, make_record
from .._validation import check_number, check_option, check_random_state
from ..exceptions import InputError
from ._places import n_exploration

__all__ = ["simulate_feedback", "gini"]

ALLOCATIONS = ("top", "proportional")


def simulate_feedback(
    truth_rates: Any,
    *,
    periods: int = 52,
    units: int = 5,
    minutes_per_unit: float = 480.0,
    discovery_per_patrol_minute: float = 0.002,
    reported_share: float = 0.5,
    safeguards: bool = True,
    exploration_share: float = 0.1,
    allocation: str = "top",
    warmup_periods: int = 1,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate patrols following a forecast when patrols also produce the data.

    See :mod:`intel.patrol._feedback` for the model.

    Parameters
    ----------
    truth_rates : array-like or Series
        True expected incidents per period in each area (cell, beat); at least two
        areas. A Series keeps its labels in ``attrs["summary"]``.
    periods : int
        Periods to simulate after the warm-up.
    units : int
        Patrol units per period; with ``allocation="top"`` each patrols one area.
    minutes_per_unit : float
        Patrol minutes each unit gives per period.
    discovery_per_patrol_minute : float
        Rate at which patrol presence finds unreported incidents (per minute).
    reported_share : float
        Probability that the public reports an incident, whatever the patrols do.
    safeguards : bool
        Reported-only forecasts plus exploration (True) or neither (False).
    exploration_share : float
        With safeguards: the share of units (``"top"``) or minutes
        (``"proportional"``) sent by the exploration draw.
    allocation : {"top", "proportional"}
        How patrols follow the forecast (see above).
    warmup_periods : int
        Periods observed before the first forecast, with no patrols (reported
        incidents only), so the first forecast is as noisy as a short history.
    random_state : int, Generator or None
        Seed.

    Returns
    -------
    DataFrame
        One row per period: ``period``, ``safeguards``, ``gini`` (Gini of the period's
        patrol minutes across areas), ``gini_cumulative`` (of the minutes so far),
        ``top_share`` (share of the minutes so far in the ``units`` most patrolled
        areas), ``rank_error`` (1 - Spearman correlation of the forecast with the
        truth: 0 is perfect; NaN when the truth is the same everywhere),
        ``top_miss`` (share of the truly highest ``units`` areas missing from the
        forecast's top ``units``; NaN when the truth is flat), ``patrolled_bias`` (the
        forecast's share of incidents in the ``units`` areas patrolled most this period
        over their true share: above 1 the data overstate them), ``discovered_share`` (share of
        the forecast's data that patrols discovered). ``attrs["summary"]`` has the
        last period and the parameters.

    References
    ----------
    Ensign, D., Friedler, S. A., Neville, S., Scheidegger, C. & Venkatasubramanian, S.
    (2018). Runaway feedback loops in predictive policing. Proceedings of Machine
    Learning Research 81 (FAT* 2018).

    Examples
    --------
    >>> import numpy as np
    >>> import intel
    >>> truth = np.random.default_rng(0).gamma(0.5, 2.0, 200)
    >>> off = intel.simulate_feedback(truth, safeguards=False, random_state=1)
    >>> on = intel.simulate_feedback(truth, safeguards=True, random_state=1)
    >>> bool(on["top_miss"].iloc[-1] <= off["top_miss"].iloc[-1])
    True
    """
    owner = "simulate_feedback"
    labels, truth = _truth(truth_rates, owner)
    n = truth.size
    check_number("periods", periods, owner, low=1, integer=True)
    check_number("units", units, owner, low=1, high=n, integer=True)
    check_number("minutes_per_unit", minutes_per_unit, owner, low=0, closed="neither")
    check_number("discovery_per_patrol_minute", discovery_per_patrol_minute, owner, low=0)
    check_number("reported_share", reported_share, owner, low=0, high=1)
    check_number("exploration_share", exploration_share, owner, low=0, high=1, closed="left")
    check_number("warmup_periods", warmup_periods, owner, low=0, integer=True)
    check_option("allocation", allocation, owner, ALLOCATIONS)
    if not isinstance(safeguards, (bool, np.bool_)):
        raise InputError(f"The 'safeguards' parameter of {owner} must be True or False. Got {safeguards!r} instead.")
    rng = check_random_state(random_state)

    seen = np.zeros(n)  # cumulative counts the forecast may use
    discovered_seen = 0.0
    for _ in range(warmup_periods):
        seen += rng.binomial(rng.poisson(truth), reported_share)
    observed_periods = max(warmup_periods, 1)
    cumulative = np.zeros(n)
    true_top = _top(truth, units, rng)
    flat = bool(np.ptp(truth) == 0)  # no true top areas to miss
    rows = []
    for period in range(1, periods + 1):
        # ties (e.g. all zero before any data) are broken at random, not by position
        estimate = seen / observed_periods + rng.uniform(0, 1e-9, n)
        minutes = _allocate(estimate, units, minutes_per_unit, allocation,
                            exploration_share if safeguards else 0.0, rng)
        occurred = rng.poisson(truth)
        reported = rng.binomial(occurred, reported_share)
        p_find = 1.0 - np.exp(-discovery_per_patrol_minute * minutes)
        discovered = rng.binomial(occurred - reported, p_find)
        patrolled = _top(minutes, units, rng)
        cumulative += minutes
        est_share = estimate[patrolled].sum() / estimate.sum() if estimate.sum() > 0 else np.nan
        true_share = truth[patrolled].sum() / truth.sum()
        miss = float(1.0 - np.isin(true_top, _top(estimate, units, rng)).mean())
        rows.append({
            "period": period,
            "safeguards": bool(safeguards),
            "gini": gini(minutes),
            "gini_cumulative": gini(cumulative),
            "top_share": float(np.sort(cumulative)[::-1][:units].sum() / cumulative.sum()),
            "rank_error": _rank_error(estimate, truth),
            "top_miss": float("nan") if flat else miss,
            "patrolled_bias": float(est_share / true_share) if true_share > 0 else np.nan,
            "discovered_share": float(discovered_seen / seen.sum()) if seen.sum() > 0 else 0.0,
        })
        seen += reported
        if not safeguards:
            seen += discovered
            discovered_seen += discovered.sum()
        observed_periods += 1
    table = pd.DataFrame(rows)
    params = dict(periods=periods, units=units, minutes_per_unit=minutes_per_unit,
                  discovery_per_patrol_minute=discovery_per_patrol_minute, reported_share=reported_share,
                  safeguards=bool(safeguards), exploration_share=exploration_share, allocation=allocation,
                  warmup_periods=warmup_periods)
    last = rows[-1]
    table.attrs["summary"] = {**params, "n_areas": n, "last": last,
                              "most_patrolled": [labels[i] for i in np.argsort(-cumulative, kind="stable")[:units]]}
    seed = random_state if not isinstance(random_state, np.random.Generator) else "Generator"
    return attach(table, make_record(owner, params, seed=seed, extra={"n_areas": n}))


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal; near 1: all in one)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def _rank_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """1 - Spearman correlation; NaN when either side is constant (no ranking to get wrong)."""
    if np.ptp(truth) == 0 or np.ptp(estimate) == 0:
        return float("nan")
    return float(1.0 - spearmanr(estimate, truth).statistic)


def _truth(truth_rates: Any, owner: str) -> tuple[list[Any], np.ndarray]:
    if isinstance(truth_rates, pd.DataFrame):
        raise InputError(f"{owner}: truth_rates must be one column of rates, e.g. scores['risk']; got a DataFrame.")
    labels = list(truth_rates.index) if isinstance(truth_rates, pd.Series) else None
    try:
        truth = np.asarray(truth_rates, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{owner}: truth_rates must be numbers (expected incidents per period per area).") from exc
    if truth.size < 2 or not np.isfinite(truth).all() or (truth < 0).any() or truth.sum() <= 0:
        raise InputError(f"{owner}: truth_rates must hold at least two finite rates >= 0, not all zero; got {truth.size} values.")
    return labels if labels is not None else list(range(truth.size)), truth


def _top(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    jitter = rng.uniform(0, 1e-12, values.size)
    return np.argsort(-(values + jitter), kind="stable")[:k]


def _allocate(estimate, units, minutes_per_unit, allocation, exploration_share, rng) -> np.ndarray:
    n = estimate.size
    minutes = np.zeros(n)
    ranks = rankdata(-estimate, method="average")
    if allocation == "top":
        k_explore = n_exploration(units, exploration_share)
        order = np.argsort(-estimate, kind="stable")
        chosen = list(order[: units - k_explore])
        if k_explore:
            weights = ranks.copy()
            weights[chosen] = 0.0
            chosen += list(rng.choice(n, size=k_explore, replace=False, p=weights / weights.sum()))
        minutes[chosen] = minutes_per_unit
        return minutes
    total = units * minutes_per_unit
    share = estimate / estimate.sum() if estimate.sum() > 0 else np.full(n, 1.0 / n)
    minutes = (1.0 - exploration_share) * total * share
    if exploration_share > 0:
        minutes += exploration_share * total * ranks / ranks.sum()
    return minutes
