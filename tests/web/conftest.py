"""Fixtures for the page's tests (helpers in webhelp.py)."""

import pytest

from webhelp import CHROMIUM, Reader, need_chromium, need_mosquitto


@pytest.fixture
def reader(request):
    need_mosquitto()
    made = []

    def make(**kw):
        r = Reader(**kw)
        made.append(r)
        return r.start()

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for r in made:
        if failed:
            print(r.console()[-4000:])
        r.close()


@pytest.fixture(scope="module")
def browser():
    need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        # Debian's Chromium, never a downloaded one; Playwright adds --no-sandbox itself
        # (`npx playwright install` cannot download here, and users have Debian's).
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
