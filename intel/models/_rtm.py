"""Risk terrain modelling: environmental layers -> cell features -> penalised Poisson regression.

Caplan, J. M., Kennedy, L. W. and Miller, J. (2011). Risk terrain modeling: brokering
criminological theory and GIS methods for crime forecasting. *Justice Quarterly*
28(2), 360-381; Kennedy, Caplan and Piza (2011), "Risk clusters, hotspots, and spatial
intelligence", *Journal of Quantitative Criminology* 27, 339-362 (the relative risk
values).

Every layer (bars, transit stops, schools: points, lines or polygons) is turned into
candidate features of each cell, for each distance ``d`` in ``distances_m``:

- ``proximity``: 1 if the cell's centre is within ``d`` of the layer's nearest feature;
- ``density``: the number of the layer's features within ``d`` of the cell's centre,
  standardised (so its relative risk is per standard deviation).

Selection rule (stated, as RTM asks): cross-validation on spatial blocks of cells
(folds of whole blocks, ``block_m`` wide, so neighbouring cells do not sit on both
sides of a split), scored by Poisson deviance:

1. for each layer, keep the one operationalisation (kind and distance) with the lowest
   cross-validated deviance in a model with that feature alone;
2. forward selection among those: add the layer whose feature lowers the
   cross-validated deviance most, while it lowers it by more than 0.1%;
3. choose the L2 penalty ``alpha`` (unless given) from a grid by the same
   cross-validation, and refit on all cells.

Relative risk values are ``exp(coefficient)``: how many times more incidents a cell
near a bar (proximity) or with one standard deviation more bars around (density)
expects, the other factors held fixed.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .._validation import check_number, check_random_state
from ..exceptions import CRSError, InputError
from ..grid import cell_area_m2
from ._base import Events, RiskModel

__all__ = ["RiskTerrain", "layer_features"]

_ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_SCREEN_ALPHA = 1e-4
_MIN_GAIN = 1e-3


def layer_features(grid: gpd.GeoDataFrame, layers: Mapping[str, gpd.GeoDataFrame],
                   distances_m: Sequence[float]) -> pd.DataFrame:
    """Candidate RTM features of every cell: one column per (layer, kind, distance).

    Columns are a MultiIndex ``(factor, kind, distance_m)`` with kind ``"proximity"``
    (0/1) or ``"density"`` (raw count of features within the distance).
    """
    centres = grid.geometry.centroid.values
    columns: dict[tuple[str, str, float], np.ndarray] = {}
    for name, layer in layers.items():
        geoms = layer.geometry.values
        geoms = geoms[~(geoms.is_empty | pd.isna(geoms))]
        tree = gpd.GeoSeries(geoms, crs=layer.crs).sindex
        if len(geoms):
            idx, dist = tree.nearest(centres, return_all=False, return_distance=True)
            nearest = np.full(len(grid), np.inf)
            nearest[idx[0]] = dist
        else:
            nearest = np.full(len(grid), np.inf)
        for d in distances_m:
            columns[(name, "proximity", float(d))] = (nearest <= d).astype(np.float64)
            if len(geoms):
                hits = tree.query(centres, predicate="dwithin", distance=float(d))
                count = np.bincount(hits[0], minlength=len(grid)).astype(np.float64)
            else:
                count = np.zeros(len(grid))
            columns[(name, "density", float(d))] = count
    frame = pd.DataFrame(columns, index=grid.index)
    frame.columns.names = ["factor", "kind", "distance_m"]
    return frame


class RiskTerrain(RiskModel):
    """Risk terrain model from user-supplied environmental layers.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Named layers of points, lines or polygons (``{"bars": bars, "transit": stops}``),
        in any CRS (reprojected to the grid's).
    distances_m : sequence of float
        Distances at which proximity and density are measured.
    alpha : float, optional
        L2 penalty of :class:`sklearn.linear_model.PoissonRegressor`. Default: chosen by
        spatial-block cross-validation from ``(1e-4, 1e-3, 1e-2, 0.1, 1)`` (recorded).
    window_days : float
        Days of incidents before the origin that the model explains.
    n_folds : int
        Cross-validation folds.
    block_m : float, optional
        Side of the square blocks of cells that folds are made of. Default: 10 cells.
    random_state : int, Generator or None
        Seed for assigning blocks to folds.

    Attributes
    ----------
    relative_risks_ : DataFrame
        One row per selected factor: ``factor``, ``kind``, ``distance_m``,
        ``coefficient``, ``rrv`` (= exp(coefficient)).
    screening_ : DataFrame
        Every candidate feature with its single-feature cross-validated deviance.
    alpha_ : float
        Penalty used.
    estimator_ : PoissonRegressor
        The final model (on the selected, scaled features).

    Examples
    --------
    >>> import geopandas as gpd, intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=500)
    >>> spots = gpd.GeoDataFrame(geometry=incidents.geometry.sample(30, random_state=1).values, crs=incidents.crs)
    >>> model = intel.RiskTerrain(layers={"spots": spots}, distances_m=(250, 500))
    >>> model = model.fit(incidents, grid=grid, origin="2018-12-03")
    >>> list(model.relative_risks_.columns)
    ['factor', 'kind', 'distance_m', 'coefficient', 'rrv']
    """

    def __init__(self, *, layers: Mapping[str, gpd.GeoDataFrame] | None = None,
                 distances_m: Sequence[float] = (100.0, 200.0, 400.0), alpha: float | None = None,
                 window_days: float = 365, n_folds: int = 5, block_m: float | None = None,
                 random_state: int | np.random.Generator | None = 0) -> None:
        self.layers = layers
        self.distances_m = distances_m
        self.alpha = alpha
        self.window_days = window_days
        self.n_folds = n_folds
        self.block_m = block_m
        self.random_state = random_state

    def _validate_params(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.layers, Mapping) or not self.layers:
            raise InputError(f"The 'layers' parameter of {owner} must be a non-empty dict of named GeoDataFrames, "
                             f"e.g. {{'bars': bars, 'transit': stops}}. Got {self.layers!r} instead.")
        for name, layer in self.layers.items():
            if not isinstance(layer, (gpd.GeoDataFrame, gpd.GeoSeries)):
                raise InputError(f"{owner}: layer {name!r} is a {type(layer).__name__}; give a GeoDataFrame.")
            if layer.crs is None:
                raise CRSError(f"{owner}: layer {name!r} has no CRS; set it with .set_crs('EPSG:xxxx').")
        d = list(self.distances_m) if isinstance(self.distances_m, (list, tuple, np.ndarray)) else []
        if not d:
            raise InputError(f"The 'distances_m' parameter of {owner} must be a non-empty list of distances in metres. "
                             f"Got {self.distances_m!r} instead.")
        for v in d:
            check_number("distances_m", v, owner, low=0, closed="neither")
        check_number("alpha", self.alpha, owner, low=0, allow_none=True)
        check_number("window_days", self.window_days, owner, low=0, closed="neither")
        check_number("n_folds", self.n_folds, owner, low=2, integer=True)
        check_number("block_m", self.block_m, owner, low=0, closed="neither", allow_none=True)
        check_random_state(self.random_state)

    def _lookback_days(self) -> float:
        return float(self.window_days)

    def _fit(self, events: Events) -> None:
        # scikit-learn's Poisson loss runs OpenMP threads that are slower than one thread
        # on these small problems (and much slower on a busy machine)
        with threadpool_limits(1):
            self._fit_terrain(events)

    def _fit_terrain(self, events: Events) -> None:
        grid = self.grid_
        layers = {str(k): (v.to_frame("geometry") if isinstance(v, gpd.GeoSeries) else v).to_crs(grid.crs)
                  for k, v in self.layers.items()}
        raw = layer_features(grid, layers, self.distances_m)
        y = events.counts(-float(self.window_days))
        area = cell_area_m2(grid) / 1e6
        folds = self._folds()
        candidates = raw.loc[:, raw.std(axis=0) > 0]
        screen = []
        for col in candidates.columns:
            x = _scaled(candidates[[col]], col[1])
            screen.append((*col, _cv_deviance(x, y, area, folds, _SCREEN_ALPHA)))
        self.screening_ = pd.DataFrame(screen, columns=["factor", "kind", "distance_m", "cv_deviance"])
        best = (self.screening_.sort_values(["factor", "cv_deviance"], kind="stable").groupby("factor", sort=False).head(1))
        chosen: list[tuple[str, str, float]] = []
        pool = [tuple(r) for r in best[["factor", "kind", "distance_m"]].itertuples(index=False)]
        current = _cv_deviance(np.zeros((len(y), 0)), y, area, folds, _SCREEN_ALPHA)
        while pool:
            trials = [(_cv_deviance(_design(candidates, chosen + [c]), y, area, folds, _SCREEN_ALPHA), c) for c in pool]
            dev, pick = min(trials, key=lambda item: item[0])
            if dev > current * (1 - _MIN_GAIN):
                break
            chosen.append(pick)
            pool.remove(pick)
            current = dev
        self.selected_ = chosen
        x = _design(candidates, chosen)
        alpha = self.alpha
        if alpha is None:
            scores = {a: _cv_deviance(x, y, area, folds, a) for a in _ALPHAS}
            alpha = min(scores, key=scores.get)
            self.automatic_["alpha"] = {"value": alpha, "rule": "lowest spatial-block cross-validated Poisson deviance "
                                                                 f"among {list(_ALPHAS)}"}
        self.alpha_ = float(alpha)
        self.estimator_ = _poisson(self.alpha_).fit(x, y / area, sample_weight=area)
        coefs = self.estimator_.coef_ if x.shape[1] else np.zeros(0)
        self.relative_risks_ = pd.DataFrame(
            {"factor": [c[0] for c in chosen], "kind": [c[1] for c in chosen],
             "distance_m": [c[2] for c in chosen], "coefficient": coefs, "rrv": np.exp(coefs)})
        self.window_rate_ = self.estimator_.predict(x) * area if y.sum() > 0 else np.zeros(len(y))

    def _folds(self) -> np.ndarray:
        grid = self.grid_
        rng = check_random_state(self.random_state)
        centres = grid.geometry.centroid
        size = float(self.block_m) if self.block_m is not None else 10.0 * float(np.sqrt(np.median(cell_area_m2(grid))))
        bx = np.floor(centres.x.to_numpy() / size).astype(np.int64)
        by = np.floor(centres.y.to_numpy() / size).astype(np.int64)
        _, block = np.unique(np.column_stack([bx, by]), axis=0, return_inverse=True)
        fold_of_block = rng.permutation(block.max() + 1) % int(self.n_folds)
        return fold_of_block[block.ravel()]

    def _predict(self, horizon_days: float) -> np.ndarray:
        return self.window_rate_ * (horizon_days / float(self.window_days))


def _poisson(alpha: float):
    from sklearn.linear_model import PoissonRegressor

    return PoissonRegressor(alpha=alpha, solver="newton-cholesky", max_iter=300)


def _scaled(frame: pd.DataFrame, kind: str) -> np.ndarray:
    x = frame.to_numpy(np.float64)
    if kind == "density":
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return x


def _design(candidates: pd.DataFrame, chosen: list[tuple[str, str, float]]) -> np.ndarray:
    if not chosen:
        return np.zeros((len(candidates), 0))
    return np.column_stack([_scaled(candidates[[c]], c[1]) for c in chosen])


def _cv_deviance(x: np.ndarray, y: np.ndarray, area: np.ndarray, folds: np.ndarray, alpha: float) -> float:
    """Poisson deviance of out-of-fold predictions, summed over folds."""
    total = 0.0
    for k in np.unique(folds):
        test = folds == k
        train = ~test
        if y[train].sum() == 0:
            mu = np.full(test.sum(), 1e-12)
        elif x.shape[1] == 0:
            mu = area[test] * y[train].sum() / area[train].sum()
        else:
            model = _poisson(alpha).fit(x[train], y[train] / area[train], sample_weight=area[train])
            mu = model.predict(x[test]) * area[test]
        mu = np.maximum(mu, 1e-12)
        yt = y[test]
        total += 2.0 * float(np.sum(np.where(yt > 0, yt * np.log(np.where(yt > 0, yt, 1.0) / mu), 0.0) - (yt - mu)))
    return total
