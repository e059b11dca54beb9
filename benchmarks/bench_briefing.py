"""The weekly briefing end to end: is the whole of Chicago done in under two minutes on 2 cores?

    .venv/bin/python benchmarks/bench_briefing.py            # Chicago 2017 + 2018, week 2018-W44
    .venv/bin/python benchmarks/bench_briefing.py --quick    # the bundled district 11 sample

Rows, in one process (the CLI row in a child process), each run once after a warm-up of
the compiled kernels on the bundled sample:

1. baseline: what reading the same files costs anyway: ``pandas.read_csv`` +
   ``geopandas.points_from_xy`` + ``to_crs`` (as ``bench_load.py``);
2. ``intel.load_incidents`` on the same files (validated, every row accounted for);
3. ``intel.build_briefing`` on the loaded incidents (every section, the model chosen
   by the 8-week backtest, the HTML page with its maps), with the time of each step;
4. ``intel brief FILES --week 2018-W44 --out DIR --json``: the scheduled command, from
   Python start-up to the files written.

No other library builds a briefing, so the ratios are against row 1: how many plain
CSV reads the work costs. The budget is 120 s for row 4 (and for rows 2 + 3).
Peak memory is the process's resident high-water mark (rows 1-3 share one process).
The machine is shared: its load average is recorded with the results. Writes
``benchmarks/results/briefing.json`` (``briefing_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data"))
WEEK = "2018-W44"
BUDGET_S = 120.0


def files(quick: bool) -> list[Path]:
    if quick:
        return [REPO / "data" / "samples" / "chicago_district11.csv.gz"]
    folder = SHARED / "chicago_crimes_2012_2018"
    chosen = [folder / "chicago_crimes_2017.csv.gz", folder / "chicago_crimes_2018.csv.gz"]
    missing = [str(p) for p in chosen if not p.exists()]
    if missing:
        sys.exit(f"bench_briefing: missing {missing}; set INTEL_SHARED_DATA or use --quick.")
    return chosen


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def pandas_read(paths: list[Path]):
    import geopandas as gpd
    import pandas as pd

    frames = [pd.read_csv(p) for p in paths]
    frame = pd.concat(frames, ignore_index=True)
    lon = "Longitude" if "Longitude" in frame.columns else "longitude"
    lat = "Latitude" if "Latitude" in frame.columns else "latitude"
    frame = frame.dropna(subset=[lon, lat])
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame[lon], frame[lat]), crs=4326)
    return points.to_crs(32616)


@contextmanager
def step_timer(durations: dict[str, float]):
    """Time each step of build_briefing by wrapping the progress helper's step (no change to the library)."""
    from intel import _progress

    original = _progress.Steps.step

    @contextmanager
    def timed(self, name):
        t0 = time.perf_counter()
        with original(self, name):
            yield
        durations[name] = round(time.perf_counter() - t0, 3)

    _progress.Steps.step = timed
    try:
        yield
    finally:
        _progress.Steps.step = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the bundled district 11 sample only")
    args = parser.parse_args()
    paths = files(args.quick)
    import intel

    warnings.simplefilter("ignore")
    # warm-up: numba kernels compile (or load from cache) once per process
    sample = intel.load_sample("chicago_district11")
    intel.build_briefing(sample[sample["beat"] == 1131], week=WEEK, model="naive")
    rows = []

    t0 = time.perf_counter()
    points = pandas_read(paths)
    base = time.perf_counter() - t0
    rows.append({"row": "baseline: pandas.read_csv + points_from_xy + to_crs", "seconds": round(base, 3),
                 "peak_mib": peak_mib(), "rows_out": len(points)})
    del points

    t0 = time.perf_counter()
    loaded = intel.load_incidents([str(p) for p in paths] if len(paths) > 1 else str(paths[0]))
    load_s = time.perf_counter() - t0
    rows.append({"row": "intel.load_incidents (validated)", "seconds": round(load_s, 3), "peak_mib": peak_mib(),
                 "rows_out": len(loaded.incidents), "ratio": round(load_s / base, 2)})

    durations: dict[str, float] = {}
    with step_timer(durations):
        t0 = time.perf_counter()
        briefing = intel.build_briefing(loaded, week=WEEK)
        brief_s = time.perf_counter() - t0
    rows.append({"row": "intel.build_briefing (all sections, HTML page)", "seconds": round(brief_s, 3),
                 "peak_mib": peak_mib(), "ratio": round(brief_s / base, 2), "steps": durations,
                 "model": briefing.data["forecast"]["model"], "n_cells": briefing.data["hotspots"]["n_cells"],
                 "html_mib": round(len(briefing.html.encode()) / 2**20, 2)})
    rows.append({"row": "load + briefing (in process)", "seconds": round(load_s + brief_s, 3),
                 "ratio": round((load_s + brief_s) / base, 2), "within_budget": load_s + brief_s < BUDGET_S})

    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-c", "from intel.cli import main; main()", "--quiet", "brief", *map(str, paths),
                   "--week", WEEK, "--out", out, "--json", "--no-progress"]
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        cli_s = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"bench_briefing: the CLI failed:\n{done.stderr}")
    rows.append({"row": f"intel brief (CLI, end to end, {len(paths)} file(s))", "seconds": round(cli_s, 3),
                 "ratio": round(cli_s / base, 2), "within_budget": cli_s < BUDGET_S})

    meta = {
        "files": [p.name for p in paths], "week": WEEK, "budget_s": BUDGET_S, "quick": args.quick,
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
        "ratio": "row time / baseline time (pandas read of the same files), measured in the same run",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "briefing_quick.json" if args.quick else "briefing.json"
    (RESULTS / name).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")

    print(f"weekly briefing {WEEK} on {', '.join(meta['files'])} (load average {meta['load_average']})")
    print(f"{'row':<58} {'seconds':>8} {'x read':>7} {'peak MiB':>9}")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "1.00"
        print(f"{r['row']:<58} {r['seconds']:>8.1f} {ratio:>7} {r.get('peak_mib', ''):>9}")
    print("steps:", ", ".join(f"{k} {v:.1f}s" for k, v in durations.items()))
    print(f"budget {BUDGET_S:.0f} s: CLI {'met' if rows[-1]['within_budget'] else 'MISSED'}; written {RESULTS / name}")


if __name__ == "__main__":
    main()
