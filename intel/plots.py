"""Static figures (matplotlib) for reports and slides.

- :func:`plot_grid`: the classed grid map (hot and cold spots in ArcGIS's colours
  when the column is a class);
- :func:`plot_hour_weekday`: the 7 x 24 heat table of :func:`intel.build_hour_weekday`;
- :func:`plot_trend`: counts per period against Poisson bands around the recent mean;
- :func:`plot_capture_curve`: the backtest capture curve of one or more models.

Each returns a :class:`matplotlib.figure.Figure` made without pyplot, so nothing pops
up, no global state changes and the figures work in scripts, servers and notebooks
alike (Jupyter displays a returned figure). Pass ``ax=`` to draw into a figure of your
own. Text is sized for a slide. Save with ``fig.savefig("trend.png", dpi=150)``; the
briefing inlines figures with :func:`intel._render.fig_to_data_uri`.
"""

from __future__ import annotations

from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from ._display import cell_table, format_number, has_incidents
from ._symbology import QUIET, SCHEMES, class_breaks, class_style, legend_order, ramp
from ._validation import check_number, check_option
from .exceptions import InputError

__all__ = ["plot_grid", "plot_hour_weekday", "plot_trend", "plot_capture_curve"]

_CLASS_COLUMNS = ("hotspot_class", "moran_class", "change_class")
_EMPTY_COLOUR = "#f2f2f2"
_METRICS = {
    "hit_rate": "incidents captured (%)",
    "pai": "PAI (hit rate / area share)",
    "pei": "PEI (captured / most possible)",
}
_WEEKDAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LABEL_SIZE = 12
_TITLE_SIZE = 14
_TICK_SIZE = 11
_NOTE = "Locations are approximate (publishers snap or shift them). Cells summarise places, not people."


