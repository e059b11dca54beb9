"""Writing results: the format follows the file suffix; provenance goes beside every file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import typer

from .._provenance import jsonable
from ..exceptions import InputError

TABLE_SUFFIXES = (".geojson", ".gpkg", ".csv", ".html", ".parquet")


def write_table(table: pd.DataFrame, path: Path, *, html_map: Any = None) -> Path:
    """Write ``table`` to ``path`` by suffix and its provenance to ``<path>.provenance.json``.

    ``.html`` needs ``html_map``, a callable turning the table into a folium map.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"--out {path}: unknown suffix {suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = table.reset_index() if table.index.name else table
    if suffix == ".csv":
        frame = pd.DataFrame(out.drop(columns="geometry")) if "geometry" in out.columns else out
        if isinstance(out, gpd.GeoDataFrame):
            frame = frame.assign(wkt=out.geometry.to_wkt())
        frame.to_csv(path, index=False)
    elif suffix == ".geojson":
        gpd.GeoDataFrame(out).to_crs(4326).to_file(path, driver="GeoJSON")
    elif suffix == ".gpkg":
        gpd.GeoDataFrame(out).to_file(path, driver="GPKG")
    elif suffix == ".parquet":
        out.to_parquet(path)
    else:
        if html_map is None:
            raise InputError(f"--out {path}: this command cannot draw an HTML map.")
        html_map(table).save(str(path))
    write_json(path.with_name(path.name + ".provenance.json"), table.attrs.get("provenance", {}))
    return path


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON (stable across runs)."""
    Path(path).write_text(json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def print_json(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout (the ``--json`` contract)."""
    typer.echo(json.dumps(jsonable(obj), sort_keys=True))
