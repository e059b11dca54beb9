"""What the maps and figures share: reading the tables they draw, and writing numbers for people.

:func:`cell_table` accepts CellScores (a GeoDataFrame), or a table without geometry
indexed by ``cell_id`` (a Series, a Cube from :func:`intel.build_cube`, one period of
it or its total) joined to the grid it was built on.
"""

from __future__ import annotations

from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .exceptions import InputError

__all__ = ["cell_table", "check_numeric", "check_layer", "has_incidents", "display_values", "format_number",
           "format_date"]


def cell_table(scores: Any, owner: str, column: str, *, grid: Any = None, period: Any = None) -> gpd.GeoDataFrame:
    """CellScores as a GeoDataFrame with a ``cell_id`` column, in their own CRS (tables without geometry joined to ``grid``)."""
    if isinstance(scores, gpd.GeoDataFrame):
        if grid is not None:
            raise InputError(f"{owner}: scores already carry their cells (a GeoDataFrame); grid= is only for "
                             "tables without geometry (a Cube, or a Series indexed by cell_id). Leave it out.")
        if period is not None:
            raise InputError(f"{owner}: period= picks one period of a Cube; these scores have no periods. "
                             "Leave it out.")
        cells = scores
    elif isinstance(scores, (pd.DataFrame, pd.Series)):
        cells = _join_grid(_by_cell(scores, owner, column, period), grid, owner)
    else:
        raise InputError(f"{owner} needs CellScores (a GeoDataFrame from a score_* verb), or a table indexed by "
                         f"cell_id with grid=; got {type(scores).__name__}.")
    if column not in cells.columns:
        raise InputError(f"{owner}: column {column!r} is not in the table; columns are "
                         f"{[c for c in cells.columns if c != cells.geometry.name]}.")
    if cells.crs is None:
        raise InputError(f"{owner}: the cells have no CRS, so they cannot be placed on a map; set it with .set_crs().")
    if len(cells) == 0:
        raise InputError(f"{owner}: the table has no cells to draw.")
    return cells.reset_index() if cells.index.name else cells.copy()


def _by_cell(table: pd.DataFrame | pd.Series, owner: str, column: str, period: Any) -> pd.DataFrame:
    if isinstance(table, pd.Series):
        table = table.to_frame(name=table.name if table.name is not None else column)
    names = list(table.index.names)
    if "period" in names and "cell_id" in names:
        level = table.index.get_level_values("period")
        if period is None:
            return table.groupby(level="cell_id", sort=False).sum(numeric_only=True)
        wanted = pd.Timestamp(period)
        tz = getattr(level, "tz", None)
        if tz is not None and wanted.tzinfo is None:
            wanted = wanted.tz_localize(tz)
        chosen = level == wanted
        if not chosen.any():
            first, last = level.min(), level.max()
            raise InputError(f"{owner}: period {period!r} is not a period of the cube (periods start "
                             f"{first:%Y-%m-%d} to {last:%Y-%m-%d}); give the start of one of them.")
        return table.loc[chosen].droplevel("period")
    if period is not None:
        raise InputError(f"{owner}: period= picks one period of a Cube (indexed by cell_id and period); this "
                         "table has no periods.")
    if "cell_id" in table.columns:
        return table.set_index("cell_id")
    if table.index.name != "cell_id":
        raise InputError(f"{owner}: a table without geometry must be indexed by cell_id (or have a cell_id "
                         "column) so it can be joined to grid=.")
    return table


def _join_grid(table: pd.DataFrame, grid: Any, owner: str) -> gpd.GeoDataFrame:
    if not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: this table has no geometry; pass grid= (the GeoDataFrame of cells it was "
                         "built on, from intel.make_grid).")
    if table.index.has_duplicates:
        raise InputError(f"{owner}: cell_id values repeat in the table; give one row per cell.")
    matched = table.index.isin(grid.index)
    if not matched.any():
        raise InputError(f"{owner}: none of the table's cell_id values is a cell of grid; was it built on "
                         "another grid?")
    joined = grid[[grid.geometry.name]].join(table, how="left")
    joined.index.name = "cell_id"
    return joined


def check_numeric(frame: pd.DataFrame, column: str, owner: str, *, hint: str) -> None:
    if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
        raise InputError(f"{owner}: column {column!r} is not numeric; {hint}.")


def check_layer(layer: Any, owner: str, name: str, *, need: Sequence[str], hint: str) -> gpd.GeoDataFrame:
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InputError(f"{owner}: {name} must be a GeoDataFrame ({hint}); got {type(layer).__name__}.")
    missing = [c for c in need if c not in layer.columns]
    if missing:
        raise InputError(f"{owner}: {name} lacks the column(s) {missing}; {hint}.")
    if layer.crs is None:
        raise InputError(f"{owner}: {name} has no CRS, so it cannot be placed on a map; set it with .set_crs().")
    return layer


def has_incidents(frame: pd.DataFrame) -> np.ndarray:
    """Cells holding at least one incident (``n``, or ``n_before + n_after``); all cells when neither is known."""
    for name in ("n", "n_after"):
        if name in frame.columns:
            total = frame[name].to_numpy(dtype=np.float64)
            if name == "n_after" and "n_before" in frame.columns:
                total = total + frame["n_before"].to_numpy(dtype=np.float64)
            return np.nan_to_num(total) > 0
    return np.ones(len(frame), dtype=bool)


def display_values(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        return [format_date(v, minutes=True) for v in values]
    if pd.api.types.is_float_dtype(values):
        return [format_number(v) for v in values.to_numpy(dtype=np.float64)]
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        return [str(int(v)) for v in values.to_numpy()]
    out = []
    for v in values.astype(object):
        if isinstance(v, (list, tuple, np.ndarray)):
            out.append(", ".join(map(str, v)))
        elif v is None or (not isinstance(v, str) and pd.isna(v)):
            out.append("")
        elif isinstance(v, float):
            out.append(format_number(v))
        else:
            out.append(str(v))
    return out


def format_number(v: float) -> str:
    if not np.isfinite(v):
        return ""
    if float(v).is_integer() and abs(v) < 1e12:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def format_date(value: Any, *, minutes: bool = False) -> str:
    if value is None or pd.isna(value):
        return ""
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")
