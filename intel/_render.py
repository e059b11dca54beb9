"""Figures and maps as self-contained HTML fragments, for the briefing and notebooks.

A briefing must open on a machine with no network: figures go in as ``data:`` URIs
(``<img src="data:image/png;base64,...">``) and maps as ``<iframe srcdoc>`` pages that
carry their own Leaflet. Output is byte-identical for identical figures: no creation
dates, and SVG element ids come from a fixed salt rather than a random one.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from ._validation import check_number, check_option
from .exceptions import InputError

__all__ = ["fig_to_data_uri", "fig_to_html", "map_to_html", "map_to_iframe"]

_MIME = {"png": "image/png", "svg": "image/svg+xml"}


def fig_to_bytes(fig: Any, *, format: str = "png", dpi: float = 150) -> bytes:
    """Render a matplotlib Figure to PNG or SVG bytes (no timestamp, stable SVG ids)."""
    import matplotlib
    from matplotlib.figure import Figure

    owner = "fig_to_data_uri"
    if not isinstance(fig, Figure):
        raise InputError(f"{owner} needs a matplotlib Figure (from an intel.plot_* function); "
                         f"got {type(fig).__name__}.")
    check_option("format", format, owner, tuple(_MIME))
    check_number("dpi", dpi, owner, low=10, high=1200)
    buffer = io.BytesIO()
    # Date/Creation metadata would make every rerun differ; the SVG hash salt replaces a random uuid.
    metadata = {"Date": None} if format == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "intel", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=format, dpi=dpi, metadata=metadata, bbox_inches="tight",
                    facecolor=fig.get_facecolor())
    return buffer.getvalue()


def fig_to_data_uri(fig: Any, *, format: str = "png", dpi: float = 150) -> str:
    """A figure as a ``data:`` URI, for an ``<img src=...>`` that needs no file beside the page.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure, e.g. from :func:`intel.plot_trend`.
    format : {"png", "svg"}
        PNG (compact for maps with many cells) or SVG (sharp at any size).
    dpi : float
        Resolution of PNG output.

    Returns
    -------
    str
        ``"data:image/png;base64,..."`` or ``"data:image/svg+xml;base64,..."``.

    Examples
    --------
    >>> import intel
    >>> from intel._render import fig_to_data_uri
    >>> fig = intel.plot_hour_weekday(intel.build_hour_weekday(intel.make_synthetic(random_state=0)))
    >>> fig_to_data_uri(fig).startswith("data:image/png;base64,")
    True
    """
    data = fig_to_bytes(fig, format=format, dpi=dpi)
    return f"data:{_MIME[format]};base64,{base64.b64encode(data).decode('ascii')}"


def fig_to_html(fig: Any, *, alt: str = "", format: str = "png", dpi: float = 150,
                width: str | None = "100%") -> str:
    """A figure as an ``<img>`` element holding its own image data.

    ``alt`` describes the figure for screen readers and when images are blocked;
    ``width`` is a CSS width (``"100%"`` scales with the page, ``None`` keeps the pixel size).
    """
    style = f' style="max-width:{html.escape(width)};height:auto"' if width else ""
    return f'<img src="{fig_to_data_uri(fig, format=format, dpi=dpi)}" alt="{html.escape(alt)}"{style}>'


def map_to_html(m: Any) -> str:
    """The complete, self-contained HTML page of a folium map (what ``m.save`` writes)."""
    import folium

    if not isinstance(m, folium.Map):
        raise InputError(f"map_to_html needs a folium.Map (from an intel.map_* function); got {type(m).__name__}.")
    return m.get_root().render()


def map_to_iframe(m: Any, *, height: int = 480, title: str = "map") -> str:
    """A folium map as an ``<iframe srcdoc>``: the map's page inlined in another page.

    Each map keeps its own document (its Leaflet, styles and fixed-position legends
    cannot clash with the host page or another map), and nothing is loaded from a file
    or server.
    """
    check_number("height", height, "map_to_iframe", low=100, integer=True)
    page = map_to_html(m)
    return (f'<iframe title="{html.escape(title)}" srcdoc="{html.escape(page, quote=True)}" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ccc"></iframe>')
