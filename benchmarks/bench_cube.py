"""Space-time cubes: intel's build_cube against pandas groupby, numpy bincount, geopandas and Dask.

    .venv/bin/python benchmarks/bench_cube.py            # 10 M incidents, ~99k cells x 156 weeks
    .venv/bin/python benchmarks/bench_cube.py --quick    # 1 M incidents, ~36k cells x 45 weeks

Data: Chicago incidents 2015-2018 (2018 alone with --quick), loaded with
``intel.read_incidents`` (UTM 16N metres, local times). For the counting rows they are
resampled to N incidents (rows drawn with replacement, points jittered by up to 50 m,
then sorted by time as exports are) on a 120 m grid over the city (about 99k cells; 200 m with --quick),
156 weekly periods from Monday 2015-11-16 to 2018-11-12 where the data end (45 weeks of
2018 with --quick).

Rows, in one process, each the best of ``--repeat`` runs after a warm-up (compiled code
loaded before timing); peak memory is the largest block of Python/numpy memory the call
held (tracemalloc):

1. counting: cell positions and timestamps in, a dense cells x periods array out.
   intel's compiled aoristic accumulation (fixed-point, handles occurred-between
   windows) against numpy ``searchsorted`` + ``bincount`` and pandas ``groupby`` +
   ``reindex`` (the zeros made explicit). Polars and DuckDB rows run only if installed.
2. the same plus the Cube table (MultiIndex (cell_id, period), column n).
3. end to end on the real incidents (no resampling): ``intel.build_cube`` from the
   GeoDataFrame (points to cells included) against geopandas ``sjoin`` + pandas
   ``groupby`` + ``reindex``, the route a user would otherwise take.
4. Dask: ``build_cube(..., engine="dask")`` on a GeoParquet dataset of the real incidents
   (8 files) on a ``LocalCluster`` of 2 single-thread workers (started before timing;
   start-up reported apart) against the pandas engine, and against
   ``dask.dataframe.groupby`` on pre-assigned cell/period columns; the cubes must be
   identical.

Ratios are a baseline's time / the intel row's time (above 1: intel is faster), measured
in the same run. The machine is shared: absolute times are noisy, ratios less so. Writes
``benchmarks/results/cube.json`` (``cube_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "chicago_crimes_2012_2018"
RESULTS = REPO / "benchmarks" / "results"

import intel  # noqa: E402
from intel import cube as _cube  # noqa: E402
from intel.exceptions import DataQualityWarning  # noqa: E402

START = "2015-11-16"  # a Monday; 156 weeks later is 2018-11-12, where the data end
QUICK_START = "2018-01-01"  # 45 weeks to 2018-11-12


def load_chicago(quick: bool):
    """Real Chicago incidents (2018 with quick, else 2015-2018) as an Incidents table."""
    years = ["2018"] if quick else ["2015", "2016", "2017", "2018"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        frames = [intel.read_incidents(DATA / f"chicago_crimes_{y}.csv.gz") for y in years]
    incidents = pd.concat(frames, ignore_index=True)
    return incidents[~incidents.geometry.is_empty & incidents.geometry.notna()].reset_index(drop=True)


def resample(incidents, n: int, seed: int = 0) -> dict[str, Any]:
    """``n`` incidents drawn from the real ones, points jittered by up to 50 m, sorted by time."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(incidents), n)
    x = incidents.geometry.x.to_numpy()[pick] + rng.uniform(-50, 50, n)
    y = incidents.geometry.y.to_numpy()[pick] + rng.uniform(-50, 50, n)
    t = _cube._as_us_int(incidents["occurred_at"])[pick]
    order = np.argsort(t, kind="stable")
    return {"x": x[order], "y": y[order], "t": t[order], "tz": incidents["occurred_at"].dt.tz}


def city_grid(incidents, cell_size_m: float):
    return intel.make_grid(incidents, cell_size_m=cell_size_m)


def weekly_calendar(tz: Any, n_weeks: int, start: str = START) -> _cube.Calendar:
    offset = _cube.parse_freq("W-MON", "bench")
    end = (pd.Timestamp(start) + pd.Timedelta(weeks=n_weeks)).strftime("%Y-%m-%d")
    return _cube.make_calendar(offset, "W-MON", tz, start=start, end=end, data_range=None, owner="bench")


def intel_counts(cells: np.ndarray, t: np.ndarray, n_cells: int, calendar: _cube.Calendar) -> np.ndarray:
    windows = _cube.Windows(t0=t, t1=t, units=np.full(t.size, int(_cube.FIXED_POINT), dtype=np.int64),
                            tz=calendar.tz, resolution_counts={"minute": t.size})
    counts = np.zeros(n_cells * calendar.n_periods, dtype=np.int64)
    _cube.accumulate(counts, cells, windows, calendar.bounds_us)
    return counts


