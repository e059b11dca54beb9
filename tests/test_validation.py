"""Parameter checks read like scikit-learn's; provenance records are JSON and free of wall-clock time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from intel._provenance import attach, jsonable, make_record
from intel._validation import check_number, check_option, check_random_state
from intel.exceptions import InputError


def test_option_message_names_parameter_owner_and_value():
    with pytest.raises(InputError, match=r"The 'shape' parameter of make_grid must be one of 'square', 'hex'. Got 'round' instead."):
        check_option("shape", "round", "make_grid", ("square", "hex"))


@pytest.mark.parametrize("value", [-1, 0, float("nan"), "5", True])
def test_number_rejects_out_of_range_and_wrong_types(value):
    with pytest.raises(InputError, match=r"'eps' parameter of DBSCAN must be a float in the range \(0, inf\)"):
        check_number("eps", value, "DBSCAN", low=0, closed="neither")


def test_number_accepts_and_returns_value():
    assert check_number("k", 3, "f", low=1, integer=True) == 3
    assert check_number("k", None, "f", allow_none=True) is None


def test_random_state_is_reproducible():
    a = check_random_state(7).random(3)
    b = check_random_state(7).random(3)
    assert np.array_equal(a, b)
    gen = np.random.default_rng(1)
    assert check_random_state(gen) is gen
    with pytest.raises(InputError):
        check_random_state("seven")


def test_record_is_json_and_deterministic():
    r1 = make_record("score_kde", {"bandwidth_m": None}, automatic={"bandwidth_m": {"value": np.float64(250.0), "rule": "x"}}, seed=np.int64(3))
    r2 = make_record("score_kde", {"bandwidth_m": None}, automatic={"bandwidth_m": {"value": 250.0, "rule": "x"}}, seed=3)
    assert json.dumps(r1, sort_keys=True) == json.dumps(r2, sort_keys=True)
    assert r1["versions"]["numpy"] == np.__version__
    assert "created_at" not in r1


def test_attach_keeps_history():
    df = pd.DataFrame({"a": [1]})
    attach(df, {"function": "first"})
    attach(df, {"function": "second"})
    assert df.attrs["provenance"]["function"] == "second"
    assert df.attrs["history"][0]["function"] == "first"


def test_jsonable_handles_numpy_pandas_and_nan():
    out = jsonable({"a": np.int32(1), "b": np.float32(np.nan), "c": pd.Timestamp("2020-01-01", tz="UTC"), "d": np.array([1, 2])})
    assert out == {"a": 1, "b": None, "c": "2020-01-01T00:00:00+00:00", "d": [1, 2]}
