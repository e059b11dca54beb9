"""Tests for intel.evaluate: accuracy measures, rolling backtests, summaries and model cards."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator

import intel
from intel.evaluate import (
    build_model_card,
    capture_curve,
    hit_rate,
    pai,
    pei,
    rolling_backtest,
    rri,
    score_forecast,
    summarize_backtest,
)
from intel.exceptions import DataQualityWarning, InputError, IntelError, NotFittedError
from intel.grid import assign_cells, count_in_cells


# ----------------------------------------------------------------- private models following the interface


class _Recent(BaseEstimator):
    """Count of the last ``days`` days, scaled to the horizon (a stand-in for intel.models)."""

    def __init__(self, *, days=28):
        self.days = days

    def fit(self, incidents, *, grid, origin):
        t = incidents["occurred_at"]
        origin = pd.Timestamp(origin)
        if origin.tzinfo is None:
            origin = origin.tz_localize(t.dt.tz)
        keep = ((t < origin) & (t >= origin - pd.Timedelta(days=self.days))).to_numpy()
        self.counts_ = count_in_cells(assign_cells(incidents.loc[keep], grid), len(grid))
        self.grid_, self.origin_, self.n_train_ = grid, origin, int((t < origin).sum())
        return self

    def predict_risk(self, *, horizon="7D"):
        if not hasattr(self, "counts_"):
            raise NotFittedError("_Recent is not fitted yet; call fit first.")
        return self.counts_ * (pd.Timedelta(horizon) / pd.Timedelta(days=self.days))


class _Peeking(_Recent):
    """Cheats: counts the incidents of the horizon after the origin, if it is given any."""

    def fit(self, incidents, *, grid, origin):
        t = incidents["occurred_at"]
        origin = pd.Timestamp(origin)
        keep = ((t >= origin) & (t < origin + pd.Timedelta(days=7))).to_numpy()
        self.counts_ = count_in_cells(assign_cells(incidents.loc[keep], grid), len(grid)) + 1e-3
        self.grid_, self.origin_, self.n_train_ = grid, origin, int(keep.sum())
        return self

    def predict_risk(self, *, horizon="7D"):
        return self.counts_


class _Failing(_Recent):
    def fit(self, incidents, *, grid, origin):
        raise InputError("too few incidents")


class _Flat(_Recent):
    """The same risk everywhere: as good as a random choice of cells (PAI 1)."""

    def fit(self, incidents, *, grid, origin):
        self.counts_ = np.ones(len(grid))
        self.grid_, self.origin_, self.n_train_ = grid, pd.Timestamp(origin), len(incidents)
        return self

    def predict_risk(self, *, horizon="7D"):
        return self.counts_


class _Oracle(_Recent):
    """Knows where the planted hot spots are: risk is the hot spots' share of each cell."""

    def __init__(self, *, hotspots=()):
        self.hotspots = hotspots

    def fit(self, incidents, *, grid, origin):
        centres = grid.geometry.centroid
        risk = np.full(len(grid), 1e-3)
        for h in self.hotspots:
            d = np.hypot(centres.x - h["x"], centres.y - h["y"]).to_numpy()
            risk += np.exp(-0.5 * (d / h["radius_m"]) ** 2)
        self.counts_ = risk
        self.grid_, self.origin_, self.n_train_ = grid, pd.Timestamp(origin), len(incidents)
        return self

    def predict_risk(self, *, horizon="7D"):
        return self.counts_


@pytest.fixture(scope="module")
def synthetic():
    incidents = intel.make_synthetic(
        n_background=1500, hotspots=3, hotspot_events=300, start="2018-01-01", end="2019-01-01",
        triggering={"theta": 0.3, "omega_days": 5, "sigma_m": 100}, random_state=3,
    )
    grid = intel.make_grid(incidents, cell_size_m=500)
    return incidents, grid


def _alter_future(incidents, origin, rng):
    """Same past; after ``origin`` shuffle places, shift times, drop some rows and add others."""
    t = incidents["occurred_at"]
    future = (t >= origin).to_numpy()
    past = incidents.loc[~future]
    fut = incidents.loc[future].copy()
    perm = rng.permutation(len(fut))
    fut = fut.set_geometry(fut.geometry.to_numpy()[perm], crs=incidents.crs)
    fut["occurred_at"] = fut["occurred_at"] + pd.to_timedelta(rng.integers(0, 3 * 86400, len(fut)), unit="s")
    fut = fut.iloc[rng.random(len(fut)) > 0.3]
    extra = fut.iloc[: min(50, len(fut))].copy()
    extra["incident_id"] = extra["incident_id"] + "x"
    return pd.concat([fut, past, extra]).reset_index(drop=True)


