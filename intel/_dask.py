"""The Dask engine of :func:`intel.build_cube`: a Parquet dataset counted partition by partition.

Two passes over the partitions, both on the cluster: the first reads only the time
columns (time range, time resolutions), so the calendar and the resolution checks
are the pandas engine's; the second finds each partition's bins and fixed-point shares
exactly as the pandas engine does and returns their sums per bin (sparse). Integer sums
do not depend on the order partitions finish in, so the cube is identical to the
pandas engine's, bit for bit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .cube import (
    Calendar,
    CubeSummary,
    Windows,
    contributions,
    check_resolution,
    incident_windows,
    make_calendar,
    warn_window_problems,
)
from .exceptions import CRSError, InputError, OptionalDependencyError

_TIME_COLUMNS = ("occurred_at", "occurred_to", "time_resolution", "weight")


def dask_cube_counts(
    source: Any,
    grid: gpd.GeoDataFrame,
    *,
    offset: pd.DateOffset,
    freq: Any,
    start: Any,
    end: Any,
    aoristic: bool,
    client: Any,
) -> tuple[np.ndarray, Calendar, CubeSummary]:
    """Fixed-point counts (cells x periods, flat), the calendar and the summary of a cube."""
    owner = "build_cube"
    try:
        import dask
        import dask.dataframe as dd
        import distributed
    except ImportError:
        raise OptionalDependencyError(
            "build_cube(engine='dask') needs dask and distributed: pip install 'intel[dask]' "
            "(or pip install 'dask[dataframe]' distributed)."
        ) from None

    ddf = _as_dask_frame(source, grid, dd, owner)
    geometry = "geometry" if "geometry" in ddf.columns else None
    if geometry is None and not {"x", "y"} <= set(ddf.columns):
        raise InputError(f"{owner}: the Parquet data need a 'geometry' column (GeoParquet) or 'x' and 'y' columns; "
                         f"they have {list(ddf.columns)[:20]}.")
    if "occurred_at" not in ddf.columns:
        raise InputError(f"{owner}: the Parquet data lack 'occurred_at'; they have {list(ddf.columns)[:20]}.")
    time_columns = [c for c in _TIME_COLUMNS if c in ddf.columns]
    space_columns = [geometry] if geometry else ["x", "y"]

    own_client = None
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            # No cluster in this session: start a local one for this call only.
            own_client = client = distributed.Client(
                distributed.LocalCluster(processes=True, dashboard_address=None)
            )
    try:
        parts = ddf[time_columns].to_delayed()
        summaries = client.compute([dask.delayed(_time_summary)(p, aoristic) for p in parts], sync=True)
        total = _merge_time_summaries(summaries)
        windows_stub = Windows(t0=np.empty(0, np.int64), t1=np.empty(0, np.int64), units=np.empty(0, np.int64),
                               tz=_tz_of(ddf), resolution_counts=total["resolution_counts"],
                               n_no_time=total["n_no_time"], n_backwards=total["n_backwards"],
                               n_bad_weight=total["n_bad_weight"])
        warn_window_problems(windows_stub, owner)
        check_resolution(total["resolution_counts"], offset, freq, owner)
        data_range = None if total["first"] is None else (total["first"], total["last"], total["reach"])
        calendar = make_calendar(offset, freq, windows_stub.tz, start=start, end=end, data_range=data_range,
                                 owner=owner)
        [grid_future] = client.scatter([_light_grid(grid)], broadcast=True)
        parts = ddf[time_columns + space_columns].to_delayed()
        tasks = [dask.delayed(_partition_counts)(p, grid_future, calendar.bounds_us, aoristic, geometry)
                 for p in parts]
        results = client.compute(tasks, sync=True)
    finally:
        if own_client is not None:
            cluster = own_client.cluster
            own_client.close()
            cluster.close()

    counts = np.zeros(len(grid) * calendar.n_periods, dtype=np.int64)
    summary = CubeSummary()
    for where, values, part_summary in results:
        # each bin appears once per partition, so fancy-index addition is exact
        counts[where] += values
        summary = summary + part_summary
    summary.n_no_time = total["n_no_time"]
    return counts, calendar, summary


def _light_grid(grid: gpd.GeoDataFrame) -> pd.DataFrame:
    """What assign_cells needs: rows and columns of a regular grid (no polygons to ship), else the polygons."""
    meta = grid.attrs.get("grid", {})
    if meta.get("shape") in ("square", "hex") and meta.get("cell_size_m") and {"row", "col"} <= set(grid.columns):
        light = pd.DataFrame({"row": grid["row"].to_numpy(), "col": grid["col"].to_numpy()})
    else:
        light = gpd.GeoDataFrame(geometry=grid.geometry.to_numpy(), crs=grid.crs)
    light.attrs = {"grid": dict(meta)}
    return light


def _as_dask_frame(source: Any, grid: gpd.GeoDataFrame, dd: Any, owner: str) -> Any:
    if isinstance(source, (str, Path)):
        path = str(source)
        _check_geoparquet_crs(path, grid, owner)
        try:
            return dd.read_parquet(path)
        except (FileNotFoundError, OSError) as exc:
            raise InputError(f"{owner}: cannot read the Parquet data at {path}: {exc}") from None
    if isinstance(source, dd.DataFrame):
        return source
    raise InputError(
        f"{owner}: engine='dask' needs a Parquet path (file or dataset directory) or a dask DataFrame; "
        f"got {type(source).__name__}. For a GeoDataFrame in memory use engine='pandas'."
    )


def _check_geoparquet_crs(path: str, grid: gpd.GeoDataFrame, owner: str) -> None:
    """Refuse GeoParquet whose CRS differs from the grid's (the workers cannot reproject)."""
    try:
        import pyarrow.dataset as ds

        metadata = ds.dataset(path, format="parquet").schema.metadata or {}
    except Exception:  # unreadable here: dask will say why
        return
    geo = metadata.get(b"geo")
    if not geo:
        return
    try:
        column = json.loads(geo)["columns"]["geometry"]
    except (KeyError, ValueError):
        return
    crs = column.get("crs")
    if crs is None:
        return
    from pyproj import CRS

    data_crs = CRS.from_user_input(crs)
    if grid.crs is not None and not data_crs.equals(grid.crs):
        raise CRSError(
            f"{owner}: the Parquet data are in {data_crs.to_string()} but the grid is in {grid.crs.to_string()}; "
            "write the incidents in the grid's CRS (incidents.to_crs(grid.crs).to_parquet(...)) or build the grid "
            "in theirs."
        )


