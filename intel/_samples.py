"""The registry of bundled samples in ``data/samples/`` and how each one loads.

Incident samples go through :func:`intel.read_incidents` like any user file (so they
are validated, and the default-time warnings of real data are kept in the load
report rather than raised at every doctest); boundary samples are read with geopandas
and projected to a metric CRS. Sources and licences: ``data/samples/README.md``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from .exceptions import DataQualityWarning, InputError

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"


@dataclass(frozen=True)
class Sample:
    file: str
    kind: str  # "incidents" or "polygons"
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    target_crs: str | None = None  # polygons: projected CRS to return


SAMPLES: dict[str, Sample] = {
    "chicago_district11": Sample(
        "chicago_district11.csv.gz", "incidents",
        "Chicago reported crimes in police district 11, 2016-01-01 to 2018-11-12 (53,059 rows, all columns)",
        {"schema": "chicago"},
    ),
    "chicago_district11_beats": Sample(
        "chicago_district11_beats.geojson", "polygons",
        "The 15 CPD beats of district 11 (polygons), projected to UTM 16N like the incidents",
        target_crs="EPSG:32616",
    ),
    "memphis_robberies": Sample(
        "memphis_robberies.csv", "incidents",
        "Memphis personal robberies, 2019 (Crime Open Database; 2,245 rows)",
        {"schema": "code", "tz": "America/Chicago"},
    ),
    "memphis_precincts": Sample(
        "memphis_precincts.geojson", "polygons",
        "The 9 Memphis Police Department precincts (polygons), projected to UTM 16N",
        target_crs="EPSG:32616",
    ),
    "policeuk_west_yorkshire_2018_07": Sample(
        "policeuk_west_yorkshire_2018_07.csv.gz", "incidents",
        "data.police.uk street-level crime, July 2018, West Yorkshire Police, Leeds LSOAs only "
        "(original police.uk headers; month resolution)",
        {"schema": "policeuk"},
    ),
}


def load(name: str, **kwargs: Any) -> gpd.GeoDataFrame:
    """Load sample ``name``; ``kwargs`` go to :func:`intel.read_incidents` (incident samples)."""
    sample = SAMPLES.get(name)
    if sample is None:
        raise InputError(f"load_sample: no sample called {name!r}. Available: {', '.join(sorted(SAMPLES))}.")
    path = SAMPLES_DIR / sample.file
    if not path.exists():
        raise InputError(f"load_sample: {path} is missing; rebuild it with data/samples/build_samples.py "
                         "or reinstall intel from a source checkout.")
    if sample.kind == "polygons":
        if kwargs:
            raise InputError(f"load_sample({name!r}) takes no options (it returns polygons); got {sorted(kwargs)}.")
        layer = gpd.read_file(path)
        return layer.to_crs(sample.target_crs)
    from .io import read_incidents

    options = {**sample.options, **kwargs}
    with warnings.catch_warnings():
        # the samples are real data with known default-time heaping; the report keeps the warnings
        warnings.simplefilter("ignore", DataQualityWarning)
        return read_incidents(path, **options)
