"""Quality bar for patrol plans, beats and the feedback safeguards, on real Chicago data.

    .venv/bin/python benchmarks/quality_patrol.py [--quick]

1. Plans. For CPD district 11 and the week after each origin (a Monday), the plan made by
   ``intel patrol`` (the same code path: ``build_patrol_scores`` then ``recommend_patrols``,
   2 units, 3 shifts, narcotics/weapons/vice offences treated as discovered and left out)
   is scored on next week's reported incidents: PAI = (share of the week's incidents
   that fell in a shift's patrolled cells during that shift) / (share of the district's
   area patrolled, averaged over the shifts by their length). It is compared with
   plans that patrol, in every shift, as many cells as the intel plan, taken from the
   top of the last 28 days' and the last 365 days' counts (of reported incidents, the
   same data intel sees, and of all recorded incidents), and with the intel plan
   without its exploration safeguard (the safeguard's cost in PAI).

   Two periods that do not overlap: a *selection* period (52 weekly origins from
   2016-11-14) on which candidate settings (risk model x ``min_spacing_m``) are
   compared, and a *report* period (52 weekly origins from 2017-11-13, the last week
   ending 2018-11-12) on which the chosen setting is scored. A candidate replaces the
   library default only if its paired bootstrap interval of the PAI difference from
   the default (with safeguards) lies above zero on the selection period; nothing is
   tuned on the report weeks. Intervals: 95% percentile bootstrap over origins (2000
   resamples), paired per origin.
2. Beats. ``design_beats`` on the district's 150 m cells (workload: reported incidents
   over the year before the headline date) against the 15 real beats, on the same
   workloads.
3. Feedback. ``simulate_feedback`` with the district's cells as areas (true weekly rates:
   the year's counts / 52) and Ensign et al.'s flat setting, with and without safeguards.

Writes benchmarks/results/quality_patrol.json and .md. ``--quick`` reads the bundled
sample (the same district, 2016-2018), with 4 origins per period and one model. A full
run also copies the selection-period results of ``quality_patrol_also_tried.py`` (from
benchmarks/results/quality_patrol_also_tried.json, when present) into an "Also tried"
section, and the results of ``quality_patrol_rankings.py`` (count-based cell rankings on both
periods, from benchmarks/results/quality_patrol_rankings.json) into a "Rankings" section.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import intel  # noqa: E402
from intel.evaluate import _boot_interval  # noqa: E402
from intel.grid import assign_cells, count_in_cells  # noqa: E402
from intel.patrol._common import parse_shifts  # noqa: E402
from intel.patrol._risk import DEFAULT_MODEL, build_patrol_scores  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "chicago_crimes_2012_2018"
RESULTS = REPO / "benchmarks" / "results"
DISTRICT = 11
YEARS = range(2013, 2019)  # three years of history before the first selection origin
HEADLINE = "2018-06-04"  # beats and feedback
SELECTION_START = "2016-11-14"
REPORT_START = "2017-11-13"
N_ORIGINS = 52
SHIFTS = ("06-14", "14-22", "22-06")
UNITS = 2
CELL_M = 150.0
EXPLORATION = 0.1
N_BOOT = 2000
MODELS = ("naive", "ensemble", "kde", "sepp")
SPACINGS = (300.0, 150.0)
DEFAULT_SPACING = float(inspect.signature(intel.recommend_patrols).parameters["min_spacing_m"].default)
# offences that mostly come to light through police activity (Chicago has no detection field)
DISCOVERED = ["NARCOTICS", "OTHER NARCOTIC VIOLATION", "WEAPONS VIOLATION", "CONCEALED CARRY LICENSE VIOLATION",
              "PROSTITUTION", "GAMBLING", "LIQUOR LAW VIOLATION", "PUBLIC INDECENCY", "INTERFERENCE WITH PUBLIC OFFICER"]
BASELINES = {"last_month": ("", 28), "last_year": ("", 365), "all_last_month": ("all_", 28), "all_last_year": ("all_", 365)}


def load(quick: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if quick or not SHARED.is_dir():
            source = "bundled sample chicago_district11 (2016-01-01 to 2018-11-12)"
            incidents = intel.load_sample("chicago_district11")
        else:
            source = f"shared data {SHARED.name}, {YEARS[0]}-{YEARS[-1]} files, district {DISTRICT}"
            frames = [intel.read_incidents(SHARED / f"chicago_crimes_{y}.csv.gz") for y in YEARS]
            incidents = pd.concat([f[f["district"] == DISTRICT] for f in frames], ignore_index=True)
        beats = intel.load_sample("chicago_district11_beats").to_crs(incidents.crs)
    incidents = incidents[incidents["district"] == DISTRICT].reset_index(drop=True)
    return incidents, beats, source


def reported(incidents):
    return incidents[~incidents["category"].astype(str).str.upper().isin(DISCOVERED)]


# ---------------------------------------------------------------- 1. plans


def shift_hits(cells_by_shift, week, grid, shifts):
    """Hits and total per shift: next week's incidents in the shift's hours, inside its patrolled cells."""
    pos = assign_cells(week, grid)
    minute = (week["occurred_at"].dt.hour * 60 + week["occurred_at"].dt.minute).to_numpy()
    ids = np.asarray(grid.index)
    hits, totals = 0.0, 0.0
    for s in shifts:
        in_shift = s.contains_minute_of_day(minute) & (pos >= 0)
        chosen = np.isin(ids, list(cells_by_shift[s.label]))
        totals += in_shift.sum()
        hits += chosen[pos[in_shift]].sum()
    return hits, totals


def pai_of(cells_by_shift, week, grid, shifts):
    hits, total = shift_hits(cells_by_shift, week, grid, shifts)
    area = sum(len(cells_by_shift[s.label]) / len(grid) * s.minutes / 1440 for s in shifts)
    return (hits / total) / area if total and area else float("nan"), hits / total if total else float("nan"), area


def top_cells(history, grid, origin, days, k):
    recent = history[(history["occurred_at"] >= origin - pd.Timedelta(days=days)) & (history["occurred_at"] < origin)]
    n = count_in_cells(assign_cells(recent, grid), len(grid))
    order = np.argsort(-n, kind="stable")[:k]
    return set(np.asarray(grid.index)[order])


def plan_cells(scores, *, seed, exploration_share, min_spacing_m):
    plan = intel.recommend_patrols(scores, shifts=SHIFTS, units=UNITS, exploration_share=exploration_share,
                                   min_spacing_m=min_spacing_m, random_state=seed)
    return {s: {c for ids in plan.loc[plan["shift"] == s, "cell_ids"] for c in ids} for s in SHIFTS}, plan


def exploration_use(plan):
    """How much of the plan the exploration safeguard takes: places, minutes and cells (area)."""
    explore = plan["selection"] == "exploration"
    cells = plan["cell_ids"].map(len)
    return {"places": float(explore.mean()), "minutes": float(plan.loc[explore, "minutes"].sum() / plan["minutes"].sum()),
            "cells": float(cells[explore].sum() / cells.sum())}


def evaluate_plans(incidents, origins, candidates):
    """One row per origin and candidate (model, min_spacing_m): PAI of intel with and without
    exploration, and of the baselines patrolling as many cells as that intel plan."""
    shifts = parse_shifts(SHIFTS, "bench")
    data = reported(incidents)
    models = list(dict.fromkeys(m for m, _ in candidates))
    rows = []
    for k, day in enumerate(origins):
        origin = pd.Timestamp(day, tz=incidents["occurred_at"].dt.tz)
        week = data[(data["occurred_at"] >= origin) & (data["occurred_at"] < origin + pd.Timedelta(days=7))]
        histories = {"": data[data["occurred_at"] < origin], "all_": incidents[incidents["occurred_at"] < origin]}
        baseline_cache: dict[tuple[str, int], tuple] = {}
        for model in models:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = build_patrol_scores(incidents, date=day, shifts=SHIFTS, cell_size_m=CELL_M, model=model,
                                             discovered_categories=DISCOVERED)
            fit_s = time.perf_counter() - t0
            grid = scores
            for spacing in (s for m, s in candidates if m == model):
                on, plan = plan_cells(scores, seed=k, exploration_share=EXPLORATION, min_spacing_m=spacing)
                off, _ = plan_cells(scores, seed=k, exploration_share=0.0, min_spacing_m=spacing)
                row = {"origin": day, "model": model, "min_spacing_m": spacing, "n_week": len(week),
                       "n_cells": len(grid), "fit_s": fit_s}
                row["intel_pai"], row["intel_hit_rate"], row["intel_area_share"] = pai_of(on, week, grid, shifts)
                row["intel_no_exploration_pai"], row["intel_no_exploration_hit_rate"], row["intel_no_exploration_area_share"] = (
                    pai_of(off, week, grid, shifts))
                row.update({f"exploration_{key}": v for key, v in exploration_use(plan).items()})
                # baselines patrol the same area: as many cells as the intel plan, in every shift
                k_cells = round(np.mean([len(on[s]) for s in SHIFTS]))
                row["baseline_cells"] = k_cells
                for name, (source, days) in BASELINES.items():
                    if (name, k_cells) not in baseline_cache:
                        cells = top_cells(histories[source], grid, origin, days, k_cells)
                        baseline_cache[name, k_cells] = pai_of({s: cells for s in SHIFTS}, week, grid, shifts)
                    row[f"{name}_pai"], row[f"{name}_hit_rate"], row[f"{name}_area_share"] = baseline_cache[name, k_cells]
                rows.append(row)
    return pd.DataFrame(rows)


def paired(a, b, seed=0) -> dict:
    """Mean of the per-origin differences a - b, its 95% paired bootstrap interval, wins/ties/losses."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    draws = np.random.default_rng(seed).integers(0, d.size, size=(N_BOOT, d.size))
    lo, hi = _boot_interval(d, draws, [2.5, 97.5])
    return {"mean": float(np.nanmean(d)), "lo": lo, "hi": hi, "wins": int((d > 0).sum()), "ties": int((d == 0).sum()),
            "losses": int((d < 0).sum())}


