"""Everything in intel.__all__ resolves, and nothing private leaks through the public names."""

from __future__ import annotations

import importlib

import pytest

import intel


@pytest.mark.parametrize("name", sorted(intel.__all__))
def test_public_name_resolves(name):
    assert getattr(intel, name) is not None


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'do_kde'"):
        intel.do_kde  # noqa: B018


def test_every_error_is_an_intel_error_and_a_builtin():
    for name in ("InputError", "SchemaError", "ParseError", "CRSError", "GridError", "ResolutionError"):
        cls = getattr(intel, name)
        assert issubclass(cls, intel.IntelError)
        assert issubclass(cls, ValueError)
    assert issubclass(intel.NotFittedError, AttributeError)
    assert issubclass(intel.OptionalDependencyError, ImportError)


def test_cli_imports_every_command_module():
    cli = importlib.import_module("intel.cli")
    names = {c.name for c in cli.app.registered_commands}
    assert {"validate", "hotspots"} <= names
