"""Spreading weighted points over a grid's cells with a distance kernel (binned, fast).

Every surface model here (KDE, prospective hot-spotting, the kernel SEPP's background
and trigger) needs the same operation: for each cell, the sum over points of
``w_i * K(distance from the point to the cell)``. Points are first binned to cells
(the "binned KDE" approximation, error at most half a cell), then:

- on a regular square grid, the cell counts sit in a raster (padded by the kernel's
  reach, so points just outside the grid still count) that is convolved with the
  kernel tabulated on cell offsets, by FFT: the cost is independent of the number of
  points;
- on any other grid (hexagons, beats), a sparse cell-to-cell matrix from the distances
  between cell centres does the same job (points outside every cell are left out).
"""

from __future__ import annotations

from typing import Callable

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

from ..grid import assign_cells
from ._base import RiskModel

Kernel = Callable[[np.ndarray], np.ndarray]

_SUPERSAMPLE = 4  # sub-points per cell side when a kernel is integrated over a cell


def quartic(bandwidth_m: float) -> Kernel:
    """Quartic (biweight) kernel of radius ``bandwidth_m``, unnormalised: ``(1 - (d/h)^2)^2``."""

    def k(d: np.ndarray) -> np.ndarray:
        u = d / bandwidth_m
        return np.where(u < 1.0, (1.0 - u * u) ** 2, 0.0)

    return k


def gaussian(sigma_m: float) -> Kernel:
    """Gaussian kernel ``exp(-d^2 / (2 sigma^2))``, unnormalised (use it with reach ``4 * sigma``)."""

    def k(d: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * (d / sigma_m) ** 2)

    return k


def grid_unit_m(grid: gpd.GeoDataFrame) -> float:
    """The grid's cell size (side of a square, centre-to-centre distance of hexagons, or the
    square root of the median area of irregular cells)."""
    size = grid.attrs.get("grid", {}).get("cell_size_m")
    if size:
        return float(size)
    return float(np.sqrt(np.median(np.asarray(grid.geometry.area))))


