"""Patrol plans from risk surfaces: where, when, how long and in what order, with safeguards.

- :func:`recommend_patrols`: compact places per shift, visits and randomised times
  (Koper curve), under capacity, exploration and area-cap safeguards;
- :func:`plan_routes`: each unit's visiting order from the station, with travel times;
- :func:`design_beats`: contiguous, compact beats of balanced workload, and officers;
- :func:`locate_posts`: post locations covering the most risk within a response time;
- :func:`reported_only`, :func:`simulate_feedback`, :func:`audit_patrols`: guarding
  against the runaway feedback loop of predictive policing;
- :func:`build_visit_log`, :func:`evaluate_patrols`: tracking and testing the patrols.
"""

from ._beats import design_beats
from ._feedback import simulate_feedback
from ._plan import recommend_patrols
from ._posts import locate_posts
from ._routes import plan_routes
from ._safeguards import audit_patrols, reported_only
from ._tracking import build_visit_log, evaluate_patrols

__all__ = [
    "recommend_patrols",
    "plan_routes",
    "design_beats",
    "locate_posts",
    "reported_only",
    "simulate_feedback",
    "audit_patrols",
    "build_visit_log",
    "evaluate_patrols",
]