# ----------------------------------------------------------------- measures: hand-checked values


def test_hit_rate_pai_pei_by_hand():
    risk, actual = [5, 1, 0, 0], [3, 1, 0, 0]
    assert hit_rate(risk, actual, coverage=0.25) == pytest.approx(0.75)
    assert pai(risk, actual, coverage=0.25) == pytest.approx(3.0)
    assert pei(risk, actual, coverage=0.25) == pytest.approx(1.0)
    assert pei([0, 5, 1, 0], actual, coverage=0.25) == pytest.approx(1 / 3)
    assert hit_rate(risk, actual, coverage=1.0) == pytest.approx(1.0)
    assert pai(risk, actual, coverage=1.0) == pytest.approx(1.0)
    assert hit_rate(risk, actual, coverage=0.0) == 0.0


def test_partial_cell_counts_by_area_share():
    # 10% of 4 cells is 0.4 of the top cell: it captures 0.4 of its 5 incidents
    assert hit_rate([9, 1, 0, 0], [5, 5, 0, 0], coverage=0.1) == pytest.approx(0.4 * 5 / 10)
    # 37.5% = the top cell and half the next
    assert hit_rate([9, 1, 0, 0], [5, 4, 1, 0], coverage=0.375) == pytest.approx((5 + 2) / 10)


def test_ties_share_is_the_average_over_orders_of_tied_cells():
    risk = np.array([3.0, 2, 2, 2, 1, 0])
    actual = np.array([1.0, 4, 0, 2, 3, 1])
    for cov in (0.2, 1 / 3, 0.45, 0.6):
        orders = []
        tied = [1, 2, 3]
        for perm in itertools.permutations(tied):
            idx = [0, *perm, 4, 5]
            orders.append(hit_rate(risk[idx], actual[idx], coverage=cov, ties="order"))
        assert hit_rate(risk, actual, coverage=cov) == pytest.approx(np.mean(orders))
    # "order" takes tied cells in grid order
    assert hit_rate([1, 1, 1, 1], [4, 0, 0, 0], coverage=0.25, ties="order") == pytest.approx(1.0)
    assert hit_rate([1, 1, 1, 1], [0, 0, 0, 4], coverage=0.25, ties="order") == pytest.approx(0.0)
    assert hit_rate([1, 1, 1, 1], [4, 0, 0, 0], coverage=0.25) == pytest.approx(0.25)


def test_unequal_areas_rank_by_density_and_select_by_area():
    # the big cell has more risk but less risk per m2
    risk, actual, area = [10, 6], [10, 6], [100.0, 20.0]
    # 20/120 of the area is exactly the small cell
    assert hit_rate(risk, actual, coverage=20 / 120, area=area) == pytest.approx(6 / 16)
    assert pai(risk, actual, coverage=20 / 120, area=area) == pytest.approx((6 / 16) / (20 / 120))
    # street segments: the same rule with length
    assert hit_rate(risk, actual, coverage=20 / 120, length=area) == pytest.approx(6 / 16)


def test_cellscores_table_is_accepted(synthetic):
    incidents, grid = synthetic
    scores = grid.assign(risk=np.arange(len(grid), dtype=float))
    actual = np.ones(len(grid))
    assert hit_rate(scores, actual, coverage=0.1) == pytest.approx(hit_rate(np.arange(len(grid)), actual, coverage=0.1))


def test_rri_follows_levine():
    risk, actual, previous = [5, 1, 0, 0], [3, 1, 0, 0], [2, 2, 0, 0]
    # (n2 / n1) / (N2 / N1) = (3 / 2) / (4 / 4)
    assert rri(risk, actual, previous, coverage=0.25) == pytest.approx(1.5)
    assert np.isnan(rri(risk, actual, [0, 0, 1, 1], coverage=0.25))


