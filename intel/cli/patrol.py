"""``intel patrol``: a shift-by-shift patrol plan for a day, with its safeguards, as a file and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from . import _options as opt
from ._output import print_json, write_table

DATE = typer.Option(..., "--date", help="Day the plan is for (YYYY-MM-DD); the risk is learnt from incidents before it.")
SHIFTS = typer.Option("06-14,14-22,22-06", "--shifts", help="Shifts as HH-HH, comma-separated; 22-06 crosses midnight.")
UNITS = typer.Option(2, "--units", help="Patrol units available in each shift.")
AREA_COLUMN = typer.Option(None, "--area-column", help="Column naming areas in the incidents, e.g. district or beat.")
AREA = typer.Option(None, "--area", help="The area to plan for (with --area-column), e.g. 11.")
CELL_SIZE = typer.Option(150.0, "--cell-size-m", help="Grid cell size in metres (about a city block by default).")
MODEL = typer.Option("naive", "--model", help="Risk model: naive (the 52-week count), kde, stkde, prospective, sepp, "
                     "ksepp, gbm or ensemble (see `intel forecast --help`).")
VISIT_MINUTES = typer.Option(15, "--visit-minutes", help="Length of one visit (Koper: 10 to 15 minutes).")
EXPLORATION = typer.Option(0.1, "--exploration-share", help="Safeguard: share of places drawn at random, weighted "
                           "toward lower-risk cells (0 turns it off, which the plan records).")
MAX_SHARE = typer.Option(None, "--max-share-per-area", help="Safeguard: cap on any one sub-area's share of patrol "
                         "minutes (needs --cap-column).")
CAP_COLUMN = typer.Option(None, "--cap-column", help="Column naming the sub-areas the cap applies to, e.g. beat.")
INCLUDE_DISCOVERED = typer.Option(False, "--include-discovered", help="Also learn from incidents discovered by police "
                                  "activity (warns: it feeds patrols back into the forecast).")
DISCOVERED = typer.Option([], "--discovered-category", help="A category that police mostly discover themselves, e.g. "
                          "NARCOTICS (repeatable); such incidents are left out of the risk unless --include-discovered.")
SEED = typer.Option(None, "--seed", help="Seed for exploration and visit times; by default a fresh one, recorded in the "
                    "provenance file, so times cannot be predicted but the plan can be reproduced.")
VISIT_LOG = typer.Option(None, "--visit-log", help="Also write the visit log for officers to fill in (CSV).")
OUT = typer.Option(..., "--out", help="Plan file: .geojson, .gpkg, .csv or .parquet.")
JSON = typer.Option(False, "--json", help="Print the plan (shifts, places, minutes, safeguards) as one JSON object.")

# The --json contract: add keys, never rename them.
JSON_KEYS = ("shifts", "safeguards", "date", "model", "units", "out")


def command(
    input: str = opt.INPUT,
    schema: str | None = opt.SCHEMA,
    mapping: list[str] = opt.MAP,
    tz: str | None = opt.TZ,
    crs: str | None = opt.CRS,
    table: str | None = opt.TABLE,
    query: str | None = opt.QUERY,
    category: list[str] = opt.CATEGORY,
    start: str | None = opt.START,
    end: str | None = opt.END,
    date: str = DATE,
    shifts: str = SHIFTS,
    units: int = UNITS,
    area_column: str | None = AREA_COLUMN,
    area: str | None = AREA,
    cell_size_m: float = CELL_SIZE,
    model: str = MODEL,
    visit_minutes: int = VISIT_MINUTES,
    exploration_share: float = EXPLORATION,
    max_share_per_area: float | None = MAX_SHARE,
    cap_column: str | None = CAP_COLUMN,
    include_discovered: bool = INCLUDE_DISCOVERED,
    discovered_category: list[str] = DISCOVERED,
    seed: int | None = SEED,
    visit_log: Path | None = VISIT_LOG,
    out: Path = OUT,
    json: bool = JSON,
) -> None:
    """Plan where and when each shift patrols (compact places, Koper visits, randomised times), with safeguards."""
    from ..patrol import build_visit_log
    from ..patrol._risk import plan_from_incidents

    incidents, _ = opt.load_from_options(input, schema=schema, mapping=mapping, tz=tz, crs=crs, table=table,
                                         query=query, categories=category, start=start, end=end)
    plan = plan_from_incidents(
        incidents, date=date, shifts=shifts, area_column=area_column, area=area, cell_size_m=cell_size_m,
        model=model, include_discovered=include_discovered, discovered_categories=discovered_category or None,
        units=units, visit_minutes=visit_minutes, exploration_share=exploration_share,
        max_share_per_area=max_share_per_area, cap_column=cap_column, random_state=seed,
    )
    write_table(_flat(plan), out)
    if visit_log is not None:
        visit_log.parent.mkdir(parents=True, exist_ok=True)
        build_visit_log(plan).to_csv(visit_log, index=False)
    if json:
        print_json(plan_json(plan, out))
    else:
        for s in plan.attrs["shifts"]:
            typer.echo(f"{s['shift']}: {s['places']} places, {s['minutes_planned']} of {s['minutes_available']} unit-minutes "
                       f"planned, {s['expected_share']:.1%} of the shift's risk")
        typer.echo(f"Wrote {out}" + (f" and {visit_log}" if visit_log else ""))


def plan_json(plan: Any, out: Path) -> dict[str, Any]:
    """The ``--json`` document (keys are a contract: add, never rename)."""
    shifts = []
    for s in plan.attrs["shifts"]:
        part = plan[plan["shift"] == s["shift"]]
        places = [{
            "place_id": r.place_id, "cell_ids": list(r.cell_ids), "minutes": int(r.minutes), "visits": int(r.visits),
            "expected_share": float(r.expected_share), "reason": r.reason, "unit": int(r.unit),
            "selection": r.selection, "visit_times": list(r.visit_times),
        } for r in part.itertuples(index=False)]
        shifts.append({**s, "places": places, "n_places": s["places"]})
    record = plan.attrs.get("scores", {}).get("patrol_scores", {})
    return {"shifts": shifts, "safeguards": plan.attrs["safeguards"], "date": plan.attrs["patrol"]["date"],
            "model": record.get("model"), "area": record.get("area"), "units": plan.attrs["patrol"]["units"],
            "seed": plan.attrs["provenance"]["seed"], "out": str(out)}


def _flat(plan: Any) -> Any:
    """Lists as space-separated text, so every file format can hold them."""
    flat = plan.copy()
    for column in ("cell_ids", "visit_times"):
        flat[column] = plan[column].map(" ".join)
    return flat


def register(app: typer.Typer) -> None:
    app.command("patrol")(command)
