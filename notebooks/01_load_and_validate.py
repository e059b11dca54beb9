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
# # 1. Load and validate incident data
#
# Every analysis starts with the data, and police exports are never clean: missing
# coordinates, default times (midnight, noon, the 1st of the month), duplicate ids,
# person-level columns that should not travel further. intel's loader **accounts for
# every row**: each one is either kept or set aside (quarantined) with a reason, and
# suspicious patterns are reported as warnings rather than silently "fixed".
#
# This notebook uses the bundled samples: reported crimes in Chicago police district 11
# (2016 to November 2018) and a month of police.uk street-level crime in Leeds.

# %%
import warnings

import intel

intel.list_samples()

# %% [markdown]
# ## Load a sample
#
# `intel.load_sample` reads a bundled file exactly as `intel.load_incidents` reads yours:
# the columns are recognised (here the Chicago data portal's layout), times are put in
# the city's time zone and locations projected to metres. Data-quality warnings are kept
# in the load report instead of being raised (we look at them below).

# %%
incidents = intel.load_sample("chicago_district11")
print(f"{len(incidents):,} incidents, CRS {incidents.crs.to_string()}")
incidents[["incident_id", "occurred_at", "time_resolution", "category", "block", "beat", "geometry"]].head()

# %% [markdown]
# ## The load report: every row accounted for
#
# The report travels with the table in `attrs["provenance"]`. Rows read = rows kept +
# rows quarantined, always.

# %%
report = incidents.attrs["provenance"]
print(f"read {report['n_read']:,} = kept {report['n_kept']:,} + quarantined {report['n_quarantined']:,}")
print("quarantined by reason:", report["quarantine_reasons"])
print("geocoded share:", report["geocoded_share"])
for text in report["warnings"]:
    print("warning:", text)

# %% [markdown]
# To see the rows set aside, load the file with `intel.load_incidents`, which returns the
# incidents, the quarantine table and the report together. (The report names the file it
# read.)

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", intel.DataQualityWarning)  # already listed above
    result = intel.load_incidents(report["source"])
print(result.summary())
result.quarantine[["source_row", "reason", "detail"]].head()

# %% [markdown]
# ## Why the default-time warning matters
#
# The loader found more incidents at exactly 12:00 than at the neighbouring hours: an
# unknown time recorded as noon. The hour-by-weekday table shows the false peak. Keep it
# in mind when you read "when" results, or leave such offences out of time profiles.

# %%
table = intel.build_hour_weekday(incidents)
intel.plot_hour_weekday(table, title="District 11, 2016-2018: incidents by hour and weekday");

# %% [markdown]
# ## Coarse data: police.uk months
#
# police.uk publishes a month and a snapped location per crime. intel records the month
# resolution and refuses analyses that would invent detail (weekly counts, hours), with
# an error that says why.

# %%
leeds = intel.load_sample("policeuk_west_yorkshire_2018_07")
print(leeds["time_resolution"].value_counts().to_dict())
try:
    intel.build_hour_weekday(leeds)
except intel.ResolutionError as error:
    print("ResolutionError:", error)

# %% [markdown]
# Monthly data still support maps of where crime is concentrated:

# %%
counts = intel.score_counts(leeds, cell_size_m=500)
intel.map_scores(counts, "n", title="Leeds, July 2018: crimes per 500 m cell")