def test_no_incidents_gives_nan_not_a_number():
    assert np.isnan(hit_rate([1, 2, 3], [0, 0, 0], coverage=0.5))
    assert np.isnan(pai([1, 2, 3], [0, 0, 0], coverage=0.5))
    assert np.isnan(pei([1, 2, 3], [0, 0, 0], coverage=0.5))
    assert np.isnan(pai([1, 2, 3], [1, 0, 0], coverage=0.0))


def test_score_forecast_matches_scipy_and_sklearn():
    from scipy.stats import poisson
    from sklearn.metrics import mean_poisson_deviance

    rng = np.random.default_rng(0)
    mu = rng.gamma(1.0, 1.0, 200) + 0.01
    y = rng.poisson(mu).astype(float)
    scores = score_forecast(mu, y)
    assert scores["log_likelihood"] == pytest.approx(poisson.logpmf(y, mu).sum())
    assert scores["deviance"] == pytest.approx(mean_poisson_deviance(y, mu) * y.size)
    assert scores["n_predicted"] == pytest.approx(mu.sum())
    zero = score_forecast([0.0, 1.0], [1.0, 1.0], min_risk=1e-6)
    assert zero["n_zero_risk"] == 1.0
    assert zero["deviance"] == pytest.approx(2 * (np.log(1 / 1e-6) - 1 + 1e-6))


def test_capture_curve_columns_and_shape():
    rng = np.random.default_rng(1)
    risk, actual = rng.random(500), rng.poisson(0.5, 500)
    curve = capture_curve(risk, actual)
    assert list(curve.columns) == ["coverage", "hit_rate", "pai", "pei", "best_hit_rate"]
    assert len(curve) == 41 and curve["coverage"].iloc[-1] == pytest.approx(0.2)
    assert np.all(np.diff(curve["hit_rate"]) >= -1e-12)
    assert np.all(curve["hit_rate"] <= curve["best_hit_rate"] + 1e-12)
    assert curve["hit_rate"].iloc[10] == pytest.approx(hit_rate(risk, actual, coverage=curve["coverage"].iloc[10]))
    assert curve.attrs["provenance"]["function"] == "capture_curve"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)), min_size=1, max_size=30),
    st.floats(0.0, 1.0),
)
def test_measures_stay_in_range_and_perfect_forecast_has_pei_one(cells, coverage):
    risk = np.array([c[0] for c in cells], dtype=float)
    actual = np.array([c[1] for c in cells], dtype=float)
    h = hit_rate(risk, actual, coverage=coverage)
    if actual.sum() == 0:
        assert np.isnan(h)
        return
    assert -1e-12 <= h <= 1 + 1e-12
    e = pei(risk, actual, coverage=coverage)
    assert np.isnan(e) or -1e-12 <= e <= 1 + 1e-12
    perfect = pei(actual, actual, coverage=coverage)
    assert np.isnan(perfect) or perfect == pytest.approx(1.0)
    assert hit_rate(risk, actual, coverage=min(1.0, coverage + 0.1)) >= h - 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=4, max_size=40), st.integers(1, 4))
def test_whole_cells_match_a_plain_sort(values, k):
    # with distinct risks and coverage = k whole cells, the hit rate is the top-k share
    risk = np.arange(len(values), dtype=float)[::-1]
    actual = np.asarray(values)
    if actual.sum() == 0:
        return
    expected = actual[np.argsort(-risk)[:k]].sum() / actual.sum()
    assert hit_rate(risk, actual, coverage=k / len(values)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hit_rate([1, 2], [1, 2, 3]), "risk has 2 cells but actual has 3"),
        (lambda: hit_rate([1, np.nan], [1, 2]), "missing or infinite"),
        (lambda: hit_rate([1, 2], [1, -2]), "must be >= 0"),
        (lambda: hit_rate([1, 2], [1, 2], coverage=1.5), "'coverage' parameter of hit_rate"),
        (lambda: hit_rate([1, 2], [1, 2], ties="random"), "'ties' parameter of hit_rate"),
        (lambda: pai([1, 2], [1, 2], area=[1, 1], length=[1, 1]), "not both"),
        (lambda: pai([1, 2], [1, 2], area=[1, 0]), "must be > 0"),
        (lambda: pei([[1, 2]], [1, 2]), "one-dimensional"),
        (lambda: score_forecast([-1, 2], [1, 2]), "expected counts"),
        (lambda: capture_curve([1, 2], ["a", "b"]), "must be numbers"),
    ],
)
def test_bad_inputs_raise_clear_intel_errors(call, match):
    with pytest.raises(IntelError, match=match):
        call()


