"""Provenance records: what made an output.

Every public verb that returns a table attaches a record to ``table.attrs["provenance"]``:
the function, the parameters the user gave, the values intel chose automatically
(with the rule it used), the seed and the library versions. The CLI writes the same
record beside every file it writes.

Records are plain JSON-able dicts so they survive pandas operations and ``json.dumps``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import platform
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger("intel")

_VERSIONED = ("intel", "numpy", "pandas", "geopandas", "shapely", "pyproj", "scipy", "scikit-learn", "numba")


def library_versions() -> dict[str, str]:
    """Versions of intel and the libraries whose behaviour shapes its results."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    # reading package metadata costs ~5 ms per record; versions do not change within a process
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return tuple(versions.items())


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars and containers into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        f = float(value)
        return None if np.isnan(f) else f
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, _dt.timedelta)):
        return str(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_string") and "CRS" in type(value).__name__:
        return value.to_string()
    return repr(value)


def announce(message: str, *args: Any) -> None:
    """Log an automatic choice at INFO level on the ``intel`` logger (the CLI shows these)."""
    logger.info(message, *args)


def make_record(
    function: str,
    parameters: dict[str, Any],
    *,
    automatic: dict[str, Any] | None = None,
    seed: Any = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a provenance record.

    Parameters
    ----------
    function : str
        Public name of the verb, e.g. ``"score_kde"``.
    parameters : dict
        The parameters as the caller gave them (``None`` where left to intel).
    automatic : dict, optional
        Values intel chose, each ``{"value": ..., "rule": "..."}``. Only values the
        user did not give belong here.
    seed : int or None
        The random seed used, if any.
    extra : dict, optional
        Anything else worth keeping (counts, corrections applied).
    """
    record = {
        "function": function,
        "parameters": jsonable(parameters),
        "automatic": jsonable(automatic or {}),
        "seed": jsonable(seed),
        "versions": library_versions(),
        # no wall-clock timestamp: identical inputs must give byte-identical outputs
    }
    if extra:
        record.update(jsonable(extra))
    return record


def attach(table: pd.DataFrame, record: dict[str, Any]) -> pd.DataFrame:
    """Attach ``record`` to ``table.attrs["provenance"]``, keeping earlier steps in ``"history"``."""
    previous = table.attrs.get("provenance")
    history = list(table.attrs.get("history", []))
    if previous is not None:
        history.append(previous)
    table.attrs["provenance"] = record
    if history:
        table.attrs["history"] = history
    return table
