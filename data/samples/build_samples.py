"""Rebuild the bundled samples from ../shared/data (run from the repository root).

    .venv/bin/python data/samples/build_samples.py

Every output is deterministic (gzip without a timestamp, sorted rows), so a rebuild
gives byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data"


def write_gzip_csv(frame: pd.DataFrame, path: Path) -> None:
    text = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9, filename="") as gz:
        gz.write(text)


def chicago_district11() -> None:
    folder = SHARED / "chicago_crimes_2012_2018"
    parts = []
    for year in (2016, 2017, 2018):
        frame = pd.read_csv(folder / f"chicago_crimes_{year}.csv.gz", dtype=str, keep_default_na=False)
        parts.append(frame[frame["district"] == "11"])
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[(frame["datetime"] >= "2016-01-01") & (frame["datetime"] < "2018-11-13")]
    write_gzip_csv(frame, HERE / "chicago_district11.csv.gz")


def chicago_district11_beats() -> None:
    kmz = SHARED / "chicago_crimes_2012_2018" / "ancillary" / "police-beats-current.kmz"
    beats = gpd.read_file(f"/vsizip/{kmz}")
    beats = beats[beats["DISTRICT"] == "11"].sort_values("BEAT_NUM").reset_index(drop=True)
    beats = beats.rename(columns=str.lower)[["beat_num", "district", "sector", "beat", "geometry"]]
    if beats.crs is None:
        beats = beats.set_crs(4326)
    beats.to_crs(4326).to_file(HERE / "chicago_district11_beats.geojson", driver="GeoJSON", COORDINATE_PRECISION=6)


def memphis() -> None:
    folder = SHARED / "memphis_robberies_2019"
    shutil.copyfile(folder / "memphis_robberies_2019.csv", HERE / "memphis_robberies.csv")
    shutil.copyfile(folder / "memphis_precincts.geojson", HERE / "memphis_precincts.geojson")


def policeuk_leeds() -> None:
    src = SHARED / "west_yorkshire_policeuk_jul2016_2018" / "original" / "2018-07-west-yorkshire-street.csv.gz"
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    frame = frame[frame["LSOA name"].str.startswith("Leeds ")]
    write_gzip_csv(frame, HERE / "policeuk_west_yorkshire_2018_07.csv.gz")


if __name__ == "__main__":
    chicago_district11()
    chicago_district11_beats()
    memphis()
    policeuk_leeds()
    for p in sorted(HERE.iterdir()):
        print(f"{p.name:45s} {p.stat().st_size:>10,d}")