# ----------------------------------------------------------------- rolling backtests


def test_backtest_table_shape_and_actual_counts(synthetic):
    incidents, grid = synthetic
    results = rolling_backtest(incidents, {"recent": _Recent()}, grid=grid, start="2018-09-03", end="2018-10-01",
                               baselines=False, coverages=(0.01, 0.05))
    assert len(results) == 4 * 2
    assert set(results.columns) >= {"model", "origin", "coverage", "hit_rate", "pai", "pei", "rri", "n_actual",
                                    "deviance", "log_likelihood", "n_train"}
    origins = pd.DatetimeIndex(results["origin"].unique())
    assert list(origins.strftime("%Y-%m-%d")) == ["2018-09-03", "2018-09-10", "2018-09-17", "2018-09-24"]
    t = incidents["occurred_at"]
    for origin, n in results.groupby("origin")["n_actual"].first().items():
        expected = int(((t >= origin) & (t < origin + pd.Timedelta(days=7))).sum())
        assert n == expected
    first = results.iloc[0]
    assert first["n_train"] == int((t < first["origin"]).sum())
    assert results.attrs["provenance"]["function"] == "rolling_backtest"
    assert results.attrs["provenance"]["n_origins"] == 4


def test_backtest_scores_equal_the_measures_on_one_origin(synthetic):
    incidents, grid = synthetic
    results = rolling_backtest(incidents, [_Recent(days=56)], grid=grid, start="2018-06-04", end="2018-06-11",
                               baselines=False, coverages=(0.05,), keep_risk=True)
    row = results.iloc[0]
    origin = row["origin"]
    risk = results.attrs["risk"][(row["model"], origin)]
    t = incidents["occurred_at"]
    window = incidents.loc[((t >= origin) & (t < origin + pd.Timedelta(days=7))).to_numpy()]
    actual = count_in_cells(assign_cells(window, grid), len(grid))
    assert row["hit_rate"] == pytest.approx(hit_rate(risk, actual, coverage=0.05))
    assert row["pai"] == pytest.approx(pai(risk, actual, coverage=0.05))
    assert row["pei"] == pytest.approx(pei(risk, actual, coverage=0.05))
    assert row["deviance"] == pytest.approx(score_forecast(risk, actual)["deviance"])
    assert row["model"] == "_Recent(days=56)"


@pytest.mark.parametrize("origin", ["2018-05-07", "2018-09-17"])
def test_changing_the_future_does_not_change_forecasts(synthetic, origin):
    incidents, grid = synthetic
    rng = np.random.default_rng(7)
    tz_origin = pd.Timestamp(origin, tz=incidents["occurred_at"].dt.tz)
    altered = _alter_future(incidents, tz_origin, rng)
    models = {"recent": _Recent(), "peeking": _Peeking()}
    runs = [
        rolling_backtest(data, models, grid=grid, start=origin, end=tz_origin + pd.Timedelta(days=7),
                         baselines=False, keep_risk=True)
        for data in (incidents, altered)
    ]
    for key, risk in runs[0].attrs["risk"].items():
        np.testing.assert_array_equal(risk, runs[1].attrs["risk"][key])
    # the scores do change (the future differs), so the comparison above is not vacuous
    assert not np.allclose(runs[0]["n_actual"], runs[1]["n_actual"])
    # and a peeking model handed the whole table would have changed
    direct = [_Peeking().fit(data, grid=grid, origin=tz_origin).predict_risk() for data in (incidents, altered)]
    assert not np.array_equal(direct[0], direct[1])


def test_backtest_forecasts_equal_fits_on_the_whole_table(synthetic):
    # the harness hands each model only the history it declares it reads; the fit must not change
    incidents, grid = synthetic
    origin = "2018-10-01"
    results = rolling_backtest(incidents, [intel.KDERisk(window_days=60)], grid=grid, start=origin, end="2018-10-08",
                               keep_risk=True)
    for (label, when), risk in results.attrs["risk"].items():
        model = {**intel.evaluate.naive_baselines(), "KDERisk(window_days=60)": intel.KDERisk(window_days=60)}[label]
        direct = model.fit(incidents, grid=grid, origin=when).predict_risk(horizon="7D")
        np.testing.assert_allclose(risk, direct, rtol=1e-12, atol=1e-12, err_msg=label)


