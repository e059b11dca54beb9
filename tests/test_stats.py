"""Tests of intel.stats: Gi*, local Moran's I, change between periods, concentration."""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats as st

import intel
from intel._weights import cell_neighbours
from intel.exceptions import CRSError, DataQualityWarning, GridError, InputError
from intel.stats import HOTSPOT_CLASSES, _crand_sums, _exact_sum_tails

esda = pytest.importorskip("esda")
libpysal = pytest.importorskip("libpysal")

SCORE_COLUMNS = ["n", "gi_star", "p_value", "p_adj", "hotspot_class"]


@pytest.fixture(scope="module")
def planted():
    return intel.make_synthetic(random_state=0)


@pytest.fixture(scope="module")
def grid250(planted):
    return intel.make_grid(planted, cell_size_m=250)


def _libpysal_w(grid, kind="queen"):
    frame = grid.reset_index()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "queen" and "row" in frame.columns and (frame["row"] % 2 == 1).any() and frame.geometry.iloc[0].exterior.coords.__len__() == 7:
            # hexagon vertices are computed per cell, so they differ in the last bit between neighbours and
            # libpysal's vertex-matching Queen misses most of them; geometric contiguity is what intel means
            return libpysal.weights.fuzzy_contiguity(frame, tolerance=1e-6)
        if kind == "queen":
            return libpysal.weights.Queen.from_dataframe(frame, use_index=False)
        if kind == "rook":
            return libpysal.weights.Rook.from_dataframe(frame, use_index=False)
        centres = np.column_stack([frame.geometry.centroid.x, frame.geometry.centroid.y])
        return libpysal.weights.DistanceBand(centres, threshold=kind * (1 + 1e-9), binary=True, silence_warnings=True)


