"""The `rig` fixture: simulator + firmware + broker + recorder, closed after each test."""

import pytest

from fwhelp import Rig, need_mosquitto


@pytest.fixture
def rig():
    need_mosquitto()
    made = []

    def make(**kw):
        r = Rig(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        # pytest shows captured output only for a failed test: the firmware's console.
        print(r.console()[-4000:])
        r.close()
