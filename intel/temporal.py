"""Temporal products: the hour-by-weekday table, counts by category and period, and period comparisons.

All three spread incidents known only to a window over the time it covers, like
:func:`intel.build_cube` (the aoristic method; see :mod:`intel.cube`), and return tidy
tables with stable column names (the weekly briefing reads them).

Comparing counts
----------------
:func:`compare_periods` never reports a percent change alone. Each comparison is a
current count ``a`` over one span against a baseline total ``B`` over ``r`` spans of
the same length (``r = 4`` for the prior four weeks, 1 for the same week last year
and for year to date against the same span last year). The baseline is shown as a
rate on the current span's footing, ``b = B / r``, and the z-score is the
variance-stabilised (square-root) difference of two Poisson counts::

    z = 2 * (sqrt(a) - sqrt(B / r)) / sqrt(1 + 1 / r)

``sqrt`` of a Poisson count has variance 1/4, so ``2 * (sqrt(a) - sqrt(b))`` is the
z-score of ``a`` against a *known* expectation ``b``; the factor ``sqrt(1 + 1/r)``
adds the baseline's own noise (the mean of four weeks is four times steadier than
one week, so it adds a quarter of the variance; one week last year adds as much as
this week). Without that adjustment a one-week against one-week comparison would
overstate ``|z|`` by ``sqrt(2)``. The p-value is exact: given ``a + B``, ``a`` is
binomial with probability ``1 / (1 + r)`` when the rate has not changed (two-sided,
:func:`scipy.stats.binomtest`, on counts rounded to whole incidents: aoristic shares
and weights make counts fractional).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import Any

import numba
import numpy as np
import pandas as pd

from ._incidents import check_incidents
from ._provenance import announce, attach, make_record
from ._validation import check_option
from .cube import (
    FIXED_POINT,
    _HOUR_US,
    _NAT,
    _as_us_int,
    accumulate,
    check_resolution,
    incident_windows,
    from_us,
    localize,
    make_calendar,
    parse_freq,
    parse_timestamp,
    warn_window_problems,
)
from .exceptions import DataQualityWarning, InputError, ResolutionError

__all__ = ["build_hour_weekday", "build_period_counts", "compare_periods", "WEEKDAYS"]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
COMPARISONS = ("prior_4_weeks", "same_week_last_year", "year_to_date")
_WEEK_US = 7 * 24 * _HOUR_US
# 1970-01-05 was a Monday: hour-of-week counts from there
_MONDAY_US = 4 * 24 * _HOUR_US


def build_hour_weekday(incidents: Any, *, aoristic: bool = True) -> pd.DataFrame:
    """Incidents by hour of the week: a 7 x 24 table (weekday rows, hour columns).

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents with ``occurred_at`` (and ``occurred_to``, ``time_resolution``,
        ``weight`` when present). Hours are local (the time zone of ``occurred_at``).
    aoristic : bool
        Spread each incident over the hours its window covers, in proportion to the
        overlap: a day-resolution row gives 1/24 to each hour of its day, a burglary
        between 18:00 Friday and 08:00 Monday a share to each of those 62 hours.
        ``False`` puts each incident in the hour of its ``occurred_at``.

    Returns
    -------
    DataFrame
        Index ``weekday`` (``"Monday"`` .. ``"Sunday"``), integer columns ``0`` .. ``23``
        (``hour``), values the weighted counts (floats); the total is the number of
        incidents with a time.

    Raises
    ------
    ResolutionError
        Month-resolution rows (police.uk): the hour and the weekday are unknown.

    Examples
    --------
    >>> import intel
    >>> table = intel.build_hour_weekday(intel.make_synthetic(random_state=0))
    >>> table.shape, table.index[0], round(table.to_numpy().sum())
    ((7, 24), 'Monday', 2900)
    """
    owner = "build_hour_weekday"
    incidents = _check(incidents, owner)
    check_option("aoristic", aoristic, owner, (True, False))
    windows = incident_windows(incidents, aoristic=aoristic)
    warn_window_problems(windows, owner)
    n_month = windows.resolution_counts.get("month", 0)
    if n_month:
        # day rows are spread over their 24 hours; a month row's weekday is unknown too
        raise ResolutionError(
            f"{owner}: {n_month:,} incidents have month resolution (each could have happened any time in its "
            "month), so their hour and weekday are unknown. Leave them out first: "
            "incidents[incidents['time_resolution'] != 'month']."
        )
    # The table is about the wall clock: work in local time.
    t0 = _wall_clock_us(incidents["occurred_at"])
    t1 = t0 if windows.t1 is windows.t0 else t0 + (windows.t1 - windows.t0)
    counts = np.zeros(168)
    _hour_of_week(counts, t0, t1, windows.units.astype(np.float64) / FIXED_POINT, _NAT)
    table = pd.DataFrame(counts.reshape(7, 24), index=pd.Index(list(WEEKDAYS), name="weekday"),
                         columns=pd.Index(range(24), name="hour"))
    record = make_record(owner, {"aoristic": aoristic},
                         extra={"n_incidents": len(incidents), "n_without_time": windows.n_no_time,
                                "tz": str(windows.tz) if windows.tz is not None else None})
    return attach(table, record)


def build_period_counts(
    incidents: Any,
    *,
    freq: str = "W-MON",
    by: str | None = "category",
    start: Any = None,
    end: Any = None,
    aoristic: bool = True,
) -> pd.DataFrame:
    """Counts by group and period, with a row (and a zero) for every pair.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents with ``occurred_at`` (and ``by``).
    freq : str
        Period length, as in :func:`intel.build_cube` (``"W-MON"``, ``"D"``, ``"MS"`` ...).
    by : str or None
        Column to group by (``"category"``); ``None`` counts all incidents together.
        Missing values form the group ``"(missing)"``.
    start, end : date or str, optional
        Whole periods inside ``[start, end)``; by default those covering the data
        (announced and recorded), as in :func:`intel.build_cube`.
    aoristic : bool
        Spread incidents over the periods their window covers (see :mod:`intel.cube`).

    Returns
    -------
    DataFrame
        Columns ``<by>`` (when grouping), ``period`` (tz-aware period start) and ``n``
        (weighted count), sorted by group then period, RangeIndex.

    Raises
    ------
    ResolutionError
        Periods shorter than the data's time resolution (weekly counts of monthly data).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(categories={"burglary": 0.7, "theft": 0.3}, random_state=0)
    >>> counts = intel.build_period_counts(incidents, freq="MS")
    >>> list(counts.columns), len(counts)
    (['category', 'period', 'n'], 24)
    """
    owner = "build_period_counts"
    incidents = _check(incidents, owner)
    check_option("aoristic", aoristic, owner, (True, False))
    offset = parse_freq(freq, owner)
    _check_by(incidents, by, owner)
    windows = incident_windows(incidents, aoristic=aoristic)
    warn_window_problems(windows, owner)
    check_resolution(windows.resolution_counts, offset, freq, owner)
    calendar = make_calendar(offset, freq, windows.tz, start=start, end=end, data_range=windows.data_range(),
                             owner=owner)
    groups, labels = _groups(incidents, by)
    counts = np.zeros(len(labels) * calendar.n_periods, dtype=np.int64)
    accumulate(counts, groups, windows, calendar.bounds_us)
    n_periods = calendar.n_periods
    table = pd.DataFrame({
        "period": calendar.periods[np.tile(np.arange(n_periods), len(labels))],
        "n": counts / FIXED_POINT,
    })
    if by is not None:
        table.insert(0, by, pd.array(np.repeat(labels, n_periods), dtype="str"))
    params = {"freq": calendar.freq, "by": by, "aoristic": aoristic,
              "start": None if "start" in calendar.automatic else calendar.boundaries[0],
              "end": None if "end" in calendar.automatic else calendar.boundaries[-1]}
    extra = {"n_periods": n_periods, "n_groups": len(labels), "n_incidents": len(incidents)}
    return attach(table, make_record(owner, params, automatic=calendar.automatic, extra=extra))


def compare_periods(
    incidents: Any,
    *,
    week: Any = None,
    by: str | None = None,
    aoristic: bool = True,
) -> pd.DataFrame:
    """This week against the prior four weeks, the same week last year, and year to date.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incidents with ``occurred_at`` (and ``by``).
    week : str or date, optional
        The week to brief on: an ISO week (``"2018-W44"``) or any date in it. Weeks
        run Monday to Sunday in the incidents' time zone. Default: the last whole
        week of the data (announced and recorded).
    by : str or None
        Column to compare within (e.g. ``"category"``); ``None`` compares all
        incidents together.
    aoristic : bool
        Spread incidents over the time their window covers (see :mod:`intel.cube`).

    Returns
    -------
    DataFrame
        One row per group (when ``by``) and comparison, with columns ``<by>``,
        ``comparison`` (``"prior_4_weeks"``, ``"same_week_last_year"``,
        ``"year_to_date"``), ``current_start``, ``current_end``, ``baseline_start``,
        ``baseline_end`` (local, end excluded), ``current`` (count), ``baseline`` (the
        baseline on the current span's footing: the weekly mean for the prior four
        weeks), ``baseline_total``, ``baseline_spans`` (``r``), ``difference``,
        ``percent_change`` (NaN for a zero baseline), ``z`` and ``p_value`` (see the
        module notes), and ``complete`` (False when the data do not cover both spans;
        then ``z`` and ``p_value`` are NaN).

    Raises
    ------
    ResolutionError
        Month-resolution rows: weekly counts of monthly data would be invented.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(start="2017-01-01", end="2019-01-01", random_state=0)
    >>> table = intel.compare_periods(incidents, week="2018-W44")
    >>> table["comparison"].tolist()
    ['prior_4_weeks', 'same_week_last_year', 'year_to_date']
    >>> table.loc[0, "current_start"].isoformat()
    '2018-10-29T00:00:00+00:00'
    """
    owner = "compare_periods"
    incidents = _check(incidents, owner)
    check_option("aoristic", aoristic, owner, (True, False))
    _check_by(incidents, by, owner)
    windows = incident_windows(incidents, aoristic=aoristic)
    warn_window_problems(windows, owner)
    check_resolution(windows.resolution_counts, pd.tseries.frequencies.to_offset("W-MON"), "weekly", owner)
    data_range = windows.data_range()
    if data_range is None:
        raise InputError(f"{owner}: no incident has a time.")
    tz = windows.tz
    automatic: dict[str, Any] = {}
    if week is None:
        last = from_us(data_range[1], tz)
        # the week that ends on or before the day after the last incident's date
        day_after = (last.tz_localize(None) if last.tzinfo else last).normalize() + pd.Timedelta(days=1)
        monday = day_after - pd.Timedelta(days=day_after.weekday() + 7 if day_after.weekday() else 7)
        current_start = localize(monday, tz)
        label = "%d-W%02d" % monday.isocalendar()[:2]
        automatic["week"] = {"value": label, "rule": "last whole week in the data"}
        announce("%s: week set to %s automatically (the last whole week in the data). Pass week= to choose.",
                 owner, label)
    else:
        current_start = localize(_week_start(week, owner), tz)
    spans = _spans(current_start, tz)

    groups, labels = _groups(incidents, by)
    first, last = data_range[:2]
    rows = []
    counted: dict[tuple[pd.Timestamp, pd.Timestamp], np.ndarray] = {}
    for name, (cur, base, r) in spans.items():
        complete = _covers(cur, first, last) and _covers(base, first, last)
        cur_counts = _window_counts(counted, groups, len(labels), windows, cur)
        base_counts = _window_counts(counted, groups, len(labels), windows, base)
        for g, label in enumerate(labels):
            rows.append(_comparison_row(label, name, cur, base, r, cur_counts[g], base_counts[g], complete))
    table = pd.DataFrame(rows)
    if by is None:
        table = table.drop(columns="group")
    else:
        table = table.rename(columns={"group": by})
    incomplete = sorted(set(table.loc[~table["complete"], "comparison"]))
    if incomplete:
        warnings.warn(
            f"{owner}: the data ({from_us(first, tz).date()} to {from_us(last, tz).date()}) do not cover "
            f"{', '.join(incomplete)}; those rows have no z or p-value.", DataQualityWarning, stacklevel=2,
        )
    params = {"week": None if week is None else str(week), "by": by, "aoristic": aoristic}
    extra = {"current_start": spans["prior_4_weeks"][0][0], "n_incidents": len(incidents),
             "z": "2*(sqrt(a) - sqrt(B/r)) / sqrt(1 + 1/r)", "p_value": "exact conditional binomial, two-sided"}
    return attach(table, make_record(owner, params, automatic=automatic, extra=extra))


# ---------------------------------------------------------------- internals


def _check(incidents: Any, owner: str) -> Any:
    incidents = check_incidents(incidents, owner=owner, need=("occurred_at",))
    if len(incidents) == 0:
        raise InputError(f"{owner}: the incidents table is empty.")
    return incidents


def _check_by(incidents: Any, by: str | None, owner: str) -> None:
    if by is not None and by not in incidents.columns:
        raise InputError(f"{owner}: by={by!r} is not a column of the incidents; columns are "
                         f"{list(incidents.columns)[:20]}. Use by=None to take all incidents together.")


def _groups(incidents: Any, by: str | None) -> tuple[np.ndarray, list[Any]]:
    """Group number of every incident and the group labels (sorted; missing values as "(missing)")."""
    if by is None:
        return np.zeros(len(incidents), dtype=np.int64), [None]
    codes, uniques = pd.factorize(incidents[by].astype("string").fillna("(missing)"), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _wall_clock_us(times: pd.Series) -> np.ndarray:
    return _as_us_int(times.dt.tz_localize(None) if getattr(times.dtype, "tz", None) is not None else times)


@numba.njit(cache=True)
def _hour_of_week(counts, t0, t1, w, nat):  # pragma: no cover - compiled
    for i in range(t0.shape[0]):
        a = t0[i]
        if a == nat or w[i] == 0:
            continue
        b = t1[i]
        rel = (a - _MONDAY_US) % _WEEK_US  # microseconds since Monday 00:00
        if b <= a:
            counts[rel // _HOUR_US] += w[i]
            continue
        span = b - a
        weeks = span // _WEEK_US
        if weeks > 0:
            # whole weeks cover every hour alike
            share = w[i] * (weeks * _HOUR_US) / span
            for h in range(168):
                counts[h] += share
        left = span - weeks * _WEEK_US
        pos = rel
        while left > 0:
            h = pos // _HOUR_US
            room = (h + 1) * _HOUR_US - pos
            step = room if room < left else left
            counts[h % 168] += w[i] * step / span
            left -= step
            pos = (pos + step) % _WEEK_US


def _week_start(week: Any, owner: str) -> pd.Timestamp:
    """Monday 00:00 (naive local) of the ISO week string or of the week holding a date."""
    if isinstance(week, str) and "-W" in week.upper():
        try:
            year, number = week.upper().split("-W")
            monday = _dt.date.fromisocalendar(int(year), int(number[:2]), 1)
        except ValueError:
            raise InputError(f"{owner}: week={week!r} is not an ISO week; use e.g. '2018-W44' or a date.") from None
        return pd.Timestamp(monday)
    day = parse_timestamp(week, owner, "week", "'2018-W44' or a date")
    day = (day.tz_localize(None) if day.tzinfo else day).normalize()
    return day - pd.Timedelta(days=day.weekday())


def _spans(current_start: pd.Timestamp, tz: Any) -> dict[str, tuple[tuple, tuple, int]]:
    """(current span, baseline span, r) for each comparison; spans are (start, end) local."""
    naive = current_start.tz_localize(None) if current_start.tzinfo else current_start

    def at(ts: pd.Timestamp) -> pd.Timestamp:
        return localize(ts, tz)

    week_end = naive + pd.Timedelta(days=7)
    # 52 weeks back keeps the weekdays aligned (the same ISO week in most years)
    last_year = naive - pd.Timedelta(weeks=52)
    year_start = pd.Timestamp(year=(week_end - pd.Timedelta(days=1)).year, month=1, day=1)
    return {
        "prior_4_weeks": ((at(naive), at(week_end)), (at(naive - pd.Timedelta(weeks=4)), at(naive)), 4),
        "same_week_last_year": ((at(naive), at(week_end)), (at(last_year), at(last_year + pd.Timedelta(days=7))), 1),
        "year_to_date": ((at(year_start), at(week_end)),
                         (at(year_start - pd.DateOffset(years=1)), at(week_end - pd.DateOffset(years=1))), 1),
    }


def _covers(span: tuple[pd.Timestamp, pd.Timestamp], first_us: int, last_us: int) -> bool:
    # covered when the data reach from the span's first day into its last day
    return first_us < _span_us(span[0]) + 24 * _HOUR_US and last_us >= _span_us(span[1]) - 24 * _HOUR_US


def _window_counts(cache: dict, groups: np.ndarray, n_groups: int, windows: Any, span: tuple) -> np.ndarray:
    if span not in cache:
        bounds = np.array([_span_us(span[0]), _span_us(span[1])], dtype=np.int64)
        counts = np.zeros(n_groups, dtype=np.int64)
        accumulate(counts, groups, windows, bounds)
        cache[span] = counts / FIXED_POINT
    return cache[span]


def _span_us(ts: pd.Timestamp) -> int:
    """Microseconds since the epoch (UTC for aware timestamps), as the windows count them."""
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("us").asm8.view(np.int64))


def _comparison_row(label, name, cur, base, r, a, total, complete) -> dict[str, Any]:
    from scipy.stats import binomtest

    b = total / r
    if complete:
        z = 2.0 * (np.sqrt(a) - np.sqrt(b)) / np.sqrt(1.0 + 1.0 / r)
        k, n = int(round(a)), int(round(a)) + int(round(total))
        p = binomtest(k, n, 1.0 / (1.0 + r)).pvalue if n > 0 else 1.0
    else:
        z = p = np.nan
    return {
        "group": label, "comparison": name,
        "current_start": cur[0], "current_end": cur[1], "baseline_start": base[0], "baseline_end": base[1],
        "current": float(a), "baseline": float(b), "baseline_total": float(total), "baseline_spans": int(r),
        "difference": float(a - b), "percent_change": 100.0 * (a - b) / b if b > 0 else np.nan,
        "z": float(z), "p_value": float(p), "complete": bool(complete),
    }
