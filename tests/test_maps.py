"""Tests of the folium maps (intel.maps) on the bundled real samples.

Every map must be self-contained (no request leaves the machine unless tiles are
asked for), carry a legend, a layer control, a scale bar and the location note, and
draw exactly the features the table says it should.
"""

from __future__ import annotations

import re
import warnings

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import intel
from intel._offline import external_requests
from intel._render import map_to_html, map_to_iframe
from intel._symbology import CLASS_STYLES, EMERGING_LABELS, class_breaks
from intel.emerging import CATEGORIES
from intel.exceptions import InputError
from intel.stats import HOTSPOT_CLASSES, MORAN_CLASSES

QUIET = ("not significant", "no significant change", "no pattern detected")


# ---------------------------------------------------------------- fixtures (built once: scoring takes seconds)


@pytest.fixture(scope="module")
def district11() -> gpd.GeoDataFrame:
    return intel.load_sample("chicago_district11")


@pytest.fixture(scope="module")
def grid11(district11) -> gpd.GeoDataFrame:
    return intel.make_grid(district11, cell_size_m=250)


@pytest.fixture(scope="module")
def gistar11(district11, grid11) -> gpd.GeoDataFrame:
    return intel.score_gistar(district11, grid11)


@pytest.fixture(scope="module")
def robberies() -> gpd.GeoDataFrame:
    return intel.load_sample("memphis_robberies")


@pytest.fixture(scope="module")
def cube11(district11, grid11) -> pd.DataFrame:
    return intel.build_cube(district11, grid11, freq="MS", end="2018-11-01")


@pytest.fixture(scope="module")
def emerging11(cube11, grid11) -> gpd.GeoDataFrame:
    return intel.classify_emerging(cube11, grid11)


@pytest.fixture(scope="module")
def clustered(robberies):
    model = intel.STDBSCAN(eps_m=400, eps_days=14, min_samples=4).fit(robberies)
    return intel.build_cluster_table(robberies, model.labels_), model.labels_


@pytest.fixture(scope="module")
def plan11(district11, grid11):
    scores = intel.score_counts(district11, grid11)
    plan = intel.recommend_patrols(scores, units=2, date="2018-11-12", random_state=0)
    x0, y0, x1, y1 = scores.total_bounds
    return plan, intel.plan_routes(plan, start=((x0 + x1) / 2, (y0 + y1) / 2))


# ---------------------------------------------------------------- helpers


def _layers(m: folium.Map) -> list[folium.GeoJson]:
    out = []

    def walk(element):
        if isinstance(element, folium.GeoJson):
            out.append(element)
        for child in element._children.values():
            walk(child)

    walk(m)
    return out


def _n_features(m: folium.Map) -> int:
    return sum(len(layer.data["features"]) for layer in _layers(m))


def _legend(m: folium.Map) -> str:
    """The legend's HTML (in the page it is a JSON string, with non-ASCII characters escaped)."""
    return next(e.content for e in m._children.values() if "intel-legend" in getattr(e, "css_class", ""))


def _style(layer: folium.GeoJson) -> dict:
    feature = layer.data["features"][0]
    return layer.style_function(feature) if layer.style_function else feature["properties"]["style"]


def _assert_complete_offline_map(page: str) -> None:
    assert external_requests(page) == []
    assert "unpkg.com" not in page and "cdn.jsdelivr.net" not in page  # folium's CDNs, even as text
    assert "L.control.layers" in page  # the layer control
    assert "L.control.scale" in page  # Leaflet's scale bar
    assert "intel-legend" in page
    assert "approximate" in page  # the location note
    assert "L.tileLayer" not in page  # no basemap unless asked


# ---------------------------------------------------------------- hot spots


def test_hotspot_map_is_offline_and_draws_every_significant_or_busy_cell(gistar11):
    m = intel.map_hotspots(gistar11)
    page = map_to_html(m)
    _assert_complete_offline_map(page)
    labels = gistar11["hotspot_class"]
    expected = int(((labels != "not significant") | (gistar11["n"] > 0)).sum())
    assert _n_features(m) == expected
    # one layer per class, each in the Gi_Bin colour analysts know from ArcGIS
    fills = {layer.layer_name.split(" (")[0].split(",")[0]: _style(layer)["fillColor"] for layer in _layers(m)}
    assert fills["hot spot 99%"] == "#d62f27"
    assert fills["cold spot 99%"] == "#4575b5"
    assert fills["not significant"] == "#bdbdbd"
    for label in set(labels) - {"not significant"}:
        assert f"{label} ({int((labels == label).sum()):,})" in page  # legend with counts
    # cells are GeoJSON in degrees, rounded to 6 decimals
    coordinates = re.findall(r"-?\d+\.\d+", page[page.index('"coordinates"'):][:5000])
    assert coordinates and all(len(c.split(".")[1]) <= 6 for c in coordinates)
    assert -88 < float(coordinates[0]) < -87


