"""The quality bar of issue 5: weekly forecasts on Chicago, a year of origins, every model against the baselines.

For BURGLARY, ROBBERY and all crime: PAI and hit rate at 1% and 5% coverage with 95%
percentile-bootstrap intervals over origins, and the paired per-origin PAI difference
from the 52-week count (the strongest naive baseline). Writes
``benchmarks/results/quality_backtest.{json,md}``.

Setup: 150 m square cells covering the city (cells that intersect the 2012 police
district boundaries), horizon 7 days, 52 weekly origins from Monday 2017-11-13 (the
last horizon ends 2018-11-12, where the data end), models fitted on 2014-01-01
onwards (every model needs at most three years of history).

    .venv/bin/python benchmarks/quality_backtest.py            # full run
    .venv/bin/python benchmarks/quality_backtest.py --quick    # 8 origins, burglary only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import intel  # noqa: E402
from intel.evaluate import naive_baselines, rolling_backtest, summarize_backtest  # noqa: E402

DATA = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "chicago_crimes_2012_2018"
RESULTS = REPO / "benchmarks" / "results"
CRS = "EPSG:26971"  # NAD83 / Illinois East in metres (the source's EPSG:3435 is the same projection in US feet)
CELL_SIZE_M = 150
FIRST_ORIGIN = "2017-11-13"
END = "2018-11-12"
HISTORY_FROM = "2014-01-01"
CATEGORIES = {"burglary": ["BURGLARY"], "robbery": ["ROBBERY"], "all crime": None}


def load_chicago(first_year: int = 2014) -> gpd.GeoDataFrame:
    """Chicago incidents from ``first_year`` on, read with :func:`intel.read_incidents`, in metres.

    Only the columns the models use are kept (the load keeps 25; parallel workers get a copy).
    """
    files = sorted(p for p in DATA.glob("chicago_crimes_20*.csv.gz") if int(p.name[15:19]) >= first_year)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", intel.DataQualityWarning)
        incidents = intel.read_incidents([str(f) for f in files], schema="chicago", target_crs=CRS)
    keep = ["incident_id", "occurred_at", "category", "weight", "geometry"]
    return incidents[keep].copy()


def city_grid(cell_size_m: float = CELL_SIZE_M) -> gpd.GeoDataFrame:
    """Cells of ``cell_size_m`` that intersect Chicago's police districts (the city, without the lake)."""
    path = DATA / "ancillary" / "police-districts-current.kmz"
    districts = gpd.read_file(f"/vsizip/{path}/PoliceDistrictDec2012.shp").to_crs(CRS)
    return intel.make_grid(districts, cell_size_m=cell_size_m)


def candidate_models() -> dict[str, object]:
    """Every model of intel.models that needs no extra data, as configured for the quality bar.

    The naive baselines are added by the harness. RiskTerrain is left out: it needs
    environmental layers (bars, stops ...) that the shared data do not have.
    """
    from intel import models as lib
    from intel.evaluate import default_ensemble

    out: dict[str, object] = {
        "KDERisk()": lib.KDERisk(),
        "KDERisk(time_decay_days=28)": lib.KDERisk(time_decay_days=28),
        "KDERisk(window_days=1092, time_decay_days=527)": lib.KDERisk(window_days=1092, time_decay_days=527),
        "ProspectiveHotspot()": lib.ProspectiveHotspot(),
        "GridSEPP()": lib.GridSEPP(),
        "KernelSEPP()": lib.KernelSEPP(),
        "EnsembleRisk() [2-year KDE + GridSEPP]": lib.EnsembleRisk(),
        "ensemble [52-week + 3-year KDE + prospective, learnt]": default_ensemble(lib),
    }
    if hasattr(lib, "GradientBoostingRisk"):
        out["GradientBoostingRisk()"] = lib.GradientBoostingRisk()
    return out


