"""The console's languages: Ukrainian, Russian and English, as message catalogues.

Each language is one JSON file under ``messages/`` mapping a message key to
its text; every language has every key (a test checks), so a missing
translation is caught before an official sees a key. The language of a
page is the one the official chose (a cookie), else the best of the
browser's ``Accept-Language``, else Ukrainian.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

LANGUAGES = ("uk", "ru", "en")
DEFAULT_LANGUAGE = "uk"
LANGUAGE_NAMES = {"uk": "Українська", "ru": "Русский", "en": "English"}


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The messages of one language."""

    lang: str
    messages: dict[str, str]

    def __call__(self, key: str, **values: object) -> str:
        text = self.messages.get(key, key)
        return text.format(**values) if values else text


@cache
def catalogue(lang: str) -> Catalogue:
    """The catalogue of ``lang`` (one of :data:`LANGUAGES`)."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE
    raw = resources.files(__package__).joinpath("messages", f"{lang}.json").read_text("utf-8")
    return Catalogue(lang, json.loads(raw))


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header (RFC 9110 §12.5.4)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        q -= position * 1e-6  # equal weights: the first listed wins
        if q > best_q and q > 0:
            best, best_q = primary, q
    return best
