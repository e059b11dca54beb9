"""Quality bar for patrol plans, beats and the feedback safeguards, on real Chicago data.

    .venv/bin/python benchmarks/quality_patrol.py [--quick]

1. Plans. For CPD district 11 and the week after each origin (a Monday), the plan made by
   ``intel patrol`` (the same code path: ``plan_from_incidents``, 2 units, 3 shifts, the
   52-week count, narcotics/weapons/vice offences treated as discovered and left out)
   is scored on next week's reported incidents: PAI = (share of the week's incidents
   that fell in a shift's patrolled cells during that shift) / (share of the district's
   area patrolled, averaged over the shifts by their length). It is compared with
   plans that patrol, in every shift, the same number of cells taken from the top of
   the last 28 days' and the last 365 days' counts (of reported incidents, the same
   data intel sees, and of all recorded incidents, as a plan made without the
   reported-only safeguard would), and with the intel plan without its exploration
   safeguard (the safeguard's cost in PAI).
2. Beats. ``design_beats`` on the district's 150 m cells (workload: reported incidents
   over the year before the headline date) against the 15 real beats, on the same
   workloads.
3. Feedback. ``simulate_feedback`` with the district's cells as areas (true weekly rates:
   the year's counts / 52) and Ensign et al.'s flat setting, with and without safeguards.

Writes benchmarks/results/quality_patrol.json and .md. ``--quick`` reads the bundled
sample (the same district and years) and uses fewer origins.
"""

from __future__ import annotations

import argparse
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
from intel.grid import assign_cells, count_in_cells  # noqa: E402
from intel.patrol._common import parse_shifts  # noqa: E402
from intel.patrol._risk import build_patrol_scores  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "chicago_crimes_2012_2018"
RESULTS = REPO / "benchmarks" / "results"
DISTRICT = 11
HEADLINE = "2018-06-04"
SHIFTS = ("06-14", "14-22", "22-06")
UNITS = 2
CELL_M = 150.0
# offences that mostly come to light through police activity (Chicago has no detection field)
DISCOVERED = ["NARCOTICS", "OTHER NARCOTIC VIOLATION", "WEAPONS VIOLATION", "CONCEALED CARRY LICENSE VIOLATION",
              "PROSTITUTION", "GAMBLING", "LIQUOR LAW VIOLATION", "PUBLIC INDECENCY", "INTERFERENCE WITH PUBLIC OFFICER"]