def intel_cube_table(counts: np.ndarray, grid, calendar: _cube.Calendar) -> pd.DataFrame:
    summary = _cube.CubeSummary(n_incidents=0)
    return _cube._cube_frame(counts, grid, calendar, summary, aoristic=True, engine="pandas")


def numpy_counts(cells: np.ndarray, t: np.ndarray, n_cells: int, bounds: np.ndarray) -> np.ndarray:
    n_periods = bounds.size - 1
    period = np.searchsorted(bounds, t, side="right") - 1
    keep = (cells >= 0) & (period >= 0) & (period < n_periods)
    return np.bincount(cells[keep] * n_periods + period[keep], minlength=n_cells * n_periods)


def pandas_counts(cells: np.ndarray, t: np.ndarray, n_cells: int, bounds: np.ndarray) -> pd.Series:
    n_periods = bounds.size - 1
    frame = pd.DataFrame({"cell": cells, "time": pd.to_datetime(t, unit="us", utc=True)})
    edges = pd.to_datetime(bounds, unit="us", utc=True)
    frame["period"] = pd.cut(frame["time"], edges, right=False, labels=False)
    frame = frame[(frame["cell"] >= 0) & frame["period"].notna()]
    counts = frame.groupby(["cell", "period"]).size()
    full = pd.MultiIndex.from_product([range(n_cells), range(n_periods)], names=["cell", "period"])
    return counts.reindex(full, fill_value=0)


def geopandas_cube(incidents, grid, calendar: _cube.Calendar) -> pd.DataFrame:
    import geopandas as gpd

    joined = gpd.sjoin(incidents[["occurred_at", "geometry"]], grid[["geometry"]], predicate="within")
    edges = calendar.boundaries
    joined["period"] = pd.cut(joined["occurred_at"], edges, right=False, labels=edges[:-1])
    counts = joined.groupby(["cell_id", "period"], observed=False).size()
    full = pd.MultiIndex.from_product([grid.index, edges[:-1]], names=["cell_id", "period"])
    return counts.reindex(full, fill_value=0).to_frame("n")


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best time of ``repeat`` runs after a warm-up, and the peak traced memory (MiB)."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        del result
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak, result


def row(table: list[dict], name: str, seconds: float, peak: float | None, baseline: str | None = None,
        note: str = "") -> None:
    entry = {"row": name, "seconds": round(seconds, 4), "peak_mib": None if peak is None else round(peak, 1),
             "note": note}
    if baseline is not None:
        base = next(r for r in table if r["row"] == baseline)
        entry["baseline"] = baseline
        entry["ratio"] = round(seconds / base["seconds"], 2)
    table.append(entry)
    ratio = f"  {entry['ratio']:>6.2f}x the time of: {baseline}" if baseline else ""
    mem = f"{peak:8.0f} MiB" if peak is not None else " " * 12
    print(f"{name:<58} {seconds:8.3f} s {mem}{ratio}", flush=True)


