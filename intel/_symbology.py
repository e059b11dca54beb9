"""Colours, outlines and class breaks shared by the folium maps and the static figures.

One table of class styles, so a hot spot is the same red on the web map, in the
briefing's figure and in ArcGIS: the Gi_Bin palette of the desktop tools for hot and
cold spots, a red/blue scheme in the spirit of ArcGIS Pro's Emerging Hot Spot
Analysis symbols for the 17 emerging categories, and the usual colours of local
Moran clusters and of significant change. Numeric columns are classed here too
(quantiles, equal intervals, Fisher-Jenks natural breaks), deterministically, so a
rerun draws the same map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exceptions import InputError

__all__ = ["ClassStyle", "CLASS_STYLES", "QUIET", "class_style", "legend_order", "class_breaks", "ramp",
           "SCHEMES", "EMERGING_LABELS"]

SCHEMES = ("quantiles", "natural_breaks", "equal_interval")


@dataclass(frozen=True)
class ClassStyle:
    """How one class label is drawn: fill, outline colour, outline dash (SVG dash array) and width."""

    fill: str
    edge: str
    dash: str | None = None
    weight: float = 0.6


def _style(fill: str, edge: str | None = None, dash: str | None = None, weight: float = 0.6) -> ClassStyle:
    return ClassStyle(fill, edge or fill, dash, weight)


QUIET = ("not significant", "no significant change", "no pattern detected")
QUIET_COLOUR = "#bdbdbd"
OTHER_COLOUR = "#984ea3"

# ArcGIS's Gi_Bin renderer (hot 99/95/90% dark to light red, cold light to dark blue).
_GI = {
    "hot spot 99%": _style("#d62f27"),
    "hot spot 95%": _style("#ed7551"),
    "hot spot 90%": _style("#fab984"),
    "not significant": _style(QUIET_COLOUR),
    "cold spot 90%": _style("#c0ccbe"),
    "cold spot 95%": _style("#849eba"),
    "cold spot 99%": _style("#4575b5"),
}
_MORAN = {
    "high-high": _style("#d62f27"),
    "high-low": _style("#f4a582"),
    "low-high": _style("#92c5de"),
    "low-low": _style("#4575b5"),
}
_CHANGE = {
    "significant increase": _style("#d62f27"),
    "no significant change": _style(QUIET_COLOUR),
    "significant decrease": _style("#4575b5"),
}
# ArcGIS Pro draws the emerging categories in reds (hot) and blues (cold), strongest
# patterns darkest, with outlines and hatching telling apart the on-and-off ones. Leaflet
# has no hatching, so outlines carry that: new spots a heavy dark outline, sporadic and
# oscillating ones a dashed outline, historical ones pale with a dotted outline.
_EMERGING_HOT = {
    "new hot spot": _style("#f03b20", "#67000d", weight=2.0),
    "consecutive hot spot": _style("#ef6548", "#99000d", weight=1.2),
    "intensifying hot spot": _style("#a50f15"),
    "persistent hot spot": _style("#de2d26"),
    "diminishing hot spot": _style("#fc9272"),
    "sporadic hot spot": _style("#fdae6b", "#d94801", dash="4 3", weight=1.2),
    "oscillating hot spot": _style("#e7298a", "#980043", dash="4 3", weight=1.2),
    "historical hot spot": _style("#fee0d2", "#cb181d", dash="1 3", weight=1.2),
}
_EMERGING_COLD = {
    "new cold spot": _style("#3182bd", "#08306b", weight=2.0),
    "consecutive cold spot": _style("#6baed6", "#08519c", weight=1.2),
    "intensifying cold spot": _style("#08519c"),
    "persistent cold spot": _style("#2171b5"),
    "diminishing cold spot": _style("#9ecae1"),
    "sporadic cold spot": _style("#c6dbef", "#2171b5", dash="4 3", weight=1.2),
    "oscillating cold spot": _style("#807dba", "#3f007d", dash="4 3", weight=1.2),
    "historical cold spot": _style("#deebf7", "#2171b5", dash="1 3", weight=1.2),
}
_EMERGING = {**_EMERGING_HOT, **_EMERGING_COLD, "no pattern detected": _style(QUIET_COLOUR)}
EMERGING_LABELS: tuple[str, ...] = tuple(_EMERGING)

CLASS_STYLES: dict[str, ClassStyle] = {**_GI, **_MORAN, **_CHANGE, **_EMERGING}
# legend order: the order of each family above (hot to cold), unknown labels after, sorted
_ORDER = {label: i for i, label in enumerate(CLASS_STYLES)}


def class_style(label: str) -> ClassStyle:
    """The style of a class label; labels intel does not know get one neutral purple."""
    return CLASS_STYLES.get(label, _style(OTHER_COLOUR))


def legend_order(labels) -> list[str]:
    """Distinct labels in legend order: known families hot to cold, then the rest alphabetically."""
    distinct = set(labels)
    return sorted(distinct, key=lambda label: (_ORDER.get(label, len(_ORDER)), label))


def ramp(cmap: str, k: int, *, owner: str) -> list[str]:
    """``k`` hex colours from a matplotlib colour map, skipping its palest end (invisible on white)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    try:
        palette = colormaps[cmap]
    except KeyError:
        raise InputError(f"The 'cmap' parameter of {owner} must be a matplotlib colour map name such as "
                         f"'YlOrRd' or 'viridis'. Got {cmap!r} instead.") from None
    return [to_hex(palette(0.15 + 0.85 * i / max(k - 1, 1))) for i in range(k)]


