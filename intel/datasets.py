"""Bundled real samples and synthetic incidents with known ground truth.

``load_sample(name)`` reads a small real extract from ``data/samples/`` through
:func:`intel.read_incidents` (so it is validated like any other source);
``make_synthetic(...)`` plants hot spots, trends and self-exciting (near-repeat)
chains whose truth travels with the data, for the statistical tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ._provenance import attach, make_record
from ._validation import check_number, check_option, check_random_state
from .exceptions import InputError

__all__ = ["load_sample", "list_samples", "make_synthetic", "SAMPLES_DIR"]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"

HOTSPOT_KINDS = ("persistent", "new", "intensifying", "diminishing")


def list_samples() -> list[str]:
    """Names accepted by :func:`load_sample` (one per ``data/samples/<name>.*`` file with a README entry)."""
    from ._samples import SAMPLES

    return sorted(SAMPLES)


def load_sample(name: str, **kwargs: Any) -> gpd.GeoDataFrame:
    """Load a bundled real sample.

    Parameters
    ----------
    name : str
        One of :func:`list_samples`, e.g. ``"chicago_district11"``, ``"memphis_robberies"``,
        ``"memphis_precincts"`` (polygons), ``"policeuk_west_yorkshire_2018_07"``.
    **kwargs
        Passed to :func:`intel.read_incidents` (incident samples only).

    Returns
    -------
    GeoDataFrame
        Incidents (or polygons for boundary samples) in a projected metric CRS.

    Examples
    --------
    >>> import intel
    >>> robberies = intel.load_sample("memphis_robberies")
    >>> robberies.crs.is_projected
    True
    """
    from ._samples import SAMPLES, load

    if name not in SAMPLES:
        raise InputError(f"load_sample: no sample called {name!r}. Available: {', '.join(sorted(SAMPLES))}.")
    return load(name, **kwargs)


def make_synthetic(
    *,
    n_background: int = 2000,
    hotspots: int | Sequence[dict[str, Any]] = 3,
    hotspot_events: int = 300,
    hotspot_radius_m: float = 200.0,
    extent_m: float = 10_000.0,
    start: str = "2018-01-01",
    end: str = "2019-01-01",
    triggering: dict[str, float] | None = None,
    categories: dict[str, float] | None = None,
    tz: str = "UTC",
    crs: str = "EPSG:32616",
    origin_m: tuple[float, float] = (440_000.0, 4_630_000.0),
    random_state: int | np.random.Generator | None = 0,
) -> gpd.GeoDataFrame:
    """Synthetic incidents with planted hot spots, trends and near-repeat chains.

    Parameters
    ----------
    n_background : int
        Incidents spread uniformly over the square study area and the time window.
    hotspots : int or list of dict
        Number of planted hot spots (placed at random, away from the edges and
        each other, kinds cycling through ``"persistent"``, ``"new"``,
        ``"intensifying"``, ``"diminishing"``), or explicit specs
        ``{"x": m, "y": m, "radius_m": r, "events": n, "kind": k}`` with
        coordinates relative to the south-west corner.
    hotspot_events : int
        Incidents per hot spot when ``hotspots`` is an int.
    hotspot_radius_m : float
        Radius of each hot spot disc (events are uniform in the disc).
    extent_m : float
        Side of the square study area.
    start, end : str
        Time window (``end`` excluded).
    triggering : dict, optional
        Self-exciting offspring: ``{"theta": mean offspring per event (< 1),
        "omega_days": mean delay in days (exponential), "sigma_m": spatial
        standard deviation of the offset (Gaussian)}``. Every event, offspring
        included, triggers (a Hawkes / ETAS branching process). Offspring
        falling after ``end`` or outside the area are discarded.
    categories : dict, optional
        Category labels and their probabilities; default ``{"burglary": 1.0}``.
    tz, crs : str
        Time zone of the timestamps and projected CRS of the points.
    origin_m : tuple of float
        Coordinates of the south-west corner in ``crs``.
    random_state : int, Generator or None
        Seed; the same seed gives the same incidents.

    Returns
    -------
    GeoDataFrame
        An Incidents table (see :mod:`intel`) plus truth columns ``truth``
        (``"background"``, ``"hotspot"`` or ``"triggered"``), ``truth_id``
        (hot spot number, -1 otherwise) and ``parent_id`` (the triggering
        incident's id, or missing). ``attrs["truth"]`` lists the hot spots in
        CRS coordinates and the parameters.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(hotspots=2, random_state=1)
    >>> sorted(incidents["truth"].unique())
    ['background', 'hotspot']
    """
    owner = "make_synthetic"
    check_number("n_background", n_background, owner, low=0, integer=True)
    check_number("hotspot_events", hotspot_events, owner, low=0, integer=True)
    check_number("hotspot_radius_m", hotspot_radius_m, owner, low=0, closed="neither")
    check_number("extent_m", extent_m, owner, low=0, closed="neither")
    rng = check_random_state(random_state)
    t0, t1 = pd.Timestamp(start, tz=tz), pd.Timestamp(end, tz=tz)
    if not t1 > t0:
        raise InputError(f"{owner}: end ({end}) must be after start ({start}).")
    span_s = (t1 - t0).total_seconds()
    ox, oy = origin_m

    specs = _hotspot_specs(hotspots, hotspot_events, hotspot_radius_m, extent_m, rng)
    xs, ys, ts, truth, truth_id = [], [], [], [], []

    xs.append(rng.uniform(0, extent_m, n_background))
    ys.append(rng.uniform(0, extent_m, n_background))
    ts.append(rng.uniform(0, span_s, n_background))
    truth.append(np.full(n_background, "background", dtype=object))
    truth_id.append(np.full(n_background, -1))

    for k, spec in enumerate(specs):
        check_option("kind", spec["kind"], owner, HOTSPOT_KINDS)
        n = int(spec["events"])
        r = spec["radius_m"] * np.sqrt(rng.uniform(0, 1, n))
        a = rng.uniform(0, 2 * np.pi, n)
        xs.append(spec["x"] + r * np.cos(a))
        ys.append(spec["y"] + r * np.sin(a))
        ts.append(_hotspot_times(spec["kind"], n, span_s, rng))
        truth.append(np.full(n, "hotspot", dtype=object))
        truth_id.append(np.full(n, k))

    x, y, t = np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)
    truth_a, truth_id_a = np.concatenate(truth), np.concatenate(truth_id)
    parent = np.full(x.size, -1, dtype=np.int64)
    if triggering:
        x, y, t, truth_a, truth_id_a, parent = _add_offspring(
            x, y, t, truth_a, truth_id_a, triggering, span_s, extent_m, rng, owner
        )

    order = np.argsort(t, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    ids = np.array([f"syn{i:07d}" for i in range(order.size)], dtype=object)
    parent_sorted = parent[order]
    parent_ids = np.where(parent_sorted >= 0, ids[inverse[np.maximum(parent_sorted, 0)]], None)

    cats = categories or {"burglary": 1.0}
    labels, probs = list(cats), np.asarray(list(cats.values()), dtype=float)
    category = rng.choice(labels, size=order.size, p=probs / probs.sum())

    occurred = t0 + pd.to_timedelta(np.floor(t[order] / 60.0) * 60.0, unit="s")
    frame = gpd.GeoDataFrame(
        {
            "incident_id": pd.array(ids, dtype="string"),
            "occurred_at": occurred,
            "occurred_to": pd.Series(pd.NaT, index=range(order.size), dtype=occurred.dtype),
            "time_resolution": "minute",
            "category": category,
            "weight": 1.0,
            "detection": "reported",
            "source_row": np.arange(1, order.size + 1),
            "truth": truth_a[order],
            "truth_id": truth_id_a[order],
            "parent_id": pd.array(parent_ids, dtype="string"),
        },
        geometry=gpd.points_from_xy(ox + x[order], oy + y[order]),
        crs=crs,
    )
    frame.attrs["truth"] = {
        "hotspots": [dict(s, x=s["x"] + ox, y=s["y"] + oy) for s in specs],
        "extent": [ox, oy, ox + extent_m, oy + extent_m],
        "start": t0.isoformat(),
        "end": t1.isoformat(),
        "n_background": n_background,
        "triggering": dict(triggering) if triggering else None,
    }
    params = dict(
        n_background=n_background, hotspots=specs, extent_m=extent_m, start=start, end=end,
        triggering=triggering, categories=cats, tz=tz, crs=crs,
    )
    seed = random_state if not isinstance(random_state, np.random.Generator) else "Generator"
    return attach(frame, make_record("make_synthetic", params, seed=seed))


def _hotspot_specs(hotspots, events, radius, extent, rng) -> list[dict[str, Any]]:
    if not isinstance(hotspots, (int, np.integer)):
        specs = []
        for i, s in enumerate(hotspots):
            missing = {"x", "y"} - set(s)
            if missing:
                raise InputError(f"make_synthetic: hot spot {i} lacks {sorted(missing)}.")
            specs.append({"x": float(s["x"]), "y": float(s["y"]), "radius_m": float(s.get("radius_m", radius)),
                          "events": int(s.get("events", events)), "kind": s.get("kind", "persistent")})
        return specs
    specs: list[dict[str, Any]] = []
    margin = max(3 * radius, 0.1 * extent)
    tries = 0
    while len(specs) < hotspots:
        tries += 1
        if tries > 10_000:
            raise InputError("make_synthetic: cannot place that many separate hot spots; use fewer or a larger extent_m.")
        cx, cy = rng.uniform(margin, extent - margin, 2)
        if all(np.hypot(cx - s["x"], cy - s["y"]) > 6 * radius for s in specs):
            specs.append({"x": float(cx), "y": float(cy), "radius_m": float(radius), "events": int(events),
                          "kind": HOTSPOT_KINDS[len(specs) % len(HOTSPOT_KINDS)]})
    return specs


def _hotspot_times(kind: str, n: int, span_s: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.uniform(0, 1, n)
    if kind == "new":  # appears in the last fifth of the window
        return span_s * (0.8 + 0.2 * u)
    if kind == "intensifying":  # density grows linearly from 0: inverse CDF of f(t) = 2t
        return span_s * np.sqrt(u)
    if kind == "diminishing":  # density falls linearly to 0
        return span_s * (1 - np.sqrt(1 - u))
    return span_s * u


def _add_offspring(x, y, t, truth, truth_id, triggering, span_s, extent, rng, owner):
    theta = float(triggering.get("theta", 0.3))
    omega_days = float(triggering.get("omega_days", 7.0))
    sigma = float(triggering.get("sigma_m", 100.0))
    check_number("theta", theta, owner, low=0, high=1, closed="left")
    parent = np.full(x.size, -1, dtype=np.int64)
    frontier = np.arange(x.size)
    xs, ys, ts, tr, tid, par = [x], [y], [t], [truth], [truth_id], [parent]
    offset = x.size
    while frontier.size:
        counts = rng.poisson(theta, frontier.size)
        parents = np.repeat(frontier, counts)
        if parents.size == 0:
            break
        all_x, all_y, all_t = np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)
        cx = all_x[parents] + rng.normal(0, sigma, parents.size)
        cy = all_y[parents] + rng.normal(0, sigma, parents.size)
        ct = all_t[parents] + rng.exponential(omega_days * 86400.0, parents.size)
        keep = (ct < span_s) & (cx >= 0) & (cx <= extent) & (cy >= 0) & (cy <= extent)
        n = int(keep.sum())
        xs.append(cx[keep]); ys.append(cy[keep]); ts.append(ct[keep])
        tr.append(np.full(n, "triggered", dtype=object)); tid.append(np.full(n, -1)); par.append(parents[keep])
        frontier = np.arange(offset, offset + n)
        offset += n
    return (np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), np.concatenate(tr),
            np.concatenate(tid), np.concatenate(par))
