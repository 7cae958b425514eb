"""A complaint's life through the staff console in real Chromium, in 中文 and English:
the guard registers it and sees the suggestion, the engineering supervisor
dispatches it, the engineer starts and follows it up, a sweep finds it overdue and the
supervisor sees it in red, the engineer resolves it. Each page is photographed into
var/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from complaintdesk.services.escalation import sweep
from complaintdesk.web.presenter import zone
from tests.browser.conftest import PASSWORD, SCREENSHOTS, Site, advance

WORDS = {
    "zh": "8号楼电梯又坏了，我妈被困了十分钟，再不修好我就不交物业费了",
    "en": "The lift in building 8 broke down again and my mother was stuck for ten minutes. "
    "Fix it or I will stop paying the management fee.",
}
TEXT = {
    "zh": {"work": "我的工作", "register": "登记", "dispatched": "已派单", "overdue": "已超时"},
    "en": {
        "work": "My work",
        "register": "Register",
        "dispatched": "Dispatched.",
        "overdue": "Overdue by",
    },
}


def shot(page: Any, lang: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{lang}-{name}.png"), full_page=True)


def sign_in(browser: Any, site: Site, username: str, lang: str, *, phone: bool = False) -> Any:
    viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{site.url}/lang/{lang}?next=/signin")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if username == "guard":
        shot(page, lang, "signin")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/work.*"))
    return page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_complaint_from_the_gate_to_resolved(browser: Any, site: Site, lang: str) -> None:
    t = TEXT[lang]
    guard = sign_in(browser, site, "guard", lang, phone=True)
    assert t["work"] in guard.inner_text("h1")
    guard.click("a[href='/intake']")
    guard.fill("[data-test=owner-search]", site.owner.phone or "")
    guard.wait_for_selector(f"input[name=who][value^='{site.owner.id}:']")
    guard.check(f"input[name=who][value='{site.owner.id}:{site.unit.id}']")
    guard.fill("[data-test=words]", WORDS[lang])
    guard.wait_for_selector("[data-test=suggestion-box]")
    guard.wait_for_selector("[data-test=risk]")
    assert guard.input_value("[data-test=label-department]") == "engineering"
    assert re.search(r"\d+%", guard.inner_text("[data-test=confidence-category]"))
    shot(guard, lang, "intake")
    guard.click("[data-test=register]")
    guard.wait_for_url(re.compile(r".*/complaints/\d+\?done=registered"))
    complaint_id = re.search(r"/complaints/(\d+)", guard.url).group(1)  # type: ignore[union-attr]
    assert WORDS[lang][:10] in guard.inner_text("[data-test=words]")
    shot(guard, lang, "complaint-received")

    sup = sign_in(browser, site, "eng-sup", lang)
    sup.goto(f"{site.url}/complaints/{complaint_id}")
    form = "[data-test=form-dispatch]"
    sup.select_option(f"{form} select[name=department]", "engineering")
    sup.select_option(f"{form} select[name=assignee_id]", str(site.staff["eng"].id))
    sup.check(f"{form} input[name=also][value=security]")
    sup.click(f"{form} button[type=submit]")
    sup.wait_for_url(re.compile(r".*done=dispatch"))
    assert site.staff["eng"].name in sup.inner_text("[data-test=assignee]")

    eng = sign_in(browser, site, "eng", lang)
    eng.goto(f"{site.url}/complaints/{complaint_id}")
    eng.click("[data-test=form-start] button[type=submit]")
    eng.wait_for_url(re.compile(r".*done=start"))
    eng.click("[data-test=form-follow_up] summary")
    eng.fill(
        "[data-test=form-follow_up] textarea[name=note]", "已联系电梯厂家 / called the lift company"
    )
    eng.fill("[data-test=form-follow_up] input[name=next_follow_up_at]", "2019-01-01T10:00")
    eng.click("[data-test=form-follow_up] button[type=submit]")
    eng.wait_for_selector("[data-test=error-follow_up-next_follow_up_at]")  # refused, beside it
    shot(eng, lang, "complaint-error")
    tomorrow = (site.clock.now + timedelta(days=1)).astimezone(zone("Asia/Shanghai"))
    eng.fill(
        "[data-test=form-follow_up] input[name=next_follow_up_at]",
        tomorrow.strftime("%Y-%m-%dT%H:%M"),
    )
    eng.click("[data-test=form-follow_up] button[type=submit]")
    eng.wait_for_url(re.compile(r".*done=follow_up"))

    # A week later nothing is resolved: the sweeper escalates, the supervisor sees red.
    report = sweep(site.factory, advance(site, days=8))
    assert report.escalations >= 1
    sup.goto(f"{site.url}/work?overdue=1")
    row = sup.locator(f"[data-test=row-{complaint_id}]")
    assert t["overdue"] in row.inner_text()
    assert "overdue" in (row.get_attribute("class") or "")
    shot(sup, lang, "work-overdue")

    eng.goto(f"{site.url}/complaints/{complaint_id}")
    eng.click("[data-test=form-resolve] summary")
    eng.select_option("[data-test=form-resolve] select[name=outcome]", "fixed")
    eng.fill(
        "[data-test=form-resolve] textarea[name=resolution]", "更换了门机 / replaced the door motor"
    )
    eng.click("[data-test=form-resolve] button[type=submit]")
    eng.wait_for_url(re.compile(r".*done=resolve"))
    assert "[data-test=form-visit]" not in eng.content()  # an engineer does not visit
    shot(eng, lang, "complaint-resolved")
    eng.goto(f"{site.url}/review")
    shot(eng, lang, "review")
    for page in (guard, sup, eng):
        page.context.close()
