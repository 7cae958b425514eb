"""Chinese and English for people: gettext catalogues (Babel) and the viewer's language.

The catalogues are the ``.po`` files under ``complaintdesk/locale/<lang>/LC_MESSAGES``,
kept in the repository and compiled in memory by Babel when first needed: there is no
build step and no compiled ``.mo`` file to forget. Message ids are English; the ``en``
catalogue is therefore mostly empty and ``zh`` translates every id (a test checks that
no text of the pages is left untranslated). ``make messages`` re-extracts the ids from
the code and templates and merges them into both catalogues.

Use it as ``t = translator("zh")`` then ``t("Saved %(ref)s", ref=...)``; templates get
the same callable as ``_``.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


@functools.cache
def _catalogue(lang: str) -> Translations:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # Babel's own compiler, in memory
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@dataclass(frozen=True)
class Translator:
    """``_`` for one language: ``t("Hello %(name)s", name="王女士")``."""

    lang: str

    def __call__(self, message: str, **values: object) -> str:
        text = _catalogue(self.lang).gettext(message)
        return text % values if values else text

    def plural(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = _catalogue(self.lang).ngettext(singular, plural, n)
        return text % {"n": n, **values}


def N_(message: str) -> str:
    """Marks ``message`` for extraction where it is defined; it is translated later,
    where it is shown."""
    return message


def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def normalise(lang: str | None) -> str | None:
    """``zh``/``en`` for a language tag we speak (``zh-CN``, ``en_GB``…), else None."""
    if not lang:
        return None
    primary = lang.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str:
    """The language we speak that the browser prefers most (``Accept-Language``)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        lang = normalise(tag)
        if lang is None:
            continue
        quality = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        if quality <= 0:
            continue
        key = (-quality, position, lang)
        if best is None or key < best:
            best = key
    return best[2] if best is not None else DEFAULT_LANGUAGE


_CJK = re.compile(r"[\u4e00-\u9fff]")


def pick(message: str, lang: str) -> str:
    """One language of a bilingual service message ("english / 中文"): the services
    speak both at once for the API; a page shows the viewer's half."""
    english, sep, chinese = message.rpartition(" / ")
    if not sep or not _CJK.search(chinese) or _CJK.search(english.split(" / ")[-1] or ""):
        return message
    return chinese.strip() if lang == "zh" else english.strip()


def untranslated(lang: str, ids: Iterable[str]) -> list[str]:
    """The message ids of ``ids`` that the ``lang`` catalogue does not translate."""
    catalogue = _catalogue(lang)
    return [i for i in ids if catalogue.gettext(i) == i]
