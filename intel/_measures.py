"""Accuracy measures of a risk surface against the incidents that followed it.

Every measure here works on two aligned arrays, one value per cell: the forecast
``risk`` (any score where higher means riskier; expected counts for the
likelihood measures) and the ``actual`` (weighted) count of incidents in each cell
over the forecast horizon.

Selecting the top ``coverage`` of the study area
-------------------------------------------------
Cells are ranked by risk per unit of size (``risk / area``, or ``risk / length``
for street segments; plain ``risk`` when all cells are the same size, as on a
regular grid), highest first, and taken until their total size reaches
``coverage`` times the size of the whole grid. The selected area is then exactly
``coverage``:

* **partial cells** - the cell that straddles the limit counts with the share of
  its size that fits, and captures that share of its incidents (the incidents of
  a cell are taken to be spread evenly over it);
* **ties** - with ``ties="share"`` (the default) cells of equal risk density form
  one block: a block that straddles the limit captures the share of its
  incidents equal to the share of its size that fits. This is the average over
  every ordering of the tied cells, so count baselines with many equal cells are
  neither flattered nor penalised by the order of the grid. ``ties="order"``
  breaks ties by grid position (first row first) instead.

Both rules are deterministic: the same inputs always give the same number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln, xlogy

from ._validation import check_number, check_option
from .exceptions import InputError

TIES = ("share", "order")
DEFAULT_MIN_RISK = 1e-6


def prepare(
    risk: Any,
    actual: Any,
    *,
    area: Any = None,
    length: Any = None,
    owner: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``risk``, ``actual`` and the cell sizes; return three float64 arrays."""
    if isinstance(risk, pd.DataFrame):
        if "risk" not in risk.columns:
            raise InputError(f"{owner}: the table given as risk has no 'risk' column; pass CellScores from a model's predict().")
        if area is None and length is None and "geometry" in risk.columns:
            from .grid import cell_area_m2

            area = cell_area_m2(risk)
        risk = risk["risk"]
    r = _as_vector(risk, "risk", owner)
    a = _as_vector(actual, "actual", owner)
    if r.shape != a.shape:
        raise InputError(
            f"{owner}: risk has {r.size} cells but actual has {a.size}; both must hold one value per grid cell, in grid order."
        )
    if (a < 0).any():
        raise InputError(f"{owner}: actual counts must be >= 0; cell {int(np.argmax(a < 0))} holds {a[a < 0][0]!r}.")
    if area is not None and length is not None:
        raise InputError(f"{owner}: give area= (cells) or length= (street segments), not both.")
    size_name = "length" if length is not None else "area"
    size_values = length if length is not None else area
    if size_values is None:
        size = np.ones_like(r)
    else:
        size = _as_vector(size_values, size_name, owner)
        if size.shape != r.shape:
            raise InputError(f"{owner}: {size_name} has {size.size} values for {r.size} cells.")
        if (size <= 0).any():
            raise InputError(
                f"{owner}: every cell {size_name} must be > 0; cell {int(np.argmax(size <= 0))} has {size[size <= 0][0]!r}. "
                "Drop empty cells from the grid first."
            )
    return r, a, size


def _as_vector(values: Any, name: str, owner: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{owner}: {name} must be numbers, one per cell; got {type(values).__name__}.") from None
    if arr.ndim != 1:
        raise InputError(f"{owner}: {name} must be one-dimensional (one value per cell); got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{owner}: {name} has {int(bad.sum())} missing or infinite values (first at cell {int(np.argmax(bad))}).")
    return arr


def check_coverages(coverages: Any, owner: str) -> np.ndarray:
    """Coverages as a float array in [0, 1]."""
    values = np.atleast_1d(np.asarray(coverages, dtype=np.float64)) if not np.isscalar(coverages) else np.array([coverages])
    for c in values.tolist():
        check_number("coverage", c, owner, low=0.0, high=1.0)
    return values.astype(np.float64)


def captured(
    risk: np.ndarray,
    actual: np.ndarray,
    size: np.ndarray,
    coverages: np.ndarray,
    *,
    ties: str = "share",
) -> np.ndarray:
    """Incidents captured by the top ``coverages`` of the area under the selection rule of this module."""
    density = risk / size
    # stable sort on position: the "order" tie rule and reproducibility both rest on it
    order = np.argsort(-density, kind="stable")
    d, s, a = density[order], size[order], actual[order]
    if ties == "share" and d.size:
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        s = np.add.reduceat(s, starts)
        a = np.add.reduceat(a, starts)
    return _take(s, a, coverages * size.sum())


def best_captured(actual: np.ndarray, size: np.ndarray, coverages: np.ndarray) -> np.ndarray:
    """Most incidents any selection of the same area could capture (ranking by the actual counts)."""
    return captured(actual, actual, size, coverages, ties="order")


def _take(block_size: np.ndarray, block_actual: np.ndarray, targets: np.ndarray) -> np.ndarray:
    cum_size = np.concatenate([[0.0], np.cumsum(block_size)])
    cum_actual = np.concatenate([[0.0], np.cumsum(block_actual)])
    # block k straddles the target: everything before it, plus the fitting share of it
    k = np.searchsorted(cum_size, targets, side="right") - 1
    k = np.clip(k, 0, block_size.size - 1) if block_size.size else k
    out = np.zeros(targets.size)
    if block_size.size == 0:
        return out
    share = np.clip((targets - cum_size[k]) / block_size[k], 0.0, 1.0)
    out = cum_actual[k] + share * block_actual[k]
    full = targets >= cum_size[-1]
    out[full] = cum_actual[-1]
    return out


def hit_rates(risk, actual, size, coverages, ties):
    """``(hit_rate, pai, pei)`` arrays over ``coverages`` (NaN where undefined)."""
    total = actual.sum()
    got = captured(risk, actual, size, coverages, ties=ties)
    best = best_captured(actual, size, coverages)
    with np.errstate(invalid="ignore", divide="ignore"):
        hit = got / total if total > 0 else np.full(coverages.size, np.nan)
        pai_ = np.where(coverages > 0, hit / coverages, np.nan)
        pei_ = np.where(best > 0, got / best, np.nan)
    return hit, pai_, pei_


def check_ties(ties: str, owner: str) -> str:
    return check_option("ties", ties, owner, TIES)


def poisson_scores(risk: np.ndarray, actual: np.ndarray, *, min_risk: float = DEFAULT_MIN_RISK) -> dict[str, float]:
    """Poisson deviance and log-likelihood of ``actual`` counts under expected counts ``risk``."""
    mu = np.maximum(risk, min_risk)
    deviance = 2.0 * float(np.sum(xlogy(actual, actual / mu) - (actual - mu)))
    loglik = float(np.sum(xlogy(actual, mu) - mu - gammaln(actual + 1.0)))
    return {
        "deviance": deviance,
        "log_likelihood": loglik,
        "n_actual": float(actual.sum()),
        "n_predicted": float(risk.sum()),
        "n_zero_risk": float(actual[risk <= 0].sum()),
    }