def _esda(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(*args, **kwargs)


def _bare(scores):
    grid = scores[["row", "col", "geometry"]] if "row" in scores.columns else scores[["geometry"]]
    grid = grid.copy()
    grid.attrs = {"grid": scores.attrs["grid"]}
    return grid


# ---------------------------------------------------------------- agreement with esda


@pytest.mark.parametrize("shape, kind", [("square", "queen"), ("square", "rook"), ("hex", "queen"), ("square", 600.0)])
def test_gistar_equals_esda_g_local_star(planted, shape, kind):
    scores = intel.score_gistar(planted, cell_size_m=250, shape=shape, neighbours=kind)
    w = _libpysal_w(_bare(scores), kind)
    ref = _esda(esda.G_Local, scores["n"].to_numpy(), w, star=True, transform="B", permutations=0)
    np.testing.assert_allclose(scores["gi_star"].to_numpy(), ref.Zs, rtol=0, atol=1e-9)
    assert np.abs(scores["gi_star"]).max() > 3  # planted hot spots give a strong signal to compare


def test_gi_without_star_equals_esda_g_local(planted, grid250):
    scores = intel.score_gistar(planted, grid250, star=False)
    ref = _esda(esda.G_Local, scores["n"].to_numpy(), _libpysal_w(grid250), star=False, transform="B", permutations=0)
    np.testing.assert_allclose(scores["gi_star"].to_numpy(), ref.Zs, rtol=0, atol=1e-9)
    assert scores.attrs["provenance"]["star"] is False


def test_moran_equals_esda_moran_local(planted, grid250):
    scores = intel.score_moran(planted, grid250, permutations=0)
    ref = _esda(esda.Moran_Local, scores["n"].to_numpy(), _libpysal_w(grid250), transformation="r", permutations=0)
    np.testing.assert_allclose(scores["moran_i"].to_numpy(), ref.Is, rtol=0, atol=1e-9)
    hh = scores["moran_class"] == "high-high"
    assert hh.any()
    assert (ref.q[hh.to_numpy()] == 1).all()  # esda's quadrant 1 is high-high


def test_permutation_counts_follow_esdas_conditional_randomisation():
    # esda's crand: one table of draws serves every cell; for cell i the draws index the other cells
    # (y without y[i]), the first k_i of each row are its random neighbours. Re-done here in plain numpy
    # (running esda's own numba loop would cost half a minute of compilation).
    incidents = intel.make_synthetic(n_background=400, hotspots=1, hotspot_events=80, random_state=3)
    grid = intel.make_grid(incidents, cell_size_m=500)
    y = intel.score_gistar(incidents, grid)["n"].to_numpy()
    others = cell_neighbours(grid, "queen")
    degree = np.diff(others.indptr)
    rng = np.random.default_rng(7)
    permutations = 199
    table = np.stack([rng.choice(y.size - 1, size=degree.max(), replace=False) for _ in range(permutations)])
    ge, le = _crand_sums(y, others.indptr, others.indices, table.astype(np.int32), 1e-9)
    observed = others @ y
    for i in range(y.size):
        sims = np.delete(y, i)[table[:, : degree[i]]].sum(axis=1)
        assert ge[i] == (sims >= observed[i]).sum()
        assert le[i] == (sims <= observed[i]).sum()
    assert (ge < permutations).any() and (le < permutations).any()


def test_exact_tails_match_enumeration():
    y = np.array([0.0, 1.0, 2.0, 0.0, 3.0])
    draws = np.array([2, 1, 3, 0, 2])
    observed = np.array([1.0, 1.0, 4.0, 0.0, 6.0])
    p_ge, p_le = _exact_sum_tails(y, draws, observed)
    for i, k in enumerate(draws):
        # every ordered sequence of k draws (with replacement) from the five counts is equally likely
        sums = np.zeros(1)
        for _ in range(k):
            sums = np.add.outer(sums, y).ravel()
        assert p_ge[i] == pytest.approx((sums >= observed[i]).mean())
        assert p_le[i] == pytest.approx((sums <= observed[i]).mean())
    assert _exact_sum_tails(y + 0.5, draws, observed) is None  # not whole numbers: no exact tails


def test_gistar_p_value_is_the_exact_tail_of_the_neighbourhood_sum(planted, grid250):
    scores = intel.score_gistar(planted, grid250, alternative="greater", correction="none")
    y = scores["n"].to_numpy()
    w = cell_neighbours(grid250, "queen", include_self=True)
    i = int(np.argmax(scores["gi_star"].to_numpy()))
    k = int(w[i].sum())
    rng = np.random.default_rng(0)
    sums = rng.choice(y, size=(200_000, k)).sum(axis=1)
    observed = (w @ y)[i]
    assert scores["p_value"].iloc[i] == pytest.approx((sums >= observed).mean(), rel=0.1, abs=2e-5)


def test_exact_and_permutation_p_values_agree(planted, grid250):
    # Gi (no star) has one null in both modes: the neighbours' counts drawn from the other cells
    exact = intel.score_gistar(planted, grid250, correction="none", star=False)
    permuted = intel.score_gistar(planted, grid250, correction="none", star=False, permutations=999, random_state=0)
    assert np.corrcoef(exact["p_value"], permuted["p_value"])[0, 1] > 0.99
    assert np.abs(exact["p_value"] - permuted["p_value"]).max() < 0.12
    np.testing.assert_array_equal(exact["gi_star"], permuted["gi_star"])


# ---------------------------------------------------------------- finding what was planted


def _truth_cells(scores, incidents):
    """Truth: cells whose centre lies inside a planted disc."""
    centres = scores.geometry.centroid
    truth = np.zeros(len(scores), dtype=bool)
    for spot in incidents.attrs["truth"]["hotspots"]:
        truth |= np.hypot(centres.x - spot["x"], centres.y - spot["y"]).to_numpy() <= spot["radius_m"]
    return truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_hot_spots_are_found_at_default_settings(seed):
    incidents = intel.make_synthetic(random_state=seed)
    scores = intel.score_gistar(incidents)
    truth = _truth_cells(scores, incidents)
    hot = scores["hotspot_class"].astype(str).str.startswith("hot spot").to_numpy()
    assert truth.sum() >= 10
    recall = (hot & truth).sum() / truth.sum()
    # Gi* scores a cell by its neighbourhood (the cell and its queen neighbours), so a cell next to a planted
    # disc sits in a genuinely hot neighbourhood. Precision therefore counts a hot cell as right when its own
    # neighbourhood holds a truth cell, and wrong otherwise (hot far from any planted disc).
    w = cell_neighbours(scores, "queen", include_self=True)
    near_truth = (w @ truth.astype(float)) > 0
    precision = (hot & near_truth).sum() / hot.sum()
    assert recall >= 0.9, recall
    assert precision >= 0.9, precision
    assert not scores["hotspot_class"].astype(str).str.startswith("cold").any()


def test_uniform_data_gives_no_more_false_hot_cells_than_nominal():
    # Under complete spatial randomness every hot cell is false. FDR control at q = 0.10 (the 90% class) bounds
    # the chance that a data set shows any hot cell by 0.10: over 10 seeds, at most 1 expected; allow 2.
    seeds_with_hot, cells, hot_cells, raw_rejections = 0, 0, 0, 0
    for seed in range(10):
        incidents = intel.make_synthetic(hotspots=0, random_state=seed)
        scores = intel.score_gistar(incidents)
        hot = scores["hotspot_class"].astype(str).str.startswith("hot spot").to_numpy()
        seeds_with_hot += bool(hot.any())
        hot_cells += int(hot.sum())
        cells += len(scores)
        raw_rejections += int((scores["p_value"] < 0.05).sum())
    assert seeds_with_hot <= 2
    assert hot_cells / cells <= 0.10
    # before correction the p-values must be calibrated (discrete counts make them conservative)
    assert raw_rejections / cells <= 0.05


# ---------------------------------------------------------------- the correction, once


@pytest.mark.parametrize("correction", ["fdr_bh", "bonferroni", "none"])
def test_correction_applied_once_and_named(planted, grid250, correction):
    scores = intel.score_gistar(planted, grid250, correction=correction)
    p = scores["p_value"].to_numpy()
    expected = {
        "fdr_bh": st.false_discovery_control(p, method="bh"),
        "bonferroni": np.minimum(1.0, p * p.size),
        "none": p,
    }[correction]
    np.testing.assert_allclose(scores["p_adj"].to_numpy(), expected, rtol=1e-12)
    record = scores.attrs["provenance"]
    assert record["correction"] == correction
    assert record["correction_applied_to"] == "p_value"
    assert record["correction_result"] == "p_adj"
    assert record["n_tests"] == len(grid250)
    assert "Gi*" in record["statistic"] and record["star"] is True


def test_classes_follow_p_adj_and_sign(planted, grid250):
    scores = intel.score_gistar(planted, grid250)
    assert list(scores["hotspot_class"].cat.categories) == list(HOTSPOT_CLASSES)
    z, q, label = scores["gi_star"], scores["p_adj"], scores["hotspot_class"].astype(str)
    assert (label[(q < 0.01) & (z > 0)] == "hot spot 99%").all()
    assert (label[(q >= 0.01) & (q < 0.05) & (z > 0)] == "hot spot 95%").all()
    assert (label[(q >= 0.05) & (q < 0.10) & (z > 0)] == "hot spot 90%").all()
    assert (label[q >= 0.10] == "not significant").all()
    assert (label == "hot spot 99%").sum() >= 5
    counts = scores.attrs["provenance"]["classes"]
    assert counts == {k: int((label == k).sum()) for k in HOTSPOT_CLASSES}


def test_one_sided_alternatives(planted, grid250):
    two = intel.score_gistar(planted, grid250, correction="none")
    greater = intel.score_gistar(planted, grid250, alternative="greater", correction="none")
    less = intel.score_gistar(planted, grid250, alternative="less", correction="none")
    assert not greater["hotspot_class"].astype(str).str.startswith("cold").any()
    assert not less["hotspot_class"].astype(str).str.startswith("hot").any()
    np.testing.assert_allclose(two["p_value"], np.minimum(1, 2 * np.minimum(greater["p_value"], less["p_value"])))


def test_permutations_are_seeded_and_warn_when_too_coarse(planted, grid250):
    with pytest.warns(UserWarning, match="smallest p-value"):
        a = intel.score_gistar(planted, grid250, permutations=99, random_state=5)
    with pytest.warns(UserWarning, match="smallest p-value"):
        b = intel.score_gistar(planted, grid250, permutations=99, random_state=5)
    with pytest.warns(UserWarning, match="smallest p-value"):
        c = intel.score_gistar(planted, grid250, permutations=99, random_state=6)
    pd.testing.assert_series_equal(a["p_value"], b["p_value"])
    assert not a["p_value"].equals(c["p_value"])
    assert a.attrs["provenance"]["seed"] == 5
    assert "99 permutations" in a.attrs["provenance"]["p_value_method"]
    assert (a["p_value"] >= 2 / 100 - 1e-12).all()


def test_permutations_single_out_the_planted_neighbourhoods(planted, grid250):
    # Conditional randomisation keeps each cell's own count and shuffles its neighbours, so it flags the
    # cells around a planted disc; far from the discs its p-values stay calibrated.
    scores = intel.score_gistar(planted, grid250, permutations=999, random_state=0, correction="none")
    truth = _truth_cells(scores, planted)
    near = (cell_neighbours(grid250, "queen", include_self=True) @ truth.astype(float)) > 0
    smallest = scores["p_value"].to_numpy() <= 2 / 1000 + 1e-12
    assert smallest[near].mean() >= 0.6
    assert smallest[~near].sum() <= 3
    assert (scores["p_value"].to_numpy()[~near] < 0.05).mean() <= 0.05


# ---------------------------------------------------------------- grids, provenance, inputs


def test_automatic_cell_size_is_announced_and_recorded(planted, caplog):
    with caplog.at_level(logging.INFO, logger="intel"):
        scores = intel.score_gistar(planted)
    assert "cell_size_m" in scores.attrs["provenance"]["automatic"]
    assert scores.attrs["provenance"]["parameters"]["cell_size_m"] is None
    assert any("Cell size set to" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="intel"):
        given = intel.score_gistar(planted, cell_size_m=250)
    assert given.attrs["provenance"]["automatic"] == {}
    assert not any("Cell size" in r.getMessage() for r in caplog.records)


def test_output_is_the_grid_in_its_order_and_inputs_are_untouched(planted, grid250):
    before_inc, before_grid = planted.copy(), grid250.copy()
    shuffled = grid250.sample(frac=1.0, random_state=0)
    shuffled.attrs = dict(grid250.attrs)
    scores = intel.score_gistar(planted, shuffled)
    assert scores.index.equals(shuffled.index)
    reference = intel.score_gistar(planted, grid250)
    pd.testing.assert_series_equal(scores["gi_star"].loc[grid250.index], reference["gi_star"], check_exact=False,
                                   atol=1e-12)
    pd.testing.assert_frame_equal(planted, before_inc)
    pd.testing.assert_frame_equal(grid250, before_grid)
    assert scores.crs == grid250.crs


def test_polygon_layer_as_grid(planted):
    x0, y0, x1, y1 = planted.attrs["truth"]["extent"]
    xs, ys = np.linspace(x0, x1, 8), np.linspace(y0, y1, 6)
    boxes = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(7) for j in range(5)]
    layer = intel.as_grid(gpd.GeoDataFrame({"beat": [f"b{k}" for k in range(35)]}, geometry=boxes, crs=planted.crs),
                          id_column="beat")
    scores = intel.score_gistar(planted, layer)
    assert scores.index.tolist() == layer.index.tolist()
    assert scores["n"].sum() == pytest.approx(len(planted))
    ref = _esda(esda.G_Local, scores["n"].to_numpy(), _libpysal_w(layer.reset_index(drop=True)), star=True,
                transform="B", permutations=0)
    np.testing.assert_allclose(scores["gi_star"].to_numpy(), ref.Zs, atol=1e-9)


