"""Self-contained HTML maps: Leaflet embedded, no request to any CDN or tile server.

Folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs. intel's maps need
only Leaflet, so :func:`make_offline` drops the links and inlines the bundled Leaflet
(``intel/_assets``). :func:`external_requests` lists anything in rendered HTML that
would still reach out, which tests use to keep maps offline.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import folium
from branca.element import Element

_ASSETS = Path(__file__).resolve().parent / "_assets"
# what a browser fetches by itself: script/img/iframe src, <link href>, css url(); plain <a href> links are not requests
_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*["'](?:https?:)?//[^"']+["']"""
    r"""|<link\b[^>]*\bhref\s*=\s*["'](?:https?:)?//[^"']+["']"""
    r"""|url\(\s*["']?(?:https?:)?//[^)]+\)""",
    re.IGNORECASE,
)


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


def make_offline(m: folium.Map) -> folium.Map:
    """Replace the CDN links of ``m`` (and its children) with inline Leaflet; return ``m``.

    Call after all layers are added. Elements that need assets intel does not bundle
    (folium plugins) keep their links, and :func:`external_requests` reports them.
    """
    for element in _walk(m):
        if hasattr(element, "default_js"):
            element.default_js = [(n, u) for n, u in element.default_js if not _bundled(n)]
        if hasattr(element, "default_css"):
            element.default_css = [(n, u) for n, u in element.default_css if not _bundled(n)]
    header = m.get_root().header
    header.add_child(Element(f"<style>{_asset('leaflet.css')}</style>"), name="intel_leaflet_css", index=0)
    header.add_child(Element(f"<script>{_asset('leaflet.js')}</script>"), name="intel_leaflet_js", index=1)
    return m


def external_requests(html: str) -> list[str]:
    """``src``/``href`` attributes in ``html`` that point off the machine."""
    return [m.group(0) for m in _EXTERNAL.finditer(html)]


def _bundled(name: str) -> bool:
    # Leaflet is inlined; jQuery, Bootstrap and the icon fonts are not needed by intel's maps.
    return name in {"leaflet", "leaflet_css", "jquery", "bootstrap", "bootstrap_css", "glyphicons_css",
                    "awesome_markers", "awesome_markers_css", "awesome_markers_font_css", "awesome_rotate_css"}


def _walk(element):
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)