def mean_interval(values, seed=0) -> dict:
    v = np.asarray(values, np.float64)
    draws = np.random.default_rng(seed).integers(0, v.size, size=(N_BOOT, v.size))
    lo, hi = _boot_interval(v, draws, [2.5, 97.5])
    return {"mean": float(np.nanmean(v)), "lo": lo, "hi": hi}


def select(rows: pd.DataFrame, default: tuple[str, float]) -> dict:
    """Compare the candidates on the selection period; keep the default unless one is better beyond noise.

    PAI falls as the patrolled area grows, and candidates patrol slightly different
    areas, so each is judged by its margin over last year's top cells on the same area
    (``intel_pai - last_year_pai``, per origin) and compared with the default's margin.
    """
    margin = rows["intel_pai"] - rows["last_year_pai"]
    rows = rows.assign(margin=margin)
    ref = rows[(rows["model"] == default[0]) & (rows["min_spacing_m"] == default[1])].set_index("origin")
    table = []
    for (model, spacing), g in rows.groupby(["model", "min_spacing_m"], sort=False):
        g = g.set_index("origin").loc[ref.index]
        table.append({"model": model, "min_spacing_m": spacing, "default": (model, spacing) == default,
                      "intel_pai": float(g["intel_pai"].mean()),
                      "intel_no_exploration_pai": float(g["intel_no_exploration_pai"].mean()),
                      "baseline_cells": float(g["baseline_cells"].mean()),
                      "vs_last_year": paired(g["intel_pai"], g["last_year_pai"]),
                      "vs_default": paired(g["margin"], ref["margin"]),
                      "no_exploration_vs_last_year": paired(g["intel_no_exploration_pai"], g["last_year_pai"]),
                      "fit_s_mean": float(g["fit_s"].mean())})
    better = [t for t in table if not t["default"] and t["vs_default"]["lo"] > 0]
    chosen = max(better, key=lambda t: t["vs_last_year"]["mean"]) if better else next(t for t in table if t["default"])
    best = max(table, key=lambda t: t["vs_last_year"]["mean"])
    rule = ("judged by the margin over last year's top cells on the same area (PAI with safeguards minus theirs, per "
            "origin); the candidate with the largest mean margin among those whose paired 95% interval of the margin "
            "minus the default's lies above zero, else the default")
    return {"candidates": table, "chosen": {"model": chosen["model"], "min_spacing_m": chosen["min_spacing_m"]},
            "best_mean": {"model": best["model"], "min_spacing_m": best["min_spacing_m"]}, "rule": rule,
            "n_origins": int(ref.shape[0]), "first_origin": str(ref.index[0]), "last_origin": str(ref.index[-1])}


