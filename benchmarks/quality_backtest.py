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
# Models too slow for a category at this scale, with the reason (reported in the output).
LEFT_OUT = {"all crime": {"KernelSEPP()": "about 170 s per fit on ~260,000 incidents a year (52 origins: 2.5 hours)"}}


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
        f"EnsembleRisk() [default: {' + '.join(_default_members(lib))}]": lib.EnsembleRisk(),
        "ensemble [52-week + 3-year KDE + prospective, learnt]": default_ensemble(lib),
    }
    if hasattr(lib, "GradientBoostingRisk"):
        out["GradientBoostingRisk()"] = lib.GradientBoostingRisk()
    return out


def _default_members(lib) -> list[str]:
    from intel.evaluate import model_label

    try:
        from intel.models._ensemble import default_members

        return [model_label(m) for m in default_members()]
    except ImportError:
        return ["as in intel.models"]


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
        left_out = LEFT_OUT.get(name, {})
        used = {label: model for label, model in models.items() if label not in left_out}
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", intel.DataQualityWarning)
            results = rolling_backtest(data, used, grid=grid, start=start, end=end, horizon="7D", step="7D",
                                       coverages=(0.01, 0.05), errors="warn", n_jobs=n_jobs)
        seconds = time.perf_counter() - t0
        summary = summarize_backtest(results, n_boot=2000, random_state=0)
        inspected = inspect_last_origin(data, grid, models, results["origin"].max())
        report["categories"][name] = {
            "n_incidents_history": len(data),
            "n_origins": int(results["origin"].nunique()),
            "mean_incidents_per_week": float(results.groupby("origin")["n_actual"].first().mean()),
            "seconds": round(seconds, 1),
            "left_out": left_out,
            "at_last_origin": inspected,
            "rows": summary.to_dict(orient="records"),
        }
        print(f"{name}: {seconds:.0f} s", file=sys.stderr)
        print(markdown_table(name, summary), file=sys.stderr)
    return report


def inspect_last_origin(data, grid, models, origin) -> dict:
    """What the self-exciting model and the learnt ensemble look like at the last origin (for the notes)."""
    out: dict = {"origin": origin}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", intel.DataQualityWarning)
        sepp = intel.GridSEPP().fit(data, grid=grid, origin=origin)
        out["GridSEPP"] = {k: getattr(sepp, k) for k in ("theta_", "theta_se_", "omega_days_", "omega_days_se_")
                           if hasattr(sepp, k)}
        for label, model in models.items():
            if label.startswith("ensemble"):
                fitted = model.fit(data, grid=grid, origin=origin)
                out["ensemble_weights"] = dict(zip(["52-week count", "3-year KDE", "prospective"], fitted.weights_))
    return out


def markdown_table(name: str, summary: pd.DataFrame) -> str:
    lines = [f"### {name}", "",
             "| model | PAI 1% [95% CI] | hit rate 1% | PAI 5% [95% CI] | hit rate 5% | PEI 5% | PAI 5% - 52-week [95% CI] "
             "| vs 52-week |",
             "|---|---|---|---|---|---|---|---|"]
    wide = summary.set_index(["model", "coverage"])
    for model in dict.fromkeys(summary["model"]):
        a, b = wide.loc[(model, 0.01)], wide.loc[(model, 0.05)]
        lines.append(
            f"| {model} | {a['pai']:.2f} [{a['pai_lo']:.2f}, {a['pai_hi']:.2f}] | {a['hit_rate']:.1%} "
            f"| {b['pai']:.2f} [{b['pai_lo']:.2f}, {b['pai_hi']:.2f}] | {b['hit_rate']:.1%} | {b['pei']:.2f} "
            f"| {b['pai_diff']:+.2f} [{b['pai_diff_lo']:+.2f}, {b['pai_diff_hi']:+.2f}] | {b['vs_reference']} |"
        )
    return "\n".join(lines) + "\n"