def test_hotspot_map_popups_carry_the_numbers(gistar11):
    m = intel.map_hotspots(gistar11)
    layer = next(layer for layer in _layers(m) if layer.layer_name.startswith("hot spot 99%"))
    props = layer.data["features"][0]["properties"]
    for column in ("cell_id", "n", "gi_star", "p_adj", "hotspot_class"):
        assert column in props
    row = gistar11.loc[props["cell_id"]]
    assert props["hotspot_class"] == "hot spot 99%" == row["hotspot_class"]
    assert float(props["n"].replace(",", "")) == pytest.approx(row["n"])
    assert float(props["gi_star"]) == pytest.approx(row["gi_star"], rel=1e-3)
    page = map_to_html(m)
    assert "gi star" in page and "p adj" in page  # aliases shown in the popups


def test_moran_and_change_classes_use_their_palettes(robberies):
    moran = intel.score_moran(robberies, cell_size_m=500, permutations=0)
    m = intel.map_hotspots(moran, "moran_class")
    _assert_complete_offline_map(map_to_html(m))
    for layer in _layers(m):
        label = layer.layer_name.split(" (")[0].split(",")[0]
        assert _style(layer)["fillColor"] == CLASS_STYLES[label].fill


def test_map_reruns_are_identical(robberies):
    scores = intel.score_gistar(robberies, cell_size_m=500)
    first = map_to_html(intel.map_hotspots(scores))
    assert first == map_to_html(intel.map_hotspots(scores))
    other = map_to_html(intel.map_scores(scores, "n"))
    # folium's random element names are replaced by names that differ between maps
    assert re.search(r"map_(\w+)", first).group(1) != re.search(r"map_(\w+)", other).group(1)


def test_every_class_intel_produces_has_a_style():
    for label in (*HOTSPOT_CLASSES, *MORAN_CLASSES, *CATEGORIES):
        assert label in CLASS_STYLES
    assert set(EMERGING_LABELS) == set(CATEGORIES)
    hot = [CLASS_STYLES[f"hot spot {p}"].fill for p in ("99%", "95%", "90%")]
    cold = [CLASS_STYLES[f"cold spot {p}"].fill for p in ("99%", "95%", "90%")]
    assert len(set(hot + cold)) == 6


# ---------------------------------------------------------------- tiles