def summarise(rows: pd.DataFrame, chosen: dict) -> dict:
    g = rows[(rows["model"] == chosen["model"]) & (rows["min_spacing_m"] == chosen["min_spacing_m"])]
    plans = ["intel", "intel_no_exploration", *BASELINES]
    out = {"setting": chosen, "n_origins": int(len(g)), "first_origin": str(g["origin"].iloc[0]),
           "last_origin": str(g["origin"].iloc[-1]), "mean_incidents_per_week": float(g["n_week"].mean()),
           "mean_baseline_cells": float(g["baseline_cells"].mean()), "n_cells_mean": float(g["n_cells"].mean())}
    out["plans"] = {p: {**mean_interval(g[f"{p}_pai"]), "hit_rate": float(g[f"{p}_hit_rate"].mean()),
                        "area_share": float(g[f"{p}_area_share"].mean())} for p in plans}
    out["differences"] = {f"{who}_vs_{base}": paired(g[f"{who}_pai"], g[f"{base}_pai"])
                          for who in ("intel", "intel_no_exploration") for base in BASELINES}
    cost = paired(g["intel_no_exploration_pai"], g["intel_pai"])
    cost["relative"] = cost["mean"] / float(g["intel_no_exploration_pai"].mean())
    out["safeguard_cost"] = cost
    out["exploration_use"] = {key: float(g[f"exploration_{key}"].mean()) for key in ("places", "minutes", "cells")}
    return out


