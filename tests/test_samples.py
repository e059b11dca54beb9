"""The bundled samples: present, documented, small, and loading as promised."""

from __future__ import annotations

import pandas as pd
import pytest

import intel
from intel._samples import SAMPLES, SAMPLES_DIR
from intel.exceptions import InputError


def test_every_sample_file_exists_and_is_documented():
    readme = (SAMPLES_DIR / "README.md").read_text()
    for name, sample in SAMPLES.items():
        assert (SAMPLES_DIR / sample.file).is_file(), sample.file
        assert f"`{sample.file}`" in readme and f"`{name}`" in readme
    assert "licence" in readme.lower() and "Open Government Licence" in readme


def test_samples_stay_small():
    total = sum(p.stat().st_size for p in SAMPLES_DIR.iterdir() if p.is_file())
    assert total < 8 * 2**20


def test_list_samples_matches_the_registry():
    assert intel.list_samples() == sorted(SAMPLES)
    assert {"chicago_district11", "memphis_robberies", "memphis_precincts", "policeuk_west_yorkshire_2018_07",
            "chicago_district11_beats"} <= set(intel.list_samples())


def test_chicago_district11():
    inc = intel.load_sample("chicago_district11")
    prov = inc.attrs["provenance"]
    assert prov["schema"] == "chicago" and prov["n_read"] == 53_059 and len(inc) == prov["n_kept"]
    assert inc.crs.to_epsg() == 32616
    assert (inc["district"] == 11).all()
    assert inc["occurred_at"].min() >= pd.Timestamp("2016-01-01", tz="America/Chicago")
    assert inc["occurred_at"].max() < pd.Timestamp("2018-11-13", tz="America/Chicago")


def test_memphis_robberies_and_precincts_line_up():
    inc = intel.load_sample("memphis_robberies")
    precincts = intel.load_sample("memphis_precincts")
    assert len(inc) == 2245 and inc.crs == precincts.crs and precincts.crs.is_projected
    assert len(precincts) == 9
    inside = inc.sjoin(precincts, predicate="within")
    assert len(inside) >= 0.98 * len(inc)


def test_district11_beats_cover_the_incidents():
    beats = intel.load_sample("chicago_district11_beats")
    assert len(beats) == 15 and beats.crs.to_epsg() == 32616 and beats["beat_num"].str.startswith("11").all()
    inc = intel.load_sample("chicago_district11")
    # points are snapped to the block, and boundary streets carry them: allow 10 m
    assert inc.within(beats.union_all().buffer(10)).mean() > 0.999


def test_policeuk_leeds_month():
    inc = intel.load_sample("policeuk_west_yorkshire_2018_07")
    assert set(inc["time_resolution"]) == {"month"} and inc.crs.to_epsg() == 32630
    assert inc["lsoa_name"].str.startswith("Leeds ").all()
    assert inc["incident_id"].is_unique


def test_load_sample_passes_options_and_rejects_bad_names():
    inc = intel.load_sample("memphis_robberies", target_crs="EPSG:3857")
    assert inc.crs.to_epsg() == 3857
    with pytest.raises(InputError, match="Available"):
        intel.load_sample("atlantis")
    with pytest.raises(InputError, match="takes no options"):
        intel.load_sample("memphis_precincts", tz="UTC")
