"""The personal-data guard: person-level columns never travel past the loader.

intel analyses places and times, never people. A column is person-level when a
*token* of its name (split on punctuation, spaces and camelCase, lower case) is one
of :data:`PERSON_TOKENS` (names, birth dates, age, sex/gender, race, ethnicity,
religion, victim/offender/suspect/arrestee fields, free-text narratives), in English,
Spanish or Portuguese. Tokens, not substrings: ``agency`` is not ``age``,
``description`` (Chicago's IUCR description) and ``location_description`` stay.
``name`` counts only when the other tokens also describe a person (``name``,
``first_name``, ``full_name``), never for places (``lsoa_name``, ``street_name``).
"""

from __future__ import annotations

import re
from typing import Iterable

PERSON_TOKENS = frozenset({
    # who
    "victim", "victims", "offender", "offenders", "suspect", "suspects", "arrestee", "arrestees",
    "complainant", "witness", "defendant", "accused", "perpetrator", "perp", "subject",
    "victima", "vitima", "sospechoso", "agresor", "autor",
    # identity
    "surname", "forename", "firstname", "lastname", "fullname", "middlename", "nombre", "nome", "apellido",
    "ssn", "phone", "telephone", "email", "dob", "birth", "birthdate", "birthday", "nacimiento", "nascimento",
    # protected characteristics
    "age", "ages", "edad", "idade", "sex", "sexo", "gender", "genero", "race", "raza", "raca", "ethnicity",
    "ethnic", "etnia", "religion", "religio", "nationality", "nacionalidad",
    # free text about people and events
    "narrative", "narratives", "notes", "comments", "remarks", "synopsis", "statement",
})
_NAME_TOKENS = frozenset({"name", "names"})
_PERSON_NAME_CONTEXT = frozenset({"first", "last", "full", "middle", "given", "family", "person", "owner", "of"})


def tokens(column: object) -> list[str]:
    """Split a column name into lower-case word tokens (``"VictimAge"`` -> ``["victim", "age"]``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [t for t in re.split(r"[^0-9a-zA-Z]+", text.lower()) if t]


def is_personal(column: object) -> bool:
    """Whether ``column`` names person-level data (see the module docstring for the rule)."""
    toks = tokens(column)
    if any(t in PERSON_TOKENS for t in toks):
        return True
    if any(t in _NAME_TOKENS for t in toks):
        others = [t for t in toks if t not in _NAME_TOKENS]
        return all(t in _PERSON_NAME_CONTEXT for t in others)
    return False


def personal_columns(columns: Iterable[object]) -> list[str]:
    """The person-level columns among ``columns``, in their order."""
    return [c for c in columns if is_personal(c)]