def report_rows(rows: pd.DataFrame, settings: list[dict]) -> dict:
    """Mean PAI with safeguards (and its difference from last year's top cells) of other settings on the report period."""
    out = {}
    for s in settings:
        g = rows[(rows["model"] == s["model"]) & (rows["min_spacing_m"] == s["min_spacing_m"])]
        out[f"{s['model']}/{s['min_spacing_m']:g}"] = {"intel_pai": float(g["intel_pai"].mean()),
                                                       "vs_last_year": paired(g["intel_pai"], g["last_year_pai"])}
    return out


# ---------------------------------------------------------------- 2. beats


def evaluate_beats(incidents, beats):
    origin = pd.Timestamp(HEADLINE, tz=incidents["occurred_at"].dt.tz)
    year = reported(incidents)
    year = year[(year["occurred_at"] >= origin - pd.Timedelta(days=365)) & (year["occurred_at"] < origin)]
    grid = intel.make_grid(beats, cell_size_m=CELL_M)
    cells = grid.assign(n=count_in_cells(assign_cells(year, grid), len(grid)))
    t0 = time.perf_counter()
    designed = intel.design_beats(cells, existing=beats, existing_id="beat_num", workload_days=365)
    seconds = time.perf_counter() - t0
    info = designed.attrs["beats"]
    real_pp = (4 * np.pi * beats.area / beats.length**2)
    spopt_rows = spopt_imbalance(cells, info["n_beats"])
    return {
        "n_beats": info["n_beats"], "n_cells": len(cells), "workload": "reported incidents, 365 days before " + HEADLINE,
        "designed_imbalance": info["imbalance"], "existing_imbalance": info["existing_imbalance"],
        "designed_compactness_mean": float(designed["compactness"].mean()),
        "designed_compactness_min": float(designed["compactness"].min()),
        "existing_compactness_mean": float(real_pp.mean()), "contiguous": info["contiguous"],
        "officers": designed["officers"].tolist(), "officer_rule": info["officer_rule"], "seconds": seconds,
        "spopt": spopt_rows,
    }


