"""A real browser opens intel's maps (and the weekly briefing) from disk, with no network.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it;
no browser is ever downloaded). A test fails on any JavaScript console error, any page
error and any request for something that is not a local file or inline data, and it
checks from the DOM and a screenshot that the map drew: one ``path.leaflet-interactive``
per cell or shape, and a picture that is not blank (with the hot spot red in it).

Without Chromium or Playwright the tests skip, saying why, except in CI (``CI`` set),
where they fail.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intel
from intel.datasets import SAMPLES_DIR

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("INTEL_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
LOCAL = ("file:", "data:", "about:", "blob:")
VIEWPORT = {"width": 1200, "height": 900}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium; or set INTEL_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]'); no browser is downloaded")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Visit:
    page: Any
    problems: list[str] = field(default_factory=list)

    def screenshot(self) -> np.ndarray:
        """The viewport as an RGB array in [0, 1]."""
        import matplotlib.image

        png = self.page.screenshot(full_page=False)
        return matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]


def _visit(browser, path: Path, *, ready: str = ".leaflet-container"):
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(30_000)
    visit = Visit(page)
    page.on("console", lambda msg: visit.problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    page.on("pageerror", lambda error: visit.problems.append(f"page error: {error}"))
    page.on("request", lambda request: visit.problems.append(f"request leaving the machine: {request.url}")
            if not request.url.startswith(LOCAL) else None)
    # and nothing actually leaves: anything not local is refused
    context.route(lambda url: not url.startswith(LOCAL), lambda route: route.abort())
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector(ready)
    page.wait_for_timeout(300)  # one animation frame or two for Leaflet's first paint
    return visit, context


def _non_background_share(pixels: np.ndarray) -> float:
    """Share of pixels that differ from the most common colour (the empty background)."""
    flat = (pixels.reshape(-1, 3) * 255).round().astype(np.int64)
    codes = flat[:, 0] * 65536 + flat[:, 1] * 256 + flat[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    background = values[np.argmax(counts)]
    return float((codes != background).mean())


@pytest.fixture(scope="module")
def district11():
    return intel.load_sample("chicago_district11")


@pytest.fixture(scope="module")
def gistar11(district11):
    return intel.score_gistar(district11, cell_size_m=250)


# ---------------------------------------------------------------- the hot spot map


def test_hot_spot_map_draws_offline(browser, gistar11, tmp_path):
    path = tmp_path / "hotspots.html"
    intel.map_hotspots(gistar11).save(str(path))
    visit, context = _visit(browser, path)
    try:
        labels = gistar11["hotspot_class"]
        expected = int(((labels != "not significant") | (gistar11["n"] > 0)).sum())
        assert visit.page.locator(".leaflet-container path.leaflet-interactive").count() == expected
        assert visit.page.locator(".intel-legend").inner_text().startswith("hotspot class")
        assert "approximate" in visit.page.locator(".intel-note").first.inner_text()
        assert visit.page.locator(".leaflet-control-scale").count() == 1
        assert visit.page.locator(".leaflet-control-layers").count() == 1
        pixels = visit.screenshot()
        assert _non_background_share(pixels) > 0.2
        r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        hot_red = (r > 0.7) & (g < 0.5) & (b < 0.45)
        assert hot_red.sum() > 500  # hot spot 99% cells, Gi_Bin red over the background
        # a click on a cell opens its popup with the numbers
        visit.page.locator(".leaflet-container path.leaflet-interactive").last.dispatch_event("click")
        popup = visit.page.locator(".leaflet-popup-content")
        popup.wait_for()
        assert "gi star" in popup.inner_text()
        assert visit.problems == []
    finally:
        context.close()


def test_tiles_requested_only_when_asked(browser, gistar11, tmp_path):
    path = tmp_path / "osm.html"
    intel.map_hotspots(gistar11, tiles="OpenStreetMap").save(str(path))
    visit, context = _visit(browser, path)
    try:
        visit.page.wait_for_timeout(300)
        leaving = [p for p in visit.problems if p.startswith("request leaving")]
        assert leaving and all("tile.openstreetmap.org" in p for p in leaving)  # the tiles, and nothing else
        assert "OpenStreetMap" in visit.page.locator(".leaflet-control-attribution").inner_text()
    finally:
        context.close()


# ---------------------------------------------------------------- every other map


def _map_cases(district11):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = intel.make_grid(district11, cell_size_m=250)
        counts = intel.score_counts(district11, grid)
        kde = intel.score_kde(district11, grid)
        cube = intel.build_cube(district11, grid, freq="MS", end="2018-11-01")
        emerging = intel.classify_emerging(cube, grid)
        burglary = district11[district11["category"] == "BURGLARY"].reset_index(drop=True)
        model = intel.STDBSCAN(eps_m=200, eps_days=14, min_samples=4).fit(burglary)
        table = intel.build_cluster_table(burglary, model.labels_)
        plan = intel.recommend_patrols(counts, units=2, date="2018-11-12", random_state=0)
        x0, y0, x1, y1 = counts.total_bounds
        routes = intel.plan_routes(plan, start=((x0 + x1) / 2, (y0 + y1) / 2))
    first = plan["shift"].iloc[0]
    return {
        "scores": (intel.map_scores(counts, "n"), int((counts["n"] > 0).sum())),
        "density": (intel.map_density(kde, style="continuous"), int((kde["kde"] > 0).sum())),
        "emerging": (intel.map_emerging(emerging),
                     int(((emerging["hotspot_class"] != "no pattern detected") | (emerging["n"] > 0)).sum())),
        "clusters": (intel.map_clusters(table, burglary, labels=model.labels_),
                     len(table) + int(table["ellipse_wkt"].notna().sum()) + len(burglary)),
        # the first shift's places and legs, and the start point
        "patrols": (intel.map_patrols(plan, routes),
                    int((plan["shift"] == first).sum()) + int((routes["shift"] == first).sum()) + 1),
    }


def test_every_map_draws_offline(browser, district11, tmp_path):
    for name, (m, expected) in _map_cases(district11).items():
        path = tmp_path / f"{name}.html"
        m.save(str(path))
        visit, context = _visit(browser, path)
        try:
            drawn = visit.page.locator(".leaflet-container path.leaflet-interactive").count()
            assert drawn == expected, name
            assert _non_background_share(visit.screenshot()) > 0.02, name
            assert visit.page.locator(".intel-legend").count() == 1, name
            assert visit.problems == [], (name, visit.problems)
        finally:
            context.close()


# ---------------------------------------------------------------- the weekly briefing


def _briefing_available() -> bool:
    try:
        from intel.briefing import build_briefing  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _briefing_available(),
                    reason="intel.build_briefing is not in this version: there is no briefing to open yet")
def test_briefing_opens_offline_with_every_map_drawn(browser, tmp_path):
    from typer.testing import CliRunner

    from intel.cli import app

    out = tmp_path / "brief"
    result = CliRunner().invoke(app, ["--quiet", "brief", str(SAMPLES_DIR / "chicago_district11.csv.gz"),
                                      "--week", "2018-W44", "--out", str(out)])
    assert result.exit_code == 0, result.output
    visit, context = _visit(browser, out / "briefing.html", ready="body")
    try:
        page = visit.page
        page.wait_for_load_state("load")
        images = page.locator("img")
        for i in range(images.count()):
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), f"image {i} did not load"
        maps = [frame for frame in page.frames if frame.locator(".leaflet-container").count()]
        assert maps, "the briefing holds no map"
        for frame in maps:
            assert frame.locator("path.leaflet-interactive").count() > 0
        assert _non_background_share(visit.screenshot()) > 0.02
        assert visit.problems == []
    finally:
        context.close()
