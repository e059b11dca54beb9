"""Loading Chicago 2012-2018 (1.95 M rows): intel.read_incidents vs a plain pandas + geopandas load.

    .venv/bin/python benchmarks/bench_load.py           # all seven yearly files
    .venv/bin/python benchmarks/bench_load.py --quick   # 2016 only

The baseline is what an analyst would write without intel: ``pandas.read_csv`` of each
file, ``geopandas.points_from_xy`` on the WGS84 columns and ``to_crs`` to the same UTM
zone (no validation, no time zone, nothing set aside). intel does all of that plus date
parsing, localisation, the quarantine rules, the personal-data guard and the warnings.
Each side runs in a fresh subprocess (so peak memory is its own), alternating, ``--repeat``
times; the table reports the best wall time of each and their ratio, and the CPU time
(user + system, all threads, imports included), whose ratio is steadier on a shared
machine. The load average before and after is recorded. Writes ``benchmarks/results/load.json``
(``load_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "chicago_crimes_2012_2018"

_CHILD = r"""
import json, resource, sys, time, warnings
files = json.loads(sys.argv[2])
t0 = time.perf_counter()
if sys.argv[1] == "intel":
    import intel
    from intel.exceptions import DataQualityWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        inc = intel.read_incidents(files)
    n_in, n_out = inc.attrs["provenance"]["n_read"], len(inc)
else:
    import pandas as pd, geopandas as gpd
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    inc = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["longitude"], frame["latitude"]), crs=4326)
    inc = inc.to_crs(32616)
    n_in = n_out = len(inc)
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                  "n_read": n_in, "n_rows_out": n_out}))
"""


def run(side: str, files: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, side, json.dumps(files)], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one year (2016) instead of 2012-2018")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (best time is reported)")
    args = parser.parse_args()
    files = sorted(str(p) for p in DATA.glob("chicago_crimes_20*.csv.gz"))
    if not files:
        sys.exit(f"Chicago data not found in {DATA} (set INTEL_SHARED_DATA)")
    if args.quick:
        files = [f for f in files if "2016" in f]

    # warm the page cache and Python's import caches once, untimed
    run("baseline", files[:1])
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"intel": [], "baseline": []}
    for _ in range(args.repeat):
        for side in ("intel", "baseline"):
            runs[side].append(run(side, files))
    load_after = os.getloadavg()
    best = {side: min(r, key=lambda x: x["seconds"]) for side, r in runs.items()}
    cpu = {side: min(x["cpu_seconds"] for x in r) for side, r in runs.items()}
    n = best["intel"]["n_read"]
    ratio = best["intel"]["seconds"] / best["baseline"]["seconds"]
    cpu_ratio = cpu["intel"] / cpu["baseline"]
    rows = []
    for side, label in (("intel", "intel.read_incidents (validated)"),
                        ("baseline", "pandas.read_csv + points_from_xy + to_crs")):
        b = best[side]
        rows.append({
            "method": label, "seconds": round(b["seconds"], 3), "cpu_seconds": round(cpu[side], 3),
            "rows_per_s": round(n / b["seconds"]),
            "peak_mb": round(b["peak_mb"]), "rows_out": b["n_rows_out"],
            "all_seconds": [round(r["seconds"], 3) for r in runs[side]],
        })
    print(f"Chicago {'2016' if args.quick else '2012-2018'}: {n:,} rows, {len(files)} file(s), best of {args.repeat}")
    print(f"{'method':45s} {'seconds':>8s} {'CPU s':>7s} {'rows/s':>11s} {'peak MB':>8s} {'rows out':>10s}")
    for r in rows:
        print(f"{r['method']:45s} {r['seconds']:8.2f} {r['cpu_seconds']:7.2f} {r['rows_per_s']:11,d} {r['peak_mb']:8,d} "
              f"{r['rows_out']:10,d}")
    print(f"ratio intel / baseline: wall time {ratio:.2f} (floor: 1.5), CPU time {cpu_ratio:.2f}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (on {os.cpu_count()} CPUs)")
    out = REPO / "benchmarks" / "results" / ("load_quick.json" if args.quick else "load.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "load", "quick": args.quick, "n_rows": n, "files": [Path(f).name for f in files],
        "rows": rows, "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3), "floor": 1.5,
        "load_average": [round(load_before[0], 2), round(load_after[0], 2)], "machine": platform.platform(),
        "cpus": os.cpu_count(), "python": platform.python_version(),
    }, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