def spopt_imbalance(cells, k):
    """What spopt's regionalisers give on the same cells (they optimise other objectives than balance)."""
    import libpysal
    from spopt.region import RegionKMeansHeuristic, Skater

    from intel.patrol._beats import imbalance

    w = libpysal.weights.Queen.from_dataframe(cells, use_index=False, silence_warnings=True)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, make in (
            ("RegionKMeansHeuristic (centroid coordinates)",
             lambda: RegionKMeansHeuristic(np.column_stack([cells.centroid.x, cells.centroid.y]), k, w, seed=0)),
            ("Skater (attribute n)", lambda: Skater(cells.reset_index(drop=True), w, ["n"], n_clusters=k)),
        ):
            t0 = time.perf_counter()
            try:
                model = make()
                model.solve()
            except Exception as exc:  # report, do not fail the benchmark
                out[name] = {"error": repr(exc)}
                continue
            labels = np.asarray(model.labels_)
            loads = np.bincount(labels[labels >= 0], weights=cells["n"].to_numpy()[labels >= 0])
            out[name] = {"imbalance": imbalance(loads[loads > 0]), "seconds": time.perf_counter() - t0}
    return out


# ---------------------------------------------------------------- 3. feedback


def evaluate_feedback(incidents):
    origin = pd.Timestamp(HEADLINE, tz=incidents["occurred_at"].dt.tz)
    year = reported(incidents)
    year = year[(year["occurred_at"] >= origin - pd.Timedelta(days=365)) & (year["occurred_at"] < origin)]
    grid = intel.make_grid(year, cell_size_m=CELL_M)
    n = count_in_cells(assign_cells(year, grid), len(grid))
    rates = n[n > 0] / 52.0
    settings = {
        "chicago_d11_cells": dict(truth=rates, units=16, reported_share=0.5, discovery_per_patrol_minute=0.002),
        "ensign_flat": dict(truth=np.full(40, 2.0), units=4, reported_share=0.1, discovery_per_patrol_minute=0.005),
    }
    out = {}
    for name, cfg in settings.items():
        truth = cfg.pop("truth")
        for guard in (False, True):
            table = intel.simulate_feedback(truth, periods=52, safeguards=guard, random_state=0, **cfg)
            last = table.iloc[-1]
            out[f"{name}/{'on' if guard else 'off'}"] = {
                "n_areas": int(truth.size), **cfg,
                "gini_cumulative_week1": float(table["gini_cumulative"].iloc[0]),
                "gini_cumulative_week52": float(last["gini_cumulative"]),
                "top_share_week52": float(last["top_share"]),
                "patrolled_bias_last10": float(table["patrolled_bias"].iloc[-10:].mean()),
                "top_miss_last10": None if table["top_miss"].isna().all() else float(table["top_miss"].iloc[-10:].mean()),
                "rank_error_week52": None if pd.isna(last["rank_error"]) else float(last["rank_error"]),
                "discovered_share_week52": float(last["discovered_share"]),
            }
    return out


# ---------------------------------------------------------------- report


def _ci(d: dict, sign: str = "") -> str:
    return f"{d['mean']:{sign}.2f} [{d['lo']:{sign}.2f}, {d['hi']:{sign}.2f}]"


def _verdict(d: dict) -> str:
    return "better" if d["lo"] > 0 else "worse" if d["hi"] < 0 else "not distinguishable"


PLAN_LABELS = {
    "intel": "intel (with safeguards)",
    "intel_no_exploration": "intel without exploration",
    "last_month": "top cells, last 28 days (reported)",
    "last_year": "top cells, last 365 days (reported)",
    "all_last_month": "top cells, last 28 days (all recorded)",
    "all_last_year": "top cells, last 365 days (all recorded)",
}