def _tz_of(ddf: Any) -> Any:
    return getattr(ddf["occurred_at"].dtype, "tz", None)


def _time_summary(part: pd.DataFrame, aoristic: bool) -> dict[str, Any]:
    windows = incident_windows(part, aoristic=aoristic)
    rng = windows.data_range()
    return {"first": None if rng is None else rng[0], "last": None if rng is None else rng[1],
            "reach": None if rng is None else rng[2],
            "resolution_counts": windows.resolution_counts, "n_no_time": windows.n_no_time,
            "n_backwards": windows.n_backwards, "n_bad_weight": windows.n_bad_weight}


def _merge_time_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    firsts = [s["first"] for s in summaries if s["first"] is not None]
    lasts = [s["last"] for s in summaries if s["last"] is not None]
    reaches = [s["reach"] for s in summaries if s["reach"] is not None]
    res: dict[str, int] = {}
    for s in summaries:
        for k, v in s["resolution_counts"].items():
            res[k] = res.get(k, 0) + v
    return {"first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None,
            "reach": max(reaches) if reaches else None,
            "resolution_counts": res, "n_no_time": sum(s["n_no_time"] for s in summaries),
            "n_backwards": sum(s["n_backwards"] for s in summaries),
            "n_bad_weight": sum(s["n_bad_weight"] for s in summaries)}


def _partition_counts(
    part: pd.DataFrame, grid: pd.DataFrame, bounds_us: np.ndarray, aoristic: bool, geometry: str | None
) -> tuple[np.ndarray, np.ndarray, CubeSummary]:
    from .grid import assign_cells

    if geometry is not None:
        geoms = part[geometry].to_numpy()
        xy = _wkb_points(geoms) if geoms.size and isinstance(geoms[0], bytes) else None
        if xy is None:
            if geoms.size and not isinstance(geoms[0], shapely.Geometry):
                geoms = shapely.from_wkb(geoms)
            xy = shapely.get_x(geoms), shapely.get_y(geoms)
        x, y = xy
    else:
        x = pd.to_numeric(part["x"], errors="coerce").to_numpy(np.float64)
        y = pd.to_numeric(part["y"], errors="coerce").to_numpy(np.float64)
    cells = assign_cells((np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)), grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        windows = incident_windows(part, aoristic=aoristic)
    # sparse: a dense cells x periods array per partition would cost more than the counting
    slot, add = contributions(cells, windows, bounds_us)
    order = np.argsort(slot, kind="stable")
    slot, add = slot[order], add[order]
    starts = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]]) if slot.size else np.empty(0, dtype=np.int64)
    sums = np.add.reduceat(add, starts) if slot.size else np.empty(0, dtype=np.int64)
    return slot[starts], sums, CubeSummary.of(windows, cells)


def _wkb_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """x and y of little-endian 2-D WKB points read straight from the bytes (None if any is not one).

    GeoParquet stores points as 21-byte WKB; decoding them through shapely objects
    costs ten times more than the counting itself.
    """
    if not all(isinstance(v, bytes) and len(v) == 21 for v in values):
        return None
    raw = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, 21)
    if not ((raw[:, 0] == 1).all() and (raw[:, 1:5].view("<u4")[:, 0] == 1).all()):
        return None
    coords = np.ascontiguousarray(raw[:, 5:]).view("<f8")
    return coords[:, 0].copy(), coords[:, 1].copy()

