"""Emerging hot spots: Mann-Kendall and the whole analysis, against scipy, numpy and esda.

    .venv/bin/python benchmarks/bench_emerging.py            # 100k series x 156; 10 M incidents
    .venv/bin/python benchmarks/bench_emerging.py --quick    # 20k series x 45; 1 M incidents

Data: the cube of ``bench_cube.py`` (Chicago 2015-2018 resampled to N incidents on a
120 m grid, 156 weeks to 2018-11-12; 2018, 200 m and 45 weeks with --quick), so the
series have the ties real sparse cells produce.

Rows, in one process, each the best of ``--repeat`` runs after a warm-up:

1. Mann-Kendall over every cell's series of space-time Gi* z-scores:
   ``intel.mann_kendall`` against a loop of ``scipy.stats.kendalltau`` (timed on a
   subsample, extrapolated to all series) and a vectorised numpy version (sign of all
   pairs at once, in chunks; timed on a subsample, extrapolated). The statistics must
   agree (tau-b with scipy's, S with numpy's).
2. The whole emerging hot spot analysis from the incidents: the cube (points already
   assigned to cells, as in ``bench_cube.py`` row 1, plus the Cube table) and
   ``classify_emerging`` (queen neighbours, this week and the one before, FDR),
   analytic and with 999 permutations. No other Python library does the space-time
   version; for scale, esda's spatial ``G_Local`` (star, analytic) on one weekly slice,
   times the number of weeks, is given as a reference, and with 999 permutations on
   one slice of a 10k-cell sub-grid (the permutations' cost grows with the cells)
   scaled to the whole cube.

Ratios are a baseline's time / the intel row's time (above 1: intel is faster),
measured in the same run. Writes ``benchmarks/results/emerging.json``
(``emerging_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cube import (  # noqa: E402
    REPO,
    RESULTS,
    QUICK_START,
    START,
    city_grid,
    intel_counts,
    intel_cube_table,
    load_chicago,
    measure,
    resample,
    row,
    weekly_calendar,
)

import intel  # noqa: E402
from intel.emerging import _mann_kendall, space_time_gi  # noqa: E402
from intel.exceptions import DataQualityWarning  # noqa: E402


def numpy_mann_kendall(x: np.ndarray, chunk: int = 500) -> np.ndarray:
    """S of every row, all pairs at once (the vectorised numpy way)."""
    n = x.shape[1]
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    out = np.empty(x.shape[0], dtype=np.int64)
    for lo in range(0, x.shape[0], chunk):
        block = x[lo:lo + chunk]
        signs = np.sign(block[:, None, :] - block[:, :, None])
        out[lo:lo + chunk] = signs[:, upper].sum(axis=1)
    return out


def scipy_loop(x: np.ndarray) -> np.ndarray:
    from scipy.stats import kendalltau

    time_index = np.arange(x.shape[1])
    return np.array([kendalltau(time_index, series).statistic for series in x])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=None, help="incidents")
    args = parser.parse_args()
    quick = args.quick
    n = args.n or (1_000_000 if quick else 10_000_000)
    cell_size = 200.0 if quick else 120.0

    print(f"loading Chicago {'2018' if quick else '2015-2018'} ...", flush=True)
    incidents = load_chicago(quick)
    grid = city_grid(incidents, cell_size)
    calendar = weekly_calendar(incidents["occurred_at"].dt.tz, 45 if quick else 156, QUICK_START if quick else START)
    data = resample(incidents, n)
    cells = intel.assign_cells((data["x"], data["y"]), grid)
    t = data["t"]
    del data
    cube = intel_cube_table(intel_counts(cells, t, len(grid), calendar), grid, calendar)
    x = cube["n"].to_numpy().reshape(len(grid), calendar.n_periods)
    from intel._weights import cell_neighbours

    w = cell_neighbours(grid, "queen", include_self=True)
    z, _ = space_time_gi(x, w.indptr.astype(np.int64), w.indices.astype(np.int64), 1)
    n_series = 20_000 if quick else 100_000
    series = np.ascontiguousarray(z[:n_series])
    print(f"{n:,} incidents, {len(grid):,} cells x {calendar.n_periods} weeks; "
          f"Mann-Kendall on {series.shape[0]:,} series\n", flush=True)

    table: list[dict] = []
    # 1. Mann-Kendall
    t_mk, m_mk, (s, _, _, _, tau) = measure(lambda: _mann_kendall(series), args.repeat)
    row(table, f"mann_kendall: intel, {series.shape[0]:,} series", t_mk, m_mk)
    sub = 500 if quick else 2_000
    t_scipy, _, tau_scipy = measure(lambda: scipy_loop(series[:sub]), 1)
    np.testing.assert_allclose(tau[:sub], tau_scipy, rtol=1e-12, equal_nan=True)
    row(table, "mann_kendall: scipy kendalltau loop (extrapolated)", t_scipy * series.shape[0] / sub, None,
        f"mann_kendall: intel, {series.shape[0]:,} series", note=f"timed on {sub:,} series")
    sub_np = 5_000 if quick else 20_000
    t_np, m_np, s_np = measure(lambda: numpy_mann_kendall(series[:sub_np]), 1)
    assert np.array_equal(s[:sub_np], s_np), "numpy and intel S differ"
    row(table, "mann_kendall: vectorised numpy (extrapolated)", t_np * series.shape[0] / sub_np, m_np,
        f"mann_kendall: intel, {series.shape[0]:,} series", note=f"timed on {sub_np:,} series")
    gc.collect()

    # 2. whole analysis
    def analysis(permutations: int):
        def run():
            c = intel_cube_table(intel_counts(cells, t, len(grid), calendar), grid, calendar)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataQualityWarning)
                return intel.classify_emerging(c, grid, permutations=permutations, random_state=0)
        return run

    t_an, m_an, scores = measure(analysis(0), args.repeat)
    name_an = f"emerging: intel cube + classify, analytic ({n:,} incidents)"
    row(table, name_an, t_an, m_an, note=str(scores.attrs["provenance"]["categories"]))
    t_perm, m_perm, scores_p = measure(analysis(999), max(1, args.repeat - 2))
    name_perm = "emerging: intel cube + classify, 999 permutations per slice"
    row(table, name_perm, t_perm, m_perm, note=str(scores_p.attrs["provenance"]["categories"]))

    try:
        import esda
        from libpysal.weights import WSP
    except ImportError:
        print("(esda is not installed: no esda rows)")
    else:
        w_space = cell_neighbours(grid, "queen")
        weights = WSP(w_space).to_W(silence_warnings=True)
        last = x[:, int(np.argmax(x.sum(axis=0)))].copy()  # the busiest week
        t_esda, _, _ = measure(lambda: esda.G_Local(last, weights, transform="B", star=True, permutations=0), 1)
        row(table, "esda G_Local* analytic, one slice x weeks (spatial only)", t_esda * calendar.n_periods, None,
            name_an, note="timed on one weekly slice")
        # permutations: one slice of a 10k-cell sub-grid, scaled by cells and weeks
        sub_cells = min(10_000, len(grid))
        sub_grid = grid.iloc[:sub_cells]
        sub_w = WSP(cell_neighbours(sub_grid, "queen")).to_W(silence_warnings=True)
        t_esda_p, _, _ = measure(lambda: esda.G_Local(last[:sub_cells], sub_w, transform="B", star=True,
                                                      permutations=999, n_jobs=1, seed=0), 1)
        row(table, "esda G_Local* 999 permutations (scaled to the cube)",
            t_esda_p * len(grid) / sub_cells * calendar.n_periods, None, name_perm,
            note=f"timed on one slice of {sub_cells:,} cells")

    out = RESULTS / ("emerging_quick.json" if quick else "emerging.json")
    meta = {"n_incidents": n, "n_cells": len(grid), "n_periods": calendar.n_periods, "n_series": series.shape[0],
            "cell_size_m": cell_size, "repeat": args.repeat, "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "ratio": "row time / time of the intel row named in 'baseline' (above 1: intel is faster)"}
    out.write_text(json.dumps({"meta": meta, "rows": table}, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
