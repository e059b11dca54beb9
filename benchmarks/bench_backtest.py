"""Speed of a full year's weekly backtest on Chicago burglary, against the loop a user would write.

Setup: Chicago BURGLARY from 2014 (read with intel.read_incidents), 150 m cells over
the city (police districts), horizon 7 days, 52 weekly origins from 2017-11-13,
coverages 1%, 5% and 10%.

Baseline: the simplest equivalent computation - cells assigned once with
``geopandas.sjoin``, then for every origin a boolean mask for the last 52 weeks and
for the next week, ``value_counts`` per cell, ``argsort`` and the top cells' share:
the 52-week-count backtest by hand. intel's ``rolling_backtest`` of
``RecentCount(weeks=52)`` computes the same thing (plus PEI, RRI, deviance) and is
timed in the same run; then every model is timed alone, and all together.

    .venv/bin/python benchmarks/bench_backtest.py            # 52 origins
    .venv/bin/python benchmarks/bench_backtest.py --quick    # 8 origins
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import intel  # noqa: E402
from intel.evaluate import naive_baselines, rolling_backtest  # noqa: E402
from quality_backtest import candidate_models, city_grid, load_chicago  # noqa: E402

TZ = "America/Chicago"
COVERAGES = (0.01, 0.05, 0.1)


def naive_loop(incidents: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, origins: list[pd.Timestamp]) -> pd.DataFrame:
    """The 52-week-count backtest as a user would write it with geopandas and pandas."""
    joined = gpd.sjoin(incidents[["occurred_at", "geometry"]], grid[["geometry"]], how="inner", predicate="within")
    cell = joined["cell_id"]
    times = joined["occurred_at"]
    rows = []
    for origin in origins:
        past = cell[(times >= origin - pd.Timedelta(weeks=52)) & (times < origin)]
        # calendar week, as intel scores it: across a DST change a week is 167 or 169 hours
        future = cell[(times >= origin) & (times < origin + pd.DateOffset(days=7))]
        risk = past.value_counts().reindex(grid.index, fill_value=0).to_numpy()
        actual = future.value_counts().reindex(grid.index, fill_value=0).to_numpy()
        order = np.argsort(-risk, kind="stable")
        for coverage in COVERAGES:
            k = int(round(coverage * len(grid)))
            hit = actual[order[:k]].sum() / actual.sum()
            rows.append({"origin": origin, "coverage": coverage, "hit_rate": hit, "pai": hit / (k / len(grid)),
                         "n_actual": actual.sum()})
    return pd.DataFrame(rows)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 origins instead of 52")
    args = parser.parse_args()
    n_origins = 8 if args.quick else 52
    incidents = load_chicago(2014)
    incidents = incidents.loc[incidents["category"].eq("BURGLARY").to_numpy()].reset_index(drop=True)
    grid = city_grid()
    start = pd.Timestamp("2017-11-13", tz=TZ)
    origins = [start + pd.DateOffset(days=7 * k) for k in range(n_origins)]
    end = origins[-1] + pd.DateOffset(days=7)
    kw = dict(grid=grid, start=start, end=end, coverages=COVERAGES, baselines=False, errors="warn")
    warnings.simplefilter("ignore", intel.DataQualityWarning)
    # compile the numba kernels outside the timings
    rolling_backtest(incidents, {"warm": intel.RecentCount(weeks=52)}, **{**kw, "end": start + pd.DateOffset(days=7)})

    rows = []
    naive, naive_s = timed(naive_loop, incidents, grid, origins)
    ours, ours_s = timed(rolling_backtest, incidents, {"RecentCount(weeks=52)": intel.RecentCount(weeks=52)}, **kw)
    same_counts = bool(np.array_equal(naive.groupby("origin")["n_actual"].first().to_numpy(),
                                      ours.groupby("origin")["n_actual"].first().to_numpy()))
    pai_gap = float((ours.groupby("coverage")["pai"].mean() - naive.groupby("coverage")["pai"].mean()).abs().max())
    rows.append({"what": "52-week count backtest", "intel_s": ours_s, "baseline_s": naive_s,
                 "ratio": naive_s / ours_s, "baseline": "sjoin once + pandas mask/value_counts loop",
                 "same_counts": same_counts, "max_mean_pai_gap": pai_gap})

    models = {**naive_baselines(), **candidate_models()}
    per_model = {}
    for label, model in models.items():
        _, seconds = timed(rolling_backtest, incidents, {label: model}, **kw)
        per_model[label] = seconds
        rows.append({"what": f"{label} alone", "intel_s": seconds, "baseline_s": naive_s, "ratio": naive_s / seconds,
                     "baseline": "the naive 52-week loop (for scale)", "per_origin_ms": 1000 * seconds / n_origins})
    _, all_s = timed(rolling_backtest, incidents, models, **kw)
    rows.append({"what": f"all {len(models)} models together", "intel_s": all_s, "baseline_s": naive_s,
                 "ratio": naive_s / all_s, "baseline": "the naive 52-week loop (for scale)",
                 "per_origin_ms": 1000 * all_s / n_origins})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"Chicago BURGLARY, {len(incidents):,} incidents from 2014, {len(grid):,} cells of 150 m, "
          f"{n_origins} weekly origins; peak memory {peak_mb:,.0f} MB")
    print(f"{'what':<60} {'intel s':>9} {'baseline s':>11} {'baseline/intel':>15}")
    for r in rows:
        print(f"{r['what'][:60]:<60} {r['intel_s']:>9.2f} {r['baseline_s']:>11.2f} {r['ratio']:>15.2f}")
    print(f"naive loop and intel count the same incidents per origin: {same_counts}; largest gap in mean PAI "
          f"{pai_gap:.3f} (intel shares tied cells and takes partial cells by area; the loop breaks ties by grid order)")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "backtest_quick.json" if args.quick else "backtest.json"
    (out / name).write_text(json.dumps({
        "setup": {"category": "BURGLARY", "n_incidents": len(incidents), "n_cells": len(grid), "cell_size_m": 150,
                  "n_origins": n_origins, "horizon": "7D", "coverages": list(COVERAGES)},
        "rows": rows, "peak_memory_mb": peak_mb,
    }, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
