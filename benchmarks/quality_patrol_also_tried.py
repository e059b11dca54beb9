"""Ideas tried on the *selection* period of quality_patrol.py only (never on the report weeks).

    .venv/bin/python benchmarks/quality_patrol_also_tried.py [--quick]

Each variant is scored as in quality_patrol.py (same origins, shifts, units, exploration
share, seeds and baselines) and compared with the library default (``naive``,
``min_spacing_m=300``) by the paired bootstrap interval of its margin over last year's
top cells on the same area, minus the default's margin. Variants:

- ``gbm``: intel's ``GradientBoostingRisk`` (lags, 52/104-week means, neighbours, season);
- ``glm_features`` / ``gbm_features``: a Poisson GLM and a Poisson gradient-boosting model
  fitted per origin on 52 past target weeks, with leading indicators from the incidents of
  each cell (place-based, no person attributes): reported counts over the last 1, 4, 13,
  52 and 156 weeks; counts by offence group (violent, property, discovered
  narcotics/weapons/vice, disorder) over 52 weeks; the queen neighbours' reported counts
  over 4 and 52 weeks; the mix of location descriptions (street, residence, commercial)
  over 156 weeks;
- ``glm_shift`` / ``gbm_shift``: the same, one model per shift, fitted on the shift's
  reported counts with the cell's own counts in that shift over 4, 13, 52 and 156 weeks
  as extra features (the shift split then comes from the models, not from the profile);
- ``blend_shift``: the mean of the default's shift risk and ``glm_shift``'s;
- ``explore_expected``: exploration rounded in expectation (0.1 x 8 places = one place
  with probability 0.8) instead of at least one a shift;
- ``explore_uncertain``: exploration weighted by rank x the Poisson standard deviation of
  the cell's rate (sqrt of its count), so it goes where the forecast is most uncertain
  while still favouring lower-ranked cells.

Writes benchmarks/results/quality_patrol_also_tried.json (read by quality_patrol.py's
markdown, section "Also tried").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality_patrol as qp  # noqa: E402

from intel._weights import cell_neighbours  # noqa: E402
from intel.grid import assign_cells  # noqa: E402
from intel.patrol import _places  # noqa: E402
from intel.patrol._common import parse_shifts  # noqa: E402
from intel.patrol._risk import _shift_shares, build_patrol_scores  # noqa: E402

OUT = qp.RESULTS / "quality_patrol_also_tried.json"
GROUPS = {
    "violent": ["BATTERY", "ASSAULT", "ROBBERY", "HOMICIDE", "CRIM SEXUAL ASSAULT", "CRIMINAL SEXUAL ASSAULT", "KIDNAPPING"],
    "property": ["THEFT", "BURGLARY", "MOTOR VEHICLE THEFT", "CRIMINAL DAMAGE", "DECEPTIVE PRACTICE", "ARSON"],
    "discovered": qp.DISCOVERED,
    "disorder": ["CRIMINAL TRESPASS", "PUBLIC PEACE VIOLATION", "OTHER OFFENSE", "INTIMIDATION", "STALKING"],
}
PLACES = {
    "street": ["STREET", "SIDEWALK", "ALLEY", "PARKING LOT/GARAGE(NON.RESID.)", "VACANT LOT/LAND"],
    "residence": ["RESIDENCE", "APARTMENT", "RESIDENCE PORCH/HALLWAY", "RESIDENTIAL YARD (FRONT/BACK)", "CHA APARTMENT"],
    "commercial": ["SMALL RETAIL STORE", "GROCERY FOOD STORE", "RESTAURANT", "GAS STATION", "DEPARTMENT STORE",
                   "CONVENIENCE STORE", "COMMERCIAL / BUSINESS OFFICE", "BAR OR TAVERN"],
}
TRAIN_WEEKS = 52
LONG = 156


def week_cube(pos, week, mask, n_cells, n_weeks):
    """Cells x weeks counts for weeks -n_weeks..-1 (column n_weeks - 1 is the week before the origin)."""
    keep = mask & (pos >= 0) & (week >= -n_weeks) & (week < 0)
    flat = pos[keep] * n_weeks + (week[keep] + n_weeks)
    return np.bincount(flat, minlength=n_cells * n_weeks).reshape(n_cells, n_weeks).astype(np.float64)


def features(cubes, w, end, static):
    """Feature matrix (cells x features) from the weeks before column ``end`` (exclusive)."""
    def window(c, k):
        return c[:, max(0, end - k):end].sum(axis=1)

    rep = cubes["reported"]
    cols = [np.log1p(window(rep, k)) for k in (1, 4, 13, 52, LONG)]
    if "target" in cubes:  # the shift's own counts
        cols += [np.log1p(window(cubes["target"], k)) for k in (4, 13, 52, LONG)]
    cols += [np.log1p(window(cubes[g], 52)) for g in GROUPS]
    cols += [np.log1p(w @ window(rep, 4)), np.log1p(w @ window(rep, 52))]
    return np.column_stack(cols + [static])


def feature_risk(incidents, scores, origin, kind, shift=None):
    """Weekly rate per cell from a Poisson model on leading-indicator features (see the module docstring)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import PoissonRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    before = incidents[incidents["occurred_at"] < origin]
    pos = assign_cells(before, scores)
    week = np.floor((before["occurred_at"] - origin).dt.total_seconds().to_numpy() / (7 * 86400)).astype(np.int64)
    cat = before["category"].astype(str).str.upper()
    n, n_weeks = len(scores), TRAIN_WEEKS + LONG
    cubes = {"reported": week_cube(pos, week, ~cat.isin(qp.DISCOVERED).to_numpy(), n, n_weeks)}
    for g, names in GROUPS.items():
        cubes[g] = week_cube(pos, week, cat.isin(names).to_numpy(), n, n_weeks)
    if shift is not None:
        minute = (before["occurred_at"].dt.hour * 60 + before["occurred_at"].dt.minute).to_numpy()
        cubes["target"] = week_cube(pos, week, ~cat.isin(qp.DISCOVERED).to_numpy() & shift.contains_minute_of_day(minute),
                                    n, n_weeks)
    loc = before["location_description"].astype(str).str.upper()
    recent = (week >= -LONG) & (pos >= 0)
    total = np.bincount(pos[recent], minlength=n) + 1.0
    static = np.column_stack([np.bincount(pos[recent & loc.isin(v).to_numpy()], minlength=n) / total for v in PLACES.values()])
    w = cell_neighbours(scores).astype(np.float64)
    X, y = [], []
    for j in range(n_weeks - TRAIN_WEEKS, n_weeks):  # target week j, features from weeks < j
        X.append(features(cubes, w, j, static))
        y.append(cubes.get("target", cubes["reported"])[:, j])
    X, y = np.vstack(X), np.concatenate(y)
    if kind == "glm":
        model = make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-3, max_iter=300))
    else:
        model = HistGradientBoostingRegressor(loss="poisson", max_iter=100, learning_rate=0.1, min_samples_leaf=100,
                                              l2_regularization=1.0, random_state=0)
    model.fit(X, y)
    return model.predict(features(cubes, w, n_weeks, static))


