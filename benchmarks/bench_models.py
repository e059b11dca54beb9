"""Speed of the risk models against the simplest equivalent computation, timed in the same run.

Sections (each row: intel's time, the baseline's time, their ratio):

1. prospective hot-spotting, one origin (fit + predict from the Incidents table) at
   10k / 100k / 1M incidents a year on a 7,056-cell grid (84 x 84 cells of 150 m, the
   size of open_cp's test grid), against a direct double loop in numpy (for each cell,
   vectorised over the incidents of the time window). Two intel rows per size: the
   scores from the window's incidents (what the loop computes), the whole fit +
   predict from the Incidents table (which adds reading the points out of shapely), and
   the marginal cost of one origin inside ``rolling_backtest`` (which reads the points once);
2. GridSEPP: 20 EM iterations on 10k and 100k incidents against a straightforward
   numpy EM (per cell, a dense matrix of pairs, textbook updates), plus fitting on
   10k incidents and predicting a 100k-cell grid;
3. KernelSEPP: time per EM iteration and peak memory (tracemalloc: numpy buffers
   included) at 2k / 4k / 10k incidents against a dense N x N EM (open_cp's approach)
   at the sizes it can do, extrapolated to 10k by N^2 where not run;
4. (real data, when ../shared/data is present) a year of weekly origins on Chicago
   burglary, 150 m cells: seconds per origin of every model against RecentCount(52),
   the simplest forecast there is.

    .venv/bin/python benchmarks/bench_models.py            # full
    .venv/bin/python benchmarks/bench_models.py --quick    # smaller sizes, fewer repeats, 4 Chicago origins

Writes ``benchmarks/results/models.json`` (``models_quick.json`` with ``--quick``).
Timings on a shared machine are noisy: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import intel  # noqa: E402
from intel._provenance import jsonable, library_versions  # noqa: E402
from intel.models._base import _training_events  # noqa: E402
from intel.models._prospective import bjp_weights  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ORIGIN = "2018-12-03"
CELL = 150.0
SIDE = 84  # an 84-cell square side: make_grid covers it with 85 x 85 = 7,225 cells


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(min(times))


def synthetic(n: int, seed: int = 0, triggering: dict | None = None):
    hotspots = max(3, n // 5000)
    return intel.make_synthetic(n_background=int(n * 0.7), hotspots=min(hotspots, 20), hotspot_events=int(n * 0.3 / min(hotspots, 20)),
                                hotspot_radius_m=150, extent_m=CELL * SIDE, triggering=triggering, random_state=seed)


def _area(incidents):
    import geopandas as gpd
    import shapely

    x0, y0, x1, y1 = incidents.attrs["truth"]["extent"]
    return gpd.GeoDataFrame(geometry=[shapely.box(x0 + 1, y0 + 1, x1 - 1, y1 - 1)], crs=incidents.crs)


# ----------------------------------------------------------------- 1. prospective


def prospective_direct(events, grid, bandwidth_m=400.0):
    """The loop a user would write: for every cell, the weights of all incidents of the window."""
    ex = (np.floor(events.x / CELL) + 0.5) * CELL
    ey = (np.floor(events.y / CELL) + 0.5) * CELL
    age = np.floor(-events.t / 7.0)
    cx = (grid["col"].to_numpy() + 0.5) * CELL
    cy = (grid["row"].to_numpy() + 0.5) * CELL
    out = np.empty(len(grid))
    for k in range(len(grid)):
        d = np.hypot(cx[k] - ex, cy[k] - ey)
        out[k] = np.sum(np.where(d <= bandwidth_m, bjp_weights(d / CELL, age), 0.0) * events.w)
    return out


def bench_prospective(quick: bool) -> list[dict]:
    rows = []
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    origin = pd.Timestamp(ORIGIN, tz="UTC")
    for n in sizes:
        inc = synthetic(n)
        grid = intel.make_grid(_area(inc), cell_size_m=CELL)
        model = intel.ProspectiveHotspot(bandwidth_m=400, bandwidth_weeks=8)
        model.fit(inc, grid=grid, origin=origin).predict_risk()  # warm caches and compiled code
        full = best_of(lambda: model.fit(inc, grid=grid, origin=origin).predict_risk(), 3 if quick else 7)
        events = _training_events(inc, grid, origin, 56.0)

        def core():
            model._fit(events)
            return model.predict_risk()

        core_s = best_of(core, 5 if quick else 15)
        direct = best_of(lambda: prospective_direct(events, grid), 1)
        same = bool(np.allclose(prospective_direct(events, grid), model.scores_)) if n <= 100_000 else None
        case = f"{n:,} incidents/year ({len(events):,} in the 8-week window), {len(grid):,} cells, one origin"
        rows.append({"section": "prospective", "case": case + ": scores from the window's incidents",
                     "n_incidents": n, "intel_s": core_s, "baseline": "direct double loop in numpy", "baseline_s": direct,
                     "ratio": direct / core_s, "same_result": same})
        rows.append({"section": "prospective", "case": case + ": fit + predict from the Incidents table",
                     "n_incidents": n, "intel_s": full, "baseline": "direct double loop in numpy (window given)",
                     "baseline_s": direct, "ratio": direct / full})
        per_origin = backtest_marginal(inc, grid, model, 3 if quick else 5)
        rows.append({"section": "prospective", "case": case + ": one origin inside rolling_backtest (marginal cost "
                     "of an origin: fit, predict and scoring; points read once per backtest)",
                     "n_incidents": n, "intel_s": per_origin, "baseline": "direct double loop in numpy (window given)",
                     "baseline_s": direct, "ratio": direct / per_origin})
    return rows


def backtest_marginal(incidents, grid, model, repeat: int) -> float:
    """Seconds one more weekly origin adds to a backtest: (time of 25 origins - time of 5) / 20."""
    last = pd.Timestamp(ORIGIN)

    def run(n_origins: int) -> float:
        start = str((last - pd.Timedelta(weeks=n_origins - 1)).date())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return best_of(lambda: intel.rolling_backtest(incidents, [model], grid=grid, start=start, end=ORIGIN,
                                                          baselines=False), repeat)

    return (run(25) - run(5)) / 20


# ----------------------------------------------------------------- 2. grid SEPP


def grid_sepp_numpy(cell, t, n_cells, span, iters=20, theta=0.5, omega=1 / 7):
    """Straightforward EM for the grid ETAS: per cell, a dense matrix of earlier-later pairs."""
    groups = [np.sort(t[cell == k]) for k in range(n_cells)]
    mu = np.array([g.size for g in groups]) / (2 * span)
    for _ in range(iters):
        p_sum = pd_sum = 0.0
        new_mu = np.zeros(n_cells)
        for k, g in enumerate(groups):
            if g.size == 0:
                continue
            d = g[:, None] - g[None, :]
            trig = np.where(d > 0, theta * omega * np.exp(-omega * np.where(d > 0, d, 0.0)), 0.0)
            lam = mu[k] + trig.sum(axis=1)
            p = trig / lam[:, None]
            p_sum += p.sum()
            pd_sum += (p * np.where(d > 0, d, 0.0)).sum()
            new_mu[k] = (mu[k] / lam).sum() / span
        mu, omega, theta = new_mu, p_sum / pd_sum, p_sum / t.size
    return mu, theta, omega


def bench_grid_sepp(quick: bool) -> list[dict]:
    rows = []
    trig = {"theta": 0.4, "omega_days": 3, "sigma_m": 60}
    origin = pd.Timestamp("2019-01-01", tz="UTC")
    for n in [10_000, 100_000]:
        inc = synthetic(int(n / 1.6), seed=1, triggering=trig)  # offspring bring the total to about n
        grid = intel.make_grid(_area(inc), cell_size_m=CELL * 2)
        model = intel.GridSEPP(max_iter=20, tol=1e-300)
        model.fit(inc, grid=grid, origin=origin)
        ours = best_of(lambda: model.fit(inc, grid=grid, origin=origin), 2 if quick else 5)
        ev = _training_events(inc, grid, origin, 365.0)
        keep = ev.cell >= 0
        if quick and n > 10_000:
            numpy_s = None  # about 100 s: full runs only
        else:
            numpy_s = best_of(lambda: grid_sepp_numpy(ev.cell[keep], ev.t[keep], len(grid), 365.0), 1)
        rows.append({"section": "grid_sepp", "case": f"20 EM iterations, {model.n_train_:,} incidents, {len(grid):,} cells "
                                                     "(intel: whole fit incl. standard errors)",
                     "n_incidents": int(model.n_train_), "intel_s": ours, "baseline": "per-cell dense-pair numpy EM",
                     "baseline_s": numpy_s, "ratio": None if numpy_s is None else numpy_s / ours, "n_iter": model.n_iter_})
    inc = synthetic(int(10_000 / 1.6), seed=2, triggering=trig)
    big = intel.make_grid(_area(inc), cell_size_m=CELL * SIDE / 316)
    model = intel.GridSEPP()
    model.fit(inc, grid=big, origin=origin)
    fit_s = best_of(lambda: model.fit(inc, grid=big, origin=origin), 2 if quick else 3)
    pred_s = best_of(lambda: model.predict_risk(horizon="7D"), 5)
    rows.append({"section": "grid_sepp", "case": f"fit to convergence on {model.n_train_:,} incidents + predict a "
                                                 f"{len(big):,}-cell grid", "n_incidents": int(model.n_train_),
                 "intel_s": fit_s + pred_s, "fit_s": fit_s, "predict_s": pred_s, "baseline": None, "baseline_s": None,
                 "ratio": None, "n_iter": model.n_iter_})
    return rows


# ----------------------------------------------------------------- 3. kernel SEPP


def kernel_sepp_dense(x, y, t, span, bandwidth, iters, theta=0.5, omega=1 / 7, sigma=100.0):
    """open_cp-style EM: dense N x N matrices of time lags, distances and probabilities."""
    dt = t[:, None] - t[None, :]
    r2 = (x[:, None] - x[None, :]) ** 2 + (y[:, None] - y[None, :]) ** 2
    later = dt > 0
    kbg = np.exp(-r2 / (2 * bandwidth**2)) / (2 * np.pi * bandwidth**2)
    np.fill_diagonal(kbg, 0.0)
    p_bg = np.full(x.size, 0.5)
    for _ in range(iters):
        mu = kbg @ p_bg / span
        g = np.where(later, theta * omega * np.exp(-omega * np.where(later, dt, 0.0) - r2 / (2 * sigma**2))
                     / (2 * np.pi * sigma**2), 0.0)
        lam = mu + g.sum(axis=1)
        p = g / lam[:, None]
        p_bg = mu / lam
        n_trig = p.sum()
        omega = n_trig / (p * np.where(later, dt, 0.0)).sum()
        sigma = np.sqrt((p * r2).sum() / (2 * n_trig))
        theta = n_trig / x.size
    return theta, omega, sigma


def _peak_mb(fn) -> tuple[float, float]:
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def bench_kernel_sepp(quick: bool) -> list[dict]:
    rows = []
    trig = {"theta": 0.4, "omega_days": 3, "sigma_m": 80}
    origin = pd.Timestamp("2019-01-01", tz="UTC")
    dense_sizes = [2_000] if quick else [2_000, 4_000]
    dense_per_iter: dict[int, tuple[float, float]] = {}
    for n in sorted(set([2_000, 10_000] + dense_sizes)):
        inc = synthetic(int(n / 1.6), seed=3, triggering=trig)
        grid = intel.make_grid(_area(inc), cell_size_m=CELL)
        one = intel.KernelSEPP(max_iter=1, tol=1e-300)
        many = intel.KernelSEPP(max_iter=11, tol=1e-300)
        one.fit(inc, grid=grid, origin=origin)
        t1 = best_of(lambda: one.fit(inc, grid=grid, origin=origin), 2)
        t11, peak = _peak_mb(lambda: many.fit(inc, grid=grid, origin=origin))
        t11 = min(t11, best_of(lambda: many.fit(inc, grid=grid, origin=origin), 1))
        per_iter = (t11 - t1) / 10.0
        ev = _training_events(inc, grid, origin, 365.0)
        row = {"section": "kernel_sepp", "case": f"{one.n_train_:,} incidents, {one.n_pairs_:,} candidate pairs",
               "n_incidents": int(one.n_train_), "intel_s": per_iter, "intel_setup_s": t1 - per_iter,
               "intel_peak_mb": peak, "baseline": "dense N x N EM (open_cp's approach)"}
        if n in dense_sizes:
            d1, _ = _peak_mb(lambda: kernel_sepp_dense(ev.x, ev.y, ev.t, 365.0, one.background_bandwidth_m_, 1))
            d3, dpeak = _peak_mb(lambda: kernel_sepp_dense(ev.x, ev.y, ev.t, 365.0, one.background_bandwidth_m_, 3))
            dense_per_iter[one.n_train_] = ((d3 - d1) / 2.0, dpeak)
            row.update(baseline_s=(d3 - d1) / 2.0, baseline_peak_mb=dpeak, ratio=(d3 - d1) / 2.0 / per_iter,
                       baseline_extrapolated=False)
        elif dense_per_iter:
            m, (s, mb) = max(dense_per_iter.items())
            scale = (one.n_train_ / m) ** 2
            row.update(baseline_s=s * scale, baseline_peak_mb=mb * scale, ratio=s * scale / per_iter,
                       baseline_extrapolated=True)
        rows.append(row)
    return rows


# ----------------------------------------------------------------- 4. Chicago backtest cost


def bench_chicago(quick: bool) -> list[dict]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from quality_backtest import DATA, city_grid, load_chicago
    except ImportError:
        return []
    if not DATA.is_dir():
        print(f"Chicago section skipped: {DATA} not found", file=sys.stderr)
        return []
    from sklearn.base import clone

    incidents = load_chicago(first_year=2015)
    incidents = incidents.loc[(incidents["category"] == "BURGLARY").to_numpy()].reset_index(drop=True)
    grid = city_grid()
    end = pd.Timestamp("2018-11-12", tz="America/Chicago")
    n = 4 if quick else 52
    origins = [end - pd.Timedelta(days=7 * k) for k in range(n, 0, -1)]
    models = {
        "RecentCount(weeks=52)": intel.RecentCount(weeks=52),
        "KDERisk()": intel.KDERisk(),
        "ProspectiveHotspot()": intel.ProspectiveHotspot(),
        "GridSEPP()": intel.GridSEPP(),
        "KernelSEPP()": intel.KernelSEPP(),
        "GradientBoostingRisk()": intel.GradientBoostingRisk(),
        "EnsembleRisk()": intel.EnsembleRisk(),
        "EnsembleRisk(KDE 2 years + GridSEPP)": intel.EnsembleRisk(models=[intel.KDERisk(window_days=730), intel.GridSEPP()]),
        "ShiftProfile(RecentCount(52))": intel.ShiftProfile(intel.RecentCount(weeks=52)),
    }
    seconds = {k: 0.0 for k in models}
    for origin in origins:
        past = incidents.loc[(incidents["occurred_at"] < origin).to_numpy()]
        for label, model in models.items():
            t0 = time.perf_counter()
            clone(model).fit(past, grid=grid, origin=origin).predict(horizon="7D")
            seconds[label] += time.perf_counter() - t0
    base = seconds["RecentCount(weeks=52)"] / n
    return [{"section": "chicago_backtest", "case": f"{label}, Chicago burglary, {len(grid):,} cells of 150 m, "
                                                    f"mean over {n} weekly origins (fit + predict)",
             "intel_s": seconds[label] / n, "year_of_origins_s": seconds[label] / n * 52,
             "baseline": "RecentCount(weeks=52)", "baseline_s": base, "ratio": (seconds[label] / n) / base}
            for label in models]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--sections", default="prospective,grid_sepp,kernel_sepp,chicago",
                        help="comma-separated subset of: prospective, grid_sepp, kernel_sepp, chicago")
    args = parser.parse_args()
    wanted = set(args.sections.split(","))
    warnings.simplefilter("ignore", intel.DataQualityWarning)
    rows: list[dict] = []
    for name, fn in [("prospective", bench_prospective), ("grid_sepp", bench_grid_sepp),
                     ("kernel_sepp", bench_kernel_sepp), ("chicago", bench_chicago)]:
        if name in wanted:
            t0 = time.perf_counter()
            rows += fn(args.quick)
            print(f"[{name}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    print(f"{'section':<17} {'case':<95} {'intel':>10} {'baseline':>10} {'ratio':>8}")
    for r in rows:
        base = "" if r.get("baseline_s") is None else f"{r['baseline_s']:.4f}s"
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.0f}x" if r["ratio"] >= 10 else f"{r['ratio']:.2f}x"
        extra = f"  peak {r['intel_peak_mb']:.0f} MB vs {r.get('baseline_peak_mb', float('nan')):.0f} MB" if "intel_peak_mb" in r else ""
        print(f"{r['section']:<17} {r['case'][:95]:<95} {r['intel_s']:>9.4f}s {base:>10} {ratio:>8}{extra}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("models_quick.json" if args.quick else "models.json")
    if out.exists() and wanted != {"prospective", "grid_sepp", "kernel_sepp", "chicago"}:
        # a subset run replaces its own sections and keeps the others' last rows
        kept = [r for r in json.loads(out.read_text())["rows"] if r["section"].removesuffix("_backtest") not in wanted]
        rows = rows + kept
    out.write_text(json.dumps(jsonable({"quick": args.quick, "cpu_count": os.cpu_count(), "versions": library_versions(),
                                        "rows": rows}), indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
