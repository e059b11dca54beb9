"""recommend_patrols and its safeguards (reported_only, audit_patrols)."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intel
from intel._weights import cell_neighbours
from intel.exceptions import DataQualityWarning, InputError
from intel.grid import assign_cells
from intel.patrol import audit_patrols, recommend_patrols, reported_only
from intel.patrol._common import parse_shifts

HOTSPOTS = [
    {"x": 2000, "y": 2000, "radius_m": 250, "events": 600},
    {"x": 7000, "y": 2500, "radius_m": 200, "events": 400},
    {"x": 5000, "y": 7500, "radius_m": 150, "events": 300},
]


@pytest.fixture(scope="module")
def incidents() -> gpd.GeoDataFrame:
    return intel.make_synthetic(n_background=1500, hotspots=HOTSPOTS, random_state=3)


@pytest.fixture(scope="module")
def scores(incidents) -> gpd.GeoDataFrame:
    grid = intel.make_grid(incidents, cell_size_m=100)
    return intel.score_counts(incidents, grid)


def _centres(frame: gpd.GeoDataFrame) -> np.ndarray:
    c = frame.geometry.centroid
    return np.column_stack([c.x, c.y])


def _place_centre(scores, cell_ids, column="n"):
    sub = scores.loc[cell_ids]
    w = sub[column].to_numpy(float)
    return (_centres(sub) * w[:, None]).sum(axis=0) / w.sum()


def _minutes_of_day(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


# ---------------------------------------------------------------- the plan


def test_plan_has_the_contract_columns_and_one_row_per_shift_and_place(scores):
    plan = recommend_patrols(scores, units=2, random_state=0)
    for column in ["shift", "place_id", "unit", "selection", "cell_ids", "minutes", "visits", "visit_times",
                   "expected_share", "risk", "reason", "geometry"]:
        assert column in plan.columns
    assert list(dict.fromkeys(plan["shift"])) == ["06-14", "14-22", "22-06"]
    assert not plan.duplicated(["shift", "place_id"]).any()
    assert plan.crs == scores.crs
    assert (plan["visits"] == 4).all()  # Koper: one visit about every two hours of an 8-hour shift
    assert (plan["minutes"] == 60).all()
    assert plan["visit_times"].map(len).eq(plan["visits"]).all()
    assert plan.attrs["provenance"]["function"] == "recommend_patrols"


def test_places_are_compact_groups_of_adjacent_cells_under_the_size_cap(scores):
    plan = recommend_patrols(scores, units=2, exploration_share=0.0, max_place_radius_m=150, random_state=0)
    w = cell_neighbours(scores, "queen")
    pos = pd.Series(np.arange(len(scores)), index=scores.index)
    multi = 0
    for ids in plan["cell_ids"]:
        idx = pos[ids].to_numpy()
        n_comp, _ = sp.csgraph.connected_components(w[idx][:, idx], directed=False)
        assert n_comp == 1, ids
        c = _centres(scores.loc[ids])
        span = np.hypot(c[:, None, 0] - c[None, :, 0], c[:, None, 1] - c[None, :, 1]).max()
        assert span <= 2 * 150 + 1e-6
        multi += len(ids) > 1
    # the planted hot spots are 300-500 m across: their places merge several 100 m cells
    assert multi >= 3


def test_place_centres_respect_the_minimum_spacing(scores):
    plan = recommend_patrols(scores, units=4, min_spacing_m=400, exploration_share=0.2, random_state=1)
    for _, part in plan.groupby("shift"):
        centres = np.array([_place_centre(scores, ids) for ids in part["cell_ids"]])
        d = np.hypot(centres[:, None, 0] - centres[None, :, 0], centres[:, None, 1] - centres[None, :, 1])
        np.fill_diagonal(d, np.inf)
        assert d.min() >= 400 - 1e-6


def test_best_places_cover_the_planted_hot_spots_first(scores, incidents):
    plan = recommend_patrols(scores, units=2, exploration_share=0.0, random_state=0)
    first = plan[plan["shift"] == "06-14"].head(3)
    truth = incidents.attrs["truth"]["hotspots"]
    for spec in truth:
        d = [np.hypot(*(_place_centre(scores, ids) - np.array([spec["x"], spec["y"]]))) for ids in first["cell_ids"]]
        assert min(d) < spec["radius_m"] + 100


def test_expected_share_is_the_places_share_of_the_shift_risk(scores):
    plan = recommend_patrols(scores, units=2, random_state=0)
    total = scores["n"].sum()
    for row in plan.itertuples():
        assert row.expected_share == pytest.approx(scores.loc[row.cell_ids, "n"].sum() / total)
    for summary in plan.attrs["shifts"]:
        part = plan[plan["shift"] == summary["shift"]]
        assert summary["expected_share"] == pytest.approx(part["expected_share"].sum())


def test_visit_times_fall_in_the_shift_and_a_unit_is_never_in_two_places_at_once(scores):
    shifts = ("06-14", "14-22", "22-06", "20:30-02:30")
    plan = recommend_patrols(scores, shifts=shifts, units=3, visit_minutes=12, random_state=5)
    starts = {s.label: (s.start_minute, s.minutes) for s in parse_shifts(shifts, "test")}
    for (shift, unit), part in plan.groupby(["shift", "unit"]):
        start, length = starts[shift]
        offsets = sorted((_minutes_of_day(t) - start) % 1440 for times in part["visit_times"] for t in times)
        assert offsets[0] >= 0 and offsets[-1] + 12 <= length
        assert all(b - a >= 12 for a, b in zip(offsets[:-1], offsets[1:]))


def test_capacity_is_respected_and_recorded(scores):
    plan = recommend_patrols(scores, units=3, patrol_share=0.4, random_state=0)
    for s in plan.attrs["shifts"]:
        planned = plan.loc[plan["shift"] == s["shift"], "minutes"].sum()
        assert planned == s["minutes_planned"] <= 0.4 * s["minutes_available"]
        assert s["minutes_available"] == 3 * 480
    record = plan.attrs["provenance"]["automatic"]
    assert record["max_places"]["value"]["06-14"] == 3 * int(480 * 0.4 // 60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    units=st.integers(1, 5),
    visit_minutes=st.integers(1, 90),
    visits=st.one_of(st.none(), st.integers(1, 12)),
    start=st.integers(0, 23),
    length=st.integers(1, 24),
    patrol_share=st.floats(0.05, 1.0),
    max_places=st.one_of(st.none(), st.integers(1, 40)),
    exploration=st.floats(0.0, 0.5),
    spacing=st.sampled_from([0.0, 200.0, 600.0]),
)
def test_planned_minutes_never_exceed_units_times_shift_minutes(scores, units, visit_minutes, visits, start, length,
                                                                patrol_share, max_places, exploration, spacing):
    shift = f"{start:02d}-{(start + length) % 24:02d}" if length < 24 else "00-24"
    minutes = length * 60
    try:
        plan = recommend_patrols(scores, shifts=(shift,), units=units, visit_minutes=visit_minutes,
                                 visits_per_place=visits, patrol_share=patrol_share, max_places=max_places,
                                 exploration_share=exploration, min_spacing_m=spacing, random_state=0)
    except InputError as exc:
        n_visits = visits if visits is not None else max(1, round(minutes / 120))
        assert n_visits * visit_minutes > minutes, exc
        return
    assert plan["minutes"].sum() <= units * minutes
    assert plan["minutes"].sum() <= units * minutes * patrol_share + 1e-9
    for _, part in plan.groupby("unit"):
        assert part["minutes"].sum() <= minutes
    if max_places is not None:
        assert len(plan) <= max_places


def test_same_seed_same_plan_and_other_seed_other_times(scores):
    a = recommend_patrols(scores, random_state=7)
    b = recommend_patrols(scores, random_state=7)
    c = recommend_patrols(scores, random_state=8)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
    assert a.attrs["provenance"] == b.attrs["provenance"]
    assert a["visit_times"].tolist() != c["visit_times"].tolist()


def test_an_omitted_seed_is_drawn_recorded_and_reproduces_the_plan(scores):
    a = recommend_patrols(scores)
    seed = a.attrs["provenance"]["seed"]
    assert a.attrs["provenance"]["automatic"]["random_state"]["value"] == seed
    b = recommend_patrols(scores, random_state=seed)
    assert a["visit_times"].tolist() == b["visit_times"].tolist()
    assert "random_state" not in b.attrs["provenance"]["automatic"]


def test_given_values_are_not_recorded_as_automatic(scores):
    plan = recommend_patrols(scores.assign(risk=scores["n"]), visits_per_place=3, max_places=5,
                             shift_risk={"06-14": 1, "14-22": 2, "22-06": 1}, random_state=0)
    automatic = plan.attrs["provenance"]["automatic"]
    assert not {"visits_per_place", "max_places", "shift_risk", "risk_column", "random_state"} & set(automatic)


def test_inputs_are_not_mutated(scores):
    before = scores.copy()
    attrs = dict(scores.attrs)
    recommend_patrols(scores, area_column=None, random_state=0)
    pd.testing.assert_frame_equal(scores, before)
    assert scores.attrs == attrs


# ---------------------------------------------------------------- risk sources


def test_per_shift_risk_columns_drive_each_shift(scores):
    c = _centres(scores)
    x0, y0 = c.min(axis=0)
    day = np.exp(-np.hypot(c[:, 0] - x0 - 2000, c[:, 1] - y0 - 2000) / 300)
    night = np.exp(-np.hypot(c[:, 0] - x0 - 8000, c[:, 1] - y0 - 8000) / 300)
    surface = scores.assign(risk_06_14=day, risk_14_22=day, risk_22_06=night)
    plan = recommend_patrols(surface, units=1, exploration_share=0.0, max_places=1, random_state=0)
    top = {row.shift: _place_centre(surface, row.cell_ids, "risk_06_14" if row.shift != "22-06" else "risk_22_06")
           for row in plan.itertuples()}
    assert np.hypot(*(top["06-14"] - [x0 + 2000, y0 + 2000])) < 150
    assert np.hypot(*(top["22-06"] - [x0 + 8000, y0 + 8000])) < 150
    assert "risk_22_06" in plan.attrs["shifts"][2]["risk_source"]
    assert "shift_risk" not in plan.attrs["provenance"]["automatic"]


def test_risk_is_split_by_shift_length_when_there_are_no_shift_columns(scores):
    plan = recommend_patrols(scores.assign(risk=scores["n"]), shifts=("06-18", "18-06"), random_state=0)
    split = plan.attrs["provenance"]["automatic"]["shift_risk"]["value"]
    assert split == {"06-18": 0.5, "18-06": 0.5}
    plan = recommend_patrols(scores.assign(risk=scores["n"]), shifts=("06-12", "12-06"), random_state=0)
    assert plan.attrs["provenance"]["automatic"]["shift_risk"]["value"]["06-12"] == pytest.approx(0.25)


def test_reasons_name_the_evidence_the_scores_carry(scores):
    hot = scores["n"] >= scores["n"].quantile(0.99)
    rich = scores.assign(risk=scores["n"] / 52.0,
                         hotspot_class=np.where(hot, "persistent hot spot", "no pattern detected"),
                         change_class=np.where(hot, "significant increase", "no significant change"))
    plan = recommend_patrols(rich, units=2, random_state=0)
    first = plan.iloc[0]["reason"]
    assert "of the shift's risk" in first and "incidents recorded (n)" in first
    assert "persistent hot spot" in first and "significant increase" in first
    assert "no pattern detected" not in first
    explore = plan[plan["selection"] == "exploration"]["reason"]
    assert len(explore) and explore.str.startswith("exploration (safeguard)").all()


# ---------------------------------------------------------------- safeguards


def test_safeguards_are_on_by_default_and_recorded(scores):
    plan = recommend_patrols(scores, random_state=0)
    guards = plan.attrs["safeguards"]
    assert set(guards) >= {"exploration", "area_cap", "capacity", "unpredictable_times", "detection"}
    assert guards["exploration"]["on"] and guards["exploration"]["setting"] == 0.1
    assert guards["exploration"]["places"] == {"06-14": 1, "14-22": 1, "22-06": 1}
    assert guards["area_cap"]["on"] is False
    off = recommend_patrols(scores, exploration_share=0.0, random_state=0)
    assert off.attrs["safeguards"]["exploration"]["on"] is False
    assert (off["selection"] == "risk").all()


def test_exploration_favours_lower_ranked_cells_with_positive_risk(scores):
    # a smooth surface without ties: risk = count + a little noise
    noisy = scores.assign(risk=scores["n"] + np.random.default_rng(0).uniform(0, 0.5, len(scores)) * (scores["n"] > 0))
    positive = noisy.loc[noisy["risk"] > 0, "risk"]
    rank = positive.rank(ascending=False)
    ranks = []
    for seed in range(15):
        plan = recommend_patrols(noisy, shifts=("00-24",), units=4, exploration_share=0.5, random_state=seed)
        explore = plan[plan["selection"] == "exploration"]
        assert len(explore) == round(0.5 * len(plan))
        for ids in explore["cell_ids"]:
            assert len(ids) == 1 and noisy.loc[ids[0], "risk"] > 0
            ranks.append(rank[ids[0]])
    # weights proportional to the rank put the mean rank at 2/3 of the way down, not the middle
    assert np.mean(ranks) > 0.6 * len(positive)


def test_area_cap_limits_any_areas_share_of_patrol_minutes(scores):
    c = _centres(scores)
    west = c[:, 0] < np.median(c[:, 0])
    south = c[:, 1] < np.median(c[:, 1])
    areas = np.where(west & south, "SW", np.where(west, "NW", np.where(south, "SE", "NE")))
    with_areas = scores.assign(sector=areas)
    free = recommend_patrols(with_areas, units=3, area_column="sector", exploration_share=0.0, random_state=0)
    share_free = free.groupby(["shift", "sector"])["minutes"].sum() / free.groupby("shift")["minutes"].sum()
    assert share_free.max() > 0.4
    capped = recommend_patrols(with_areas, units=3, area_column="sector", max_share_per_area=0.3, random_state=0)
    share = capped.groupby(["shift", "sector"])["minutes"].sum() / capped.groupby("shift")["minutes"].sum()
    assert share.max() <= 0.3 + 1e-9
    guard = capped.attrs["safeguards"]["area_cap"]
    assert guard["on"] and guard["setting"] == 0.3
    assert max(guard["max_realised_share"].values()) <= 0.3 + 1e-9


def test_shift_without_any_risk_warns_and_plans_nothing(scores):
    flat = scores.assign(risk_06_14=scores["n"], risk_14_22=0.0, risk_22_06=scores["n"])
    with pytest.warns(DataQualityWarning, match="14-22"):
        plan = recommend_patrols(flat, random_state=0)
    assert "14-22" not in set(plan["shift"])
    assert [s["places"] for s in plan.attrs["shifts"]][1] == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shifts": ("6 to 14",)}, "cannot read the shift"),
        ({"shifts": ("06-06",)}, "starts and ends"),
        ({"units": 0}, "'units' parameter"),
        ({"visit_minutes": 300}, "do not fit"),
        ({"max_share_per_area": 0.3}, "needs area_column"),
        ({"area_column": "beat"}, "not a column"),
        ({"exploration_share": 1.0}, "exploration_share"),
        ({"date": "not a date"}, "'date' parameter"),
        ({"shift_risk": {"06-14": 1}}, "share for each shift"),
        ({"random_state": "x"}, "random_state"),
    ],
)
def test_bad_parameters_raise_clear_errors(scores, kwargs, match):
    with pytest.raises(InputError, match=match):
        recommend_patrols(scores, **kwargs)


def test_bad_scores_raise_clear_errors(scores):
    with pytest.raises(InputError, match="CellScores"):
        recommend_patrols(pd.DataFrame({"n": [1.0]}))
    with pytest.raises(InputError, match="need a risk column"):
        recommend_patrols(scores.drop(columns="n"))
    with pytest.raises(InputError, match="but not"):
        recommend_patrols(scores.assign(risk_06_14=1.0))
    with pytest.raises(InputError, match=">= 0"):
        recommend_patrols(scores.assign(risk=-scores["n"]))


# ---------------------------------------------------------------- reported_only


def test_reported_only_drops_discovered_and_keeps_unknown(incidents):
    tagged = incidents.copy()
    tagged["detection"] = pd.array(["reported"] * len(tagged), dtype="string")
    tagged.loc[:99, "detection"] = "discovered"
    tagged.loc[100:149, "detection"] = pd.NA
    kept = reported_only(tagged)
    assert len(kept) == len(tagged) - 100
    assert kept.attrs["detection"] == {
        "setting": "reported and unknown only", "on": True, "include_discovered": False,
        "n_reported": len(tagged) - 150, "n_discovered": 100, "n_unknown": 50, "n_dropped": 100,
    }
    assert tagged["detection"].eq("discovered").sum() == 100  # input untouched


def test_including_discovered_incidents_warns(incidents):
    tagged = incidents.assign(detection=np.where(np.arange(len(incidents)) < 10, "discovered", "reported"))
    with pytest.warns(DataQualityWarning, match="feedback loop"):
        kept = reported_only(tagged, include_discovered=True)
    assert len(kept) == len(tagged) and kept.attrs["detection"]["on"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reported_only(incidents, include_discovered=True)  # nothing discovered: nothing to warn about


def test_reported_only_without_a_detection_column_warns_and_keeps_all(incidents):
    with pytest.warns(DataQualityWarning, match="no 'detection' column"):
        kept = reported_only(incidents.drop(columns="detection"))
    assert len(kept) == len(incidents)
    with pytest.raises(InputError, match="include_discovered"):
        reported_only(incidents, include_discovered="yes")


def test_plan_records_the_detection_setting_carried_by_the_scores(scores, incidents):
    kept = reported_only(incidents)
    tagged = scores.copy()
    tagged.attrs["detection"] = kept.attrs["detection"]
    plan = recommend_patrols(tagged, random_state=0)
    assert plan.attrs["safeguards"]["detection"]["setting"] == "reported and unknown only"
    assert recommend_patrols(scores, random_state=0).attrs["safeguards"]["detection"]["setting"] == "unknown"


# ---------------------------------------------------------------- audit


def test_audit_compares_patrol_minutes_with_reported_incidents(scores, incidents):
    c = _centres(scores)
    areas = np.where(c[:, 0] < np.median(c[:, 0]), "west", "east")
    plan = recommend_patrols(scores.assign(side=areas), units=2, area_column="side", random_state=0)
    tagged = incidents.assign(side=areas[assign_cells(incidents, scores)])
    tagged.loc[tagged.index[:200], "detection"] = "discovered"
    audit = audit_patrols(plan, tagged, area_column="side")
    assert list(audit.index) == ["east", "west"]
    assert audit["minutes"].sum() == plan["minutes"].sum()
    reported = tagged[tagged["detection"] != "discovered"]
    assert audit.loc["west", "n_reported"] == (reported["side"] == "west").sum()
    assert audit["ratio"].to_numpy() == pytest.approx((audit["minutes_share"] / audit["incident_share"]).to_numpy())
    assert audit.attrs["audit"]["max_ratio"] == pytest.approx(audit["ratio"].max())


def test_audit_with_area_polygons_matches_the_column_version(scores, incidents):
    c = _centres(scores)
    x_mid = float(np.median(c[:, 0]))
    x0, y0, x1, y1 = scores.total_bounds
    polygons = gpd.GeoDataFrame({"name": ["west", "east"]}, crs=scores.crs,
                                geometry=[shapely.box(x0, y0, x_mid, y1), shapely.box(x_mid, y0, x1, y1)])
    plan = recommend_patrols(scores, units=2, random_state=0)
    audit = audit_patrols(plan, incidents, areas=polygons, id_column="name")
    assert set(audit.index) == {"west", "east"}
    assert audit["n_reported"].sum() == len(incidents)
    assert audit["minutes"].sum() == plan["minutes"].sum()


def test_audit_errors(scores, incidents):
    plan = recommend_patrols(scores, random_state=0)
    with pytest.raises(InputError, match="either area_column"):
        audit_patrols(plan, incidents)
    with pytest.raises(InputError, match="not a column of the plan"):
        audit_patrols(plan, incidents, area_column="district")
    with pytest.raises(InputError, match="PatrolPlan"):
        audit_patrols(pd.DataFrame(), incidents, area_column="x")
