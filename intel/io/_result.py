"""LoadResult: the incidents, the rows set aside, and the account of both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd


@dataclass(frozen=True)
class LoadResult:
    """What :func:`intel.load_incidents` returns.

    Attributes
    ----------
    incidents : GeoDataFrame
        The Incidents table (see :mod:`intel`), ``attrs["provenance"]`` holding the report.
    quarantine : DataFrame
        The rows set aside: the source's columns as read (personal columns removed unless
        kept), plus ``source_row`` (1-based), ``reason`` (one code per row) and ``detail``.
    report : dict
        JSON-able account: ``n_read``, ``n_kept``, ``n_quarantined``, ``quarantine_reasons``,
        ``warnings``, ``dropped_columns``, ``schema``, ``crs``, ``source``, ``sha256``, ``tz``,
        ``time_resolution``, ``dst``, ``automatic`` and more.
    """

    incidents: gpd.GeoDataFrame
    quarantine: pd.DataFrame
    report: dict[str, Any]

    def summary(self) -> str:
        """A few lines for people: counts, reasons, warnings."""
        r = self.report
        lines = [
            f"{r['source']}: schema {r['schema']!r}, {r['n_read']:,} rows read, {r['n_kept']:,} kept, "
            f"{r['n_quarantined']:,} quarantined",
            f"  CRS {r['crs']}, time zone {r['tz']}, resolution "
            + ", ".join(f"{k} {v:,}" for k, v in r["time_resolution"].items() if v),
        ]
        for reason, count in r["quarantine_reasons"].items():
            lines.append(f"  quarantined {count:,}: {reason}")
        if r["dropped_columns"]:
            lines.append(f"  personal columns dropped: {', '.join(r['dropped_columns'])}")
        for text in r["warnings"]:
            lines.append(f"  warning: {text}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        r = self.report
        return (f"LoadResult(schema={r['schema']!r}, n_read={r['n_read']}, n_kept={r['n_kept']}, "
                f"n_quarantined={r['n_quarantined']}, warnings={len(r['warnings'])})")