@pytest.mark.filterwarnings("ignore::intel.exceptions.DataQualityWarning")
def test_intel_models_ignore_the_future_when_fitted_directly(synthetic):
    from intel import models

    incidents, grid = synthetic
    origin = pd.Timestamp("2018-09-17", tz=incidents["occurred_at"].dt.tz)
    altered = _alter_future(incidents, origin, np.random.default_rng(11))
    for name in ("LastPeriod", "RecentCount", "SamePeriodLastYear", "KDERisk", "ProspectiveHotspot", "GridSEPP",
                 "KernelSEPP", "EnsembleRisk"):
        cls = getattr(models, name, None)
        if cls is None:
            continue
        risks = [cls().fit(data, grid=grid, origin=origin).predict_risk(horizon="7D") for data in (incidents, altered)]
        np.testing.assert_allclose(risks[0], risks[1], rtol=0, atol=0, err_msg=name)


def test_backtest_is_reproducible_and_parallel_gives_the_same_table(synthetic):
    incidents, grid = synthetic
    kw = dict(grid=grid, start="2018-08-06", end="2018-09-03", baselines=False)
    a = rolling_backtest(incidents, [_Recent()], **kw)
    b = rolling_backtest(incidents, [_Recent()], **kw, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)
    assert json.dumps(a.attrs["provenance"], sort_keys=True, default=str) == json.dumps(
        rolling_backtest(incidents, [_Recent()], **kw).attrs["provenance"], sort_keys=True, default=str)


def test_input_is_not_mutated(synthetic):
    incidents, grid = synthetic
    shuffled = incidents.sample(frac=1.0, random_state=0)
    before = shuffled.copy()
    rolling_backtest(shuffled, [_Recent()], grid=grid, start="2018-08-06", end="2018-08-13", baselines=False)
    pd.testing.assert_frame_equal(shuffled, before)


def test_failing_model_raises_with_its_name_or_warns(synthetic):
    incidents, grid = synthetic
    kw = dict(grid=grid, start="2018-08-06", end="2018-08-20", baselines=False)
    with pytest.raises(InputError, match=r"_Failing\(\) failed at origin 2018-08-06.*too few incidents"):
        rolling_backtest(incidents, [_Recent(), _Failing()], **kw)
    with pytest.warns(DataQualityWarning, match="left missing"):
        results = rolling_backtest(incidents, [_Recent(), _Failing()], **kw, errors="warn")
    assert results.loc[results["model"] == "_Failing()", "pai"].isna().all()
    assert results.loc[results["model"] == "_Recent()", "pai"].notna().all()
    # failures inside parallel workers still reach the caller, once per origin
    with pytest.warns(DataQualityWarning, match="left missing") as caught:
        rolling_backtest(incidents, [_Recent(), _Failing()], **kw, errors="warn", n_jobs=2)
    assert sum("left missing" in str(w.message) for w in caught) == 2


def test_data_ending_before_the_last_horizon_warns(synthetic):
    incidents, grid = synthetic
    with pytest.warns(DataQualityWarning, match="incomplete"):
        rolling_backtest(incidents, [_Recent()], grid=grid, start="2018-12-24", end="2019-02-01", baselines=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(start="2018-09-01", end="2018-09-03"), InputError, "no origin fits"),
        (dict(start="2018-09-03", end="2018-08-01"), InputError, "must be after start"),
        (dict(start="2018-09-03", end="2018-10-01", horizon="soon"), InputError, "'horizon' parameter"),
        (dict(start="2018-09-03", end="2018-10-01", step="0D"), InputError, "'step' parameter"),
        (dict(start="2018-09-03", end="2018-10-01", coverages=(2.0,)), InputError, "'coverage' parameter"),
        (dict(start="2018-09-03", end="2018-10-01", errors="ignore"), InputError, "'errors' parameter"),
    ],
)
def test_backtest_bad_options(synthetic, kwargs, error, match):
    incidents, grid = synthetic
    with pytest.raises(error, match=match):
        rolling_backtest(incidents, [_Recent()], grid=grid, baselines=False, **kwargs)


