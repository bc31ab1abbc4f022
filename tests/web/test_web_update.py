"""The page's firmware upload in a real headless Chromium, on a reader deployed
to the unix-port stand-in with `metereye deploy` (a reader run from the repo's
tree has no code sets to update): a tampered bundle and a wrong password are
refused in words, an update that fails at import is rolled back with its
reason on the page, a bundle older than the last one staged is refused, and a
good one is applied and kept."""

import os
import sys

import pytest

from webhelp import shot

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
from deployhelp import (Golden, World, make_tree, metereye, need_socat, page_status, set_version,  # noqa: E402
                        wait_until, write_config)

from metereye_tools.broker import free_port  # noqa: E402

PASSWORD = "page-pass-upload"


@pytest.fixture
def deployed(tmp_path):
    need_socat()
    golden = Golden(str(tmp_path / "golden"))
    board = golden.copy(str(tmp_path / "board"))
    world = World(board.flash)
    port = free_port()
    write_config(board.flash, world.config(web={"enabled": True, "port": port, "password": PASSWORD}))
    board.start()
    try:
        wait_until(lambda: page_status(port), 30, "the deployed reader's page")
        yield golden, board, port
    finally:
        board.stop()
        world.close()


def _bundle_file(golden, tmp_path, name, edits):
    """A bundle as a user makes one for the page: `metereye update --out`."""
    tree = make_tree(str(tmp_path / name), edits=edits)
    out = str(tmp_path / (name + ".bin"))
    status, text, err = metereye("update", "--tree", tree, "--out", out, "--health-s", "60",
                                 env={"METEREYE_KEYS": golden.keys})
    assert status == 0 and "written to" in text, text + err
    return out


def _upload(page, path, password):
    page.set_input_files("#bundle", path)
    page.fill("#update-auth", password)
    page.click("#upload")


def test_the_page_uploads_an_update_refuses_a_tampered_one_and_shows_a_roll_back(deployed, browser, tmp_path):
    from playwright.sync_api import expect    # here: without Playwright, the browser fixture skips or fails first
    golden, board, port = deployed
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("http://127.0.0.1:%d/" % port)
    page.wait_for_selector("#update-section:not([hidden])", state="attached")
    page.click("#nav a[href='#update-section']")          # the section is folded until asked for
    page.wait_for_selector("#update-section #upload")

    good = _bundle_file(golden, tmp_path, "good", {"firmware/runtime.py": set_version("9.9.9-from-page")})
    tampered = str(tmp_path / "tampered.bin")
    with open(good, "rb") as f:
        data = bytearray(f.read())
    data[-10] ^= 0x01               # a byte of the last file: the signed manifest still verifies
    with open(tampered, "wb") as f:
        f.write(data)
    boots = board.boots()

    _upload(page, good, "not-the-password")
    expect(page.locator("[data-uerr=auth]")).to_have_text("Wrong password.", timeout=15000)

    _upload(page, tampered, PASSWORD)
    expect(page.locator("#update-err")).not_to_be_empty(timeout=30000)
    refused = page.inner_text("#update-err")
    assert refused.startswith("Refused: ") and "does not match its sha256" in refused, refused
    shot(page.locator("#update-section"), "update-refused.png", tmp_path)
    assert board.boots() == boots                   # nothing switched, no restart

    broken = _bundle_file(golden, tmp_path, "broken", {
        "firmware/reader.py": lambda t: t + "\nraise ImportError('broken on purpose')\n"})
    _upload(page, broken, PASSWORD)
    page.wait_for_selector("#update-msg.ok", timeout=30000)
    assert "The reader is restarting" in page.inner_text("#update-msg")
    page.wait_for_selector("#update-state[data-status=rolled_back]", timeout=60000)
    state = page.inner_text("#update-state")
    assert "The update was rolled back" in state and "broken on purpose" in state, state
    assert "Rolled back: " in page.inner_text("#update-msg")
    assert board.boots() >= boots + 1

    # The good bundle was signed before the broken one was staged: now it is a replay.
    _upload(page, good, PASSWORD)
    expect(page.locator("#update-err")).to_contain_text("an old bundle sent again is refused", timeout=30000)
    good = _bundle_file(golden, tmp_path, "good-again", {"firmware/runtime.py": set_version("9.9.9-from-page")})
    _upload(page, good, PASSWORD)
    page.wait_for_selector("#update-state[data-status=updated]", timeout=90000)
    assert page.inner_text("#update-msg") == "Updated: the new version runs."
    expect(page.locator("#summary")).to_contain_text("9.9.9-from-page", timeout=15000)
    shot(page.locator("#update-section"), "update-applied.png", tmp_path)
    assert errors == []
