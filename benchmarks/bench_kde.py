"""Kernel density of 10 M points on 500 x 500 cells: intel against KDEpy's FFTKDE and scikit-learn.

    .venv/bin/python benchmarks/bench_kde.py            # 10 M points
    .venv/bin/python benchmarks/bench_kde.py --quick    # 1 M points

Data: Chicago incidents 2012-2018 repeated with 25 m offsets to reach n (see
``bench_grid.py``), keeping those inside a square of 500 x 500 cells of 90 m (45 km a
side). Kernel: quartic (biweight) of radius 450 m (5 cells) unless said otherwise.

Accuracy: relative L2 error against the exact kernel sum at the centres of 2,000 cells
drawn at random (seed 0); the exact sums come from intel's ``algorithm="exact"`` path, which
the run first checks against a plain numpy sum over all points at 5 of those centres.

Rows, each timed in this process after one warm-up call, best of ``--repeat`` runs; peak
memory as ``tracemalloc`` sees it (numpy arrays, intel's compiled loops allocate nothing):

- ``intel score_kde``: the public verb from (x, y) arrays and a grid: counts ``n``, density
  ``kde`` (one pass over the points checks them and adds each one's count and the first and
  second moments of its offset from its lattice node to that node's sums; a pass over the
  nodes spreads their mass onto the lattice of cell centres as quadratic binning would and
  adds up the counts per cell; one FFT convolution), the output table and its provenance.
- ``intel density only``: the surface and the counts alone (binning through the moments,
  kernel, FFT, reading the centres), from points already checked. With --quick (1 M points,
  about 4 a node) this row and the one above bin each point quadratically instead: the
  moments pay from 8 points a node.
- ``intel density, quadratic binning per point``: the surface alone, each point binned onto
  the 3 x 3 nodes around it with quadratic weights (what intel does for weighted points,
  hexagons, polygons and fewer points a node), without the counts.
- ``intel density, linear binning``: the same with classic linear binning and the
  binning-blur correction (what intel uses on lattices 1.3 times finer than the kernel
  needs), to show why intel bins quadratically at this bandwidth (5 nodes per bandwidth).
- ``intel score_kde, automatic bandwidth``: the verb choosing the bandwidth itself.
- ``KDEpy FFTKDE``: ``FFTKDE(kernel="biweight", bw=450 / sqrt(7), norm=2)`` (the same kernel:
  KDEpy's bandwidth is the kernel's standard deviation along an axis) evaluated on the
  lattice of cell centres widened by the kernel's reach (KDEpy needs every point inside its
  grid); also binning + one FFT convolution.
- ``scikit-learn KernelDensity``: ``KernelDensity(kernel="epanechnikov", bandwidth=450)``
  (scikit-learn has no quartic kernel) fitted on a random subsample (100k points, 20k with
  --quick) and evaluated at all cell centres; its time is scaled linearly to n (a tree
  query's cost grows with the points within reach of each centre, proportional to n) and
  said to be scaled. intel's Epanechnikov surface on all n points is timed beside it.

Ratios are baseline time / intel time (above 1: intel is faster), in the same run. Writes
``benchmarks/results/kde.json`` (``kde_quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grid import CELL_M, REPO, RESULTS, SIDE, chicago_xy, machine, measure, print_table, square_area  # noqa: E402

BANDWIDTH_M = 450.0


def exact_at(points: Any, grid: Any, sample: np.ndarray, kernel: str, h: float) -> np.ndarray:
    from intel.density import _exact_density

    return _exact_density(points, grid.iloc[sample], kernel, h) * 1e6


def numpy_sum(x: np.ndarray, y: np.ndarray, cx: float, cy: float, h: float) -> float:
    u2 = ((x - cx) ** 2 + (y - cy) ** 2) / (h * h)
    return float(np.where(u2 < 1, (1 - u2) ** 2, 0.0).sum() * 3 / (math.pi * h * h) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M points instead of 10 M")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from KDEpy import FFTKDE
    from sklearn.neighbors import KernelDensity

    import intel
    from intel.density import _fft_density, _lattice, _points
    from intel.grid import _layout

    n_target = 1_000_000 if args.quick else 10_000_000
    x, y = chicago_xy(int(n_target * 1.02))
    area, (x0, y0) = square_area(x, y)
    keep = (x >= x0) & (x < x0 + SIDE * CELL_M) & (y >= y0) & (y < y0 + SIDE * CELL_M)
    x, y = np.ascontiguousarray(x[keep][:n_target]), np.ascontiguousarray(y[keep][:n_target])
    n = x.size
    grid = intel.make_grid(area, cell_size_m=CELL_M)
    h = BANDWIDTH_M
    pts = _points((x, y), None, "bench")
    sample = np.random.default_rng(0).choice(len(grid), 2000, replace=False)
    cx = (grid["col"].to_numpy()[sample] + 0.5) * CELL_M
    cy = (grid["row"].to_numpy()[sample] + 0.5) * CELL_M

    exact = exact_at(pts, grid, sample, "quartic", h)
    check = [numpy_sum(x, y, cx[i], cy[i], h) for i in range(5)]
    np.testing.assert_allclose(exact[:5], check, rtol=1e-9)
    exact_epa = exact_at(pts, grid, sample, "epanechnikov", h)

    def error(values: np.ndarray, reference: np.ndarray = exact) -> float:
        return float(np.linalg.norm(values - reference) / np.linalg.norm(reference))

    lattice = _lattice(grid, "quartic", h, n)
    linear = lattice._replace(binning="linear")
    layout = _layout(grid)

    # KDEpy on the same lattice of cell centres, widened by the reach
    pad = math.ceil(h / CELL_M) + 1
    gx = x0 + (np.arange(-pad, SIDE + pad) + 0.5) * CELL_M
    gy = y0 + (np.arange(-pad, SIDE + pad) + 0.5) * CELL_M
    kdepy_grid = np.column_stack([np.repeat(gx, gy.size), np.tile(gy, gx.size)])
    data = np.column_stack([x, y])

    def kdepy() -> np.ndarray:
        return FFTKDE(kernel="biweight", bw=h / math.sqrt(7.0), norm=2).fit(data).evaluate(kdepy_grid)

    sub_n = 20_000 if args.quick else 100_000
    sub = np.random.default_rng(1).choice(n, sub_n, replace=False)
    centres = np.column_stack([(grid["col"].to_numpy() + 0.5) * CELL_M, (grid["row"].to_numpy() + 0.5) * CELL_M])

    def sklearn() -> np.ndarray:
        model = KernelDensity(kernel="epanechnikov", bandwidth=h).fit(data[sub])
        return np.exp(model.score_samples(centres))

    calls = {
        "intel score_kde": lambda: intel.score_kde((x, y), grid, bandwidth_m=h),
        "intel density only": lambda: _fft_density(pts, grid, "quartic", h, lattice, layout)[0],
        "intel density, quadratic binning per point": lambda: _fft_density(pts, grid, "quartic", h, lattice)[0],
        "intel density, linear binning": lambda: _fft_density(pts, grid, "quartic", h, linear)[0],
        "intel score_kde, automatic bandwidth": lambda: intel.score_kde((x, y), grid),
        "KDEpy FFTKDE": kdepy,
        "intel score_kde epanechnikov": lambda: intel.score_kde((x, y), grid, kernel="epanechnikov", bandwidth_m=h),
        f"scikit-learn KernelDensity ({sub_n // 1000}k, scaled)": sklearn,
    }
    timings: dict[str, tuple[float, float, Any]] = {}
    for name, call in calls.items():
        repeat = 1 if name.startswith(("scikit", "KDEpy")) and not args.quick else args.repeat
        timings[name] = measure(call, repeat)
        print(f"  {name}: {timings[name][0]:.4f} s", flush=True)

    ours = timings["intel score_kde"][2]
    errors = {
        "intel score_kde": error(ours["kde"].to_numpy()[sample]),
        "intel density only": error(timings["intel density only"][2][sample] * 1e6),
        "intel density, quadratic binning per point": error(
            timings["intel density, quadratic binning per point"][2][sample] * 1e6),
        "intel density, linear binning": error(timings["intel density, linear binning"][2][sample] * 1e6),
        "intel score_kde epanechnikov": error(timings["intel score_kde epanechnikov"][2]["kde"].to_numpy()[sample], exact_epa),
    }
    # KDEpy's grid runs x-major: node (i, j) at i * len(gy) + j; density per m2 for one unit of mass
    kd = timings["KDEpy FFTKDE"][2].reshape(gx.size, gy.size).T[pad:pad + SIDE, pad:pad + SIDE].ravel()
    errors["KDEpy FFTKDE"] = error(kd[sample] * n * 1e6)
    auto = timings["intel score_kde, automatic bandwidth"][2]
    auto_h = auto.attrs["provenance"]["bandwidth_m"]
    errors["intel score_kde, automatic bandwidth"] = error(
        auto["kde"].to_numpy()[sample], exact_at(pts, grid, sample, "quartic", auto_h))

    scale = n / sub_n
    sk_name = f"scikit-learn KernelDensity ({sub_n // 1000}k, scaled)"
    rows = []

    def row(name: str, baseline: str | None = None) -> None:
        t, peak, _ = timings[name]
        t = t * (scale if name == sk_name else 1.0)
        r = {"row": name, "n_points": n, "seconds": t, "rel_l2_error": errors.get(name),
             "peak_mib": None if name == sk_name else peak}
        if baseline:
            bt = timings[baseline][0] * (scale if baseline == sk_name else 1.0)
            r.update(baseline=baseline, baseline_seconds=bt, ratio=bt / timings[name][0])
        rows.append(r)

    row("intel score_kde", "KDEpy FFTKDE")
    row("intel density only", "KDEpy FFTKDE")
    row("intel density, quadratic binning per point", "KDEpy FFTKDE")
    row("intel density, linear binning", "KDEpy FFTKDE")
    row("intel score_kde, automatic bandwidth", "KDEpy FFTKDE")
    rows[-1]["bandwidth_m"] = auto_h
    row("KDEpy FFTKDE")
    row("intel score_kde epanechnikov", sk_name)
    row(sk_name)
    print()
    print(f"{n:,} points, {SIDE} x {SIDE} cells of {CELL_M:g} m, quartic radius {h:g} m; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print_table(rows, ["row", "seconds", "rel_l2_error", "peak_mib", "baseline", "ratio"])
    print(f"scikit-learn: {sub_n:,} points timed, scaled x{scale:.0f} to {n:,}")
    out = {
        "benchmark": "kde",
        "n_points": n,
        "grid": {"side": SIDE, "cell_size_m": CELL_M, "n_cells": len(grid)},
        "kernel": "quartic", "bandwidth_m": h,
        "binning_used": ours.attrs["provenance"]["binning"],
        "data": "Chicago 2012-2018 incidents, repeated with 25 m offsets to reach n, inside the grid's square",
        "error": "relative L2 against the exact kernel sum at 2,000 random cell centres",
        "sklearn_note": f"fitted on {sub_n:,} points, time scaled linearly to n",
        "machine": machine(),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("kde_quick.json" if args.quick else "kde.json")
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
