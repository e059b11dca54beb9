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
# # 2. Hot spot mapping
#
# Where are incidents concentrated, and which concentrations are more than chance? This
# notebook maps a year of robberies and burglaries in Chicago police district 11 in four
# ways: counts per cell, a density surface, Getis-Ord Gi* hot spots, and change between
# two periods. Every verb returns the **same grid of cells with more columns**, so the
# results line up row for row.
#
# The maps are self-contained: Leaflet is embedded, no basemap is fetched, so they also
# work on a network without internet access.

# %%
import intel

incidents = intel.load_sample("chicago_district11")
year = incidents[(incidents["occurred_at"] >= "2017-11-01") & (incidents["occurred_at"] < "2018-11-01")]
robbery = year[year["category"] == "ROBBERY"]
print(f"{len(robbery):,} robberies from November 2017 to October 2018")

# %% [markdown]
# ## One grid for everything
#
# 150 m squares are about a city block. Passing the same grid to every verb keeps the
# results comparable.

# %%
grid = intel.make_grid(year, cell_size_m=150)
print(f"{len(grid):,} cells of {grid.attrs['grid']['cell_size_m']:g} m")

# %% [markdown]
# ## Counts per cell, and how concentrated they are
#
# The "law of crime concentration": a small share of places holds a large share of
# incidents.

# %%
counts = intel.score_counts(robbery, grid)
concentration = intel.concentration(counts)
print(f"Gini of the cell counts: {concentration.attrs['gini']:.2f}")
concentration

# %%
intel.map_scores(counts, "n", title="Robberies per cell, Nov 2017 - Oct 2018")

# %% [markdown]
# ## A density surface
#
# Kernel density estimation spreads each incident over its surroundings; the bandwidth
# (chosen from the data, and reported) sets how far. Good for seeing the shape of an
# area's problem; it does not test anything.

# %%
density = intel.score_kde(robbery, grid)
print("bandwidth:", density.attrs["provenance"]["automatic"].get("bandwidth_m", {}).get("value"), "m")
intel.map_density(density, title="Robbery density (incidents per km²)")

# %% [markdown]
# ## Hot spots that are more than chance: Getis-Ord Gi*
#
# Gi* compares each cell and its neighbours with the area-wide mean. Cells are classed
# hot (red) or cold (blue) at 90, 95 or 99% confidence after a correction for testing
# hundreds of cells at once (Benjamini-Hochberg).

# %%
hot = intel.score_gistar(robbery, grid)
hot["hotspot_class"].value_counts()

# %%
intel.map_hotspots(hot, title="Robbery hot spots (Gi*)")

# %% [markdown]
# The same result as a static figure for a report or slide:

# %%
intel.plot_grid(hot, "hotspot_class", title="Robbery hot spots, district 11");

# %% [markdown]
# ## Change between two periods
#
# Did burglary move or grow? `score_change` tests each cell's count after against before
# with an exact binomial test, corrected for the number of cells.

# %%
burglary = incidents[incidents["category"] == "BURGLARY"]
before = burglary[(burglary["occurred_at"] >= "2016-11-01") & (burglary["occurred_at"] < "2017-11-01")]
after = burglary[(burglary["occurred_at"] >= "2017-11-01") & (burglary["occurred_at"] < "2018-11-01")]
change = intel.score_change(before, after, grid)
print(f"burglaries: {len(before):,} before, {len(after):,} after")
change["change_class"].value_counts()

# %%
intel.map_hotspots(change, "change_class", title="Burglary: change by cell")
