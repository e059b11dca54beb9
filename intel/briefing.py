"""The weekly briefing: one call from incidents to what an analyst presents on Monday.

:func:`build_briefing` runs intel's verbs over one week, as if on the Monday after it
(nothing from that Monday on is used), and gathers what a weekly meeting asks:

=================  ================================================================
``counts``         this week against the prior four weeks, the same week last year
                   and year to date, with Poisson z-scores (:func:`compare_periods`),
                   overall and by category; the weekly series
``hotspots``       the busiest cells of the last four weeks, their Gi* class and their
                   rank four weeks earlier (:func:`score_gistar`, :func:`score_counts`)
``emerging``       emerging hot spot categories over the last 52 weeks
                   (:func:`build_cube`, :func:`classify_emerging`)
``hour_weekday``   when incidents happen: hour by weekday over the last 13 weeks
``near_repeat``    the Knox test over the last year and the alert zones still active
                   (:func:`knox_test`, :func:`active_alert_zones`)
``forecast``       next week's risk per cell, the model chosen and measured by a short
                   rolling backtest against the naive baselines, and its model card
``patrol``         a shift plan for the first day of next week and its safeguards
                   (:func:`recommend_patrols`)
``data_quality``   the load report (rows kept and set aside, warnings) and the
                   warnings raised while building the briefing
``provenance``     input checksums, parameters, automatic choices, seeds, versions
=================  ================================================================

The result is a :class:`Briefing`: the JSON-able dict, the tables, and a
self-contained HTML page (maps and figures embedded, nothing fetched from any
server). :meth:`Briefing.write` writes ``briefing.html``, ``briefing.json`` and one CSV
per table. Identical inputs give byte-identical files: no clock time is recorded, every
random step is seeded from ``random_state``, keys are sorted.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ._incidents import check_incidents, filter_incidents
from ._progress import Steps
from ._provenance import announce, jsonable, make_record
from ._validation import check_number, check_random_state
from .exceptions import DataQualityWarning, InputError

__all__ = ["build_briefing", "Briefing"]

WEEK = pd.Timedelta(weeks=1)
RECENT_WEEKS = 4  # hot spots and rank changes: a month of counts is steadier than one week
EMERGING_WEEKS = 52
PROFILE_WEEKS = 13  # hour-by-weekday: a quarter, so each of the 168 hours holds enough incidents
KNOX_WEEKS = 52
KNOX_MAX_EVENTS = 20_000  # beyond this the Knox window shrinks (pairs grow with the square)
BACKTEST_WEEKS = 8
DEFAULT_CELL_SIZE_M = 150.0
CANDIDATES = ("kde", "prospective", "sepp")  # what model="best" compares with the naive baselines
SELECTION_COVERAGE = 0.05
COVERAGES = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2)  # the capture curve's points
TABLE_COVERAGES = (0.01, 0.05, 0.1)
NEAR_REPEAT = {"distance_m": 200.0, "days": 14.0}
TOP = 10
# first place-like column the source has, to name a cell for people ("047XX W MADISON ST")
PLACE_COLUMNS = ("block", "location", "address", "street", "street_name")
STEP_NAMES = ("counts", "grid", "hot spots", "emerging", "hour x weekday", "near repeats", "backtest",
              "forecast", "patrol plan", "page")


@dataclass(frozen=True)
class Briefing:
    """A built weekly briefing.

    Attributes
    ----------
    data : dict
        Everything in the briefing as plain JSON types (``briefing.json``); keys
        include ``week``, ``counts``, ``hotspots``, ``emerging``, ``hour_weekday``,
        ``near_repeat``, ``forecast``, ``patrol``, ``data_quality``, ``provenance``.
    tables : dict of str to DataFrame
        The tables behind it, written as ``<name>.csv`` (cells carry their centre's
        ``lat``/``lon`` instead of a geometry).
    html : str
        The self-contained page (``briefing.html``).
    """

    data: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(repr=False)
    html: str = field(repr=False)

    def to_json(self) -> str:
        """``briefing.json``: indented, keys sorted, one trailing newline."""
        return json.dumps(self.data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``briefing.html``, ``briefing.json`` and ``<table>.csv`` files into ``out_dir``.

        Returns the paths written, by name (``"html"``, ``"json"`` and each table's name).
        """
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise InputError(f"Briefing.write: {out} is a file; give a directory for the briefing.")
        out.mkdir(parents=True, exist_ok=True)
        paths = {"html": out / "briefing.html", "json": out / "briefing.json"}
        paths["html"].write_text(self.html, encoding="utf-8", newline="\n")
        paths["json"].write_text(self.to_json(), encoding="utf-8", newline="\n")
        for name, table in sorted(self.tables.items()):
            path = out / f"{name}.csv"
            table.to_csv(path, index=False, lineterminator="\n")
            paths[name] = path
        return paths

    def _repr_html_(self) -> str:
        # the page is a whole document with its own styles: keep it in a frame of the notebook
        from ._briefing_html import framed

        return framed(self.html, title=self.data.get("title", "briefing"))

    def __repr__(self) -> str:
        week = self.data.get("week", {})
        return (f"Briefing(week={week.get('label')!r}, area={week.get('area_label')!r}, "
                f"tables={sorted(self.tables)})")


