"""The pages speak Chinese and English: every text has its translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from complaintdesk import i18n

ROOT = Path(__file__).resolve().parents[2]
METHODS = [
    ("src/complaintdesk/**.py", "python"),
    ("src/complaintdesk/web/**/templates/**.html", "jinja2"),
]
KEYWORDS = {"t": None, "N_": None, "_": None}


def _ids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS, options_map={}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_text_of_the_pages_is_translated_into_chinese() -> None:
    ids = _ids()
    assert "My work" in ids  # the extraction sees the templates
    assert i18n.untranslated("zh", sorted(ids)) == []


def test_the_viewers_language_from_accept_language() -> None:
    assert i18n.from_accept_language("en-GB,en;q=0.9,zh-CN;q=0.8") == "en"
    assert i18n.from_accept_language("fr-FR,zh-TW;q=0.5,en;q=0.4") == "zh"
    assert i18n.from_accept_language("en;q=0, zh") == "zh"
    assert i18n.from_accept_language("de") == "zh"  # the default
    assert i18n.from_accept_language(None) == "zh"


def test_translator_fills_values_and_picks_one_half_of_service_messages() -> None:
    assert i18n.translator("zh")("Overdue by %(span)s", span="2小时") == "已超时 2小时"
    assert i18n.translator("en")("Overdue by %(span)s", span="2 h") == "Overdue by 2 h"
    message = "cannot resolve a complaint that is closed / 投诉当前状态为「已结案」,不能执行该操作"
    assert i18n.pick(message, "en") == "cannot resolve a complaint that is closed"
    assert i18n.pick(message, "zh").startswith("投诉当前状态")
    assert i18n.pick("plain words", "zh") == "plain words"
