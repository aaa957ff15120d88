"""Children's names across Ukrainian, Russian and Latin spellings.

Transliteration (KMU 2010 for Ukrainian, ICAO 9303 for Russian, SPEC §4.1)
and the knowledge that lets the same child be recognised under another
spelling: name equivalents, surname rules, folding keys, OCR confusables.
Shared by the extractors (through ``gateway.pluginspec``) and by the party's
matching (SPEC §11).
"""

from gateway.protocol.names.fold import clean, fold_latin, fold_name
from gateway.protocol.names.keys import (
    GivenName,
    equivalents,
    given_name_folds,
    given_name_key,
    given_name_sex,
    given_names,
    nearest_given_name,
    one_edit_from,
    patronymic_key,
    patronymics,
    place_key,
    surname_key,
)

__all__ = [
    "GivenName",
    "clean",
    "equivalents",
    "fold_latin",
    "fold_name",
    "given_name_folds",
    "given_name_key",
    "given_name_sex",
    "given_names",
    "nearest_given_name",
    "one_edit_from",
    "patronymic_key",
    "patronymics",
    "place_key",
    "surname_key",
]