def plot_grid(
    scores: gpd.GeoDataFrame | pd.DataFrame | pd.Series,
    column: str | None = None,
    *,
    grid: gpd.GeoDataFrame | None = None,
    period: Any = None,
    classed: bool = True,
    k: int = 5,
    scheme: str = "quantiles",
    cmap: str = "YlOrRd",
    title: str | None = None,
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """The grid map: every cell coloured by a class or a number, with legend and scale bar.

    Parameters
    ----------
    scores : GeoDataFrame, DataFrame or Series
        CellScores; or a table indexed by ``cell_id`` (a Series, a Cube) with ``grid``.
    column : str, optional
        The column to draw. Default: the class column if there is one
        (``hotspot_class``, ``moran_class``, ``change_class``), else ``"n"``. A
        text column is drawn by class (hot and cold spots in ArcGIS's Gi_Bin colours,
        emerging categories as on :func:`intel.map_emerging`).
    grid : GeoDataFrame, optional
        The grid, when ``scores`` has no geometry.
    period : date or str, optional
        With a Cube: the period to draw; default the total over all periods.
    classed : bool
        Numeric columns: ``k`` classes by ``scheme`` (``True``), or a continuous
        colour ramp with a colour bar (``False``).
    k : int
        Number of classes.
    scheme : {"quantiles", "natural_breaks", "equal_interval"}
        Class breaks (over the non-zero cells; zero and missing cells are drawn pale).
    cmap : str
        Matplotlib colour map for numeric columns.
    title : str, optional
        Figure title; default the column name.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    figsize : tuple of float, optional
        Size of a new figure, in inches; default 10 wide, as tall as the area needs.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import intel
    >>> scores = intel.score_gistar(intel.load_sample("memphis_robberies"), cell_size_m=500)
    >>> fig = intel.plot_grid(scores)
    >>> map_axes, legend_axes = fig.axes
    >>> legend_axes.get_legend().get_texts()[0].get_text().startswith("hot spot 99%")
    True
    """
    owner = "plot_grid"
    if column is None:
        present = [c for c in _CLASS_COLUMNS if isinstance(scores, pd.DataFrame) and c in scores.columns]
        column = present[0] if present else "n"
    check_option("classed", classed, owner, (True, False))
    check_option("scheme", scheme, owner, SCHEMES)
    check_number("k", k, owner, low=2, high=12, integer=True)
    ramp(cmap, 2, owner=owner)
    frame = cell_table(scores, owner, column, grid=grid, period=period)
    own_figure = ax is None
    if figsize is None:
        x0, y0, x1, y1 = frame.total_bounds
        aspect = (y1 - y0) / (x1 - x0) if x1 > x0 else 1.0
        # about 6.5 inches of map beside the legend, plus room for the title and the note
        figsize = (10.0, float(np.clip(6.5 * aspect + 1.2, 4.0, 11.0)))
    series = frame[column]
    is_class = not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
    fig, ax = _axes(ax, figsize, owner)
    key = ax
    if own_figure and (is_class or classed):
        # the legend gets an axes of its own beside the map: a legend hung outside an equal-aspect map is
        # cut off by the figure's edge whenever the map is wide
        ax.remove()
        ax, key = fig.subplots(1, 2, width_ratios=[7, 3])
        key.set_axis_off()
    if is_class or classed:
        draw = _draw_classes if is_class else _draw_numeric_classes
        handles = draw(ax, frame, column) if is_class else draw(ax, frame, column, int(k), scheme, cmap)
        placement = {"loc": "upper left"} if key is not ax else {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
        key.legend(handles=handles, fontsize=_TICK_SIZE, frameon=False, title=column.replace("_", " "),
                   title_fontsize=_LABEL_SIZE, alignment="left", **placement)
    else:
        _draw_continuous(fig, ax, frame, column, cmap)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if frame.crs is not None and frame.crs.is_projected:
        _scale_bar(ax, frame)
    ax.set_title(title or column.replace("_", " "), fontsize=_TITLE_SIZE)
    if own_figure:
        fig.text(0.01, 0.005, _NOTE, fontsize=8, color="#555", ha="left", va="bottom")
    return fig


def plot_hour_weekday(
    table: pd.DataFrame,
    *,
    cmap: str = "YlOrRd",
    annotate: bool = False,
    title: str | None = None,
    ax: Any = None,
    figsize: tuple[float, float] = (12.0, 4.5),
) -> Any:
    """The hour-by-weekday heat table: when in the week incidents happen.

    Parameters
    ----------
    table : DataFrame
        The 7 x 24 table of :func:`intel.build_hour_weekday` (weekday rows from
        Monday, hour columns 0 to 23).
    cmap : str
        Matplotlib colour map.
    annotate : bool
        Write each cell's count in it (readable on a wide slide).
    title : str, optional
        Default: "Incidents by hour and weekday" with the total.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    figsize : tuple of float
        Size of a new figure, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import intel
    >>> table = intel.build_hour_weekday(intel.load_sample("chicago_district11"))
    >>> fig = intel.plot_hour_weekday(table)
    >>> fig.axes[0].get_xlabel()
    'hour of day'
    """
    owner = "plot_hour_weekday"
    check_option("annotate", annotate, owner, (True, False))
    ramp(cmap, 2, owner=owner)
    if not isinstance(table, pd.DataFrame) or table.shape != (7, 24):
        shape = getattr(table, "shape", None)
        raise InputError(f"{owner} needs the 7 x 24 table of intel.build_hour_weekday (weekdays by hours); got "
                         f"{type(table).__name__} of shape {shape}.")
    values = table.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError(f"{owner}: the table holds missing or negative counts; rebuild it with "
                         "intel.build_hour_weekday.")
    fig, ax = _axes(ax, figsize, owner)
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=0, interpolation="nearest")
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=_TICK_SIZE - 1)
    rows = [str(d)[:3] for d in table.index] if len(set(map(str, table.index))) == 7 else list(_WEEKDAY_SHORT)
    ax.set_yticks(range(7), rows, fontsize=_TICK_SIZE)
    ax.set_xlabel("hour of day", fontsize=_LABEL_SIZE)
    ax.set_ylabel("")
    for edge in ax.spines.values():
        edge.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label("incidents", fontsize=_LABEL_SIZE)
    bar.ax.tick_params(labelsize=_TICK_SIZE - 1)
    if annotate:
        top = values.max() if values.max() > 0 else 1.0
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * top else "#222")
    total = values.sum()
    ax.set_title(title or f"Incidents by hour and weekday ({total:,.0f} incidents)", fontsize=_TITLE_SIZE)
    return fig


