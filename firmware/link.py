"""Runs a lib/ protocol session over a UART: sends what it asks, waits as long as
it asks, switches the line when it asks (docs/design.md: the link driver)."""

import time

import asyncio
from metereye.actions import Done, Receive, Send, SetLine, Sleep

_POLL_MS = 15


def _now():
    return time.ticks_ms()


def _left(deadline):
    return time.ticks_diff(deadline, _now())


async def run_session(uart, session, on_bytes=None):
    """Carry out the session's actions until Done; its result.

    Deadlines from the session are in ticks_ms; nothing here blocks longer
    than one poll, so the MQTT supervisor and web server keep running.
    """
    action = session.start(_now())
    while True:
        if isinstance(action, Done):
            return action.result
        if isinstance(action, Send):
            uart.configure(action.baud, action.framing)
            uart.write(action.data)
            await uart.drain()
            if on_bytes:
                on_bytes("tx", action.data)
            action = session.sent(_now())
        elif isinstance(action, SetLine):
            uart.configure(action.baud, action.framing)
            action = session.line_set(_now())
        elif isinstance(action, Sleep):
            wait = _left(action.until_ms)
            if wait > 0:
                await asyncio.sleep_ms(wait)
            action = session.woke(_now())
        elif isinstance(action, Receive):
            nxt = None
            while nxt is None:
                data = uart.read()
                if data:
                    if on_bytes:
                        on_bytes("rx", data)
                    nxt = session.received(data, _now())
                elif _left(action.deadline_ms) <= 0:
                    nxt = session.received(b"", _now())
                else:
                    await asyncio.sleep_ms(_POLL_MS)
            action = nxt
        else:
            raise TypeError(action)
