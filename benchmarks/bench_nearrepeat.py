"""The Knox test on Chicago burglaries: intel.knox_test against pointpats' Knox.

    .venv/bin/python benchmarks/bench_nearrepeat.py            # 105k burglaries 2012-2018; pointpats up to 10k
    .venv/bin/python benchmarks/bench_nearrepeat.py --quick    # 20k burglaries; pointpats on 2k

Data: Chicago burglaries with a location, in time order (State Plane feet turned into
metres).

Rows, each timed in a fresh subprocess, best of ``--repeat`` runs when a run takes under
5 s; peak memory is the resident memory the call adds (``VmHWM`` reset through
``/proc/self/clear_refs`` just before the call, minus ``VmRSS`` before it; Linux only):

- On sizes both can do (2k, 5k, 10k burglaries of 2017): one space-time band, 200 m and
  14 days, 99 permutations, ``pointpats.spacetime.Knox`` against ``intel.knox_test``
  with ``distance_bands_m=(200,)``, ``time_bands_days=(14,)``. The observed pair counts
  are compared (pointpats works in float days, so a pair exactly 14 days apart, common
  with midnight default times, can fall out; intel compares whole microseconds).
- The Near Repeat Calculator's table on every burglary of 2012-2018 (about 105k):
  distance bands 100/200/400 m, time bands 7/14/21 days, 99 permutations. pointpats
  cannot run this size (its neighbour sets grow with n times the events within 14 days).

Ratios are pointpats time / intel time (above 1: intel is faster), measured in the same
run. Writes ``benchmarks/results/nearrepeat.json`` (``nearrepeat_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clusters import DATA, FEET, run_child, write_results  # noqa: E402  (the shared measuring harness)

_SETUP = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
case, n, repeat, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
arrays = np.load(data)
x, y, minutes = arrays["x"][:n], arrays["y"][:n], arrays["minutes"][:n]

def make():
    if case.startswith("intel"):
        import geopandas as gpd, pandas as pd
        from intel import knox_test
        times = pd.Timestamp("2012-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min")
        incidents = gpd.GeoDataFrame({"occurred_at": times}, geometry=gpd.points_from_xy(x, y), crs="EPSG:26971")
        if case == "intel_one_band":
            bands = dict(distance_bands_m=(200,), time_bands_days=(14,))
        else:
            bands = dict(distance_bands_m=(100, 200, 400), time_bands_days=(7, 14, 21))
        knox_test(incidents.iloc[:200], permutations=2, random_state=0, **bands)  # load the compiled code
        def run():
            table = knox_test(incidents, permutations=99, random_state=0, **bands)
            within = table[(table["distance_to_m"] <= 200) & (table["days_to"] <= 14)]["observed"].sum()
            return int(within), table.attrs["knox"]["n_pairs_within_max_distance"]
        return run
    if case == "pointpats":
        from pointpats.spacetime import Knox
        xy = np.column_stack([x, y])
        t = (minutes / 1440.0)[:, None]
        def run():
            np.random.seed(0)
            return int(Knox(xy, t, delta=200, tau=14, permutations=99).statistic_), None
        return run
    raise SystemExit(f"unknown case {case}")

def report(result):
    return {"observed_200m_14d": result[0], "pairs_kept": result[1]}
"""


def load_burglaries(years: list[int]) -> dict[str, np.ndarray]:
    """``x``, ``y`` (metres) and whole ``minutes`` since 2012-01-01 of located Chicago burglaries."""
    frames = []
    for path in sorted(DATA.glob("chicago_crimes_20*.csv.gz")):
        if int(path.name[15:19]) in years:
            frame = pd.read_csv(path, usecols=["datetime", "primary_type", "x_coordinate", "y_coordinate"])
            frames.append(frame[(frame["primary_type"] == "BURGLARY") & (frame["x_coordinate"] > 0)])
    frame = pd.concat(frames, ignore_index=True)
    minutes = (pd.to_datetime(frame["datetime"]) - pd.Timestamp("2012-01-01")) // pd.Timedelta(minutes=1)
    return {"x": frame["x_coordinate"].to_numpy() * FEET, "y": frame["y_coordinate"].to_numpy() * FEET,
            "minutes": minutes.to_numpy(np.int64)}


