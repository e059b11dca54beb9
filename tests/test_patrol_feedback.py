"""simulate_feedback (the runaway loop and its safeguards), build_visit_log and evaluate_patrols."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import intel
from intel.exceptions import DataQualityWarning, InputError
from intel.grid import assign_cells, count_in_cells
from intel.patrol import build_visit_log, evaluate_patrols, recommend_patrols, reported_only, simulate_feedback
from intel.patrol._feedback import gini

# ---------------------------------------------------------------- feedback simulation


def test_gini_of_known_allocations():
    assert gini(np.ones(10)) == 0.0
    assert gini(np.r_[np.zeros(9), 1.0]) == pytest.approx(0.9)
    assert gini(np.zeros(4)) == 0.0
    assert gini([1, 3]) == pytest.approx(0.25)


def test_feedback_table_is_tidy_and_reproducible():
    truth = pd.Series(np.random.default_rng(0).gamma(0.5, 2.0, 50), index=[f"a{i}" for i in range(50)])
    a = simulate_feedback(truth, periods=10, units=3, random_state=4)
    b = simulate_feedback(truth, periods=10, units=3, random_state=4)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["period", "safeguards", "gini", "gini_cumulative", "top_share", "rank_error", "top_miss",
                               "patrolled_bias", "discovered_share"]
    assert a["period"].tolist() == list(range(1, 11))
    assert a["safeguards"].all()
    assert a["discovered_share"].eq(0).all()  # with safeguards the forecast never sees discovered incidents
    summary = a.attrs["summary"]
    assert len(summary["most_patrolled"]) == 3 and set(summary["most_patrolled"]) <= set(truth.index)
    assert a.attrs["provenance"]["parameters"]["units"] == 3


def test_without_safeguards_patrols_lock_onto_the_places_they_patrol():
    """Ensign et al.'s setting: the truth is the same everywhere, most incidents come to light only
    where patrols are, and patrols go to the areas the data rank highest."""
    truth = np.full(40, 2.0)
    kwargs = dict(periods=60, units=4, reported_share=0.1, discovery_per_patrol_minute=0.005, random_state=0)
    off = simulate_feedback(truth, safeguards=False, **kwargs)
    on = simulate_feedback(truth, safeguards=True, **kwargs)
    # runaway: the same four areas get (almost) all the patrol, period after period ...
    assert off["top_share"].iloc[-1] > 0.95
    assert off["gini_cumulative"].iloc[-1] > 0.85
    # ... and the data say they are several times worse than they are
    assert off["patrolled_bias"].iloc[-10:].mean() > 3
    assert off["discovered_share"].iloc[-1] > 0.3
    # bounded: with reported-only data and exploration the lead keeps changing hands
    assert on["top_share"].iloc[-1] < 0.7
    assert on["gini_cumulative"].iloc[-1] < off["gini_cumulative"].iloc[-1] - 0.15
    assert on["gini_cumulative"].iloc[-1] < on["gini_cumulative"].iloc[9]
    assert on["patrolled_bias"].iloc[-10:].mean() < 0.5 * off["patrolled_bias"].iloc[-10:].mean()
    assert off["rank_error"].isna().all() and off["top_miss"].isna().all()  # nothing to rank when the truth is flat


def test_with_safeguards_the_forecast_finds_the_true_hot_areas():
    rng = np.random.default_rng(2)
    truth = rng.gamma(0.6, 1.0, 200)
    kwargs = dict(periods=52, units=10, reported_share=0.3, discovery_per_patrol_minute=0.004, random_state=3)
    off = simulate_feedback(truth, safeguards=False, **kwargs)
    on = simulate_feedback(truth, safeguards=True, **kwargs)
    assert on["rank_error"].iloc[-1] < on["rank_error"].iloc[0]
    assert on["top_miss"].iloc[-10:].mean() <= off["top_miss"].iloc[-10:].mean()
    assert off["patrolled_bias"].iloc[-10:].mean() > on["patrolled_bias"].iloc[-10:].mean()
    # exploration keeps part of the patrol away from the top areas
    assert on["top_share"].iloc[-1] < off["top_share"].iloc[-1]


@pytest.mark.parametrize(
    ("truth", "kwargs", "match"),
    [
        ([1.0], {}, "at least two"),
        ([1.0, -1.0], {}, "at least two"),
        (pd.DataFrame({"a": [1, 2]}), {}, "DataFrame"),
        ([1.0, 2.0], {"units": 3}, "units"),
        ([1.0, 2.0], {"allocation": "random"}, "allocation"),
        ([1.0, 2.0], {"safeguards": "on"}, "safeguards"),
        ([1.0, 2.0], {"reported_share": 1.5}, "reported_share"),
    ],
)
def test_feedback_bad_input(truth, kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate_feedback(truth, **{"units": 1, **kwargs})


# ---------------------------------------------------------------- visit log and evaluation


@pytest.fixture(scope="module")
def setting():
    # many equal, persistent hot spots: the plan treats some, the others are comparable controls
    spots = [{"x": 1000.0 + 1600 * (k % 6), "y": 1500.0 + 2200 * (k // 6), "radius_m": 150, "events": 400,
              "kind": "persistent"} for k in range(24)]
    incidents = intel.make_synthetic(n_background=4000, hotspots=spots, random_state=8)
    grid = intel.make_grid(incidents, cell_size_m=200)
    start = pd.Timestamp("2018-07-02", tz="UTC")
    history = incidents[incidents["occurred_at"] < start]
    scores = grid.assign(n=count_in_cells(assign_cells(history, grid), len(grid)))
    scores.attrs = dict(grid.attrs)
    plan = recommend_patrols(scores, units=3, date="2018-07-02", random_state=0)
    return incidents, grid, plan


def test_visit_log_has_one_blank_row_per_planned_visit(setting):
    _, _, plan = setting
    log = build_visit_log(plan)
    assert len(log) == plan["visits"].sum()
    assert {"actual_arrival", "actual_departure", "notes"} <= set(log.columns)
    assert log[["actual_arrival", "actual_departure", "notes"]].eq("").all().all()
    assert (log["planned_minutes"] == 15).all()
    assert log["lat"].between(-90, 90).all() and log["lon"].between(-180, 180).all()
    night = log[log["shift"] == "22-06"]
    after_midnight = night["planned_time"] < "22:00"
    assert (night.loc[after_midnight, "date"] == "2018-07-03").all()
    assert (night.loc[~after_midnight, "date"] == "2018-07-02").all()
    first = plan.iloc[0]
    rows = log[log["place_id"] == first["place_id"]]
    assert rows["planned_time"].tolist() == first["visit_times"]
    assert rows["cell_ids"].iloc[0] == " ".join(first["cell_ids"])
    csv = log.to_csv(index=False)
    assert "[" not in csv  # CSV-ready: no list columns


def _thin(incidents, plan, start, keep_share, seed):
    """Drop a share of the incidents in the planned cells after the start (a planted patrol effect)."""
    grid_cells = {c for ids in plan["cell_ids"] for c in ids}
    grid = intel.make_grid(incidents, cell_size_m=200)
    cell = np.asarray(grid.index)[assign_cells(incidents, grid)]
    treated_after = np.isin(cell, list(grid_cells)) & (incidents["occurred_at"] >= start).to_numpy()
    drop = treated_after & (np.random.default_rng(seed).uniform(size=len(incidents)) > keep_share)
    return incidents.loc[~drop]


def test_evaluation_recovers_a_planted_reduction(setting):
    incidents, grid, plan = setting
    log = build_visit_log(plan)
    log["actual_arrival"] = log["date"] + " " + log["planned_time"]
    thinned = _thin(incidents, plan, pd.Timestamp("2018-07-02", tz="UTC"), keep_share=0.5, seed=1)
    result = evaluate_patrols(plan, log, thinned, grid=grid, before_days=56, after_days=56)
    row = result.iloc[0]
    assert row["ci_low"] < 0.5 < row["ci_high"]
    assert row["ci_high"] < 1.0 and row["p_value"] < 0.01
    assert row["n_control_cells"] == 3 * row["n_treated_cells"]
    assert row["n_treated_places"] == len(plan)
    expected = (row["treated_after"] / row["treated_before"]) / (row["control_after"] / row["control_before"])
    assert row["estimate"] == pytest.approx(expected)
    assert not row["intention_to_treat"]


def test_evaluation_without_an_effect_covers_one(setting):
    incidents, grid, _ = setting
    covered = 0
    starts = ["2018-06-04", "2018-07-02", "2018-07-30", "2018-08-27", "2018-09-24"]
    for k, day in enumerate(starts):
        history = incidents[incidents["occurred_at"] < pd.Timestamp(day, tz="UTC")]
        scores = grid.assign(n=count_in_cells(assign_cells(history, grid), len(grid)))
        plan = recommend_patrols(scores, units=3, date=day, random_state=k)
        log = build_visit_log(plan)
        log["actual_arrival"] = log["date"] + " " + log["planned_time"]
        result = evaluate_patrols(plan, log, incidents, grid=grid, before_days=56, after_days=56)
        covered += result["ci_low"].iloc[0] <= 1.0 <= result["ci_high"].iloc[0]
        assert result["dispersion"].iloc[0] >= 1.0
        assert result["matched_on"].iloc[0] == "reported incidents in the 365 days before the start"
    assert covered >= 4


def test_only_visited_places_are_treated_and_no_visits_means_intention_to_treat(setting):
    incidents, grid, plan = setting
    log = build_visit_log(plan)
    visited = plan["place_id"].iloc[:2].tolist()
    mask = log["place_id"].isin(visited)
    log.loc[mask, "actual_arrival"] = log.loc[mask, "date"] + " " + log.loc[mask, "planned_time"]
    result = evaluate_patrols(plan, log, incidents, grid=grid)
    assert result["n_treated_places"].iloc[0] == 2
    assert result["n_treated_cells"].iloc[0] == sum(len(c) for c in plan["cell_ids"].iloc[:2])
    with pytest.warns(DataQualityWarning, match="intention to treat"):
        itt = evaluate_patrols(plan, build_visit_log(plan), incidents)  # grid rebuilt from the plan's record
    assert itt["intention_to_treat"].iloc[0] and itt["n_treated_places"].iloc[0] == len(plan)


def test_discovered_incidents_are_not_outcomes(setting):
    incidents, grid, plan = setting
    log = build_visit_log(plan)
    log["actual_arrival"] = log["date"] + " " + log["planned_time"]
    base = evaluate_patrols(plan, log, incidents, grid=grid)
    extra = incidents.iloc[:500].copy()
    extra["detection"] = "discovered"
    extra["incident_id"] = extra["incident_id"] + "x"
    both = evaluate_patrols(plan, log, pd.concat([incidents, extra]), grid=grid)
    assert both["estimate"].iloc[0] == base["estimate"].iloc[0]
    assert both["treated_before"].iloc[0] == base["treated_before"].iloc[0]


def test_evaluation_errors(setting):
    incidents, grid, plan = setting
    log = build_visit_log(plan)
    with pytest.raises(InputError, match="visit_log"):
        evaluate_patrols(plan, log.drop(columns="actual_arrival"), incidents, grid=grid)
    undated = plan.copy()
    undated.attrs = {k: v for k, v in plan.attrs.items() if k != "patrol"}
    with pytest.raises(InputError, match="when did patrols start"), pytest.warns(DataQualityWarning):
        evaluate_patrols(undated, log, incidents, grid=grid)
    with pytest.raises(InputError, match="grid lacks"), pytest.warns(DataQualityWarning):
        evaluate_patrols(plan, log, incidents, grid=intel.make_grid(incidents, cell_size_m=1000), start="2018-07-02")
    with pytest.raises(InputError, match="before_days"):
        evaluate_patrols(plan, log, incidents, grid=grid, before_days=0)


def test_reported_only_can_tag_discovered_categories():
    incidents = intel.make_synthetic(random_state=0, categories={"burglary": 0.7, "narcotics": 0.3})
    kept = reported_only(incidents, discovered_categories=["NARCOTICS"])
    assert set(kept["category"]) == {"burglary"}
    assert kept.attrs["detection"]["n_discovered"] == (incidents["category"] == "narcotics").sum()
    assert kept.attrs["detection"]["discovered_categories"] == ["narcotics"]
    assert "detection" in incidents.columns and (incidents["detection"] == "reported").all()  # input untouched
