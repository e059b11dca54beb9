"""``intel nearrepeat``: do incidents come in near-repeat chains? The Near Repeat Calculator's Knox table."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _options as opt
from ._output import print_json, write_table

DISTANCE_BANDS = typer.Option(
    "100,200,400", "--distance-bands-m",
    help="Comma-separated distance band edges in metres; 'same location' is always its own band.",
)
TIME_BANDS = typer.Option("7,14,21", "--time-bands-days", help="Comma-separated time band edges in days.")
PERMUTATIONS = typer.Option(99, "--permutations", help="Random permutations of the dates (99 or 999 are usual).")
SEED = typer.Option(0, "--seed", help="Seed of the permutations (fixed, so that reruns give the same table).")
METRIC_TIME = typer.Option("days", "--metric-time",
                           help="'days' (elapsed time) or 'calendar_days' (whole dates apart, as the NRC counts).")
ALPHA = typer.Option(0.05, "--alpha", help="Level for the 'significant' column.")
OUT = typer.Option(None, "--out", help="Also write the table (.csv or .parquet).")
JSON = typer.Option(False, "--json", help="Print the table as JSON on stdout.")

# The --json contract: add keys, never rename them.
JSON_COLUMNS = ("distance_band", "time_band", "observed", "expected", "knox_ratio", "p_value", "significant")


def parse_edges(text: str, option: str) -> list[float]:
    """``"100,200,400"`` as numbers, with a clear error for anything else."""
    from ..exceptions import InputError

    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise InputError(f"{option} {text!r}: expected comma-separated numbers such as 100,200,400.")
    return values


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
    distance_bands_m: str = DISTANCE_BANDS,
    time_bands_days: str = TIME_BANDS,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    metric_time: str = METRIC_TIME,
    alpha: float = ALPHA,
    out: Path | None = OUT,
    json: bool = JSON,
) -> None:
    """Knox test of near repeats: observed and expected pairs in each distance and time band."""
    from ..exceptions import InputError
    from ..nearrepeat import knox_test

    incidents, _ = opt.load_from_options(input, schema=schema, mapping=mapping, tz=tz, crs=crs, table=table,
                                         query=query, categories=category, start=start, end=end)
    result = knox_test(
        incidents,
        distance_bands_m=parse_edges(distance_bands_m, "--distance-bands-m"),
        time_bands_days=parse_edges(time_bands_days, "--time-bands-days"),
        permutations=permutations,
        alpha=alpha,
        metric_time=metric_time,
        random_state=seed,
    )
    if out is not None:
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise InputError(f"--out {out}: the Knox table is a plain table; use a .csv or .parquet file.")
        write_table(result, out)
    summary = result.attrs["knox"]
    parameters = result.attrs["provenance"]["parameters"]
    if json:
        rows = result[list(JSON_COLUMNS)].astype(object).to_dict(orient="records")
        print_json({"table": rows, "n_events": summary["n_events"], "permutations": summary["permutations"],
                    "parameters": {**parameters, "seed": seed}})
        return
    typer.echo(f"Knox test: {summary['n_events']:,} incidents, {summary['permutations']} permutations "
               f"(seed {seed}); * marks p <= {alpha}.")
    typer.echo(f"{'distance':<16} {'time':<14} {'observed':>12} {'expected':>14} {'ratio':>7} {'p':>6}")
    for row in result.to_dict(orient="records"):
        ratio = "" if row["knox_ratio"] != row["knox_ratio"] else f"{row['knox_ratio']:.2f}"
        mark = " *" if row["significant"] else ""
        typer.echo(f"{row['distance_band']:<16} {row['time_band']:<14} {row['observed']:>12,} "
                   f"{row['expected']:>14,.1f} {ratio:>7} {row['p_value']:>6.3f}{mark}")


def register(app: typer.Typer) -> None:
    app.command("nearrepeat")(command)
