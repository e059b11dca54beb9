"""``intel hotspots``: counts, density or hot spot statistics on a grid, written as a table or a map."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from . import _options as opt
from ._output import print_json, write_table

METHODS = ("counts", "kde", "gistar", "moran")
METHOD = typer.Option("gistar", "--method", help="counts, kde (density), gistar (Getis-Ord Gi* hot and cold spots) "
                      "or moran (local Moran's I clusters and outliers).")
CELL_SIZE = typer.Option(None, "--cell-size-m", help="Cell size in metres; chosen from the data (and reported) when omitted.")
SHAPE = typer.Option("square", "--shape", help="Cell shape: square or hex.")
BOUNDARY = typer.Option(None, "--boundary", help="Polygon file (GeoJSON, GeoPackage, Shapefile) of the study area: "
                        "only cells touching it are kept, so empty land outside is not called a cold spot.")
NEIGHBOURS = typer.Option("queen", "--neighbours", help="gistar/moran: queen, rook, or a distance in metres between "
                          "cell centres.")
PERMUTATIONS = typer.Option(None, "--permutations", help="gistar/moran: conditional-randomisation permutations "
                            "(default 0: exact p-values).")
CORRECTION = typer.Option("fdr_bh", "--correction", help="gistar/moran: multiple-testing correction: fdr_bh, "
                          "bonferroni or none.")
SEED = typer.Option(0, "--seed", help="Seed of the permutations (fixed, so that reruns give the same result).")
OUT = typer.Option(..., "--out", help="Output file: .html (map), .geojson, .gpkg, .csv or .parquet.")
JSON = typer.Option(False, "--json", help="Print the parameters (automatic ones included), the number of cells in "
                    "each class and the output path as one JSON object.")

# The --json contract: add keys, never rename them.
JSON_KEYS = ("method", "parameters", "automatic", "n_cells", "n_incidents", "classes", "out")


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
    method: str = METHOD,
    cell_size_m: float | None = CELL_SIZE,
    shape: str = SHAPE,
    boundary: Path | None = BOUNDARY,
    neighbours: str = NEIGHBOURS,
    permutations: int | None = PERMUTATIONS,
    correction: str = CORRECTION,
    seed: int = SEED,
    out: Path = OUT,
    json: bool = JSON,
) -> None:
    """Map where incidents concentrate: counts, density, Gi* hot spots or local Moran clusters per cell."""
    from .._validation import check_option

    check_option("--method", method, "intel hotspots", METHODS)
    incidents, result = opt.load_from_options(input, schema=schema, mapping=mapping, tz=tz, crs=crs, table=table,
                                              query=query, categories=category, start=start, end=end)
    grid = _boundary_grid(incidents, boundary, cell_size_m, shape) if boundary is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, html_map = _score(incidents, grid, method=method, cell_size_m=cell_size_m, shape=shape,
                                  neighbours=neighbours, permutations=permutations, correction=correction, seed=seed)
    for w in caught:  # one readable line each, not Python's file:line form
        typer.echo(f"intel: warning: {w.message}", err=True)
    write_table(scores, out, html_map=html_map)
    record = scores.attrs.get("provenance", {})
    if json:
        automatic = {**result.report.get("automatic", {}), **record.get("automatic", {})}
        if grid is not None:
            automatic.update(grid.attrs.get("provenance", {}).get("automatic", {}))
        print_json({
            "method": method,
            "parameters": {**record.get("parameters", {}), "boundary": str(boundary) if boundary else None},
            "automatic": automatic,
            "n_cells": len(scores),
            "n_incidents": len(incidents),
            "classes": record.get("classes", {}),
            "out": str(out),
        })
    else:
        classes = record.get("classes", {})
        found = ", ".join(f"{k}: {v}" for k, v in classes.items() if v and k not in ("not significant",))
        typer.echo(f"{method}: {len(incidents)} incidents, {len(scores)} cells{'; ' + found if found else ''}")
        typer.echo(f"  written to {out} (provenance beside it)")


def _score(incidents: Any, grid: Any, *, method: str, cell_size_m: float | None, shape: str, neighbours: str,
           permutations: int | None, correction: str, seed: int) -> tuple[Any, Any]:
    """Call the one library verb the method names; return its CellScores and the map for .html output."""
    from ..maps import map_density, map_hotspots, map_scores

    common = {"cell_size_m": cell_size_m, "shape": shape}
    if method == "counts":
        from ..density import score_counts

        return score_counts(incidents, grid, **common), lambda t: map_scores(t, "n", title="incidents per cell")
    if method == "kde":
        from ..density import score_kde

        return score_kde(incidents, grid, **common), lambda t: map_density(t, "kde", title="incidents per km²")
    from ..stats import score_gistar, score_moran

    stat_options = {**common, "neighbours": _parse_neighbours(neighbours), "correction": correction,
                    "random_state": seed}
    if permutations is not None:
        stat_options["permutations"] = permutations
    verb = score_gistar if method == "gistar" else score_moran
    return verb(incidents, grid, **stat_options), map_hotspots


def _parse_neighbours(text: str) -> str | float:
    from ..exceptions import InputError

    if text in ("queen", "rook"):
        return text
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--neighbours {text!r}: expected queen, rook or a distance in metres such as 500.") from None


def _boundary_grid(incidents: Any, boundary: Path, cell_size_m: float | None, shape: str) -> Any:
    import geopandas as gpd

    from ..exceptions import InputError
    from ..grid import make_grid

    if not boundary.exists():
        raise InputError(f"--boundary {boundary}: no such file.")
    try:
        area = gpd.read_file(boundary)
    except Exception as exc:  # pyogrio raises its own errors for unreadable files
        raise InputError(f"--boundary {boundary}: cannot read it as a polygon layer ({exc}).") from None
    if area.crs is None:
        raise InputError(f"--boundary {boundary}: the file has no CRS; save it with one (GeoJSON is WGS84).")
    return make_grid(incidents, cell_size_m=cell_size_m, shape=shape, boundary=area.to_crs(incidents.crs))


def register(app: typer.Typer) -> None:
    app.command("hotspots")(command)