def test_incidents_outside_the_grid_are_announced_and_recorded(planted, grid250, caplog):
    part = grid250.iloc[: len(grid250) // 2].copy()
    part.attrs = dict(grid250.attrs)
    with caplog.at_level(logging.INFO, logger="intel"):
        scores = intel.score_gistar(planted, part)
    assert 0 < scores.attrs["provenance"]["n_outside_grid"] < len(planted)
    assert scores["n"].sum() + scores.attrs["provenance"]["n_outside_grid"] == len(planted)
    assert any("outside the grid" in r.getMessage() for r in caplog.records)


def test_grid_that_misses_the_points_is_a_grid_error(planted):
    far = intel.make_grid(gpd.GeoSeries([shapely.box(0, 0, 3000, 3000)], crs=planted.crs), cell_size_m=500)
    with pytest.raises(GridError, match="no incident falls in the grid"):
        intel.score_gistar(planted, far)


def test_lat_lon_incidents_are_projected_and_recorded(planted):
    scores = intel.score_gistar(planted.to_crs(4326), cell_size_m=250)
    assert scores.crs.is_projected
    assert "crs" in scores.attrs["provenance"]["automatic"]
    assert scores["n"].sum() == len(planted)
    reference = intel.score_gistar(planted, cell_size_m=250)
    assert (scores["hotspot_class"] == "hot spot 99%").sum() == (reference["hotspot_class"] == "hot spot 99%").sum()


def test_lat_lon_periods_for_change_are_a_crs_error(planted):
    with pytest.raises(CRSError, match="geographic"):
        intel.score_change(planted.to_crs(4326), planted.to_crs(4326), cell_size_m=250)


def test_incidents_in_another_crs_are_reprojected_to_the_grid(planted, grid250):
    other = planted.to_crs("EPSG:3857")
    scores = intel.score_gistar(other, grid250)
    reference = intel.score_gistar(planted, grid250)
    np.testing.assert_allclose(scores["n"], reference["n"])


def test_equal_counts_everywhere_warn_and_give_zero(planted):
    xs = np.arange(5) * 100.0 + 440_050.0
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.repeat(xs, 5), np.tile(xs - 440_000 + 4_630_000, 5)),
                           crs=planted.crs)
    grid = intel.make_grid(gpd.GeoSeries([shapely.box(440_000, 4_630_000, 440_500, 4_630_500)], crs=planted.crs),
                           cell_size_m=100)
    with pytest.warns(DataQualityWarning, match="same count"):
        scores = intel.score_gistar(pts, grid)
    assert (scores["n"] == 1).all()
    assert (scores["gi_star"] == 0).all()
    assert (scores["hotspot_class"] == "not significant").all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"correction": "holm"}, "correction"),
        ({"alternative": "both"}, "alternative"),
        ({"permutations": -1}, "permutations"),
        ({"permutations": 9.5}, "permutations"),
        ({"neighbours": "bishop"}, "neighbours"),
        ({"star": "yes"}, "star"),
        ({"shape": "round"}, "shape"),
        ({"cell_size_m": -10}, "cell_size_m"),
    ],
)
def test_bad_parameters_are_clear_errors(planted, kwargs, match):
    with pytest.raises(InputError, match=match):
        intel.score_gistar(planted, **kwargs)