def build_briefing(
    incidents: Any,
    *,
    week: str | None = None,
    area_column: str | None = None,
    area: Any = None,
    grid: gpd.GeoDataFrame | None = None,
    cell_size_m: float | None = None,
    model: Any = "best",
    load_report: dict[str, Any] | None = None,
    shifts: Sequence[str] | str = ("06-14", "14-22", "22-06"),
    units: int = 2,
    random_state: int | np.random.Generator | None = 0,
    progress: bool = False,
) -> Briefing:
    """Build the weekly briefing for one week (and one area).

    Parameters
    ----------
    incidents : GeoDataFrame or LoadResult
        Incidents from :func:`intel.read_incidents` (or the :class:`~intel.LoadResult`
        of :func:`intel.load_incidents`, whose report then becomes the data-quality
        section), with at least a year of history before the week for the
        same-week-last-year comparison and the backtest's 52-week baseline.
    week : str, optional
        The ISO week to brief on, e.g. ``"2018-W44"`` (or any date in it). Weeks run
        Monday to Sunday in the incidents' time zone. Default: the last whole week
        in the data (announced and recorded). Everything is computed as of the
        Monday after the week: later incidents are left out.
    area_column, area : optional
        Brief on one area only, e.g. ``area_column="district", area=11``.
    grid : GeoDataFrame, optional
        Cells to analyse (:func:`intel.make_grid`). Default: ``cell_size_m`` squares
        over the area, keeping the cells that held an incident in the 52 weeks to
        the end of the week (so the lake, parks and other empty land do not dilute
        the statistics).
    cell_size_m : float, optional
        Cell size of the default grid; 150 m (about a city block) when omitted.
    model : str or risk model
        ``"best"``: backtest kernel density, prospective hot-spotting and a
        self-exciting point process against the naive baselines over the last 8
        weeks and forecast with the one of highest PAI at 5% of the area (a baseline
        may win). Or a name (``"naive"``, ``"kde"``, ``"stkde"``, ``"prospective"``,
        ``"sepp"``, ``"ksepp"``, ``"gbm"``, ``"ensemble"``: see ``intel forecast
        --help``), or an unfitted model from :mod:`intel.models`.
    load_report : dict, optional
        The load report (``LoadResult.report``); default the one that
        ``incidents.attrs["provenance"]`` carries from loading, if any.
    shifts : sequence of str
        Shifts of the patrol plan, ``"HH-HH"``.
    units : int
        Patrol units per shift in the plan.
    random_state : int, Generator or None
        Seed of every random step (Knox permutations, bootstrap intervals,
        exploration places and visit times). ``None`` draws one and records it.
    progress : bool
        Show a progress bar over the steps (and the backtest's origins) on stderr.

    Returns
    -------
    Briefing
        ``.data`` (JSON-able dict), ``.tables`` (DataFrames), ``.html`` (the page);
        ``.write(out_dir)`` writes them.

    Raises
    ------
    InputError
        The week is outside the data, the area holds no incidents, bad parameters.
    ResolutionError
        Month-resolution data (police.uk): a weekly briefing would invent weeks.

    Warns
    -----
    DataQualityWarning
        Incomplete comparisons, data problems found by the steps; each is also
        listed in ``data["data_quality"]["analysis_warnings"]``.

    See Also
    --------
    intel.compare_periods, intel.score_gistar, intel.classify_emerging,
    intel.knox_test, intel.rolling_backtest, intel.recommend_patrols

    Examples
    --------
    >>> import intel
    >>> incidents = intel.load_sample("chicago_district11")
    >>> burglary = incidents[incidents["category"] == "BURGLARY"]
    >>> briefing = intel.build_briefing(burglary, week="2018-W44", model="naive")
    >>> briefing.data["week"]["label"], briefing.data["week"]["start"][:10]
    ('2018-W44', '2018-10-29')
    >>> sorted(briefing.data)[:4]
    ['counts', 'data_quality', 'emerging', 'forecast']
    >>> paths = briefing.write("out/briefing")  # doctest: +SKIP
    """
    owner = "build_briefing"
    report, incidents = _unpack(incidents, load_report, owner)
    incidents = check_incidents(incidents, owner=owner, need=("occurred_at", "geometry"))
    check_number("cell_size_m", cell_size_m, owner, low=1.0, allow_none=True)
    check_number("units", units, owner, low=1, integer=True)
    if grid is not None and (cell_size_m is not None):
        raise InputError(f"{owner}: give grid= or cell_size_m=, not both (cell_size_m only sizes the default grid).")
    if grid is not None and not isinstance(grid, gpd.GeoDataFrame):
        raise InputError(f"{owner}: grid must be a Grid from intel.make_grid; got {type(grid).__name__}.")
    model_names, chosen_name = _check_model(model, owner)
    from .patrol._common import parse_shifts

    parse_shifts(shifts, owner)  # fail before the long steps, not after them
    automatic: dict[str, Any] = {}
    seed = _seed(random_state, automatic, owner)
    seeds = dict(zip(("knox", "bootstrap", "patrol"), (int(s) for s in np.random.default_rng(seed).integers(0, 2**31 - 1, 3))))

    params = {"week": week, "area_column": area_column, "area": None if area is None else str(area),
              "grid": None if grid is None else f"<GeoDataFrame: {len(grid)} cells>", "cell_size_m": cell_size_m,
              "model": model if isinstance(model, str) else _label(model), "shifts": list(_shift_labels(shifts)),
              "units": units, "random_state": random_state if not isinstance(random_state, np.random.Generator)
              else "Generator"}

    with warnings.catch_warnings(record=True) as caught, Steps(len(STEP_NAMES), desc="briefing", enabled=progress) as steps:
        warnings.simplefilter("always")
        area_data, area_info = _select(incidents, area_column, area, owner)
        # the export as a whole says which weeks it covers: one area can be quiet on the last day
        week_start, week_end, label = _resolve_week(incidents, week, automatic, owner)
        data = filter_incidents(area_data, end=week_end)
        ctx = _Context(source=area_data, data=data, week_start=week_start, week_end=week_end, label=label,
                       seeds=seeds, progress=progress)
        sections: dict[str, Any] = {}
        tables: dict[str, pd.DataFrame] = {}
        records: dict[str, Any] = {}
        maps: dict[str, Any] = {}

        with steps.step("counts"):
            sections["counts"] = _counts(ctx, tables, records)
        with steps.step("grid"):
            ctx.grid = _grid(ctx, grid, cell_size_m, automatic)
            ctx.cells = _cell_info(ctx)
        with steps.step("hot spots"):
            sections["hotspots"], maps["hotspots"] = _hotspots(ctx, tables, records)
        with steps.step("emerging"):
            sections["emerging"], maps["emerging"] = _emerging(ctx, tables, records)
        with steps.step("hour x weekday"):
            sections["hour_weekday"] = _hour_weekday(ctx, tables, records)
        with steps.step("near repeats"):
            sections["near_repeat"], maps["near_repeat"] = _near_repeat(ctx, tables, records, automatic)
        with steps.step("backtest"):
            summary, candidates = _backtest(ctx, model_names, model, tables, records)
        with steps.step("forecast"):
            sections["forecast"], maps["forecast"], forecast = _forecast(ctx, summary, candidates, chosen_name, model,
                                                                          tables, records)
        with steps.step("patrol plan"):
            sections["patrol"], maps["patrol"] = _patrol(ctx, forecast, shifts, units, tables, records)

        messages = _warning_messages(caught)
        sections["data_quality"] = _data_quality(report, incidents, area_data, data, ctx, area_info, messages)
        sections["week"] = _week_section(ctx, area_column, area, data)
        record = make_record(owner, params, automatic=automatic, seed=seed, extra={
            "as_of": week_end, "input": _input_section(report),
            "steps": {name: _strip_versions(r) for name, r in sorted(records.items())},
        })
        sections["provenance"] = record
        payload = _finish_payload(sections)
        with steps.step("page"):
            from ._briefing_html import render

            page = render(payload, maps, _figures(ctx, tables))
    # re-raise what the steps warned, once each, so callers see them as usual
    for category, text in messages:
        warnings.warn(text, category, stacklevel=2)
    for w in caught:
        if not issubclass(w.category, (DataQualityWarning, DeprecationWarning, PendingDeprecationWarning,
                                       FutureWarning, ResourceWarning)) and not w.category.__module__.startswith("tqdm"):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Briefing(data=payload, tables=tables, html=page)


# ---------------------------------------------------------------- set-up


@dataclass
class _Context:
    source: gpd.GeoDataFrame  # the area's incidents, later ones included
    data: gpd.GeoDataFrame  # those before the end of the week
    week_start: pd.Timestamp
    week_end: pd.Timestamp
    label: str
    seeds: dict[str, int]
    progress: bool
    grid: Any = None
    cells: Any = None
    recent: Any = None
    reported: Any = None
    backtest: Any = None
    model_label: str | None = None

    def before(self, weeks: int) -> pd.Timestamp:
        """Midnight ``weeks`` calendar weeks before the end of the week (local wall clock, across DST changes)."""
        from .cube import localize

        return localize(self.week_end.tz_localize(None) - weeks * WEEK, self.week_end.tz)

    def window(self, weeks: int, *, end_weeks_ago: int = 0, data: Any = None) -> gpd.GeoDataFrame:
        """Incidents of the ``weeks`` whole weeks ending ``end_weeks_ago`` weeks before the end of the week."""
        return filter_incidents(self.data if data is None else data, start=self.before(weeks + end_weeks_ago),
                                end=self.before(end_weeks_ago))


