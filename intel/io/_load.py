"""load_incidents / read_incidents: from a messy export to one trustworthy Incidents table."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from .._incidents import INCIDENT_COLUMNS, _as_time
from .._provenance import announce, attach, jsonable, make_record
from .._validation import check_option
from ..exceptions import CRSError, DataQualityWarning, InputError
from . import _quality
from ._personal import is_personal
from ._readers import read_source
from ._result import LoadResult
from ._schemas import Resolved, resolve_schema, snake_case
from ._times import RESOLUTIONS, check_tz, localise, parse_times, resolution_codes, to_datetimes, zone_at

_OWNER = "load_incidents"
_WGS84 = pyproj.CRS.from_epsg(4326)


def load_incidents(
    source: Any,
    *,
    schema: str | None = None,
    columns: Mapping[str, str] | None = None,
    tz: str | None = None,
    crs: Any = None,
    target_crs: Any = None,
    dst: str = "earliest",
    bounds: Sequence[float] | None = None,
    study_area: Any = None,
    min_date: Any = "1900-01-01",
    max_date: Any = None,
    personal_columns: str = "drop",
    table: str | None = None,
    query: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
    day_first: bool | None = None,
) -> LoadResult:
    """Load police incident records into an Incidents table, accounting for every row.

    Parameters
    ----------
    source : str, Path, list of paths, DataFrame, GeoDataFrame or SQLAlchemy URL
        CSV/TSV (plain, .gz, .bz2, .xz, .zip), Excel (.xlsx), Parquet/GeoParquet,
        GeoJSON, GeoPackage, Shapefile, a glob pattern, list of files or directory (its
        incident files, sorted by name) sharing one layout, a (Geo)DataFrame, or a
        database URL such as ``"sqlite:///crimes.db"`` with ``table=`` or ``query=``.
    schema : str, optional
        A preset from :func:`intel.list_schemas` (``"chicago"``, ``"sf"``, ``"policeuk"``,
        ``"code"``). Recognised from the headers when omitted (and announced).
    columns : dict, optional
        intel field -> source column, e.g. ``{"occurred_at": "Date", "category": "Primary Type",
        "lat": "Latitude", "lon": "Longitude"}``; fields: ``occurred_at`` (required),
        ``lat``/``lon`` or ``x``/``y`` (required), ``incident_id``, ``occurred_to``,
        ``category``, ``weight``, ``detection``, ``time_resolution``. Overrides a preset's
        choices. Headers match case- and punctuation-insensitively.
    tz : str, optional
        IANA time zone of naive source times. Default: the preset's zone, else the zone at
        the data's median location (announced). Times with an offset are converted to it.
    crs : str or CRS, optional
        CRS of the source's ``x``/``y`` columns (or of a GeoDataFrame without one).
        ``lat``/``lon`` are always EPSG:4326.
    target_crs : str or CRS, optional
        Projected metric CRS of the output. Default: the source CRS when it is projected in
        metres, else the UTM zone of the data (announced). Feet become metres.
    dst : {"earliest", "latest", "quarantine"}
        What a wall time in the repeated autumn hour means. Nonexistent spring times are
        shifted forward. Both are counted in ``report["dst"]``.
    bounds : tuple of float, optional
        ``(west, south, east, north)`` in degrees; rows outside are quarantined.
    study_area : GeoDataFrame, GeoSeries, shapely geometry or path, optional
        Rows outside these polygons are quarantined (shapely geometries are read as WGS84).
    min_date, max_date : str or Timestamp, optional
        Rows before ``min_date`` (default 1900-01-01) or after ``max_date`` (default: now)
        are quarantined. Naive values are read in ``tz``.
    personal_columns : {"drop", "keep"}
        Person-level columns (names, ages, sex, race, victim/suspect fields, narratives)
        are dropped by default and listed in the report; ``"keep"`` keeps them with a warning.
    table, query : str, optional
        With a SQL source: the table to read, or the query to run.
    sheet : str or int, optional
        Excel sheet (default the first).
    layer : str, optional
        Layer of a GeoPackage or other multi-layer vector file.
    day_first : bool, optional
        Read ``01/02/2019`` as 1 February (True) or 2 January (False). Default: decided from
        the data (month first when the data cannot tell, announced).

    Returns
    -------
    LoadResult
        ``.incidents`` (GeoDataFrame), ``.quarantine`` (DataFrame with ``source_row``,
        ``reason``, ``detail``) and ``.report`` (dict). ``report["n_read"] ==
        report["n_kept"] + report["n_quarantined"]`` always.

    Raises
    ------
    ParseError
        The file cannot be read (empty, binary, header only, broken quoting, most rows with
        more fields than the header).
    InputError
        No such file, no file matching a pattern, or a directory without incident files.
    SchemaError
        The columns match no preset and no mapping; the message lists the required
        fields and the closest column names.
    CRSError
        x/y columns without ``crs=``, or an unusable ``target_crs``.

    Warns
    -----
    DataQualityWarning
        Default geocodes, default times (00:00, 12:00, the 1st of the month), a geocoding
        rate under 85%, kept personal columns. See :mod:`intel.io._quality` for the rules.

    Notes
    -----
    Quarantine reasons, one per row, are the first failed rule in this order:
    wrong_field_count (a delimited-text row with more fields than the header; its
    ``detail`` holds the raw line; a row with fewer fields is read with the missing ones
    empty and judged by the rules below), unparseable_date, missing_date, ambiguous_time,
    missing_coordinates, non_numeric_coordinates, null_island, out_of_range_coordinates,
    outside_bounds, outside_study_area, duplicate_id, future_date, before_min_date,
    occurred_to_before_occurred_at, then the preset's own (e.g. SF's supplement_report).

    Examples
    --------
    >>> import intel
    >>> from intel.datasets import SAMPLES_DIR
    >>> result = intel.load_incidents(SAMPLES_DIR / "memphis_robberies.csv")
    >>> r = result.report
    >>> r["n_read"] == r["n_kept"] + r["n_quarantined"]
    True
    >>> r["schema"], r["tz"]
    ('code', 'America/Chicago')
    """
    return _Loader(locals()).run()


def read_incidents(source: Any, **kwargs: Any) -> gpd.GeoDataFrame:
    """Load incidents (as :func:`load_incidents`) and return only the Incidents table.

    The load report is in ``incidents.attrs["provenance"]``; the quarantined rows are
    dropped (use :func:`load_incidents` to see them).

    Parameters
    ----------
    source : str, Path, list, DataFrame or URL
        See :func:`load_incidents`.
    **kwargs
        The keyword arguments of :func:`load_incidents`.

    Returns
    -------
    GeoDataFrame
        Incidents: ``incident_id``, ``occurred_at``, ``occurred_to``, ``time_resolution``,
        ``category``, ``weight``, ``detection``, ``source_row``, point geometry in a
        metric CRS, plus the source's other non-personal columns in snake_case.

    Examples
    --------
    >>> import intel
    >>> from intel.datasets import SAMPLES_DIR
    >>> incidents = intel.read_incidents(SAMPLES_DIR / "memphis_robberies.csv")
    >>> incidents.crs.to_epsg(), str(incidents["occurred_at"].dt.tz)
    (32616, 'America/Chicago')
    >>> incidents.attrs["provenance"]["n_kept"] == len(incidents)
    True
    """
    return load_incidents(source, **kwargs).incidents


def _as_crs(value: Any, name: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        raise CRSError(f"The {name!r} parameter of {_OWNER} must be a CRS such as 'EPSG:3435'. Got {value!r}, "
                       "which pyproj does not know.") from None


def _is_metric(crs: pyproj.CRS) -> bool:
    if not crs.is_projected:
        return False
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    return unit in ("metre", "meter")


def _arrow_text(values: pd.Series) -> pa.Array:
    """A column as one Arrow string array, whitespace trimmed (zero-copy for Arrow-backed strings)."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(values.astype("string"), from_pandas=True)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        try:
            arr = pc.cast(arr, pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            arr = pa.array(values.astype("string"), from_pandas=True)
    return pc.utf8_trim_whitespace(arr)


def _duplicated(values: pa.Array) -> np.ndarray:
    """True for every repeat of a value seen earlier (pandas' ``duplicated(keep="first")``)."""
    codes = None
    if len(values) and not pc.any(pc.starts_with(values, "0")).as_py():
        try:  # numeric ids (Chicago, SF): hashing int64 is several times faster than strings
            codes = np.asarray(pc.cast(values, pa.int64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            codes = None
    if codes is None:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()  # one dictionary for all rows
        codes = np.asarray(pc.dictionary_encode(values).indices)
    _, first = np.unique(codes, return_index=True)
    dup = np.ones(codes.size, bool)
    dup[first] = False
    return dup


def _take_rows(frame: pd.DataFrame, rows: np.ndarray, n: int) -> pd.DataFrame:
    """``frame.iloc[rows]`` with a fresh RangeIndex, column by column: numpy masks for numpy columns and
    Arrow's filter for Arrow-backed strings (several times faster than pandas' take on chunked strings)."""
    if isinstance(frame, gpd.GeoDataFrame):
        frame = pd.DataFrame(frame)
    if rows.size == n:
        return frame.reset_index(drop=True)
    if not frame.columns.is_unique:
        return frame.take(rows).reset_index(drop=True)
    mask = np.zeros(n, bool)
    mask[rows] = True
    arrow_mask = pa.array(mask)
    # column by column into an empty frame: DataFrame(dict) would copy everything to consolidate blocks
    out = pd.DataFrame(index=pd.RangeIndex(rows.size))
    for name in frame.columns:
        s = frame[name]
        values = s.array
        if isinstance(values, pd.arrays.NumpyExtensionArray) and s.dtype.kind in "iufbmM":
            out[name] = s.to_numpy()[mask]
            continue
        if isinstance(values, pd.arrays.ArrowStringArray):
            picked = pa.array(s).filter(arrow_mask).to_pandas()
            if picked.dtype == s.dtype:
                out[name] = picked
                continue
        out[name] = s.take(rows).reset_index(drop=True)
    return out


def _missing_strings(n: int) -> Any:
    return pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string()))


def _epsg_or_wkt(crs: pyproj.CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.to_string()


class _Loader:
    """One load: holds the arguments and the arrays built on the way (a function split in steps)."""

    def __init__(self, args: dict[str, Any]):
        self.args = args
        self.automatic: dict[str, Any] = {}
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ steps
    def run(self) -> LoadResult:
        a = self.args
        check_option("dst", a["dst"], _OWNER, ("earliest", "latest", "quarantine"))
        check_option("personal_columns", a["personal_columns"], _OWNER, ("drop", "keep"))
        if a["tz"] is not None:
            check_tz(a["tz"])
        self.user_crs = _as_crs(a["crs"], "crs") if a["crs"] is not None else None
        self.target = _as_crs(a["target_crs"], "target_crs") if a["target_crs"] is not None else None
        if self.target is not None and not _is_metric(self.target):
            raise CRSError(f"target_crs={a['target_crs']!r} is not a projected CRS in metres; intel measures "
                           "distances in metres. Use e.g. a UTM zone ('EPSG:32616') or leave it out.")
        self._check_bounds()

        self._read()
        self._coordinates()
        self._choose_crs()
        # pyproj, shapely and Arrow release the GIL: project the points while the dates are parsed
        with ThreadPoolExecutor(max_workers=1) as pool:
            projected = pool.submit(self._project)
            self._times()
            self._ids()
            projected.result()
        self._areas()
        self._rules()
        return self._build()

    def _check_bounds(self) -> None:
        b = self.args["bounds"]
        if b is None:
            return
        try:
            w, s, e, n = (float(v) for v in b)
        except (TypeError, ValueError):
            raise InputError(f"bounds= must be (west, south, east, north) in degrees; got {b!r}.") from None
        if not (w < e and s < n):
            raise InputError(f"bounds=({w}, {s}, {e}, {n}): west must be < east and south < north (degrees).")

    def _read(self) -> None:
        a = self.args
        self.resolved: Resolved | None = None

        def plan(headers: list[str], label: str, sample: Mapping[str, list[str]]) -> dict[str, str]:
            self.resolved = resolve_schema(headers, schema=a["schema"], columns=a["columns"], source=label)
            types = {}
            for fld in ("incident_id", "occurred_at", "occurred_to"):
                col = self.resolved.columns.get(fld)
                # numbers with leading zeros ("007", "20190101"): text keeps them exact
                if col is not None and any(v.strip()[:1] == "0" or len(v.strip()) == 8 and v.strip().isdigit()
                                           for v in sample.get(col, [])):
                    types[col] = "string"
            return types

        self.src = read_source(a["source"], plan=plan, table=a["table"], query=a["query"], sheet=a["sheet"],
                               layer=a["layer"])
        self.raw = self.src.frame
        if self.resolved is None or self.src.kind != "csv" or not set(self.resolved.columns.values()) <= set(self.raw.columns):
            self.resolved = resolve_schema(list(self.raw.columns), schema=a["schema"], columns=a["columns"],
                                           source=self.src.label, has_geometry=self._point_geometry())
        if self.resolved.detected:
            self.automatic["schema"] = {"value": self.resolved.schema, "rule": "recognised from the headers"}
            announce("%s: columns recognised as the %r preset", self.src.label, self.resolved.schema)
        self.cols = self.resolved.columns
        self.preset = self.resolved.preset
        self.n = len(self.raw)  # rows in the frame, the ones every rule below judges
        self.rejected = self.src.rejected  # rows the reader could not split into the header's fields
        self.n_rejected = 0 if self.rejected is None else len(self.rejected)
        if self.n_rejected:
            first = self.rejected.iloc[0]
            rows = "1 row has" if self.n_rejected == 1 else f"{self.n_rejected} rows have"
            self.warnings.append(
                f"{rows} more fields than the header ({int(first['expected'])}), e.g. row {int(first['row'])} "
                f"with {int(first['fields'])}; quarantined as wrong_field_count (check the delimiters and quoting "
                "of those lines)")

    def _point_geometry(self) -> bool:
        raw = self.src.frame
        return isinstance(raw, gpd.GeoDataFrame) and raw.geometry.name in raw.columns

    # ------------------------------------------------------------------ coordinates
    def _numeric(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.raw[column]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            v = s.to_numpy(np.float64, na_value=np.nan)
            missing = np.isnan(v)
            bad = np.isinf(v)
            return np.where(bad, np.nan, v), missing, bad
        text = s.astype("string").str.strip()
        missing = (text.isna() | (text == "")).to_numpy(bool)
        v = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        bad = np.isnan(v) & ~missing
        if bad.any():
            # decimal commas ("-75,5698") are common in Latin American and European exports
            fixed = pd.to_numeric(text[bad].str.replace(",", ".", regex=False), errors="coerce").to_numpy(
                np.float64, na_value=np.nan)
            if np.isfinite(fixed).any():
                v[np.flatnonzero(bad)] = fixed
                self.automatic.setdefault("decimal_comma", {"value": column, "rule": "numbers written with a decimal comma"})
                bad = np.isnan(v) & ~missing
        bad |= np.isinf(v)
        return np.where(np.isfinite(v), v, np.nan), missing, bad

    def _coordinates(self) -> None:
        cols, raw = self.cols, self.raw
        has_xy = "x" in cols and "y" in cols
        has_ll = "lat" in cols and "lon" in cols
        user_pair = set(self.args["columns"] or {})
        # lat/lon win when both pairs exist (one projection step, as fast as it gets), unless x/y were mapped by hand
        if has_xy and (not has_ll or ({"x", "y"} & user_pair and not {"lat", "lon"} & user_pair)):
            self.mode = "xy"
            crs = self.user_crs or (_as_crs(self.preset.crs, "crs") if self.preset and self.preset.crs else None)
            if crs is None:
                raise CRSError(f"{self.src.label}: x/y columns ({cols['x']}, {cols['y']}) need their CRS: pass crs= "
                               "(e.g. crs='EPSG:3435' for Illinois State Plane feet), or map lat/lon instead.")
            self.src_crs = crs
            x, mx, bx = self._numeric(cols["x"])
            y, my, by = self._numeric(cols["y"])
            self.coord_cols = (cols["x"], cols["y"])
        elif has_ll:
            self.mode = "latlon"
            self.src_crs = _WGS84
            x, mx, bx = self._numeric(cols["lon"])
            y, my, by = self._numeric(cols["lat"])
            self.coord_cols = (cols["lon"], cols["lat"])
        elif self._point_geometry():
            self.mode = "geometry"
            geom = raw.geometry
            crs = geom.crs or self.user_crs
            if crs is None:
                raise CRSError(f"{self.src.label}: the geometry has no CRS; pass crs= to say what it is.")
            self.src_crs = pyproj.CRS.from_user_input(crs)
            arr = geom.to_numpy()
            kinds = shapely.get_type_id(arr)
            empty = (kinds < 0) | shapely.is_empty(arr)
            if ((kinds != 0) & ~empty).any():
                raise InputError(f"{self.src.label}: incidents must be points; found "
                                 f"{sorted(set(geom.geom_type.dropna()))}. Convert them (e.g. .centroid) first.")
            x = np.where(empty, np.nan, shapely.get_x(arr))
            y = np.where(empty, np.nan, shapely.get_y(arr))
            mx = my = empty
            bx = by = np.zeros(self.n, bool)
            self.coord_cols = (geom.name, geom.name)
        else:  # resolve_schema guarantees one of the above
            raise InputError(f"{self.src.label}: no coordinates found.")
        self.x, self.y = x, y
        self.m_missing = mx | my
        self.m_nonnumeric = (bx | by) & ~self.m_missing
        finite = np.isfinite(x) & np.isfinite(y)
        self.m_null = finite & (x == 0) & (y == 0)
        if self.mode == "latlon" and has_xy:
            # x/y at (0, 0) mean no location, even where lat/lon were derived from them (Chicago: 36.62, -91.69)
            ox, _, _ = self._numeric(cols["x"])
            oy, _, _ = self._numeric(cols["y"])
            self.m_null |= finite & (ox == 0) & (oy == 0)
        if self.src_crs.is_geographic:
            in_range = (np.abs(y) <= 90) & (np.abs(x) <= 180)
        else:
            in_range = self._in_area_of_use(x, y)
        self.m_range = finite & ~in_range & ~self.m_null
        self.geo_ok = finite & ~self.m_null & ~self.m_range

    def _in_area_of_use(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        area = self.src_crs.area_of_use
        if area is None:
            return np.ones(x.size, bool)
        tr = pyproj.Transformer.from_crs(_WGS84, self.src_crs, always_xy=True)
        x0, y0, x1, y1 = tr.transform_bounds(*area.bounds, densify_pts=21)
        mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        with np.errstate(invalid="ignore"):
            return (x >= x0 - mx) & (x <= x1 + mx) & (y >= y0 - my) & (y <= y1 + my)

    def _lonlat(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.src_crs.is_geographic and self.src_crs.equals(_WGS84, ignore_axis_order=True):
            return self.x[rows], self.y[rows]
        tr = pyproj.Transformer.from_crs(self.src_crs, _WGS84, always_xy=True)
        return tr.transform(self.x[rows], self.y[rows])

    def _lonlat_bounds(self, rows: np.ndarray) -> tuple[float, float, float, float]:
        x, y = self.x[rows], self.y[rows]
        box = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
        if self.src_crs.is_geographic and self.src_crs.equals(_WGS84, ignore_axis_order=True):
            return box
        tr = pyproj.Transformer.from_crs(self.src_crs, _WGS84, always_xy=True)
        return tr.transform_bounds(*box, densify_pts=21)

    def _lonlat_median(self, rows: np.ndarray) -> tuple[float, float]:
        mx, my = float(np.median(self.x[rows])), float(np.median(self.y[rows]))
        if self.src_crs.is_geographic and self.src_crs.equals(_WGS84, ignore_axis_order=True):
            return mx, my
        tr = pyproj.Transformer.from_crs(self.src_crs, _WGS84, always_xy=True)
        return tr.transform(mx, my)

    def _choose_crs(self) -> None:
        if self.target is not None:
            return
        if _is_metric(self.src_crs):
            self.target = self.src_crs
            return
        ok = np.flatnonzero(self.geo_ok)
        if ok.size == 0:
            self.target = pyproj.CRS.from_epsg(3857)
            rule = "no usable coordinates to choose a UTM zone from"
        else:
            from pyproj.aoi import AreaOfInterest
            from pyproj.database import query_utm_crs_info

            west, south, east, north = self._lonlat_bounds(ok)
            # geopandas' estimate_utm_crs: the zone containing the centre of the extent
            cx, cy = (west + east) / 2, (south + north) / 2
            info = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(cx, cy, cx, cy))
            if info:
                self.target = pyproj.CRS.from_authority(info[0].auth_name, info[0].code)
            else:
                self.target = pyproj.CRS.from_epsg(3857)
            rule = "UTM zone of the data's extent (source coordinates are not in metres)"
        self.automatic["target_crs"] = {"value": _epsg_or_wkt(self.target), "rule": rule}
        announce("output CRS set to %s (%s)", _epsg_or_wkt(self.target), rule)

    def _project(self) -> None:
        ok = np.flatnonzero(self.geo_ok)
        X = np.full(self.n, np.nan)
        Y = np.full(self.n, np.nan)
        if ok.size:
            if self.src_crs.equals(self.target):
                X[ok], Y[ok] = self.x[ok], self.y[ok]
            else:
                tr = pyproj.Transformer.from_crs(self.src_crs, self.target, always_xy=True)
                X[ok], Y[ok] = tr.transform(self.x[ok], self.y[ok])
        self.X, self.Y = X, Y

    def _areas(self) -> None:
        a = self.args
        self.m_bounds = np.zeros(self.n, bool)
        self.m_area = np.zeros(self.n, bool)
        ok = np.flatnonzero(self.geo_ok)
        if a["bounds"] is not None and ok.size:
            w, s, e, n = (float(v) for v in a["bounds"])
            lon, lat = self._lonlat(ok)
            self.m_bounds[ok] = ~((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n))
        if a["study_area"] is not None and ok.size:
            area = self._study_area(a["study_area"])
            inside = shapely.contains_xy(area, self.X[ok], self.Y[ok]) | shapely.intersects_xy(area, self.X[ok], self.Y[ok])
            self.m_area[ok] = ~inside

    def _study_area(self, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            value = gpd.read_file(value)
        if isinstance(value, (gpd.GeoDataFrame, gpd.GeoSeries)):
            if value.crs is None:
                raise CRSError("study_area has no CRS; set it with .set_crs(...) first.")
            geom = value.to_crs(self.target).geometry.union_all() if isinstance(value, gpd.GeoDataFrame) \
                else value.to_crs(self.target).union_all()
        elif isinstance(value, shapely.Geometry):
            geom = gpd.GeoSeries([value], crs=_WGS84).to_crs(self.target).iloc[0]
        else:
            raise InputError(f"study_area must be a GeoDataFrame, GeoSeries, shapely polygon or a path to one; "
                             f"got {type(value).__name__}.")
        if geom is None or geom.is_empty or geom.area == 0:
            raise InputError("study_area has no polygon area.")
        shapely.prepare(geom)
        return geom

    # ------------------------------------------------------------------ times
    def _resolve_tz(self) -> str:
        a = self.args
        if a["tz"] is not None:
            return a["tz"]
        if self.preset is not None and self.preset.tz:
            tz = self.preset.tz
            rule = f"declared by the {self.preset.name!r} preset"
        else:
            ok = np.flatnonzero(self.geo_ok)
            tz = None
            if ok.size:
                tz = zone_at(*self._lonlat_median(ok))
                rule = "time zone at the median location of the data (timezonefinder)"
            if tz is None:
                tz, rule = "UTC", "no location to look a time zone up from"
        self.automatic["tz"] = {"value": tz, "rule": rule}
        announce("time zone %s (%s)", tz, rule)
        return tz

    def _times(self) -> None:
        a, cols = self.args, self.cols
        self.tz = self._resolve_tz()
        what = f"{self.src.label}, column {cols['occurred_at']!r}"
        parsed = parse_times(self.raw[cols["occurred_at"]], what=what, day_first=a["day_first"])
        self.automatic.update(parsed.automatic)
        self.parsed = parsed
        self.loc = localise(parsed, self.tz, a["dst"])
        self.m_unparseable = parsed.unparseable
        self.m_missing_date = parsed.missing
        self.m_ambiguous = self.loc.ambiguous & (a["dst"] == "quarantine") & parsed.ok

        res = parsed.resolution.copy()
        if "time_resolution" in cols:
            codes = resolution_codes(self.raw[cols["time_resolution"]])
            res = np.where(codes >= 0, codes, res).astype(np.int8)
        if self.preset is not None and self.preset.time_resolution:
            res[:] = RESOLUTIONS.index(self.preset.time_resolution)
        self.res = res

        self.to_ok = np.zeros(self.n, bool)
        self.to_secs = np.zeros(self.n, np.int64)
        self.n_to_unparseable = 0
        if "occurred_to" in cols:
            pto = parse_times(self.raw[cols["occurred_to"]], what=f"{self.src.label}, column {cols['occurred_to']!r}",
                              day_first=a["day_first"])
            lto = localise(pto, self.tz, "earliest" if a["dst"] == "quarantine" else a["dst"])
            self.to_ok, self.to_secs = lto.ok, lto.utc_seconds
            self.n_to_unparseable = int(pto.unparseable.sum())

        start = self.loc.utc_seconds
        ok = self.loc.ok
        hi = self._limit(a["max_date"]) if a["max_date"] is not None else pd.Timestamp.now(tz="UTC")
        lo = self._limit(a["min_date"]) if a["min_date"] is not None else None
        self.m_future = ok & (start > int(np.floor(hi.timestamp())))
        self.m_before = np.zeros(self.n, bool) if lo is None else ok & (start < int(np.ceil(lo.timestamp())))
        self.m_to_before = ok & self.to_ok & (self.to_secs < start)
        self.limits = (lo, hi if a["max_date"] is not None else None)

    def _limit(self, value: Any) -> pd.Timestamp:
        try:
            ts = _as_time(value, self.tz)
        except (ValueError, TypeError):
            raise InputError(f"{_OWNER}: cannot read {value!r} as a date (use 'YYYY-MM-DD').") from None
        if ts is pd.NaT:
            raise InputError(f"{_OWNER}: {value!r} is not a date.")
        return ts

    # ------------------------------------------------------------------ ids and rules
    def _ids(self) -> None:
        col = self.cols.get("incident_id")
        n = self.n
        if col is None:
            self.id_missing = np.ones(n, bool)
            self.id_values = None
        else:
            s = self.raw[col]
            if pd.api.types.is_float_dtype(s.dtype):
                v = s.to_numpy(np.float64, na_value=np.nan)
                finite = np.isfinite(v)
                if finite.any() and np.all(v[finite] == np.round(v[finite])):
                    s = pd.Series(pd.array(np.where(finite, v, 0).astype(np.int64), dtype="Int64")).where(finite)
            text = _arrow_text(s)
            self.id_text = text
            self.id_missing = ~np.asarray(pc.fill_null(pc.not_equal(pc.utf8_length(text), 0), False), dtype=bool)
            self.id_values = pd.Series(pd.arrays.ArrowStringArray(text), copy=False)  # for messages
        self.n_synthetic_ids = int(self.id_missing.sum())

    def _synthetic_ids(self, rows: np.ndarray) -> np.ndarray:
        """Stable ids for rows without one: a hash of the row's content, plus a repeat counter."""
        part = self.raw.iloc[rows]
        if isinstance(part, gpd.GeoDataFrame):
            part = pd.DataFrame(part.drop(columns=part.geometry.name)).assign(_x=self.x[rows], _y=self.y[rows])
        part = part.reset_index(drop=True)
        try:
            h = pd.util.hash_pandas_object(part, index=False).to_numpy(np.uint64)
        except TypeError:  # unhashable cells (lists, dicts): hash their text
            h = pd.util.hash_pandas_object(part.astype(str), index=False).to_numpy(np.uint64)
        repeat = pd.Series(h).groupby(h).cumcount().to_numpy() + 1
        digits = (h[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4))) & np.uint64(15)
        hexed = np.frombuffer(np.array(list(b"0123456789abcdef"), np.uint8)[digits.astype(np.intp)].tobytes(), "S16")
        base = np.char.add(b"syn-", hexed).astype(str)
        out = base.astype(object)
        again = repeat > 1
        if again.any():
            out[again] = [f"{b}-{r}" for b, r in zip(base[again], repeat[again])]
        return out

    def _rules(self) -> None:
        n = self.n
        before_dup = [
            ("unparseable_date", self.m_unparseable),
            ("missing_date", self.m_missing_date),
            ("ambiguous_time", self.m_ambiguous),
            ("missing_coordinates", self.m_missing),
            ("non_numeric_coordinates", self.m_nonnumeric),
            ("null_island", self.m_null),
            ("out_of_range_coordinates", self.m_range),
            ("outside_bounds", self.m_bounds),
            ("outside_study_area", self.m_area),
        ]
        after_dup = [
            ("future_date", self.m_future),
            ("before_min_date", self.m_before),
            ("occurred_to_before_occurred_at", self.m_to_before),
        ]
        self.preset_detail = None
        if self.preset is not None and self.preset.rule is not None:
            name, mask, detail = self.preset.rule(self.raw, self.cols)
            after_dup.append((name, np.asarray(mask, bool)))
            self.preset_detail = detail
        others = np.zeros(n, bool)
        for _, m in before_dup + after_dup:
            others |= m
        dup = np.zeros(n, bool)
        if self.id_values is not None:
            cand = np.flatnonzero(~others & ~self.id_missing)
            if cand.size:
                dup[cand] = _duplicated(self.id_text.take(pa.array(cand)))
        self.m_dup = dup
        self.rules = before_dup + [("duplicate_id", dup)] + after_dup
        self.reason = _quality.assign_reasons(self.rules, n)

    # ------------------------------------------------------------------ output
    def _other_columns(self) -> tuple[list[str], list[str], list[str]]:
        unused_pair = {"xy": ("lat", "lon"), "latlon": ("x", "y")}.get(self.mode, ())
        consumed = {col for fld, col in self.cols.items() if fld not in unused_pair}
        if self.mode == "geometry":
            consumed.add(self.raw.geometry.name)
        candidates = [c for c in self.raw.columns if c not in consumed]
        personal = [c for c in candidates if is_personal(c)]
        if self.args["personal_columns"] == "keep":
            if personal:
                text = (f"personal columns kept at your request: {', '.join(map(str, personal))}; intel never uses "
                        "them, and they must not be published or shared")
                self.warnings.append(text)
            return candidates, [], personal
        return [c for c in candidates if c not in personal], personal, []

    def _detail(self, rows: np.ndarray, name: str) -> list[str]:
        raw = self.raw
        c = self.cols
        if not rows.size:
            return []
        if name in ("unparseable_date",):
            vals = raw[c["occurred_at"]].iloc[rows].tolist()
            return [f"{c['occurred_at']}={v!r}" for v in vals]
        if name == "missing_date":
            return [f"{c['occurred_at']} is empty"] * rows.size
        if name == "ambiguous_time":
            vals = raw[c["occurred_at"]].iloc[rows].astype(str).tolist()
            return [f"{v} happens twice in {self.tz} (DST ends)" for v in vals]
        if name in ("missing_coordinates", "non_numeric_coordinates", "null_island", "out_of_range_coordinates"):
            if self.mode == "geometry":
                return [f"geometry ({x}, {y})" for x, y in zip(self.x[rows], self.y[rows])]
            cx, cy = self.coord_cols
            xs = raw[cx].iloc[rows].tolist()
            ys = raw[cy].iloc[rows].tolist()
            return [f"{cx}={xv!r}, {cy}={yv!r}" for xv, yv in zip(xs, ys)]
        if name in ("outside_bounds", "outside_study_area"):
            where = "bounds" if name == "outside_bounds" else "the study area"
            return [f"point ({xv:.1f}, {yv:.1f}) in {_epsg_or_wkt(self.target)} is outside {where}"
                    for xv, yv in zip(self.X[rows], self.Y[rows])]
        if name == "duplicate_id":
            ids = self.id_values.iloc[rows].tolist()
            return [f"{c['incident_id']}={v!r} already kept at an earlier row" for v in ids]
        if name in ("future_date", "before_min_date", "occurred_to_before_occurred_at"):
            at = to_datetimes(self.loc.utc_seconds[rows], np.ones(rows.size, bool), self.tz)
            if name == "occurred_to_before_occurred_at":
                to = to_datetimes(self.to_secs[rows], np.ones(rows.size, bool), self.tz)
                return [f"occurred_to {t.isoformat()} < occurred_at {s.isoformat()}" for s, t in zip(at, to)]
            lo, hi = self.limits
            limit = (hi.isoformat() if hi is not None else "the time of loading") if name == "future_date" \
                else lo.isoformat()
            word = "after" if name == "future_date" else "before"
            return [f"occurred_at {s.isoformat()} is {word} {limit}" for s in at]
        if self.preset_detail is not None:
            return [str(v) for v in np.asarray(self.preset_detail, dtype=object)[rows]]
        return [""] * rows.size

    def _build(self) -> LoadResult:
        n = self.n
        kept = self.reason < 0
        kidx = np.flatnonzero(kept)
        qidx = np.flatnonzero(~kept)
        source_row = np.arange(1, n + self.n_rejected + 1, dtype=np.int64)
        if self.n_rejected:  # the frame's rows are the others
            source_row = np.delete(source_row, self.rejected["row"].to_numpy() - 1)
        others, dropped, kept_personal = self._other_columns()

        # incident ids
        if self.id_values is not None:
            ids = pd.Series(pd.arrays.ArrowStringArray(self._pick(self.id_text, kidx)), copy=False)
        else:
            ids = pd.Series(pd.NA, index=pd.RangeIndex(kidx.size), dtype="string")
        need = self.id_missing[kidx]
        if need.any():
            ids = ids.copy()
            ids.iloc[np.flatnonzero(need)] = self._synthetic_ids(kidx[need])
            self.automatic["incident_id"] = {
                "value": f"{int(need.sum())} synthetic ids",
                "rule": "rows without an id get 'syn-' + a hash of the row's content (+ '-k' for the k-th repeat)",
            }

        occurred_at = to_datetimes(self.loc.utc_seconds[kidx], np.ones(kidx.size, bool), self.tz)
        occurred_to = to_datetimes(self.to_secs[kidx], self.to_ok[kidx], self.tz)
        data: dict[str, Any] = {
            "incident_id": ids.array,
            "occurred_at": occurred_at,
            "occurred_to": occurred_to,
            "time_resolution": pd.arrays.ArrowStringArray(pa.array(RESOLUTIONS).take(pa.array(self.res[kidx]))),
            "category": self._category(kidx),
            "weight": self._weights(kidx),
            "detection": self._detection(kidx),
            "source_row": source_row[kidx],
        }
        # insert into the frame of other columns rather than concatenating: no block consolidation (a full copy)
        with ThreadPoolExecutor(max_workers=1) as pool:
            points = pool.submit(gpd.points_from_xy, self.X[kidx], self.Y[kidx], crs=self.target)
            frame = self._extra_frame(others, kidx)
            geometry = points.result()
        for position, (name, values) in enumerate(data.items()):
            frame.insert(position, name, values)
        frame["geometry"] = geometry
        incidents = gpd.GeoDataFrame(frame, geometry="geometry", crs=self.target, copy=False)

        self._quality_warnings(kidx)
        quarantine = self._quarantine(qidx, dropped, source_row)
        report = self._report(kidx, qidx, dropped, kept_personal)
        for text in self.warnings:
            warnings.warn(f"{self.src.label}: {text}", DataQualityWarning, stacklevel=4)
        record = make_record("load_incidents", self._parameters(), automatic=self.automatic,
                             extra={k: v for k, v in report.items() if k != "automatic"})
        attach(incidents, record)
        attach(quarantine, record)
        return LoadResult(incidents=incidents, quarantine=quarantine, report=report)

    def _text_field(self, fld: str, rows: np.ndarray) -> pd.Series | None:
        col = self.cols.get(fld)
        if col is None:
            return None
        return pd.Series(pd.arrays.ArrowStringArray(self._pick(_arrow_text(self.raw[col]), rows)), copy=False)

    def _pick(self, values: Any, rows: np.ndarray) -> Any:
        """Rows of an Arrow array (a boolean filter: much faster than take on chunked arrays)."""
        if rows.size == self.n:
            return values
        mask = np.zeros(self.n, bool)
        mask[rows] = True
        return values.filter(pa.array(mask))

    def _category(self, rows: np.ndarray) -> Any:
        s = self._text_field("category", rows)
        return _missing_strings(rows.size) if s is None else s.array

    def _weights(self, rows: np.ndarray) -> np.ndarray:
        col = self.cols.get("weight")
        if col is None:
            return np.ones(rows.size)
        w = pd.to_numeric(self.raw[col].iloc[rows], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            self.warnings.append(f"{int(bad.sum())} rows have a missing, negative or non-numeric weight in "
                                 f"{col!r}; they were given weight 1.0")
            w = np.where(bad, 1.0, w)
        return w

    def _detection(self, rows: np.ndarray) -> Any:
        s = self._text_field("detection", rows)
        if s is None:
            return _missing_strings(rows.size)
        low = s.str.casefold()
        out = pd.Series(pd.NA, index=low.index, dtype="string")
        out[low.str.contains("report", na=False) | low.str.contains("call", na=False)] = "reported"
        out[low.str.contains("discover", na=False) | low.str.contains("proactive", na=False)
            | low.str.contains("initiated", na=False)] = "discovered"
        unknown = int((out.isna() & s.notna() & (s != "")).sum())
        if unknown:
            self.warnings.append(f"{unknown} detection values were neither reported nor discovered "
                                 "(e.g. 'reported', 'call', 'discovered', 'proactive'); left missing")
        return out.array

    def _extra_frame(self, others: list[str], rows: np.ndarray) -> pd.DataFrame:
        names: dict[str, str] = {}
        taken = set(INCIDENT_COLUMNS)
        for col in others:
            name = snake_case(col)
            if name in taken:
                name = f"orig_{name}"
            base, k = name, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            names[col] = name
        parts = {}
        if self.src.file_index is not None and "source_file" not in taken:
            files = [Path(f).name for f in self.src.files]
            parts["source_file"] = pd.Categorical.from_codes(self.src.file_index[rows], categories=files)
        if not others:
            sub = pd.DataFrame(index=pd.RangeIndex(rows.size))
        else:
            sub = _take_rows(self.raw[others], rows, self.n).rename(columns=names)
        for k, v in parts.items():
            sub[k] = v
        return sub

    def _quarantine(self, qidx: np.ndarray, dropped: list[str], source_row: np.ndarray) -> pd.DataFrame:
        cols = [c for c in self.raw.columns if c not in set(dropped)]
        q = pd.DataFrame(self.raw[cols].iloc[qidx]).reset_index(drop=True)
        q["source_row"] = source_row[qidx]
        reason_idx = self.reason[qidx]
        names = np.asarray([r for r, _ in self.rules], dtype=object)
        q["reason"] = pd.array(names[reason_idx] if qidx.size else [], dtype="string")
        detail = np.empty(qidx.size, dtype=object)
        for k, (name, _) in enumerate(self.rules):
            sel = np.flatnonzero(reason_idx == k)
            if sel.size:
                detail[sel] = self._detail(qidx[sel], name)
        q["detail"] = pd.array(detail, dtype="string")
        if self.n_rejected:
            q = self._with_rejected(q)
        return q

    def _with_rejected(self, q: pd.DataFrame) -> pd.DataFrame:
        """``q`` with the reader's rejected rows merged in by ``source_row`` (their columns empty)."""
        rej = self.rejected
        rows = np.concatenate([q["source_row"].to_numpy(), rej["row"].to_numpy()])
        order = np.argsort(rows, kind="stable")
        detail = [f"{f} fields where the header has {e}: {t}"
                  for f, e, t in zip(rej["fields"], rej["expected"], rej["text"])]
        tail = {"source_row": rej["row"].to_numpy(),
                "reason": pd.array(["wrong_field_count"] * len(rej), dtype="string"),
                "detail": pd.array(detail, dtype="string")}
        # the rejected rows get every source column missing (no values could be told apart); nullable
        # dtypes keep integer and boolean columns from turning into floats and objects
        q = q.astype({c: {"i": "Int64", "u": "UInt64", "b": "boolean"}[t.kind] for c, t in q.dtypes.items()
                      if isinstance(t, np.dtype) and t.kind in "iub" and c not in tail})
        out = q.reindex(pd.RangeIndex(len(q) + len(rej)))
        for name, values in tail.items():
            out[name] = pd.concat([q[name], pd.Series(values)], ignore_index=True)
        return out.take(order).reset_index(drop=True)

    def _quality_warnings(self, kidx: np.ndarray) -> None:
        text = _quality.default_location_warning(self.X[kidx], self.Y[kidx])
        if text:
            self.warnings.append(text)
        # local wall-clock fields: minute of day and day of month (naive sources already hold them)
        wall = self.parsed.seconds[kidx].copy()
        utc_rows = np.flatnonzero(self.parsed.utc[kidx])
        if utc_rows.size:
            local = to_datetimes(self.loc.utc_seconds[kidx[utc_rows]], np.ones(utc_rows.size, bool), self.tz)
            wall[utc_rows] = np.asarray(local.tz_localize(None).as_unit("s").asi8)
        minute = (wall // 60) % 1440
        days = wall // 86400
        d64 = days.astype("datetime64[D]")
        dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
        res = self.res[kidx]
        self.warnings.extend(_quality.default_time_warnings(minute, dom, res <= 1, res <= 2))
        text = _quality.geocoding_warning(int(self.geo_ok.sum()), self.n + self.n_rejected)
        if text:
            self.warnings.append(text)
        if self.n_to_unparseable:
            self.warnings.append(f"{self.n_to_unparseable} occurred_to values could not be read as dates; "
                                 "they were left empty")

    def _report(self, kidx, qidx, dropped, kept_personal) -> dict[str, Any]:
        counts = np.bincount(self.reason[qidx], minlength=len(self.rules)) if qidx.size else np.zeros(len(self.rules), int)
        reasons = {"wrong_field_count": self.n_rejected} if self.n_rejected else {}
        reasons.update({name: int(counts[k]) for k, (name, _) in enumerate(self.rules) if counts[k]})
        res_counts = np.bincount(self.res[kidx], minlength=4)
        lo, hi = self.limits
        report = {
            "source": self.src.label,
            "files": self.src.files,
            "sha256": self.src.sha256,
            "format": self.src.kind,
            "reader": self.src.details,
            "schema": self.resolved.schema,
            "schema_detected": self.resolved.detected,
            "columns": dict(self.cols),
            "coordinates": {"mode": self.mode, "columns": list(dict.fromkeys(self.coord_cols)),
                            "source_crs": _epsg_or_wkt(self.src_crs)},
            "n_read": int(self.n + self.n_rejected),
            "n_kept": int(kidx.size),
            "n_quarantined": int(qidx.size + self.n_rejected),
            "quarantine_reasons": reasons,
            "warnings": list(self.warnings),
            "dropped_columns": [str(c) for c in dropped],
            "kept_personal_columns": [str(c) for c in kept_personal],
            "crs": _epsg_or_wkt(self.target),
            "tz": self.tz,
            "dst": {"policy": self.args["dst"], "ambiguous": int(self.loc.ambiguous.sum()),
                    "nonexistent_shifted": int(self.loc.nonexistent.sum())},
            "time_resolution": {name: int(res_counts[i]) for i, name in enumerate(RESOLUTIONS)},
            "date_formats": self.parsed.formats,
            "min_date": lo.isoformat() if lo is not None else None,
            "max_date": hi.isoformat() if hi is not None else "time of loading",
            "synthetic_ids": int(self.id_missing[kidx].sum()),
            "geocoded_share": round(float(self.geo_ok.sum() / (self.n + self.n_rejected)) if self.n else 1.0, 6),
            "automatic": jsonable(self.automatic),
        }
        return jsonable(report)

    def _parameters(self) -> dict[str, Any]:
        a = self.args
        params = {k: v for k, v in a.items() if k not in ("source", "study_area")}
        params["source"] = self.src.label
        sa = a["study_area"]
        params["study_area"] = None if sa is None else (str(sa) if isinstance(sa, (str, Path)) else type(sa).__name__)
        params["crs"] = None if a["crs"] is None else str(a["crs"])
        params["target_crs"] = None if a["target_crs"] is None else str(a["target_crs"])
        params["min_date"] = None if a["min_date"] is None else str(a["min_date"])
        params["max_date"] = None if a["max_date"] is None else str(a["max_date"])
        return params
