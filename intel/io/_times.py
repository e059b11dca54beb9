"""Times: parsing date strings fast, per-row time resolution, time zones and DST.

Parsing
-------
Strings are parsed with explicit formats through Arrow's vectorised ``strptime``:
the candidate formats are scored on a sample of the column, tried best first, and
each later format only sees the rows still unparsed. Day/month order is decided
once per column (month-first or day-first, whichever parses more of the sample;
ISO ``YYYY-MM-DD`` forms are always allowed), so one column never mixes the two
conventions. Fractional seconds are ignored; values with a UTC offset (``Z``,
``+02:00``) are instants and are converted to the output time zone.

Resolution
----------
Each row's ``time_resolution`` follows the form it was written in: a time of day
gives ``"minute"``, a date alone ``"day"``, ``YYYY-MM`` ``"month"``. Already-typed
datetime columns are ``"minute"``, or ``"day"`` when every value is at midnight.
A preset or a ``time_resolution`` source column may declare it instead.

Time zones and DST
------------------
Naive times are wall-clock times in ``tz``. In the autumn hour that happens twice,
``dst="earliest"`` takes the first (daylight) instant, ``"latest"`` the second, and
``"quarantine"`` sets the row aside (reason ``ambiguous_time``). Spring-forward
times that never happened are shifted forward by the gap. Both are counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._provenance import announce
from ..exceptions import InputError

RESOLUTIONS = ("minute", "hour", "day", "month")
_MINUTE, _HOUR, _DAY, _MONTH = range(4)

# (format, resolution code, family); order breaks ties between equally good formats
_FORMATS: tuple[tuple[str, int, str], ...] = (
    ("%Y-%m-%dT%H:%M:%S", _MINUTE, "iso"),
    ("%Y-%m-%d %H:%M:%S", _MINUTE, "iso"),
    ("%Y-%m-%dT%H:%M", _MINUTE, "iso"),
    ("%Y-%m-%d %H:%M", _MINUTE, "iso"),
    ("%Y-%m-%d", _DAY, "iso"),
    ("%Y-%m", _MONTH, "iso"),
    ("%Y/%m/%d %I:%M:%S %p", _MINUTE, "iso"),
    ("%Y/%m/%d %I:%M %p", _MINUTE, "iso"),
    ("%Y/%m/%d %H:%M:%S", _MINUTE, "iso"),
    ("%Y/%m/%d %H:%M", _MINUTE, "iso"),
    ("%Y/%m/%d", _DAY, "iso"),
    ("%Y/%m", _MONTH, "iso"),
    ("%m/%d/%Y %I:%M:%S %p", _MINUTE, "us"),
    ("%m/%d/%Y %I:%M %p", _MINUTE, "us"),
    ("%m/%d/%Y %H:%M:%S", _MINUTE, "us"),
    ("%m/%d/%Y %H:%M", _MINUTE, "us"),
    ("%m/%d/%Y", _DAY, "us"),
    ("%d/%m/%Y %H:%M:%S", _MINUTE, "eu"),
    ("%d/%m/%Y %H:%M", _MINUTE, "eu"),
    ("%d/%m/%Y", _DAY, "eu"),
    ("%d.%m.%Y %H:%M:%S", _MINUTE, "eu"),
    ("%d.%m.%Y %H:%M", _MINUTE, "eu"),
    ("%d.%m.%Y", _DAY, "eu"),
    ("%d-%m-%Y %H:%M:%S", _MINUTE, "eu"),
    ("%d-%m-%Y %H:%M", _MINUTE, "eu"),
    ("%d-%m-%Y", _DAY, "eu"),
    ("%Y%m%d%H%M%S", _MINUTE, "iso"),
    ("%Y%m%d%H%M", _MINUTE, "iso"),
    ("%Y%m%d", _DAY, "iso"),
)
_OFFSET_FORMATS: tuple[tuple[str, int, str], ...] = (
    ("%Y-%m-%dT%H:%M:%S%z", _MINUTE, "iso"),
    ("%Y-%m-%d %H:%M:%S%z", _MINUTE, "iso"),
    ("%Y-%m-%dT%H:%M%z", _MINUTE, "iso"),
    ("%Y-%m-%d %H:%M%z", _MINUTE, "iso"),
)
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_FRACTION_RE = r"(\d{2}:\d{2}:\d{2})[.,]\d+"
_SAMPLE = 2000


@dataclass
class ParsedTimes:
    """Parsed values: ``seconds`` since the epoch (wall clock, or UTC where ``utc``)."""

    seconds: np.ndarray  # int64; meaningless where not ok
    ok: np.ndarray  # bool
    utc: np.ndarray  # bool: the value is a UTC instant (source had an offset)
    resolution: np.ndarray  # int8 codes into RESOLUTIONS
    missing: np.ndarray  # bool: empty / null
    formats: list[str] = field(default_factory=list)
    automatic: dict[str, Any] = field(default_factory=dict)

    @property
    def unparseable(self) -> np.ndarray:
        return ~self.ok & ~self.missing


def parse_times(values: pd.Series, *, what: str, day_first: bool | None = None) -> ParsedTimes:
    """Parse one column of dates (strings or typed datetimes) into :class:`ParsedTimes`."""
    n = len(values)
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _from_datetimes(values.dt.tz_convert("UTC").dt.tz_localize(None), utc=True)
    if pd.api.types.is_datetime64_dtype(dtype):
        return _from_datetimes(values, utc=False)
    if pd.api.types.is_integer_dtype(dtype):
        # compact dates (20190101, 201901011530) read as numbers; other numbers fail every format
        return _from_strings(values.astype("string"), what=what, day_first=day_first)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        # numbers are not dates we can trust (Excel serials, epochs in unknown units): all unparseable
        missing = values.isna().to_numpy()
        return ParsedTimes(np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int8), missing)
    if dtype == object:
        non_null = values.dropna()
        if len(non_null) and not all(isinstance(v, str) for v in non_null.iloc[:100]):
            return _from_objects(values)
    return _from_strings(values, what=what, day_first=day_first)


def _from_datetimes(values: pd.Series, *, utc: bool) -> ParsedTimes:
    arr = values.to_numpy("datetime64[s]")
    ok = ~np.isnat(arr)
    secs = np.where(ok, arr.astype("datetime64[s]").astype(np.int64), 0)
    midnight = ok & (secs % 86400 == 0)
    all_midnight = ok.any() and bool(midnight[ok].all())
    res = np.full(len(arr), _DAY if all_midnight else _MINUTE, np.int8)
    auto = {}
    if all_midnight and not utc:
        auto["time_resolution"] = {"value": "day", "rule": "typed datetime column with every time at 00:00"}
        announce("every time is 00:00:00: time_resolution set to 'day'")
    return ParsedTimes(secs, ok, np.full(len(arr), utc), res, ~ok, ["typed datetime"], auto)


def _from_objects(values: pd.Series) -> ParsedTimes:
    import datetime as dt

    is_date = np.fromiter((isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values), bool, len(values))
    conv = pd.to_datetime(values.where(values.notna(), None), errors="coerce", utc=True, format="mixed")
    arr = conv.dt.tz_localize(None).to_numpy("datetime64[s]")
    ok = ~np.isnat(arr)
    secs = np.where(ok, arr.astype(np.int64), 0)
    naive_mask = np.fromiter((getattr(v, "tzinfo", None) is None for v in values), bool, len(values))
    res = np.where(is_date, _DAY, _MINUTE).astype(np.int8)
    missing = values.isna().to_numpy()
    return ParsedTimes(secs, ok, ok & ~naive_mask, res, missing, ["python date/datetime objects"])


def _to_arrow(values: pd.Series) -> pa.Array:
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.astype("string"), from_pandas=True)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _from_strings(values: pd.Series, *, what: str, day_first: bool | None) -> ParsedTimes:
    n = len(values)
    arr = _to_arrow(values)
    valid = pc.and_(pc.is_valid(arr), pc.not_equal(pc.utf8_length(arr), 0))
    missing = ~np.asarray(valid.fill_null(False), dtype=bool)
    present = np.flatnonzero(~missing)
    secs = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    utc = np.zeros(n, bool)
    res = np.zeros(n, np.int8)
    auto: dict[str, Any] = {}
    if present.size == 0:
        return ParsedTimes(secs, ok, utc, res, missing, [], auto)

    rng = np.random.default_rng(0)
    sample_idx = present if present.size <= _SAMPLE else np.sort(rng.choice(present, _SAMPLE, replace=False))
    sample_text = _take_few(arr, sample_idx)
    if any(s != s.strip() for s in sample_text):
        arr = pc.utf8_trim_whitespace(arr)
        sample_text = [s.strip() for s in sample_text]
    if any(re.search(_FRACTION_RE, s) for s in sample_text[:200]):
        arr = pc.replace_substring_regex(arr, _FRACTION_RE, r"\1")
        sample_text = [re.sub(_FRACTION_RE, r"\1", s) for s in sample_text]
    sample = pa.array(sample_text, pa.string())
    formats = list(_FORMATS)
    if any(_OFFSET_RE.search(s) for s in sample_text):
        formats = list(_OFFSET_FORMATS) + formats

    scores = {}
    for fmt, _, _ in formats:
        parsed = pc.strptime(sample, format=fmt, unit="s", error_is_null=True)
        scores[fmt] = len(parsed) - parsed.null_count
    fam = {"us": sum(scores[f] for f, _, g in formats if g == "us"), "eu": sum(scores[f] for f, _, g in formats if g == "eu")}
    if day_first is None:
        if fam["us"] and fam["us"] == fam["eu"]:
            day_first = False
            auto["day_first"] = {"value": False, "rule": "month/day order ambiguous in the sample: read month first (US)"}
            announce("%s: day/month order is ambiguous; reading dates as month/day (US)", what)
        else:
            day_first = fam["eu"] > fam["us"]
    allowed = {"iso", "eu" if day_first else "us"}
    order = sorted((f for f in formats if f[2] in allowed), key=lambda f: -scores[f[0]])

    remaining = present
    used = []
    for fmt, code, _ in order:
        if remaining.size == 0:
            break
        if scores[fmt] == 0 and remaining.size == present.size:
            continue  # nothing in the sample fits: do not scan the whole column
        chunk = arr if remaining.size == n else pc.take(arr, pa.array(remaining))
        parsed = pc.strptime(chunk, format=fmt, unit="s", error_is_null=True)
        good = np.asarray(parsed.is_valid(), dtype=bool)
        if not good.any():
            continue
        rows = remaining[good]
        values_s = np.asarray(pc.cast(parsed, pa.int64()).filter(parsed.is_valid()), dtype=np.int64)
        secs[rows] = values_s
        ok[rows] = True
        res[rows] = code
        utc[rows] = "%z" in fmt
        used.append(fmt)
        remaining = remaining[~good]
    if remaining.size:
        # the column is trimmed only when the sample shows spaces: give the few rows left a trimmed try,
        # and call blanks made of spaces missing, not unparseable
        raw = _take_few(arr, remaining)
        text = [(v or "").strip() for v in raw]
        blank = np.array([not t for t in text], dtype=bool)
        missing[remaining[blank]] = True
        padded = np.array([bool(t) and t != v for t, v in zip(text, raw)], dtype=bool)
        if padded.any():
            rows = remaining[padded]
            chunk = pa.array([t for t, p in zip(text, padded) if p], pa.string())
            for fmt, code, _ in order:
                parsed = pc.strptime(chunk, format=fmt, unit="s", error_is_null=True)
                good = np.asarray(parsed.is_valid(), dtype=bool) & ~ok[rows]
                if good.any():
                    secs[rows[good]] = np.asarray(pc.cast(parsed, pa.int64()).fill_null(0))[good]
                    ok[rows[good]], res[rows[good]], utc[rows[good]] = True, code, "%z" in fmt
    return ParsedTimes(secs, ok, utc, res, missing, used, auto)


def _take_few(arr: Any, rows: np.ndarray) -> list[Any]:
    """Values at a few positions of a (chunked) Arrow array, without Arrow's whole-array take on chunks."""
    if not isinstance(arr, pa.ChunkedArray):
        return arr.take(pa.array(rows)).to_pylist()
    out: list[Any] = []
    start = 0
    for chunk in arr.chunks:
        stop = start + len(chunk)
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            out.extend(chunk.take(pa.array(rows[lo:hi] - start)).to_pylist())
        start = stop
    return out


