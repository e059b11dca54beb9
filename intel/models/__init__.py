"""Risk models: fit on incidents before an origin, predict expected counts per cell.

Every model follows :class:`RiskModel`'s contract (scikit-learn conventions,
``fit(incidents, *, grid, origin)``, ``predict_risk(*, horizon)``, ``predict(*, horizon)``).
"""

from ._base import RiskModel
from ._baselines import LastPeriod, RecentCount, SamePeriodLastYear
from ._kde import KDERisk
from ._prospective import ProspectiveHotspot
from ._sepp import GridSEPP
from ._sepp_kernel import KernelSEPP
from ._ensemble import EnsembleRisk
from ._gbm import GradientBoostingRisk
from ._rtm import RiskTerrain
from ._shift import ShiftProfile

__all__ = ["RiskModel", "LastPeriod", "RecentCount", "SamePeriodLastYear", "KDERisk", "ProspectiveHotspot",
           "GridSEPP", "KernelSEPP", "RiskTerrain", "GradientBoostingRisk", "ShiftProfile", "EnsembleRisk"]
