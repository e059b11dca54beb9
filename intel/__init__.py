"""intel: place-based crime and incident intelligence analysis.

The public API is ``__all__``; everything else is private. Names load lazily so that
``import intel`` (and the ``intel`` command) start fast.

>>> import intel
>>> incidents = intel.load_sample("memphis_robberies")
>>> scores = intel.score_gistar(incidents, cell_size_m=500)
>>> "hotspot_class" in scores.columns
True
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

from .exceptions import (
    AutomaticChoiceWarning,
    CRSError,
    DataQualityWarning,
    GridError,
    InputError,
    IntelError,
    NotFittedError,
    OptionalDependencyError,
    ParseError,
    ResolutionError,
    SchemaError,
)

try:
    from importlib.metadata import version as _version

    __version__ = _version("intel")
except Exception:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

logging.getLogger("intel").addHandler(logging.NullHandler())

# numba's GNU OpenMP threading layer kills any child process forked after one of intel's parallel
# loops ran (fork is multiprocessing's default on Linux). Ask for a fork-safe layer unless the user chose one.
if "NUMBA_THREADING_LAYER" not in os.environ:
    os.environ["NUMBA_THREADING_LAYER"] = "forksafe"
    if "numba" in sys.modules:
        sys.modules["numba"].config.THREADING_LAYER = "forksafe"

_EXPORTS: dict[str, str] = {}


def _export(module: str, *names: str) -> None:
    for name in names:
        _EXPORTS[name] = module


# Each module's public names; one line per module.
_export("io", "read_incidents", "load_incidents", "LoadResult", "list_schemas")
_export("datasets", "load_sample", "list_samples", "make_synthetic")
_export("grid", "make_grid", "as_grid", "assign_cells")
_export("density", "score_counts", "score_kde", "score_dual_kde")
_export("stats", "score_gistar", "score_moran", "score_change", "concentration")
_export("cube", "build_cube")
_export("temporal", "build_hour_weekday", "build_period_counts", "compare_periods")
_export("emerging", "classify_emerging", "mann_kendall")
_export("clusters", "STDBSCAN", "NNH", "cluster_hdbscan", "build_cluster_table")
_export("nearrepeat", "knox_test", "classify_near_repeats", "active_alert_zones")
_export("models", "RiskModel", "LastPeriod", "RecentCount", "SamePeriodLastYear", "KDERisk", "ProspectiveHotspot",
        "GridSEPP", "KernelSEPP", "RiskTerrain", "GradientBoostingRisk", "ShiftProfile", "EnsembleRisk")
_export("evaluate", "hit_rate", "pai", "pei", "rri", "score_forecast", "capture_curve", "rolling_backtest",
        "summarize_backtest", "build_model_card", "build_forecast")
_export("patrol", "recommend_patrols", "plan_routes", "design_beats", "locate_posts", "simulate_feedback",
        "audit_patrols", "build_visit_log", "evaluate_patrols", "reported_only")
_export("maps", "map_scores", "map_hotspots", "map_emerging", "map_density", "map_clusters", "map_patrols")
_export("plots", "plot_grid", "plot_hour_weekday", "plot_trend", "plot_capture_curve")
_export("briefing", "build_briefing", "Briefing")

__all__ = [
    "IntelError", "InputError", "SchemaError", "ParseError", "CRSError", "GridError", "ResolutionError",
    "NotFittedError", "OptionalDependencyError", "DataQualityWarning", "AutomaticChoiceWarning",
    "__version__",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'intel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