def resolution_codes(values: pd.Series) -> np.ndarray:
    """Codes for a source ``time_resolution`` column; -1 where the value is not one of RESOLUTIONS."""
    text = values.astype("string").str.strip().str.casefold()
    mapping = {name: i for i, name in enumerate(RESOLUTIONS)}
    return text.map(mapping).fillna(-1).astype(np.int8).to_numpy()


def check_tz(tz: object, owner: str = "load_incidents") -> str:
    """Validate an IANA time zone name."""
    import zoneinfo

    if not isinstance(tz, str):
        raise InputError(f"The 'tz' parameter of {owner} must be an IANA time zone name such as 'America/Chicago'. "
                         f"Got {tz!r} instead.")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"The 'tz' parameter of {owner} must be an IANA time zone name such as 'America/Chicago' "
                         f"or 'Europe/London'. Got {tz!r}, which is not a known zone.") from None
    return tz


def zone_at(lon: float, lat: float) -> str | None:
    """The IANA zone at a WGS84 point (timezonefinder), or None when unknown."""
    try:
        from timezonefinder import TimezoneFinder
    except ImportError:  # pragma: no cover - it is a declared dependency
        return None
    return TimezoneFinder().timezone_at(lng=float(lon), lat=float(lat))


@dataclass
class Localised:
    utc_seconds: np.ndarray  # int64 UTC instants; meaningless where not ok
    ok: np.ndarray
    ambiguous: np.ndarray  # bool: wall time happened twice
    nonexistent: np.ndarray  # bool: wall time never happened (shifted forward)