def exact_14_day_pairs(arrays: dict[str, np.ndarray], n: int) -> int:
    """Pairs within 200 m exactly 14 days apart (where float days may round either way)."""
    from scipy.spatial import cKDTree

    xy = np.column_stack([arrays["x"][:n], arrays["y"][:n]])
    pairs = cKDTree(xy).query_pairs(200.0, output_type="ndarray")
    minutes = arrays["minutes"][:n]
    return int((np.abs(minutes[pairs[:, 0]] - minutes[pairs[:, 1]]) == 14 * 1440).sum())


def run_case(case: str, n: int, repeat: int, data: Path) -> dict:
    return run_child(_SETUP, [case, str(n), str(repeat), str(data)], f"{case} n={n:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k burglaries; pointpats on 2k")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case under 5 s (best is reported)")
    args = parser.parse_args()
    shared_sizes = [2_000] if args.quick else [2_000, 5_000, 10_000]
    big_n = 20_000 if args.quick else None

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        small = load_burglaries([2017])
        np.savez(workdir / "small.npz", **small)
        for n in shared_sizes:
            theirs = run_case("pointpats", n, args.repeat, workdir / "small.npz")
            ours = run_case("intel_one_band", n, args.repeat, workdir / "small.npz")
            rows.append({
                "case": "Knox, one band (200 m, 14 days), 99 permutations", "n": n,
                "intel_s": round(ours["seconds"], 4), "intel_peak_extra_mb": round(ours["peak_extra_mb"], 1),
                "baseline": "pointpats.spacetime.Knox", "baseline_s": round(theirs["seconds"], 4),
                "baseline_peak_extra_mb": round(theirs["peak_extra_mb"], 1),
                "ratio": round(theirs["seconds"] / ours["seconds"], 1),
                "observed_intel": ours["observed_200m_14d"], "observed_pointpats": theirs["observed_200m_14d"],
                "pairs_exactly_14_days_apart": exact_14_day_pairs(small, n),
            })
        full = load_burglaries(list(range(2012, 2019)))
        np.savez(workdir / "full.npz", **full)
        n = big_n or full["x"].size
        ours = run_case("intel_table", n, args.repeat, workdir / "full.npz")
        rows.append({
            "case": "Near Repeat Calculator table (100/200/400 m x 7/14/21 days), 99 permutations", "n": n,
            "intel_s": round(ours["seconds"], 4), "intel_peak_extra_mb": round(ours["peak_extra_mb"], 1),
            "pairs_within_400m": ours["pairs_kept"],
            "baseline": "pointpats.spacetime.Knox: not run (neighbour sets of every event, Python loops)",
        })

    print()
    print(f"{'case':<58} {'n':>8} {'intel s':>9} {'intel MB':>9} {'pp s':>9} {'pp MB':>9} {'ratio':>7}  observed")
    for r in rows:
        has = "baseline_s" in r
        base_s = f"{r['baseline_s']:9.3f}" if has else f"{'-':>9}"
        base_mb = f"{r['baseline_peak_extra_mb']:9.1f}" if has else f"{'-':>9}"
        ratio = f"{r['ratio']:7.1f}" if has else f"{'-':>7}"
        observed = (f"intel {r['observed_intel']} / pointpats {r['observed_pointpats']} "
                    f"({r['pairs_exactly_14_days_apart']} pairs exactly 14 days apart)" if has else "")
        print(f"{r['case'][:58]:<58} {r['n']:>8,} {r['intel_s']:9.3f} {r['intel_peak_extra_mb']:9.1f} {base_s} "
              f"{base_mb} {ratio}  {observed}")
    write_results("nearrepeat_quick" if args.quick else "nearrepeat", rows,
                  "pointpats seconds / intel seconds (above 1: intel is faster), same run")


if __name__ == "__main__":
    main()
