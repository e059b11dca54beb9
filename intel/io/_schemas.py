"""Schema presets: how the columns of known exports map onto intel's fields.

A preset lists, for each intel field, the header names it accepts. Headers are
matched case- and punctuation-insensitively (``"Case Number"``, ``"case_number"``
and ``"CASE-NUMBER"`` are the same header), so one preset covers a portal's
download form and its API's snake_case form.

Fields (the keys of ``columns=``)
---------------------------------
``occurred_at`` (required), ``lat`` + ``lon`` or ``x`` + ``y`` (required, one pair),
``incident_id``, ``occurred_to``, ``category``, ``weight``, ``detection``,
``time_resolution``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError, SchemaError

FIELDS = ("incident_id", "occurred_at", "occurred_to", "category", "lat", "lon", "x", "y",
          "weight", "detection", "time_resolution")
REQUIRED_TEXT = "occurred_at (a date or date-time column) and coordinates: lat + lon (WGS84), or x + y with crs="


def normalise(name: object) -> str:
    """Header key for matching: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def snake_case(name: object) -> str:
    """``"Case Number"`` -> ``"case_number"``; ``"IncidentID"`` -> ``"incident_id"``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    return text or "column"


@dataclass(frozen=True)
class Schema:
    """A preset: aliases per field, plus what the source's documentation declares."""

    name: str
    description: str
    aliases: Mapping[str, Sequence[str]]
    signature: Sequence[Sequence[str]] = ()  # every group needs one header present, for recognition
    tz: str | None = None
    crs: str | None = None  # CRS of the x/y columns
    time_resolution: str | None = None  # declared for every row
    rule: Callable[[pd.DataFrame, dict[str, str]], tuple[str, np.ndarray, np.ndarray]] | None = None
    rule_doc: str = ""
    example_source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def _sf_initial_reports(raw: pd.DataFrame, cols: dict[str, str]) -> tuple[str, np.ndarray, np.ndarray]:
    """SF: rows that are not initial reports (supplements) leave; the rest keep one row per incident."""
    headers = {normalise(c): c for c in raw.columns}
    desc = headers.get("reporttypedescription")
    code = headers.get("reporttypecode")
    n = len(raw)
    if desc is not None:
        values = raw[desc].astype("string").str.casefold().fillna("")
        mask = values.str.contains("supplement", regex=False).to_numpy(bool)
        detail = raw[desc].astype("string").fillna("").to_numpy(object)
    elif code is not None:
        values = raw[code].astype("string").str.strip().str.upper().fillna("")
        mask = values.str.endswith("S").to_numpy(bool)
        detail = raw[code].astype("string").fillna("").to_numpy(object)
    else:
        mask, detail = np.zeros(n, bool), np.full(n, "", object)
    return "supplement_report", mask, detail


