"""Quarantine rules and data-quality warnings.

Quarantine
----------
Every row the loader reads is either kept or quarantined, so
``n_read == n_kept + n_quarantined``. A quarantined row carries exactly one reason:
the first rule it fails, in this fixed order.

=================================  ==========================================================
reason                             rule
=================================  ==========================================================
``wrong_field_count``              a delimited-text row with more fields than the header (the
                                   raw line is in ``detail``); a row with fewer fields is read
                                   with the missing ones empty and meets the rules below
``unparseable_date``               ``occurred_at`` present but in no recognised date form
``missing_date``                   ``occurred_at`` empty
``ambiguous_time``                 wall time in the repeated autumn DST hour, ``dst="quarantine"``
``missing_coordinates``            a coordinate empty (or empty geometry)
``non_numeric_coordinates``        a coordinate present but not a number
``null_island``                    both coordinates exactly 0 (a missing-location placeholder);
                                   with lat/lon and x/y both mapped, either pair at (0, 0)
``out_of_range_coordinates``       latitude outside [-90, 90] or longitude outside [-180, 180];
                                   x/y outside the CRS's area of use (with a 10% margin)
``outside_bounds``                 outside ``bounds=(west, south, east, north)`` (degrees)
``outside_study_area``             outside the ``study_area`` polygon(s)
``duplicate_id``                   ``incident_id`` seen on an earlier row that is kept (the
                                   first otherwise-valid row of each id is kept)
``future_date``                    ``occurred_at`` after ``max_date`` (default: the time of loading)
``before_min_date``                ``occurred_at`` before ``min_date`` (default 1900-01-01)
``occurred_to_before_occurred_at`` the end of the occurrence window precedes its start
preset-specific                    e.g. ``supplement_report`` (SF): not an initial report
=================================  ==========================================================

Duplicates are judged among the rows that pass every other rule, so a bad first copy
never displaces a good second one.

Warnings (rows kept)
--------------------
``DataQualityWarning`` is raised, and the text kept in ``report["warnings"]``, when:

* **default geocode**: the most common location (exact coordinates) holds at least
  1% of the kept rows, at least 25 rows, and at least 3 times as many as the second
  most common location;
* **default times** (minute-resolution rows): the share of rows at exactly 00:00 (or
  12:00) is at least 1.5 times the mean share at exactly the neighbouring on-the-hour
  times (23:00 and 01:00; 11:00 and 13:00), with a Poisson excess of z >= 4 and at
  least 20 rows; and the count of rows on the 1st of the month (day, hour or minute
  resolution) is at least 1.15 times the mean count on days 2-28, with z >= 4 and at
  least 20 rows;
* **low geocoding rate**: fewer than 85% of the rows read have usable coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REASONS = (
    "wrong_field_count",
    "unparseable_date",
    "missing_date",
    "ambiguous_time",
    "missing_coordinates",
    "non_numeric_coordinates",
    "null_island",
    "out_of_range_coordinates",
    "outside_bounds",
    "outside_study_area",
    "duplicate_id",
    "future_date",
    "before_min_date",
    "occurred_to_before_occurred_at",
)

DEFAULT_LOCATION_SHARE = 0.01
DEFAULT_LOCATION_MIN_ROWS = 25
DEFAULT_LOCATION_RATIO = 3.0
DEFAULT_TIME_RATIO = 1.5
FIRST_OF_MONTH_RATIO = 1.15
EXCESS_Z = 4.0
MIN_EXCESS_ROWS = 20
GEOCODING_RATE = 0.85


def assign_reasons(masks: list[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """Index (into ``masks``) of the first rule each row fails, -1 for kept rows."""
    reason = np.full(n, -1, dtype=np.int16)
    for k, (_, mask) in enumerate(masks):
        reason[(reason < 0) & mask] = k
    return reason


def default_location_warning(x: np.ndarray, y: np.ndarray) -> str | None:
    """Text of the default-geocode warning, or None."""
    n = x.size
    if n < DEFAULT_LOCATION_MIN_ROWS:
        return None
    # count exact coordinate pairs through one 64-bit key (much faster than a two-column value_counts)
    key = (np.ascontiguousarray(x, np.float64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ \
        np.ascontiguousarray(y, np.float64).view(np.uint64)
    counts = pd.Series(key).value_counts(sort=True)
    top = int(counts.iloc[0])
    second = int(counts.iloc[1]) if len(counts) > 1 else 0
    if top >= DEFAULT_LOCATION_MIN_ROWS and top >= DEFAULT_LOCATION_SHARE * n and top >= DEFAULT_LOCATION_RATIO * second:
        at = int(np.flatnonzero(key == counts.index[0])[0])
        px, py = x[at], y[at]
        return (f"one location ({px:.6g}, {py:.6g}) holds {top} rows ({100 * top / n:.1f}% of the kept rows, "
                f"{second} at the next most common): probably a default geocode (a station, a city centre); "
                "check it before reading a hot spot there")
    return None


def _excess(observed: float, expected: float) -> float:
    return (observed - expected) / np.sqrt(expected) if expected > 0 else (np.inf if observed > 0 else 0.0)


def default_time_warnings(local_minutes: np.ndarray, days: np.ndarray, minute_rows: np.ndarray,
                          day_rows: np.ndarray) -> list[str]:
    """Warnings for heaped default times.

    ``local_minutes`` is the minute of the day (0-1439) in local time, ``days`` the day of
    the month; ``minute_rows`` / ``day_rows`` select the rows whose resolution allows the test.
    """
    found = []
    mins = local_minutes[minute_rows]
    if mins.size >= 100:
        on_hour = np.bincount(mins[mins % 60 == 0] // 60, minlength=24).astype(float)
        for hour, label in ((0, "00:00"), (12, "12:00")):
            neighbours = on_hour[[(hour - 1) % 24, (hour + 1) % 24]].mean()
            obs = on_hour[hour]
            if (obs >= DEFAULT_TIME_RATIO * max(neighbours, 1.0) and _excess(obs, neighbours) >= EXCESS_Z
                    and obs - neighbours >= MIN_EXCESS_ROWS):
                found.append(
                    f"{int(obs)} rows ({100 * obs / mins.size:.1f}%) are at exactly {label}, "
                    f"{obs / max(neighbours, 1.0):.1f} times the rate at the neighbouring on-the-hour times: "
                    f"{label} is probably a default for an unknown time; hour-of-day profiles will show a false peak"
                )
    d = days[day_rows]
    if d.size >= 100:
        per_day = np.bincount(d, minlength=32).astype(float)
        expected = per_day[2:29].mean()
        obs = per_day[1]
        if (expected > 0 and obs >= FIRST_OF_MONTH_RATIO * expected and _excess(obs, expected) >= EXCESS_Z
                and obs - expected >= MIN_EXCESS_ROWS):
            found.append(
                f"{int(obs)} rows fall on the 1st of the month, {obs / expected:.2f} times the mean of days 2-28: "
                "the 1st is probably a default for an unknown day (common for fraud and sexual offences)"
            )
    return found


def geocoding_warning(n_geocoded: int, n_read: int) -> str | None:
    rate = n_geocoded / n_read if n_read else 1.0
    if rate < GEOCODING_RATE:
        return (f"only {100 * rate:.1f}% of the rows have usable coordinates (below {100 * GEOCODING_RATE:.0f}%): "
                "maps and hot spots describe the geocoded part only; check the coordinate columns and crs=")
    return None
