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
# # 3. Space-time patterns
#
# Hot spots change. This notebook looks at **when** incidents happen (trends, hour by
# weekday, this week against the usual), **how hot spots evolve** (emerging hot spot
# analysis), and **whether incidents follow one another nearby** (near repeats), using
# Chicago police district 11.

# %%
import intel

incidents = intel.load_sample("chicago_district11")
incidents = incidents[incidents["occurred_at"] < "2018-11-05"]  # whole weeks, up to the end of week 2018-W44
grid = intel.make_grid(incidents, cell_size_m=150)

# %% [markdown]
# ## Trend: weekly counts against a Poisson band
#
# Each week is compared with the mean of the four weeks before it; the band is the range
# that chance alone gives (about ± 2 √mean). Points outside it deserve a look.

# %%
weekly = intel.build_period_counts(incidents, freq="W-MON", by=None, start="2017-01-02", end="2018-11-05")
intel.plot_trend(weekly, title="District 11: incidents per week");

# %% [markdown]
# ## This week against the usual
#
# `compare_periods` never gives a percent change alone: each comparison comes with a
# z-score and an exact p-value.

# %%
intel.compare_periods(incidents, week="2018-W44")[
    ["comparison", "current", "baseline", "percent_change", "z", "p_value"]]

# %% [markdown]
# ## When in the week
#
# Incidents known only to a time window (e.g. a burglary between Friday evening and
# Monday morning) are spread over the hours they cover (the aoristic method).

# %%
last_quarter = incidents[incidents["occurred_at"] >= "2018-08-06"]
intel.plot_hour_weekday(intel.build_hour_weekday(last_quarter), title="Last 13 weeks, by hour and weekday");

# %% [markdown]
# ## Emerging hot spots
#
# A space-time cube holds weekly counts per cell (zeros included). Emerging hot spot
# analysis runs Gi* in every cell and week, then a Mann-Kendall trend test on each
# cell's series, and classes cells as ArcGIS Pro does: new, consecutive, intensifying,
# persistent, diminishing, sporadic, oscillating or historical hot (and cold) spots.

# %%
cube = intel.build_cube(incidents, grid, freq="W-MON", start="2017-11-06", end="2018-11-05")
emerging = intel.classify_emerging(cube, grid)
emerging["hotspot_class"].value_counts()

# %%
intel.map_emerging(emerging, title="Emerging hot spots, 52 weeks to 4 Nov 2018")

# %% [markdown]
# ## Near repeats: does one burglary raise the risk next door?
#
# The Knox test counts pairs of burglaries close in space and time and compares them
# with reshuffled dates. Ratios above 1 (significant in bold in the table) in the first
# rows and columns are the near-repeat pattern.

# %%
burglary = incidents[incidents["category"] == "BURGLARY"]
knox = intel.knox_test(burglary[burglary["occurred_at"] >= "2017-11-06"], permutations=99, random_state=0)
knox.pivot(index="distance_band", columns="time_band", values="knox_ratio").loc[
    knox["distance_band"].unique(), knox["time_band"].unique()].round(2)

# %% [markdown]
# Each burglary can then be labelled (originator, repeat, near repeat, isolated), and the
# areas still at raised risk on a given day become alert zones: 200 m around each
# burglary of the last 14 days.

# %%
labelled = intel.classify_near_repeats(burglary, distance_m=200, days=14)
print(labelled["near_repeat_class"].value_counts().to_dict())
zones = intel.active_alert_zones(burglary, distance_m=200, days=14, as_of="2018-11-05")
zones[["zone_id", "n", "first_at", "last_at", "expires_at"]]

# %% [markdown]
# ## Space-time clusters
#
# ST-DBSCAN groups incidents that are close in both space and time: here robberies within
# 150 m and 7 days of each other, at least 4 together.

# %%
robbery = incidents[(incidents["category"] == "ROBBERY") & (incidents["occurred_at"] >= "2018-05-07")]
labels = intel.STDBSCAN(eps_m=150, eps_days=7, min_samples=4).fit_predict(robbery)
clusters = intel.build_cluster_table(robbery, labels)
print(f"{len(clusters)} clusters among {len(robbery):,} robberies")
intel.map_clusters(clusters, robbery, labels=labels, title="Robbery space-time clusters (ST-DBSCAN)")