def class_breaks(values: np.ndarray, k: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Class each value: returns ``(bins, upper_edges)``.

    ``bins[i]`` is the class (0 = lowest) of ``values[i]``; a value equal to an upper
    edge belongs to that class. Fewer than ``k`` classes come back when the values have
    fewer distinct levels (a count column with many ties).
    """
    values = np.asarray(values, dtype=np.float64)
    distinct = np.unique(values)
    k = int(min(k, distinct.size))
    if k < 2:
        return np.zeros(values.size, dtype=np.int64), distinct[-1:]
    if scheme == "quantiles":
        edges = np.quantile(values, np.linspace(0.0, 1.0, k + 1)[1:])
    elif scheme == "equal_interval":
        lo, hi = distinct[0], distinct[-1]
        edges = lo + (hi - lo) * np.arange(1, k + 1) / k
    elif scheme == "natural_breaks":
        edges = _fisher_jenks(values, k)
    else:  # pragma: no cover - callers check the scheme first
        raise ValueError(scheme)
    # an edge a rounding error away from a data value is that value (so the value sits in the edge's class)
    nearest = np.clip(np.searchsorted(distinct, edges), 0, distinct.size - 1)
    close = np.isclose(edges, distinct[nearest], rtol=1e-12, atol=0.0)
    edges = np.where(close, distinct[nearest], edges)
    edges[-1] = distinct[-1]
    edges = np.unique(edges)
    bins = np.searchsorted(edges, values, side="left")
    # renumber so that every class holds a value (quantile edges can skip a class)
    used, bins = np.unique(bins, return_inverse=True)
    return bins.astype(np.int64), edges[used]


_JENKS_MAX_LEVELS = 800


def _fisher_jenks(values: np.ndarray, k: int) -> np.ndarray:
    """Upper edges of the ``k`` classes with the least within-class sum of squares (Fisher 1958).

    Exact on the distinct values, each weighted by how often it occurs; above
    ``_JENKS_MAX_LEVELS`` distinct values the distribution is summarised by that many
    evenly spaced quantiles first (ArcGIS samples instead; quantiles keep reruns identical).
    """
    if np.unique(values).size > _JENKS_MAX_LEVELS:
        values = np.quantile(values, np.linspace(0.0, 1.0, _JENKS_MAX_LEVELS))
    v, c = np.unique(values, return_counts=True)
    n = v.size
    c = c.astype(np.float64)
    w = np.concatenate([[0.0], np.cumsum(c)])
    s1 = np.concatenate([[0.0], np.cumsum(c * v)])
    s2 = np.concatenate([[0.0], np.cumsum(c * v * v)])
    start = np.arange(n)[:, None]
    end = np.arange(n)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = w[end + 1] - w[start]
        total = s1[end + 1] - s1[start]
        # within-class sum of squares of the values start..end (inclusive)
        ssd = np.where(start <= end, s2[end + 1] - s2[start] - total * total / weight, np.inf)
    cost = ssd[0].copy()  # one class covering 0..end
    back = []
    for _ in range(1, k):
        previous = np.concatenate([[np.inf], cost[:-1]])  # best cost of the classes before a class starting here
        candidates = previous[:, None] + ssd
        best_start = np.argmin(candidates, axis=0)
        cost = candidates[best_start, np.arange(n)]
        back.append(best_start)
    edges = [v[-1]]
    last = n - 1
    for best_start in reversed(back):
        first = int(best_start[last])
        edges.append(v[first - 1])
        last = first - 1
    return np.array(sorted(edges), dtype=np.float64)
