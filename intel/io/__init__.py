"""Loading incident records: readers, schema presets, quarantine and the personal-data guard.

:func:`load_incidents` turns a police export (CSV, Excel, Parquet, GeoJSON, GeoPackage,
Shapefile, a DataFrame or a SQL table) into the Incidents table and accounts for every
row: each one is kept or quarantined with one reason, and
``n_read == n_kept + n_quarantined``. :func:`read_incidents` returns only the table.
The quarantine rules and warning thresholds are documented in :mod:`intel.io._quality`,
time parsing and DST in :mod:`intel.io._times`, the personal-data rule in
:mod:`intel.io._personal`, the presets in :mod:`intel.io._schemas`.
"""

from __future__ import annotations

from ._load import load_incidents, read_incidents
from ._quality import REASONS
from ._result import LoadResult
from ._schemas import FIELDS, list_schemas

__all__ = ["load_incidents", "read_incidents", "LoadResult", "list_schemas", "REASONS", "FIELDS"]