def dask_rows(table, incidents, grid, calendar, repeat: int) -> None:
    import dask.dataframe as dd
    import distributed

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        cells = intel.assign_cells(incidents, grid)
        period = np.searchsorted(calendar.bounds_us, _cube._as_us_int(incidents["occurred_at"]), side="right") - 1
        tagged = incidents.assign(cell=cells, period=period)
        for k, part in enumerate(np.array_split(np.arange(len(tagged)), 8)):
            tagged.iloc[part].to_parquet(Path(tmp) / f"part-{k}.parquet")
        start, end = calendar.boundaries[0], calendar.boundaries[-1]
        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        startup = time.perf_counter() - t0
        try:
            pandas_engine = lambda: intel.build_cube(incidents, grid, start=start, end=end)  # noqa: E731
            dask_engine = lambda: intel.build_cube(tmp, grid, start=start, end=end, engine="dask")  # noqa: E731

            def dask_groupby():
                ddf = dd.read_parquet(tmp, columns=["cell", "period"])
                ddf = ddf[(ddf["cell"] >= 0) & (ddf["period"] >= 0) & (ddf["period"] < calendar.n_periods)]
                counts = ddf.groupby(["cell", "period"]).size().compute()
                full = pd.MultiIndex.from_product([range(len(grid)), range(calendar.n_periods)])
                return counts.reindex(full, fill_value=0)

            t_pandas, _, expected = measure(pandas_engine, repeat)
            t_dask, _, got = measure(dask_engine, repeat)
            t_groupby, _, _ = measure(dask_groupby, repeat)
        finally:
            client.close()
            cluster.close()
    identical = bool(expected["n"].equals(got["n"]) and expected.index.equals(got.index))
    row(table, "dask: intel build_cube(engine='dask'), 2 workers", t_dask, None,
        note=f"identical to pandas engine: {identical}; cluster start-up {startup:.1f} s not included")
    row(table, "dask: intel build_cube(engine='pandas')", t_pandas, None, "dask: intel build_cube(engine='dask'), 2 workers")
    row(table, "dask: dask.dataframe groupby (cells given), 2 workers", t_groupby, None,
        "dask: intel build_cube(engine='dask'), 2 workers")
    if not identical:
        raise SystemExit("the Dask engine's cube differs from the pandas engine's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M incidents, 200 m cells, 45 weeks")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=None, help="incidents for the counting rows")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    n = args.n or (1_000_000 if quick else 10_000_000)
    cell_size = 200.0 if quick else 120.0
    n_weeks = 45 if quick else 156
    start = QUICK_START if quick else START

    print(f"loading Chicago {'2018' if quick else '2015-2018'} ...", flush=True)
    incidents = load_chicago(quick)
    grid = city_grid(incidents, cell_size)
    calendar = weekly_calendar(incidents["occurred_at"].dt.tz, n_weeks, start)
    data = resample(incidents, n)
    cells = intel.assign_cells((data["x"], data["y"]), grid)
    t = data["t"]
    bounds = calendar.bounds_us
    print(f"{n:,} incidents, {len(grid):,} cells x {calendar.n_periods} weeks "
          f"({len(grid) * calendar.n_periods:,} bins); {len(incidents):,} real incidents for rows 3-4\n", flush=True)

    table: list[dict] = []
    # 1. counting
    t_intel, m_intel, counts = measure(lambda: intel_counts(cells, t, len(grid), calendar), args.repeat)
    row(table, "count: intel (compiled, aoristic-capable)", t_intel, m_intel)
    t_np, m_np, ref = measure(lambda: numpy_counts(cells, t, len(grid), bounds), args.repeat)
    assert np.array_equal(ref, counts // int(_cube.FIXED_POINT)), "numpy and intel counts differ"
    row(table, "count: numpy searchsorted + bincount", t_np, m_np, "count: intel (compiled, aoristic-capable)")
    t_pd, m_pd, ref_pd = measure(lambda: pandas_counts(cells, t, len(grid), bounds), max(1, args.repeat - 2))
    assert np.array_equal(ref_pd.to_numpy(), ref), "pandas and numpy counts differ"
    row(table, "count: pandas groupby + reindex", t_pd, m_pd, "count: intel (compiled, aoristic-capable)")
    for name in ("polars", "duckdb"):
        try:
            __import__(name)
        except ImportError:
            print(f"({name} is not installed: no {name} row)")

    # 2. the Cube table
    t_tab, m_tab, _ = measure(
        lambda: intel_cube_table(intel_counts(cells, t, len(grid), calendar), grid, calendar), args.repeat)
    row(table, "cube: intel counts + Cube table", t_tab, m_tab)

    def pandas_table():
        counts = pandas_counts(cells, t, len(grid), bounds)
        return pd.DataFrame({"n": counts.to_numpy(np.float64)},
                            index=pd.MultiIndex.from_product([grid.index, calendar.periods]))

    t_ptab, m_ptab, _ = measure(pandas_table, max(1, args.repeat - 2))
    row(table, "cube: pandas groupby + reindex + Cube table", t_ptab, m_ptab, "cube: intel counts + Cube table")
    del counts, ref, ref_pd
    gc.collect()

    # 3. end to end on the real incidents
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        s, e = calendar.boundaries[0], calendar.boundaries[-1]
        t_e2e, m_e2e, cube = measure(lambda: intel.build_cube(incidents, grid, start=s, end=e), args.repeat)
        row(table, f"e2e: intel.build_cube, {len(incidents):,} real incidents", t_e2e, m_e2e)
        t_gpd, m_gpd, ref_cube = measure(lambda: geopandas_cube(incidents, grid, calendar), 1)
        # the two differ only for points exactly on a cell edge (sjoin 'within' drops them)
        differ = int((ref_cube["n"].to_numpy() != cube["n"].to_numpy()).sum())
        row(table, "e2e: geopandas sjoin + pandas groupby + reindex", t_gpd, m_gpd,
            f"e2e: intel.build_cube, {len(incidents):,} real incidents", note=f"bins that differ: {differ}")

    # 4. Dask
    if not args.no_dask:
        dask_rows(table, incidents, grid, calendar, max(1, args.repeat - 1))

    out = RESULTS / ("cube_quick.json" if quick else "cube.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"n_incidents": n, "n_real_incidents": len(incidents), "n_cells": len(grid),
            "n_periods": calendar.n_periods, "cell_size_m": cell_size, "repeat": args.repeat,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "ratio": "row time / time of the intel row named in 'baseline' (above 1: intel is faster)"}
    out.write_text(json.dumps({"meta": meta, "rows": table}, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