def load(quick: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if quick or not SHARED.is_dir():
            source = "bundled sample chicago_district11 (2016-01-01 to 2018-11-12)"
            incidents = intel.load_sample("chicago_district11")
        else:
            source = f"shared data {SHARED.name}, 2016-2018 files, district {DISTRICT}"
            frames = [intel.read_incidents(SHARED / f"chicago_crimes_{y}.csv.gz") for y in (2016, 2017, 2018)]
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


def plan_cells(scores, *, seed, exploration_share):
    plan = intel.recommend_patrols(scores, shifts=SHIFTS, units=UNITS, exploration_share=exploration_share,
                                   random_state=seed)
    return {s: {c for ids in plan.loc[plan["shift"] == s, "cell_ids"] for c in ids} for s in SHIFTS}, plan


def evaluate_plans(incidents, origins, models):
    shifts = parse_shifts(SHIFTS, "bench")
    data = reported(incidents)
    rows = []
    for k, day in enumerate(origins):
        origin = pd.Timestamp(day, tz=incidents["occurred_at"].dt.tz)
        week = data[(data["occurred_at"] >= origin) & (data["occurred_at"] < origin + pd.Timedelta(days=7))]
        for model in models:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = build_patrol_scores(incidents, date=day, shifts=SHIFTS, cell_size_m=CELL_M, model=model,
                                             discovered_categories=DISCOVERED)
            fit_s = time.perf_counter() - t0
            grid = scores
            on, plan = plan_cells(scores, seed=k, exploration_share=0.1)
            off, _ = plan_cells(scores, seed=k, exploration_share=0.0)
            row = {"origin": day, "model": model, "n_week": len(week), "n_cells": len(grid), "fit_s": fit_s}
            row["intel_pai"], row["intel_hit_rate"], row["intel_area_share"] = pai_of(on, week, grid, shifts)
            row["intel_no_exploration_pai"], _, _ = pai_of(off, week, grid, shifts)
            if model == models[0]:
                # baselines patrol the same area: as many cells as the intel plan, in every shift
                k_cells = round(np.mean([len(on[s]) for s in SHIFTS]))
                for source, table in (("", data), ("all_", incidents)):
                    history = table[table["occurred_at"] < origin]
                    for name, days in (("last_month", 28), ("last_year", 365)):
                        cells = top_cells(history, grid, origin, days, k_cells)
                        key = f"{source}{name}"
                        row[f"{key}_pai"], row[f"{key}_hit_rate"], row[f"{key}_area_share"] = pai_of(
                            {s: cells for s in SHIFTS}, week, grid, shifts)
            rows.append(row)
    return pd.DataFrame(rows)


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


def summarise(plans: pd.DataFrame) -> dict:
    first = plans[plans["model"] == plans["model"].iloc[0]]
    head = first[first["origin"] == HEADLINE].iloc[0] if (first["origin"] == HEADLINE).any() else first.iloc[0]
    summary = {"headline_origin": head["origin"], "headline": {k: float(head[k]) for k in head.index
                                                                if k.endswith(("_pai", "_hit_rate", "_area_share"))}}
    means = {c: float(first[c].mean()) for c in first.columns if c.endswith("_pai")}
    summary["mean_over_origins"] = means
    for who in ("intel", "intel_no_exploration"):
        for base in ("last_month", "last_year", "all_last_month", "all_last_year"):
            a, b = first[f"{who}_pai"], first[f"{base}_pai"]
            summary[f"{who}_vs_{base}"] = {"wins": int((a > b).sum()), "ties": int((a == b).sum()),
                                           "losses": int((a < b).sum()), "mean_difference": float((a - b).mean())}
    summary["n_origins"] = int(len(first))
    summary["safeguard_cost_pai_mean"] = float((first["intel_no_exploration_pai"] - first["intel_pai"]).mean())
    summary["by_model"] = {m: {"intel_pai_mean": float(g["intel_pai"].mean()),
                               "intel_no_exploration_pai_mean": float(g["intel_no_exploration_pai"].mean()),
                               "fit_s_mean": float(g["fit_s"].mean())} for m, g in plans.groupby("model", sort=False)}
    return summary


def markdown(result: dict) -> str:
    s = result["plans"]["summary"]
    h = s["headline"]
    lines = [
        "# Patrol quality bar (Chicago district 11)", "",
        f"Data: {result['data']}. Command: `{result['command']}`.", "",
        f"## Plans: PAI on the week after {s['headline_origin']}", "",
        "| plan | PAI | hit rate | area share |", "|---|---|---|---|",
        f"| intel (with safeguards) | {h['intel_pai']:.2f} | {h['intel_hit_rate']:.1%} | {h['intel_area_share']:.2%} |",
        f"| intel without exploration | {h['intel_no_exploration_pai']:.2f} | | |",
        f"| top cells, last 28 days (reported) | {h['last_month_pai']:.2f} | {h['last_month_hit_rate']:.1%} | {h['last_month_area_share']:.2%} |",
        f"| top cells, last 365 days (reported) | {h['last_year_pai']:.2f} | {h['last_year_hit_rate']:.1%} | {h['last_year_area_share']:.2%} |",
        f"| top cells, last 28 days (all recorded) | {h['all_last_month_pai']:.2f} | {h['all_last_month_hit_rate']:.1%} | {h['all_last_month_area_share']:.2%} |",
        f"| top cells, last 365 days (all recorded) | {h['all_last_year_pai']:.2f} | {h['all_last_year_hit_rate']:.1%} | {h['all_last_year_area_share']:.2%} |",
        "",
        f"Over {s['n_origins']} weekly origins from {s['headline_origin']}, mean PAI:", "",
        "| plan | mean PAI |", "|---|---|",
        *[f"| {k[:-4]} | {v:.2f} |" for k, v in s["mean_over_origins"].items()], "",
        "Week by week (wins / ties / losses of intel against each baseline, and the mean PAI difference):", "",
        "| intel plan | baseline | wins | ties | losses | mean difference |", "|---|---|---|---|---|---|",
        *[f"| {key.split('_vs_')[0]} | {key.split('_vs_')[1]} | {v['wins']} | {v['ties']} | {v['losses']} | {v['mean_difference']:+.2f} |"
          for key, v in s.items() if "_vs_" in key], "",
        f"Safeguard cost (PAI without exploration minus with, mean over weeks): {s['safeguard_cost_pai_mean']:+.2f}.", "",
        "By model (same origins): " + "; ".join(f"{m}: PAI {v['intel_pai_mean']:.2f} (no exploration "
                                               f"{v['intel_no_exploration_pai_mean']:.2f}), fit {v['fit_s_mean']:.1f} s"
                                               for m, v in s["by_model"].items()), "",
        "## Beats", "",
    ]
    b = result["beats"]
    lines += [
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bundled sample, fewer origins, one model")
    args = parser.parse_args()
    t0 = time.perf_counter()
    incidents, beats, source = load(args.quick)
    n_origins = 4 if args.quick else 20
    origins = [d.date().isoformat() for d in pd.date_range(HEADLINE, periods=n_origins, freq="7D")]
    models = ["naive"] if args.quick else ["naive", "ensemble", "sepp", "kde"]
    plans = evaluate_plans(incidents, origins, models)
    result = {
        "data": source, "n_incidents": int(len(incidents)),
        "command": "benchmarks/quality_patrol.py" + (" --quick" if args.quick else ""),
        "settings": {"district": DISTRICT, "shifts": SHIFTS, "units": UNITS, "cell_size_m": CELL_M,
                     "discovered_categories": DISCOVERED, "models": models, "origins": origins},
        "plans": {"summary": summarise(plans), "rows": plans.to_dict(orient="records")},
        "beats": evaluate_beats(incidents, beats),
        "feedback": evaluate_feedback(incidents),
    }
    result["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "quality_patrol_quick" if args.quick else "quality_patrol"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    text = markdown(result)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
