"""``intel validate``: load a file as intel would, and account for every row."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from . import _options as opt
from ._output import print_json, write_table

QUARANTINE = typer.Option(None, "--quarantine", help="Write the quarantined rows, with source_row, reason and detail "
                          "(.csv or .parquet); the load record goes beside it.")
JSON = typer.Option(False, "--json", help="Print the load report as one JSON object (n_read, n_kept, n_quarantined, "
                    "quarantine_reasons, warnings, dropped_columns, schema, crs, ...).")


def command(
    # str, not Path: a Path would fold the '///' of a SQLAlchemy URL such as sqlite:///crimes.db
    input: str = opt.INPUT,
    schema: str | None = opt.SCHEMA,
    mapping: list[str] = opt.MAP,
    tz: str | None = opt.TZ,
    crs: str | None = opt.CRS,
    table: str | None = opt.TABLE,
    query: str | None = opt.QUERY,
    quarantine: Path | None = QUARANTINE,
    json: bool = JSON,
) -> None:
    """Check an incident file: rows read, kept and quarantined (with reasons), warnings, dropped columns."""
    from ..exceptions import DataQualityWarning, InputError
    from ..io import load_incidents

    kwargs = {"schema": schema, "columns": opt.parse_mapping(mapping), "tz": tz, "crs": crs}
    if table is not None:
        kwargs["table"] = table
    if query is not None:
        kwargs["query"] = query
    if quarantine is not None and quarantine.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--quarantine {quarantine}: use a .csv or .parquet file.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # they are in the report, printed once below
        result = load_incidents(input, **kwargs)
    if quarantine is not None:
        write_table(result.quarantine, quarantine)
    if json:
        report = dict(result.report)
        if quarantine is not None:
            report["quarantine_file"] = str(quarantine)
        print_json(report)
    else:
        typer.echo(result.summary())
        if quarantine is not None:
            typer.echo(f"  quarantined rows written to {quarantine}")


def register(app: typer.Typer) -> None:
    app.command("validate")(command)
