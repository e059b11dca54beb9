"""Gridding 10 M points: intel's fused count against numpy's histogram2d and ids + bincount.

    .venv/bin/python benchmarks/bench_grid.py            # 10 M points, 500 x 500 cells
    .venv/bin/python benchmarks/bench_grid.py --quick    # 1 M points, 500 x 500 cells

Data: Chicago incidents 2012-2018 (1.95 M points with State Plane coordinates, feet turned
into metres), repeated with a 25 m Gaussian offset per copy to reach 10 M, so the pattern is
Chicago's (dense downtown, sparse lake front). The grid: 500 x 500 square cells of 90 m
(45 km a side) from the points' south-west corner, or hexagons of the same size.

Rows, each timed in this process after one warm-up call, best of ``--repeat`` runs. Peak
memory is the most a call has allocated at once, as ``tracemalloc`` sees it (numpy arrays,
temporaries and result included; intel's compiled loops allocate nothing themselves).

- ``intel count_points``: counts per cell of the grid, one fused compiled pass over the
  coordinates (threads over fixed chunks), no per-point temporaries.
- ``numpy histogram2d``: ``np.histogram2d(x, y, bins=500, range=...)``, the usual one-liner.
- ``numpy ids + bincount``: ``np.floor`` ids then ``np.bincount`` (fast, but several
  per-point temporaries).
- ``intel assign_cells square``/``hex``: the cell of every point (an int64 per point is the
  output, 80 MB at 10 M); the square baseline is the numpy ids (without bincount), the hex
  baseline is geopandas' ``sjoin`` (point in polygon) on 200k points, scaled to n.
- ``intel count_points hex`` and ``intel score_counts``: the public verb from (x, y)
  arrays, building the output table and its provenance.

Ratios are baseline time / intel time (above 1: intel is faster), measured in the same run.
Writes ``benchmarks/results/grid.json`` (``grid_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "chicago_crimes_2012_2018"
RESULTS = REPO / "benchmarks" / "results"
FEET = 0.3048006096012192  # US survey foot
CRS = "EPSG:26971"  # NAD83 / Illinois East in metres: the State Plane axes, in metres
SIDE = 500
CELL_M = 90.0


# ---------------------------------------------------------------- shared with bench_kde.py


def chicago_xy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points: Chicago's incidents in file order, repeated with 25 m offsets when ``n`` is larger."""
    files = sorted(DATA.glob("chicago_crimes_20*.csv.gz"))
    if not files:
        raise SystemExit(f"Chicago data not found in {DATA} (set INTEL_SHARED_DATA)")
    parts = []
    for f in files:
        t = pd.read_csv(f, usecols=["x_coordinate", "y_coordinate"], engine="pyarrow").dropna()
        t = t[(t["x_coordinate"] > 0) & (t["y_coordinate"] > 0)]
        parts.append(t.to_numpy(np.float64) * FEET)
    xy = np.concatenate(parts)
    rng = np.random.default_rng(seed)
    reps = -(-n // len(xy))
    tiled = np.concatenate([xy] + [xy + rng.normal(0.0, 25.0, xy.shape) for _ in range(reps - 1)])[:n]
    return np.ascontiguousarray(tiled[:, 0]), np.ascontiguousarray(tiled[:, 1])


def square_area(x: np.ndarray, y: np.ndarray, side: int = SIDE, cell_m: float = CELL_M):
    """A ``side`` x ``side`` cells square from the points' south-west corner (snapped to the cell size)."""
    import geopandas as gpd
    import shapely

    x0 = np.floor(np.percentile(x, 0.1) / cell_m) * cell_m
    y0 = np.floor(np.percentile(y, 0.1) / cell_m) * cell_m
    # a hair inside the far edges, so the grid has exactly side x side cells
    box = shapely.box(x0, y0, x0 + side * cell_m - 1e-3, y0 + side * cell_m - 1e-3)
    return gpd.GeoSeries([box], crs=CRS), (x0, y0)


def measure(call: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time of ``repeat`` calls after a warm-up, the peak memory a call allocates (MiB), one result.

    The peak is what ``tracemalloc`` sees during one call: numpy arrays (temporaries and
    results) and Python objects, which is where all the memory of these calls goes (the
    compiled loops allocate nothing themselves).
    """
    call()
    tracemalloc.start()
    result = call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best, peak / 2**20, result


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "machine": platform.machine(),
    }


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(_cell(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


# ---------------------------------------------------------------- the benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M points instead of 10 M")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import geopandas as gpd

    import intel
    from intel.grid import assign_cells, count_points

    n = 1_000_000 if args.quick else 10_000_000
    x, y = chicago_xy(n)
    area, (x0, y0) = square_area(x, y)
    grid = intel.make_grid(area, cell_size_m=CELL_M)
    hexes = intel.make_grid(area, cell_size_m=CELL_M, shape="hex")
    assert len(grid) == SIDE * SIDE
    rng = ((x0, x0 + SIDE * CELL_M), (y0, y0 + SIDE * CELL_M))
    inside = (x >= rng[0][0]) & (x < rng[0][1]) & (y >= rng[1][0]) & (y < rng[1][1])

    def numpy_ids() -> np.ndarray:
        c = np.floor((x - x0) / CELL_M).astype(np.int64)
        r = np.floor((y - y0) / CELL_M).astype(np.int64)
        ok = (c >= 0) & (c < SIDE) & (r >= 0) & (r < SIDE)
        return np.where(ok, r * SIDE + c, -1)

    def numpy_bincount() -> np.ndarray:
        ids = numpy_ids()
        return np.bincount(ids[ids >= 0], minlength=SIDE * SIDE)

    def histogram2d() -> np.ndarray:
        return np.histogram2d(y, x, bins=SIDE, range=(rng[1], rng[0]))[0]

    sub = 200_000
    pts_sub = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x[:sub], y[:sub]), crs=CRS)

    def sjoin_hex() -> Any:
        return gpd.sjoin(pts_sub, hexes[["geometry"]], how="left", predicate="within")

    calls = {
        "intel count_points square": lambda: count_points((x, y), grid),
        "numpy histogram2d": histogram2d,
        "numpy ids + bincount": numpy_bincount,
        "intel assign_cells square": lambda: assign_cells((x, y), grid),
        "numpy ids (square)": numpy_ids,
        "intel assign_cells hex": lambda: assign_cells((x, y), hexes),
        "geopandas sjoin hex (200k, scaled)": sjoin_hex,
        "intel count_points hex": lambda: count_points((x, y), hexes),
        "intel score_counts square": lambda: intel.score_counts((x, y), grid),
    }
    timings: dict[str, tuple[float, float, Any]] = {}
    for name, call in calls.items():
        repeat = 1 if name.startswith("geopandas") else args.repeat
        timings[name] = measure(call, repeat)
        print(f"  {name}: {timings[name][0]:.4f} s", flush=True)

    # the answers agree (up to points exactly on a cell border, where float rounding of x / size may differ)
    ours = timings["intel count_points square"][2]
    differ = {
        "numpy ids + bincount": int(np.abs(ours - timings["numpy ids + bincount"][2]).sum()),
        "numpy histogram2d": int(np.abs(ours.reshape(SIDE, SIDE) - timings["numpy histogram2d"][2]).sum()),
    }
    joined = timings["geopandas sjoin hex (200k, scaled)"][2]
    joined = joined[~joined.index.duplicated()]  # a point on a shared edge joins two hexagons
    hex_pos = assign_cells((x[:sub], y[:sub]), hexes)
    label = joined["cell_id" if "cell_id" in joined.columns else "index_right"].to_numpy(dtype=object)
    expected = np.where(pd.notna(label), hexes.index.get_indexer(np.where(pd.notna(label), label, "")), -1)
    agree = float((hex_pos == expected).mean())

    scale = n / sub
    rows = []

    def row(name: str, baseline: str | None = None, scaled: float = 1.0) -> None:
        t, peak, _ = timings[name]
        t *= scaled
        r = {"row": name, "n_points": n, "seconds": t, "points_per_s": n / t, "peak_mib": peak}
        if baseline:
            bt = timings[baseline][0] * (scale if "scaled" in baseline else 1.0)
            r.update(baseline=baseline, baseline_seconds=bt, ratio=bt / timings[name][0])
        rows.append(r)

    row("intel count_points square", "numpy histogram2d")
    rows[-1]["ratio_vs_bincount"] = timings["numpy ids + bincount"][0] / timings["intel count_points square"][0]
    row("numpy histogram2d")
    row("numpy ids + bincount")
    row("intel assign_cells square", "numpy ids (square)")
    row("numpy ids (square)")
    row("intel assign_cells hex", "geopandas sjoin hex (200k, scaled)")
    row("geopandas sjoin hex (200k, scaled)", scaled=scale)
    rows[-1]["peak_mib"] = None  # measured on 200k points only
    row("intel count_points hex")
    row("intel score_counts square", "numpy histogram2d")

    print()
    print(f"{n:,} points, {SIDE} x {SIDE} cells of {CELL_M:g} m; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print_table(rows, ["row", "seconds", "points_per_s", "peak_mib", "baseline", "ratio"])
    print(f"points counted differently from numpy (border rounding): {differ}")
    print(f"hex assignment agrees with sjoin point-in-polygon on {agree:.6f} of 200k points")
    out = {
        "benchmark": "grid",
        "n_points": n,
        "grid": {"side": SIDE, "cell_size_m": CELL_M, "n_cells": len(grid)},
        "data": "Chicago 2012-2018 incidents, repeated with 25 m offsets to reach n",
        "machine": machine(),
        "hex_sjoin_agreement": agree,
        "points_counted_differently_from_numpy": differ,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("grid_quick.json" if args.quick else "grid.json")
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
