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
# # 4. Forecasting and honest backtests
#
# A risk forecast ranks places by the number of incidents to expect next week. It is
# only worth using if it beats simply counting recent incidents, so every model here is
# measured the same way: refitted at rolling weekly origins on the data **before** each
# origin only (the harness never hands a model a later row), and scored on the week that
# followed, **against the naive baselines**.
#
# Measures (at a share of the area flagged, e.g. the top 5% of cells):
# - **hit rate**: share of next week's incidents that fell in the flagged cells;
# - **PAI** (predictive accuracy index): hit rate / share of area (1 = chance);
# - **PEI**: hit rate / the best hit rate possible with that much area (1 = perfect).

# %%
import intel
from IPython.display import Markdown

incidents = intel.load_sample("chicago_district11")
burglary = incidents[incidents["category"] == "BURGLARY"]
grid = intel.make_grid(burglary, cell_size_m=150)
print(f"{len(burglary):,} burglaries, {len(grid):,} cells")

# %% [markdown]
# ## Candidate models
#
# - `KDERisk`: kernel density of the last year (a retrospective hot spot map);
# - `ProspectiveHotspot`: recent burglaries nearby weigh most (Bowers, Johnson & Pease);
# - the naive baselines are added automatically: last week, the last 4 weeks, the last 52
#   weeks, and the same week last year.

# %%
models = {"KDE": intel.KDERisk(), "prospective": intel.ProspectiveHotspot()}
results = intel.rolling_backtest(burglary, models, grid=grid, start="2018-08-06", end="2018-11-05",
                                 coverages=(0.01, 0.02, 0.05, 0.1, 0.2), progress=True)
summary = intel.summarize_backtest(results, n_boot=500, random_state=0)
summary.loc[summary["coverage"] == 0.05, ["model", "hit_rate", "hit_rate_lo", "hit_rate_hi", "pai", "pai_lo",
                                          "pai_hi", "vs_reference"]].round(3)

# %% [markdown]
# `vs_reference` compares each model with the 52-week count week by week (a paired
# bootstrap): "better" only when the whole interval of the difference in PAI is above
# zero. With 13 weekly origins of a few burglaries each, intervals are wide: expect "not
# distinguishable" more often than not.

# %%
intel.plot_capture_curve(results, metric="hit_rate", title="Burglary: share caught by share of area flagged");

# %% [markdown]
# ## Next week's forecast and its model card
#
# Fit on everything before the origin, predict the next 7 days. The model card says what
# the model is, what data it learnt from, how accurate it was against the baselines, its
# known limits and what it must not be used for.

# %%
model = intel.ProspectiveHotspot().fit(burglary, grid=grid, origin="2018-11-05")
forecast = model.predict(horizon="7D")
print(f"expected burglaries next week: {forecast['risk'].sum():.1f}")
card = intel.build_model_card(model, summary, incidents=burglary, grid=grid, horizon="7D",
                              label="prospective", format="markdown")
Markdown(card)

# %%
top = forecast.loc[forecast["rank"] <= 25]
intel.map_scores(top, "risk", title="Expected burglaries next week, top 25 cells")