NOTES = """## Reading the results

- Burglary and robbery: the win comes from a longer, smoothed memory. Three years of incidents,
  each losing half its weight a year, spread over about one cell (KDE), beat the 52-week count
  on their own; the learnt ensemble adds prospective hot-spotting with a weight near 0.1 and is the
  best model at both coverages. Weekly counts of a few hundred incidents over ~28,000 cells are
  sparse, so pooling more years and neighbouring cells removes noise that a 52-week count keeps.
- The self-exciting models (GridSEPP, KernelSEPP) do not beat the 52-week count at a weekly horizon:
  the triggering they find in Chicago lasts hours (repeat records of one event, same-day repeats),
  so a week ahead their forecast is their background, which is a long-run count.
- All crime (about 5,000 incidents a week): a year's count is already a low-noise estimate of
  where crime happens, and the week-to-week rest is largely Poisson noise. The best models beat it
  by under 1% of PAI: detectable per origin with paired intervals, negligible in practice. Use the
  52-week count for all-crime maps.
- PEI is low for the sparse categories because the hindsight-best 5% of cells for one week holds
  nearly every incident of that week; it is a ceiling no forecast can approach at this cell size.
- The last weeks of the data may be slightly under-counted (reporting lag at extraction), which
  affects every model equally.
"""


def verdict(summary: pd.DataFrame) -> str:
    """One sentence: the best model at 5% coverage and whether it beats the 52-week count, per origin."""
    at5 = summary.loc[summary["coverage"] == 0.05].dropna(subset=["pai"])
    best = at5.loc[at5["pai"].idxmax()]
    ref = at5.loc[at5["vs_reference"] == "reference"].iloc[0]
    beats = best["vs_reference"] == "better"
    return (f"Best at 5%: {best['model']}, PAI {best['pai']:.2f} against {ref['pai']:.2f} for {ref['model']} "
            f"(x{best['pai'] / ref['pai']:.3f}); paired per-origin difference {best['pai_diff']:+.2f} "
            f"[{best['pai_diff_lo']:+.2f}, {best['pai_diff_hi']:+.2f}]: "
            + ("it beats the baseline." if beats else "it does not beat the baseline."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 origins, burglary only")
    parser.add_argument("--jobs", type=int, default=2, help="origins in parallel (default 2)")
    parser.add_argument("--models", default=None, help="comma-separated prefixes of model labels to keep")
    parser.add_argument("--categories", default=None, help="comma-separated: burglary, robbery, all crime")
    parser.add_argument("--render", action="store_true", help="only rewrite the Markdown from the saved JSON")
    args = parser.parse_args()
    stem = "quality_backtest_quick" if args.quick else "quality_backtest"
    if args.render:
        report = json.loads((RESULTS / f"{stem}.json").read_text())
    else:
        t0 = time.perf_counter()
        report = run(args.quick, args.jobs, args.models.split(",") if args.models else None,
                     args.categories.split(",") if args.categories else None)
        report["total_seconds"] = round(time.perf_counter() - t0, 1)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{stem}.json").write_text(json.dumps(intel._provenance.jsonable(report), indent=2) + "\n")
    md = [f"# Quality bar: weekly forecasts on Chicago ({'quick' if args.quick else 'full'} run)", ""]
    md += [f"- {k}: {v}" for k, v in report["setup"].items()]
    md += [f"- total time: {report['total_seconds']:.0f} s (load {report['load_seconds']:.0f} s)", ""]
    for name, cat in report["categories"].items():
        summary = pd.DataFrame(cat["rows"])
        md.append(markdown_table(f"{name} ({cat['n_origins']} origins, {cat['mean_incidents_per_week']:.0f} incidents/week, "
                                 f"{cat['seconds']:.0f} s)", summary))
        md.append(verdict(summary) + "\n")
        last = cat.get("at_last_origin", {})
        if last.get("GridSEPP"):
            g = last["GridSEPP"]
            if g["theta_"] < 1e-3:
                md.append(f"At the last origin GridSEPP finds no measurable triggering (theta = {g['theta_']:.4f}).\n")
            else:
                md.append(f"At the last origin GridSEPP's trigger has theta = {g['theta_']:.4f} (se {g['theta_se_']:.4f}) "
                          f"offspring per incident with a mean delay of {24 * g['omega_days_']:.1f} hours: "
                          "a same-day echo, almost nothing left a week ahead.\n")
        if last.get("ensemble_weights"):
            w = ", ".join(f"{k} {v:.2f}" for k, v in last["ensemble_weights"].items())
            md.append(f"Learnt ensemble weights at the last origin: {w}.\n")
        md += [f"Left out: {label}: {why}.\n" for label, why in cat["left_out"].items()]
    md.append(NOTES)
    (RESULTS / f"{stem}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
