"""``intel emerging``: emerging hot spot categories per cell (space-time cube, Gi*, Mann-Kendall)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from . import _options as opt
from ._output import print_json, write_table
from .hotspots import _parse_neighbours

CELL_SIZE = typer.Option(None, "--cell-size-m", help="Cell size in metres; chosen from the data (and reported) when omitted.")
SHAPE = typer.Option("square", "--shape", help="Cell shape: square or hex.")
FREQ = typer.Option("W-MON", "--freq", help="Period length: W-MON (weeks from Monday), D, MS (months), h ...")
TIME_LAG = typer.Option(1, "--time-lag", help="Earlier periods in each bin's space-time neighbourhood.")
NEIGHBOURS = typer.Option("queen", "--neighbours", help="queen, rook, or a distance in metres between cell centres.")
PERMUTATIONS = typer.Option(0, "--permutations", help="0: analytic p-values (as ArcGIS); N: pseudo p-values from N "
                            "random draws per period.")
CORRECTION = typer.Option("fdr_bh", "--correction", help="Multiple-testing correction across bins: fdr_bh, "
                          "bonferroni or none.")
SEED = typer.Option(0, "--seed", help="Seed of the permutations (fixed, so that reruns give the same result).")
OUT = typer.Option(..., "--out", help="Output file: .geojson, .gpkg, .csv, .parquet or .html (map).")
JSON = typer.Option(False, "--json", help="Print the number of cells in each of the 17 categories, the cube's size "
                    "and the parameters as one JSON object.")

# The --json contract: add keys, never rename them.
JSON_KEYS = ("categories", "n_cells", "n_periods", "freq", "parameters", "automatic", "n_incidents", "out")


def command(
    # str, not Path: a Path would fold the '///' of a SQLAlchemy URL such as sqlite:///crimes.db
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
    cell_size_m: float | None = CELL_SIZE,
    shape: str = SHAPE,
    freq: str = FREQ,
    time_lag: int = TIME_LAG,
    neighbours: str = NEIGHBOURS,
    permutations: int = PERMUTATIONS,
    correction: str = CORRECTION,
    seed: int = SEED,
    out: Path = OUT,
    json: bool = JSON,
) -> None:
    """Find new, intensifying, persistent, diminishing ... hot and cold spots (ArcGIS Pro's 17 categories)."""
    from ..cube import build_cube
    from ..emerging import CATEGORIES, classify_emerging
    from ..grid import make_grid

    incidents, result = opt.load_from_options(input, schema=schema, mapping=mapping, tz=tz, crs=crs, table=table,
                                              query=query, categories=category, start=start, end=end)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid = make_grid(incidents, cell_size_m=cell_size_m, shape=shape)
        cube = build_cube(incidents, grid, freq=freq, start=start, end=end)
        scores = classify_emerging(cube, grid, neighbours=_parse_neighbours(neighbours), time_lag=time_lag,
                                   permutations=permutations, correction=correction, random_state=seed)
    for w in caught:  # one readable line each, not Python's file:line form
        typer.echo(f"intel: warning: {w.message}", err=True)
    write_table(scores, out, html_map=_html_map)
    record = scores.attrs.get("provenance", {})
    categories = {label: int(record.get("categories", {}).get(label, 0)) for label in CATEGORIES}
    if json:
        automatic = {**result.report.get("automatic", {}),
                     **grid.attrs.get("provenance", {}).get("automatic", {}),
                     **cube.attrs.get("provenance", {}).get("automatic", {})}
        print_json({
            "categories": categories,
            "n_cells": len(scores),
            "n_periods": int(cube.attrs["cube"]["periods"]),
            "freq": cube.attrs["cube"]["freq"],
            "parameters": {**record.get("parameters", {}), "cell_size_m": grid.attrs["grid"]["cell_size_m"],
                           "shape": shape, "start": cube.attrs["cube"]["start"], "end": cube.attrs["cube"]["end"]},
            "automatic": automatic,
            "n_incidents": len(incidents),
            "out": str(out),
        })
    else:
        found = ", ".join(f"{k}: {v}" for k, v in categories.items() if v and k != "no pattern detected")
        typer.echo(f"emerging: {len(incidents)} incidents, {len(scores)} cells x {cube.attrs['cube']['periods']} "
                   f"periods ({cube.attrs['cube']['freq']}){'; ' + found if found else '; no pattern detected'}")
        typer.echo(f"  written to {out} (provenance beside it)")


def _html_map(scores: Any) -> Any:
    from .. import maps
    from ..exceptions import InputError

    if not hasattr(maps, "map_emerging"):
        raise InputError("--out .html: the emerging hot spot map is not available in this version; "
                         "write .geojson or .gpkg and map it in a GIS.")
    return maps.map_emerging(scores)


def register(app: typer.Typer) -> None:
    app.command("emerging")(command)
