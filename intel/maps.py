"""Interactive maps (folium) of intel's tables.

Maps are plain functions over the tables intel returns, each giving a
:class:`folium.Map`:

- :func:`map_scores`: cells shaded by a number (counts, z-scores, risk), in classes;
- :func:`map_hotspots`: hot and cold spots (and Moran clusters, change classes) in the
  colours of ArcGIS's Gi_Bin renderer;
- :func:`map_emerging`: the 17 emerging hot spot categories;
- :func:`map_density`: a density surface (KDE), classed or continuous;
- :func:`map_clusters`: space-time clusters as hulls and ellipses, with their incidents;
- :func:`map_patrols`: a patrol plan, its routes and visit times.

Every map is self-contained: Leaflet is embedded in the page (:mod:`intel._offline`)
and no basemap is fetched unless ``tiles=`` asks for one, so a map opens on a police
network with no internet and sends nothing anywhere. Each has a legend, a layer
control, a scale bar, popups with the numbers and a note that incident locations are
approximate. Cells are sent as GeoJSON in EPSG:4326 rounded to 6 decimals (about 0.1 m).
Save with ``m.save("map.html")``; in a notebook the map displays itself.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from ._display import (
    cell_table,
    check_layer,
    check_numeric,
    display_values,
    format_date,
    format_number,
    has_incidents,
)
from ._offline import make_offline
from ._symbology import (
    CLASS_STYLES,
    EMERGING_LABELS,
    QUIET,
    SCHEMES,
    class_breaks,
    class_style,
    legend_order,
    ramp,
)
from ._validation import check_number, check_option
from .exceptions import InputError

__all__ = ["map_scores", "map_hotspots", "map_emerging", "map_density", "map_clusters", "map_patrols",
           "CLASS_COLOURS"]

# Fill colour of each class label (hot and cold spots, Moran clusters, change, emerging).
CLASS_COLOURS: dict[str, str] = {label: style.fill for label, style in CLASS_STYLES.items() if label not in QUIET}

_CLASS_COLUMNS = ("hotspot_class", "moran_class", "change_class")
_NUMBER_COLUMNS = ("n", "kde", "gi_star", "moran_i", "change_z", "p_value", "p_adj", "n_before", "n_after", "risk",
                   "trend_z", "trend_p", "hot_share", "cold_share", "last_z")
_DENSITY_STYLES = ("classed", "continuous")
_CLUSTER_SHAPES = ("hull", "ellipse", "both")
# Dark2: distinct from the hot/cold reds and blues, so a patrol unit is never read as a hot spot
_QUALITATIVE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
_CLUSTER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                    "#bcbd22", "#17becf")
_CONTINUOUS_LEVELS = 64
_LOCATION_NOTE = (
    "Locations are approximate: publishers snap or shift incident locations (to the block, street or a nearby "
    "point) before release. Cells summarise places, not people."
)
_CSS = """
.intel-box{background:rgba(255,255,255,.92);padding:6px 9px;font:12px/1.4 sans-serif;color:#222;
  border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.35);max-height:55vh;overflow-y:auto;max-width:320px}
