"""Classed cell maps: intel.map_scores against geopandas' GeoDataFrame.explore.

    .venv/bin/python benchmarks/bench_maps.py            # Chicago 2018 (shared data), 250/150/100 m cells
    .venv/bin/python benchmarks/bench_maps.py --quick    # the bundled district 11 sample, 100/50 m cells

Both draw the same CellScores (incident counts per cell, cells with none left out) as
a quantile-classed choropleth with popups and a legend, with no basemap, and render
the page to a string (what ``save`` writes). Rows: seconds to build and render (best
of ``--repeat``, after one untimed warm-up run of each so imports and numba compiles
are not counted), peak Python memory in one more call (tracemalloc), the page's size,
and how many resources the page would fetch from elsewhere (scripts, stylesheets:
geopandas' page needs the internet to draw at all; intel's embeds Leaflet). The ratio
is explore's time / intel's time, measured in the same run (above 1: intel is faster).

Writes ``benchmarks/results/maps.json`` (``maps_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "chicago_crimes_2012_2018"
RESULTS = REPO / "benchmarks" / "results"


def measure(make, repeat: int) -> dict:
    make()  # warm-up: imports, compiled code, mapclassify's numba functions
    best, html = float("inf"), ""
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        html = make()
        best = min(best, time.perf_counter() - t0)
    # memory in a run of its own: tracing every allocation slows Python code several times over
    gc.collect()
    tracemalloc.start()
    make()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": best, "peak_mb": peak / 2**20, "html": html}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the bundled district 11 sample only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import intel
    from intel._offline import external_requests

    if args.quick:
        incidents = intel.load_sample("chicago_district11")
        sizes, source = (100.0, 50.0), "chicago_district11 sample (52,849 incidents)"
    else:
        files = sorted(DATA.glob("chicago_crimes_2018*.csv.gz"))
        if not files:
            raise SystemExit(f"no Chicago 2018 file under {DATA}; run with --quick or set INTEL_SHARED_DATA")
        incidents = intel.read_incidents(files[0], schema="chicago")
        sizes, source = (250.0, 150.0, 100.0), f"Chicago 2018, all incidents ({len(incidents):,})"
    print(f"{source}; best of {args.repeat}")
    print(f"{'cells':>8} {'drawn':>8} | {'intel s':>8} {'MB page':>8} {'MB peak':>8} {'ext':>4} | "
          f"{'explore s':>9} {'MB page':>8} {'MB peak':>8} {'ext':>4} | {'ratio':>6}")
    rows = []
    for size in sizes:
        scores = intel.score_counts(incidents, cell_size_m=size)
        drawn = scores.loc[scores["n"] > 0]

        def with_intel():
            return intel.map_scores(scores, "n", k=5, scheme="quantiles").get_root().render()

        def with_explore():
            m = drawn.reset_index().explore(column="n", scheme="quantiles", k=5, cmap="YlOrRd", tiles=None,
                                            tooltip=["cell_id", "n"], popup=True, legend=True)
            return m.get_root().render()

        ours = measure(with_intel, args.repeat)
        theirs = measure(with_explore, args.repeat)
        row = {
            "cell_size_m": size, "cells": len(scores), "drawn": len(drawn),
            "intel_s": round(ours["seconds"], 3), "intel_page_mb": round(len(ours["html"].encode()) / 1e6, 2),
            "intel_peak_mb": round(ours["peak_mb"], 1), "intel_external": len(external_requests(ours["html"])),
            "baseline": "geopandas.GeoDataFrame.explore",
            "baseline_s": round(theirs["seconds"], 3),
            "baseline_page_mb": round(len(theirs["html"].encode()) / 1e6, 2),
            "baseline_peak_mb": round(theirs["peak_mb"], 1),
            "baseline_external": len(external_requests(theirs["html"])),
            "ratio": round(theirs["seconds"] / ours["seconds"], 2),
        }
        rows.append(row)
        print(f"{row['cells']:>8,} {row['drawn']:>8,} | {row['intel_s']:>8.2f} {row['intel_page_mb']:>8.2f} "
              f"{row['intel_peak_mb']:>8.1f} {row['intel_external']:>4} | {row['baseline_s']:>9.2f} "
              f"{row['baseline_page_mb']:>8.2f} {row['baseline_peak_mb']:>8.1f} {row['baseline_external']:>4} | "
              f"{row['ratio']:>6.2f}", flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / ("maps_quick.json" if args.quick else "maps.json")
    target.write_text(json.dumps({
        "benchmark": "maps",
        "source": source,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "ratio": "explore seconds / intel seconds (same run; above 1: intel is faster)",
        "peak_mb": "peak Python allocations during one build-and-render (tracemalloc)",
        "external": "resources the page fetches from other machines (scripts, stylesheets), by intel._offline",
        "rows": rows,
    }, indent=2) + "\n")
    print(f"\nwrote {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