def with_risk(base, incidents, origin, risk):
    """The naive scores' grid with another risk, split across shifts as build_patrol_scores does."""
    shifts = parse_shifts(qp.SHIFTS, "bench")
    data = qp.reported(incidents)
    recent = data[(data["occurred_at"] < origin) & (data["occurred_at"] >= origin - pd.Timedelta(weeks=52))]
    shares, _ = _shift_shares(recent, assign_cells(recent, base), len(base), shifts)
    out = base.copy()
    out["risk"] = risk
    for k, s in enumerate(shifts):
        out[s.column] = risk * shares[:, k]
    return out


class _Patched:
    """Temporarily replace the exploration count or weights in intel.patrol._places."""

    def __init__(self, kind, rng):
        self.kind, self.rng = kind, rng

    def __enter__(self):
        self.saved = (_places.n_exploration, _places._ranks_high_first)
        if self.kind == "explore_expected":
            rng = self.rng

            def n_exploration(n_places, share):
                if share <= 0 or n_places == 0:
                    return 0
                expected = share * n_places
                return min(int(np.floor(expected) + (rng.uniform() < expected - np.floor(expected))), n_places)
            _places.n_exploration = n_exploration
        elif self.kind == "explore_uncertain":
            ranks = self.saved[1]
            _places._ranks_high_first = lambda values: ranks(values) * np.sqrt(values / values.max())
        return self

    def __exit__(self, *exc):
        _places.n_exploration, _places._ranks_high_first = self.saved