def test_not_incidents_is_a_clear_error():
    with pytest.raises(InputError, match="GeoDataFrame"):
        intel.score_gistar(pd.DataFrame({"x": [1]}))


# ---------------------------------------------------------------- local Moran


def test_moran_finds_planted_clusters_and_records_its_choices(planted, grid250):
    scores = intel.score_moran(planted, grid250, permutations=0)
    truth = _truth_cells(scores, planted)
    near = (cell_neighbours(grid250, "queen", include_self=True) @ truth.astype(float)) > 0
    hh = (scores["moran_class"] == "high-high").to_numpy()
    assert hh.sum() >= 6
    assert hh[~near].sum() == 0
    centres = scores.geometry.centroid
    for spot in planted.attrs["truth"]["hotspots"]:  # every planted disc has high-high cells within 500 m
        assert (np.hypot(centres.x - spot["x"], centres.y - spot["y"]).to_numpy()[hh] <= 500).any()
    record = scores.attrs["provenance"]
    assert record["correction"] == "fdr_bh" and record["correction_applied_to"] == "p_value"
    assert "row-standardised" in record["weights"]
    np.testing.assert_allclose(scores["p_adj"], st.false_discovery_control(scores["p_value"].to_numpy()))


def test_moran_permutations_are_seeded(planted):
    grid = intel.make_grid(planted, cell_size_m=1000)
    with pytest.warns(UserWarning, match="smallest p-value"):
        a = intel.score_moran(planted, grid, permutations=999, random_state=0)
    with pytest.warns(UserWarning, match="smallest p-value"):
        b = intel.score_moran(planted, grid, permutations=999, random_state=0)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["provenance"]["seed"] == 0
    assert "999 permutations" in a.attrs["provenance"]["p_value_method"]