def _unpack(incidents: Any, load_report: Any, owner: str) -> tuple[dict[str, Any] | None, Any]:
    from .io import LoadResult

    if isinstance(incidents, LoadResult):
        return (load_report or incidents.report), incidents.incidents
    if load_report is not None and not isinstance(load_report, dict):
        raise InputError(f"{owner}: load_report must be the dict LoadResult.report; got {type(load_report).__name__}.")
    if load_report is None and isinstance(incidents, pd.DataFrame):
        record = incidents.attrs.get("provenance")
        if isinstance(record, dict) and record.get("function") == "load_incidents":
            load_report = record
    return load_report, incidents


def _check_model(model: Any, owner: str) -> tuple[list[str], str | None]:
    """Names to backtest, and the name to forecast with (``None``: choose the best)."""
    from .evaluate import MODEL_NAMES

    if hasattr(model, "fit") and hasattr(model, "get_params"):
        return [], None
    if not isinstance(model, str) or model.strip().lower() not in ("best", *MODEL_NAMES):
        raise InputError(f"The 'model' parameter of {owner} must be 'best', one of "
                         f"{', '.join(repr(n) for n in MODEL_NAMES)} or a model from intel.models. Got {model!r} instead.")
    name = model.strip().lower()
    if name == "best":
        return list(CANDIDATES), None
    return ([] if name == "naive" else [name]), name


def _seed(random_state: Any, automatic: dict[str, Any], owner: str) -> int:
    if random_state is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        automatic["random_state"] = {"value": seed, "rule": "drawn from the operating system; pass it back to rerun"}
        announce("%s: random_state drawn as %d; pass random_state=%d to reproduce this briefing.", owner, seed, seed)
        return seed
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    check_random_state(random_state)
    return int(random_state)


def _shift_labels(shifts: Any) -> list[str]:
    return [s.strip() for s in shifts.split(",")] if isinstance(shifts, str) else [str(s) for s in shifts]


def _select(incidents: gpd.GeoDataFrame, column: str | None, area: Any, owner: str) -> tuple[gpd.GeoDataFrame, dict]:
    from .patrol._risk import _select_area

    if (column is None) != (area is None):
        raise InputError(f"{owner}: give both area_column and area (e.g. area_column='district', area=11), or neither.")
    if len(incidents) == 0:
        raise InputError(f"{owner}: the incidents table is empty.")
    if column is None:
        return incidents, {"column": None, "value": None, "n_before": len(incidents), "n_after": len(incidents)}
    chosen = _select_area(incidents, column, area, owner)
    return chosen, {"column": column, "value": str(area), "n_before": len(incidents), "n_after": len(chosen)}


def _resolve_week(data: gpd.GeoDataFrame, week: Any, automatic: dict[str, Any], owner: str):
    from .cube import localize
    from .temporal import _week_start

    times = data["occurred_at"].dropna()
    if times.empty:
        raise InputError(f"{owner}: no incident has an occurred_at time.")
    tz = times.dt.tz
    first, last = times.min(), times.max()
    last_label, last_start = _last_whole_week(last, tz)
    if week is None:
        start = last_start
        automatic["week"] = {"value": last_label, "rule": "last whole week in the data"}
        announce("%s: week set to %s automatically (the last whole week in the data). Pass week= to choose.",
                 owner, last_label)
    else:
        start = localize(_week_start(week, owner), tz)
    end = localize(start.tz_localize(None) + WEEK, tz)
    label = "%d-W%02d" % start.tz_localize(None).isocalendar()[:2]
    # covered when the data reach from the week's first day into its last day
    if not (first.tz_localize(None) < start.tz_localize(None) + pd.Timedelta(days=1)
            and last.tz_localize(None) >= end.tz_localize(None) - pd.Timedelta(days=1)):
        raise InputError(
            f"{owner}: week {label} ({start:%Y-%m-%d} to {_last_day(end)}) is not covered by the data, which run "
            f"from {first:%Y-%m-%d} to {last:%Y-%m-%d}. Choose a whole week inside them, e.g. week={last_label!r} "
            "(the last whole week)."
        )
    return start, end, label


def _last_day(end: pd.Timestamp) -> Any:
    """The date of the last day before ``end`` (wall-clock: a DST change does not move it)."""
    return (end.tz_localize(None) - pd.Timedelta(days=1)).date()


def _last_whole_week(last: pd.Timestamp, tz: Any) -> tuple[str, pd.Timestamp]:
    from .cube import localize

    day_after = last.tz_localize(None).normalize() + pd.Timedelta(days=1)
    monday = day_after - pd.Timedelta(days=day_after.weekday() + 7 if day_after.weekday() else 7)
    return "%d-W%02d" % monday.isocalendar()[:2], localize(monday, tz)


# ---------------------------------------------------------------- cells


def _grid(ctx: _Context, grid: Any, cell_size_m: float | None, automatic: dict[str, Any]) -> gpd.GeoDataFrame:
    from .grid import assign_cells, count_in_cells, make_grid

    if grid is not None:
        return grid
    year = ctx.window(EMERGING_WEEKS)
    if len(year) == 0:
        raise InputError(f"build_briefing: no incidents in the 52 weeks to the end of {ctx.label} to build a grid on.")
    size = cell_size_m
    if size is None:
        size = DEFAULT_CELL_SIZE_M
        automatic["cell_size_m"] = {"value": size, "rule": "about a city block, the scale of hot spot policing"}
        announce("build_briefing: cell size set to %g m automatically (about a city block). Pass cell_size_m= to choose.",
                 size)
    full = make_grid(year, cell_size_m=size)
    occupied = count_in_cells(assign_cells(year, full), len(full)) > 0
    cells = full.loc[occupied]
    cells.attrs = dict(full.attrs)
    automatic["grid_cells"] = {"value": int(occupied.sum()),
                               "rule": f"cells of {size:g} m holding at least one incident in the 52 weeks to the "
                                       f"end of the week (of {len(full):,} over the extent)"}
    return cells


def _cell_info(ctx: _Context) -> pd.DataFrame:
    """Per cell: its centre in degrees and the place most incidents there name (a block)."""
    from .grid import assign_cells

    grid = ctx.grid
    centres = gpd.GeoSeries(grid.geometry.centroid, crs=grid.crs).to_crs(4326)
    info = pd.DataFrame({"lat": np.round(centres.y.to_numpy(), 5), "lon": np.round(centres.x.to_numpy(), 5)},
                        index=pd.Index(grid.index.astype(str), name="cell_id"))
    column = next((c for c in PLACE_COLUMNS if c in ctx.data.columns), None)
    info["place"] = ""
    if column is not None:
        year = ctx.window(EMERGING_WEEKS)
        pos = assign_cells(year, grid)
        names = year[column].astype("string").str.strip().to_numpy(dtype=object, na_value=None)
        frame = pd.DataFrame({"cell": pos, "place": names})
        frame = frame[(frame["cell"] >= 0) & frame["place"].notna() & (frame["place"] != "")]
        if len(frame):
            counts = frame.groupby(["cell", "place"]).size().reset_index(name="k")
            # most frequent name; ties go to the first alphabetically so reruns agree
            counts = counts.sort_values(["cell", "k", "place"], ascending=[True, False, True], kind="stable")
            top = counts.drop_duplicates("cell")
            values = info["place"].to_numpy(dtype=object)
            values[top["cell"].to_numpy()] = top["place"].to_numpy()
            info["place"] = values
    info.attrs["place_column"] = column
    return info


