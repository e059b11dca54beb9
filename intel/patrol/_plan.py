"""recommend_patrols: a risk surface turned into a shift-by-shift patrol plan."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._provenance import announce, attach, make_record
from .._validation import check_number
from .._weights import cell_neighbours
from ..exceptions import DataQualityWarning, InputError
from ._common import Shift, cell_centres, check_cells, numeric_column, parse_shifts, parse_time, seed_generator
from ._places import JOIN_RATIO, Place, choose_places

__all__ = ["recommend_patrols", "PLAN_COLUMNS"]

PLAN_COLUMNS = ["shift", "place_id", "unit", "selection", "cell_ids", "minutes", "visits", "visit_times",
                "expected_share", "risk", "reason"]
KOPER_INTERVAL_MIN = 120  # Koper (1995): a visit about every two hours keeps the residual deterrence going
_NEUTRAL = {"not significant", "no pattern detected", "no significant change", ""}
_REASON_COLUMNS = {"hotspot_class": "hot spot class", "change_class": "change", "moran_class": "local Moran"}


def recommend_patrols(
    scores: gpd.GeoDataFrame,
    *,
    shifts: Sequence[str] | str = ("06-14", "14-22", "22-06"),
    units: int = 2,
    shift_risk: Mapping[str, float] | Sequence[float] | None = None,
    visit_minutes: int = 15,
    visits_per_place: int | None = None,
    max_place_radius_m: float = 150.0,
    min_spacing_m: float = 300.0,
    max_places: int | None = None,
    patrol_share: float = 0.5,
    exploration_share: float = 0.1,
    max_share_per_area: float | None = None,
    area_column: str | None = None,
    date: Any = None,
    random_state: int | np.random.Generator | None = None,
) -> gpd.GeoDataFrame:
    """Turn a risk surface into a patrol plan: where, when and how long, shift by shift.

    For each shift, the highest-risk cells are merged with their adjacent high-risk
    cells into compact places (a neighbour joins when its risk is at least half the
    seed cell's and at least that of the n-th riskiest cell, n being the number of
    places chosen by risk, and its centre lies within ``max_place_radius_m`` of the
    seed's); places whose centre (the risk-weighted mean of their cell centres) is
    closer than ``min_spacing_m`` to one already chosen are skipped. Each place
    gets ``visits_per_place`` visits of ``visit_minutes`` (Koper 1995: 10-15 minute
    stops, about every two hours, at unpredictable times). Places are shared among the
    units by a sweep around their centre (Gillett & Miller 1974), and each unit's
    visits are scheduled in cycles of ``shift minutes / visits``: within a cycle the
    unit's places come in a random order with random gaps, so visits never overlap and
    cannot be predicted.

    Safeguards (on by default, recorded in ``attrs["safeguards"]``):

    - **capacity**: planned minutes never exceed ``units x shift minutes x
      patrol_share`` (and so never ``units x shift minutes``);
    - **exploration**: ``exploration_share`` of each shift's places are single cells
      drawn at random among cells with positive risk, with probability proportional
      to their risk rank (1 = highest), so lower-ranked cells are favoured and data keep
      coming from everywhere (Ensign et al. 2018);
    - **area cap**: with ``max_share_per_area`` and ``area_column``, no area (beat,
      district) gets more than that share of a shift's patrol minutes;
    - **unpredictable times**: visit times are random; an omitted seed is drawn from
      the operating system (never from the date) and recorded so the plan can be
      reproduced;
    - **detection**: the setting of :func:`intel.patrol.reported_only` when the scores
      carry it in ``attrs["detection"]``.

    Parameters
    ----------
    scores : GeoDataFrame
        CellScores (grid cells in a metric CRS) with per-shift risk columns
        ``risk_<shift>`` (e.g. ``risk_06_14``, from ``ShiftProfile``), or ``risk``
        (split across shifts, see ``shift_risk``), or only ``n`` (recent counts, used
        as the risk; announced). Other columns (``n``, ``hotspot_class``,
        ``change_class``, ``moran_class``, ``trend_z``) feed each place's reason.
    shifts : sequence of str or str
        Shifts as ``"HH-HH"`` or ``"HH:MM-HH:MM"``; ``"22-06"`` crosses midnight.
    units : int
        Patrol units available in each shift.
    shift_risk : dict or sequence of float, optional
        How ``risk`` splits across shifts (shares, normalised), by shift label or in
        the order of ``shifts``. When given, ``risk`` is split this way even if
        ``risk_<shift>`` columns exist. Default: the ``risk_<shift>`` columns when all
        are present, else in proportion to each shift's length (stated in
        ``attrs["shifts"]``).
    visit_minutes : int
        Length of one visit (Koper: 10 to 15 minutes).
    visits_per_place : int, optional
        Visits to each place per shift. Default: one every two hours (shift minutes /
        120, rounded, at least 1), recorded as automatic.
    max_place_radius_m : float
        Cells join a place only if their centre is within this distance of the seed
        cell's centre.
    min_spacing_m : float
        Least distance between the centres of two places of one shift.
    max_places : int, optional
        Most places per shift. Default: as many as capacity allows,
        ``units x floor(shift minutes x patrol_share / (visits x visit_minutes))``,
        recorded as automatic; a larger value is lowered to that.
    patrol_share : float
        Share of each unit's shift given to the planned visits; the rest is left for
        travel, calls for service and other duties.
    exploration_share : float
        Share of each shift's places drawn at random (0 turns the safeguard off, which
        the record says).
    max_share_per_area : float, optional
        Cap on any one area's share of a shift's patrol minutes (needs
        ``area_column``). With a cap the shift may get fewer places.
    area_column : str, optional
        Column of ``scores`` naming each cell's area (beat, district); a place
        belongs to its seed cell's area. The plan gets this column too.
    date : str or date, optional
        The day the plan is for; kept in ``attrs["patrol"]`` and used by
        :func:`build_visit_log` to write full planned times.
    random_state : int, Generator or None
        Seed for the exploration draw and the visit times.

    Returns
    -------
    GeoDataFrame
        A PatrolPlan: one row per shift and place, columns ``shift``, ``place_id``,
        ``unit`` (1-based), ``selection`` (``"risk"`` or ``"exploration"``),
        ``cell_ids`` (list), ``minutes``, ``visits``, ``visit_times`` (list of
        ``"HH:MM"``, in shift order), ``expected_share`` (the place's share of the
        shift's risk), ``risk`` (the place's risk in the shift, in the units of the
        scores), ``reason``, ``area_column`` when given, and ``geometry`` (the union of
        the place's cells). ``attrs["shifts"]`` has one summary per shift
        (``minutes_available``, ``minutes_planned``, ``expected_share`` ...),
        ``attrs["safeguards"]`` every safeguard and its setting,
        ``attrs["provenance"]`` the record.

    Raises
    ------
    InputError
        Bad parameters, no usable risk column, or a visit longer than a shift.

    References
    ----------
    Koper, C. S. (1995). Just enough police presence: reducing crime and disorderly
    behavior by optimizing patrol time in crime hot spots. Justice Quarterly 12(4).
    Ensign, D. et al. (2018). Runaway feedback loops in predictive policing. FAT* 2018.
    Gillett, B. E. & Miller, L. R. (1974). A heuristic algorithm for the
    vehicle-dispatch problem. Operations Research 22(2).

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(hotspots=3, random_state=1)
    >>> grid = intel.make_grid(incidents, cell_size_m=200)
    >>> scores = intel.score_counts(incidents, grid)
    >>> plan = intel.recommend_patrols(scores, units=2, random_state=0)
    >>> sorted(plan["shift"].unique())
    ['06-14', '14-22', '22-06']
    >>> all(s["minutes_planned"] <= s["minutes_available"] for s in plan.attrs["shifts"])
    True
    """
    owner = "recommend_patrols"
    check_cells(scores, owner)
    check_number("units", units, owner, low=1, integer=True)
    check_number("visit_minutes", visit_minutes, owner, low=1, integer=True)
    check_number("visits_per_place", visits_per_place, owner, low=1, integer=True, allow_none=True)
    check_number("max_place_radius_m", max_place_radius_m, owner, low=0)
    check_number("min_spacing_m", min_spacing_m, owner, low=0)
    check_number("max_places", max_places, owner, low=1, integer=True, allow_none=True)
    check_number("patrol_share", patrol_share, owner, low=0, high=1, closed="right")
    check_number("exploration_share", exploration_share, owner, low=0, high=1, closed="left")
    check_number("max_share_per_area", max_share_per_area, owner, low=0, high=1, closed="right", allow_none=True)
    if max_share_per_area is not None and area_column is None:
        raise InputError(f"{owner}: max_share_per_area needs area_column, the column of scores naming each cell's area (e.g. 'beat').")
    if area_column is not None and area_column not in scores.columns:
        raise InputError(f"{owner}: area_column={area_column!r} is not a column of scores; it has {list(scores.columns)[:20]}.")
    plan_date = None if date is None else _as_date(date, owner)
    shift_list = parse_shifts(shifts, owner)
    rng, seed, automatic = seed_generator(random_state)
    risks, source = _shift_risks(scores, shift_list, shift_risk, owner, automatic)

    w = cell_neighbours(scores, "queen")
    centres = cell_centres(scores)
    areas = None
    if area_column is not None:
        areas = scores[area_column].astype(object).where(scores[area_column].notna(), None).to_numpy()

    rows: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    auto_visits: dict[str, int] = {}
    auto_places: dict[str, int] = {}
    for shift, shift_rng in zip(shift_list, rng.spawn(len(shift_list))):
        visits = visits_per_place
        if visits is None:
            visits = max(1, round(shift.minutes / KOPER_INTERVAL_MIN))
            auto_visits[shift.label] = visits
        if visits * visit_minutes > shift.minutes:
            raise InputError(
                f"{owner}: {visits} visits of {visit_minutes} minutes do not fit in the {shift.label} shift "
                f"({shift.minutes} minutes); lower visits_per_place or visit_minutes."
            )
        per_unit = int(shift.minutes * patrol_share // (visits * visit_minutes))
        capacity_places = units * per_unit
        if max_places is None:
            n_places = capacity_places
            auto_places[shift.label] = n_places
        else:
            n_places = min(max_places, capacity_places)
        risk = risks[shift.label]
        total = float(risk.sum())
        if total <= 0:
            warnings.warn(f"{owner}: the {shift.label} shift has no risk anywhere; no places are planned for it.",
                          DataQualityWarning, stacklevel=2)
        places = choose_places(
            risk, centres, w, n_places=n_places, exploration_share=exploration_share,
            max_radius_m=max_place_radius_m, min_spacing_m=min_spacing_m, areas=areas,
            max_share_per_area=max_share_per_area, rng=shift_rng,
        )
        unit_of = _sweep_units(places, units)
        times = _schedule(unit_of, units, visits, visit_minutes, shift, shift_rng)
        ranks = _rank_positions(risk)
        for i, place in enumerate(places):
            rows.append(_row(place, i, shift, unit_of[i], visits, visit_minutes, times[i], risk, total, ranks,
                             scores, source, area_column))
        planned = len(places) * visits * visit_minutes
        summaries.append({
            "shift": shift.label, "start": shift.clock(0), "minutes": shift.minutes, "units": units,
            "visits_per_place": visits, "places": len(places),
            "exploration_places": sum(p.selection == "exploration" for p in places),
            "minutes_available": units * shift.minutes, "minutes_planned": planned,
            "expected_share": float(sum(r["expected_share"] for r in rows if r["shift"] == shift.label)),
            "risk_source": source[shift.label],
        })
    if auto_visits:
        rule = f"one visit every {KOPER_INTERVAL_MIN} minutes of the shift (Koper 1995), rounded, at least 1"
        automatic["visits_per_place"] = {"value": auto_visits, "rule": rule}
        announce("%s: visits per place set to %s (%s). Pass visits_per_place= to choose.", owner, auto_visits, rule)
    if auto_places:
        rule = "units x floor(shift minutes x patrol_share / (visits x visit_minutes)): what capacity allows"
        automatic["max_places"] = {"value": auto_places, "rule": rule}
        announce("%s: places per shift set to %s (%s). Pass max_places= to choose.", owner, auto_places, rule)

    plan = _plan_frame(rows, scores.crs, area_column)
    plan.attrs["shifts"] = summaries
    plan.attrs["safeguards"] = _safeguards(summaries, plan, scores, exploration_share, max_share_per_area,
                                           area_column, patrol_share, units)
    plan.attrs["patrol"] = {
        "date": plan_date, "visit_minutes": visit_minutes, "units": units,
        "shifts": [{"shift": s.label, "start_minute": s.start_minute, "minutes": s.minutes} for s in shift_list],
        "grid": dict(scores.attrs.get("grid", {})), "crs": scores.crs.to_string(),
        "place_rule": (f"seed = highest-risk unused cell; queen neighbours join when risk >= {JOIN_RATIO:g} x the seed's "
                       "and >= the n-th highest cell risk (n = places chosen by risk), with centre within "
                       f"{max_place_radius_m:g} m of the seed's; place centres >= {min_spacing_m:g} m apart"),
    }
    params = dict(shifts=[s.label for s in shift_list], units=units, shift_risk=shift_risk, visit_minutes=visit_minutes,
                  visits_per_place=visits_per_place, max_place_radius_m=max_place_radius_m, min_spacing_m=min_spacing_m,
                  max_places=max_places, patrol_share=patrol_share, exploration_share=exploration_share,
                  max_share_per_area=max_share_per_area, area_column=area_column, date=plan_date)
    record = make_record(owner, params, automatic=automatic, seed=seed,
                         extra={"n_places": len(plan), "n_cells": len(scores), "risk_source": source})
    return attach(plan, record)


# ---------------------------------------------------------------- risk per shift


def _shift_risks(scores, shifts: list[Shift], shift_risk, owner: str, automatic: dict) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    columns = [s.column for s in shifts]
    present = [c for c in columns if c in scores.columns]
    if shift_risk is None and present and len(present) < len(columns):
        missing = [c for c in columns if c not in scores.columns]
        raise InputError(
            f"{owner}: scores have per-shift risk columns {present} but not {missing}. Give the shifts the model "
            "was fitted for, or pass shift_risk= to split the 'risk' column instead."
        )
    if shift_risk is None and present:
        return ({s.label: numeric_column(scores, s.column, owner, what="risk") for s in shifts},
                {s.label: f"model risk in this shift ({s.column})" for s in shifts})
    if "risk" in scores.columns:
        base, base_name = numeric_column(scores, "risk", owner, what="risk"), "model risk (risk)"
    elif "n" in scores.columns:
        base, base_name = numeric_column(scores, "n", owner, what="count"), "recent count (n)"
        rule = "scores have no 'risk' column, so the recent count 'n' serves as the risk"
        automatic["risk_column"] = {"value": "n", "rule": rule}
        announce("%s: %s. Fit a model (intel.models) for a forecast.", owner, rule)
    else:
        raise InputError(
            f"{owner}: scores need a risk column: 'risk' (a model's predict()), 'risk_<shift>' columns "
            f"(e.g. {columns[0]!r}) or at least 'n' (intel.score_counts). It has {list(scores.columns)[:20]}."
        )
    shares = _split_shares(shifts, shift_risk, owner)
    if shift_risk is None:
        rule = "in proportion to each shift's length (no per-shift risk columns)"
        automatic["shift_risk"] = {"value": {s.label: shares[s.label] for s in shifts}, "rule": rule}
        announce("%s: risk split across shifts %s. Pass shift_risk= or fit a ShiftProfile model for per-shift risk.", owner, rule)
    return ({s.label: base * shares[s.label] for s in shifts},
            {s.label: f"{base_name} x the shift's share {shares[s.label]:.3f}" for s in shifts})


def _split_shares(shifts: list[Shift], shift_risk, owner: str) -> dict[str, float]:
    if shift_risk is None:
        raw = {s.label: float(s.minutes) for s in shifts}
    elif isinstance(shift_risk, Mapping):
        unknown = set(map(str, shift_risk)) - {s.label for s in shifts}
        missing = [s.label for s in shifts if s.label not in shift_risk]
        if unknown or missing:
            raise InputError(f"{owner}: shift_risk must give a share for each shift {[s.label for s in shifts]}; "
                             f"missing {missing}, unknown {sorted(unknown)}.")
        raw = {s.label: shift_risk[s.label] for s in shifts}
    else:
        values = list(shift_risk)
        if len(values) != len(shifts):
            raise InputError(f"{owner}: shift_risk has {len(values)} shares for {len(shifts)} shifts.")
        raw = {s.label: v for s, v in zip(shifts, values)}
    for label, v in raw.items():
        check_number(f"shift_risk[{label!r}]", v, owner, low=0)
    total = sum(raw.values())
    if total <= 0:
        raise InputError(f"{owner}: shift_risk shares must not all be zero.")
    return {k: float(v) / total for k, v in raw.items()}


# ---------------------------------------------------------------- units and times


def _sweep_units(places: list[Place], units: int) -> np.ndarray:
    """Unit (1-based) of each place: places sorted by angle around their mean centre, cut into
    ``units`` runs of near-equal size, starting after the widest angular gap."""
    m = len(places)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(units, m)
    xy = np.array([p.centre for p in places])
    angle = np.arctan2(xy[:, 1] - xy[:, 1].mean(), xy[:, 0] - xy[:, 0].mean())
    order = np.argsort(angle, kind="stable")
    if m > 1:
        a = angle[order]
        gaps = np.diff(np.append(a, a[0] + 2 * np.pi))
        order = np.roll(order, -int((np.argmax(gaps) + 1) % m))
    unit = np.empty(m, dtype=np.int64)
    for u, chunk in enumerate(np.array_split(order, k), start=1):
        unit[chunk] = u
    return unit


def _schedule(unit_of: np.ndarray, units: int, visits: int, visit_minutes: int, shift: Shift,
              rng: np.random.Generator) -> list[list[int]]:
    """Start offsets (minutes from the shift start) of each place's visits.

    The shift is cut into ``visits`` cycles; in each cycle a unit visits each of its
    places once, in a random order, with random gaps (uniform spacings) between visits.
    """
    offsets = [[0] * visits for _ in range(unit_of.size)]
    for u in range(1, units + 1):
        mine = np.flatnonzero(unit_of == u)
        m = mine.size
        if m == 0:
            continue
        for k in range(visits):
            c0 = k * shift.minutes // visits
            c1 = (k + 1) * shift.minutes // visits
            free = c1 - c0 - m * visit_minutes
            cuts = np.sort(rng.integers(0, max(free, 0) + 1, size=m))
            perm = rng.permutation(m)
            for j in range(m):
                offsets[mine[perm[j]]][k] = int(c0 + cuts[j] + j * visit_minutes)
    return offsets


# ---------------------------------------------------------------- rows, reasons, records


def _rank_positions(risk: np.ndarray) -> np.ndarray:
    order = np.argsort(-risk, kind="stable")
    ranks = np.empty(risk.size, dtype=np.int64)
    ranks[order] = np.arange(1, risk.size + 1)
    return ranks


def _row(place: Place, i: int, shift: Shift, unit: int, visits: int, visit_minutes: int, offsets: list[int],
         risk: np.ndarray, total: float, ranks: np.ndarray, scores: gpd.GeoDataFrame, source: dict[str, str],
         area_column: str | None) -> dict[str, Any]:
    cells = place.cells
    place_risk = float(risk[cells].sum())
    share = place_risk / total if total > 0 else 0.0
    row = {
        "shift": shift.label,
        "place_id": f"{shift.label}-P{i + 1:02d}",
        "unit": int(unit),
        "selection": place.selection,
        "cell_ids": [str(c) for c in scores.index[cells]],
        "minutes": visits * visit_minutes,
        "visits": visits,
        "visit_times": [shift.clock(o) for o in offsets],
        "expected_share": share,
        "risk": place_risk,
        "reason": _reason(place, scores, risk, share, ranks, source[shift.label]),
        "geometry": shapely.union_all(scores.geometry.values[cells]),
    }
    if area_column is not None:
        row[area_column] = place.area
    return row


def _reason(place: Place, scores: gpd.GeoDataFrame, risk: np.ndarray, share: float, ranks: np.ndarray, source: str) -> str:
    cells = place.cells
    n_total = risk.size
    rank = int(ranks[place.seed])
    parts = []
    if place.selection == "exploration":
        parts.append("exploration (safeguard): drawn at random, weighted toward lower-ranked cells, so that data keep "
                     f"coming from places the forecast ranks low; risk rank {rank:,} of {n_total:,} cells")
    else:
        size = f"{cells.size} adjacent cells" if cells.size > 1 else "1 cell"
        parts.append(f"{share:.1%} of the shift's risk in {size}, top cell ranked {rank:,} of {n_total:,} "
                     f"({source}: {risk[cells].sum():.3g})")
    if "n" in scores.columns:
        n = pd.to_numeric(scores["n"].iloc[cells], errors="coerce").sum()
        parts.append(f"{n:g} incidents recorded (n)")
    by_risk = cells[np.argsort(-risk[cells], kind="stable")]
    for column, label in _REASON_COLUMNS.items():
        if column in scores.columns:
            values = [v for v in scores[column].iloc[by_risk].tolist() if isinstance(v, str) and v not in _NEUTRAL]
            if values:
                parts.append(f"{label}: {', '.join(dict.fromkeys(values))}")
    if "trend_z" in scores.columns:
        z = pd.to_numeric(scores["trend_z"].iloc[[place.seed]], errors="coerce").iloc[0]
        if np.isfinite(z):
            parts.append(f"trend z = {z:+.1f}")
    return "; ".join(parts)


def _plan_frame(rows: list[dict[str, Any]], crs: Any, area_column: str | None) -> gpd.GeoDataFrame:
    columns = PLAN_COLUMNS + ([area_column] if area_column else []) + ["geometry"]
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns if c != "geometry"})
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    frame = pd.DataFrame(rows, columns=columns)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)


def _safeguards(summaries, plan, scores, exploration_share, max_share_per_area, area_column, patrol_share, units) -> dict[str, Any]:
    realised = {}
    if area_column is not None and len(plan):
        for shift, part in plan.groupby("shift", sort=False):
            shares = part.groupby(area_column, dropna=False)["minutes"].sum() / part["minutes"].sum()
            realised[shift] = float(shares.max())
    return {
        "exploration": {
            "setting": exploration_share, "on": exploration_share > 0,
            "rule": "that share of each shift's places (rounded, at least 1 from 2 places up) drawn at random among cells "
                    "with positive risk, probability proportional to the risk rank (1 = highest)",
            "places": {s["shift"]: s["exploration_places"] for s in summaries},
        },
        "area_cap": {
            "setting": max_share_per_area, "on": max_share_per_area is not None, "area_column": area_column,
            "max_realised_share": realised,
        },
        "capacity": {
            "setting": {"units": units, "patrol_share": patrol_share}, "on": True,
            "rule": "planned minutes <= units x shift minutes x patrol_share <= units x shift minutes",
            "minutes_available": {s["shift"]: s["minutes_available"] for s in summaries},
            "minutes_planned": {s["shift"]: s["minutes_planned"] for s in summaries},
        },
        "unpredictable_times": {
            "setting": True, "on": True,
            "rule": "visits in random order with random gaps within each cycle; the seed is recorded in provenance",
        },
        "detection": dict(scores.attrs.get("detection") or {
            "setting": "unknown", "on": None,
            "note": "build the risk from intel.patrol.reported_only(incidents) so that patrol-discovered incidents "
                    "do not feed back into where patrols go",
        }),
    }


def _as_date(value: Any, owner: str) -> str:
    return parse_time(value, owner, "date").date().isoformat()