def test_moran_default_is_exact_and_finds_planted_clusters(planted):
    scores = intel.score_moran(planted, cell_size_m=250)
    assert "permutation" not in scores.attrs["provenance"]["p_value_method"]
    assert (scores["moran_class"] == "high-high").sum() > 0


def test_moran_permutation_and_exact_agree(planted):
    grid = intel.make_grid(planted, cell_size_m=500)
    exact = intel.score_moran(planted, grid, permutations=0, correction="none")
    permuted = intel.score_moran(planted, grid, permutations=999, correction="none", random_state=1)
    assert np.corrcoef(exact["p_value"], permuted["p_value"])[0, 1] > 0.98
    assert list(permuted["moran_class"].cat.categories) == ["high-high", "low-low", "high-low", "low-high",
                                                            "not significant"]


def test_moran_bad_alpha(planted):
    with pytest.raises(InputError, match="alpha"):
        intel.score_moran(planted, cell_size_m=500, alpha=1.5)


# ---------------------------------------------------------------- change


def test_change_exact_test_matches_scipy_binomtest():
    grid = intel.make_grid(gpd.GeoSeries([shapely.box(0, 0, 300, 100)], crs="EPSG:32616"), cell_size_m=100)
    cx = grid.geometry.centroid.x.to_numpy()

    def points(counts):
        xs = np.repeat(cx, counts)
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, np.full(xs.size, 50.0)), crs="EPSG:32616")

    before, after = points([2, 14, 0]), points([12, 2, 0])
    change = intel.score_change(before, after, grid, correction="none")
    assert change["n_before"].tolist() == [2, 14, 0] and change["n_after"].tolist() == [12, 2, 0]
    for i, (b, a) in enumerate([(2, 12), (14, 2)]):
        assert change["p_value"].iloc[i] == pytest.approx(st.binomtest(a, a + b, 0.5).pvalue)
        assert change["change_z"].iloc[i] == pytest.approx(2 * (np.sqrt(a) - np.sqrt(b)))
    assert change["p_value"].iloc[2] == 1.0
    assert change["change_class"].tolist() == ["significant increase", "significant decrease", "no significant change"]
    assert change.attrs["provenance"]["n_tests"] == 2  # the empty cell is no test
    longer = intel.score_change(before, after, grid, rate_ratio=3.0, alternative="greater", correction="none")
    assert longer["p_value"].iloc[0] == pytest.approx(st.binomtest(12, 14, 0.75, alternative="greater").pvalue)
    assert longer["change_z"].iloc[0] == pytest.approx(2 * (np.sqrt(12) - np.sqrt(3 * 2)))