PRESETS: dict[str, Schema] = {
    "chicago": Schema(
        name="chicago",
        description="City of Chicago data portal 'Crimes - 2001 to present' (portal headers or snake_case)",
        aliases={
            "incident_id": ["ID"],
            "occurred_at": ["Date", "datetime"],
            "category": ["Primary Type"],
            "x": ["X Coordinate"],
            "y": ["Y Coordinate"],
            "lat": ["Latitude"],
            "lon": ["Longitude"],
        },
        signature=[["Primary Type"], ["IUCR"], ["Date", "datetime"]],
        tz="America/Chicago",
        crs="EPSG:3435",
        example_source="chicago_crimes_2016.csv.gz, or a portal CSV download",
    ),
    "sf": Schema(
        name="sf",
        description="San Francisco 'Police Department Incident Reports: 2018 to Present' (DataSF; CSV or API names)",
        aliases={
            "incident_id": ["Incident Number"],
            "occurred_at": ["Incident Datetime"],
            "category": ["Incident Category"],
            "lat": ["Latitude"],
            "lon": ["Longitude"],
        },
        signature=[["Incident Datetime"], ["Incident Number"], ["Report Type Code", "Report Type Description"]],
        tz="America/Los_Angeles",
        rule=_sf_initial_reports,
        rule_doc="supplement_report: a supplement to an earlier report (Report Type Description containing "
        "'Supplement', or a Report Type Code ending in 'S'); only initial reports are kept, one row per incident number",
        example_source="Police_Department_Incident_Reports__2018_to_Present.csv",
    ),
    "policeuk": Schema(
        name="policeuk",
        description="data.police.uk street-level crime CSV (month resolution, snap-point locations)",
        aliases={
            "incident_id": ["Crime ID"],
            "occurred_at": ["Month"],
            "category": ["Crime type"],
            "lat": ["Latitude"],
            "lon": ["Longitude"],
        },
        signature=[["Month"], ["Crime type"], ["Falls within", "Reported by", "LSOA code"]],
        tz="Europe/London",
        time_resolution="month",
        example_source="2018-07-west-yorkshire-street.csv",
    ),
    "code": Schema(
        name="code",
        description="Crime Open Database (CODE) / crimemappingdata layout (uid or event_id, date or datetime, "
        "offense_type or category, longitude, latitude, optional time_resolution)",
        aliases={
            "incident_id": ["uid", "event_id"],
            "occurred_at": ["date_single", "datetime", "date", "date_time"],
            "occurred_to": ["date_end"],
            "category": ["offense_type", "category"],
            "lat": ["latitude"],
            "lon": ["longitude"],
            "time_resolution": ["time_resolution"],
        },
        signature=[["uid", "event_id"], ["date_single", "datetime", "date", "date_time"], ["offense_type", "category"],
                   ["latitude"], ["longitude"]],
        example_source="memphis_robberies_2019.csv, crimemappingdata_multicity/clean/*.csv",
    ),
}


def list_schemas() -> dict[str, str]:
    """Schema presets accepted by ``schema=``, with what each one reads.

    Returns
    -------
    dict
        Preset name -> one-line description.

    Examples
    --------
    >>> import intel
    >>> sorted(intel.list_schemas())
    ['chicago', 'code', 'policeuk', 'sf']
    """
    return {name: s.description for name, s in PRESETS.items()}


@dataclass
class Resolved:
    """The outcome of matching headers: which source column feeds each field."""

    schema: str
    columns: dict[str, str]  # field -> source column
    preset: Schema | None
    detected: bool = False


def _find(headers: dict[str, str], aliases: Sequence[str]) -> str | None:
    for alias in aliases:
        hit = headers.get(normalise(alias))
        if hit is not None:
            return hit
    return None


def _resolve_preset(preset: Schema, headers: dict[str, str]) -> dict[str, str]:
    cols = {}
    for fld, aliases in preset.aliases.items():
        hit = _find(headers, aliases)
        if hit is not None:
            cols[fld] = hit
    return cols


def _matches(preset: Schema, headers: dict[str, str]) -> bool:
    return all(_find(headers, group) is not None for group in preset.signature)