.intel-box b{display:block;margin-bottom:3px}
.intel-swatch{display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:-3px;box-sizing:border-box}
.intel-note{font-size:11px;max-width:340px;color:#333}
.intel-ramp{height:12px;width:200px;border:1px solid #777}
.intel-ramp-labels{display:flex;justify-content:space-between;width:202px}
"""


# ---------------------------------------------------------------- public maps


def map_scores(
    scores: gpd.GeoDataFrame | pd.DataFrame | pd.Series,
    column: str = "n",
    *,
    grid: gpd.GeoDataFrame | None = None,
    period: Any = None,
    k: int = 5,
    scheme: str = "quantiles",
    cmap: str = "YlOrRd",
    tiles: str | None = None,
    attribution: str | None = None,
    popup_columns: Sequence[str] | None = None,
    title: str | None = None,
) -> folium.Map:
    """Shade the cells of CellScores by a numeric column, in classes.

    Parameters
    ----------
    scores : GeoDataFrame, DataFrame or Series
        CellScores from any ``score_*`` verb or a model's ``predict``; or a table
        without geometry indexed by ``cell_id`` (a Series, or a Cube from
        :func:`intel.build_cube`) together with ``grid``.
    column : str
        Numeric column to shade (``"n"``, ``"kde"``, ``"gi_star"``, ``"risk"`` ...).
    grid : GeoDataFrame, optional
        The grid whose cells ``scores`` describes, when ``scores`` has no geometry.
    period : date or str, optional
        With a Cube: the period to map (its start). Default: the total over all periods.
    k : int
        Number of classes (fewer when the values have fewer distinct levels).
    scheme : {"quantiles", "natural_breaks", "equal_interval"}
        How the class breaks are chosen, over the cells drawn. ``"natural_breaks"``
        is Fisher-Jenks (ArcGIS's "Natural Breaks (Jenks)").
    cmap : str
        Matplotlib colour map name.
    tiles : str, optional
        A basemap such as ``"OpenStreetMap"`` or ``"OpenTopoMap"`` (any
        `xyzservices` name), or a URL template with ``attribution`` (a local tile
        cache, ``file:///tiles/{z}/{x}/{y}.png``, works offline too). Default: none,
        so the map works offline and sends nothing anywhere.
    attribution : str, optional
        Attribution of a custom tile URL (named providers bring their own).
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
    >>> scores = intel.score_gistar(intel.load_sample("memphis_robberies"), cell_size_m=500)
    >>> m = intel.map_scores(scores, "n", title="robberies per cell")
    >>> "robberies per cell" in m.get_root().render()
    True
    """
    owner = "map_scores"
    frame = _numeric_cells(scores, owner, column, grid=grid, period=period, k=k, scheme=scheme, cmap=cmap)
    values = frame[column].to_numpy(dtype=np.float64)
    drawn = frame.loc[np.isfinite(values) & (values != 0)]
    m = _base_map(frame, tiles, attribution, owner)
    popups = _popup_columns(frame, popup_columns, column, owner)
    items = _add_classed(m, drawn, column, k=int(k), scheme=scheme, cmap=cmap, popups=popups,
                         name=title or column.replace("_", " "), surface=False)
    _finish(m, title or column.replace("_", " "), items,
            footer=f"{len(drawn):,} of {len(frame):,} cells drawn (zero or missing left out)")
    return m


def map_density(
    scores: gpd.GeoDataFrame | pd.DataFrame | pd.Series,
    column: str = "kde",
    *,
    grid: gpd.GeoDataFrame | None = None,
    period: Any = None,
    style: str = "classed",
    k: int = 7,
    scheme: str = "quantiles",
    cmap: str = "YlOrRd",
    min_value: float | None = None,
    opacity: float = 0.75,
    tiles: str | None = None,
    attribution: str | None = None,
    popup_columns: Sequence[str] | None = None,
    title: str | None = None,
) -> folium.Map:
    """Draw a density surface (KDE) as a seamless layer of cells, classed or continuous.

    Parameters
    ----------
    scores : GeoDataFrame, DataFrame or Series
        CellScores with a density column, from :func:`intel.score_kde` or
        :func:`intel.score_dual_kde`; or a table indexed by ``cell_id`` with ``grid``.
    column : str
        The density column (``"kde"``, incidents per km², by default).
    grid, period
        As in :func:`map_scores`.
    style : {"classed", "continuous"}
        ``"classed"``: ``k`` classes by ``scheme`` (legend with the class ranges);
        ``"continuous"``: a colour ramp from the lowest to the highest value drawn.
    k : int
        Number of classes (``style="classed"``).
    scheme : {"quantiles", "natural_breaks", "equal_interval"}
        Class breaks (``style="classed"``).
    cmap : str
        Matplotlib colour map name.
    min_value : float, optional
        Cells below this value are left out; default: only cells at zero or missing.
    opacity : float
        Fill opacity of the surface, in (0, 1].
    tiles, attribution, popup_columns, title
        As in :func:`map_scores`.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import intel
    >>> surface = intel.score_kde(intel.load_sample("memphis_robberies"), cell_size_m=500)
    >>> m = intel.map_density(surface, style="continuous")
    >>> "linear-gradient" in m.get_root().render()
    True
    """
    owner = "map_density"
    check_option("style", style, owner, _DENSITY_STYLES)
    check_number("min_value", min_value, owner, allow_none=True)
    check_number("opacity", opacity, owner, low=0, high=1, closed="right")
    frame = _numeric_cells(scores, owner, column, grid=grid, period=period, k=k, scheme=scheme, cmap=cmap)
    values = frame[column].to_numpy(dtype=np.float64)
    keep = np.isfinite(values) & (values > 0 if min_value is None else values >= min_value)
    drawn = frame.loc[keep]
    label = title or ("incidents per km²" if column == "kde" else column.replace("_", " "))
    m = _base_map(frame, tiles, attribution, owner)
    popups = _popup_columns(frame, popup_columns, column, owner)
    if style == "classed":
        items = _add_classed(m, drawn, column, k=int(k), scheme=scheme, cmap=cmap, popups=popups, name=label,
                             surface=True, opacity=opacity)
        _finish(m, label, items, footer=f"{len(drawn):,} of {len(frame):,} cells drawn")
    else:
        ramp_html = _add_continuous(m, drawn, column, cmap=cmap, popups=popups, name=label, opacity=opacity)
        _finish(m, label, [], extra_html=ramp_html, footer=f"{len(drawn):,} of {len(frame):,} cells drawn")
    return m


def map_hotspots(
    scores: gpd.GeoDataFrame,
    column: str | None = None,
    *,
    tiles: str | None = None,
    attribution: str | None = None,
    popup_columns: Sequence[str] | None = None,
    title: str | None = None,
) -> folium.Map:
    """Colour the cells of CellScores by their class: hot and cold spots, clusters, change.

    Parameters
    ----------
    scores : GeoDataFrame
        CellScores with a class column (from :func:`intel.score_gistar`,
        :func:`intel.score_moran`, :func:`intel.score_change` or
        :func:`intel.classify_emerging`).
    column : str, optional
        The class column; found automatically (``hotspot_class``,
        ``moran_class``, ``change_class``) when omitted.
    tiles, attribution : str, optional
        A basemap and, for a custom URL, its attribution; default none (offline).
    popup_columns : sequence of str, optional
        Columns shown when a cell is clicked; default: the score columns present.
    title : str, optional
        Shown above the legend.

    Returns
    -------
    folium.Map
        Significant cells in the desktop tools' colours (hot spots 99/95/90% dark
        to light red, cold spots light to dark blue), one layer per class, cells that
        are not significant but hold incidents in light grey, and empty, not
        significant cells left out.

    Examples
    --------
    >>> import intel
    >>> scores = intel.score_gistar(intel.load_sample("memphis_robberies"), cell_size_m=500)
    >>> m = intel.map_hotspots(scores)
    >>> "hot spot 99%" in m.get_root().render()
    True
    """
    owner = "map_hotspots"
    if column is None:
        found = [c for c in _CLASS_COLUMNS if isinstance(scores, pd.DataFrame) and c in scores.columns]
        if not found:
            raise InputError(f"{owner}: no class column ({', '.join(_CLASS_COLUMNS)}) in the table; "
                             "score it with intel.score_gistar, score_moran or score_change first, or name the "
                             "column.")
        column = found[0]
    frame = cell_table(scores, owner, column).to_crs(4326)
    return _class_map(frame, column, owner, tiles=tiles, attribution=attribution, popup_columns=popup_columns,
                      title=title or column.replace("_", " "))


def map_emerging(
    scores: gpd.GeoDataFrame,
    column: str = "hotspot_class",
    *,
    tiles: str | None = None,
    attribution: str | None = None,
    popup_columns: Sequence[str] | None = None,
    title: str | None = None,
) -> folium.Map:
    """Map the emerging hot spot categories of :func:`intel.classify_emerging`.

    Hot categories are reds, darkest where the pattern is strongest (intensifying,
    persistent), cold ones blues; as ArcGIS Pro sets apart its on-and-off categories
    with hatching, the map does with outlines: new spots have a heavy dark outline,
    sporadic and oscillating ones a dashed outline, historical ones are pale with a
    dotted outline. Each category is a layer that can be switched off.

    Parameters
    ----------
    scores : GeoDataFrame
        CellScores from :func:`intel.classify_emerging`.
    column : str
        The category column.
    tiles, attribution, popup_columns, title
        As in :func:`map_hotspots`.

    Returns
    -------
    folium.Map
        Cells in an emerging category, and cells with no pattern that hold incidents
        (light grey); empty cells with no pattern are left out.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.load_sample("chicago_district11")
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> cube = intel.build_cube(incidents, grid, freq="MS", end="2018-11-01")
    >>> m = intel.map_emerging(intel.classify_emerging(cube, grid))
    >>> "no pattern detected" in m.get_root().render()
    True
    """
    owner = "map_emerging"
    frame = cell_table(scores, owner, column).to_crs(4326)
    unknown = sorted(set(frame[column].dropna().astype(str)) - set(EMERGING_LABELS))
    if unknown:
        raise InputError(f"{owner}: column {column!r} holds labels that are not emerging hot spot categories "
                         f"({', '.join(map(repr, unknown[:5]))}); map Gi* or Moran classes with map_hotspots.")
    return _class_map(frame, column, owner, tiles=tiles, attribution=attribution, popup_columns=popup_columns,
                      title=title or "emerging hot spots")


def map_clusters(
    clusters: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    labels: Any = None,
    shape: str = "both",
    max_points: int = 20000,
    tiles: str | None = None,
    attribution: str | None = None,
    title: str | None = None,
) -> folium.Map:
    """Map space-time clusters: hulls and standard deviational ellipses, with their incidents.

    Parameters
    ----------
    clusters : GeoDataFrame
        A cluster table from :func:`intel.build_cluster_table`.
    incidents : GeoDataFrame, optional
        The incidents that were clustered, drawn as points.
    labels : array-like, optional
        One cluster number per incident (``-1`` = none), as given to
        ``build_cluster_table`` (or a fitted STDBSCAN/NNH): clustered incidents take
        their cluster's colour. Without it every incident is drawn as grey context.
    shape : {"hull", "ellipse", "both"}
        Draw each cluster's convex hull (filled), its one-standard-deviation ellipse
        (dashed), or both.
    max_points : int
        Most incident points drawn; beyond it incidents outside clusters are thinned
        (every n-th, stated in the legend) so the page stays small and fast.
    tiles, attribution, title
        As in :func:`map_scores`.

    Returns
    -------
    folium.Map
        Popups give each cluster's size, first and last dates, span in days and
        dominant category.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.load_sample("memphis_robberies")
    >>> model = intel.STDBSCAN(eps_m=400, eps_days=14, min_samples=4).fit(incidents)
    >>> table = intel.build_cluster_table(incidents, model.labels_)
    >>> m = intel.map_clusters(table, incidents, labels=model.labels_)
    >>> "first date" in m.get_root().render()
    True
    """
    owner = "map_clusters"
    check_option("shape", shape, owner, _CLUSTER_SHAPES)
    check_number("max_points", max_points, owner, low=0, integer=True)
    table = check_layer(clusters, owner, "clusters", need=("cluster_id", "n"),
                         hint="build it with intel.build_cluster_table")
    points = None
    if incidents is not None:
        points = check_layer(incidents, owner, "incidents", need=(), hint="pass the incidents that were clustered")
    elif labels is not None:
        raise InputError(f"{owner}: labels= colours the incidents, but no incidents were given; pass them too.")
    if len(table) == 0 and points is None:
        raise InputError(f"{owner}: the cluster table is empty and no incidents were given: nothing to draw. "
                         "Loosen the clustering (larger eps_m / eps_days, smaller min_samples).")
    ids = table["cluster_id"].to_numpy()
    colour_of = {cid: _CLUSTER_COLOURS[i % len(_CLUSTER_COLOURS)] for i, cid in enumerate(ids)}
    info = _cluster_info(table)
    bounds_from = [table.to_crs(4326)] if len(table) else []
    if points is not None:
        bounds_from.append(points.to_crs(4326))
    m = _base_map(pd.concat(bounds_from), tiles, attribution, owner)
    popups = [c for c in info.columns if c != "geometry"]
    if len(table) and shape in ("hull", "both"):
        hulls = table.geometry
        if table.crs.is_projected:
            # a cluster of one place (or a line of places) has no area: give it 15 m so it can be seen and clicked
            thin = ~hulls.geom_type.isin(["Polygon", "MultiPolygon"])
            hulls = hulls.where(~thin, hulls.buffer(15.0))
        layer = info.set_geometry(gpd.GeoSeries(hulls.values, crs=table.crs)).to_crs(4326)
        styles = [{"fillColor": colour_of[c], "color": colour_of[c], "weight": 2, "fillOpacity": 0.3, "opacity": 0.9}
                  for c in table["cluster_id"]]
        _geojson(layer, name=f"cluster hulls ({len(table)})", style=styles, popups=popups,
                 tooltips=["cluster id", "n"]).add_to(m)
    if len(table) and shape in ("ellipse", "both") and "ellipse_wkt" in table.columns:
        wkt = table["ellipse_wkt"].astype(object).where(table["ellipse_wkt"].notna(), None)
        ellipses = gpd.GeoSeries.from_wkt(wkt.tolist(), crs=table.crs)
        has = ~(ellipses.isna() | ellipses.is_empty).to_numpy()
        if has.any():
            layer = info.loc[has].set_geometry(gpd.GeoSeries(ellipses.values[has], crs=table.crs)).to_crs(4326)
            styles = [{"fillColor": colour_of[c], "color": colour_of[c], "weight": 2, "fillOpacity": 0.05,
                       "dashArray": "6 4"} for c in table["cluster_id"].to_numpy()[has]]
            _geojson(layer, name=f"cluster ellipses (1 standard deviation, {int(has.sum())})", style=styles,
                     popups=popups, tooltips=["cluster id", "n"]).add_to(m)
    items: list[tuple[str, str]] = []
    largest = table.sort_values(["n", "cluster_id"], ascending=[False, True]).head(8)
    for row in largest.itertuples():
        items.append((_swatch(colour_of[row.cluster_id]), f"cluster {row.cluster_id}: {row.n} incidents"
                      + (f", {format_date(row.first_date)} to {format_date(row.last_date)}" if hasattr(row, "first_date") else "")))
    if len(table) > len(largest):
        items.append(("", f"... and {len(table) - len(largest)} more clusters"))
    footer = f"{len(table)} clusters" + ("; hull filled, ellipse dashed" if shape == "both" else "")
    if points is not None:
        footer += "; " + _add_cluster_points(m, points, labels, colour_of, int(max_points), owner)
        items.append((_swatch("#636363", round_=True), "incident outside any cluster"))
    _finish(m, title or "space-time clusters", items, footer=footer)
    return m


def map_patrols(
    plan: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame | None = None,
    *,
    shift: str | None = None,
    tiles: str | None = None,
    attribution: str | None = None,
    title: str | None = None,
) -> folium.Map:
    """Map a patrol plan: its places, routes and visit times, one layer per shift.

    Parameters
    ----------
    plan : GeoDataFrame
        A PatrolPlan from :func:`intel.recommend_patrols`.
    routes : GeoDataFrame, optional
        The plan's routes from :func:`intel.plan_routes`: legs drawn in each unit's
        colour from the start point, and each place's stop number in its popup.
    shift : str, optional
        Map only this shift (e.g. ``"22-06"``). Default: every shift as a layer of
        the layer control, the first one shown.
    tiles, attribution, title
        As in :func:`map_scores`.

    Returns
    -------
    folium.Map
        Places coloured by unit; places drawn at random by the exploration safeguard
        have a dashed outline. Popups give the shift, unit, minutes, visits, visit
        times, share of the shift's risk and the reason the place was chosen.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.load_sample("chicago_district11")
    >>> scores = intel.score_counts(incidents, cell_size_m=250)
    >>> plan = intel.recommend_patrols(scores, units=2, date="2018-11-12", random_state=0)
    >>> x0, y0, x1, y1 = scores.total_bounds
    >>> routes = intel.plan_routes(plan, start=((x0 + x1) / 2, (y0 + y1) / 2))
    >>> m = intel.map_patrols(plan, routes)
    >>> "visit times" in m.get_root().render()
    True
    """
    owner = "map_patrols"
    table = check_layer(plan, owner, "plan", need=("shift", "place_id"), hint="make it with intel.recommend_patrols")
    if len(table) == 0:
        raise InputError(f"{owner}: the plan has no places to draw (no cell had positive risk, or no capacity).")
    shifts = list(dict.fromkeys(table["shift"].astype(str)))
    if shift is not None:
        check_option("shift", shift, owner, shifts)
        shifts = [shift]
    legs = None
    if routes is not None:
        legs = check_layer(routes, owner, "routes", need=("shift", "unit", "stop", "place_id"),
                            hint="make it with intel.plan_routes(plan, start=...)")
    units = sorted(pd.unique(table["unit"])) if "unit" in table.columns else [1]
    colour_of = {u: _QUALITATIVE[i % len(_QUALITATIVE)] for i, u in enumerate(units)}
    m = _base_map(table.to_crs(4326), tiles, attribution, owner)
    summaries = {s.get("shift"): s for s in table.attrs.get("shifts", []) if isinstance(s, dict)}
    for i, name in enumerate(shifts):
        places = table.loc[table["shift"].astype(str) == name]
        group = folium.FeatureGroup(name=f"shift {name} ({len(places)} places)", show=(i == 0))
        stops = _stops(legs, name)
        _place_layer(places, stops, colour_of).add_to(group)
        if legs is not None:
            _route_layers(legs.loc[legs["shift"].astype(str) == name], colour_of, group)
        group.add_to(m)
    items = [(_swatch(colour_of[u]), f"unit {u}") for u in units]
    if "selection" in table.columns and (table["selection"] == "exploration").any():
        items.append((_swatch("#ffffff", edge="#333", dash=True), "exploration place (drawn at random: a safeguard)"))
    if legs is not None:
        items.append((_swatch("#333", round_=True), "start point; lines: each unit's round"))
    lines = []
    for name in shifts:
        s = summaries.get(name)
        if s and "minutes_planned" in s and "minutes_available" in s:
            share = s.get("expected_share")
            lines.append(f"{name}: {s.get('places', '?')} places, {s['minutes_planned']:,} of "
                         f"{s['minutes_available']:,} unit-minutes planned"
                         + (f", {share:.0%} of the shift's risk" if isinstance(share, (int, float)) else ""))
    date = table.attrs.get("patrol", {}).get("date")
    _finish(m, title or ("patrol plan" + (f" for {date}" if date else "")), items, footer=lines)
    return m


# ---------------------------------------------------------------- columns shown


def _numeric_cells(scores: Any, owner: str, column: str, *, grid: Any, period: Any, k: int, scheme: str,
                   cmap: str) -> gpd.GeoDataFrame:
    """The cells in EPSG:4326 after the checks every classed map of a number makes."""
    check_option("scheme", scheme, owner, SCHEMES)
    check_number("k", k, owner, low=2, high=12, integer=True)
    ramp(cmap, 2, owner=owner)  # a bad colour map name fails before any work
    frame = cell_table(scores, owner, column, grid=grid, period=period)
    check_numeric(frame, column, owner, hint="use map_hotspots or map_emerging for class columns")
    return frame.to_crs(4326)


def _popup_columns(frame: pd.DataFrame, given: Sequence[str] | None, column: str, owner: str) -> list[str]:
    if given is not None:
        if isinstance(given, str):
            given = [given]
        missing = [c for c in given if c not in frame.columns]
        if missing:
            raise InputError(f"{owner}: popup_columns {missing} are not columns of the table.")
        return list(given)
    wanted = ["cell_id", column, *[c for c in _NUMBER_COLUMNS if c in frame.columns], *_CLASS_COLUMNS]
    return list(dict.fromkeys(c for c in wanted if c in frame.columns))


# ---------------------------------------------------------------- map building


def _base_map(frame: gpd.GeoDataFrame, tiles: str | None, attribution: str | None, owner: str) -> folium.Map:
    west, south, east, north = frame.total_bounds
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles=None, control_scale=True,
                   zoom_start=12)
    if tiles is not None:
        _tile_layer(tiles, attribution, owner).add_to(m)
    elif attribution is not None:
        raise InputError(f"{owner}: attribution= is for a basemap; pass tiles= too (or leave attribution out).")
    m.fit_bounds([[south, west], [north, east]])
    m.get_root().header.add_child(Element(f"<style>{_CSS}</style>"), name="intel_map_css")
    return m


def _tile_layer(tiles: Any, attribution: str | None, owner: str) -> folium.TileLayer:
    if not isinstance(tiles, str) or not tiles.strip():
        raise InputError(f"The 'tiles' parameter of {owner} must be a basemap name such as 'OpenStreetMap' or a "
                         f"URL template with {{z}}/{{x}}/{{y}}. Got {tiles!r} instead.")
    import xyzservices

    try:
        # folium's own alias: plain "OpenStreetMap" is the Mapnik style
        provider = xyzservices.providers.query_name(
            "OpenStreetMap Mapnik" if tiles.strip().lower() == "openstreetmap" else tiles)
    except ValueError:
        provider = None
    if provider is None:
        if not all(part in tiles for part in ("{z}", "{x}", "{y}")):
            raise InputError(f"{owner}: tiles={tiles!r} is neither a known basemap (e.g. 'OpenStreetMap', "
                             "'OpenTopoMap') nor a URL template with {z}, {x} and {y}.")
        if not attribution:
            raise InputError(f"{owner}: a custom tile URL needs attribution= (the tile provider's credit, which "
                             "its terms of use require on the map).")
        return folium.TileLayer(tiles, attr=attribution, name="basemap", overlay=False, control=True)
    # named providers carry their own attribution; a given one replaces it
    return folium.TileLayer(provider, attr=attribution, name=f"basemap: {provider.name}", overlay=False,
                            control=True)


def _finish(m: folium.Map, title: str, items: list[tuple[str, str]], *, footer: str | Sequence[str] = "",
            extra_html: str = "") -> None:
    """Add the layer control, the legend (swatch HTML and text per item, footer lines) and the location note."""
    rows = "".join(f"<div>{swatch}{html.escape(label)}</div>" for swatch, label in items)
    lines = [footer] if isinstance(footer, str) else list(footer)
    foot = "<br>".join(html.escape(line) for line in lines if line)
    legend = (f"<b>{html.escape(title)}</b>{extra_html}{rows}"
              + (f'<div class="intel-note" style="margin-top:4px">{foot}</div>' if foot else ""))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    _Control(legend, position="bottomright", css_class="intel-box intel-legend").add_to(m)
    _Control(html.escape(_LOCATION_NOTE), position="bottomleft", css_class="intel-box intel-note").add_to(m)
    make_offline(m)
    _stable_ids(m, legend)


def _stable_ids(m: folium.Map, legend: str) -> None:
    """Name the page's elements by their place in the tree instead of folium's random ids.

    A rerun then writes the same page, byte for byte. The prefix comes from the map's
    content (legend, extent, features), so two different maps put in one page still
    get different names.
    """
    elements = list(_walk(m.get_root()))
    features = sum(len(e.data.get("features", ())) for e in elements if isinstance(e, folium.GeoJson))
    digest = hashlib.sha1(f"{legend}|{m.location}|{features}|{len(elements)}".encode()).hexdigest()[:8]
    for i, element in enumerate(elements):
        element._id = f"{digest}{i:04d}"


def _walk(element: Any):
    yield element
    for child in list(getattr(element, "_children", {}).values()):
        yield from _walk(child)


class _Control(MacroElement):
    """A Leaflet control holding fixed HTML (a legend or a note), inside the map's own container."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
            div.innerHTML = {{ this.content|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, content: str, *, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "IntelControl"
        self.content = content
        self.position = position
        self.css_class = css_class


def _swatch(fill: str, *, edge: str | None = None, dash: bool | str | None = None, weight: float = 1.0,
            round_: bool = False) -> str:
    border = f"{max(weight, 1.0):.0f}px {'dashed' if dash else 'solid'} {edge or '#777'}"
    radius = "border-radius:50%;" if round_ else ""
    return f'<span class="intel-swatch" style="background:{fill};border:{border};{radius}"></span>'


def _geojson(frame: gpd.GeoDataFrame, *, name: str, style: dict | list[dict], popups: Sequence[str],
             tooltips: Sequence[str] = (), marker: Any = None, show: bool = True,
             control: bool = True) -> folium.GeoJson:
    """A GeoJson layer with rounded coordinates, the given columns as text, popups and tooltips.

    ``style`` is one style for every feature, or one per feature (carried in the
    features, which Leaflet reads without a lookup table).
    """
    fields = list(dict.fromkeys([*popups, *tooltips]))
    columns = [display_values(frame[c]) for c in fields]
    # six decimals of a degree is about 0.1 m: enough for cells, and the file stays small
    geometry = shapely.transform(frame.geometry.values, lambda xy: np.round(xy, 6))
    # shapely writes all the geometries in one C call (geopandas' feature iterator goes through Python objects)
    texts = shapely.to_geojson(geometry)
    shapes = json.loads("[" + ",".join(t if t is not None else "null" for t in texts) + "]")
    per_feature = isinstance(style, list)
    features = []
    for i, shape in enumerate(shapes):
        props = {name: values[i] for name, values in zip(fields, columns)}
        if per_feature:
            props["style"] = style[i]
        features.append({"type": "Feature", "properties": props, "geometry": shape})
    data = {"type": "FeatureCollection", "features": features}
    kwargs: dict[str, Any] = {}
    if popups:
        kwargs["popup"] = folium.GeoJsonPopup(fields=list(popups), aliases=[_alias(c) for c in popups])
    if tooltips:
        kwargs["tooltip"] = folium.GeoJsonTooltip(fields=list(tooltips), aliases=[_alias(c) for c in tooltips],
                                                  sticky=True)
    if not per_feature:
        kwargs["style_function"] = lambda feature, s=dict(style): s
    return folium.GeoJson(data, name=name, marker=marker, show=show, control=control, **kwargs)


def _alias(column: str) -> str:
    return column.replace("_", " ")


def _add_classed(m: folium.Map, drawn: gpd.GeoDataFrame, column: str, *, k: int, scheme: str, cmap: str,
                 popups: list[str], name: str, surface: bool, opacity: float = 0.7) -> list[tuple[str, str]]:
    """One layer per class of ``column`` (in a group named ``name``); returns the legend items."""
    if not len(drawn):
        return [("", "no cell to draw")]
    values = drawn[column].to_numpy(dtype=np.float64)
    bins, _ = class_breaks(values, k, scheme)
    colours = ramp(cmap, int(bins.max()) + 1, owner="map")
    group = folium.FeatureGroup(name=name)
    items = []
    for i, colour in enumerate(colours):
        members = bins == i
        part = drawn.loc[members]
        low, high = values[members].min(), values[members].max()
        label = f"{format_number(low)} – {format_number(high)}" if low != high else format_number(low)
        # a surface reads best without cell outlines; scores keep a thin outline to show the cells
        style = {"fillColor": colour, "fillOpacity": opacity, "color": colour, "weight": 0 if surface else 0.5,
                 "opacity": min(1.0, opacity + 0.2)}
        _geojson(part, name=label, style=style, popups=popups, tooltips=[column], control=False).add_to(group)
        items.append((_swatch(colour), f"{label} ({int(members.sum()):,} cells)"))
    group.add_to(m)
    return items[::-1]  # highest class on top, as analysts read a legend


def _add_continuous(m: folium.Map, drawn: gpd.GeoDataFrame, column: str, *, cmap: str, popups: list[str],
                    name: str, opacity: float) -> str:
    """Cells coloured along a ramp (quantised to 64 steps, invisible to the eye, 64 styles in the page)."""
    if not len(drawn):
        return "<div>no cell to draw</div>"
    values = drawn[column].to_numpy(dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    steps = ramp(cmap, _CONTINUOUS_LEVELS, owner="map")
    level = np.zeros(values.size, dtype=np.int64) if hi == lo else np.minimum(
        ((values - lo) / (hi - lo) * _CONTINUOUS_LEVELS).astype(np.int64), _CONTINUOUS_LEVELS - 1)
    group = folium.FeatureGroup(name=name)
    for i in np.unique(level):
        style = {"fillColor": steps[i], "fillOpacity": opacity, "color": steps[i], "weight": 0}
        _geojson(drawn.loc[level == i], name=f"{name} {i}", style=style, popups=popups, tooltips=[column],
                 control=False).add_to(group)
    group.add_to(m)
    gradient = ", ".join(steps[:: max(1, _CONTINUOUS_LEVELS // 8)] + [steps[-1]])
    return (f'<div class="intel-ramp" style="background:linear-gradient(to right, {gradient})"></div>'
            f'<div class="intel-ramp-labels"><span>{format_number(lo)}</span><span>{format_number((lo + hi) / 2)}</span>'
            f"<span>{format_number(hi)}</span></div>")


def _class_map(frame: gpd.GeoDataFrame, column: str, owner: str, *, tiles: str | None, attribution: str | None,
               popup_columns: Sequence[str] | None, title: str) -> folium.Map:
    labels = frame[column].astype(str).where(frame[column].notna(), "missing")
    quiet = labels.isin(QUIET).to_numpy()
    drawn = ~quiet | has_incidents(frame)
    m = _base_map(frame, tiles, attribution, owner)
    popups = _popup_columns(frame, popup_columns, column, owner)
    tooltips = [column, *(["n"] if "n" in frame.columns else [])]
    counts = labels.value_counts()
    items = []
    # quiet cells first, so the classes are drawn over them
    order = legend_order(labels.unique())
    for label in sorted(order, key=lambda lab: lab not in QUIET):
        members = (labels == label).to_numpy() & drawn
        s = class_style(label)
        if members.any():
            quiet_label = label in QUIET
            style = {"fillColor": s.fill, "fillOpacity": 0.3 if quiet_label else 0.75, "color": s.edge,
                     "weight": 0.4 if quiet_label else s.weight, "opacity": 0.5 if quiet_label else 0.9}
            if s.dash:
                style["dashArray"] = s.dash
            shown = f"{label} ({int(members.sum()):,})" if not quiet_label else f"{label}, with incidents ({int(members.sum()):,})"
            _geojson(frame.loc[members], name=shown, style=style, popups=popups, tooltips=tooltips).add_to(m)
    for label in order:
        s = class_style(label)
        items.append((_swatch(s.fill, edge=s.edge, dash=s.dash, weight=s.weight),
                      f"{label} ({int(counts.get(label, 0)):,})"))
    n_quiet_empty = int((quiet & ~drawn).sum())
    footer = (f"{n_quiet_empty:,} empty cells with no pattern are not drawn" if n_quiet_empty else "")
    _finish(m, title, items, footer=footer)
    return m


# ---------------------------------------------------------------- clusters


def _cluster_info(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The cluster table's columns as analysts read them in a popup."""
    info = pd.DataFrame({"cluster id": table["cluster_id"].to_numpy(), "n": table["n"].to_numpy()},
                        index=table.index)
    if "first_date" in table.columns and "last_date" in table.columns:
        first = pd.to_datetime(table["first_date"])
        last = pd.to_datetime(table["last_date"])
        info["first date"] = [format_date(v, minutes=True) for v in first]
        info["last date"] = [format_date(v, minutes=True) for v in last]
        span = (last - first).dt.total_seconds() / 86400.0
        info["span days"] = span.round(1).to_numpy()
    if "dominant_category" in table.columns:
        info["dominant category"] = table["dominant_category"].astype(object).where(
            table["dominant_category"].notna(), "").to_numpy()
    if "dominant_share" in table.columns:
        info["dominant share"] = [f"{v:.0%}" if np.isfinite(v) else "" for v in
                                  table["dominant_share"].to_numpy(dtype=np.float64)]
    if "sde_sy_m" in table.columns and "sde_sx_m" in table.columns:
        info["ellipse axes m"] = [f"{a:.0f} x {b:.0f}" if np.isfinite(a) and np.isfinite(b) else "" for a, b in
                                  zip(table["sde_sy_m"].to_numpy(dtype=np.float64),
                                      table["sde_sx_m"].to_numpy(dtype=np.float64))]
    return gpd.GeoDataFrame(info, geometry=table.geometry.values, crs=table.crs)


def _add_cluster_points(m: folium.Map, incidents: gpd.GeoDataFrame, labels: Any, colour_of: dict, max_points: int,
                        owner: str) -> str:
    """Draw the incidents (clustered in colour, the rest grey, thinned past ``max_points``); returns a note."""
    n = len(incidents)
    if labels is not None and hasattr(labels, "labels_"):
        labels = labels.labels_
    if labels is None:
        lab = np.full(n, -1, dtype=np.int64)
    else:
        lab = np.asarray(labels)
        if lab.ndim != 1 or lab.size != n:
            raise InputError(f"{owner}: labels has shape {lab.shape}, but there are {n:,} incidents; pass one "
                             "cluster number per incident (e.g. model.labels_).")
        lab = np.where(pd.isna(lab), -1, lab).astype(np.int64)
    geom = incidents.geometry
    usable = ~(geom.isna() | geom.is_empty).to_numpy() & geom.geom_type.eq("Point").to_numpy()
    in_cluster = usable & np.isin(lab, list(colour_of))
    others = np.flatnonzero(usable & ~in_cluster)
    clustered = np.flatnonzero(in_cluster)
    note = f"{clustered.size:,} clustered incidents"
    room = max(max_points - clustered.size, 0)
    if clustered.size > max_points:
        # systematic thinning (every n-th): no seed needed, and a rerun draws the same points
        step = int(np.ceil(clustered.size / max(max_points, 1)))
        note = f"1 in {step} of {clustered.size:,} clustered incidents"
        clustered = clustered[::step]
        room = 0
    step = int(np.ceil(others.size / room)) if others.size and room else 0
    shown_others = others[::step] if step else others[:0]
    if others.size:
        note += (f", {others.size:,} others" if step == 1 else
                 f", 1 in {step} of {others.size:,} others" if step else f", {others.size:,} others not drawn")
    rows = np.concatenate([shown_others, clustered])
    if rows.size == 0:
        return note
    points = incidents.iloc[rows].to_crs(4326)
    info = pd.DataFrame(index=points.index)
    info["cluster"] = [str(c) if c >= 0 and c in colour_of else "none" for c in lab[rows]]
    if "occurred_at" in points.columns:
        info["occurred at"] = [format_date(v, minutes=True) for v in points["occurred_at"]]
    if "category" in points.columns:
        info["category"] = points["category"].astype(object).where(points["category"].notna(), "").to_numpy()
    styles = [{"fillColor": colour_of.get(c, "#636363"), "color": colour_of.get(c, "#636363"),
               "fillOpacity": 0.9 if c in colour_of else 0.45, "radius": 4 if c in colour_of else 2.5}
              for c in lab[rows]]
    layer = gpd.GeoDataFrame(info, geometry=points.geometry.values, crs=4326)
    marker = folium.CircleMarker(radius=3, weight=0.5, fill=True)
    _geojson(layer, name=f"incidents ({rows.size:,} drawn)", style=styles, popups=[],
             tooltips=list(info.columns), marker=marker).add_to(m)
    return note


# ---------------------------------------------------------------- patrols


def _stops(legs: gpd.GeoDataFrame | None, shift: str) -> dict[str, str]:
    if legs is None:
        return {}
    mine = legs.loc[(legs["shift"].astype(str) == shift) & legs["place_id"].notna()]
    counts = mine.groupby("unit")["stop"].count()
    return {str(r.place_id): f"{int(r.stop)} of {int(counts[r.unit])} (unit {r.unit})" for r in mine.itertuples()}


def _place_layer(places: gpd.GeoDataFrame, stops: dict[str, str], colour_of: dict) -> folium.GeoJson:
    info = pd.DataFrame(index=places.index)
    info["place"] = places["place_id"].astype(str).to_numpy()
    info["shift"] = places["shift"].astype(str).to_numpy()
    units = places["unit"].to_numpy() if "unit" in places.columns else np.ones(len(places), dtype=int)
    info["unit"] = units
    if stops:
        info["stop"] = [stops.get(p, "") for p in info["place"]]
    for column in ("selection", "minutes", "visits"):
        if column in places.columns:
            info[column] = places[column].to_numpy()
    if "visit_times" in places.columns:
        info["visit times"] = [", ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else str(v)
                               for v in places["visit_times"]]
    if "expected_share" in places.columns:
        info["share of shift risk"] = [f"{v:.1%}" for v in places["expected_share"].to_numpy(dtype=np.float64)]
    if "risk" in places.columns:
        info["risk"] = places["risk"].to_numpy()
    if "cell_ids" in places.columns:
        info["cells"] = [len(v) if isinstance(v, (list, tuple, np.ndarray)) else 1 for v in places["cell_ids"]]
    if "reason" in places.columns:
        info["reason"] = places["reason"].astype(str).to_numpy()
    exploring = (places["selection"] == "exploration").to_numpy() if "selection" in places.columns else \
        np.zeros(len(places), dtype=bool)
    styles = []
    for unit, explore in zip(units, exploring):
        colour = colour_of.get(unit, _QUALITATIVE[0])
        style = {"fillColor": colour, "color": colour, "fillOpacity": 0.2 if explore else 0.45,
                 "weight": 2.5, "opacity": 0.95}
        if explore:
            style["dashArray"] = "6 4"
        styles.append(style)
    layer = gpd.GeoDataFrame(info, geometry=places.to_crs(4326).geometry.values, crs=4326)
    return _geojson(layer, name="places", style=styles, popups=list(info.columns), tooltips=["place", "unit"],
                    control=False)


def _route_layers(legs: gpd.GeoDataFrame, colour_of: dict, group: folium.FeatureGroup) -> None:
    if not len(legs):
        return
    info = pd.DataFrame(index=legs.index)
    info["unit"] = legs["unit"].to_numpy()
    info["stop"] = legs["stop"].to_numpy()
    info["to"] = legs["place_id"].astype(object).where(legs["place_id"].notna(), "start").to_numpy()
    for column, alias in (("leg_m", "metres"), ("leg_minutes", "minutes"), ("cumulative_minutes", "minutes so far")):
        if column in legs.columns:
            info[alias] = legs[column].to_numpy(dtype=np.float64).round(1)
    wgs = legs.to_crs(4326)
    styles = [{"color": colour_of.get(u, _QUALITATIVE[0]), "weight": 3, "opacity": 0.85, "dashArray": "8 4"}
              for u in info["unit"]]
    layer = gpd.GeoDataFrame(info, geometry=wgs.geometry.values, crs=4326)
    _geojson(layer, name="routes", style=styles, popups=list(info.columns), tooltips=["unit", "stop", "to"],
             control=False).add_to(group)
    first = wgs.loc[legs["stop"].to_numpy() == 1].geometry
    if len(first):
        start = shapely.get_point(first.values[0], 0)
        folium.CircleMarker(location=[round(start.y, 6), round(start.x, 6)], radius=7, color="#333",
                            fill=True, fill_color="#fff", fill_opacity=1, weight=3,
                            tooltip="start point (every unit sets out from here)").add_to(group)