def test_change_finds_a_new_hot_spot_and_little_else():
    spec = [{"x": 5250.0, "y": 5250.0, "radius_m": 200.0, "events": 300, "kind": "new"}]  # inside one 500 m cell
    incidents = intel.make_synthetic(hotspots=spec, random_state=2)
    cut = pd.Timestamp("2018-07-02", tz="UTC")  # 182 of 365 days: equal halves, near enough
    first, second = incidents[incidents["occurred_at"] < cut], incidents[incidents["occurred_at"] >= cut]
    change = intel.score_change(first, second, cell_size_m=500)
    centre = shapely.Point(incidents.attrs["truth"]["hotspots"][0]["x"], incidents.attrs["truth"]["hotspots"][0]["y"])
    holding = change.geometry.contains(centre).to_numpy()
    assert holding.sum() == 1
    assert change["change_class"].to_numpy()[holding][0] == "significant increase"
    assert (change["change_class"].to_numpy()[~holding] != "no significant change").sum() <= 2
    assert change.attrs["provenance"]["grid_source"] == "built"


def test_change_accepts_cell_scores_on_one_grid(planted, grid250):
    cut = pd.Timestamp("2018-07-01", tz="UTC")
    a = intel.score_gistar(planted[planted["occurred_at"] < cut], grid250)
    b = intel.score_gistar(planted[planted["occurred_at"] >= cut], grid250)
    change = intel.score_change(a, b)
    np.testing.assert_array_equal(change["n_before"], a["n"])
    assert "gi_star" not in change.columns
    with pytest.raises(InputError, match="not one of each"):
        intel.score_change(a, planted)
    other = intel.score_gistar(planted, cell_size_m=500)
    with pytest.raises(GridError, match="different grids"):
        intel.score_change(a, other)


