"""``intel backtest``: how accurate would each model have been, week by week, against the naive baselines?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from . import _options as opt
from ._output import print_json, write_table

MODELS = typer.Option(
    "naive,kde,prospective,sepp",
    "--models",
    help="Comma-separated: naive, kde, stkde, prospective, sepp, ksepp, rtm, gbm, ensemble. "
    "The naive baselines are always included.",
)
CELL_SIZE = typer.Option(None, "--cell-size-m", help="Grid cell size in metres (chosen from the data when omitted).")
HORIZON = typer.Option("7D", "--horizon", help="Forecast horizon, e.g. 7D, 2W, 12h.")
STEP = typer.Option("7D", "--step", help="Distance between origins, e.g. 7D.")
COVERAGE = typer.Option("0.01,0.05,0.1", "--coverage", help="Comma-separated shares of the area, e.g. 0.01,0.05.")
LAYER = typer.Option([], "--layer", help="NAME=FILE environmental layer for rtm (repeatable), e.g. --layer bars=bars.geojson.")
N_BOOT = typer.Option(2000, "--n-boot", help="Bootstrap resamples of the origins for the intervals.")
SEED = typer.Option(0, "--seed", help="Seed of the bootstrap.")
JOBS = typer.Option(1, "--jobs", help="Origins processed in parallel.")
OUT = typer.Option(None, "--out", help="Also write the per-origin scores (.csv or .parquet).")
JSON = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")
# In this command --start/--end bound the evaluated period, not the data: models need the history before it.
START = typer.Option(None, "--start", help="First forecast origin (YYYY-MM-DD); default a year of origins before --end.")
END = typer.Option(None, "--end", help="End of the evaluated period (YYYY-MM-DD); default the day after the last incident.")


def parse_coverages(text: str) -> list[float]:
    from ..exceptions import InputError

    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--coverage {text!r}: expected comma-separated shares such as 0.01,0.05.") from None


def read_layers(items: list[str]) -> dict[str, Any]:
    """``["bars=bars.geojson", ...]`` as GeoDataFrames by name."""
    if not items:
        return {}
    import geopandas as gpd

    from ..exceptions import InputError

    layers = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError(f"--layer {item!r}: expected NAME=FILE, e.g. --layer bars=bars.geojson.")
        if not Path(path.strip()).exists():
            raise InputError(f"--layer {item!r}: the file {path.strip()} does not exist.")
        layers[name.strip()] = gpd.read_file(path.strip())
    return layers


def command(
    input: str = opt.INPUT,
    schema: str | None = opt.SCHEMA,
    mapping: list[str] = opt.MAP,
    tz: str | None = opt.TZ,
    crs: str | None = opt.CRS,
    table: str | None = opt.TABLE,
    query: str | None = opt.QUERY,
    category: list[str] = opt.CATEGORY,
    start: str | None = START,
    end: str | None = END,
    models: str = MODELS,
    cell_size_m: float | None = CELL_SIZE,
    horizon: str = HORIZON,
    step: str = STEP,
    coverage: str = COVERAGE,
    layer: list[str] = LAYER,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    jobs: int = JOBS,
    out: Path | None = OUT,
    progress: bool = opt.PROGRESS,
    json: bool = JSON,
) -> None:
    """Backtest forecasting models at rolling weekly origins against the naive baselines."""
    from ..evaluate import models_from_names, rolling_backtest, summarize_backtest
    from ..grid import make_grid

    incidents, _ = opt.load_from_options(input, schema=schema, mapping=mapping, tz=tz, crs=crs, table=table,
                                         query=query, categories=category)
    chosen = models_from_names(models.split(","), layers=read_layers(layer), owner="--models")
    grid = make_grid(incidents, cell_size_m=cell_size_m)
    results = rolling_backtest(incidents, chosen, grid=grid, start=start, end=end, horizon=horizon, step=step,
                               coverages=parse_coverages(coverage), errors="warn", n_jobs=jobs,
                               progress=opt.show_progress(progress))
    summary = summarize_backtest(results, n_boot=n_boot, random_state=seed)
    if out is not None:
        if out.suffix.lower() not in (".csv", ".parquet"):
            from ..exceptions import InputError

            raise InputError(f"--out {out}: the per-origin scores are a plain table; use a .csv or .parquet file.")
        write_table(results, out)
    prov = results.attrs["provenance"]
    if json:
        print_json({
            "results": [_json_row(row) for row in summary.to_dict(orient="records")],
            "reference": summary.attrs["reference"],
            "interval": summary.attrs["provenance"]["interval"],
            "origins": {"n": prov["n_origins"], "first": prov["first_origin"], "last": prov["last_origin"]},
            "horizon": horizon,
            "step": step,
            "grid": {"n_cells": len(grid), **grid.attrs.get("grid", {})},
            "n_incidents": len(incidents),
        })
        return
    typer.echo(f"Backtest: {prov['n_origins']} origins from {prov['first_origin'][:10]} to {prov['last_origin'][:10]}, "
               f"horizon {horizon}, {len(grid):,} cells; means with {summary.attrs['provenance']['interval']} intervals.")
    typer.echo(f"{'model':<34} {'coverage':>8} {'hit rate':>20} {'PAI':>20} {'PEI':>6}  vs {summary.attrs['reference']}")
    for row in summary.to_dict(orient="records"):
        typer.echo(
            f"{row['model'][:34]:<34} {row['coverage']:>8.1%} "
            f"{row['hit_rate']:>6.1%} [{row['hit_rate_lo']:.1%}, {row['hit_rate_hi']:.1%}] "
            f"{row['pai']:>6.2f} [{row['pai_lo']:.2f}, {row['pai_hi']:.2f}] {row['pei']:>6.2f}  {row['vs_reference']}"
        )


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": row["model"],
        "coverage": row["coverage"],
        "n_origins": row["n_origins"],
        "hit_rate": row["hit_rate"],
        "hit_rate_ci": [row["hit_rate_lo"], row["hit_rate_hi"]],
        "pai": row["pai"],
        "pai_ci": [row["pai_lo"], row["pai_hi"]],
        "pei": row["pei"],
        "pei_ci": [row["pei_lo"], row["pei_hi"]],
        "rri": row["rri"],
        "pai_diff": row["pai_diff"],
        "pai_diff_ci": [row["pai_diff_lo"], row["pai_diff_hi"]],
        "pai_ratio": row["pai_ratio"],
        "vs_reference": row["vs_reference"],
    }


def register(app: typer.Typer) -> None:
    app.command("backtest")(command)