def run(quick: bool, n_jobs: int, only: list[str] | None, categories: list[str] | None = None) -> dict:
    t_load = time.perf_counter()
    incidents = load_chicago()
    incidents = incidents.loc[(incidents["occurred_at"] >= pd.Timestamp(HISTORY_FROM, tz="America/Chicago")).to_numpy()]
    grid = city_grid()
    load_s = time.perf_counter() - t_load
    models = candidate_models()
    if only:
        models = {k: v for k, v in models.items() if any(k.lower().startswith(o.lower()) for o in only)}
    end = pd.Timestamp(END, tz="America/Chicago")
    start = pd.Timestamp(FIRST_ORIGIN, tz="America/Chicago")
    if quick:
        start = end - pd.Timedelta(days=7 * 8)
    chosen = categories or (["burglary"] if quick else list(CATEGORIES))
    categories = {name: CATEGORIES[name] for name in chosen}
    report: dict = {
        "setup": {
            "data": "Chicago reported crimes (City of Chicago), read with intel.read_incidents, 2014-01-01 to 2018-11-12",
            "grid": f"{CELL_SIZE_M} m square cells intersecting the police districts: {len(grid):,} cells",
            "horizon": "7D", "step": "7D", "first_origin": str(start.date()), "end": END,
            "coverages": [0.01, 0.05], "reference": "RecentCount(weeks=52)",
            "interval": "95% percentile bootstrap over origins (2000 resamples); paired differences per origin",
            "n_jobs": n_jobs, "quick": quick,
        },
        "load_seconds": round(load_s, 1),
        "categories": {},
    }
    for name, types in categories.items():
        data = incidents if types is None else incidents.loc[incidents["category"].isin(types).to_numpy()]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", intel.DataQualityWarning)
            results = rolling_backtest(data, models, grid=grid, start=start, end=end, horizon="7D", step="7D",
                                       coverages=(0.01, 0.05), errors="warn", n_jobs=n_jobs)
        seconds = time.perf_counter() - t0
        summary = summarize_backtest(results, n_boot=2000, random_state=0)
        report["categories"][name] = {
            "n_incidents_history": len(data),
            "n_origins": int(results["origin"].nunique()),
            "mean_incidents_per_week": float(results.groupby("origin")["n_actual"].first().mean()),
            "seconds": round(seconds, 1),
            "rows": summary.to_dict(orient="records"),
        }
        print(f"{name}: {seconds:.0f} s", file=sys.stderr)
        print(markdown_table(name, summary), file=sys.stderr)
    return report


def markdown_table(name: str, summary: pd.DataFrame) -> str:
    lines = [f"### {name}", "",
             "| model | PAI 1% [95% CI] | hit rate 1% | PAI 5% [95% CI] | hit rate 5% | PAI 5% - 52-week [95% CI] | vs 52-week |",
             "|---|---|---|---|---|---|---|"]
    wide = summary.set_index(["model", "coverage"])
    for model in dict.fromkeys(summary["model"]):
        a, b = wide.loc[(model, 0.01)], wide.loc[(model, 0.05)]
        lines.append(
            f"| {model} | {a['pai']:.2f} [{a['pai_lo']:.2f}, {a['pai_hi']:.2f}] | {a['hit_rate']:.1%} "
            f"| {b['pai']:.2f} [{b['pai_lo']:.2f}, {b['pai_hi']:.2f}] | {b['hit_rate']:.1%} "
            f"| {b['pai_diff']:+.2f} [{b['pai_diff_lo']:+.2f}, {b['pai_diff_hi']:+.2f}] | {b['vs_reference']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 origins, burglary only")
    parser.add_argument("--jobs", type=int, default=2, help="origins in parallel (default 2)")
    parser.add_argument("--models", default=None, help="comma-separated prefixes of model labels to keep")
    parser.add_argument("--categories", default=None, help="comma-separated: burglary, robbery, all crime")
    args = parser.parse_args()
    t0 = time.perf_counter()
    report = run(args.quick, args.jobs, args.models.split(",") if args.models else None,
                 args.categories.split(",") if args.categories else None)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "quality_backtest_quick" if args.quick else "quality_backtest"
    (RESULTS / f"{stem}.json").write_text(json.dumps(intel._provenance.jsonable(report), indent=2) + "\n")
    md = [f"# Quality bar: weekly forecasts on Chicago ({'quick' if args.quick else 'full'} run)", ""]
    md += [f"- {k}: {v}" for k, v in report["setup"].items()]
    md += [f"- total time: {report['total_seconds']:.0f} s (load {report['load_seconds']:.0f} s)", ""]
    for name, cat in report["categories"].items():
        summary = pd.DataFrame(cat["rows"])
        md.append(markdown_table(f"{name} ({cat['n_origins']} origins, {cat['mean_incidents_per_week']:.0f} incidents/week, "
                                 f"{cat['seconds']:.0f} s)", summary))
    (RESULTS / f"{stem}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
