"""Declarative parameter checks with scikit-learn-style messages.

``check_option("shape", shape, "make_grid", ("square", "hex"))`` raises
``InputError("The 'shape' parameter of make_grid must be one of 'square', 'hex'. Got 'round' instead.")``.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np

from .exceptions import InputError


def check_option(name: str, value: Any, owner: str, options: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``options``, else raise a clear :class:`InputError`."""
    options = tuple(options)
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise InputError(f"The {name!r} parameter of {owner} must be one of {listed}. Got {value!r} instead.")
    return value


def check_number(
    name: str,
    value: Any,
    owner: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
    integer: bool = False,
    allow_none: bool = False,
) -> Any:
    """Check that ``value`` is a (finite) number in an interval.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"``.
    """
    if value is None and allow_none:
        return None
    kind = "an int" if integer else "a float"
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type or not np.isfinite(value):
        raise InputError(f"The {name!r} parameter of {owner} must be {kind}{_interval(low, high, closed)}. Got {value!r} instead.")
    lo_ok = low is None or (value >= low if closed in ("both", "left") else value > low)
    hi_ok = high is None or (value <= high if closed in ("both", "right") else value < high)
    if not (lo_ok and hi_ok):
        raise InputError(f"The {name!r} parameter of {owner} must be {kind}{_interval(low, high, closed)}. Got {value!r} instead.")
    return value


def _interval(low: float | None, high: float | None, closed: str) -> str:
    if low is None and high is None:
        return ""
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    return f" in the range {left}{lo}, {hi}{right}"


def check_random_state(seed: Any) -> np.random.Generator:
    """Turn ``None``, an int or a Generator into a :class:`numpy.random.Generator`."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (numbers.Integral, np.integer)):
        return np.random.default_rng(seed)
    raise InputError(f"random_state must be None, an int or a numpy Generator. Got {seed!r} instead.")