class CellSmoother:
    """Sum of ``w_i * kernel(distance)`` per cell of ``grid`` for points within ``reach_m``.

    Parameters
    ----------
    grid : GeoDataFrame
        The grid.
    kernel : callable
        Weight as a function of distance in metres (vectorised).
    reach_m : float
        Distance beyond which the kernel is zero.
    integrate : bool
        Average the kernel over each target cell (sub-sampled) instead of reading it at
        the cell centre: right for densities whose scale is close to the cell size.
    normalise : bool
        Scale the tabulated kernel to sum to 1, so the total weight is preserved
        (away from the grid's edges): the result is then the expected share of each
        point's mass in each cell.
    """

    def __init__(self, grid: gpd.GeoDataFrame, kernel: Kernel, reach_m: float, *, integrate: bool = False,
                 normalise: bool = False) -> None:
        self.grid = grid
        self.n_cells = len(grid)
        meta = grid.attrs.get("grid", {})
        self.square = meta.get("shape") == "square" and bool(meta.get("cell_size_m")) and {"row", "col"} <= set(grid.columns)
        if self.square:
            self._init_raster(float(meta["cell_size_m"]), kernel, reach_m, integrate, normalise)
        else:
            self._init_sparse(kernel, reach_m, normalise)

    # ------------------------------------------------------------- square grids

    def _init_raster(self, size: float, kernel: Kernel, reach_m: float, integrate: bool, normalise: bool) -> None:
        rows = self.grid["row"].to_numpy(np.int64)
        cols = self.grid["col"].to_numpy(np.int64)
        pad = int(np.ceil(reach_m / size))
        self.size = size
        self.rmin, self.cmin = int(rows.min()) - pad, int(cols.min()) - pad
        self.nrows = int(rows.max()) + pad - self.rmin + 1
        self.ncols = int(cols.max()) + pad - self.cmin + 1
        self.flat = (rows - self.rmin) * self.ncols + (cols - self.cmin)
        off = np.arange(-pad, pad + 1, dtype=np.float64)
        if integrate:
            sub = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - 0.5
            fine = (off[:, None] + sub[None, :]).ravel() * size
            dy, dx = np.meshgrid(fine, fine, indexing="ij")
            table = kernel(np.hypot(dx, dy))
            table = table.reshape(off.size, _SUPERSAMPLE, off.size, _SUPERSAMPLE).mean(axis=(1, 3))
        else:
            dy, dx = np.meshgrid(off * size, off * size, indexing="ij")
            table = kernel(np.hypot(dx, dy))
        if normalise and table.sum() > 0:
            table = table / table.sum()
        self.table = table

    def _raster_counts(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        r = np.floor(y / self.size).astype(np.int64) - self.rmin
        c = np.floor(x / self.size).astype(np.int64) - self.cmin
        inside = (r >= 0) & (r < self.nrows) & (c >= 0) & (c < self.ncols)
        flat = r[inside] * self.ncols + c[inside]
        counts = np.bincount(flat, weights=w[inside], minlength=self.nrows * self.ncols).astype(np.float64)
        return counts.reshape(self.nrows, self.ncols)

    def _convolve(self, raster: np.ndarray) -> np.ndarray:
        if self.table.shape == (1, 1):
            return raster * self.table[0, 0]
        if self.table.size <= 49:
            # small kernels: direct shifts beat FFT set-up and have no round-off
            out = np.zeros_like(raster)
            pad = self.table.shape[0] // 2
            for i in range(self.table.shape[0]):
                for j in range(self.table.shape[1]):
                    v = self.table[i, j]
                    if v == 0.0:
                        continue
                    di, dj = i - pad, j - pad
                    out[max(di, 0): raster.shape[0] + min(di, 0), max(dj, 0): raster.shape[1] + min(dj, 0)] += (
                        v * raster[max(-di, 0): raster.shape[0] - max(di, 0), max(-dj, 0): raster.shape[1] - max(dj, 0)]
                    )
            return out
        out = fftconvolve(raster, self.table, mode="same")
        # FFT round-off leaves tiny negatives where the true value is zero
        out[np.abs(out) < 1e-12 * max(1.0, float(np.abs(raster).sum()))] = 0.0
        return np.clip(out, 0.0, None)

    # ------------------------------------------------------------- other grids

    def _init_sparse(self, kernel: Kernel, reach_m: float, normalise: bool) -> None:
        centres = self.grid.geometry.centroid
        xy = np.column_stack([centres.x.to_numpy(), centres.y.to_numpy()])
        tree = cKDTree(xy)
        pairs = tree.query_pairs(reach_m, output_type="ndarray")
        i = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(self.n_cells)])
        j = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(self.n_cells)])
        d = np.hypot(xy[i, 0] - xy[j, 0], xy[i, 1] - xy[j, 1])
        matrix = sp.csr_matrix((kernel(d), (i, j)), shape=(self.n_cells, self.n_cells))
        if normalise:
            # each source cell spreads its mass as a whole
            sums = np.asarray(matrix.sum(axis=0)).ravel()
            matrix = matrix @ sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0))
        self.matrix = matrix.tocsr()

    # ------------------------------------------------------------- public

    def __call__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Smoothed value per cell (grid order) of the weighted points."""
        if self.square:
            return self._convolve(self._raster_counts(x, y, w)).ravel()[self.flat]
        cell = assign_cells((x, y), self.grid)
        inside = cell >= 0
        counts = np.bincount(cell[inside], weights=w[inside], minlength=self.n_cells).astype(np.float64)
        return np.clip(self.matrix @ counts, 0.0, None)

    def cells(self, counts: np.ndarray) -> np.ndarray:
        """Smooth values already summed per cell (grid order)."""
        if self.square:
            raster = np.zeros(self.nrows * self.ncols)
            raster[self.flat] = counts
            return self._convolve(raster.reshape(self.nrows, self.ncols)).ravel()[self.flat]
        return np.clip(self.matrix @ counts, 0.0, None)


def shares(surface: np.ndarray) -> np.ndarray:
    """``surface`` scaled to sum to 1 (all zeros stay zeros)."""
    total = float(surface.sum())
    return surface / total if total > 0 else np.zeros_like(surface)


class SurfaceModel(RiskModel):
    """A model whose forecast is a fixed spatial share ``surface_`` times a rate ``rate_per_day_``."""

    def _predict(self, horizon_days: float) -> np.ndarray:
        return self.surface_ * (self.rate_per_day_ * horizon_days)