def resolve_schema(
    headers: Sequence[object],
    *,
    schema: str | None,
    columns: Mapping[str, str] | None,
    source: str,
    has_geometry: bool = False,
) -> Resolved:
    """Decide which source column feeds each intel field.

    ``columns`` (field -> source column) overrides or extends the preset. With neither a
    schema nor a mapping, the first preset whose signature headers are all present wins;
    a mapping that lacks required fields refines such a recognised preset.
    """
    header_map: dict[str, str] = {}
    for h in headers:
        header_map.setdefault(normalise(h), h)
    if schema is not None and schema not in PRESETS:
        close = difflib.get_close_matches(str(schema), list(PRESETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"The 'schema' parameter of load_incidents must be one of {', '.join(repr(p) for p in PRESETS)} or None. "
            f"Got {schema!r} instead.{hint} Use columns={{...}} for other layouts."
        )
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise InputError(f"columns= must be a dict of intel field -> source column, e.g. "
                             f"{{'occurred_at': 'Date', 'lat': 'Latitude', 'lon': 'Longitude'}}. Got {columns!r}.")
        unknown = [k for k in columns if k not in FIELDS]
        if unknown:
            raise InputError(f"columns=: unknown intel field(s) {unknown}. The fields are {', '.join(FIELDS)}.")

    preset = PRESETS[schema] if schema is not None else None
    detected = False
    if preset is None and columns is not None and not _covers_required(columns, has_geometry):
        # a partial mapping refines a recognised preset (e.g. Chicago with x/y instead of lat/lon)
        preset = next((p for p in PRESETS.values() if _matches(p, header_map)), None)
        detected = preset is not None
    if preset is None and columns is None:
        for candidate in PRESETS.values():
            if _matches(candidate, header_map):
                preset, detected = candidate, True
                break
        if preset is None and not has_geometry:
            raise SchemaError(_no_match_message(source, list(headers)))

    cols = _resolve_preset(preset, header_map) if preset is not None else {}
    for fld, col in (columns or {}).items():
        hit = header_map.get(normalise(col))
        if hit is None:
            close = difflib.get_close_matches(normalise(col), list(header_map), n=3, cutoff=0.5)
            names = [header_map[c] for c in close]
            raise SchemaError(
                f"{source}: columns={{{fld!r}: {col!r}}} names a column that is not there. "
                f"Closest column names: {names or 'none'}. The source has {list(headers)[:30]}."
            )
        cols[fld] = hit
    name = preset.name if preset is not None else "columns"
    _check_required(cols, source, list(headers), has_geometry)
    return Resolved(schema=name, columns=cols, preset=preset, detected=detected)


_REQUIRED_HINTS = {
    "occurred_at": ["date", "datetime", "occurred", "occurred_at", "date_time", "incident_date", "time", "month"],
    "lat": ["latitude", "lat", "y"],
    "lon": ["longitude", "lon", "lng", "long", "x"],
}


def _closest(headers: list[str]) -> dict[str, list[str]]:
    keys = {normalise(h): h for h in headers}
    found = {}
    for fld, hints in _REQUIRED_HINTS.items():
        hits: list[str] = []
        for hint in hints:
            for c in difflib.get_close_matches(normalise(hint), list(keys), n=3, cutoff=0.6):
                if keys[c] not in hits:
                    hits.append(keys[c])
        hits += [keys[k] for k in keys if any(normalise(h) in k for h in hints[:2]) and keys[k] not in hits]
        found[fld] = hits[:4]
    return found


def _no_match_message(source: str, headers: list[str]) -> str:
    closest = _closest(headers)
    lines = ", ".join(f"{f}: {v if v else 'nothing close'}" for f, v in closest.items())
    shown = headers[:30]
    return (
        f"{source}: could not recognise the columns as any preset ({', '.join(PRESETS)}). "
        f"Required fields: {REQUIRED_TEXT}. Closest column names found: {lines}. "
        f"The source has {len(headers)} column(s): {shown}. "
        "Name the columns with columns={'occurred_at': ..., 'lat': ..., 'lon': ...} (CLI: --map FIELD=COLUMN), "
        "or pass schema=... ."
    )


def _covers_required(columns: Mapping[str, str], has_geometry: bool) -> bool:
    pair = {"lat", "lon"} <= set(columns) or {"x", "y"} <= set(columns) or has_geometry
    return "occurred_at" in columns and pair


def _check_required(cols: dict[str, str], source: str, headers: list[str], has_geometry: bool) -> None:
    missing = []
    if "occurred_at" not in cols:
        missing.append("occurred_at")
    has_pair = ("lat" in cols and "lon" in cols) or ("x" in cols and "y" in cols)
    if not has_pair and not has_geometry:
        missing.append("lat + lon (or x + y)")
    if missing:
        closest = _closest(headers)
        raise SchemaError(
            f"{source}: no column for the required field(s) {', '.join(missing)}. "
            f"Required fields: {REQUIRED_TEXT}. Closest column names found: "
            + ", ".join(f"{f}: {v if v else 'nothing close'}" for f, v in closest.items())
            + f". The source has {headers[:30]}. Map them with columns={{...}} (CLI: --map FIELD=COLUMN)."
        )