def evaluate(incidents, origins, variants):
    shifts = parse_shifts(qp.SHIFTS, "bench")
    data = qp.reported(incidents)
    rows = []
    for k, day in enumerate(origins):
        origin = pd.Timestamp(day, tz=incidents["occurred_at"].dt.tz)
        week = data[(data["occurred_at"] >= origin) & (data["occurred_at"] < origin + pd.Timedelta(days=7))]
        history = data[data["occurred_at"] < origin]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = build_patrol_scores(incidents, date=day, shifts=qp.SHIFTS, cell_size_m=qp.CELL_M, model="naive",
                                       discovered_categories=qp.DISCOVERED)
        for name in variants:
            t0 = time.perf_counter()
            scores, patch = base, "none"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name == "gbm":
                    scores = build_patrol_scores(incidents, date=day, shifts=qp.SHIFTS, cell_size_m=qp.CELL_M, model="gbm",
                                                 discovered_categories=qp.DISCOVERED)
                elif name in ("glm_features", "gbm_features"):
                    scores = with_risk(base, incidents, origin, feature_risk(incidents, base, origin, name[:3]))
                elif name in ("glm_shift", "gbm_shift"):
                    scores = base.copy()
                    for s in shifts:
                        scores[s.column] = feature_risk(incidents, base, origin, name[:3], s)
                    scores["risk"] = scores[[s.column for s in shifts]].sum(axis=1)
                elif name == "blend_shift":  # half the default's shift risk, half the per-shift GLM's
                    scores = base.copy()
                    for s in shifts:
                        scores[s.column] = 0.5 * base[s.column] + 0.5 * feature_risk(incidents, base, origin, "glm", s)
                    scores["risk"] = scores[[s.column for s in shifts]].sum(axis=1)
                elif name.startswith("explore_"):
                    patch = name
            fit_s = time.perf_counter() - t0
            with _Patched(patch, np.random.default_rng(10_000 + k)):
                on, plan = qp.plan_cells(scores, seed=k, exploration_share=qp.EXPLORATION, min_spacing_m=qp.DEFAULT_SPACING)
            off, _ = qp.plan_cells(scores, seed=k, exploration_share=0.0, min_spacing_m=qp.DEFAULT_SPACING)
            row = {"origin": day, "variant": name, "fit_s": fit_s}
            row["intel_pai"] = qp.pai_of(on, week, scores, shifts)[0]
            row["intel_no_exploration_pai"] = qp.pai_of(off, week, scores, shifts)[0]
            row["exploration_places"] = float((plan["selection"] == "exploration").mean())
            k_cells = round(np.mean([len(on[s]) for s in qp.SHIFTS]))
            cells = qp.top_cells(history, scores, origin, 365, k_cells)
            row["last_year_pai"] = qp.pai_of({s: cells for s in qp.SHIFTS}, week, scores, shifts)[0]
            rows.append(row)
        print(day, {r["variant"]: round(r["intel_pai"] - r["last_year_pai"], 2) for r in rows[-len(variants):]}, flush=True)
    return pd.DataFrame(rows)


def summarise(rows):
    rows = rows.assign(margin=rows["intel_pai"] - rows["last_year_pai"],
                       margin_off=rows["intel_no_exploration_pai"] - rows["last_year_pai"])
    ref = rows[rows["variant"] == "default"].set_index("origin")
    out = {}
    for name, g in rows.groupby("variant", sort=False):
        g = g.set_index("origin").loc[ref.index]
        out[name] = {"intel_pai": float(g["intel_pai"].mean()),
                     "intel_no_exploration_pai": float(g["intel_no_exploration_pai"].mean()),
                     "exploration_places": float(g["exploration_places"].mean()),
                     "vs_last_year": qp.paired(g["intel_pai"], g["last_year_pai"]),
                     "vs_default": qp.paired(g["margin"], ref["margin"]),
                     "no_exploration_vs_default": qp.paired(g["margin_off"], ref["margin_off"]),
                     "fit_s_mean": float(g["fit_s"].mean())}
    return out


