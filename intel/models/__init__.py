"""Risk models: fit on incidents before an origin, predict expected counts per cell.

Every model follows :class:`RiskModel`'s contract (scikit-learn conventions,
``fit(incidents, *, grid, origin)``, ``predict_risk(*, horizon)``, ``predict(*, horizon)``).
"""

from ._base import RiskModel
from ._baselines import LastPeriod, RecentCount, SamePeriodLastYear

__all__ = ["RiskModel", "LastPeriod", "RecentCount", "SamePeriodLastYear"]