def test_tiles_only_when_asked_and_always_with_attribution(robberies):
    scores = intel.score_gistar(robberies, cell_size_m=500)
    page = map_to_html(intel.map_hotspots(scores, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org/{z}/{x}/{y}.png" in page
    assert "openstreetmap.org/copyright" in page and "OpenStreetMap" in page
    assert external_requests(page) == []  # Leaflet itself is still embedded: only the tiles go out
    topo = map_to_html(intel.map_scores(scores, "n", tiles="OpenTopoMap"))
    assert "tile.opentopomap.org" in topo and "OpenTopoMap" in topo
    custom = map_to_html(intel.map_scores(scores, "n", tiles="https://tiles.example.org/{z}/{x}/{y}.png",
                                          attribution="© Example City GIS"))
    assert "tiles.example.org" in custom and "Example City GIS" in custom
    with pytest.raises(InputError, match="needs attribution"):
        intel.map_scores(scores, "n", tiles="https://tiles.example.org/{z}/{x}/{y}.png")
    with pytest.raises(InputError, match="neither a known basemap"):
        intel.map_scores(scores, "n", tiles="NoSuchBasemap")
    with pytest.raises(InputError, match="pass tiles= too"):
        intel.map_scores(scores, "n", attribution="© someone")
    with pytest.raises(InputError, match="'tiles'"):
        intel.map_scores(scores, "n", tiles=3)


# ---------------------------------------------------------------- scores and density


def test_score_map_classes_every_nonzero_cell(gistar11):
    m = intel.map_scores(gistar11, "n", k=5, scheme="natural_breaks", title="incidents per cell")
    page = map_to_html(m)
    _assert_complete_offline_map(page)
    assert "incidents per cell" in page
    assert _n_features(m) == int((gistar11["n"] > 0).sum())
    # one sub-layer per class, in increasingly dark colours, matching the breaks
    bins, _ = class_breaks(gistar11.loc[gistar11["n"] > 0, "n"].to_numpy(), 5, "natural_breaks")
    sizes = sorted(len(layer.data["features"]) for layer in _layers(m))
    assert sizes == sorted(np.bincount(bins).tolist())
    assert page.count("intel-swatch") >= len(sizes)


@pytest.mark.slow  # importing mapclassify compiles its numba functions
def test_class_breaks_match_mapclassify():
    mapclassify = pytest.importorskip("mapclassify")
    values = np.round(np.random.default_rng(3).lognormal(size=400) * 10, 1)
    for k in (3, 5, 7):
        _, edges = class_breaks(values, k, "natural_breaks")
        np.testing.assert_allclose(edges, mapclassify.FisherJenks(values, k=k).bins)
        bins, edges = class_breaks(values, k, "quantiles")
        reference = mapclassify.Quantiles(values, k=k)
        np.testing.assert_allclose(edges, reference.bins)
        assert (bins == reference.yb).all()
    # ties: fewer classes than asked, every class used
    bins, edges = class_breaks(np.array([1.0, 1, 1, 1, 2, 2, 9]), 5, "quantiles")
    assert set(bins) == set(range(edges.size)) and edges[-1] == 9


def test_score_map_of_a_cube_period_or_total(cube11, grid11):
    total = intel.map_scores(cube11, grid=grid11)
    sums = cube11["n"].groupby(level="cell_id").sum()
    assert _n_features(total) == int((sums > 0).sum())
    one = intel.map_scores(cube11, grid=grid11, period="2018-01-01")
    january = cube11.xs(pd.Timestamp("2018-01-01", tz="America/Chicago"), level="period")["n"]
    assert _n_features(one) == int((january > 0).sum())
    series = intel.map_scores(january.rename("n"), grid=grid11)
    assert _n_features(series) == _n_features(one)
    with pytest.raises(InputError, match="pass grid="):
        intel.map_scores(cube11)
    with pytest.raises(InputError, match="not a period of the cube"):
        intel.map_scores(cube11, grid=grid11, period="1999-01-01")
    with pytest.raises(InputError, match="already carry their cells"):
        intel.map_scores(grid11.assign(n=1.0), grid=grid11)


def test_density_map_classed_and_continuous(robberies):
    surface = intel.score_kde(robberies, cell_size_m=400)
    positive = int((surface["kde"] > 0).sum())
    classed = intel.map_density(surface)
    _assert_complete_offline_map(map_to_html(classed))
    assert _n_features(classed) == positive
    assert all(_style(layer)["weight"] == 0 for layer in _layers(classed))  # a surface, not outlined cells
    continuous = intel.map_density(surface, style="continuous", cmap="viridis")
    assert "linear-gradient" in _legend(continuous) and "incidents per km²" in _legend(continuous)
    assert _n_features(continuous) == positive
    assert len({_style(layer)["fillColor"] for layer in _layers(continuous)}) > 10
    floor = float(surface["kde"].median())
    assert _n_features(intel.map_density(surface, min_value=floor)) == int((surface["kde"] >= floor).sum())


def test_bad_inputs_raise_clear_errors(gistar11, robberies):
    with pytest.raises(InputError, match="not numeric"):
        intel.map_scores(gistar11, "hotspot_class")
    with pytest.raises(InputError, match="'k'"):
        intel.map_scores(gistar11, "n", k=1)
    with pytest.raises(InputError, match="'scheme'"):
        intel.map_scores(gistar11, "n", scheme="jenks")
    with pytest.raises(InputError, match="'cmap'"):
        intel.map_scores(gistar11, "n", cmap="NoSuchMap")
    with pytest.raises(InputError, match="not in the table"):
        intel.map_scores(gistar11, "risk")
    with pytest.raises(InputError, match="popup_columns"):
        intel.map_scores(gistar11, "n", popup_columns=["nope"])
    with pytest.raises(InputError, match="no class column"):
        intel.map_hotspots(gistar11.drop(columns="hotspot_class"))
    with pytest.raises(InputError, match="no CRS"):
        intel.map_hotspots(gistar11.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="no cells"):
        intel.map_hotspots(gistar11.iloc[:0])
    with pytest.raises(InputError, match="needs CellScores"):
        intel.map_scores([1, 2, 3])
    with pytest.raises(InputError, match="'style'"):
        intel.map_density(intel.score_kde(robberies, cell_size_m=800), style="smooth")
    with pytest.raises(InputError, match="'opacity'"):
        intel.map_density(intel.score_kde(robberies, cell_size_m=800), opacity=0)


def test_input_is_not_modified(gistar11):
    before = gistar11.copy()
    intel.map_hotspots(gistar11)
    intel.map_scores(gistar11, "gi_star", cmap="RdBu_r")
    pd.testing.assert_frame_equal(gistar11, before)


# ---------------------------------------------------------------- emerging


def test_emerging_map_draws_the_categories(emerging11):
    m = intel.map_emerging(emerging11)
    page = map_to_html(m)
    _assert_complete_offline_map(page)
    labels = emerging11["hotspot_class"]
    expected = int(((labels != "no pattern detected") | (emerging11["n"] > 0)).sum())
    assert _n_features(m) == expected
    present = set(labels) - {"no pattern detected"}
    assert present  # district 11 has emerging hot spots
    for layer in _layers(m):
        label = layer.layer_name.split(" (")[0].split(",")[0]
        style = _style(layer)
        assert style["fillColor"] == CLASS_STYLES[label].fill
        assert style.get("dashArray") == CLASS_STYLES[label].dash
    for label in present:
        assert f"{label} (" in page  # legend
    # emerging categories also draw through map_hotspots (same palette), and the reverse is refused
    assert _n_features(intel.map_hotspots(emerging11)) == expected


def test_emerging_map_refuses_gi_classes(gistar11):
    with pytest.raises(InputError, match="not emerging hot spot categories"):
        intel.map_emerging(gistar11)


def test_emerging_cli_writes_an_offline_map(tmp_path):
    from typer.testing import CliRunner

    from intel.cli import app
    from intel.datasets import SAMPLES_DIR

    out = tmp_path / "emerging.html"
    result = CliRunner().invoke(app, ["--quiet", "emerging", str(SAMPLES_DIR / "chicago_district11.csv.gz"),
                                      "--cell-size-m", "500", "--freq", "MS", "--end", "2018-11-01",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    _assert_complete_offline_map(page)
    assert "emerging hot spots" in page


# ---------------------------------------------------------------- clusters


def test_cluster_map_hulls_ellipses_and_points(clustered, robberies):
    table, labels = clustered
    assert len(table) > 3
    m = intel.map_clusters(table, robberies, labels=labels)
    page = map_to_html(m)
    _assert_complete_offline_map(page)
    layers = {layer.layer_name.split(" (")[0]: layer for layer in _layers(m)}
    assert len(layers["cluster hulls"].data["features"]) == len(table)
    assert len(layers["cluster ellipses"].data["features"]) == int(table["ellipse_wkt"].notna().sum())
    assert len(layers["incidents"].data["features"]) == len(robberies)
    props = layers["cluster hulls"].data["features"][0]["properties"]
    first = table.iloc[0]
    assert props["n"] == str(first["n"])
    assert props["first date"] == first["first_date"].strftime("%Y-%m-%d %H:%M")
    assert "span days" in props and "dominant category" in props
    # clustered incidents take their cluster's colour, the rest are grey
    colour_of = {p["cluster id"]: p["style"]["fillColor"] for p in
                 (f["properties"] for f in layers["cluster hulls"].data["features"])}
    points = layers["incidents"].data["features"]
    for feature in points:
        cluster = feature["properties"]["cluster"]
        expected = colour_of[cluster] if cluster != "none" else "#636363"
        assert feature["properties"]["style"]["fillColor"] == expected
    assert sum(f["properties"]["cluster"] != "none" for f in points) == int((labels >= 0).sum())


def test_cluster_map_options_and_thinning(clustered, robberies):
    table, labels = clustered
    hulls = intel.map_clusters(table, shape="hull")
    assert [layer.layer_name.split(" (")[0] for layer in _layers(hulls)] == ["cluster hulls"]
    thin = intel.map_clusters(table, robberies, labels=labels, max_points=500)
    drawn = next(layer for layer in _layers(thin) if layer.layer_name.startswith("incidents"))
    n_clustered = int((labels >= 0).sum())
    assert n_clustered < len(drawn.data["features"]) <= 500
    assert "1 in " in map_to_html(thin)
    context = intel.map_clusters(table, robberies)  # no labels: every incident is grey context
    drawn = next(layer for layer in _layers(context) if layer.layer_name.startswith("incidents"))
    assert {f["properties"]["cluster"] for f in drawn.data["features"]} == {"none"}
    with pytest.raises(InputError, match="one cluster number per incident"):
        intel.map_clusters(table, robberies, labels=labels[:10])
    with pytest.raises(InputError, match="no incidents were given"):
        intel.map_clusters(table, labels=labels)
    with pytest.raises(InputError, match="nothing to draw"):
        intel.map_clusters(table.iloc[:0])
    with pytest.raises(InputError, match="'shape'"):
        intel.map_clusters(table, shape="circle")
    with pytest.raises(InputError, match="lacks the column"):
        intel.map_clusters(table.drop(columns="cluster_id"))


# ---------------------------------------------------------------- patrols


def test_patrol_map_places_routes_and_visit_times(plan11):
    plan, routes = plan11
    m = intel.map_patrols(plan, routes)
    page = map_to_html(m)
    _assert_complete_offline_map(page)
    places = [layer for layer in _layers(m) if layer.layer_name == "places"]
    legs = [layer for layer in _layers(m) if layer.layer_name == "routes"]
    shifts = list(dict.fromkeys(plan["shift"]))
    assert len(places) == len(legs) == len(shifts)
    assert sum(len(layer.data["features"]) for layer in places) == len(plan)
    assert sum(len(layer.data["features"]) for layer in legs) == len(routes)
    first = plan.iloc[0]
    props = next(f["properties"] for f in places[0].data["features"] if f["properties"]["place"] == first["place_id"])
    assert props["visit times"] == ", ".join(first["visit_times"])
    assert props["reason"] == first["reason"]
    assert props["share of shift risk"] == f"{first['expected_share']:.1%}"
    assert props["stop"].endswith(f"(unit {first['unit']})")
    # only the first shift is shown at first; the others are in the layer control
    groups = [e for e in m._children.values() if isinstance(e, folium.FeatureGroup)]
    assert [g.show for g in groups] == [True] + [False] * (len(shifts) - 1)
    assert "patrol plan for 2018-11-12" in page
    # exploration places (a safeguard) are outlined dashed
    exploring = [f["properties"]["style"].get("dashArray") for layer in places for f in layer.data["features"]
                 if f["properties"].get("selection") == "exploration"]
    assert exploring and all(exploring)


def test_patrol_map_of_one_shift(plan11):
    plan, _ = plan11
    night = intel.map_patrols(plan, shift="22-06")
    assert _n_features(night) == int((plan["shift"] == "22-06").sum())
    with pytest.raises(InputError, match="'shift'"):
        intel.map_patrols(plan, shift="09-17")
    with pytest.raises(InputError, match="no places"):
        intel.map_patrols(plan.iloc[:0])
    with pytest.raises(InputError, match="must be a GeoDataFrame"):
        intel.map_patrols(pd.DataFrame(plan.drop(columns="geometry")))


# ---------------------------------------------------------------- embedding and size


def test_map_as_iframe_for_the_briefing(robberies):
    m = intel.map_hotspots(intel.score_gistar(robberies, cell_size_m=500))
    frame = map_to_iframe(m, height=400, title="hot spots")
    assert frame.startswith("<iframe") and 'srcdoc="' in frame and "height:400px" in frame
    assert "<script>" not in frame  # the page is escaped into the attribute
    assert external_requests(frame) == []
    with pytest.raises(InputError, match="folium.Map"):
        map_to_html("not a map")


@pytest.mark.slow
def test_ten_thousand_cells_stay_a_few_megabytes():
    incidents = intel.make_synthetic(n_background=60000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = intel.score_counts(incidents, cell_size_m=100)
    drawn = int((scores["n"] > 0).sum())
    assert drawn >= 9000
    page = map_to_html(intel.map_scores(scores, "n"))
    assert len(page.encode()) < 5_000_000
    assert page.count('"type": "Feature"') == drawn


@pytest.mark.realdata
@pytest.mark.slow
def test_city_scale_hot_spot_map(chicago_files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        incidents = intel.read_incidents(chicago_files[-1], schema="chicago")  # all of Chicago, 2018
        scores = intel.score_gistar(incidents, cell_size_m=250)
    m = intel.map_hotspots(scores)
    page = map_to_html(m)
    _assert_complete_offline_map(page)
    expected = int(((scores["hotspot_class"] != "not significant") | (scores["n"] > 0)).sum())
    assert _n_features(m) == expected > 8000
    assert len(page.encode()) < 8_000_000
