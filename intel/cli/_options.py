"""Load options shared by every command that reads incidents.

Use them as parameter defaults so every command spells them the same way::

    def command(input: str = INPUT, schema: str | None = SCHEMA, mapping: list[str] = MAP, ...):
        incidents, result = load_from_options(input, schema=schema, mapping=mapping, ...)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from .._incidents import filter_incidents
from ..exceptions import DataQualityWarning, InputError

INPUT = typer.Argument(..., help="Incident file (CSV/TSV[.gz|.zip], Excel, Parquet, GeoJSON, GeoPackage, Shapefile) or SQLAlchemy URL.")
SCHEMA = typer.Option(None, "--schema", help="Schema preset (see `intel validate --help`); recognised from the headers when omitted.")
MAP = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map occurred_at=Date --map lat=Latitude (repeatable).")
TZ = typer.Option(None, "--tz", help="Time zone of naive source times, e.g. America/Chicago.")
CRS = typer.Option(None, "--crs", help="CRS of x/y source coordinates, e.g. EPSG:3435.")
TABLE = typer.Option(None, "--table", help="With a SQL URL: the table to read.")
QUERY = typer.Option(None, "--query", help="With a SQL URL: the query to run.")
CATEGORY = typer.Option([], "--category", help="Analyse only this category (repeatable; case-insensitive).")
START = typer.Option(None, "--start", help="Analyse incidents on or after this date (YYYY-MM-DD).")
END = typer.Option(None, "--end", help="Analyse incidents before this date (YYYY-MM-DD).")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr (off with --quiet).")


def parse_mapping(items: list[str]) -> dict[str, str] | None:
    """Turn ``["occurred_at=Date", ...]`` into a dict, with a clear error for a malformed item."""
    if not items:
        return None
    mapping: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InputError(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map occurred_at=Date.")
        mapping[field.strip()] = column.strip()
    return mapping


def load_from_options(
    source: Path | str,
    *,
    schema: str | None = None,
    mapping: list[str] | None = None,
    tz: str | None = None,
    crs: str | None = None,
    table: str | None = None,
    query: str | None = None,
    categories: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> tuple[Any, Any]:
    """Read incidents as the load options say; return ``(filtered incidents, LoadResult)``.

    Data-quality warnings are kept in the load report rather than printed twice.
    """
    from ..io import load_incidents

    # several files (``intel brief INPUT...``) load as one source
    src: Any = [str(s) for s in source] if isinstance(source, (list, tuple)) else str(source)
    kwargs: dict[str, Any] = {"schema": schema, "columns": parse_mapping(mapping or []), "tz": tz, "crs": crs}
    if table is not None:
        kwargs["table"] = table
    if query is not None:
        kwargs["query"] = query
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        result = load_incidents(src, **kwargs)
    incidents = filter_incidents(result.incidents, categories=categories or None, start=start, end=end)
    if len(incidents) == 0:
        raise InputError(
            f"{src}: no incidents left after choosing categories={categories or 'all'}, start={start}, end={end} "
            f"({result.report['n_kept']} were loaded)."
        )
    return incidents, result


def show_progress(progress: bool) -> bool:
    """Progress bars when asked for and the CLI is not ``--quiet``."""
    import logging

    return progress and logging.getLogger("intel").getEffectiveLevel() <= logging.INFO