def plot_trend(
    counts: pd.DataFrame | pd.Series,
    *,
    column: str = "n",
    group: str | None = None,
    window: int = 4,
    z: float = 1.96,
    title: str | None = None,
    ax: Any = None,
    figsize: tuple[float, float] = (11.0, 4.5),
) -> Any:
    """Counts per period against a Poisson band around the mean of the periods before.

    The expected count of a period is the mean ``m`` of the ``window`` periods before
    it; the band is ``m ± z * sqrt(m)`` (a Poisson count's standard deviation is the
    square root of its mean), so with ``z = 1.96`` about one period in twenty falls
    outside by chance alone. Periods above the band are marked in red, below in blue.

    Parameters
    ----------
    counts : DataFrame or Series
        Counts per period: the table of :func:`intel.build_period_counts` (columns
        ``period``, ``n`` and, when grouped, the group column), or a Series indexed
        by period.
    column : str
        The count column.
    group : str, optional
        With a grouped table: the group to draw (e.g. ``"BURGLARY"``). Default: all
        groups added together.
    window : int
        Number of earlier periods whose mean is the expected count.
    z : float
        Half-width of the band in standard deviations.
    title : str, optional
        Figure title.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    figsize : tuple of float
        Size of a new figure, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import intel
    >>> counts = intel.build_period_counts(intel.load_sample("chicago_district11"), by=None,
    ...                                 freq="W-MON", end="2018-11-12")
    >>> fig = intel.plot_trend(counts, window=4)
    >>> fig.axes[0].get_ylabel()
    'incidents per week'
    """
    import matplotlib.dates as mdates

    owner = "plot_trend"
    check_number("window", window, owner, low=1, integer=True)
    check_number("z", z, owner, low=0, closed="neither")
    periods, n, label = _period_series(counts, column, group, owner)
    if n.size <= window:
        raise InputError(f"{owner}: {n.size} periods, but the band needs more than window={window}; use a smaller "
                         "window or more periods.")
    expected = np.full(n.size, np.nan)
    csum = np.concatenate([[0.0], np.cumsum(n)])
    expected[window:] = (csum[window:-1] - csum[:-window - 1]) / window
    spread = z * np.sqrt(expected)
    lower, upper = np.maximum(expected - spread, 0.0), expected + spread
    fig, ax = _axes(ax, figsize, owner)
    ax.fill_between(periods, lower, upper, color="#9ecae1", alpha=0.45, linewidth=0,
                    label=f"Poisson band: expected ± {z:g}·√expected")
    ax.plot(periods, expected, color="#3182bd", linestyle="--", linewidth=1.5,
            label=f"expected: mean of the {window} periods before")
    ax.plot(periods, n, color="#222", marker="o", markersize=3.5, linewidth=1.5, label=label)
    above = n > upper
    below = n < lower
    if above.any():
        ax.scatter(periods[above], n[above], s=60, marker="^", color="#d62f27", zorder=3, label="above the band")
    if below.any():
        ax.scatter(periods[below], n[below], s=60, marker="v", color="#4575b5", zorder=3, label="below the band")
    per = _period_word(counts, periods)
    ax.set_ylabel(f"incidents per {per}", fontsize=_LABEL_SIZE)
    ax.set_xlabel(f"{per} starting", fontsize=_LABEL_SIZE)
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(axis="y", color="#ddd", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=_TICK_SIZE - 1, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    ax.set_title(title or f"{label}: {int(above.sum())} {per}s above and {int(below.sum())} below the band",
                 fontsize=_TITLE_SIZE)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return fig


def plot_capture_curve(
    curves: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    metric: str = "hit_rate",
    title: str | None = None,
    ax: Any = None,
    figsize: tuple[float, float] = (7.5, 5.5),
) -> Any:
    """Capture curves: the share of incidents each model's riskiest cells caught, by share of area.

    Parameters
    ----------
    curves : DataFrame or dict of str to DataFrame
        One curve from :func:`intel.capture_curve`; a dict of such curves by model
        label; or the table of :func:`intel.rolling_backtest` (a ``model`` column),
        whose scores are averaged over origins for each model and coverage.
    metric : {"hit_rate", "pai", "pei"}
        What to draw against coverage.
    title : str, optional
        Figure title.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    figsize : tuple of float
        Size of a new figure, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        With the reference lines: random selection (hit rate = area share, PAI = 1)
        and, for hit rate, the best any selection of that area could have done.

    Examples
    --------
    >>> import intel
    >>> curve = intel.capture_curve([3, 2, 1, 0, 0], [2, 1, 1, 0, 1], coverages=[0.2, 0.4, 0.6])
    >>> fig = intel.plot_capture_curve({"model": curve})
    >>> fig.axes[0].get_xlabel()
    'area covered (%, riskiest cells first)'
    """
    owner = "plot_capture_curve"
    check_option("metric", metric, owner, tuple(_METRICS))
    named = _curves(curves, metric, owner)
    fig, ax = _axes(ax, figsize, owner)
    scale = 100.0 if metric == "hit_rate" else 1.0
    top = top_y = 0.0
    for i, (label, curve) in enumerate(named.items()):
        x = curve["coverage"].to_numpy(dtype=np.float64) * 100.0
        y = curve[metric].to_numpy(dtype=np.float64) * scale
        ax.plot(x, y, marker="o" if x.size <= 12 else None, markersize=4, linewidth=2, color=f"C{i % 10}",
                label=label)
        top = max(top, float(np.nanmax(x)) if x.size else 0.0)
        top_y = max(top_y, float(np.nanmax(y)) if np.isfinite(y).any() else 0.0)
    if metric == "hit_rate":
        ax.plot([0, top], [0, top], color="#888", linestyle=":", linewidth=1.5, label="random (hit rate = area)")
        best = next((c for c in named.values() if "best_hit_rate" in c.columns), None)
        if best is not None:
            best_y = best["best_hit_rate"].to_numpy(dtype=np.float64) * 100.0
            ax.plot(best["coverage"].to_numpy(dtype=np.float64) * 100.0, best_y, color="#222", linestyle="--",
                    linewidth=1.2, label="best possible")
            top_y = max(top_y, float(np.nanmax(best_y)) if np.isfinite(best_y).any() else 0.0)
        ax.set_ylim(0, min(100.0, 1.1 * max(top_y, top)))
    elif metric == "pai":
        ax.axhline(1.0, color="#888", linestyle=":", linewidth=1.5, label="random (PAI = 1)")
        ax.set_ylim(bottom=0)
    else:
        ax.axhline(1.0, color="#222", linestyle="--", linewidth=1.2, label="best possible (PEI = 1)")
        ax.set_ylim(0, 1.05)
    ax.set_xlim(0, top if top > 0 else 1)
    ax.set_xlabel("area covered (%, riskiest cells first)", fontsize=_LABEL_SIZE)
    ax.set_ylabel(_METRICS[metric], fontsize=_LABEL_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(color="#e5e5e5", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=_TICK_SIZE - 1, frameon=False, loc="lower right" if metric == "hit_rate" else "best")
    ax.set_title(title or ("Capture curve" if metric == "hit_rate" else metric.upper() + " by area covered"),
                 fontsize=_TITLE_SIZE)
    return fig


# ---------------------------------------------------------------- internals


def _axes(ax: Any, figsize: Any, owner: str) -> tuple[Any, Any]:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if ax is None:
        if (not isinstance(figsize, (tuple, list)) or len(figsize) != 2
                or not all(isinstance(v, (int, float)) and 1 <= v <= 50 for v in figsize)):
            raise InputError(f"The 'figsize' parameter of {owner} must be (width, height) in inches, each in "
                             f"[1, 50]. Got {figsize!r} instead.")
        # a Figure made directly (not through pyplot) renders with Agg and never opens a window
        fig = Figure(figsize=tuple(figsize), layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise InputError(f"The 'ax' parameter of {owner} must be a matplotlib Axes. Got {type(ax).__name__} instead.")
    return ax.figure, ax


def _draw_classes(ax: Any, frame: gpd.GeoDataFrame, column: str) -> list:
    from matplotlib.patches import Patch

    labels = frame[column].astype(str).where(frame[column].notna(), "missing")
    empty = labels.isin(QUIET).to_numpy() & ~has_incidents(frame)
    handles = []
    if empty.any():
        frame.loc[empty].plot(ax=ax, color=_EMPTY_COLOUR, edgecolor="white", linewidth=0.3)
    for label in legend_order(labels.unique()):
        members = (labels == label).to_numpy() & ~empty
        s = class_style(label)
        quiet = label in QUIET
        if members.any():
            frame.loc[members].plot(ax=ax, color=s.fill, edgecolor="white" if quiet else s.edge,
                                    linewidth=0.3 if quiet else max(0.4, s.weight * 0.6),
                                    linestyle=_dash(s.dash), alpha=0.6 if quiet else 1.0)
        text = f"{label}, with incidents" if quiet and empty.any() else label
        handles.append(Patch(facecolor=s.fill, edgecolor=s.edge, linestyle=_dash(s.dash),
                             linewidth=max(0.8, s.weight), label=f"{text} ({int(members.sum()):,})"))
    if empty.any():
        handles.append(Patch(facecolor=_EMPTY_COLOUR, edgecolor="#bbb", label=f"no incidents ({int(empty.sum()):,})"))
    return handles


def _draw_numeric_classes(ax: Any, frame: gpd.GeoDataFrame, column: str, k: int, scheme: str, cmap: str) -> list:
    from matplotlib.patches import Patch

    values = frame[column].to_numpy(dtype=np.float64)
    drawn = np.isfinite(values) & (values != 0)
    handles = []
    if drawn.any():
        bins, _ = class_breaks(values[drawn], k, scheme)
        colours = ramp(cmap, int(bins.max()) + 1, owner="plot_grid")
        fill = np.empty(values.size, dtype=object)
        fill[drawn] = [colours[b] for b in bins]
        frame.loc[drawn].plot(ax=ax, color=list(fill[drawn]), edgecolor="white", linewidth=0.2)
        for i in range(len(colours) - 1, -1, -1):
            members = values[drawn][bins == i]
            low, high = members.min(), members.max()
            text = f"{format_number(low)} – {format_number(high)}" if low != high else format_number(low)
            handles.append(Patch(facecolor=colours[i], edgecolor="#999", label=f"{text} ({members.size:,})"))
    if (~drawn).any():
        frame.loc[~drawn].plot(ax=ax, color=_EMPTY_COLOUR, edgecolor="white", linewidth=0.2)
        handles.append(Patch(facecolor=_EMPTY_COLOUR, edgecolor="#bbb", label=f"0 or none ({int((~drawn).sum()):,})"))
    return handles


def _draw_continuous(fig: Any, ax: Any, frame: gpd.GeoDataFrame, column: str, cmap: str) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    values = frame[column].to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise InputError(f"plot_grid: column {column!r} has no finite value to draw.")
    norm = Normalize(vmin=float(values[finite].min()), vmax=float(values[finite].max()))
    palette = colormaps[cmap]
    frame.loc[finite].plot(ax=ax, color=[palette(norm(v)) for v in values[finite]], edgecolor="none")
    if (~finite).any():
        frame.loc[~finite].plot(ax=ax, color=_EMPTY_COLOUR, edgecolor="white", linewidth=0.2)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=palette), ax=ax, fraction=0.035, pad=0.02)
    bar.set_label(column.replace("_", " "), fontsize=_LABEL_SIZE)
    bar.ax.tick_params(labelsize=_TICK_SIZE - 1)


def _dash(dash: str | None) -> Any:
    if not dash:
        return "solid"
    return (0, tuple(float(v) for v in dash.split()))


def _scale_bar(ax: Any, frame: gpd.GeoDataFrame) -> None:
    x0, y0, x1, y1 = frame.total_bounds
    width = x1 - x0
    if not np.isfinite(width) or width <= 0:
        return
    target = width / 5
    magnitude = 10 ** np.floor(np.log10(target))
    length = max(m * magnitude for m in (1, 2, 5) if m * magnitude <= target)
    unit = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    pad = 0.03 * max(width, y1 - y0)
    bx, by = x0 + pad, y0 - pad
    ax.plot([bx, bx + length], [by, by], color="#222", linewidth=3, solid_capstyle="butt")
    ax.text(bx + length / 2, by + pad * 0.3, unit, ha="center", va="bottom", fontsize=_TICK_SIZE)


def _period_series(counts: Any, column: str, group: str | None, owner: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Periods (naive local wall-clock datetimes) and counts, groups added unless one is chosen."""
    if isinstance(counts, pd.Series):
        if group is not None:
            raise InputError(f"{owner}: group= picks a group of a grouped table; a Series has no groups.")
        table = pd.DataFrame({"period": counts.index, column: counts.to_numpy()})
        label = str(counts.name) if counts.name not in (None, column) else "incidents"
    elif isinstance(counts, pd.DataFrame):
        table = counts if "period" in counts.columns else counts.rename_axis("period").reset_index()
        if column not in table.columns:
            raise InputError(f"{owner}: column {column!r} is not in the table; columns are {list(table.columns)}.")
        groups = [c for c in table.columns if c not in ("period", column)
                  and not pd.api.types.is_numeric_dtype(table[c])]
        label = "incidents"
        if group is not None:
            if not groups:
                raise InputError(f"{owner}: group={group!r}, but the table is not grouped (build it with "
                                 "intel.build_period_counts(..., by='category')).")
            chosen = table[groups[0]].astype(str) == str(group)
            if not chosen.any():
                known = sorted(table[groups[0]].astype(str).unique())[:10]
                raise InputError(f"{owner}: no group {group!r} in column {groups[0]!r}; groups include {known}.")
            table = table.loc[chosen]
            label = str(group)
    else:
        raise InputError(f"{owner} needs counts per period (the table of intel.build_period_counts, or a Series "
                         f"indexed by period); got {type(counts).__name__}.")
    if not pd.api.types.is_numeric_dtype(table[column]):
        raise InputError(f"{owner}: column {column!r} is not numeric.")
    try:
        when = pd.to_datetime(table["period"])
    except (TypeError, ValueError) as error:
        raise InputError(f"{owner}: the periods could not be read as dates ({error}).") from None
    summed = pd.Series(table[column].to_numpy(dtype=np.float64), index=when).groupby(level=0).sum().sort_index()
    if (summed < 0).any() or not np.isfinite(summed.to_numpy()).all():
        raise InputError(f"{owner}: counts must be finite and non-negative.")
    index = summed.index
    if getattr(index, "tz", None) is not None:
        # draw local wall-clock dates: matplotlib would show tz-aware starts in UTC (a Monday 00:00 in Chicago
        # is Monday 06:00 UTC, or worse, the day before east of Greenwich)
        index = index.tz_localize(None)
    return index.to_numpy(), summed.to_numpy(), label


_PERIOD_WORDS = {"W": "week", "D": "day", "B": "business day", "H": "hour", "MIN": "minute", "T": "minute",
                 "M": "month", "MS": "month", "ME": "month", "Q": "quarter", "QS": "quarter", "QE": "quarter",
                 "Y": "year", "YS": "year", "YE": "year", "A": "year", "AS": "year"}


def _period_word(counts: Any, periods: np.ndarray) -> str:
    """``"week"`` for weekly counts (from the table's provenance, else the dates' spacing), else ``"period"``."""
    freq = (getattr(counts, "attrs", {}).get("provenance") or {}).get("parameters", {}).get("freq")
    if not isinstance(freq, str):
        return _spacing_word(pd.DatetimeIndex(periods))
    alias = freq.upper().split("-")[0]
    multiple = alias.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if multiple not in ("", "1"):
        return "period"
    return _PERIOD_WORDS.get(alias[len(multiple):], "period")


def _spacing_word(periods: pd.DatetimeIndex) -> str:
    """The period word from evenly spaced period starts (hours, days, weeks, calendar months)."""
    if periods.size < 3:
        return "period"
    steps = set(np.diff(periods.to_numpy()).astype("timedelta64[s]").astype(np.int64).tolist())
    for word, seconds in (("hour", 3600), ("day", 86400), ("week", 7 * 86400)):
        if steps == {seconds}:
            return word
    if (periods.day == 1).all() and np.all(np.diff(periods.year * 12 + periods.month) == 1):
        return "month"
    return "period"


def _curves(curves: Any, metric: str, owner: str) -> dict[str, pd.DataFrame]:
    if isinstance(curves, Mapping):
        named = dict(curves)
        if not named:
            raise InputError(f"{owner}: no curves given.")
    elif isinstance(curves, pd.DataFrame):
        if "model" in curves.columns:
            if "coverage" not in curves.columns or metric not in curves.columns:
                raise InputError(f"{owner}: the backtest table needs 'coverage' and {metric!r} columns.")
            columns = [c for c in (metric, "best_hit_rate") if c in curves.columns]
            mean = curves.groupby(["model", "coverage"], sort=False)[columns].mean().reset_index()
            named = {str(label): part.sort_values("coverage") for label, part in mean.groupby("model", sort=False)}
        else:
            named = {"forecast": curves}
    else:
        raise InputError(f"{owner} needs a curve from intel.capture_curve, a dict of them by model, or the table "
                         f"of intel.rolling_backtest; got {type(curves).__name__}.")
    for label, curve in named.items():
        if not isinstance(curve, pd.DataFrame) or "coverage" not in curve.columns or metric not in curve.columns:
            raise InputError(f"{owner}: curve {label!r} needs 'coverage' and {metric!r} columns (from "
                             "intel.capture_curve).")
        if len(curve) == 0:
            raise InputError(f"{owner}: curve {label!r} is empty.")
    return named
