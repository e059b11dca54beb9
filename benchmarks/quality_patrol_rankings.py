"""Could a better ranking of cells beat last year's top cells for district patrols? Count-based rankings.

    .venv/bin/python benchmarks/quality_patrol_rankings.py

The patrol quality bar (``quality_patrol.py``) finds intel's plan without its exploration
safeguard level with the top cells of the last 365 days, and the safeguard costing about 5%
of PAI. This script asks whether any simple count-based ranking of cells would open a gap
large enough to pay for the safeguard: longer windows, exponential decay with half-lives
from 60 to 730 days, a recent-month boost, and smoothing toward the neighbouring cells.

Same data and scoring as ``quality_patrol.py``: Chicago district 11 (shared data,
2013-2018 files), reported incidents only, 150 m cells that held an incident before the
origin, next week's incidents scored per shift (06-14, 14-22, 22-06), the same 9 cells in
every shift (about the area an intel plan patrols), PAI as in ``quality_patrol.pai_of``.
Every ranking is compared with the 365-day count per origin (paired 95% bootstrap over
origins) on the selection weeks (52 from 2016-11-14) and, separately, on the report weeks
(52 from 2017-11-13): a ranking that wins on the first but not the second won by chance.

Writes benchmarks/results/quality_patrol_rankings.json.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import quality_patrol as q  # noqa: E402

import intel  # noqa: E402
from intel._weights import cell_neighbours  # noqa: E402
from intel.grid import assign_cells  # noqa: E402
from intel.patrol._common import parse_shifts  # noqa: E402

N_CELLS = 9
HALF_LIVES = (60, 90, 120, 180, 270, 365, 730)


def rankings(pos: np.ndarray, age: np.ndarray, n_cells: int, queen) -> dict[str, np.ndarray]:
    """Scores per cell from the incidents before the origin (``age`` in days, > 0), and their count over
    all the past under ``"all past"``; ``queen`` is the grid's queen contiguity (sparse)."""
    past = (age > 0) & (pos >= 0)

    def count(days: float, half_life: float | None = None) -> np.ndarray:
        m = past & (age <= days)
        w = None if half_life is None else np.exp(-np.log(2.0) * age[m] / half_life)
        return np.bincount(pos[m], weights=w, minlength=n_cells).astype(np.float64)

    year = count(365)
    out = {"365 days": year, "730 days": count(730), "1095 days": count(1095)}
    for hl in HALF_LIVES:
        out[f"1095 days, half-life {hl} d"] = count(1095, hl)
    out["730 days, half-life 180 d"] = count(730, 180)
    out["730 days, half-life 120 d"] = count(730, 120)
    out["365 days, half-life 180 d"] = count(365, 180)
    out["365-day rate + 0.5 x 28-day rate"] = year / 365 + 0.5 * count(28) / 28
    out["365 days + 0.1 x neighbours"] = year + 0.1 * (queen @ year)
    two = out["730 days"]
    out["730 days + 0.1 x neighbours"] = two + 0.1 * (queen @ two)
    out["all past"] = count(np.inf)
    return out


def run_period(data: pd.DataFrame, grid, pos: np.ndarray, queen, start: str) -> pd.DataFrame:
    shifts = parse_shifts(q.SHIFTS, "bench")
    times = data["occurred_at"]
    ids = np.asarray(grid.index)
    rows = []
    for o in pd.date_range(start, periods=q.N_ORIGINS, freq="7D"):
        origin = pd.Timestamp(str(o.date()), tz=times.dt.tz)
        week = data[(times >= origin) & (times < origin + pd.Timedelta(days=7))]
        age = ((origin - times).dt.total_seconds() / 86400.0).to_numpy()
        ranks = rankings(pos, age, len(grid), queen)
        # as build_patrol_scores does: only cells that held an incident before the origin
        active = ranks.pop("all past") > 0
        area = grid.loc[active]
        row = {"origin": str(o.date())}
        for name, v in ranks.items():
            order = np.argsort(-v[active], kind="stable")[:N_CELLS]
            cells = set(ids[active][order])
            row[name] = q.pai_of({s.label: cells for s in shifts}, week, area, shifts)[0]
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        incidents, _, source = q.load(False)
    data = q.reported(incidents).reset_index(drop=True)
    grid = intel.make_grid(data, cell_size_m=q.CELL_M)
    pos = assign_cells(data, grid)
    queen = cell_neighbours(grid, "queen")
    out = {"data": source, "cells_per_shift": N_CELLS, "reference": "365 days", "periods": {}}
    for label, start in (("selection", q.SELECTION_START), ("report", q.REPORT_START)):
        table = run_period(data, grid, pos, queen, start)
        rows = {}
        for name in table.columns.drop("origin"):
            rows[name] = {"mean_pai": float(table[name].mean()), "minus_365_days": q.paired(table[name], table["365 days"])}
        out["periods"][label] = {"first_origin": table["origin"].iloc[0], "n_origins": len(table), "rankings": rows}
    out["seconds"] = time.perf_counter() - t0
    print(f"{'ranking':36s} {'selection':>30s} {'report':>30s}")
    for name in out["periods"]["selection"]["rankings"]:
        cells = [q._ci(out["periods"][label]["rankings"][name]["minus_365_days"], "+") for label in ("selection", "report")]
        print(f"{name:36s} {cells[0]:>30s} {cells[1]:>30s}")
    path = q.RESULTS / "quality_patrol_rankings.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path.relative_to(REPO)} in {out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