def notes(variants: dict) -> list[str]:
    """Plain-language outcome: which variants clear the bar and whether any is adopted."""
    clear = [k for k, v in variants.items() if k != "default" and v["vs_default"]["lo"] > 0]
    model_clear = [k for k in clear if not k.startswith("explore_")]
    out = [f"Risk models that clear the bar: {', '.join(model_clear)}." if model_clear else
           "No risk model clears the bar: with leading indicators or without, none beats the 52-week count "
           "beyond noise."]
    if "explore_expected" in variants:
        v, d = variants["explore_expected"], variants["default"]
        out.append(
            f"Exploration rounded in expectation {'clears' if 'explore_expected' in clear else 'does not clear'} the bar "
            f"({qp._ci(v['vs_default'], '+')}) only by exploring less: {v['exploration_places']:.1%} of the places "
            f"instead of {d['exploration_places']:.1%}, with no exploration place in about "
            f"{1 - v['exploration_places'] / d['exploration_places']:.0%} of the shifts; the gain "
            "is the part of the safeguard's cost it stops paying, not a better forecast. Not adopted: the safeguard is "
            "defined as at least one exploration place a shift when the share is positive (`n_exploration`, "
            "tests/test_patrol.py), and adopting this would weaken it to win.")
    if "explore_uncertain" in variants:
        v = variants["explore_uncertain"]
        out.append(f"Exploration toward uncertain cells (rank x sqrt of the count) changes little "
                   f"({qp._ci(v['vs_default'], '+')}): not better beyond noise, so not adopted (and its feedback "
                   "behaviour not needed).")
    out.append("Library defaults unchanged.")
    return [" ".join(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bundled sample, 4 origins")
    parser.add_argument("--variants", default="default,gbm,glm_features,gbm_features,glm_shift,gbm_shift,explore_expected,explore_uncertain")
    args = parser.parse_args()
    incidents, _, source = qp.load(args.quick)
    origins = qp.weekly(qp.SELECTION_START, 4 if args.quick else qp.N_ORIGINS)
    variants = ["default"] + [v for v in args.variants.split(",") if v and v != "default"]
    t0 = time.perf_counter()
    rows = evaluate(incidents, origins, variants)
    result = {"command": ".venv/bin/python benchmarks/quality_patrol_also_tried.py" + (" --quick" if args.quick else ""),
              "data": source, "period": "selection", "first_origin": origins[0], "last_origin": origins[-1],
              "n_origins": len(origins), "variants": summarise(rows), "seconds": time.perf_counter() - t0,
              "rows": {c: [round(v, 4) if isinstance(v, float) else v for v in rows[c].tolist()]
                       for c in ("origin", "variant", "intel_pai", "intel_no_exploration_pai", "last_year_pai")}}
    if not args.quick and OUT.is_file():  # a run of some variants adds them to the earlier ones
        old = json.loads(OUT.read_text())
        result["variants"] = {**old["variants"], **result["variants"]}
        keep = [i for i, v in enumerate(old["rows"]["variant"]) if v not in variants]
        result["rows"] = {c: [old["rows"][c][i] for i in keep] + result["rows"][c] for c in result["rows"]}
    result["notes"] = notes(result["variants"])
    if not args.quick:
        OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
    for name, v in result["variants"].items():
        print(f"{name}: PAI {v['intel_pai']:.2f} (off {v['intel_no_exploration_pai']:.2f}), vs last year "
              f"{qp._ci(v['vs_last_year'], '+')}, margin vs default {qp._ci(v['vs_default'], '+')}, "
              f"no-exploration margin vs default's {qp._ci(v['no_exploration_vs_default'], '+')}")


if __name__ == "__main__":
    main()