def localise(parsed: ParsedTimes, tz: str, dst: str) -> Localised:
    """Turn parsed wall-clock / UTC seconds into UTC instants under the DST policy."""
    n = parsed.seconds.size
    out = parsed.seconds.copy()
    ok = parsed.ok.copy()
    ambiguous = np.zeros(n, bool)
    nonexistent = np.zeros(n, bool)
    local = np.flatnonzero(parsed.ok & ~parsed.utc)
    if local.size and tz != "UTC":
        wall = pd.DatetimeIndex(parsed.seconds[local].astype("datetime64[s]"))
        first = wall.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        bad = np.asarray(first.isna())
        utc_vals = np.asarray(first.tz_convert("UTC").tz_localize(None).as_unit("s").asi8)
        if bad.any():
            sub = wall[bad]
            early = sub.tz_localize(tz, ambiguous=np.ones(len(sub), bool), nonexistent="NaT")
            is_nonexistent = np.asarray(early.isna())
            if dst == "latest":
                fixed = sub.tz_localize(tz, ambiguous=np.zeros(len(sub), bool), nonexistent="shift_forward")
            else:
                fixed = sub.tz_localize(tz, ambiguous=np.ones(len(sub), bool), nonexistent="shift_forward")
            fixed_vals = np.asarray(fixed.tz_convert("UTC").tz_localize(None).as_unit("s").asi8)
            utc_vals[bad] = fixed_vals
            bad_rows = local[bad]
            nonexistent[bad_rows[is_nonexistent]] = True
            ambiguous[bad_rows[~is_nonexistent]] = True
        out[local] = utc_vals
    if dst == "quarantine":
        ok &= ~ambiguous
    return Localised(out, ok, ambiguous, nonexistent)


def to_datetimes(utc_seconds: np.ndarray, ok: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """UTC seconds (NaT where not ok) as a tz-aware DatetimeIndex in ``tz`` (microsecond unit)."""
    values = np.where(ok, utc_seconds, np.iinfo(np.int64).min).astype("datetime64[s]")
    return pd.DatetimeIndex(values).as_unit("us").tz_localize("UTC").tz_convert(tz)