def test_backtest_bad_models_and_tables(synthetic):
    incidents, grid = synthetic
    kw = dict(grid=grid, start="2018-09-03", end="2018-10-01", baselines=False)
    with pytest.raises(InputError, match="not a risk model"):
        rolling_backtest(incidents, {"x": object()}, **kw)
    with pytest.raises(InputError, match="both _Recent"):
        rolling_backtest(incidents, [_Recent(), _Recent()], **kw)
    with pytest.raises(InputError, match="Incidents GeoDataFrame"):
        rolling_backtest(pd.DataFrame(incidents), [_Recent()], **kw)
    with pytest.raises(InputError, match="grid must be"):
        rolling_backtest(incidents, [_Recent()], **{**kw, "grid": "500m"})


def test_baselines_are_always_there_and_keep_their_labels(synthetic):
    incidents, grid = synthetic
    kw = dict(grid=grid, start="2018-09-03", end="2018-09-10", coverages=(0.05,))
    results = rolling_backtest(incidents, [_Recent(), intel.RecentCount(weeks=52)], **kw)
    assert list(dict.fromkeys(results["model"])) == [
        "LastPeriod()", "RecentCount(weeks=4)", "SamePeriodLastYear()", "_Recent()", "RecentCount(weeks=52)"]
    with pytest.raises(InputError, match="reserved for the naive baseline"):
        rolling_backtest(incidents, {"RecentCount(weeks=52)": _Recent()}, **kw)


def test_weekly_origins_stay_at_local_midnight_across_dst():
    incidents = intel.make_synthetic(n_background=400, hotspots=0, tz="America/Chicago", start="2018-01-01",
                                     end="2018-04-01", random_state=0)
    grid = intel.make_grid(incidents, cell_size_m=1000)
    results = rolling_backtest(incidents, [_Recent()], grid=grid, start="2018-03-05", end="2018-03-26",
                               baselines=False)
    hours = pd.DatetimeIndex(results["origin"].unique()).hour
    assert list(hours) == [0, 0, 0]


# ----------------------------------------------------------------- summaries


@pytest.fixture(scope="module")
def oracle_results(synthetic):
    incidents, grid = synthetic
    oracle = _Oracle(hotspots=tuple(incidents.attrs["truth"]["hotspots"]))
    return rolling_backtest(incidents, {"oracle": oracle, "flat": _Flat()}, grid=grid,
                            start="2018-03-05", end="2018-12-31", baselines=False, coverages=(0.01, 0.05))


def test_summary_means_intervals_and_paired_verdict(oracle_results):
    summary = summarize_backtest(oracle_results, reference="flat", n_boot=500)
    assert len(summary) == 2 * 2
    for _, row in summary.iterrows():
        assert row["pai_lo"] <= row["pai"] <= row["pai_hi"]
        assert row["hit_rate_lo"] <= row["hit_rate"] <= row["hit_rate_hi"]
    oracle5 = summary.query("model == 'oracle' and coverage == 0.05").iloc[0]
    ref5 = summary.query("model == 'flat' and coverage == 0.05").iloc[0]
    assert ref5["pai"] == pytest.approx(1.0)
    per_origin = oracle_results.query("coverage == 0.05").pivot(index="origin", columns="model", values="pai")
    assert oracle5["pai"] == pytest.approx(per_origin["oracle"].mean())
    assert oracle5["pai_diff"] == pytest.approx((per_origin["oracle"] - per_origin["flat"]).mean())
    assert oracle5["vs_reference"] == "better" and oracle5["pai_diff_lo"] > 0
    assert ref5["vs_reference"] == "reference" and ref5["pai_diff"] == 0
    assert oracle5["n_origins"] == per_origin["oracle"].notna().sum()
    # the other way round the same comparison is "worse"
    flipped = summarize_backtest(oracle_results, reference="oracle", n_boot=500)
    assert flipped.query("model == 'flat' and coverage == 0.05")["vs_reference"].iloc[0] == "worse"


