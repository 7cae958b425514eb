"""Staff sign-in, sessions, CSRF and the language switch of the pages."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from complaintdesk.services import org, signin
from complaintdesk.web.pages.security import CSRF_COOKIE, SESSION_COOKIE
from tests.conftest import Org
from tests.web.conftest import Browser, Clock, app_routes

Pages = Callable[..., Browser]


def test_home_sends_a_stranger_to_sign_in_and_staff_to_their_work(pages: Pages, acme: Org) -> None:
    r = pages(None).client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/signin")
    r = pages(acme.guard).client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/work")


def test_a_page_without_a_session_redirects_to_sign_in_and_back(pages: Pages, acme: Org) -> None:
    browser = pages(None)
    r = browser.client.get("/work?scope=mine", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Fwork%3Fscope%3Dmine"
    token = browser.csrf("/signin")
    r = browser.client.post(
        "/signin",
        data={
            "username": "agent",
            "password": "correct horse battery",
            "next": "/work?scope=mine",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/work?scope=mine")


def test_session_cookie_is_httponly_lax_and_expires(pages: Pages, acme: Org) -> None:
    r = pages(None).sign_in("agent")
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "max-age=43200" in lowered


def test_a_wrong_password_is_refused_in_the_viewers_language(pages: Pages, acme: Org) -> None:
    browser = pages(None)
    r = browser.sign_in("agent", "wrong password")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text
    browser.client.cookies.set("cd_lang", "en")
    r = browser.sign_in("agent", "wrong password")
    assert "The username or password is wrong." in r.text
    assert SESSION_COOKIE not in browser.client.cookies


def test_a_form_without_its_csrf_token_is_refused(pages: Pages, acme: Org) -> None:
    browser = pages(None)
    browser.csrf("/signin")  # has the cookie, but does not send the token
    r = browser.client.post(
        "/signin", data={"username": "agent", "password": "correct horse battery"}
    )
    assert r.status_code == 403
    assert SESSION_COOKIE not in browser.client.cookies
    # A token of another browser (another cookie) is refused too.
    other = pages(None).csrf("/signin")
    r = browser.client.post(
        "/signin",
        data={"username": "agent", "password": "correct horse battery", "csrf_token": other},
    )
    assert r.status_code == 403


def test_every_page_form_refuses_a_post_without_csrf(pages: Pages, acme: Org) -> None:
    """Walks every POST route outside the API, so a new form is covered too."""
    browser = pages(acme.admin)
    assert browser.client.cookies.get(CSRF_COOKIE)
    posts = [
        route.path.replace("{complaint_id}", "1")
        for route in app_routes(browser.app)
        if "POST" in route.methods and not route.path.startswith("/api/")
    ]
    assert "/signout" in posts and "/signin" in posts
    for path in posts:
        r = browser.client.post(path, data={"x": "1"}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)


def test_sign_out_ends_the_session(pages: Pages, acme: Org) -> None:
    browser = pages(acme.agent)
    assert browser.client.get("/work").status_code == 200
    r = browser.post_form("/signout", {}, token_from="/work")
    assert (r.status_code, r.headers["location"]) == (303, "/signin")
    r = browser.client.get("/work", follow_redirects=False)
    assert r.status_code == 303


def test_changing_the_password_ends_every_session(
    pages: Pages, acme: Org, session: Session
) -> None:
    browser = pages(acme.agent)
    assert browser.client.get("/work").status_code == 200
    org.set_password(session, acme.agent, "a new password")
    session.commit()
    assert browser.client.get("/work", follow_redirects=False).status_code == 303


def test_sign_in_is_rate_limited_per_username(pages: Pages, acme: Org, clock: Clock) -> None:
    browser = pages(None)
    for _ in range(signin.PER_USERNAME):
        assert browser.sign_in("agent", "guess").status_code == 401
    r = browser.sign_in("agent", "correct horse battery")  # even the right one, now
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= signin.WINDOW.total_seconds()
    assert "尝试次数过多" in r.text
    clock.advance(seconds=signin.WINDOW.total_seconds())
    assert browser.sign_in("agent").status_code == 303


def test_language_comes_from_the_browser_then_the_viewers_choice(pages: Pages, acme: Org) -> None:
    browser = pages(acme.agent)
    r = browser.client.get("/work", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert "My work" in r.text and 'lang="en"' in r.text
    r = browser.client.get("/work", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "我的工作" in r.text
    r = browser.client.get("/lang/en?next=/work", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/work")
    r = browser.client.get("/work", headers={"Accept-Language": "zh-CN"})
    assert "My work" in r.text
    r = browser.client.get("/lang/zh?next=https://evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/"


def test_redoc_and_the_vendored_files_are_served_locally(pages: Pages) -> None:
    client = pages(None).client
    html = client.get("/redoc").text
    assert "/assets/vendor/redoc/redoc.standalone.js" in html
    assert "https://" not in html.replace("https://fastapi", "")  # no CDN, no web fonts
    for path in (
        "/assets/vendor/redoc/redoc.standalone.js",
        "/assets/vendor/htmx/htmx.min.js",
        "/assets/vendor/echarts/echarts.min.js",
        "/assets/app.css",
    ):
        assert client.get(path).status_code == 200, path
