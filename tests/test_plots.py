"""Tests of the static figures (intel.plots) and of inlining them in HTML (intel._render)."""

from __future__ import annotations

import base64
import io
import warnings

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import intel
from intel._render import fig_to_data_uri, fig_to_html
from intel._symbology import CLASS_STYLES, class_breaks
from intel.exceptions import InputError

matplotlib.use("Agg")  # only for the pyplot check below; the library never needs a backend of its own


@pytest.fixture(scope="module")
def district11() -> gpd.GeoDataFrame:
    return intel.load_sample("chicago_district11")


@pytest.fixture(scope="module")
def gistar(district11) -> gpd.GeoDataFrame:
    return intel.score_gistar(district11, cell_size_m=250)


@pytest.fixture(scope="module")
def weekly(district11) -> pd.DataFrame:
    return intel.build_period_counts(district11, by=None, freq="W-MON", end="2018-11-12")


def _legend(fig):
    """The legend of a grid figure (on an axes of its own beside the map)."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    return legends[0]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for t in _legend(fig).get_texts()]


# ---------------------------------------------------------------- plot_grid


def test_grid_of_hot_spot_classes(gistar):
    fig = intel.plot_grid(gistar)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert not ax.axison and ax.get_title() == "hotspot class"
    labels = gistar["hotspot_class"]
    busy = gistar["n"] > 0
    texts = _legend_texts(fig)
    for label in set(labels) - {"not significant"}:
        assert f"{label} ({int((labels == label).sum()):,})" in texts
    quiet_busy = int(((labels == "not significant") & busy).sum())
    assert f"not significant, with incidents ({quiet_busy:,})" in texts
    assert f"no incidents ({int(((labels == 'not significant') & ~busy).sum()):,})" in texts
    assert texts.index("hot spot 99%" + texts[0][len("hot spot 99%"):]) == 0  # hot first, as in ArcGIS
    # the hot spot 99% cells are filled with the Gi_Bin red
    handle = _legend(fig).legend_handles[0]
    assert to_hex(handle.get_facecolor()) == CLASS_STYLES["hot spot 99%"].fill
    fills = {to_hex(c) for coll in ax.collections for c in coll.get_facecolors()}
    assert CLASS_STYLES["hot spot 99%"].fill in fills and CLASS_STYLES["cold spot 99%"].fill in fills
    # every cell is drawn once
    assert sum(len(coll.get_paths()) for coll in ax.collections) == len(gistar)
    assert any(t.get_text() in ("1 km", "2 km", "500 m") for t in ax.texts)  # the scale bar
    assert any("approximate" in t.get_text() for t in fig.texts)


def test_grid_of_numbers_classed_and_continuous(gistar):
    fig = intel.plot_grid(gistar, "n", k=4, scheme="natural_breaks", title="incidents per cell")
    ax = fig.axes[0]
    assert ax.get_title() == "incidents per cell"
    texts = _legend_texts(fig)
    positive = gistar.loc[gistar["n"] > 0, "n"].to_numpy()
    bins, edges = class_breaks(positive, 4, "natural_breaks")
    assert len(texts) == edges.size + 1  # the classes and "0 or none"
    assert texts[-1] == f"0 or none ({int((gistar['n'] == 0).sum()):,})"
    assert texts[0].endswith(f"({int((bins == bins.max()).sum()):,})")  # highest class first
    assert texts[0].startswith(f"{int(positive[bins == bins.max()].min()):,}")
    continuous = intel.plot_grid(gistar, "gi_star", classed=False, cmap="RdBu_r")
    assert len(continuous.axes) == 2  # map and colour bar
    assert continuous.axes[1].get_ylabel() == "gi star"
    low, high = continuous.axes[1].get_ylim()
    assert low == pytest.approx(gistar["gi_star"].min()) and high == pytest.approx(gistar["gi_star"].max())


def test_grid_of_a_cube_and_emerging_classes(district11):
    grid = intel.make_grid(district11, cell_size_m=500)
    cube = intel.build_cube(district11, grid, freq="MS", end="2018-11-01")
    fig = intel.plot_grid(cube, "n", grid=grid, period="2018-01-01")
    january = cube.xs(pd.Timestamp("2018-01-01", tz="America/Chicago"), level="period")["n"]
    assert _legend_texts(fig)[-1] == f"0 or none ({int((january == 0).sum()):,})"
    emerging = intel.classify_emerging(cube, grid)
    texts = _legend_texts(intel.plot_grid(emerging))
    for label in set(emerging["hotspot_class"]) - {"no pattern detected"}:
        assert any(t.startswith(label + " (") for t in texts)


def test_grid_bad_input(gistar):
    with pytest.raises(InputError, match="not in the table"):
        intel.plot_grid(gistar, "risk")
    with pytest.raises(InputError, match="'k'"):
        intel.plot_grid(gistar, "n", k=20)
    with pytest.raises(InputError, match="'classed'"):
        intel.plot_grid(gistar, "n", classed="yes")
    with pytest.raises(InputError, match="'ax'"):
        intel.plot_grid(gistar, ax="left")
    with pytest.raises(InputError, match="'figsize'"):
        intel.plot_grid(gistar, figsize=(0, 3))
    with pytest.raises(InputError, match="needs CellScores"):
        intel.plot_grid("scores.csv")


def test_figures_draw_into_a_given_axes_and_never_touch_pyplot(gistar, weekly):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    outer = Figure(figsize=(12, 5))
    left, right = outer.subplots(1, 2)
    assert intel.plot_grid(gistar, ax=left) is outer
    assert intel.plot_trend(weekly, ax=right) is outer
    assert left.get_title() == "hotspot class" and right.get_ylabel() == "incidents per week"
    assert left.get_legend() is not None and len(outer.axes) == 2  # the legend hangs beside the given axes
    intel.plot_hour_weekday(intel.build_hour_weekday(intel.make_synthetic(random_state=0)))
    assert plt.get_fignums() == before


# ---------------------------------------------------------------- plot_hour_weekday


def test_hour_weekday_heat_table(district11):
    table = intel.build_hour_weekday(district11)
    fig = intel.plot_hour_weekday(table, annotate=True)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), table.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["00", "01", "02"]
    assert ax.get_xlabel() == "hour of day"
    assert fig.axes[1].get_ylabel() == "incidents"
    assert len(ax.texts) == 168 and ax.texts[0].get_text() == f"{table.iloc[0, 0]:.0f}"
    assert f"{table.to_numpy().sum():,.0f} incidents" in ax.get_title()
    assert len(intel.plot_hour_weekday(table).axes[0].texts) == 0


def test_hour_weekday_bad_input(district11):
    table = intel.build_hour_weekday(district11)
    with pytest.raises(InputError, match="7 x 24"):
        intel.plot_hour_weekday(table.iloc[:5])
    with pytest.raises(InputError, match="7 x 24"):
        intel.plot_hour_weekday(table.to_numpy())
    with pytest.raises(InputError, match="negative"):
        intel.plot_hour_weekday(-table)


# ---------------------------------------------------------------- plot_trend


def test_trend_with_poisson_bands(weekly):
    fig = intel.plot_trend(weekly, window=4)
    ax = fig.axes[0]
    n = weekly["n"].to_numpy()
    expected = pd.Series(n).rolling(4).mean().shift(1).to_numpy()
    line_expected = next(line for line in ax.lines if line.get_label().startswith("expected"))
    np.testing.assert_allclose(line_expected.get_ydata(), expected, equal_nan=True)
    line_counts = next(line for line in ax.lines if line.get_label() == "incidents")
    np.testing.assert_array_equal(line_counts.get_ydata(), n)
    upper = expected + 1.96 * np.sqrt(expected)
    lower = np.maximum(expected - 1.96 * np.sqrt(expected), 0)
    with np.errstate(invalid="ignore"):
        above, below = int(np.nansum(n > upper)), int(np.nansum(n < lower))
    markers = {c.get_label(): len(c.get_offsets()) for c in ax.collections if c.get_label().endswith("band")}
    assert markers.get("above the band", 0) == above and markers.get("below the band", 0) == below
    assert f"{above} weeks above and {below} below" in ax.get_title()
    # local wall-clock dates: the first period is Monday 28 December 2015, midnight in Chicago
    first = matplotlib.dates.num2date(line_counts.get_xdata(orig=False)[0])
    assert (first.year, first.month, first.day, first.hour) == (2015, 12, 28, 0)
    assert ax.get_ylabel() == "incidents per week"


def test_trend_of_one_group_and_of_a_series(district11):
    by_category = intel.build_period_counts(district11, freq="MS", end="2018-11-01")
    fig = intel.plot_trend(by_category, group="BURGLARY", window=3)
    ax = fig.axes[0]
    counts = next(line for line in ax.lines if line.get_label() == "BURGLARY")
    wanted = by_category.loc[by_category["category"] == "BURGLARY", "n"].to_numpy()
    np.testing.assert_array_equal(counts.get_ydata(), wanted)
    assert ax.get_ylabel() == "incidents per month"
    total = intel.plot_trend(by_category, window=3).axes[0]
    summed = by_category.groupby("period")["n"].sum().to_numpy()
    np.testing.assert_array_equal(next(line for line in total.lines if line.get_label() == "incidents").get_ydata(),
                                  summed)
    series = pd.Series([5.0, 7, 6, 4, 9, 30], index=pd.date_range("2018-01-01", periods=6, freq="D"), name="thefts")
    ax = intel.plot_trend(series, window=3).axes[0]
    assert ax.get_ylabel() == "incidents per day"  # from the dates' spacing
    assert "thefts" in [line.get_label() for line in ax.lines]
    assert {c.get_label() for c in ax.collections} >= {"above the band"}
    uneven = series.iloc[[0, 1, 3, 4, 5]]
    assert intel.plot_trend(uneven.rename("n"), window=2).axes[0].get_ylabel() == "incidents per period"


def test_trend_bad_input(weekly, district11):
    with pytest.raises(InputError, match="more than window"):
        intel.plot_trend(weekly.iloc[:4], window=4)
    with pytest.raises(InputError, match="'window'"):
        intel.plot_trend(weekly, window=0)
    with pytest.raises(InputError, match="'z'"):
        intel.plot_trend(weekly, z=-1)
    with pytest.raises(InputError, match="not grouped"):
        intel.plot_trend(weekly, group="BURGLARY")
    by_category = intel.build_period_counts(district11, freq="MS", end="2018-11-01")
    with pytest.raises(InputError, match="no group 'ARSONS'"):
        intel.plot_trend(by_category, group="ARSONS")
    with pytest.raises(InputError, match="needs counts per period"):
        intel.plot_trend([1, 2, 3])
    with pytest.raises(InputError, match="non-negative"):
        intel.plot_trend(weekly.assign(n=-weekly["n"]))


# ---------------------------------------------------------------- plot_capture_curve


def _curves(district11):
    grid = intel.make_grid(district11, cell_size_m=250)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = intel.score_counts(district11[district11["occurred_at"] < "2018-01-01"], grid)["n"]
        after = intel.score_counts(district11[district11["occurred_at"] >= "2018-01-01"], grid)["n"]
    rng = np.random.default_rng(0)
    return {"last two years": intel.capture_curve(before, after),
            "random": intel.capture_curve(rng.random(len(grid)), after)}


def test_capture_curves_of_several_models(district11):
    curves = _curves(district11)
    fig = intel.plot_capture_curve(curves)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert set(lines) == {"last two years", "random", "random (hit rate = area)", "best possible"}
    curve = curves["last two years"]
    np.testing.assert_allclose(lines["last two years"].get_xdata(), curve["coverage"] * 100)
    np.testing.assert_allclose(lines["last two years"].get_ydata(), curve["hit_rate"] * 100)
    np.testing.assert_allclose(lines["best possible"].get_ydata(), curve["best_hit_rate"] * 100)
    assert ax.get_xlabel() == "area covered (%, riskiest cells first)"
    assert ax.get_ylabel() == "incidents captured (%)"
    assert ax.get_xlim() == (0, 20)
    pai = intel.plot_capture_curve(curves, metric="pai").axes[0]
    assert pai.get_ylabel().startswith("PAI")
    assert any(line.get_label() == "random (PAI = 1)" and list(line.get_ydata()) == [1, 1] for line in pai.lines)
    single = intel.plot_capture_curve(curve).axes[0]
    assert "forecast" in [line.get_label() for line in single.lines]


def test_capture_curve_of_a_backtest_table():
    rows = []
    for model, shift in (("KDERisk", 0.1), ("LastPeriod", 0.0)):
        for origin in range(3):
            for coverage in (0.01, 0.05, 0.1):
                rows.append({"model": model, "origin": origin, "coverage": coverage,
                             "hit_rate": coverage * 2 + shift + 0.01 * origin, "best_hit_rate": 0.9})
    table = pd.DataFrame(rows)
    ax = intel.plot_capture_curve(table).axes[0]
    kde = next(line for line in ax.lines if line.get_label() == "KDERisk")
    np.testing.assert_allclose(kde.get_ydata(), (np.array([0.01, 0.05, 0.1]) * 2 + 0.1 + 0.01) * 100)


def test_capture_curve_bad_input(district11):
    with pytest.raises(InputError, match="'metric'"):
        intel.plot_capture_curve(pd.DataFrame({"coverage": [0.1], "hit_rate": [0.3]}), metric="auc")
    with pytest.raises(InputError, match="needs 'coverage'"):
        intel.plot_capture_curve({"a": pd.DataFrame({"x": [1]})})
    with pytest.raises(InputError, match="no curves"):
        intel.plot_capture_curve({})
    with pytest.raises(InputError, match="needs a curve"):
        intel.plot_capture_curve([0.1, 0.2])


# ---------------------------------------------------------------- figures in HTML


def test_figures_inline_as_data_uris_identically_on_rerun(weekly):
    from PIL import Image

    fig = intel.plot_trend(weekly)
    uri = fig_to_data_uri(fig, dpi=60)
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.size[0] > 300 and image.size[1] > 100
    pixels = np.asarray(image.convert("L"))
    assert (pixels < 200).mean() > 0.01  # something is drawn
    assert fig_to_data_uri(intel.plot_trend(weekly), dpi=60) == uri  # a rerun writes the same bytes
    svg = fig_to_data_uri(intel.plot_trend(weekly), format="svg")
    assert svg.startswith("data:image/svg+xml;base64,")
    text = base64.b64decode(svg.split(",", 1)[1]).decode()
    assert "<svg" in text and "<dc:date>" not in text
    assert fig_to_data_uri(intel.plot_trend(weekly), format="svg") == svg
    tag = fig_to_html(fig, alt="weekly incidents", dpi=60)
    assert tag.startswith('<img src="data:image/png;base64,') and 'alt="weekly incidents"' in tag
    with pytest.raises(InputError, match="'format'"):
        fig_to_data_uri(fig, format="gif")
    with pytest.raises(InputError, match="matplotlib Figure"):
        fig_to_data_uri("figure.png")