def test_summary_is_seeded_and_intervals_narrow_with_level(oracle_results):
    a = summarize_backtest(oracle_results, reference="flat", n_boot=300, random_state=1)
    b = summarize_backtest(oracle_results, reference="flat", n_boot=300, random_state=1)
    pd.testing.assert_frame_equal(a, b)
    narrow = summarize_backtest(oracle_results, reference="flat", n_boot=300, random_state=1, level=0.5)
    assert (narrow["pai_hi"] - narrow["pai_lo"] <= a["pai_hi"] - a["pai_lo"] + 1e-12).all()
    assert "percentile bootstrap" in a.attrs["provenance"]["interval"]


def test_summary_bad_inputs(oracle_results):
    with pytest.raises(InputError, match="reference 'RecentCount\\(weeks=52\\)' is not among"):
        summarize_backtest(oracle_results)
    with pytest.raises(InputError, match="table returned by rolling_backtest"):
        summarize_backtest(pd.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match="'n_boot' parameter"):
        summarize_backtest(oracle_results, reference="flat", n_boot=0)


# ----------------------------------------------------------------- model cards


def test_model_card_sections_and_markdown(synthetic, oracle_results):
    incidents, grid = synthetic
    summary = summarize_backtest(oracle_results, reference="flat", n_boot=200)
    origin = pd.Timestamp("2018-12-24", tz="UTC")
    model = _Flat(days=7).fit(incidents, grid=grid, origin=origin)
    card = build_model_card(model, summary, incidents=incidents, grid=grid, horizon="7D", label="flat")
    assert {"model", "intended_use", "data", "grid", "forecast", "backtest", "known_limits", "out_of_scope"} <= set(card)
    assert card["model"]["parameters"] == {"days": 7}
    assert card["data"]["n_incidents"] == int((incidents["occurred_at"] < origin).sum())
    assert card["data"]["categories"] == {"burglary": card["data"]["n_incidents"]}
    assert card["grid"]["n_cells"] == len(grid) and card["grid"]["cell_size_m"] == 500
    assert card["forecast"] == {"origin": origin.isoformat(), "horizon": "7D"}
    assert card["backtest"]["available"] and card["backtest"]["n_origins"] > 30
    assert {row["coverage"] for row in card["backtest"]["rows"]} == {0.01, 0.05}
    assert any("individual" in text for text in card["out_of_scope"])
    assert any("guilt" in text for text in card["out_of_scope"])
    assert any("baselines" in text for text in card["out_of_scope"])
    json.dumps(card)  # JSON-able as it is
    md = build_model_card(model, summary, incidents=incidents, grid=grid, horizon="7D", label="flat", format="markdown")
    assert md.startswith("# Model card: flat") and "## Out of scope" in md and "| flat | 5% |" in md


def test_model_card_without_backtest_says_so(synthetic):
    incidents, grid = synthetic
    model = _Recent().fit(incidents, grid=grid, origin=pd.Timestamp("2018-12-24", tz="UTC"))
    card = build_model_card(model, None, incidents=incidents, grid=grid)
    assert card["backtest"]["available"] is False
    assert card["known_limits"][0].startswith("It has not been backtested")
    with pytest.raises(InputError, match="'format' parameter"):
        build_model_card(model, None, incidents=incidents, grid=grid, format="pdf")
    with pytest.raises(InputError, match="risk model"):
        build_model_card("kde", None, incidents=incidents, grid=grid)


def test_build_forecast_chooses_the_origin_and_carries_its_card(synthetic):
    incidents, grid = synthetic
    scores = intel.build_forecast(incidents, intel.RecentCount(weeks=4), grid=grid, backtest_origins=3, n_boot=100)
    expected = incidents["occurred_at"].max().normalize() + pd.DateOffset(days=1)
    record = scores.attrs["provenance"]
    assert record["automatic"]["origin"]["value"] == expected.isoformat()
    assert record["parameters"]["origin"] is None
    card = scores.attrs["model_card"]
    assert card["forecast"]["origin"] == expected.isoformat()
    assert card["backtest"]["available"] and card["backtest"]["n_origins"] == 3
    assert len(scores) == len(grid) and scores["risk"].sum() > 0
    given = intel.build_forecast(incidents, intel.RecentCount(weeks=4), grid=grid, origin="2018-12-03", backtest_origins=0)
    assert given.attrs["provenance"]["automatic"] == {}
    assert given.attrs["model_card"]["backtest"]["available"] is False
