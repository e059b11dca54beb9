"""Shared fixtures. Real-data tests use ``shared_data``: they skip (saying why) when
``../shared/data`` is absent, and fail instead when ``CI`` is set, because CI has the data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("INTEL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data`` (the full real data sets)."""
    if not (SHARED_DATA / "chicago_crimes_2012_2018").is_dir():
        reason = f"full real data sets not found at {SHARED_DATA} (set INTEL_SHARED_DATA to point at them)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the real data: {reason}")
        pytest.skip(reason)
    return SHARED_DATA


@pytest.fixture(scope="session")
def chicago_files(shared_data: Path) -> list[Path]:
    """The seven yearly Chicago files, 2012-2018."""
    return sorted((shared_data / "chicago_crimes_2012_2018").glob("chicago_crimes_20*.csv.gz"))