def markdown(result: dict) -> str:
    sel, rep = result["selection"], result["report"]
    chosen = sel["chosen"]
    lines = [
        "# Patrol quality bar (Chicago district 11)", "",
        f"Command: `{result['command']}`", "",
        f"Data: {result['data']}. District {DISTRICT}, {CELL_M:g} m cells, {UNITS} units, shifts {', '.join(SHIFTS)}, "
        f"exploration share {EXPLORATION:g}; scored on next week's reported incidents. Intervals: 95% percentile "
        f"bootstrap over origins ({N_BOOT} resamples), paired per origin.", "",
        f"## Selection period: {sel['n_origins']} weekly origins, {sel['first_origin']} to {sel['last_origin']}", "",
        "Candidates: risk model x `min_spacing_m`; the library default is "
        f"`{result['default']['model']}` with `min_spacing_m={result['default']['min_spacing_m']:g}`. Rule: {sel['rule']}.", "",
        "| model | min_spacing_m | cells a shift | mean PAI (with safeguards) | without exploration | minus last 365 days, same area [95% CI] | margin minus the default's [95% CI] | fit (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in sel["candidates"]:
        lines.append(f"| {t['model']}{' (default)' if t['default'] else ''} | {t['min_spacing_m']:g} | {t['baseline_cells']:.1f} | "
                     f"{t['intel_pai']:.2f} | {t['intel_no_exploration_pai']:.2f} | {_ci(t['vs_last_year'], '+')} | "
                     f"{_ci(t['vs_default'], '+')} | "
                     f"{t['fit_s_mean']:.1f} |")
    lines += ["", f"Chosen: `{chosen['model']}`, `min_spacing_m={chosen['min_spacing_m']:g}`"
              + (" (the library default: no candidate beats it beyond noise)." if chosen == result["default"] else "."), ""]
    lines += [
        f"## Report period: {rep['n_origins']} weekly origins, {rep['first_origin']} to {rep['last_origin']}", "",
        f"Setting: `{chosen['model']}`, `min_spacing_m={chosen['min_spacing_m']:g}`. Mean {rep['mean_incidents_per_week']:.0f} "
        f"reported incidents a week; the baselines patrol {rep['mean_baseline_cells']:.1f} cells a shift on average "
        f"(as many as the intel plan) of {rep['n_cells_mean']:.0f}.", "",
        "| plan | mean PAI [95% CI] | hit rate | area share |", "|---|---|---|---|",
        *[f"| {PLAN_LABELS[p]} | {_ci(v)} | {v['hit_rate']:.1%} | {v['area_share']:.2%} |" for p, v in rep["plans"].items()], "",
        "Paired differences (intel minus baseline, per origin):", "",
        "| intel plan | baseline | mean difference [95% CI] | verdict | wins / ties / losses |", "|---|---|---|---|---|",
        *[f"| {key.split('_vs_')[0]} | {key.split('_vs_')[1]} | {_ci(v, '+')} | {_verdict(v)} | "
          f"{v['wins']} / {v['ties']} / {v['losses']} |" for key, v in rep["differences"].items()], "",
    ]
    cost, use = rep["safeguard_cost"], rep["exploration_use"]
    lines += [
        "### Safeguard cost", "",
        f"PAI without exploration minus with: {_ci(cost, '+')} ({cost['relative']:.1%} of the PAI without it; "
        f"the exploration plan loses {cost['wins']} of {rep['n_origins']} weeks). The exploration safeguard takes "
        f"{use['places']:.1%} of the places and {use['minutes']:.1%} of the patrol minutes (a share of places, each "
        f"with the same visits; {EXPLORATION:g} of 8 places a shift rounds to 1) and {use['cells']:.1%} of the patrolled "
        "cells (exploration places are single cells; risk places may merge adjacent cells), drawn toward low-ranked "
        "cells where next week's incidents are rare: so its PAI cost is about its share of the patrolled area, "
        "less the hits of the weakest risk place it replaces.", "",
    ]
    ly, ly_off = rep["differences"]["intel_vs_last_year"], rep["differences"]["intel_no_exploration_vs_last_year"]
    lm = rep["differences"]["intel_vs_last_month"]
    lines += [
        "### Verdict", "",
        f"- against the top cells of the last 28 days: intel with safeguards is {_verdict(lm)} ({_ci(lm, '+')});",
        f"- against the top cells of the last 365 days: intel with safeguards is {_verdict(ly)} ({_ci(ly, '+')}); "
        f"without exploration {_verdict(ly_off)} ({_ci(ly_off, '+')}).", "",
    ]
    if result.get("report_others"):
        lines += ["Other settings on the report period, for information (not used to choose): "
                  + "; ".join(f"{k}: PAI {v['intel_pai']:.2f}, minus last 365 days {_ci(v['vs_last_year'], '+')}"
                              for k, v in result["report_others"].items()) + ".", ""]
    lines += also_tried_lines(result.get("also_tried"))
    lines += rankings_lines(result.get("rankings"))
    b = result["beats"]
    lines += [
        "## Beats", "",
        f"{b['n_beats']} beats from {b['n_cells']} cells of {CELL_M:g} m; workload: {b['workload']}.", "",
        "| beats | imbalance (max / mean workload) | mean compactness (Polsby-Popper) |", "|---|---|---|",
        f"| designed | {b['designed_imbalance']:.3f} | {b['designed_compactness_mean']:.2f} |",
        f"| existing CPD beats | {b['existing_imbalance']:.3f} | {b['existing_compactness_mean']:.2f} |",
        *[f"| spopt {name} | {v['imbalance']:.3f} | |" if "imbalance" in v else f"| spopt {name} | failed: {v['error']} | |"
          for name, v in b["spopt"].items()], "",
        "## Feedback simulation (52 weeks)", "",
        "| setting | safeguards | cumulative Gini week 1 -> 52 | top share week 52 | patrolled bias (last 10) | top miss (last 10) |",
        "|---|---|---|---|---|---|",
    ]
    for key, v in result["feedback"].items():
        name, guard = key.split("/")
        lines.append(f"| {name} | {guard} | {v['gini_cumulative_week1']:.2f} -> {v['gini_cumulative_week52']:.2f} | "
                     f"{v['top_share_week52']:.2f} | {v['patrolled_bias_last10']:.2f} | "
                     + ("n/a (flat truth)" if v["top_miss_last10"] is None else f"{v['top_miss_last10']:.2f}") + " |")
    lines += ["", "Patrolled bias: the forecast's share of incidents in the patrolled areas over their true share "
              "(1 = honest data). Top share: share of all patrol minutes so far in the `units` most patrolled areas.", ""]
    return "\n".join(lines)


ALSO_TRIED_LABELS = {
    "default": "naive, 300 m (the default)",
    "gbm": "GradientBoostingRisk (`gbm`)",
    "glm_features": "Poisson GLM, leading indicators",
    "gbm_features": "Poisson boosting, leading indicators",
    "glm_shift": "Poisson GLM per shift, leading indicators",
    "gbm_shift": "Poisson boosting per shift, leading indicators",
    "explore_expected": "exploration rounded in expectation",
    "explore_uncertain": "exploration toward uncertain cells",
    "blend_shift": "mean of the default and the per-shift GLM",
}


def also_tried_lines(also: dict | None) -> list[str]:
    """The "Also tried" section, from benchmarks/results/quality_patrol_also_tried.json (selection period only)."""
    if not also:
        return []
    lines = [
        f"## Also tried (selection period only, {also['n_origins']} origins, {also['first_origin']} to "
        f"{also['last_origin']})", "",
        f"Command: `{also['command']}` (variants are described in its docstring). Same origins, seeds, shifts and "
        "baselines as above; the same rule: adopt only if the margin over last year's top cells minus the default's "
        "has a paired 95% interval above zero.", "",
        "| variant | mean PAI (with safeguards) | without exploration | exploration places | minus last 365 days [95% CI] "
        "| margin minus the default's [95% CI] | without exploration: margin minus the default's [95% CI] | fit beyond the default (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, v in also["variants"].items():
        lines.append(f"| {ALSO_TRIED_LABELS.get(name, name)} | {v['intel_pai']:.2f} | {v['intel_no_exploration_pai']:.2f} | "
                     f"{v['exploration_places']:.1%} | {_ci(v['vs_last_year'], '+')} | {_ci(v['vs_default'], '+')} | "
                     f"{_ci(v['no_exploration_vs_default'], '+')} | {v['fit_s_mean']:.1f} |")
    lines += ["", *also.get("notes", []), ""]
    return lines


def rankings_lines(rankings: dict | None) -> list[str]:
    """The "Rankings" section, from benchmarks/results/quality_patrol_rankings.json."""
    if not rankings:
        return []
    periods = rankings["periods"]
    lines = [
        "## Rankings: could a better count of the past open the gap?", "",
        "Command: `.venv/bin/python benchmarks/quality_patrol_rankings.py` (its docstring says how). The same "
        f"{rankings['cells_per_shift']} cells in every shift, chosen by each ranking, against the top cells of the "
        "365-day count; paired per origin on both periods (a ranking that wins only on the selection weeks won "
        "by chance).", "",
        "| ranking | mean PAI, selection | minus 365 days, selection [95% CI] | mean PAI, report | "
        "minus 365 days, report [95% CI] |", "|---|---|---|---|---|",
    ]
    for name, sel in periods["selection"]["rankings"].items():
        rep = periods["report"]["rankings"][name]
        lines.append(f"| {name} | {sel['mean_pai']:.2f} | {_ci(sel['minus_365_days'], '+')} | {rep['mean_pai']:.2f} | "
                     f"{_ci(rep['minus_365_days'], '+')} |")
    return lines + [""]


def compact(rows: pd.DataFrame) -> dict:
    """Per-origin rows as columns of values rounded to 4 decimals (the intervals can be recomputed from them)."""
    keep = ["origin", "model", "min_spacing_m", "n_week", "baseline_cells", "intel_pai", "intel_no_exploration_pai",
            *[f"{b}_pai" for b in BASELINES], "exploration_cells"]
    return {c: [round(v, 4) if isinstance(v, float) else v for v in rows[c].tolist()] for c in keep}


def weekly(start: str, n: int) -> list[str]:
    return [d.date().isoformat() for d in pd.date_range(start, periods=n, freq="7D")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bundled sample, 4 origins per period, one model")
    args = parser.parse_args()
    t0 = time.perf_counter()
    incidents, beats, source = load(args.quick)
    n_origins = 4 if args.quick else N_ORIGINS
    models = (DEFAULT_MODEL,) if args.quick else MODELS
    default = {"model": DEFAULT_MODEL, "min_spacing_m": DEFAULT_SPACING}
    candidates = [(m, s) for m in models for s in SPACINGS]
    selection_rows = evaluate_plans(incidents, weekly(SELECTION_START, n_origins), candidates)
    selection = select(selection_rows, (default["model"], default["min_spacing_m"]))
    chosen = selection["chosen"]
    others = [s for s in (default, selection["best_mean"]) if s != chosen]
    others = [s for i, s in enumerate(others) if s not in others[:i]]
    report_origins = weekly(REPORT_START, n_origins)
    report = evaluate_plans(incidents, report_origins,
                            [(chosen["model"], chosen["min_spacing_m"])] + [(s["model"], s["min_spacing_m"]) for s in others])
    command = ".venv/bin/python benchmarks/quality_patrol.py" + (" --quick" if args.quick else "")
    result = {
        "data": source, "n_incidents": int(len(incidents)), "command": command, "default": default,
        "settings": {"district": DISTRICT, "shifts": SHIFTS, "units": UNITS, "cell_size_m": CELL_M,
                     "exploration_share": EXPLORATION, "discovered_categories": DISCOVERED, "models": list(models),
                     "min_spacings_m": list(SPACINGS), "selection_origins": weekly(SELECTION_START, n_origins),
                     "report_origins": report_origins, "n_boot": N_BOOT},
        "selection": selection,
        "report": summarise(report, chosen),
        "report_others": report_rows(report, others),
        "rows": {"selection": compact(selection_rows), "report": compact(report)},
        "beats": evaluate_beats(incidents, beats),
        "feedback": evaluate_feedback(incidents),
    }
    also = RESULTS / "quality_patrol_also_tried.json"
    if not args.quick and also.is_file():
        result["also_tried"] = {k: v for k, v in json.loads(also.read_text()).items() if k != "rows"}
    ranked = RESULTS / "quality_patrol_rankings.json"
    if not args.quick and ranked.is_file():
        result["rankings"] = json.loads(ranked.read_text())
    result["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "quality_patrol_quick" if args.quick else "quality_patrol"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    text = markdown(result)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