def _with_cells(table: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    """``table`` (indexed by cell_id) with the cell's centre and place name, as a plain DataFrame."""
    frame = pd.DataFrame(table.drop(columns=[table.geometry.name]) if isinstance(table, gpd.GeoDataFrame) else table)
    frame.index = frame.index.astype(str)
    frame.index.name = "cell_id"
    return frame.join(ctx.cells).reset_index()


# ---------------------------------------------------------------- sections


def _counts(ctx: _Context, tables: dict, records: dict) -> dict[str, Any]:
    from .temporal import build_period_counts, compare_periods

    # the verbs that cut at the week themselves get every incident: a quiet last day must not look like missing data
    table = compare_periods(ctx.source, week=ctx.label)
    records["compare_periods"] = table.attrs["provenance"]
    tables["counts"] = table
    comparisons = [_comparison(row) for row in table.to_dict(orient="records")]
    section: dict[str, Any] = {
        "this_week": comparisons[0]["current"],
        "comparisons": comparisons,
        "method": ("Counts are compared as Poisson counts: z = 2 (sqrt(a) - sqrt(b)) / sqrt(1 + 1/r), where a is "
                   "this period's count, b the baseline per period and r the number of baseline periods; the "
                   "p-value is an exact binomial test. |z| of 2 or more is unusual."),
    }
    if "category" in ctx.data.columns:
        by = compare_periods(ctx.source, week=ctx.label, by="category")
        tables["counts_by_category"] = by
        prior = by.loc[by["comparison"] == "prior_4_weeks"]
        prior = prior.sort_values(["current", "category"], ascending=[False, True], kind="stable")
        section["by_category"] = [
            {"category": r["category"], "this_week": r["current"], "prior_4_weeks_mean": r["baseline"],
             "difference": r["difference"], "z": r["z"], "p_value": r["p_value"], "reading": _reading(r)}
            for r in prior.head(TOP).to_dict(orient="records")
        ]
        notable = prior.loc[(prior["p_value"] < 0.05) & prior["complete"]]
        section["notable_categories"] = [
            {"category": r["category"], "this_week": r["current"], "prior_4_weeks_mean": r["baseline"], "z": r["z"],
             "p_value": r["p_value"], "reading": _reading(r)}
            for r in notable.sort_values(["z", "category"], ascending=[False, True], kind="stable").to_dict(orient="records")
        ]
    first = ctx.data["occurred_at"].min()
    start = max(ctx.before(104), _next_monday(first))
    weekly = build_period_counts(ctx.data, freq="W-MON", by=None, start=start, end=ctx.week_end)
    records["build_period_counts"] = weekly.attrs["provenance"]
    tables["weekly_counts"] = weekly[["period", "n"]]
    section["weekly"] = [{"period": r["period"], "n": r["n"]} for r in weekly.to_dict(orient="records")]
    return section


def _comparison(row: dict[str, Any]) -> dict[str, Any]:
    names = {"prior_4_weeks": "this week vs the prior four weeks (weekly mean)",
             "same_week_last_year": "this week vs the same week last year",
             "year_to_date": "year to date vs the same span last year"}
    out = {k: row[k] for k in ("comparison", "current", "baseline", "baseline_total", "baseline_spans", "difference",
                               "percent_change", "z", "p_value", "complete", "current_start", "current_end",
                               "baseline_start", "baseline_end")}
    out["label"] = names.get(row["comparison"], row["comparison"])
    out["reading"] = _reading(row)
    return out


def _reading(row: dict[str, Any]) -> str:
    if not row.get("complete", True) or not np.isfinite(row["z"]):
        return "not comparable (the data do not cover the baseline)"
    if row["p_value"] < 0.05 and abs(row["z"]) >= 1.96:
        return "higher than usual" if row["z"] > 0 else "lower than usual"
    return "within the usual range"


def _hotspots(ctx: _Context, tables: dict, records: dict) -> tuple[dict[str, Any], Any]:
    from .density import score_counts
    from .stats import concentration, score_gistar

    recent = ctx.window(RECENT_WEEKS)
    before = ctx.window(RECENT_WEEKS, end_weeks_ago=RECENT_WEEKS)
    week = filter_incidents(ctx.data, start=ctx.week_start, end=ctx.week_end)
    if len(recent) == 0:
        raise InputError(f"build_briefing: no incidents in the {RECENT_WEEKS} weeks to the end of {ctx.label}.")
    scores = score_gistar(recent, ctx.grid)
    records["score_gistar"] = scores.attrs["provenance"]
    n_before = score_counts(before, ctx.grid)["n"].to_numpy() if len(before) else np.zeros(len(ctx.grid))
    n_week = score_counts(week, ctx.grid)["n"].to_numpy() if len(week) else np.zeros(len(ctx.grid))
    scores["n_week"] = n_week
    scores["n_before"] = n_before
    scores["rank"] = _rank(scores["n"].to_numpy())
    previous = _rank(n_before)
    scores["previous_rank"] = np.where(n_before > 0, previous, np.nan)
    scores["rank_change"] = scores["previous_rank"] - scores["rank"]
    ctx.recent = scores
    table = _with_cells(scores[["n", "n_week", "n_before", "rank", "previous_rank", "rank_change", "gi_star", "p_adj",
                                "hotspot_class", scores.geometry.name]], ctx)
    order = np.lexsort((np.arange(len(table)), -table["gi_star"].fillna(0).to_numpy(), -table["n"].to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    busy = table.loc[table["n"] > 0]
    tables["hotspots"] = busy
    conc = concentration(scores, shares=(0.01, 0.05, 0.1))
    classes = scores["hotspot_class"].astype(str).value_counts()
    top = busy.head(TOP)
    section = {
        "window": {"start": ctx.before(RECENT_WEEKS), "end": ctx.week_end, "weeks": RECENT_WEEKS},
        "previous_window": {"start": ctx.before(2 * RECENT_WEEKS), "end": ctx.before(RECENT_WEEKS)},
        "n_incidents": int(round(float(scores["n"].sum()))),
        "n_cells": len(scores),
        "classes": {str(k): int(v) for k, v in classes.items() if v},
        "concentration": [{"share_of_cells": r["share_of_cells"], "n_cells": r["n_cells"],
                           "share_of_incidents": r["share_of_incidents"]} for r in conc.to_dict(orient="records")],
        "gini": conc.attrs.get("gini"),
        "top": [_row(r, ("cell_id", "place", "lat", "lon", "n", "n_week", "n_before", "rank", "previous_rank",
                         "rank_change", "gi_star", "hotspot_class")) for r in top.to_dict(orient="records")],
        "method": (f"Incidents in the last {RECENT_WEEKS} weeks counted per cell; cells ranked by count (1 = busiest) and "
                   f"compared with their rank in the {RECENT_WEEKS} weeks before. Hot spots are Getis-Ord Gi* z-scores "
                   "of each cell and its neighbours, significant after the Benjamini-Hochberg correction."),
    }
    marked = (scores["hotspot_class"].astype(str) != "not significant").to_numpy()
    shown = scores.loc[(scores["n"] > 0).to_numpy() | marked]
    shown, note = _limit_cells(shown, lambda f: f["hotspot_class"].astype(str) != "not significant", "n")
    section["map_note"] = note
    return section, ("map_hotspots", shown, {"title": f"Gi* hot spots, last {RECENT_WEEKS} weeks"})


def _rank(values: np.ndarray) -> np.ndarray:
    # competition ranking: equal counts share a rank, as analysts read league tables
    return pd.Series(-values).rank(method="min").to_numpy()


def _limit_cells(frame: gpd.GeoDataFrame, keep, by: str, most: int = 2500) -> tuple[gpd.GeoDataFrame, str | None]:
    """Keep a city-wide map light: the cells ``keep`` marks plus the busiest others, ``most`` in all."""
    if len(frame) <= most:
        return frame, None
    marked = keep(frame).to_numpy(bool)
    others = frame.loc[~marked]
    room = max(most - int(marked.sum()), 0)
    order = np.lexsort((np.arange(len(others)), -others[by].to_numpy(np.float64)))
    chosen = np.zeros(len(frame), dtype=bool)
    chosen[np.flatnonzero(marked)] = True
    chosen[np.flatnonzero(~marked)[order[:room]]] = True
    note = f"The map shows {int(chosen.sum()):,} of {len(frame):,} cells (the marked cells and the busiest others)."
    return frame.loc[chosen], note


def _emerging(ctx: _Context, tables: dict, records: dict) -> tuple[dict[str, Any], Any]:
    from .cube import build_cube
    from .emerging import CATEGORIES, classify_emerging

    start = max(ctx.before(EMERGING_WEEKS), _next_monday(ctx.data["occurred_at"].min()))
    n_periods = int(round((ctx.week_end - start) / WEEK))
    if n_periods < 3:
        return {"available": False, "note": f"Only {n_periods} whole weeks of data before the end of the week: "
                                            "emerging hot spots need at least 3 (ideally 52)."}, None
    cube = build_cube(ctx.data, ctx.grid, freq="W-MON", start=start, end=ctx.week_end)
    scores = classify_emerging(cube, ctx.grid)
    records["build_cube"] = cube.attrs["provenance"]
    records["classify_emerging"] = scores.attrs["provenance"]
    priority = {label: i for i, label in enumerate(CATEGORIES)}
    table = _with_cells(scores[["n", "hotspot_class", "trend_z", "trend_p", "hot_share", "cold_share", "last_z",
                                scores.geometry.name]], ctx)
    table = table.loc[table["hotspot_class"] != "no pattern detected"]
    table = table.assign(_p=table["hotspot_class"].map(priority)).sort_values(
        ["_p", "n", "cell_id"], ascending=[True, False, True], kind="stable").drop(columns="_p").reset_index(drop=True)
    tables["emerging"] = table
    hot = table.loc[table["hotspot_class"].str.endswith("hot spot")]
    counts = scores["hotspot_class"].astype(str).value_counts()
    section = {
        "available": True,
        "window": {"start": start, "end": ctx.week_end, "weeks": n_periods},
        "categories": {label: int(counts.get(label, 0)) for label in CATEGORIES},
        "top": [_row(r, ("cell_id", "place", "lat", "lon", "hotspot_class", "n", "trend_z", "hot_share"))
                for r in hot.head(TOP).to_dict(orient="records")],
        "method": ("Weekly counts per cell over the window; a space-time Gi* in every cell and week, then a "
                   "Mann-Kendall trend test on each cell's z-scores, classed with ArcGIS Pro's emerging hot spot "
                   "categories (new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, "
                   "historical)."),
    }
    if len(table) == 0:
        return section, None
    shown = scores.loc[(scores["hotspot_class"].astype(str) != "no pattern detected").to_numpy()]
    shown, note = _limit_cells(shown, lambda f: ~f["hotspot_class"].astype(str).str.startswith("sporadic"), "n")
    section["map_note"] = note
    return section, ("map_emerging", shown, {"title": f"Emerging hot spots, {n_periods} weeks"})


def _hour_weekday(ctx: _Context, tables: dict, records: dict) -> dict[str, Any]:
    from .temporal import build_hour_weekday

    window = ctx.window(PROFILE_WEEKS)
    if len(window) == 0:
        return {"available": False, "note": f"No incidents in the last {PROFILE_WEEKS} weeks."}
    table = build_hour_weekday(window)
    records["build_hour_weekday"] = table.attrs["provenance"]
    out = table.copy()
    out.columns = [f"h{int(h):02d}" for h in out.columns]
    tables["hour_weekday"] = out.reset_index()
    values = table.to_numpy()
    day, hour = np.unravel_index(int(np.argmax(values)), values.shape)
    by_day = values.sum(axis=1)
    by_hour = values.sum(axis=0)
    return {
        "available": True,
        "window": {"start": ctx.before(PROFILE_WEEKS), "end": ctx.week_end, "weeks": PROFILE_WEEKS},
        "weekdays": list(table.index),
        "table": values.round(3).tolist(),
        "peak": {"weekday": table.index[day], "hour": int(hour), "n": float(values[day, hour])},
        "busiest_day": table.index[int(np.argmax(by_day))],
        "busiest_hours": [int(h) for h in np.argsort(-by_hour, kind="stable")[:3]],
        "method": ("Incidents by local hour and weekday; an incident known only to a time window is spread over "
                   "the hours it covers (aoristic)."),
    }


def _near_repeat(ctx: _Context, tables: dict, records: dict, automatic: dict) -> tuple[dict[str, Any], Any]:
    from .nearrepeat import active_alert_zones, knox_test

    data, categories = _near_repeat_data(ctx.data, automatic)
    section: dict[str, Any] = {"categories": categories, **NEAR_REPEAT,
                               "method": ("Knox test: pairs of incidents close in space and time, against 99 random "
                                          "reshuffles of the dates; a ratio above 1 that is significant means "
                                          "incidents follow one another nearby more than chance allows. Alert zones: "
                                          f"{NEAR_REPEAT['distance_m']:g} m around each incident of the last "
                                          f"{NEAR_REPEAT['days']:g} days, merged where they overlap.")}
    weeks = KNOX_WEEKS
    window = ctx.window(weeks, data=data)
    while len(window) > KNOX_MAX_EVENTS and weeks > 4:
        weeks //= 2
        window = ctx.window(weeks, data=data)
    section["knox_window"] = {"start": ctx.before(weeks), "end": ctx.week_end, "weeks": weeks,
                              "n_events": len(window)}
    if weeks != KNOX_WEEKS:
        automatic["knox_weeks"] = {"value": weeks, "rule": f"halved from {KNOX_WEEKS} until at most "
                                                           f"{KNOX_MAX_EVENTS:,} incidents"}
    if len(window) >= 20:
        knox = knox_test(window, permutations=99, random_state=ctx.seeds["knox"])
        records["knox_test"] = knox.attrs["provenance"]
        tables["knox"] = knox
        cols = ("distance_band", "time_band", "observed", "expected", "knox_ratio", "p_value", "significant")
        section["knox"] = [_row(r, cols) for r in knox.to_dict(orient="records")]
        close = knox.loc[(knox["distance_from_m"] < NEAR_REPEAT["distance_m"]) & (knox["days_to"] <= NEAR_REPEAT["days"])
                         & knox["significant"] & (knox["knox_ratio"] > 1)]
        section["pattern"] = bool(len(close))
        section["strongest"] = (_row(close.sort_values(["knox_ratio"], ascending=False, kind="stable").iloc[0].to_dict(),
                                     cols) if len(close) else None)
    else:
        section["knox"] = []
        section["pattern"] = None
        section["strongest"] = None
        section["knox_note"] = f"Only {len(window)} incidents in the window: too few for a Knox test (20 or more)."
    zones = active_alert_zones(data, as_of=ctx.week_end, **NEAR_REPEAT)
    records["active_alert_zones"] = zones.attrs.get("provenance", {})
    centres = gpd.GeoSeries(zones.geometry.centroid, crs=zones.crs).to_crs(4326)
    zone_table = pd.DataFrame(zones.drop(columns=zones.geometry.name)).assign(
        lat=np.round(centres.y.to_numpy(), 5), lon=np.round(centres.x.to_numpy(), 5))
    zone_table["place"] = _zone_places(zones, data, ctx)
    zone_table = zone_table.sort_values(["n", "last_at", "zone_id"], ascending=[False, False, True], kind="stable")
    zone_table = zone_table.reset_index(drop=True)
    tables["alert_zones"] = zone_table
    section["as_of"] = ctx.week_end
    section["n_zones"] = len(zone_table)
    section["zones"] = [_row(r, ("zone_id", "n", "first_at", "last_at", "expires_at", "categories", "place", "lat", "lon"))
                        for r in zone_table.head(TOP + 5).to_dict(orient="records")]
    if len(zones) == 0:
        return section, None
    shown = zones.assign(zone_id=zones["zone_id"].astype(str))
    return section, ("map_scores", shown, {"column": "n", "k": 3, "title": "Active near-repeat alert zones",
                                            "popup_columns": ["zone_id", "n", "last_at", "expires_at", "categories"]})


def _near_repeat_data(data: gpd.GeoDataFrame, automatic: dict) -> tuple[gpd.GeoDataFrame, list[str] | None]:
    """Burglaries when the data hold any (the offence near repeats are best known for), else everything."""
    if "category" not in data.columns:
        return data, None
    labels = data["category"].astype("string")
    mask = labels.str.contains("burglary", case=False, regex=False).fillna(False).to_numpy(bool)
    every = sorted(set(labels.dropna()))
    if mask.any() and not mask.all():
        chosen = sorted(set(labels[mask].dropna()))
        automatic["near_repeat_categories"] = {"value": chosen,
                                               "rule": "burglary categories, the offence near repeats are best known for"}
        return data.loc[mask], chosen
    return data, every if len(every) <= 5 else None


def _zone_places(zones: gpd.GeoDataFrame, data: gpd.GeoDataFrame, ctx: _Context) -> list[str]:
    column = ctx.cells.attrs.get("place_column")
    if column is None or len(zones) == 0:
        return [""] * len(zones)
    names = dict(zip(data["incident_id"].astype(str), data[column].astype("string").fillna("")))
    out = []
    for ids in zones["incident_ids"].astype(str):
        found = sorted(names.get(i, "") for i in ids.split(",") if names.get(i, ""))
        out.append(pd.Series(found).mode().iloc[0] if found else "")
    return out


def _backtest(ctx: _Context, names: list[str], model: Any, tables: dict, records: dict):
    from .evaluate import models_from_names, rolling_backtest, summarize_backtest

    candidates = {_label(model): model} if not names and not isinstance(model, str) else (
        models_from_names(names) if names else {})
    data = _reported(ctx)
    results = rolling_backtest(data, candidates, grid=ctx.grid, start=ctx.before(BACKTEST_WEEKS),
                               end=ctx.week_end, coverages=COVERAGES, errors="warn", progress=ctx.progress)
    summary = summarize_backtest(results, n_boot=1000, random_state=ctx.seeds["bootstrap"])
    records["rolling_backtest"] = results.attrs["provenance"]
    records["summarize_backtest"] = summary.attrs["provenance"]
    tables["backtest"] = summary
    ctx.backtest = results
    return summary, candidates


def _reported(ctx: _Context) -> gpd.GeoDataFrame:
    from .patrol import reported_only

    if ctx.reported is None:
        # incidents police discover themselves follow patrols: a forecast that steers patrols leaves them out
        # rolling_backtest and fit never hand a model an incident from its origin on: they can have them all
        ctx.reported = reported_only(ctx.source)
    return ctx.reported


def _forecast(ctx: _Context, summary: pd.DataFrame, candidates: dict, name: str | None, model: Any,
              tables: dict, records: dict):
    from sklearn.base import clone

    from .evaluate import BASELINE_REFERENCE, build_model_card, models_from_names

    at = summary.loc[np.isclose(summary["coverage"], SELECTION_COVERAGE)]
    if name is None and isinstance(model, str):
        # The 52-week count is the yardstick; a model replaces it only where it demonstrably does better
        # (paired bootstrap interval of the PAI difference above zero), then the highest mean PAI wins.
        better = at.loc[(at["vs_reference"] == "better").to_numpy() & np.isfinite(at["pai"].to_numpy(np.float64))]
        label = (str(better.iloc[int(np.argmax(better["pai"].to_numpy(np.float64)))]["model"]) if len(better)
                 else BASELINE_REFERENCE)
        from .evaluate import naive_baselines

        chosen = {**naive_baselines(), **candidates}[label]
        selection = {"rule": f"the 52-week count unless a model beat it at {SELECTION_COVERAGE:.0%} of the area over "
                             f"the {BACKTEST_WEEKS} backtest weeks (PAI, paired bootstrap interval above zero); then "
                             "the highest mean PAI. Compared: " + ", ".join(candidates),
                     "candidates": list(dict.fromkeys(at["model"])),
                     "better_than_reference": [str(m) for m in better["model"]]}
    elif name is not None:
        pool = models_from_names([name])
        chosen = pool.get(BASELINE_REFERENCE) if name == "naive" else next(iter(pool.values()))
        label = _label(chosen)
        selection = {"rule": f"named by the user ({name})", "candidates": [label]}
    else:
        chosen, label = model, _label(model)
        selection = {"rule": "given by the user", "candidates": [label]}
    data = _reported(ctx)
    fitted = clone(chosen).fit(data, grid=ctx.grid, origin=ctx.week_end)
    scores = fitted.predict(horizon="7D")
    records["forecast"] = scores.attrs["provenance"]
    ctx.model_label = label
    notes = []
    if name is None and isinstance(model, str) and label != BASELINE_REFERENCE:
        notes.append("Chosen as the best of several models on the same backtest that measures it, so the accuracy "
                     "shown is slightly optimistic.")
    notes.append(f"The backtest covers only {BACKTEST_WEEKS} weekly origins: its intervals are wide.")
    card = build_model_card(fitted, summary, incidents=data, grid=ctx.grid, horizon="7D", label=label, notes=notes)
    recent_n = ctx.recent["n"].to_numpy() if ctx.recent is not None else np.zeros(len(scores))
    scores["n_recent"] = recent_n
    table = _with_cells(scores[["risk", "rank", "n_recent", scores.geometry.name]], ctx)
    table = table.sort_values(["rank"], kind="stable").reset_index(drop=True)
    tables["forecast"] = table.loc[table["risk"] > 0]
    own = summary.loc[summary["model"] == label]
    rows = summary.loc[summary["model"].isin([label, *_baseline_labels()])
                       & np.isin(np.round(summary["coverage"].to_numpy(np.float64), 6), TABLE_COVERAGES)]
    section = {
        "model": label,
        "selection": selection,
        "origin": ctx.week_end,
        "horizon": "7D",
        "period": {"start": ctx.week_end, "end": ctx.before(-1)},
        "expected_total": float(scores["risk"].sum()),
        "top": [_row(r, ("cell_id", "place", "lat", "lon", "rank", "risk", "n_recent"))
                for r in table.head(TOP).to_dict(orient="records")],
        "backtest": {
            "n_origins": int(records["rolling_backtest"].get("n_origins", 0)),
            "first_origin": records["rolling_backtest"].get("first_origin"),
            "last_origin": records["rolling_backtest"].get("last_origin"),
            "reference": summary.attrs.get("reference"),
            "interval": records["summarize_backtest"].get("interval"),
            "verdict": {f"{c:.0%}": v for c, v in zip(own["coverage"], own["vs_reference"])},
            "rows": [_row(r, ("model", "coverage", "hit_rate", "hit_rate_lo", "hit_rate_hi", "pai", "pai_lo", "pai_hi",
                              "pei", "vs_reference", "n_origins"))
                     for r in rows.sort_values(["coverage"], kind="stable").to_dict(orient="records")],
            "measures": {"hit_rate": "share of next week's incidents that fell in the cells flagged",
                         "pai": "hit rate / share of the area flagged (1 = no better than chance)",
                         "pei": "hit rate / the best hit rate possible with that area (1 = perfect)"},
        },
        "model_card": card,
        "limits": card.get("known_limits", []),
        "out_of_scope": card.get("out_of_scope", []),
    }
    shown = scores.loc[(scores["rank"] <= max(1, int(np.ceil(SELECTION_COVERAGE * len(scores))))).to_numpy()
                       & (scores["risk"] > 0).to_numpy()]
    section["map_note"] = (f"The map shows the {len(shown):,} highest-risk cells ({SELECTION_COVERAGE:.0%} of the "
                           "cells), where the backtest measures the hit rate.")
    spec = ("map_scores", shown, {"column": "risk", "title": "Expected incidents next week (top 5% of cells)"}) \
        if len(shown) else None
    return section, spec, scores


def _baseline_labels() -> list[str]:
    from .evaluate import naive_baselines

    return list(naive_baselines())


def _patrol(ctx: _Context, forecast: gpd.GeoDataFrame, shifts: Any, units: int, tables: dict,
            records: dict) -> tuple[dict[str, Any], Any]:
    from .grid import assign_cells
    from .patrol import recommend_patrols
    from .patrol._common import parse_shifts
    from .patrol._risk import _shift_shares

    owner = "build_briefing"
    shift_list = parse_shifts(shifts, owner)
    data = _reported(ctx)
    scores = forecast[["risk", "rank", forecast.geometry.name]].copy()
    year = ctx.window(EMERGING_WEEKS, data=data)  # window() ends at the week's end
    shares, profile = _shift_shares(year, assign_cells(year, scores), len(scores), shift_list)
    for k, s in enumerate(shift_list):
        scores[s.column] = scores["risk"].to_numpy() * shares[:, k]
    if ctx.recent is not None:
        scores["n"] = ctx.recent["n"].to_numpy()
        scores["hotspot_class"] = ctx.recent["hotspot_class"].to_numpy()
    scores.attrs = {"grid": dict(ctx.grid.attrs.get("grid", {})), "detection": data.attrs.get("detection")}
    plan = recommend_patrols(scores, shifts=[s.label for s in shift_list], units=units,
                             date=ctx.week_end.date(), random_state=ctx.seeds["patrol"])
    records["recommend_patrols"] = plan.attrs["provenance"]
    frame = pd.DataFrame(plan.drop(columns=plan.geometry.name))
    centres = gpd.GeoSeries(plan.geometry.representative_point(), crs=plan.crs).to_crs(4326)
    frame["lat"] = np.round(centres.y.to_numpy(), 5)
    frame["lon"] = np.round(centres.x.to_numpy(), 5)
    places = ctx.cells["place"]
    frame["place"] = [places.get(str(ids[0]), "") if len(ids) else "" for ids in frame["cell_ids"]]
    for column in ("cell_ids", "visit_times"):
        frame[column] = [", ".join(map(str, v)) for v in frame[column]]
    tables["patrol"] = frame
    cols = ("shift", "place_id", "unit", "selection", "minutes", "visits", "visit_times", "expected_share", "risk",
            "reason", "place", "lat", "lon", "cell_ids")
    section = {
        "date": ctx.week_end.date(),
        "units": units,
        "shifts": plan.attrs.get("shifts", []),
        "shift_profile": {s.label: float(v) for s, v in zip(shift_list, profile)},
        "safeguards": plan.attrs.get("safeguards", {}),
        "places": [_row(r, cols) for r in frame.to_dict(orient="records")],
        "method": ("Next week's risk per cell, split across shifts by each cell's hour-of-day profile over the last "
                   "52 weeks (shrunk toward the area's profile); compact places of high-risk cells get short visits "
                   "(Koper: 15 minutes, about every two hours) at random times; some places are drawn at random "
                   "(exploration) so that data keep coming from everywhere."),
    }
    if len(plan) == 0:
        return section, None
    return section, ("map_patrols", plan, {})


# ---------------------------------------------------------------- data quality and provenance


def _data_quality(report: dict | None, incidents: gpd.GeoDataFrame, area_data: gpd.GeoDataFrame,
                  data: gpd.GeoDataFrame, ctx: _Context, area: dict, messages: list) -> dict[str, Any]:
    from .grid import assign_cells

    inside = int((assign_cells(data, ctx.grid) >= 0).sum())
    section: dict[str, Any] = {
        "n_incidents_given": len(incidents),
        "area": area,
        "n_after_week": int(len(area_data) - len(data) - int(area_data["occurred_at"].isna().sum())),
        "n_without_time": int(area_data["occurred_at"].isna().sum()),
        "n_analysed": len(data),
        "n_outside_grid": len(data) - inside,
        "first": data["occurred_at"].min(),
        "last": data["occurred_at"].max(),
        "analysis_warnings": [text for _, text in messages],
    }
    if report is None:
        section["load_report"] = None
        section["note"] = ("No load report: pass the LoadResult of intel.load_incidents (or load_report=) to show "
                           "the rows read, kept and set aside.")
        return section
    keys = ("n_read", "n_kept", "n_quarantined", "quarantine_reasons", "warnings", "dropped_columns",
            "kept_personal_columns", "geocoded_share", "time_resolution", "schema", "tz", "crs", "dst",
            "synthetic_ids")
    section["load_report"] = {k: report.get(k) for k in keys if k in report}
    return section


def _input_section(report: dict | None) -> dict[str, Any]:
    if report is None:
        return {"files": None, "sha256": None, "note": "no load report given"}
    files = report.get("files") or ([report["source"]] if report.get("source") else [])
    sha = report.get("sha256")
    return {"files": [Path(str(f)).name for f in files], "sha256": sha if isinstance(sha, list) else [sha],
            "schema": report.get("schema")}


def _strip_versions(record: Any) -> Any:
    if not isinstance(record, dict):
        return record
    # one set of versions at the top of the record is enough
    return {k: v for k, v in record.items() if k not in ("versions",)}


def _warning_messages(caught: list) -> list[tuple[type, str]]:
    """intel's warnings about the data, once each, in the order raised.

    Others (deprecations, a progress bar missing its notebook widget) say something about the
    environment, not the data: they would make the same briefing differ between machines.
    """
    seen: dict[str, type] = {}
    for w in caught:
        if issubclass(w.category, DataQualityWarning):
            seen.setdefault(str(w.message), w.category)
    return [(category, text) for text, category in seen.items()]


def _week_section(ctx: _Context, column: str | None, area: Any, data: gpd.GeoDataFrame) -> dict[str, Any]:
    area_label = f"{column.replace('_', ' ')} {area}" if column is not None else "all areas"
    last_day = _last_day(ctx.week_end)
    return {
        "label": ctx.label,
        "start": ctx.week_start,
        "end": ctx.week_end,
        "last_day": last_day,
        "as_of": ctx.week_end,
        "tz": str(data["occurred_at"].dt.tz),
        "area_column": column,
        "area": None if area is None else str(area),
        "area_label": area_label,
        "range": f"{ctx.week_start:%d %b %Y} to {last_day:%d %b %Y}",
    }


def _finish_payload(sections: dict[str, Any]) -> dict[str, Any]:
    from . import __version__

    week = sections["week"]
    payload = {
        "title": f"Weekly briefing: {week['area_label']}, week {week['label']} ({week['range']})",
        "intel_version": __version__,
        "highlights": _highlights(sections),
        **sections,
    }
    return _tidy(jsonable(payload))


def _highlights(s: dict[str, Any]) -> list[str]:
    """A few plain sentences for the top of the page."""
    out = []
    c = s["counts"]["comparisons"]
    prior, last_year = c[0], c[1]
    out.append(f"{_n(prior['current'])} incidents this week: {prior['reading']} against the prior four weeks "
               f"({_n(prior['baseline'])} a week, z = {_z(prior['z'])}) and {last_year['reading']} against the same "
               f"week last year ({_n(last_year['baseline'])}).")
    for cat in s["counts"].get("notable_categories", [])[:3]:
        out.append(f"{cat['category'].title()}: {_n(cat['this_week'])} this week against {_n(cat['prior_4_weeks_mean'])} "
                   f"a week before ({cat['reading']}, z = {_z(cat['z'])}).")
    top = s["hotspots"]["top"]
    if top:
        t = top[0]
        where = f" ({t['place']})" if t.get("place") else ""
        out.append(f"Busiest cell of the last {RECENT_WEEKS} weeks: {t['cell_id']}{where}, {_n(t['n'])} incidents "
                   f"(Gi*: {t['hotspot_class']}).")
    em = s["emerging"]
    if em.get("available"):
        cats = em["categories"]
        new = cats.get("new hot spot", 0) + cats.get("consecutive hot spot", 0)
        grow = cats.get("intensifying hot spot", 0)
        out.append(f"{new} new or consecutive and {grow} intensifying hot spot cells over the last "
                   f"{em['window']['weeks']} weeks.")
    nr = s["near_repeat"]
    what = ", ".join(c.lower() for c in nr["categories"]) if nr.get("categories") else "incidents"
    out.append(f"{nr['n_zones']} near-repeat alert zone(s) active for {what}"
               + (" (the Knox test confirms a near-repeat pattern)." if nr.get("pattern") else "."))
    f = s["forecast"]
    own = [r for r in f["backtest"]["rows"] if r["model"] == f["model"] and abs(r["coverage"] - SELECTION_COVERAGE) < 1e-9]
    caught = (f" In the backtest its top {SELECTION_COVERAGE:.0%} of cells caught {own[0]['hit_rate']:.0%} of the next "
              f"week's incidents (PAI {own[0]['pai']:.1f})" if own and np.isfinite(own[0].get("hit_rate") or np.nan) else "")
    if f["model"] == f["backtest"]["reference"]:
        out.append(f"Forecast for next week: {_n(f['expected_total'])} incidents expected, by the 52-week count "
                   f"(no other model beat it in the backtest).{caught}.")
    else:
        verdict = f["backtest"]["verdict"].get(f"{SELECTION_COVERAGE:.0%}", "not compared")
        out.append(f"Forecast for next week by {f['model']}: {_n(f['expected_total'])} incidents expected.{caught}; "
                   f"against the 52-week count: {verdict}.")
    return out


def _n(v: Any) -> str:
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.1f}"


def _z(v: Any) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{float(v):+.1f}"


def _tidy(value: Any) -> Any:
    """Floats to 6 significant digits: readable JSON, and last-bit noise cannot leak into reruns."""
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, float):
        if not np.isfinite(value):
            return None
        return float(f"{value:.6g}")
    return value


def _row(record: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {c: record.get(c) for c in columns if c in record}


def _label(model: Any) -> str:
    from .evaluate import model_label

    return model_label(model)


def _next_monday(ts: pd.Timestamp) -> pd.Timestamp:
    """Midnight of the first Monday on or after ``ts``'s day (local time)."""
    from .cube import localize

    naive = ts.tz_localize(None)
    day = naive.normalize()
    if naive != day or day.weekday() != 0:
        day = day + pd.Timedelta(days=7 - day.weekday())
    return localize(day, ts.tz)


def _figures(ctx: _Context, tables: dict) -> dict[str, str]:
    """Static figures as ``<img>`` tags with their data inline; none when intel.plots is not available."""
    try:
        from . import plots
        from ._render import fig_to_html
    except ImportError:
        return {}
    import matplotlib.pyplot as plt

    figures: dict[str, str] = {}
    makers = {"trend": lambda: plots.plot_trend(tables["weekly_counts"].set_index("period")["n"],
                                                title="Incidents per week")}
    if ctx.backtest is not None and ctx.model_label is not None:
        shown = [ctx.model_label, *(b for b in _baseline_labels() if b != ctx.model_label)]
        results = ctx.backtest.loc[ctx.backtest["model"].isin(shown)]
        makers["capture"] = lambda: plots.plot_capture_curve(results, metric="hit_rate",
                                                             title="Backtest: incidents caught by share of area flagged")
    for name, make in makers.items():
        try:
            fig = make()
        except Exception:  # noqa: BLE001 - a figure must never cost the briefing
            continue
        figures[name] = fig_to_html(fig, alt=f"{name} figure", dpi=110)
        plt.close(fig)
    return figures
