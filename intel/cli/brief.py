"""``intel brief``: the weekly briefing (HTML, JSON and CSV tables) in one scheduled command."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from . import _options as opt
from ._output import print_json

INPUTS = typer.Argument(..., help="Incident file(s): one or more files of one layout (e.g. a year per file), a "
                        "pattern such as 'data/crimes_*.csv.gz', or a directory (its incident files are read "
                        "together). CSV/TSV[.gz|.zip], Excel, Parquet, GeoJSON, GeoPackage, Shapefile, or a "
                        "SQLAlchemy URL.")
WEEK = typer.Option(None, "--week", help="ISO week to brief on, e.g. 2018-W44 (or a date in it); default the last "
                    "whole week in the data.")
AREA_COLUMN = typer.Option(None, "--area-column", help="Column naming areas in the incidents, e.g. district.")
AREA = typer.Option(None, "--area", help="The area to brief on (with --area-column), e.g. 11.")
CELL_SIZE = typer.Option(None, "--cell-size-m", help="Grid cell size in metres (150, about a city block, when omitted).")
MODEL = typer.Option("best", "--model", help="Forecast model: best (the 52-week count unless kde, prospective or sepp "
                     "beats it in the backtest), or one of naive, kde, stkde, prospective, sepp, ksepp, gbm, ensemble.")
UNITS = typer.Option(2, "--units", help="Patrol units per shift in the plan.")
SHIFTS = typer.Option("06-14,14-22,22-06", "--shifts", help="Shifts of the patrol plan as HH-HH, comma-separated.")
SEED = typer.Option(0, "--seed", help="Seed of every random step (fixed, so that reruns give the same files).")
OUT = typer.Option(..., "--out", help="Directory for briefing.html, briefing.json and the CSV tables.")
JSON = typer.Option(False, "--json", help="Print a summary (week, counts, highlights, files written ...) as one JSON "
                    "object on stdout.")

# The --json contract: add keys, never rename them.
JSON_KEYS = ("week", "title", "highlights", "counts", "hotspots", "emerging", "near_repeat", "forecast", "patrol",
             "n_incidents", "automatic", "warnings", "out", "files")


def command(
    # str, not Path: a Path would fold the '///' of a SQLAlchemy URL such as sqlite:///crimes.db
    input: list[str] = INPUTS,
    schema: str | None = opt.SCHEMA,
    mapping: list[str] = opt.MAP,
    tz: str | None = opt.TZ,
    crs: str | None = opt.CRS,
    table: str | None = opt.TABLE,
    query: str | None = opt.QUERY,
    category: list[str] = opt.CATEGORY,
    start: str | None = opt.START,
    end: str | None = opt.END,
    week: str | None = WEEK,
    area_column: str | None = AREA_COLUMN,
    area: str | None = AREA,
    cell_size_m: float | None = CELL_SIZE,
    model: str = MODEL,
    units: int = UNITS,
    shifts: str = SHIFTS,
    seed: int = SEED,
    out: Path = OUT,
    progress: bool = opt.PROGRESS,
    json: bool = JSON,
) -> None:
    """Write the weekly briefing: counts against the usual, hot spots, emerging patterns, near repeats, next week's
    forecast with its backtest, a patrol plan with its safeguards, data quality and provenance."""
    from ..briefing import build_briefing
    from ..io._readers import expand_directories

    sources = expand_directories(input)
    incidents, result = opt.load_from_options(sources if len(sources) > 1 else sources[0], schema=schema,
                                              mapping=mapping, tz=tz, crs=crs, table=table, query=query,
                                              categories=category, start=start, end=end)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        briefing = build_briefing(incidents, week=week, area_column=area_column, area=area,
                                  cell_size_m=cell_size_m, model=model, load_report=result.report, shifts=shifts,
                                  units=units, random_state=seed, progress=opt.show_progress(progress))
    messages = list(dict.fromkeys(str(w.message) for w in caught
                                  if not issubclass(w.category, (DeprecationWarning, FutureWarning))))
    for text in messages:  # one readable line each, not Python's file:line form
        typer.echo(f"intel: warning: {text}", err=True)
    paths = briefing.write(out)
    data = briefing.data
    if json:
        print_json(_summary(data, out, paths, messages))
        return
    typer.echo(data["title"])
    for line in data["highlights"]:
        typer.echo(f"  - {line}")
    typer.echo(f"Written to {out}: briefing.html (open it in any browser; it needs no network), briefing.json and "
               f"{len(paths) - 2} CSV tables.")


def _summary(data: dict[str, Any], out: Path, paths: dict[str, Path], warnings_: list[str]) -> dict[str, Any]:
    f = data["forecast"]
    return {
        "week": data["week"],
        "title": data["title"],
        "highlights": data["highlights"],
        "counts": data["counts"]["comparisons"],
        "hotspots": {"top": data["hotspots"]["top"], "classes": data["hotspots"]["classes"]},
        "emerging": data["emerging"].get("categories", {}),
        "near_repeat": {"n_zones": data["near_repeat"]["n_zones"], "pattern": data["near_repeat"]["pattern"],
                        "categories": data["near_repeat"]["categories"]},
        "forecast": {"model": f["model"], "expected_total": f["expected_total"], "verdict": f["backtest"]["verdict"],
                     "n_origins": f["backtest"]["n_origins"]},
        "patrol": {"date": data["patrol"]["date"], "places": len(data["patrol"]["places"]),
                   "safeguards": {k: v.get("on") for k, v in data["patrol"]["safeguards"].items()}},
        "n_incidents": data["data_quality"]["n_analysed"],
        "automatic": data["provenance"]["automatic"],
        "warnings": warnings_,
        "out": str(out),
        "files": {name: str(path) for name, path in sorted(paths.items())},
    }


def register(app: typer.Typer) -> None:
    app.command("brief")(command)
