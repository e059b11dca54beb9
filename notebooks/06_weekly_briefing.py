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
# # 6. The weekly briefing
#
# One call builds what a Monday meeting asks for: this week against the usual, hot spots
# and how they moved, emerging hot spots, when incidents happen, near-repeat alerts, next
# week's forecast with its measured accuracy and limits, a patrol plan with its
# safeguards, the data-quality report and the provenance.
#
# The same briefing comes from the command line, for a scheduled job:
#
# ```bash
# intel brief data/samples/chicago_district11.csv.gz --week 2018-W44 --out out/briefing
# ```
#
# This notebook is parameterised for papermill: change the cell below, or run
# `papermill 06_weekly_briefing.ipynb out.ipynb -p week 2018-W43`.

# %% tags=["parameters"]
week = "2018-W44"
sample = "chicago_district11"
out_dir = "out/briefing"

# %%
import intel

incidents = intel.load_sample(sample)
briefing = intel.build_briefing(incidents, week=week, progress=True)

# %% [markdown]
# ## In brief

# %%
for line in briefing.data["highlights"]:
    print("-", line)

# %% [markdown]
# ## Write it
#
# `briefing.html` opens in any browser without a network (maps and figures are inside
# it), `briefing.json` holds every number, and each table is also a CSV. Rerunning with
# the same data and parameters gives byte-identical files.

# %%
paths = briefing.write(out_dir)
sorted(p.name for p in paths.values())

# %% [markdown]
# ## The tables behind it
#
# For example the busiest cells of the last four weeks, with their rank four weeks
# earlier:

# %%
briefing.tables["hotspots"].head(10)

# %% [markdown]
# ## The page

# %%
briefing
