"""Space-time cubes: incidents counted by cell and period, every zero explicit.

A Cube is a plain :class:`pandas.DataFrame` indexed by ``(cell_id, period)`` with one
column, ``n`` (the weighted, aoristic count), sorted by cell in grid order then by
period, so ``cube["n"].to_numpy().reshape(n_cells, n_periods)`` is the dense array.
``period`` is the tz-aware start of each period; ``attrs["cube"]`` holds the
frequency, the number of periods and cells, the first and last boundary and the
time zone.

Periods and their calendar
--------------------------
Period boundaries are the points of ``pandas.date_range(..., freq=freq)`` in the
incidents' local time zone: ``"W-MON"`` weeks start on Monday at midnight, ``"MS"``
months on the 1st, ``"D"`` days at midnight (23 or 25 hours long on daylight-saving
days), ``"h"`` hours. End-anchored frequencies (``"ME"``, ``"QE"``, ``"YE"``) would
make periods run from one month's last day to the next's; they are refused in
favour of their start-anchored twins (``"MS"``, ``"QS"``, ``"YS"``).

The aoristic method
-------------------
An incident known only to have happened somewhere in a window (``occurred_to``, or a
coarse ``time_resolution``: a ``"day"`` row could be any time that day, a
``"month"`` row any time that month) is spread over the periods its window
overlaps, each period receiving the share of the window it covers: a burglary
between Friday 18:00 and Monday 06:00 gives 54/60 of its weight to the week ending
on Sunday and 6/60 to the next (Ratcliffe 2002, "Aoristic signatures and the
spatio-temporal analysis of high volume crime patterns"). The window is
``[occurred_at, max(occurred_to, occurred_at + one resolution unit))`` for hour,
day and month rows; a minute-resolution row without ``occurred_to`` is an instant.
Each incident's shares sum to its weight; the part of a window that falls outside
``[start, end)`` is left out of the cube.

Counts are accumulated in fixed point (``2**-32`` of an incident), so the sum does
not depend on the order incidents are added in: the Dask engine, which adds
partitions in whatever order they finish, gives exactly the pandas result.
Integer counts are exact; a fractional share is rounded to within ``2.3e-10``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import shapely
from pandas.tseries.frequencies import to_offset

from ._incidents import check_incidents
from ._provenance import announce, attach, make_record
from ._validation import check_option
from .exceptions import DataQualityWarning, GridError, InputError, ResolutionError

__all__ = ["build_cube"]

ENGINES = ("pandas", "dask")
FIXED_POINT = float(2**32)
# Weights are summed as int64 multiples of 2**-32: keep totals far from 2**63.
_MAX_TOTAL_WEIGHT = 2.0**29
_US = 1_000_000
_HOUR_US = 3600 * _US
_DAY_US = 24 * _HOUR_US
# Shortest period each resolution can fill without inventing detail.
_RESOLUTION_MIN_PERIOD_US = {"hour": _HOUR_US, "day": _DAY_US, "month": 28 * _DAY_US}


def build_cube(
    incidents: Any,
    grid: gpd.GeoDataFrame,
    *,
    freq: str = "W-MON",
    start: Any = None,
    end: Any = None,
    aoristic: bool = True,
    engine: str = "pandas",
    client: Any = None,
) -> pd.DataFrame:
    """Count incidents by cell and period, zeros included (a space-time cube).

    Parameters
    ----------
    incidents : GeoDataFrame, or (``engine="dask"``) a Parquet path or a dask DataFrame
        Incidents (see :func:`intel.read_incidents`) with ``occurred_at`` and points;
        ``occurred_to``, ``time_resolution`` and ``weight`` are used when present.
        With ``engine="dask"``: a Parquet file or dataset directory (GeoParquet as
        written by ``GeoDataFrame.to_parquet``, or plain Parquet with ``x`` and ``y``
        columns in the grid's CRS), or a ``dask.dataframe.DataFrame`` with the same
        columns.
    grid : GeoDataFrame
        Cells from :func:`intel.make_grid` or :func:`intel.as_grid`. Incidents outside
        every cell are left out.
    freq : str
        Period length as a pandas frequency: ``"W-MON"`` (weeks starting Monday),
        ``"D"``, ``"MS"`` (calendar months), ``"h"``, ``"QS"``, ``"YS"``, or multiples
        such as ``"2W-MON"``.
    start, end : date or str, optional
        The cube covers the whole periods inside ``[start, end)``. Naive values are
        read in the incidents' time zone. Default: from the start of the period
        holding the earliest incident to the end of the period holding the latest
        (announced and recorded).
    aoristic : bool
        Spread incidents known only to a window over the periods it overlaps, in
        proportion to the overlap (see the module notes). ``False`` puts each whole
        incident in the period of its ``occurred_at``.
    engine : {"pandas", "dask"}
        ``"dask"`` reads the Parquet dataset partition by partition on a
        ``dask.distributed`` cluster and gives exactly the same cube. It uses the
        ``client`` given, else the current one (a ``distributed.Client`` created
        earlier in the session), else it starts a local cluster for the call and
        closes it afterwards. To run on a real cluster, connect first::

            from distributed import Client
            client = Client("tcp://scheduler:8786")
            cube = intel.build_cube("s3://bucket/incidents/", grid, engine="dask")

        (or pass ``client=client``). The workers need intel installed and read the
        Parquet path themselves, so it must be reachable from them.
    client : distributed.Client, optional
        The Dask client to use with ``engine="dask"``.

    Returns
    -------
    DataFrame
        Index ``(cell_id, period)``, column ``n`` (float), ``n_cells * n_periods``
        rows, cells in grid order, periods ascending. ``attrs["cube"]`` holds
        ``freq``, ``periods`` (the number of periods), ``n_cells``, ``start``,
        ``end`` and ``tz``; ``attrs["provenance"]`` the record.

    Raises
    ------
    ResolutionError
        Periods shorter than the data's time resolution: month-resolution rows
        (police.uk) with weekly, daily or hourly periods; day-resolution rows with
        hourly periods.
    InputError
        Unknown frequency, ``start`` not before ``end``, no incidents.

    See Also
    --------
    intel.classify_emerging : emerging hot spots from a cube.
    intel.build_period_counts : counts by category and period.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=1000)
    >>> cube = intel.build_cube(incidents, grid, freq="MS")
    >>> cube.attrs["cube"]["periods"], len(cube) == len(grid) * 12
    (12, True)
    >>> round(cube["n"].sum()) == len(incidents)
    True
    """
    owner = "build_cube"
    check_option("engine", engine, owner, ENGINES)
    check_option("aoristic", aoristic, owner, (True, False))
    offset = parse_freq(freq, owner)
    if engine == "dask":
        from ._dask import dask_cube_counts

        grid = _check_grid(grid, owner)
        counts, calendar, summary = dask_cube_counts(
            incidents, grid, offset=offset, freq=freq, start=start, end=end, aoristic=aoristic, client=client
        )
    else:
        incidents = check_incidents(incidents, owner=owner, need=("occurred_at", "geometry"))
        grid = _check_grid(grid, owner)
        if incidents.crs is not None and not incidents.crs.equals(grid.crs):
            announce("%s: incidents reprojected from %s to the grid's CRS %s", owner,
                     incidents.crs.to_string(), grid.crs.to_string())
            incidents = incidents.to_crs(grid.crs)
        windows = incident_windows(incidents, aoristic=aoristic)
        warn_window_problems(windows, owner)
        check_resolution(windows.resolution_counts, offset, freq, owner)
        calendar = make_calendar(offset, freq, windows.tz, start=start, end=end,
                                 data_range=windows.data_range(), owner=owner)
        cells = cells_of(incidents.geometry.values, grid)
        counts = np.zeros(len(grid) * calendar.n_periods, dtype=np.int64)
        accumulate(counts, cells, windows, calendar.bounds_us)
        summary = CubeSummary.of(windows, cells)
    return _cube_frame(counts, grid, calendar, summary, aoristic=aoristic, engine=engine)


# ---------------------------------------------------------------- frequencies and calendars


def parse_freq(freq: Any, owner: str) -> pd.DateOffset:
    """Turn ``freq`` into a pandas offset, refusing end-anchored ones with the fix."""
    try:
        offset = to_offset(freq)
    except (ValueError, TypeError):
        raise InputError(
            f"The 'freq' parameter of {owner} must be a pandas frequency such as 'W-MON', 'D', 'MS' or 'h'. "
            f"Got {freq!r} instead."
        ) from None
    if type(offset).__name__.endswith("End"):
        twin = {"MonthEnd": "MS", "QuarterEnd": "QS", "YearEnd": "YS"}.get(type(offset).__name__, "MS")
        raise InputError(
            f"{owner}: freq={freq!r} anchors periods on the last day of each period; periods here start at "
            f"their boundary. Use freq={twin!r} instead."
        )
    if _nominal_length_us(offset) <= 0:
        raise InputError(f"{owner}: freq={freq!r} does not move forward in time.")
    return offset


def _nominal_length_us(offset: pd.DateOffset) -> int:
    """Length of the shortest period of ``offset`` (February for months)."""
    ref = pd.Timestamp("2021-02-01")  # a Monday and the first of the shortest month
    if isinstance(offset, pd.offsets.Tick):
        return int(pd.Timedelta(offset).value // 1000)
    return int(((ref + offset) - ref).value // 1000)


def _is_sub_daily(offset: pd.DateOffset) -> bool:
    return isinstance(offset, pd.offsets.Tick) and _nominal_length_us(offset) < _DAY_US


@dataclass(frozen=True)
class Calendar:
    """The period boundaries of a cube."""

    freq: str
    tz: Any
    boundaries: pd.DatetimeIndex  # n_periods + 1, tz-aware (or naive when the incidents are)
    automatic: dict[str, Any] = field(default_factory=dict)

    @property
    def n_periods(self) -> int:
        return len(self.boundaries) - 1

    @property
    def periods(self) -> pd.DatetimeIndex:
        return self.boundaries[:-1]

    @property
    def bounds_us(self) -> np.ndarray:
        return np.asarray(self.boundaries.as_unit("us").asi8, dtype=np.int64)


def make_calendar(
    offset: pd.DateOffset,
    freq: Any,
    tz: Any,
    *,
    start: Any,
    end: Any,
    data_range: tuple[int, int, int] | None,
    owner: str,
) -> Calendar:
    """Period boundaries covering ``[start, end)`` (or the data's range when not given).

    A given ``start`` moves forward to the first boundary at or after it and a given
    ``end`` back to the last boundary at or before it, so every period is whole.
    """
    automatic: dict[str, Any] = {}
    if (start is None or end is None) and data_range is None:
        raise InputError(f"{owner}: there are no incidents with a time to build periods from.")
    if start is None:
        first = from_us(data_range[0], tz)
        b0 = _floor_boundary(first, offset)
        automatic["start"] = {"value": b0, "rule": "start of the period holding the earliest incident"}
    else:
        s = _as_local(start, tz, owner, "start")
        b0 = _floor_boundary(s, offset)
        if b0 < s:
            b0 = _step(b0, offset)
    if end is None:
        last = from_us(data_range[1], tz)
        b1 = _step(_floor_boundary(last, offset), offset)
        automatic["end"] = {"value": b1, "rule": "end of the period holding the latest incident"}
    else:
        b1 = _floor_boundary(_as_local(end, tz, owner, "end"), offset)
    if not b1 > b0:
        raise InputError(
            f"{owner}: no whole {freq!r} period fits between start={start} and end={end} "
            f"(first boundary {b0}, last {b1}). Widen the range or choose a shorter freq."
        )
    boundaries = _boundaries(b0, b1, offset, tz)
    if end is None and len(boundaries) > 1:
        last_start, last_end = boundaries[-2], boundaries[-1]
        # how far the data reach into the final period (day and month rows cover theirs whole)
        reach = from_us(data_range[2], tz)
        covered = (reach - last_start) / (last_end - last_start)
        if covered < 0.5:
            warnings.warn(
                f"{owner}: the data end at {reach}, {covered:.0%} of the way into the final "
                f"period ({last_start} to {last_end}); an incomplete final period looks like a drop in crime. "
                f"Pass end='{last_start.date()}' to leave it out.", DataQualityWarning, stacklevel=3,
            )
    for key in ("start", "end"):
        if key in automatic:
            announce("%s: %s set to %s automatically (%s). Pass %s= to choose.",
                     owner, key, automatic[key]["value"], automatic[key]["rule"], key)
    return Calendar(freq=offset.freqstr, tz=tz, boundaries=boundaries, automatic=automatic)


def from_us(value: int, tz: Any) -> pd.Timestamp:
    """A timestamp from microseconds since the epoch (UTC), in ``tz``."""
    ts = pd.Timestamp(int(value), unit="us")
    return ts.tz_localize("UTC").tz_convert(tz) if tz is not None else ts


def parse_timestamp(value: Any, owner: str, name: str, example: str = "'2018-01-01'") -> pd.Timestamp:
    """``pd.Timestamp(value)``, with a clear error for text that is not a time and for NaT."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(f"{owner}: {name}={value!r} is not a date or time; use e.g. {example}.") from None
    if ts is pd.NaT:
        raise InputError(f"{owner}: {name} is missing (NaT); give e.g. {example} or None.")
    return ts


def _as_local(value: Any, tz: Any, owner: str, name: str) -> pd.Timestamp:
    ts = parse_timestamp(value, owner, name)
    if tz is None:
        return ts.tz_localize(None) if ts.tzinfo is not None else ts
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _floor_boundary(ts: pd.Timestamp, offset: pd.DateOffset) -> pd.Timestamp:
    """The latest period boundary at or before ``ts``."""
    if _is_sub_daily(offset):
        naive = ts.tz_localize(None) if ts.tzinfo is not None else ts
        floored = naive.floor(pd.Timedelta(offset))
        return localize(floored, ts.tzinfo) if ts.tzinfo is not None else floored
    naive = (ts.tz_localize(None) if ts.tzinfo is not None else ts).normalize()
    rolled = offset.rollback(naive) if hasattr(offset, "rollback") else naive
    if rolled > naive:  # offsets whose rollback is not a floor
        rolled = rolled - offset
    return localize(rolled, ts.tzinfo) if ts.tzinfo is not None else rolled


def _step(ts: pd.Timestamp, offset: pd.DateOffset) -> pd.Timestamp:
    if _is_sub_daily(offset):
        return ts + pd.Timedelta(offset)
    naive = ts.tz_localize(None) if ts.tzinfo is not None else ts
    return localize(naive + offset, ts.tzinfo) if ts.tzinfo is not None else naive + offset


def localize(naive: pd.Timestamp, tz: Any) -> pd.Timestamp:
    # Midnight boundaries are almost never ambiguous; where they are, take standard time.
    return naive.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")


def _boundaries(b0: pd.Timestamp, b1: pd.Timestamp, offset: pd.DateOffset, tz: Any) -> pd.DatetimeIndex:
    if _is_sub_daily(offset) or b0.tzinfo is None:
        # sub-daily periods are spans of elapsed time; calendar periods follow the wall clock
        out = pd.date_range(b0, b1, freq=pd.Timedelta(offset) if _is_sub_daily(offset) else offset)
    else:
        naive = pd.date_range(b0.tz_localize(None), b1.tz_localize(None), freq=offset)
        out = naive.tz_localize(tz, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="shift_forward")
    return out.as_unit("us")


# ---------------------------------------------------------------- incident windows


@dataclass
class Windows:
    """Each incident's time window ``[t0, t1)`` in microseconds since the epoch (UTC)."""

    t0: np.ndarray  # int64; rows without a time hold _NAT
    t1: np.ndarray  # int64; t1 == t0 for an instant
    units: np.ndarray  # int64 fixed-point weights (0 for unusable rows)
    tz: Any
    resolution_counts: dict[str, int]
    n_no_time: int = 0
    n_backwards: int = 0
    n_bad_weight: int = 0

    def data_range(self) -> tuple[int, int, int] | None:
        """Earliest and latest ``occurred_at``, and the latest end of a window (all in us)."""
        ok = self.t0 != _NAT
        if not ok.any():
            return None
        reach = self.t1[ok].max() if self.t1 is not self.t0 else self.t0[ok].max()
        return int(self.t0[ok].min()), int(self.t0[ok].max()), int(max(reach, self.t0[ok].max()))


_NAT = np.iinfo(np.int64).min


def incident_windows(frame: pd.DataFrame, *, aoristic: bool) -> Windows:
    """Time windows and fixed-point weights of every row of an Incidents-like frame.

    Works on plain DataFrames too (Dask partitions), and never warns: problems are
    counted in the result for the caller to report once.
    """
    times = frame["occurred_at"]
    if not isinstance(times.dtype, (pd.DatetimeTZDtype, np.dtype)) or not pd.api.types.is_datetime64_any_dtype(times):
        raise InputError(
            f"occurred_at must be a datetime column (tz-aware); got dtype {times.dtype}. "
            "Load the data with intel.read_incidents, which parses times."
        )
    tz = getattr(times.dtype, "tz", None)
    t0 = _as_us_int(times)
    no_time = t0 == _NAT
    n = t0.size
    if "time_resolution" in frame.columns:
        res = frame["time_resolution"]
        counts = {str(k): int(v) for k, v in res.value_counts(dropna=True).items()}
    else:
        res, counts = None, {"minute": n}

    # Instants have t1 == t0: share the array until some row needs a window.
    t1 = t0
    n_backwards = 0
    if aoristic:
        if "occurred_to" in frame.columns and frame["occurred_to"].notna().any():
            to = _as_us_int(frame["occurred_to"])
            has_to = (to != _NAT) & ~no_time
            backwards = has_to & (to < t0)
            n_backwards = int(backwards.sum())
            t1 = np.where(has_to & ~backwards, to, t0)
        if res is not None:
            for resolution in ("hour", "day", "month"):
                if not counts.get(resolution):
                    continue
                rows = np.flatnonzero((res == resolution).to_numpy(dtype=bool, na_value=False) & ~no_time)
                ends = _resolution_ends(times.iloc[rows], resolution)
                if t1 is t0:
                    t1 = t0.copy()
                t1[rows] = np.maximum(t1[rows], ends)

    if "weight" in frame.columns:
        w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    else:
        w = np.ones(n)
    units, total, n_bad_weight = _fixed_point_units(w, t0, _NAT)
    if total > _MAX_TOTAL_WEIGHT:
        raise InputError(
            f"the incident weights add up to {total:,.0f}, more than a cube can count exactly "
            f"({_MAX_TOTAL_WEIGHT:,.0f}); rescale the 'weight' column (e.g. divide by 1,000)."
        )
    return Windows(
        t0=t0, t1=t1, units=units, tz=tz, resolution_counts=counts,
        n_no_time=int(no_time.sum()), n_backwards=n_backwards, n_bad_weight=n_bad_weight,
    )


@numba.njit(cache=True, nogil=True)
def _fixed_point_units(w, t0, nat):  # pragma: no cover - compiled
    """Weights as int64 multiples of 2**-32 (0 for rows without a time or a weight)."""
    units = np.empty(w.shape[0], dtype=np.int64)
    total = 0.0
    bad = 0
    for i in range(w.shape[0]):
        wi = w[i]
        if t0[i] == nat:
            units[i] = 0
        elif not np.isfinite(wi):
            units[i] = 0
            bad += 1
        else:
            units[i] = np.int64(np.rint(wi * 4294967296.0))
            total += abs(wi)
    return units, total, bad


def _as_us_int(times: pd.Series) -> np.ndarray:
    """int64 microseconds since the epoch (UTC for tz-aware times), NaT as int64 min."""
    arr = times.array
    if getattr(arr, "unit", "us") != "us":
        arr = arr.as_unit("us")
    return np.asarray(arr.asi8, dtype=np.int64)


def _resolution_ends(times: pd.Series, resolution: str) -> np.ndarray:
    if resolution == "hour":
        return _as_us_int(times) + _HOUR_US
    # Day and month windows follow the calendar: 23 or 25 hours on daylight-saving days.
    step = pd.DateOffset(days=1) if resolution == "day" else pd.DateOffset(months=1)
    return _as_us_int(times + step)


def warn_window_problems(windows: Windows, owner: str) -> None:
    """Warn once about rows the cube could not place in time."""
    if windows.n_no_time:
        warnings.warn(
            f"{owner}: {windows.n_no_time:,} incidents have no occurred_at and were left out.",
            DataQualityWarning, stacklevel=3,
        )
    if windows.n_backwards:
        warnings.warn(
            f"{owner}: {windows.n_backwards:,} incidents have occurred_to before occurred_at; "
            "they were counted at occurred_at. Check the source's date columns.",
            DataQualityWarning, stacklevel=3,
        )
    if windows.n_bad_weight:
        warnings.warn(
            f"{owner}: {windows.n_bad_weight:,} incidents have a missing or non-numeric weight and were left out.",
            DataQualityWarning, stacklevel=3,
        )


def check_resolution(resolution_counts: dict[str, int], offset: pd.DateOffset, freq: Any, owner: str) -> None:
    """Refuse periods shorter than the coarsest time resolution in the data."""
    length = _nominal_length_us(offset)
    for resolution in ("month", "day", "hour"):
        n = resolution_counts.get(resolution, 0)
        if n and length < _RESOLUTION_MIN_PERIOD_US[resolution]:
            coarser = {"month": "'MS' (months) or coarser", "day": "'D' (days) or coarser",
                       "hour": "'h' (hours) or coarser"}[resolution]
            raise ResolutionError(
                f"{owner}: {n:,} incidents have {resolution} resolution (each could have happened any time in its "
                f"{resolution}), so {freq!r} periods would invent detail the data do not have. "
                f"Use freq={coarser}, or leave those rows out first: "
                f"incidents[incidents['time_resolution'] != '{resolution}']."
            )


# ---------------------------------------------------------------- cells and counting


def _check_grid(grid: Any, owner: str) -> gpd.GeoDataFrame:
    if not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: grid must be a GeoDataFrame from intel.make_grid or intel.as_grid; "
                         f"got {type(grid).__name__}.")
    if len(grid) == 0:
        raise GridError(f"{owner}: the grid has no cells.")
    if "grid" not in grid.attrs:
        from .grid import as_grid

        grid = as_grid(grid)
    return grid


