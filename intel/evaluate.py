"""How good is a forecast? Accuracy measures, rolling-origin backtests and their summaries.

Measures (pure functions on one value per cell):

* :func:`hit_rate` - share of the incidents captured by the riskiest ``coverage`` of the area;
* :func:`pai` - Predictive Accuracy Index, hit rate / area share (Chainey, Tompson & Uhlig 2008);
* :func:`pei` - Predictive Efficiency Index, PAI / the best PAI possible with that area (Hunt 2016);
* :func:`rri` - Recapture Rate Index (Levine 2008);
* :func:`score_forecast` - Poisson deviance and log-likelihood of the expected counts;
* :func:`capture_curve` - hit rate, PAI and PEI over a range of coverages.

How cells are chosen for a coverage (ranking by risk per unit area, partial cells by
area share, ties shared) is stated once in :mod:`intel._measures`.

:func:`rolling_backtest` refits every model at a series of origins, each time on the
incidents strictly before the origin only, and scores its forecast against what
happened next; :func:`summarize_backtest` turns that into means with bootstrap
intervals and paired comparisons with the strongest naive baseline.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping for predicting
spatial patterns of crime. Security Journal 21, 4-28.
Levine, N. (2008). The "hottest" part of a hotspot: comments on "The utility of hotspot
mapping for predicting spatial patterns of crime". Security Journal 21, 295-302.
Hunt, J. M. (2016). Do crime hot spots move? Exploring the effects of the modifiable areal
unit problem and modifiable temporal unit problem on crime hot spot stability. PhD thesis,
American University (the Predictive Efficiency Index); see also White, Hunt & Green (2023),
Security Journal.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _measures as m
from ._incidents import _as_time, check_incidents
from ._model_card import build_model_card
from ._model_card import render_markdown as render_model_card
from ._provenance import announce, attach, make_record
from ._validation import check_number, check_option, check_random_state
from .exceptions import DataQualityWarning, InputError, IntelError

__all__ = [
    "hit_rate",
    "pai",
    "pei",
    "rri",
    "score_forecast",
    "capture_curve",
    "rolling_backtest",
    "summarize_backtest",
    "build_model_card",
    "render_model_card",
    "build_forecast",
    "model_label",
    "naive_baselines",
    "models_from_names",
]

BASELINE_REFERENCE = "RecentCount(weeks=52)"
MEASURES = ("hit_rate", "pai", "pei", "rri")


# ------------------------------------------------------------------ measures


def hit_rate(
    risk: Any,
    actual: Any,
    coverage: float = 0.05,
    *,
    area: Any = None,
    length: Any = None,
    ties: str = "share",
) -> float:
    """Share of the incidents that fall in the riskiest ``coverage`` of the area.

    Parameters
    ----------
    risk : array-like or CellScores
        Forecast risk, one value per cell in grid order (higher is riskier). A
        table with a ``risk`` column (a model's ``predict()``) is accepted; its
        cell areas are then used unless ``area``/``length`` is given.
    actual : array-like
        Incidents per cell over the forecast horizon (weighted counts, >= 0).
    coverage : float
        Share of the total area (or length) to select, in [0, 1].
    area, length : array-like, optional
        Cell areas, or segment lengths for street networks. Cells are ranked by
        risk per unit of size; without either, all cells count as equal.
    ties : {"share", "order"}
        How cells of equal risk are ordered: ``"share"`` treats them as one block
        (the average over all their orders), ``"order"`` takes them in grid order.

    Returns
    -------
    float
        Captured share in [0, 1]; NaN when no incident happened.

    Notes
    -----
    Selection stops exactly at ``coverage``: the cell (or tied block) on the limit
    contributes the share of its incidents equal to the share of its size inside
    the limit. See :mod:`intel._measures`.

    Examples
    --------
    >>> import intel
    >>> intel.hit_rate([5, 1, 0, 0], [3, 1, 0, 0], coverage=0.25)
    0.75
    """
    return _one_measure("hit_rate", 0, risk, actual, coverage, area, length, ties)


def pai(
    risk: Any,
    actual: Any,
    coverage: float = 0.05,
    *,
    area: Any = None,
    length: Any = None,
    ties: str = "share",
) -> float:
    """Predictive Accuracy Index: hit rate divided by the share of area selected.

    ``PAI = (n / N) / (a / A)`` (Chainey, Tompson & Uhlig 2008): ``n`` of the ``N``
    incidents fall in the selected cells, which cover ``a`` of the total area
    ``A``. With ``length=`` it is the street-segment PAI (share of network length
    instead of area). A PAI of 1 is what a random choice of cells achieves.

    Parameters
    ----------
    risk, actual, coverage, area, length, ties
        As in :func:`hit_rate`.

    Returns
    -------
    float
        PAI (>= 0); NaN when no incident happened or ``coverage`` is 0.

    Examples
    --------
    >>> import intel
    >>> intel.pai([5, 1, 0, 0], [3, 1, 0, 0], coverage=0.25)
    3.0
    """
    return _one_measure("pai", 1, risk, actual, coverage, area, length, ties)


def pei(
    risk: Any,
    actual: Any,
    coverage: float = 0.05,
    *,
    area: Any = None,
    length: Any = None,
    ties: str = "share",
) -> float:
    """Predictive Efficiency Index: PAI divided by the best PAI possible at that coverage.

    ``PEI = PAI / PAI*`` (Hunt 2016), where ``PAI*`` selects the same area using
    the actual counts (the cells with most incidents per unit area first), so
    ``PEI = n / n*``: the incidents captured over the most any selection of that
    area could have captured. 1 is a perfect forecast.

    Parameters
    ----------
    risk, actual, coverage, area, length, ties
        As in :func:`hit_rate`.

    Returns
    -------
    float
        PEI in [0, 1]; NaN when no incident happened or ``coverage`` is 0.

    Examples
    --------
    >>> import intel
    >>> intel.pei([0, 5, 1, 0], [3, 1, 0, 0], coverage=0.25)
    0.3333333333333333
    """
    return _one_measure("pei", 2, risk, actual, coverage, area, length, ties)


def _one_measure(owner: str, which: int, risk, actual, coverage, area, length, ties) -> float:
    r, a, s = m.prepare(risk, actual, area=area, length=length, owner=owner)
    cov = m.check_coverages(coverage, owner)
    return float(m.hit_rates(r, a, s, cov, m.check_ties(ties, owner))[which][0])


def rri(
    risk: Any,
    actual: Any,
    previous: Any,
    coverage: float = 0.05,
    *,
    area: Any = None,
    length: Any = None,
    ties: str = "share",
) -> float:
    """Recapture Rate Index (Levine 2008): how well the selected cells hold on to their incidents.

    Levine's definition, ``RRI = (n2 / n1) / (N2 / N1)``: ``n1`` and ``n2`` are the
    incidents inside the selected cells in the previous and the forecast period,
    ``N1`` and ``N2`` all incidents in those periods. Equivalently, the hit rate
    in the forecast period divided by the hit rate the same cells had in the
    previous period. 1 means the cells capture the same share as before; values
    above 1 mean crime concentrated further into them. :func:`rolling_backtest`
    takes the previous period to be the ``horizon`` just before each origin.

    Parameters
    ----------
    risk, actual, coverage, area, length, ties
        As in :func:`hit_rate`.
    previous : array-like
        Incidents per cell in the previous period, same length as ``actual``.

    Returns
    -------
    float
        RRI (>= 0); NaN when either period is empty or the selection held no
        incident in the previous period.

    Examples
    --------
    >>> import intel
    >>> intel.rri([5, 1, 0, 0], actual=[3, 1, 0, 0], previous=[2, 2, 0, 0], coverage=0.25)
    1.5
    """
    owner = "rri"
    r, a, s = m.prepare(risk, actual, area=area, length=length, owner=owner)
    _, p, _ = m.prepare(r, previous, owner=owner)
    cov = m.check_coverages(coverage, owner)
    return float(_rri(r, a, p, s, cov, m.check_ties(ties, owner))[0])


def _rri(r, a, p, s, cov, ties) -> np.ndarray:
    now = m.captured(r, a, s, cov, ties=ties)
    before = m.captured(r, p, s, cov, ties=ties)
    n2, n1 = a.sum(), p.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (now / n2) / (before / n1)
    out[~np.isfinite(out)] = np.nan
    if n1 <= 0 or n2 <= 0:
        out[:] = np.nan
    return out


def score_forecast(risk: Any, actual: Any, *, min_risk: float = m.DEFAULT_MIN_RISK) -> dict[str, float]:
    """Poisson deviance and log-likelihood of the actual counts under the forecast's expected counts.

    Treats the count in each cell as Poisson with mean ``risk`` (the expected
    number of incidents over the horizon): total deviance
    ``2 * sum(y * log(y / mu) - (y - mu))`` (lower is better; 0 is perfect) and
    log-likelihood ``sum(y * log(mu) - mu - log(y!))`` (higher is better).

    Parameters
    ----------
    risk : array-like or CellScores
        Expected counts per cell (a model's ``predict_risk``).
    actual : array-like
        Incidents per cell over the same horizon.
    min_risk : float
        Expected counts are floored at this value, because a forecast of exactly
        zero in a cell where an incident happened has an infinite deviance. The
        penalty stays large: each such incident costs about
        ``2 * log(1 / min_risk)`` of deviance. ``n_zero_risk`` counts them.

    Returns
    -------
    dict
        ``deviance``, ``log_likelihood``, ``n_actual``, ``n_predicted`` (sum of
        the expected counts: compare with ``n_actual`` for calibration) and
        ``n_zero_risk`` (incidents in cells forecast at zero).

    Examples
    --------
    >>> import intel
    >>> scores = intel.evaluate.score_forecast([1.0, 1.0], [1, 1])
    >>> round(scores["deviance"], 6), scores["n_predicted"]
    (0.0, 2.0)
    """
    owner = "score_forecast"
    check_number("min_risk", min_risk, owner, low=0, closed="neither")
    r, a, _ = m.prepare(risk, actual, owner=owner)
    if (r < 0).any():
        raise InputError(f"{owner}: risk must be expected counts (>= 0); cell {int(np.argmax(r < 0))} holds {r[r < 0][0]!r}.")
    return m.poisson_scores(r, a, min_risk=min_risk)


def capture_curve(
    risk: Any,
    actual: Any,
    coverages: Any = None,
    *,
    area: Any = None,
    length: Any = None,
    ties: str = "share",
) -> pd.DataFrame:
    """Hit rate, PAI and PEI over a range of coverages (the capture curve).

    Parameters
    ----------
    risk, actual, area, length, ties
        As in :func:`hit_rate`.
    coverages : array-like, optional
        Coverages in [0, 1]; default ``np.linspace(0, 0.2, 41)`` (0 to 20% in
        steps of 0.5%).

    Returns
    -------
    DataFrame
        One row per coverage: ``coverage``, ``hit_rate``, ``pai``, ``pei`` and
        ``best_hit_rate`` (the most any selection of that area could capture).

    Examples
    --------
    >>> import intel
    >>> curve = intel.capture_curve([3, 2, 1, 0], [2, 1, 1, 0], coverages=[0.25, 0.5])
    >>> curve["hit_rate"].tolist()
    [0.5, 0.75]
    """
    owner = "capture_curve"
    r, a, s = m.prepare(risk, actual, area=area, length=length, owner=owner)
    cov = m.check_coverages(np.linspace(0.0, 0.2, 41) if coverages is None else coverages, owner)
    hit, pai_, pei_ = m.hit_rates(r, a, s, cov, m.check_ties(ties, owner))
    total = a.sum()
    best = m.best_captured(a, s, cov) / total if total > 0 else np.full(cov.size, np.nan)
    curve = pd.DataFrame({"coverage": cov, "hit_rate": hit, "pai": pai_, "pei": pei_, "best_hit_rate": best})
    params = {"coverages": cov, "area": area is not None, "length": length is not None, "ties": ties}
    return attach(curve, make_record("capture_curve", params, extra={"n_actual": total, "n_cells": r.size}))


# ------------------------------------------------------------------ backtests


def naive_baselines() -> dict[str, Any]:
    """The naive baselines every backtest includes, by label.

    ``LastPeriod()``, ``RecentCount(weeks=4)``, ``RecentCount(weeks=52)`` (usually
    the one to beat) and ``SamePeriodLastYear()``.
    """
    from .models import LastPeriod, RecentCount, SamePeriodLastYear

    return {
        "LastPeriod()": LastPeriod(),
        "RecentCount(weeks=4)": RecentCount(weeks=4),
        "RecentCount(weeks=52)": RecentCount(weeks=52),
        "SamePeriodLastYear()": SamePeriodLastYear(),
    }


def model_label(model: Any) -> str:
    """A short, stable name for a model: its class and the parameters that differ from the defaults.

    >>> import intel
    >>> from intel.evaluate import model_label
    >>> model_label(intel.RecentCount(weeks=52))
    'RecentCount(weeks=52)'
    """
    for label, baseline in _baselines_or_empty().items():
        if _same_model(model, baseline):
            return label
    return " ".join(repr(model).split()).replace("( ", "(")


def _baselines_or_empty() -> dict[str, Any]:
    try:
        return naive_baselines()
    except ImportError:
        return {}


def _same_model(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    try:
        return repr(a.get_params(deep=True)) == repr(b.get_params(deep=True))
    except Exception:
        return False


def parse_period(value: Any, name: str, owner: str) -> Any:
    """``"7D"``, ``"2W"``, ``"12h"`` or a Timedelta as an offset to add to local times.

    Days and weeks are calendar days (an origin at midnight stays at midnight across
    daylight-saving changes); hours and minutes are fixed durations.
    """
    if isinstance(value, pd.Timedelta):
        td = value
    else:
        text = str(value).strip()
        match = re.fullmatch(r"(\d+)\s*([DdWw])", text)
        if match:
            days = int(match.group(1)) * (7 if match.group(2).lower() == "w" else 1)
            if days <= 0:
                raise InputError(f"The {name!r} parameter of {owner} must be positive. Got {value!r} instead.")
            return pd.DateOffset(days=days)
        try:
            td = pd.Timedelta(text)
        except ValueError:
            raise InputError(
                f"The {name!r} parameter of {owner} must be a duration such as '7D', '2W' or '12h'. Got {value!r} instead."
            ) from None
    if td <= pd.Timedelta(0):
        raise InputError(f"The {name!r} parameter of {owner} must be positive. Got {value!r} instead.")
    if td % pd.Timedelta(days=1) == pd.Timedelta(0):
        return pd.DateOffset(days=int(td / pd.Timedelta(days=1)))
    return td


def make_origins(start: Any, end: Any, horizon: Any, step: Any, tz: Any, owner: str) -> list[pd.Timestamp]:
    """Origins ``start, start + step, ...`` whose horizon ends on or before ``end``."""
    t0, t1 = _as_time(start, tz), _as_time(end, tz)
    if not t1 > t0:
        raise InputError(f"{owner}: end ({t1}) must be after start ({t0}).")
    origins = []
    origin = t0
    while origin + horizon <= t1:
        origins.append(origin)
        origin = origin + step
    if not origins:
        raise InputError(
            f"{owner}: no origin fits between start={t0.date()} and end={t1.date()} with a horizon of {horizon}; "
            "move end later or start earlier (the last horizon must end by end)."
        )
    return origins


def rolling_backtest(
    incidents: gpd.GeoDataFrame,
    models: Sequence[Any] | Mapping[str, Any],
    *,
    grid: gpd.GeoDataFrame,
    start: Any = None,
    end: Any = None,
    horizon: str = "7D",
    step: str = "7D",
    coverages: Iterable[float] = (0.01, 0.05, 0.1),
    baselines: bool = True,
    errors: str = "raise",
    keep_risk: bool = False,
    n_jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Refit models at rolling origins and score each forecast against what happened next.

    At every origin ``t`` (``start``, ``start + step``, ...), each model is cloned,
    fitted on the incidents with ``occurred_at < t`` only (the harness hands it no
    later row, whatever the model does), asked for the expected count per cell
    over ``[t, t + horizon)``, and scored against the incidents that occurred in
    that window.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents (from :func:`intel.read_incidents`), history included: models
        need data from well before ``start`` (a year for the 52-week baseline).
    models : list of models or dict of label -> model
        Unfitted risk models (:mod:`intel.models`). Lists are labelled with
        :func:`model_label`.
    grid : GeoDataFrame
        The grid to forecast on (:func:`intel.make_grid`).
    start : date or Timestamp, optional
        First origin (naive values are read in the incidents' time zone). Default:
        52 steps before ``end``, but no earlier than a year after the first
        incident (so the 52-week baseline has a full year to count); logged and
        recorded.
    end : date or Timestamp, optional
        End of the evaluated period: the last origin is the last one whose horizon
        ends on or before ``end``. Default: midnight after the last incident's day.
    horizon, step : str
        Forecast horizon and the distance between origins: ``"7D"``, ``"2W"``,
        ``"12h"``. Days and weeks are calendar days in the local time zone.
    coverages : iterable of float
        Shares of the area at which hit rate, PAI, PEI and RRI are measured.
    baselines : bool
        Add the naive baselines (:func:`naive_baselines`). Leave on: a forecast's
        accuracy means little without them.
    errors : {"raise", "warn"}
        When a model fails at an origin: stop, or warn and leave its scores
        missing for that origin.
    keep_risk : bool
        Keep every forecast in ``attrs["risk"]`` (a dict ``(label, origin) -> array``).
    n_jobs : int
        Origins processed in parallel (joblib processes); 1 runs in this process.
    progress : bool
        Show a progress bar over origins (tqdm, on stderr; with ``n_jobs=1`` only).

    Returns
    -------
    DataFrame
        One row per model, origin and coverage: ``model``, ``origin``,
        ``coverage``, ``hit_rate``, ``pai``, ``pei``, ``rri``, ``best_hit_rate``,
        ``n_actual`` (incidents in the horizon), ``n_previous`` (incidents in the
        horizon before the origin, for RRI), ``n_train`` (incidents the model was
        given), ``n_predicted`` (sum of the forecast), ``deviance`` and
        ``log_likelihood`` (Poisson, see :func:`score_forecast`).
        ``attrs["models"]`` maps each label to its class and parameters.

    Notes
    -----
    Incidents outside the grid are not counted. Hit rates are NaN at origins
    whose horizon holds no incident.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=1500, random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> results = intel.rolling_backtest(incidents, [intel.KDERisk()], grid=grid,
    ...                                  start="2018-10-01", end="2018-12-31")
    >>> sorted(results["model"].unique())[:2]
    ['KDERisk()', 'LastPeriod()']
    """
    owner = "rolling_backtest"
    check_incidents(incidents, owner=owner, need=("geometry", "occurred_at"))
    check_option("errors", errors, owner, ("raise", "warn"))
    check_number("n_jobs", n_jobs, owner, low=1, integer=True)
    if not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: grid must be a Grid from intel.make_grid; got {type(grid).__name__}.")
    from .grid import assign_cells, cell_area_m2, resolve_grid
    from .models._base import point_coordinates

    grid, incidents = resolve_grid(incidents, grid, cell_size_m=None, shape="square", owner=owner)
    cov = m.check_coverages(list(coverages), owner)
    h = parse_period(horizon, "horizon", owner)
    s = parse_period(step, "step", owner)
    labelled = _label_models(models, baselines, owner)

    data = _sorted_incidents(incidents, owner)
    times = _ns(data["occurred_at"])
    tz = data["occurred_at"].dt.tz
    start_, end_, automatic = default_window(data["occurred_at"], start, end, s, owner)
    origins = make_origins(start_, end_, h, s, tz, owner)
    if len(data) and origins[-1] + h > data["occurred_at"].iloc[-1] + pd.Timedelta(days=1):
        warnings.warn(
            f"{owner}: the incidents end at {data['occurred_at'].iloc[-1]} but the last horizon ends at "
            f"{origins[-1] + h}; its counts are incomplete. Set end to the end of the data.",
            DataQualityWarning,
            stacklevel=2,
        )
    if not len(data) or origins[0] <= data["occurred_at"].iloc[0]:
        warnings.warn(f"{owner}: the first origin ({origins[0]}) has no incidents before it to learn from.", DataQualityWarning, stacklevel=2)
    data.attrs = {}  # pandas deep-copies attrs on every slice; the models need none of the load record
    xy = point_coordinates(data)
    positions = assign_cells(xy if xy is not None else data, grid)
    weights = data["weight"].to_numpy(np.float64) if "weight" in data.columns else np.ones(len(data))
    context = _Context(data, times, positions, weights, grid, cell_area_m2(grid), cov, horizon, h, errors, keep_risk, xy)

    tasks = [(i, o) for i, o in enumerate(origins)]
    if n_jobs == 1:
        iterator = _progress(tasks, progress)
        parts = [_run_origin(context, labelled, i, o) for i, o in iterator]
    else:
        from joblib import Parallel, delayed

        chunks = [tasks[k::n_jobs] for k in range(n_jobs)]
        done = Parallel(n_jobs=n_jobs)(delayed(_run_chunk)(context, labelled, chunk) for chunk in chunks if chunk)
        parts = sorted((p for chunk in done for p in chunk), key=lambda p: p[0])
        parts = [p[1] for p in parts]
    for part in parts:
        for message in part["failures"]:
            warnings.warn(message, DataQualityWarning, stacklevel=2)
    results = _assemble(parts, labelled, cov)
    if keep_risk:
        results.attrs["risk"] = {key: value for part in parts for key, value in part["risk"].items()}
    results.attrs["models"] = {label: _describe(model) for label, model in labelled.items()}
    params = {
        "models": list(labelled), "start": start, "end": end, "horizon": horizon, "step": step,
        "coverages": cov, "baselines": baselines, "errors": errors, "n_jobs": n_jobs,
    }
    extra = {
        "n_origins": len(origins), "first_origin": origins[0], "last_origin": origins[-1],
        "n_cells": len(grid), "grid": dict(grid.attrs.get("grid", {})), "n_incidents": len(data),
        "rules": {
            "training": "each model sees only incidents with occurred_at < origin",
            "actual": "incidents with origin <= occurred_at < origin + horizon, inside the grid, weighted",
            "rri_previous_period": "[origin - horizon, origin)",
            "selection": "cells ranked by risk per unit area; partial cell by area share; ties shared",
        },
    }
    return attach(results, make_record(owner, params, automatic=automatic, extra=extra))


def default_window(times: pd.Series, start: Any, end: Any, step: Any, owner: str) -> tuple[Any, Any, dict[str, Any]]:
    """Fill in a missing backtest ``start``/``end`` from the data (announced and returned as automatic choices)."""
    automatic: dict[str, Any] = {}
    if start is not None and end is not None:
        return start, end, automatic
    if times.isna().all():
        raise InputError(f"{owner}: the incidents have no occurred_at times; give start= and end=.")
    first = times.min()
    if end is None:
        end, automatic["end"] = _after_last_day(times)
        announce("%s: backtest end set to %s (%s). Pass end= to choose.", owner, end, automatic["end"]["rule"])
    if start is None:
        end_ts = _as_time(end, times.dt.tz)
        start = end_ts
        for _ in range(52):
            start = start - step
        earliest = first.normalize() + pd.DateOffset(days=365)
        rule = "52 steps before end, but no earlier than a year after the first incident"
        if start < earliest:
            start = earliest
        automatic["start"] = {"value": start, "rule": rule}
        announce("%s: first backtest origin set to %s (%s). Pass start= to choose.", owner, start, rule)
    return start, end, automatic


def _after_last_day(times: pd.Series) -> tuple[pd.Timestamp, dict[str, Any]]:
    end = times.max().normalize() + pd.DateOffset(days=1)
    return end, {"value": end, "rule": "midnight after the day of the last incident"}


class _Context:
    """What every origin needs, built once (picklable for joblib)."""

    def __init__(self, data, times, positions, weights, grid, area, coverages, horizon, h, errors, keep_risk, xy=None):
        self.data, self.times, self.positions, self.weights = data, times, positions, weights
        self.xy = xy  # every row's coordinates, read once: models reuse them at every origin
        self.grid, self.area, self.coverages = grid, area, coverages
        self.horizon, self.h, self.errors, self.keep_risk = horizon, h, errors, keep_risk


def _run_chunk(context: _Context, labelled: dict[str, Any], chunk: list[tuple[int, pd.Timestamp]]) -> list:
    return [(i, _run_origin(context, labelled, i, o)) for i, o in chunk]


def _run_origin(c: _Context, labelled: dict[str, Any], i: int, origin: pd.Timestamp) -> dict[str, Any]:
    from sklearn.base import clone

    from .models._base import known_coordinates

    n_cells = len(c.grid)
    t0 = _ns_one(origin)
    k0 = int(np.searchsorted(c.times, t0, side="left"))
    k1 = int(np.searchsorted(c.times, _ns_one(origin + c.h), side="left"))
    kp = int(np.searchsorted(c.times, _ns_one(origin - c.h), side="left"))
    actual = _counts(c.positions[k0:k1], c.weights[k0:k1], n_cells)
    previous = _counts(c.positions[kp:k0], c.weights[kp:k0], n_cells)
    rows, kept, failures = [], {}, []
    for label, model in labelled.items():
        try:
            first = _first_needed(model, c.times, origin)
            past = c.data.iloc[first:k0]
            if c.xy is None:
                fitted = clone(model).fit(past, grid=c.grid, origin=origin)
            else:
                with known_coordinates(past, c.xy[0][first:k0], c.xy[1][first:k0]):
                    fitted = clone(model).fit(past, grid=c.grid, origin=origin)
            risk = np.asarray(fitted.predict_risk(horizon=c.horizon), dtype=np.float64)
            if risk.shape != (n_cells,):
                raise InputError(f"{label}.predict_risk returned shape {risk.shape}; expected ({n_cells},), one value per cell.")
        except Exception as exc:  # noqa: BLE001 - reported with the model and origin, or re-raised
            if c.errors == "raise":
                if isinstance(exc, IntelError):
                    raise type(exc)(f"rolling_backtest: {label} failed at origin {origin}: {exc}") from exc
                raise
            # collected, not warned here: warnings raised in joblib workers never reach the caller
            failures.append(f"rolling_backtest: {label} failed at origin {origin} ({type(exc).__name__}: {exc}); "
                            "its scores there are left missing.")
            risk = None
        rows.append(_score(label, origin, risk, actual, previous, c, k0))
        if c.keep_risk and risk is not None:
            kept[(label, origin)] = risk
    return {"rows": rows, "risk": kept, "failures": failures}


def _first_needed(model: Any, times: np.ndarray, origin: pd.Timestamp) -> int:
    """First row a model can use: intel's models declare how many days of history they read.

    Handing a model only that window gives the same fit (the model cuts to the same
    window itself) without copying years of rows it would skip; a day of margin covers
    daylight-saving shifts.
    """
    lookback = getattr(model, "_lookback_days", None)
    days = lookback() if callable(lookback) else None
    if days is None or not np.isfinite(days):
        return 0
    return int(np.searchsorted(times, _ns_one(origin - pd.Timedelta(days=float(days) + 1.0)), side="left"))


def _score(label, origin, risk, actual, previous, c: _Context, n_train: int) -> dict[str, Any]:
    ncov = c.coverages.size
    out: dict[str, Any] = {"model": label, "origin": origin, "n_actual": actual.sum(), "n_previous": previous.sum(),
                           "n_train": n_train}
    if risk is None or not np.isfinite(risk).all():
        nan = np.full(ncov, np.nan)
        out.update(hit_rate=nan, pai=nan, pei=nan, rri=nan, best_hit_rate=nan, n_predicted=np.nan,
                   deviance=np.nan, log_likelihood=np.nan)
        return out
    hit, pai_, pei_ = m.hit_rates(risk, actual, c.area, c.coverages, "share")
    total = actual.sum()
    best = m.best_captured(actual, c.area, c.coverages) / total if total > 0 else np.full(ncov, np.nan)
    poisson = m.poisson_scores(np.maximum(risk, 0.0), actual)
    out.update(
        hit_rate=hit, pai=pai_, pei=pei_, rri=_rri(risk, actual, previous, c.area, c.coverages, "share"),
        best_hit_rate=best, n_predicted=poisson["n_predicted"], deviance=poisson["deviance"],
        log_likelihood=poisson["log_likelihood"],
    )
    return out


def _assemble(parts: list[dict[str, Any]], labelled: dict[str, Any], cov: np.ndarray) -> pd.DataFrame:
    records = [row for part in parts for row in part["rows"]]
    n = len(records)
    ncov = cov.size
    per_cov = ("hit_rate", "pai", "pei", "rri", "best_hit_rate")
    scalar = ("n_actual", "n_previous", "n_train", "n_predicted", "deviance", "log_likelihood")
    frame = {
        "model": np.repeat([r["model"] for r in records], ncov),
        "origin": pd.DatetimeIndex([r["origin"] for r in records]).repeat(ncov),
        "coverage": np.tile(cov, n),
    }
    for name in per_cov:
        frame[name] = np.concatenate([r[name] for r in records]) if n else np.array([])
    for name in scalar:
        frame[name] = np.repeat(np.asarray([r[name] for r in records], dtype=np.float64), ncov)
    table = pd.DataFrame(frame)
    table["model"] = pd.Categorical(table["model"], categories=list(labelled), ordered=True)
    table = table.sort_values(["model", "origin", "coverage"], kind="stable").reset_index(drop=True)
    table["model"] = table["model"].astype(str)
    return table


def _label_models(models: Any, baselines: bool, owner: str) -> dict[str, Any]:
    if isinstance(models, Mapping):
        given = {str(k): v for k, v in models.items()}
    elif isinstance(models, (list, tuple)):
        given = {}
        for model in models:
            label = model_label(model)
            if label in given:
                raise InputError(f"{owner}: two models are both {label}; pass a dict to give them different labels.")
            given[label] = model
    else:
        raise InputError(f"{owner}: models must be a list of models or a dict of label -> model; got {type(models).__name__}.")
    for label, model in given.items():
        if not (hasattr(model, "fit") and hasattr(model, "predict_risk") and hasattr(model, "get_params")):
            raise InputError(
                f"{owner}: {label} is not a risk model (it needs fit(incidents, grid=, origin=), predict_risk(horizon=) "
                "and get_params(), as the classes in intel.models have)."
            )
    labelled: dict[str, Any] = {}
    if baselines:
        for label, baseline in naive_baselines().items():
            if label in given and not _same_model(baseline, given[label]):
                raise InputError(f"{owner}: the label {label!r} is reserved for the naive baseline; label your model otherwise.")
            if not any(_same_model(baseline, model) for model in given.values()):
                labelled[label] = baseline
    labelled.update(given)
    if not labelled:
        raise InputError(f"{owner}: no models to evaluate.")
    return labelled


def _describe(model: Any) -> dict[str, Any]:
    params = model.get_params(deep=False)
    return {"class": type(model).__name__, "params": {k: _plain(v) for k, v in params.items()}}


def _plain(value: Any) -> Any:
    if hasattr(value, "get_params"):
        return model_label(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (gpd.GeoDataFrame, pd.DataFrame)):
        return f"<{type(value).__name__}: {len(value)} rows>"
    return value


def _sorted_incidents(incidents: gpd.GeoDataFrame, owner: str) -> gpd.GeoDataFrame:
    times = incidents["occurred_at"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise InputError(f"{owner}: occurred_at must be tz-aware datetimes (as intel.read_incidents makes them); got {times.dtype}.")
    missing = times.isna().to_numpy()
    if missing.any():
        warnings.warn(f"{owner}: {int(missing.sum())} incidents without occurred_at were left out.", DataQualityWarning, stacklevel=3)
    order = np.argsort(_ns(times.loc[~missing]), kind="stable")
    return incidents.loc[~missing].iloc[order].reset_index(drop=True)


def _ns(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _ns_one(t: pd.Timestamp) -> int:
    return int(pd.Timestamp(t).as_unit("ns").value)


def _counts(positions: np.ndarray, weights: np.ndarray, n_cells: int) -> np.ndarray:
    inside = positions >= 0
    return np.bincount(positions[inside], weights=weights[inside], minlength=n_cells).astype(np.float64)


def _progress(items: list, show: bool):
    if not show:
        return items
    from ._progress import track

    # tqdm on stderr, not tqdm.auto: the notebook widget needs ipywidgets and warns without it
    return track(items, desc="backtest origins", unit="origin", enabled=True)


# ------------------------------------------------------------------ models by name (CLI)

MODEL_NAMES: dict[str, str] = {
    "naive": "the naive baselines: LastPeriod, RecentCount(weeks=4), RecentCount(weeks=52), SamePeriodLastYear "
             "(as a forecast: RecentCount(weeks=52))",
    "kde": "KDERisk(): retrospective kernel density of the last year",
    "stkde": "KDERisk(time_decay_days=28): space-time KDE favouring recent incidents",
    "prospective": "ProspectiveHotspot(): prospective hot-spotting (Bowers, Johnson & Pease 2004)",
    "sepp": "GridSEPP(): grid self-exciting point process fitted by EM (Mohler et al. 2015)",
    "ksepp": "KernelSEPP(): kernel self-exciting point process with sparse triggering (Mohler et al. 2011)",
    "rtm": "RiskTerrain(layers=...): risk terrain modelling from environmental layers",
    "gbm": "GradientBoostingRisk(): Poisson gradient boosting on lagged, neighbourhood and seasonal features",
    "ensemble": "EnsembleRisk(...): 52-week count + 3-year decayed KDE (long memory) + prospective hot-spotting "
                "(short term), weights learnt on the 8 weeks before each origin",
}


def models_from_names(names: Iterable[str], *, layers: Mapping[str, Any] | None = None, owner: str = "models") -> dict[str, Any]:
    """Models for short names (:data:`MODEL_NAMES`), labelled as in backtest tables.

    ``"naive"`` stands for the four baselines. ``"rtm"`` needs ``layers`` (name ->
    GeoDataFrame of bars, stops ...).
    """
    from . import models as lib

    out: dict[str, Any] = {}
    for raw in names:
        name = str(raw).strip().lower()
        if not name:
            continue
        if name not in MODEL_NAMES:
            raise InputError(f"{owner}: unknown model {raw!r}; choose from {', '.join(MODEL_NAMES)}.")
        if name == "naive":
            out.update(naive_baselines())
            continue
        model = _model_for(name, lib, layers, owner)
        out[model_label(model)] = model
    if not out:
        raise InputError(f"{owner}: no model named; choose from {', '.join(MODEL_NAMES)}.")
    return out


def _model_for(name: str, lib: Any, layers: Mapping[str, Any] | None, owner: str) -> Any:
    def need(cls_name: str) -> Any:
        cls = getattr(lib, cls_name, None)
        if cls is None:
            raise InputError(f"{owner}: the model {name!r} needs intel.models.{cls_name}, which this version of intel lacks.")
        return cls

    if name == "kde":
        return need("KDERisk")()
    if name == "stkde":
        return need("KDERisk")(time_decay_days=28)
    if name == "prospective":
        return need("ProspectiveHotspot")()
    if name == "sepp":
        return need("GridSEPP")()
    if name == "ksepp":
        return need("KernelSEPP")()
    if name == "gbm":
        return need("GradientBoostingRisk")()
    if name == "rtm":
        if not layers:
            raise InputError(f"{owner}: the model 'rtm' needs environmental layers; give them with --layer NAME=FILE "
                             "(e.g. --layer bars=bars.geojson) or layers={{name: GeoDataFrame}}.")
        return need("RiskTerrain")(layers=dict(layers))
    return default_ensemble(lib)


def default_ensemble(lib: Any = None) -> Any:
    """The ensemble behind ``"ensemble"``: long memory plus a short-term near-repeat term, weights learnt.

    Members: the 52-week count; a three-year KDE over about one cell whose incidents
    lose half their weight a year (``time_decay_days=527``); prospective hot-spotting
    (the short-term, near-repeat term). Weights maximise the Poisson likelihood of
    the 8 weeks before each origin, so they adapt to the offence: on Chicago (150 m
    cells, weekly, 2017-18) they came out near 0 / 0.85 / 0.15 for burglary and
    0.55 / 0.45 / 0 for all crime. ``benchmarks/quality_backtest.py`` measures it.
    """
    if lib is None:
        from . import models as lib
    cls = getattr(lib, "EnsembleRisk", None)
    if cls is None:
        raise InputError("the model 'ensemble' needs intel.models.EnsembleRisk, which this version of intel lacks.")
    members = [lib.RecentCount(weeks=52), lib.KDERisk(window_days=1092, time_decay_days=527), lib.ProspectiveHotspot()]
    return cls(models=members, weights="learn")


def build_forecast(
    incidents: gpd.GeoDataFrame,
    model: Any,
    *,
    grid: gpd.GeoDataFrame,
    origin: Any = None,
    horizon: str = "7D",
    backtest_origins: int = 12,
    step: str = "7D",
    coverages: Iterable[float] = (0.01, 0.05, 0.1),
    n_boot: int = 2000,
    random_state: int | np.random.Generator | None = 0,
) -> gpd.GeoDataFrame:
    """Fit a model at ``origin``, forecast the horizon, and attach its backtested model card.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents, history included.
    model : risk model
        An unfitted model from :mod:`intel.models`.
    grid : GeoDataFrame
        The grid to forecast on.
    origin : date or Timestamp, optional
        Start of the forecast; default midnight after the last incident's day.
    horizon : str
        Length of the forecast, e.g. ``"7D"``.
    backtest_origins : int
        Origins (``step`` apart, ending at ``origin``) of the backtest that measures
        the model against the naive baselines for its card; 0 skips it and the card
        says the model was not backtested.
    step, coverages, n_boot, random_state
        As in :func:`rolling_backtest` and :func:`summarize_backtest`.

    Returns
    -------
    GeoDataFrame
        CellScores (grid rows plus ``risk`` and ``rank``); ``attrs["model_card"]``
        holds the card (see :func:`build_model_card`), ``attrs["backtest"]`` the
        backtest summary as records.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=1500, random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> scores = intel.build_forecast(incidents, intel.KDERisk(), grid=grid, backtest_origins=4, n_boot=200)
    >>> scores.attrs["model_card"]["backtest"]["n_origins"]
    4
    """
    from sklearn.base import clone

    owner = "build_forecast"
    check_incidents(incidents, owner=owner, need=("geometry", "occurred_at"))
    check_number("backtest_origins", backtest_origins, owner, low=0, integer=True)
    automatic: dict[str, Any] = {}
    if origin is None:
        if incidents["occurred_at"].isna().all():
            raise InputError(f"{owner}: the incidents have no occurred_at times; give origin=.")
        origin, automatic["origin"] = _after_last_day(incidents["occurred_at"])
        announce("%s: forecast origin set to %s (%s). Pass origin= to choose.", owner, origin, automatic["origin"]["rule"])
    label = model_label(model)
    fitted = clone(model).fit(incidents, grid=grid, origin=origin)
    scores = fitted.predict(horizon=horizon)
    summary = None
    if backtest_origins:
        s = parse_period(step, "step", owner)
        end = fitted.origin_
        start = end
        for _ in range(backtest_origins):
            start = start - s
        results = rolling_backtest(incidents, {label: model}, grid=grid, start=start, end=end, horizon=horizon,
                                   step=step, coverages=coverages, errors="warn")
        summary = summarize_backtest(results, n_boot=n_boot, random_state=random_state)
        scores.attrs["backtest"] = summary.to_dict(orient="records")
    scores.attrs["model_card"] = build_model_card(fitted, summary, incidents=incidents, grid=grid, horizon=horizon,
                                                  label=label)
    params = {"model": label, "origin": origin if not automatic else None, "horizon": horizon,
              "backtest_origins": backtest_origins, "step": step, "coverages": list(coverages), "n_boot": n_boot}
    seed = random_state if not isinstance(random_state, np.random.Generator) else "Generator"
    return attach(scores, make_record(owner, params, automatic=automatic, seed=seed,
                                      extra={"origin": fitted.origin_, "n_train": fitted.n_train_}))


# ------------------------------------------------------------------ summaries


def summarize_backtest(
    results: pd.DataFrame,
    *,
    n_boot: int = 2000,
    random_state: int | np.random.Generator | None = 0,
    reference: str = BASELINE_REFERENCE,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean accuracy per model and coverage, with bootstrap intervals and a paired comparison.

    Origins are resampled with replacement (``n_boot`` times, the same resamples
    for every model, so comparisons stay paired); intervals are percentile
    bootstrap intervals of the mean over origins. The comparison with the
    ``reference`` baseline is judged per origin: the mean of the per-origin
    differences in PAI (and hit rate) with its own percentile interval. A model
    ``"better"`` than the reference has an interval for the PAI difference that
    lies wholly above zero.

    Parameters
    ----------
    results : DataFrame
        From :func:`rolling_backtest`.
    n_boot : int
        Bootstrap resamples of the origins.
    random_state : int, Generator or None
        Seed for the resampling.
    reference : str
        Label of the model to compare against; by default the 52-week count, the
        strongest naive baseline in published comparisons. Use a label in
        ``results["model"]``.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per model and coverage: ``model``, ``coverage``, ``n_origins``;
        ``hit_rate``, ``pai``, ``pei``, ``rri`` (means over origins) each with
        ``_lo`` and ``_hi`` bounds; ``pai_diff`` and ``hit_rate_diff`` (mean
        paired difference from the reference) with bounds; ``pai_ratio`` (mean PAI
        over the reference's); ``vs_reference`` (``"better"``, ``"worse"``, ``"not
        distinguishable"``, ``"reference"``, or ``"no scores"`` for a model that
        failed at every origin).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(n_background=1500, random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> results = intel.rolling_backtest(incidents, [intel.KDERisk()], grid=grid,
    ...                                  start="2018-10-01", end="2018-12-31")
    >>> summary = intel.summarize_backtest(results, n_boot=200)
    >>> {"pai", "pai_lo", "pai_hi", "vs_reference"} <= set(summary.columns)
    True
    """
    owner = "summarize_backtest"
    if not isinstance(results, pd.DataFrame) or not {"model", "origin", "coverage", "hit_rate", "pai"} <= set(results.columns):
        raise InputError(f"{owner}: results must be the table returned by rolling_backtest.")
    check_number("n_boot", n_boot, owner, low=1, integer=True)
    check_number("level", level, owner, low=0.0, high=1.0, closed="neither")
    rng = check_random_state(random_state)
    labels = list(dict.fromkeys(results["model"]))
    if reference not in labels:
        raise InputError(
            f"{owner}: the reference {reference!r} is not among the models {labels}. Pass reference= one of them "
            "(run the backtest with baselines=True to include the naive baselines)."
        )
    origins = pd.DatetimeIndex(sorted(results["origin"].unique()))
    draws = rng.integers(0, len(origins), size=(n_boot, len(origins)))
    q = [(1.0 - level) / 2.0 * 100.0, (1.0 + level) / 2.0 * 100.0]
    rows = []
    for coverage, part in results.groupby("coverage", sort=True):
        wide = {
            name: part.pivot_table(index="origin", columns="model", values=name, aggfunc="first", dropna=False)
            .reindex(index=origins, columns=labels)
            for name in ("hit_rate", "pai", "pei", "rri")
            if name in part.columns
        }
        for label in labels:
            row: dict[str, Any] = {"model": label, "coverage": float(coverage)}
            row["n_origins"] = int(np.isfinite(wide["pai"][label].to_numpy()).sum())
            for name, table in wide.items():
                values = table[label].to_numpy(np.float64)
                row[name] = _nanmean(values)
                row[f"{name}_lo"], row[f"{name}_hi"] = _boot_interval(values, draws, q)
            for name in ("pai", "hit_rate"):
                diff = wide[name][label].to_numpy(np.float64) - wide[name][reference].to_numpy(np.float64)
                row[f"{name}_diff"] = _nanmean(diff)
                row[f"{name}_diff_lo"], row[f"{name}_diff_hi"] = _boot_interval(diff, draws, q)
            ref_pai = _nanmean(wide["pai"][reference].to_numpy(np.float64))
            row["pai_ratio"] = row["pai"] / ref_pai if ref_pai and np.isfinite(ref_pai) else np.nan
            row["vs_reference"] = _verdict(label, reference, row["pai_diff_lo"], row["pai_diff_hi"], row["n_origins"])
            rows.append(row)
    summary = pd.DataFrame(rows)
    summary.attrs["reference"] = reference
    params = {"n_boot": n_boot, "random_state": random_state if not isinstance(random_state, np.random.Generator) else "Generator",
              "reference": reference, "level": level}
    extra = {
        "interval": f"percentile bootstrap over origins, {n_boot} resamples, {level:.0%}",
        "comparison": "mean of per-origin differences from the reference (paired resamples of origins)",
        "n_origins": len(origins),
    }
    return attach(summary, make_record(owner, params, seed=params["random_state"], extra=extra))


def _nanmean(values: np.ndarray) -> float:
    ok = np.isfinite(values)
    return float(values[ok].mean()) if ok.any() else np.nan


def _boot_interval(values: np.ndarray, draws: np.ndarray, q: list[float]) -> tuple[float, float]:
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return np.nan, np.nan
    sample = values[draws]
    valid = np.isfinite(sample)
    counts = valid.sum(axis=1)
    sums = np.where(valid, sample, 0.0).sum(axis=1)
    means = sums[counts > 0] / counts[counts > 0]
    lo, hi = np.percentile(means, q)
    return float(lo), float(hi)


def _verdict(label: str, reference: str, lo: float, hi: float, n_origins: int) -> str:
    if label == reference:
        return "reference"
    if n_origins == 0:
        return "no scores"
    if np.isfinite(lo) and lo > 0:
        return "better"
    if np.isfinite(hi) and hi < 0:
        return "worse"
    return "not distinguishable"
