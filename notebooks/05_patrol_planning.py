# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Patrol planning with safeguards
#
# From a risk forecast to a shift plan: which places, how long, at what times, in what
# order, with safeguards against the failure modes of predictive patrol (over-policing
# the same blocks, feedback loops from incidents police discover themselves, predictable
# visits).
#
# Hot spot patrols work best as short, unpredictable visits: Koper (1995) found about
# 10-15 minutes per visit, roughly every two hours, to be "just enough police presence".

# %%
import intel

incidents = intel.load_sample("chicago_district11")
history = incidents[incidents["occurred_at"] < "2018-11-05"]

# %% [markdown]
# ## Leave out what police find themselves
#
# Narcotics, weapons and prostitution arrests are mostly discovered by police activity:
# they are recorded where officers already are, and a forecast built on them sends
# officers back there (Ensign et al. 2018). `reported_only` keeps the incidents the
# public reports.

# %%
reported = intel.reported_only(history, discovered_categories=["NARCOTICS", "WEAPONS VIOLATION", "PROSTITUTION"])
reported.attrs["detection"]

# %% [markdown]
# ## Risk for next week
#
# The 52-week count is hard to beat (see notebook 4); we use it here.

# %%
grid = intel.make_grid(reported, cell_size_m=150)
model = intel.RecentCount(weeks=52).fit(reported, grid=grid, origin="2018-11-05")
risk = model.predict(horizon="7D")
risk.attrs["detection"] = reported.attrs["detection"]  # so the plan records the safeguard

# %% [markdown]
# ## The plan
#
# Three shifts, two units each. Places are compact groups of high-risk cells; 10% are
# drawn at random (exploration), so that data keep coming from everywhere. Visit times
# are random and the seed is recorded, so the plan can be reproduced but not predicted.

# %%
plan = intel.recommend_patrols(risk, units=2, date="2018-11-05", random_state=0)
plan[["shift", "place_id", "unit", "selection", "minutes", "visit_times", "expected_share", "reason"]].head(8)

# %%
for name, safeguard in plan.attrs["safeguards"].items():
    print(f"{name}: on={safeguard.get('on')} setting={safeguard.get('setting')}")

# %% [markdown]
# ## Routes and the map
#
# Each unit's visiting order from the district station (here the centre of the area),
# with travel times.

# %%
x0, y0, x1, y1 = risk.total_bounds
routes = intel.plan_routes(plan, start=((x0 + x1) / 2, (y0 + y1) / 2))
routes[["shift", "unit", "stop", "place_id", "leg_m", "leg_minutes", "cumulative_minutes"]].head()

# %%
intel.map_patrols(plan, routes)

# %% [markdown]
# ## Audit: patrol minutes against reported incidents, by beat
#
# A ratio well above 1 means a beat gets more patrol than its share of what the public
# reports: the first sign of a plan drifting toward over-policing.

# %%
beats = intel.load_sample("chicago_district11_beats")
intel.audit_patrols(plan, reported[reported["occurred_at"] >= "2017-11-06"], areas=beats, id_column="beat_num")

# %% [markdown]
# ## A visit log for officers
#
# One row per planned visit, with columns for officers to fill in (arrival, departure,
# notes). `evaluate_patrols` later compares what was planned with what happened.

# %%
intel.build_visit_log(plan).head()
