"""Prospective hot-spotting (Bowers, Johnson and Pease 2004).

Bowers, K. J., Johnson, S. D. and Pease, K. (2004). Prospective hot-spotting: the
future of crime mapping? *British Journal of Criminology* 44(5), 641-658.

Each past incident raises the risk of the cells around it, less the farther away and
the longer ago. The exact form implemented: the score of cell ``c`` is

    S_c = sum over incidents i with d_ci * s <= bandwidth_m and t_i < bandwidth_weeks of
          w_i / ((1 + d_ci) * (1 + t_i))

where ``d_ci`` is the distance between the centre of ``c`` and the centre of the cell
holding incident ``i`` in cell widths ``s`` (Euclidean, so 0 for the incident's own
cell, 1 for the four edge neighbours, sqrt(2) for the diagonal ones), and ``t_i`` the
incident's age in whole weeks (0 for the last seven days). Bowers et al. used 50 m
cells, a 400 m bandwidth and two months; open_cp's ``ProspectiveHotSpot`` uses the
same weights. Scores are scaled to expected counts with the mean daily count of the
time window.

Computation is binned: the time weights are applied to the incidents, the weighted
counts are binned to cells, and one convolution with the tabulated distance weights
gives every cell's score, so the cost per origin does not grow with the number of
incidents beyond one pass over those in the window.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_number
from ._base import Events
from ._spatial import CellSmoother, SurfaceModel, grid_unit_m, shares

__all__ = ["ProspectiveHotspot"]


def bjp_weights(distance_cells: np.ndarray, age_weeks: np.ndarray) -> np.ndarray:
    """Bowers-Johnson-Pease weight ``1 / ((1 + d) * (1 + t))`` (no bandwidth cut-off)."""
    return 1.0 / ((1.0 + distance_cells) * (1.0 + age_weeks))


class ProspectiveHotspot(SurfaceModel):
    """Prospective hot-spotting: distance- and time-decayed counts of recent incidents.

    Parameters
    ----------
    bandwidth_m : float
        Spatial bandwidth: incidents count for cells whose centres are at most this far
        from the centre of the incident's cell.
    bandwidth_weeks : int
        Time bandwidth: incidents of the last ``bandwidth_weeks`` whole weeks count.

    Attributes
    ----------
    scores_ : numpy.ndarray
        The Bowers-Johnson-Pease score ``S_c`` of every cell.
    surface_ : numpy.ndarray
        Scores as shares of the expected incidents (sum to 1 unless no incidents).
    rate_per_day_ : float
        Expected incidents per day in the grid (mean over the time window).

    Notes
    -----
    The distance unit is the cell: on a square grid the cell side, on a hexagonal grid
    the centre-to-centre distance, on irregular polygons the square root of the median
    cell area. See the module docstring for the exact formula.

    Examples
    --------
    >>> import intel
    >>> incidents = intel.make_synthetic(random_state=0)
    >>> grid = intel.make_grid(incidents, cell_size_m=100)
    >>> model = intel.ProspectiveHotspot(bandwidth_m=400, bandwidth_weeks=8)
    >>> scores = model.fit(incidents, grid=grid, origin="2018-12-03").predict(horizon="7D")
    >>> int(scores["rank"].min())
    1
    """

    def __init__(self, *, bandwidth_m: float = 400.0, bandwidth_weeks: int = 8) -> None:
        self.bandwidth_m = bandwidth_m
        self.bandwidth_weeks = bandwidth_weeks

    def _validate_params(self) -> None:
        owner = type(self).__name__
        check_number("bandwidth_m", self.bandwidth_m, owner, low=0)
        check_number("bandwidth_weeks", self.bandwidth_weeks, owner, low=1, integer=True)

    def _lookback_days(self) -> float:
        return 7.0 * self.bandwidth_weeks

    def _fit(self, events: Events) -> None:
        unit = grid_unit_m(self.grid_)
        bandwidth = float(self.bandwidth_m)

        def kernel(d: np.ndarray) -> np.ndarray:
            # 1e-9 slack: centre distances that equal the bandwidth are within it
            return np.where(d <= bandwidth * (1 + 1e-9), 1.0 / (1.0 + d / unit), 0.0)

        age_weeks = np.floor(-events.t / 7.0)
        smoother = CellSmoother(self.grid_, kernel, bandwidth + unit * 1e-6)
        self.scores_ = smoother(events.x, events.y, events.w / (1.0 + age_weeks))
        self.surface_ = shares(self.scores_)
        self.rate_per_day_ = float(events.counts(-self._lookback_days()).sum()) / self._lookback_days()
