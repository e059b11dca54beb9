"""Interactive maps (folium) of CellScores.

Maps are plain functions over the tables intel returns: :func:`map_scores` shades
cells by a number (counts, density, z-scores), :func:`map_hotspots` colours them by
class (hot and cold spots, cluster types, change). Maps are self-contained HTML:
Leaflet is embedded and no basemap is fetched unless ``tiles=`` asks for one.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from ._offline import make_offline
from .exceptions import InputError

__all__ = ["map_scores", "map_hotspots", "CLASS_COLOURS"]

# The desktop tools' Gi_Bin palette, so analysts read intel's maps as they read ArcGIS's.
CLASS_COLOURS: dict[str, str] = {
    "hot spot 99%": "#d62f27",
    "hot spot 95%": "#ed7551",
    "hot spot 90%": "#fab984",
    "cold spot 90%": "#c0ccbe",
    "cold spot 95%": "#849eba",
    "cold spot 99%": "#4575b5",
    "high-high": "#d62f27",
    "high-low": "#f4a582",
    "low-high": "#92c5de",
    "low-low": "#4575b5",
    "significant increase": "#d62f27",
    "significant decrease": "#4575b5",
}
_QUIET = ("not significant", "no significant change", "no pattern detected")
_QUIET_COLOUR = "#bdbdbd"
_CLASS_COLUMNS = ("hotspot_class", "moran_class", "change_class")
_NUMBER_COLUMNS = ("n", "kde", "gi_star", "moran_i", "change_z", "p_value", "p_adj", "n_before", "n_after", "risk")
_SCHEMES = ("quantiles", "natural_breaks", "equal_interval")
_LOCATION_NOTE = (
    "Incident locations are approximate (published locations are moved to the block or street). "
    "Cells summarise places, not people."
)


def map_scores(
    scores: gpd.GeoDataFrame,
    column: str = "n",
    *,
    k: int = 5,
    scheme: str = "quantiles",
    cmap: str = "YlOrRd",
    tiles: str | None = None,
    popup_columns: Sequence[str] | None = None,
    title: str | None = None,
) -> folium.Map:
    """Shade the cells of CellScores by a numeric column.

    Parameters
    ----------
    scores : GeoDataFrame
        CellScores from any ``score_*`` verb.
    column : str
        Numeric column to shade (``"n"``, ``"kde"``, ``"gi_star"`` ...).
    k : int
        Number of classes.
    scheme : {"quantiles", "natural_breaks", "equal_interval"}
        How the class breaks are chosen (mapclassify), over the cells drawn.
    cmap : str
        Matplotlib colour map name.
    tiles : str, optional
        A folium basemap such as ``"OpenStreetMap"``. Default: none, so the
        map works offline and sends nothing anywhere.
    popup_columns : sequence of str, optional
        Columns shown when a cell is clicked; default: the score columns present.
    title : str, optional
        Shown above the legend.

    Returns
    -------
    folium.Map
        Cells with a zero or missing value are left out (they would hide the rest).

    Examples
    --------
    >>> import intel
    >>> scores = intel.score_gistar(intel.make_synthetic(random_state=0), cell_size_m=500)
    >>> m = intel.map_scores(scores, "n")
    >>> type(m).__name__
    'Map'
    """
    owner = "map_scores"
    frame = _check_scores(scores, owner, column)
    if not pd.api.types.is_numeric_dtype(frame[column]):
        raise InputError(f"{owner}: column {column!r} is not numeric; use map_hotspots for class columns.")
    if scheme not in _SCHEMES:
        raise InputError(f"The 'scheme' parameter of {owner} must be one of {', '.join(map(repr, _SCHEMES))}. "
                         f"Got {scheme!r} instead.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 12:
        raise InputError(f"The 'k' parameter of {owner} must be an int in the range [2, 12]. Got {k!r} instead.")
    values = frame[column].to_numpy(dtype=np.float64)
    drawn = frame.loc[np.isfinite(values) & (values != 0)]
    m = _base_map(frame, tiles)
    if len(drawn):
        bins, colours = _classify_values(drawn[column].to_numpy(dtype=np.float64), k, scheme, cmap)
        fill = [colours[b] for b in bins]
        _add_cells(m, drawn, fill, opacity=0.7, popup_columns=_popup_columns(drawn, popup_columns, column),
                   name=column)
        edges = _class_edges(drawn[column].to_numpy(dtype=np.float64), bins, len(colours))
        items = [(colours[i], label) for i, label in enumerate(edges)]
    else:
        items = []
    _add_legend(m, title or column, items)
    _add_note(m)
    return make_offline(m)


def map_hotspots(
    scores: gpd.GeoDataFrame,
    column: str | None = None,
    *,
    tiles: str | None = None,
    popup_columns: Sequence[str] | None = None,
    title: str | None = None,
) -> folium.Map:
    """Colour the cells of CellScores by their class: hot and cold spots, clusters, change.

    Parameters
    ----------
    scores : GeoDataFrame
        CellScores with a class column (from :func:`intel.score_gistar`,
        :func:`intel.score_moran` or :func:`intel.score_change`).
    column : str, optional
        The class column; found automatically (``hotspot_class``,
        ``moran_class``, ``change_class``) when omitted.
    tiles : str, optional
        A folium basemap; default none (offline).
    popup_columns : sequence of str, optional
        Columns shown when a cell is clicked; default: the score columns present.
    title : str, optional
        Shown above the legend.

    Returns
    -------
    folium.Map
        Significant cells in the desktop tools' colours (hot spots red, cold
        spots blue), cells that are not significant but hold incidents in light
        grey, and empty, not significant cells left out.

    Examples
    --------
    >>> import intel
    >>> scores = intel.score_gistar(intel.make_synthetic(random_state=0), cell_size_m=250)
    >>> m = intel.map_hotspots(scores)
    >>> "hot spot 99%" in m.get_root().render()
    True
    """
    owner = "map_hotspots"
    if column is None:
        found = [c for c in _CLASS_COLUMNS if isinstance(scores, pd.DataFrame) and c in scores.columns]
        if not found:
            raise InputError(f"{owner}: no class column ({', '.join(_CLASS_COLUMNS)}) in the table; "
                             "score it with intel.score_gistar, score_moran or score_change first.")
        column = found[0]
    frame = _check_scores(scores, owner, column)
    labels = frame[column].astype(str)
    quiet = labels.isin(_QUIET).to_numpy()
    busy = _has_incidents(frame)
    m = _base_map(frame, tiles)
    popups = _popup_columns(frame, popup_columns, column)
    background = frame.loc[quiet & busy]
    if len(background):
        _add_cells(m, background, [_QUIET_COLOUR] * len(background), opacity=0.25, popup_columns=popups,
                   name="not significant")
    significant = frame.loc[~quiet]
    if len(significant):
        fill = [CLASS_COLOURS.get(label, "#984ea3") for label in labels[~quiet]]
        _add_cells(m, significant, fill, opacity=0.75, popup_columns=popups, name=column)
    order = list(frame[column].cat.categories) if isinstance(frame[column].dtype, pd.CategoricalDtype) else sorted(
        labels.unique())
    counts = labels.value_counts()
    items = [(CLASS_COLOURS.get(label, _QUIET_COLOUR if label in _QUIET else "#984ea3"),
              f"{label} ({int(counts.get(label, 0))})") for label in order]
    _add_legend(m, title or column.replace("_", " "), items)
    _add_note(m)
    return make_offline(m)


# ---------------------------------------------------------------- internals


def _check_scores(scores: Any, owner: str, column: str) -> gpd.GeoDataFrame:
    if not isinstance(scores, gpd.GeoDataFrame):
        raise InputError(f"{owner} needs CellScores (a GeoDataFrame from a score_* verb); got {type(scores).__name__}.")
    if column not in scores.columns:
        raise InputError(f"{owner}: column {column!r} is not in the table; columns are {list(scores.columns)}.")
    if scores.crs is None:
        raise InputError(f"{owner}: the cells have no CRS, so they cannot be placed on a map; set it with .set_crs().")
    if len(scores) == 0:
        raise InputError(f"{owner}: the table has no cells to draw.")
    frame = scores.reset_index() if scores.index.name else scores.copy()
    return frame.to_crs(4326)


def _has_incidents(frame: pd.DataFrame) -> np.ndarray:
    for name in ("n", "n_after"):
        if name in frame.columns:
            total = frame[name].to_numpy(dtype=np.float64)
            if name == "n_after" and "n_before" in frame.columns:
                total = total + frame["n_before"].to_numpy(dtype=np.float64)
            return total > 0
    return np.ones(len(frame), dtype=bool)


def _base_map(frame: gpd.GeoDataFrame, tiles: str | None) -> folium.Map:
    west, south, east, north = frame.total_bounds
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles=tiles, control_scale=True,
                   zoom_start=12)
    m.fit_bounds([[south, west], [north, east]])
    return m


def _popup_columns(frame: pd.DataFrame, given: Sequence[str] | None, column: str) -> list[str]:
    if given is not None:
        missing = [c for c in given if c not in frame.columns]
        if missing:
            raise InputError(f"popup_columns {missing} are not columns of the table.")
        return list(given)
    wanted = ["cell_id", *[c for c in _NUMBER_COLUMNS if c in frame.columns], *_CLASS_COLUMNS, column]
    return list(dict.fromkeys(c for c in wanted if c in frame.columns))


def _add_cells(m: folium.Map, cells: gpd.GeoDataFrame, fill: list[str], *, opacity: float,
               popup_columns: list[str], name: str) -> None:
    shown = {c: _display(cells[c]) for c in popup_columns}
    # six decimals of a degree is about 0.1 m: enough for cells, and the file stays small
    geometry = shapely.transform(cells.geometry.values, lambda xy: np.round(xy, 6))
    layer = gpd.GeoDataFrame({**shown, "_fill": fill}, geometry=geometry, crs=4326)
    folium.GeoJson(
        layer.to_json(drop_id=True),
        name=name,
        style_function=lambda feature, o=opacity: {
            "fillColor": feature["properties"]["_fill"], "fillOpacity": o, "color": feature["properties"]["_fill"],
            "weight": 0.5, "opacity": min(1.0, o + 0.2),
        },
        popup=folium.GeoJsonPopup(fields=popup_columns, aliases=[c.replace("_", " ") for c in popup_columns]),
    ).add_to(m)


def _display(values: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(values):
        out = []
        for v in values.to_numpy():
            if not np.isfinite(v):
                out.append("")
            elif float(v).is_integer() and abs(v) < 1e12:
                out.append(f"{int(v)}")
            else:
                out.append(f"{v:.4g}")
        return out
    return values.astype(str).tolist()


def _classify_values(values: np.ndarray, k: int, scheme: str, cmap: str) -> tuple[np.ndarray, list[str]]:
    import mapclassify
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    unique = np.unique(values)
    k = int(min(k, unique.size))
    if k < 2:
        bins = np.zeros(values.size, dtype=int)
        k = 1
    else:
        classifier = {
            "quantiles": mapclassify.Quantiles,
            "natural_breaks": mapclassify.NaturalBreaks,
            "equal_interval": mapclassify.EqualInterval,
        }[scheme](values, k=k)
        bins = np.asarray(classifier.yb, dtype=int)
        k = int(bins.max()) + 1
    palette = colormaps[cmap]
    colours = [to_hex(palette(0.15 + 0.85 * i / max(k - 1, 1))) for i in range(k)]
    return bins, colours


def _class_edges(values: np.ndarray, bins: np.ndarray, k: int) -> list[str]:
    labels = []
    for i in range(k):
        members = values[bins == i]
        labels.append(f"{members.min():.4g} – {members.max():.4g}" if members.size else "(none)")
    return labels


def _add_legend(m: folium.Map, title: str, items: list[tuple[str, str]]) -> None:
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{colour};'
        f'margin-right:6px;border:1px solid #777"></span>{html.escape(label)}</div>'
        for colour, label in items
    )
    box = (
        '<div style="position:fixed;top:10px;right:10px;z-index:9999;background:white;padding:6px 8px;'
        f'border:1px solid #999;border-radius:4px;font:12px sans-serif"><b>{html.escape(title)}</b>{rows}</div>'
    )
    m.get_root().html.add_child(Element(box))


def _add_note(m: folium.Map) -> None:
    note = (
        '<div style="position:fixed;bottom:10px;left:10px;z-index:9999;background:rgba(255,255,255,0.85);'
        f'padding:4px 6px;font:11px sans-serif;max-width:360px">{html.escape(_LOCATION_NOTE)}</div>'
    )
    m.get_root().html.add_child(Element(note))