# ---------------------------------------------------------------- concentration


def test_concentration_table_and_gini():
    grid = intel.make_grid(gpd.GeoSeries([shapely.box(0, 0, 1000, 100)], crs="EPSG:32616"), cell_size_m=100)
    counts = [50, 20, 10, 5, 5, 4, 3, 2, 1, 0]
    cx = grid.geometry.centroid.x.to_numpy()
    xs = np.repeat(cx, counts)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, np.full(xs.size, 50.0)), crs="EPSG:32616")
    table = intel.concentration(pts, grid, shares=(0.1, 0.2, 0.5, 1.0))
    assert table["n_cells"].tolist() == [1, 2, 5, 10]
    assert table["n_incidents"].tolist() == [50, 70, 90, 100]
    np.testing.assert_allclose(table["share_of_incidents"], [0.5, 0.7, 0.9, 1.0])
    x = np.sort(np.asarray(counts, dtype=float))
    mean_abs_diff = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())
    assert table.attrs["gini"] == pytest.approx(mean_abs_diff)
    assert table.attrs["provenance"]["gini"] == pytest.approx(mean_abs_diff)


def test_concentration_of_cell_scores_and_extremes(planted, grid250):
    scores = intel.score_gistar(planted, grid250)
    table = intel.concentration(scores)
    assert table["share_of_cells"].tolist() == [0.01, 0.05, 0.1, 0.2, 0.5]
    assert table["share_of_incidents"].is_monotonic_increasing
    assert table["share_of_incidents"].iloc[0] > 0.2  # 900 of 2900 incidents in three small discs
    even = scores.assign(n=1.0)
    assert intel.concentration(even).attrs["gini"] == pytest.approx(0.0)
    one = scores.assign(n=0.0)
    one.iloc[0, one.columns.get_loc("n")] = 7.0
    assert intel.concentration(one).attrs["gini"] == pytest.approx((len(one) - 1) / len(one))


@pytest.mark.parametrize("shares", [(0.0,), (1.5,), ("a",), ()])
def test_concentration_bad_shares(planted, shares):
    with pytest.raises(InputError, match="shares"):
        intel.concentration(planted, cell_size_m=500, shares=shares)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_chicago_burglary_gistar_matches_esda_graph(chicago_files):
    path = [f for f in chicago_files if "2017" in f.name][0]
    raw = pd.read_csv(path, usecols=["primary_type", "latitude", "longitude"])
    raw = raw[(raw["primary_type"] == "BURGLARY") & raw["latitude"].notna()]
    incidents = gpd.GeoDataFrame(geometry=gpd.points_from_xy(raw["longitude"], raw["latitude"]), crs=4326)
    incidents = incidents.to_crs(26916)
    scores = intel.score_gistar(incidents, cell_size_m=500)
    assert scores["n"].sum() == len(incidents)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = libpysal.graph.Graph.build_contiguity(_bare(scores).reset_index(drop=True), rook=False)
    ref = _esda(esda.G_Local, scores["n"].to_numpy(), graph, star=True, transform="B", permutations=0)
    np.testing.assert_allclose(scores["gi_star"].to_numpy(), ref.Zs, rtol=0, atol=1e-9)
    label = scores["hotspot_class"].astype(str)
    assert (label == "hot spot 99%").sum() > 20
    table = intel.concentration(scores)
    assert table["share_of_incidents"].iloc[-1] > 0.9  # half the cells of the bounding box hold nearly all
