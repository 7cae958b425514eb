"""The one cleaning rule every free-text input goes through."""

from __future__ import annotations

import re

import pytest

from complaintdesk.domain import rules
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.web.limits import BodyLimits


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1b[31mb", "a\x9bb", "a\x7fb", "a\x08b"])
def test_control_and_escape_codes_are_refused_everywhere(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.clean_text(bad, field="note")
    assert caught.value.field == "note"
    assert not re.fullmatch(rules.FREE_PATTERN, bad)  # the schema says the same


def test_text_keeps_line_breaks_but_one_line_values_do_not() -> None:
    assert rules.clean_text("第一行\n第二行\t", field="text") == "第一行\n第二行"
    for bad in ("王\n先生", "王\r先生", "王\u2028先生"):
        with pytest.raises(InvalidInput):
            rules.clean_line(bad, field="name", max_chars=200)
        assert not re.fullmatch(rules.LINE_PATTERN, bad)
    assert rules.clean_short("  ", field="phone", max_chars=40) is None


@pytest.mark.parametrize("good", ["CH", "ch-agent", "p.1_x@y", "A" * 40])
def test_codes_of_letters_digits_and_a_few_marks_pass(good: str) -> None:
    assert rules.clean_code(good, field="code") == good
    assert re.fullmatch(rules.CODE_PATTERN, good)


@pytest.mark.parametrize("bad", ["", " CH", "CH\n", "-CH", "翠湖", "a b", "A" * 41, "a\x00"])
def test_other_codes_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.clean_code(bad, field="code")
    assert caught.value.field == "code"


def test_schema_patterns_agree_with_the_rule_on_blank_text() -> None:
    assert not re.fullmatch(rules.TEXT_PATTERN, " \n\t")
    assert re.fullmatch(rules.TEXT_PATTERN, " 漏水 ")
    assert not re.fullmatch(rules.NAME_PATTERN, "   ")
    assert re.fullmatch(rules.NAME_PATTERN, "王 女士")


def test_upload_paths_get_their_own_limit() -> None:
    limits = BodyLimits(default=10, uploads=100, upload_prefixes=("/portal/",))
    assert limits.for_path("/portal/complaints/1/photos") == 100
    assert limits.for_path("/api/v1/complaints") == 10
