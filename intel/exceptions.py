"""One exception tree for intel.

Users catch :class:`IntelError` (or one of its children). Every child also
subclasses the builtin it refines, so ``except ValueError`` keeps working for
code that does not know intel.

Messages follow one shape: a headline saying what is wrong, where (file, row,
column) and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "IntelError",
    "InputError",
    "SchemaError",
    "ParseError",
    "CRSError",
    "GridError",
    "NotFittedError",
    "ResolutionError",
    "OptionalDependencyError",
    "DataQualityWarning",
    "AutomaticChoiceWarning",
]


class IntelError(Exception):
    """Base class of every error raised by intel."""


class InputError(IntelError, ValueError):
    """An argument or input table is unusable (wrong type, value or shape)."""


class SchemaError(InputError):
    """A source's columns do not match any known schema or the given mapping."""


class ParseError(IntelError, ValueError):
    """A file could not be read at all (empty, binary, wrong delimiter, bad encoding)."""


class CRSError(IntelError, ValueError):
    """Coordinate reference systems are missing, unsuitable or mismatched."""


class GridError(InputError):
    """A grid is unusable for the data given (no overlap, no cells, bad size)."""


class ResolutionError(InputError):
    """The data's time resolution is too coarse for what was asked (e.g. a weekly cube from monthly data)."""


class NotFittedError(IntelError, AttributeError):
    """A model was used before ``fit``."""


class OptionalDependencyError(IntelError, ImportError):
    """An optional dependency is missing; the message gives the install command."""


class DataQualityWarning(UserWarning):
    """Data are usable but suspicious (default geocodes, default times, low geocoding rate)."""


class AutomaticChoiceWarning(UserWarning):
    """Reserved for automatic choices that deserve more than a log line."""