def cells_of(geometry: Any, grid: gpd.GeoDataFrame) -> np.ndarray:
    """Grid position of each point (-1 outside the grid or without coordinates)."""
    from .grid import assign_cells

    # get_x + get_y beat get_coordinates on points, and keep empty points as NaN
    return assign_cells((shapely.get_x(geometry), shapely.get_y(geometry)), grid)


def period_table(bounds: np.ndarray) -> tuple[np.ndarray, float]:
    """Lookup table from time ticks to periods, for a division-free period search.

    A tick is as long as the shortest period, so each tick meets at most two periods:
    ``table[tick]`` is the period holding the tick's start and one comparison settles it.
    """
    tick = float(np.diff(bounds).min())
    n_ticks = int((bounds[-1] - bounds[0]) // tick) + 2
    starts = bounds[0] + (np.arange(n_ticks, dtype=np.float64) * tick).astype(np.int64)
    table = np.searchsorted(bounds, starts, side="right") - 1
    return np.minimum(table, bounds.size - 2).astype(np.int64), 1.0 / tick


@numba.njit(cache=True, nogil=True, inline="always")
def _locate(bounds, table, inv_tick, t):  # pragma: no cover - compiled
    """Index p with bounds[p] <= t < bounds[p + 1], for bounds[0] <= t < bounds[-1]."""
    k = int((t - bounds[0]) * inv_tick)
    if k >= table.shape[0]:
        k = table.shape[0] - 1
    p = table[k]
    if bounds[p] > t:  # float rounding put t one tick too far
        p -= 1
    if bounds[p + 1] <= t:
        p += 1
    return p


def accumulate(counts: np.ndarray, cells: np.ndarray, windows: Windows, bounds_us: np.ndarray) -> None:
    """Add every incident's fixed-point shares into ``counts`` (cells x periods, row-major)."""
    table, inv_tick = period_table(bounds_us)
    _accumulate(counts, np.ascontiguousarray(cells, dtype=np.int64), windows.t0, windows.t1, windows.units,
                bounds_us, table, inv_tick)


def contributions(cells: np.ndarray, windows: Windows, bounds_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bins (flat cell x period positions) incidents add to and the fixed-point shares they add.

    The sparse twin of :func:`accumulate`, for partitions of a large cube: summing the
    shares per bin gives exactly what :func:`accumulate` gives.
    """
    table, inv_tick = period_table(bounds_us)
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    n = cells.size
    slot = np.empty(n + 16, dtype=np.int64)
    add = np.empty(n + 16, dtype=np.int64)
    done, filled = 0, 0
    while True:
        done, m = _fill(cells, windows.t0, windows.t1, windows.units, bounds_us, table, inv_tick,
                        slot[filled:], add[filled:], done)
        filled += m
        if done >= n:
            return slot[:filled], add[:filled]
        slot = np.concatenate([slot[:filled], np.empty(slot.size, dtype=np.int64)])  # windows over many periods
        add = np.concatenate([add[:filled], np.empty(add.size, dtype=np.int64)])


_BLOCK = 4096


@numba.njit(cache=True, nogil=True)
def _accumulate(counts, cells, t0, t1, units, bounds, table, inv_tick):  # pragma: no cover - compiled
    # In blocks: first find a block's bins, then add. Separating the two lets the
    # processor keep many cache misses of the scattered adds in flight at once (about
    # twice as fast as one fused loop on a large cube).
    slot = np.empty(_BLOCK, dtype=np.int64)
    add = np.empty(_BLOCK, dtype=np.int64)
    n = cells.shape[0]
    i = 0
    while i < n:
        i, m = _fill(cells, t0, t1, units, bounds, table, inv_tick, slot, add, i)
        if m == 0 and i < n:  # one window over more periods than a block holds
            slot = np.empty(2 * slot.shape[0], dtype=np.int64)
            add = np.empty(2 * add.shape[0], dtype=np.int64)
        for j in range(m):
            counts[slot[j]] += add[j]


@numba.njit(cache=True, nogil=True)
def _fill(cells, t0, t1, units, bounds, table, inv_tick, slot, add, start):  # pragma: no cover - compiled
    """Write the (bin, share) pairs of incidents ``start``, ``start + 1`` ... until the
    buffers are full; return the next incident and the number of pairs written."""
    n_periods = bounds.shape[0] - 1
    first = bounds[0]
    last = bounds[n_periods]
    n = cells.shape[0]
    cap = slot.shape[0]
    m = 0
    for i in range(start, n):
        c = cells[i]
        u = units[i]
        if c < 0 or u == 0:
            continue
        a = t0[i]
        b = t1[i]
        if b <= a:  # an instant: the common case
            if a < first or a >= last:
                continue
            if m == cap:
                return i, m
            slot[m] = c * n_periods + _locate(bounds, table, inv_tick, a)
            add[m] = u
            m += 1
            continue
        if b <= first or a >= last:
            continue
        lo = a if a > first else first
        hi = b if b < last else last
        pa = _locate(bounds, table, inv_tick, lo)
        pb = _locate(bounds, table, inv_tick, hi - 1)
        if m + (pb - pa + 1) > cap:
            return i, m
        if pa == pb and lo == a and hi == b:
            slot[m] = c * n_periods + pa
            add[m] = u
            m += 1
            continue
        # Shares are differences of rounded cumulative shares, so an incident's
        # shares add up to exactly its weight whatever the rounding.
        span = float(b - a)
        uf = float(u)
        prev = np.int64(np.rint(uf * ((lo - a) / span)))
        for p in range(pa, pb + 1):
            edge = bounds[p + 1]
            if edge > b:
                edge = b
            cum = np.int64(np.rint(uf * ((edge - a) / span)))
            slot[m] = c * n_periods + p
            add[m] = cum - prev
            m += 1
            prev = cum
    return n, m


@dataclass
class CubeSummary:
    """Counts of what went into a cube, for its provenance (addable across partitions)."""

    n_incidents: int = 0
    n_outside_grid: int = 0
    n_no_time: int = 0
    n_backwards: int = 0
    n_bad_weight: int = 0
    resolution_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, windows: Windows, cells: np.ndarray) -> "CubeSummary":
        return cls(
            n_incidents=int(cells.size), n_outside_grid=int((cells < 0).sum()), n_no_time=windows.n_no_time,
            n_backwards=windows.n_backwards, n_bad_weight=windows.n_bad_weight,
            resolution_counts=dict(windows.resolution_counts),
        )

    def __add__(self, other: "CubeSummary") -> "CubeSummary":
        res = dict(self.resolution_counts)
        for k, v in other.resolution_counts.items():
            res[k] = res.get(k, 0) + v
        return CubeSummary(
            self.n_incidents + other.n_incidents, self.n_outside_grid + other.n_outside_grid,
            self.n_no_time + other.n_no_time, self.n_backwards + other.n_backwards,
            self.n_bad_weight + other.n_bad_weight, res,
        )


def _cube_frame(
    counts: np.ndarray,
    grid: gpd.GeoDataFrame,
    calendar: Calendar,
    summary: CubeSummary,
    *,
    aoristic: bool,
    engine: str,
) -> pd.DataFrame:
    n = _to_float_inplace(counts)  # the int64 buffer becomes the float64 column: no second 8-byte array
    n_cells, n_periods = len(grid), calendar.n_periods
    # Built from codes (in the dtypes pandas would pick, so it copies nothing):
    # MultiIndex.from_product costs half a second on 15 M rows.
    index = pd.MultiIndex(
        levels=[pd.Index(grid.index, name="cell_id"), calendar.periods.rename("period")],
        codes=[np.repeat(np.arange(n_cells, dtype=_code_dtype(n_cells)), n_periods),
               np.tile(np.arange(n_periods, dtype=_code_dtype(n_periods)), n_cells)],
        names=["cell_id", "period"],
        verify_integrity=False,
    )
    cube = pd.DataFrame(n.reshape(-1, 1), index=index, columns=["n"], copy=False)
    if summary.n_outside_grid:
        announce("build_cube: %d of %d incidents fall outside every cell and were left out",
                 summary.n_outside_grid, summary.n_incidents)
    meta = {
        "freq": calendar.freq,
        "periods": calendar.n_periods,
        "n_cells": len(grid),
        "start": calendar.boundaries[0].isoformat(),
        "end": calendar.boundaries[-1].isoformat(),
        "tz": str(calendar.tz) if calendar.tz is not None else None,
    }
    cube.attrs["cube"] = meta
    params = {"freq": calendar.freq, "start": None if "start" in calendar.automatic else meta["start"],
              "end": None if "end" in calendar.automatic else meta["end"], "aoristic": aoristic, "engine": engine}
    extra = {
        "n_cells": len(grid), "n_periods": calendar.n_periods, "n_incidents": summary.n_incidents,
        "n_outside_grid": summary.n_outside_grid, "n_without_time": summary.n_no_time,
        "time_resolutions": summary.resolution_counts, "total_in_cube": float(n.sum()),
    }
    return attach(cube, make_record("build_cube", params, automatic=calendar.automatic, extra=extra))


def _code_dtype(n: int) -> type:
    for dtype in (np.int8, np.int16, np.int32):
        if n < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _to_float_inplace(counts: np.ndarray) -> np.ndarray:
    out = counts.view(np.float64)
    _fixed_to_float(counts, out)
    return out


@numba.njit(cache=True, nogil=True)
def _fixed_to_float(counts, out):  # pragma: no cover - compiled
    # counts and out share memory: read each value before overwriting it
    for i in range(counts.shape[0]):
        out[i] = counts[i] / 4294967296.0


def dense_counts(cube: pd.DataFrame, grid: gpd.GeoDataFrame, *, owner: str) -> np.ndarray:
    """The cube's ``n`` as an ``n_cells x n_periods`` array, after checking it matches ``grid``."""
    if not isinstance(cube, pd.DataFrame) or "n" not in cube.columns or not isinstance(cube.index, pd.MultiIndex):
        raise InputError(f"{owner}: cube must be the table from intel.build_cube (a MultiIndex (cell_id, period) "
                         f"and a column 'n'); got {type(cube).__name__}.")
    if list(cube.index.names) != ["cell_id", "period"]:
        raise InputError(f"{owner}: the cube's index levels are {list(cube.index.names)}; expected "
                         "['cell_id', 'period']. Build it with intel.build_cube.")
    n_cells = len(grid)
    if n_cells == 0 or len(cube) % n_cells:
        raise GridError(f"{owner}: the cube has {len(cube):,} rows, not a multiple of the grid's {n_cells:,} cells; "
                        "pass the grid the cube was built on.")
    n_periods = len(cube) // n_cells
    codes = cube.index.codes[0]
    level = cube.index.levels[0]
    cells = level[np.asarray(codes[::n_periods])] if n_periods else level[:0]
    if n_periods == 0 or not np.array_equal(np.asarray(cells, dtype=object), np.asarray(grid.index, dtype=object)):
        raise GridError(f"{owner}: the cube's cells are not the grid's cells in grid order; pass the grid the cube "
                        "was built on (or rebuild the cube with this grid).")
    values = cube["n"].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{owner}: the cube's 'n' has missing or infinite values; rebuild it with intel.build_cube.")
    return values.reshape(n_cells, n_periods)


def period_starts(cube: pd.DataFrame) -> pd.DatetimeIndex:
    """The cube's period starts, in order, without materialising its whole index."""
    n_periods = int(cube.attrs.get("cube", {}).get("periods", 0)) or len(cube.index.levels[1])
    return pd.DatetimeIndex(cube.index.levels[1][np.asarray(cube.index.codes[1][:n_periods])])
