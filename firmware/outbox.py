"""Readings on their way out: the flash queue (store.py) and every target that
drains it (MQTT, an HTTP server), each at its own pace.

The outbox owns what every target needs alike:
- order: each target takes the readings in seq order, from its own position
  on flash; a reading leaves flash only once every target has it, and when
  more than store.max_readings wait, the oldest are dropped first (counted);
- the time of a reading taken before the clock was set, stamped once NTP
  answers (the same stamp for every target);
- removal only after the target confirmed: a reading sent but not confirmed
  (a lost acknowledgement, a cut connection) is sent again, so a target may
  see a reading twice, never miss one; consumers drop repeats by seq;
- a reading a target refuses for good (an HTTP 4xx) is counted, logged and
  passed over, so it never blocks the queue;
- one reconnect path with a capped back-off, from 1 s doubling up to a minute
  while the server still accepts TCP connections (it is there, only busy or
  failing), up to five minutes while it does not.

A target is an object with:
    link                    its Link (outbox.link(name)): state for the page and MQTT;
                            the target says when it is connected (link.connected)
    window                  how many readings it may have in flight at once
    idle_ms                 how long it waits for a new reading before tend() again
    async open()            connect; raises Down
    async tend()            its own work between readings (MQTT: discovery, pings)
    async send(reading)     deliver one; returns once confirmed; raises Down or Refused
    close()                 drop the connection
"""

import asyncio
import hw
import log
import runtime
from metereye.compat import const

# A reading taken before the clock was known waits this long (uptime) for NTP
# so it can be stamped; after that it goes out with "t": null.
CLOCK_WAIT_S = const(600)
# The back-off after a failure doubles from the first to a cap: a minute while
# the server accepts TCP (it is there, only busy or failing), five minutes
# while it does not (it is off, or the network is down).
_BACKOFF_FIRST_MS = const(1000)
_REACHABLE_CAP_MS = const(60000)
_CAP_MS = const(300000)


class Down(Exception):
    """A target cannot take readings now: Down(why, reachable). `reachable`:
    the server accepted a TCP connection (so retry within a minute)."""


class Refused(Exception):
    """The target refused this reading for good (why): passed over, never resent."""


class Link:
    """One target's state, for /api/status and MQTT's diagnostics."""

    def __init__(self, name):
        self.name = name
        self.connected = False
        self.error = None           # the last failure, as text
        self.sent = 0               # confirmed since boot
        self.refused = 0            # refused for good since boot
        self.failures = 0
        self.last_seq = None        # the newest seq it confirmed
        self.event = asyncio.Event()

    async def wait(self, ms):
        """Until a reading is added (or wake()), or `ms` passed."""
        try:
            await asyncio.wait_for_ms(self.event.wait(), ms)
        except asyncio.TimeoutError:
            pass
        self.event.clear()

    def wake(self):
        self.event.set()


class Outbox:
    def __init__(self, store):
        self.store = store
        self.links = {}
        self._offset = None         # unix time minus uptime, once the clock is set

    def link(self, name):
        """The Link of target `name` (one of the store's targets)."""
        link = self.links.get(name)
        if link is None:
            link = self.links[name] = Link(name)
        return link

    def add(self, reading):
        """Queue a reading on flash for every target; its seq."""
        seq = self.store.append(reading)
        for link in self.links.values():
            link.wake()
        return seq

    def status(self, name):
        link = self.links[name]
        return {"connected": link.connected, "queued": self.store.waiting(name), "sent": link.sent,
                "refused": link.refused, "last_seq": link.last_seq, "error": link.error}

    # --- taking readings out --------------------------------------------------
    def next(self, name, n=1):
        """`name`'s next readings, up to n, in order, stamped; fewer (or none)
        when one of them still waits for the clock."""
        out = self.store.take(name, n)
        for i in range(len(out)):
            if not self._stamped(out[i]):
                return out[:i]
        return out

    def _stamped(self, reading):
        """Give a reading read before the clock was set its time; False while it waits."""
        if reading.t is not None:
            return True
        extra = reading.extra
        if extra.get("boot") != runtime.boot:
            return True                 # read in an earlier boot: its time is lost, "t": null
        if hw.clock_set():
            if self._offset is None:
                self._offset = hw.unix_time() - runtime.uptime_s()
            reading.t = self._offset + extra.get("up", 0)
            return True
        # Keep it (and all after it, in order) until NTP answers, for a while.
        return runtime.uptime_s() >= CLOCK_WAIT_S

    def confirm(self, name, reading):
        """The target has `reading`: it leaves flash once every target has it."""
        self.store.pop(name, reading.seq)
        link = self.links[name]
        link.sent += 1
        link.last_seq = reading.seq
        if link.sent == 1:              # `metereye deploy --follow` waits for MQTT's line
            log.info(name, "published the first reading since boot, of", reading.meter_id)

    def refuse(self, name, reading, why):
        self.store.pop(name, reading.seq)
        link = self.links[name]
        link.refused += 1
        link.error = why
        log.warn(name, "refused reading", reading.seq, "of", reading.meter_id, "for good:", why)

    # --- the task -------------------------------------------------------------
    async def run(self, target):
        """Drain the queue through `target`, for good: one task per target."""
        link = target.link
        name = link.name
        wait_ms = 0
        while True:
            try:
                await target.open()
                while True:
                    await target.tend()
                    batch = self.next(name, target.window)
                    if batch:
                        if await self._deliver(target, batch):
                            wait_ms = 0
                        continue
                    wait_ms = 0
                    await link.wait(target.idle_ms)
            except Down as e:
                why, reachable = e.args
            except OSError as e:
                why, reachable = repr(e), False
            except Exception as e:      # a bug must not stop this target for good
                why, reachable = "failed: %r" % e, True
            target.close()
            link.connected = False
            link.error = why
            link.failures += 1
            wait_ms = min(max(_BACKOFF_FIRST_MS, 2 * wait_ms), _REACHABLE_CAP_MS if reachable else _CAP_MS)
            log.warn(name, why, "- retry in", wait_ms // 1000, "s")
            await asyncio.sleep_ms(wait_ms)

    async def _deliver(self, target, batch):
        """Send a batch (at most `window` readings at once); confirm the readings in
        order up to the first failure, which is raised. True if any got through."""
        if len(batch) == 1:
            results = (await _attempt(target, batch[0]),)
        else:
            results = await asyncio.gather(*[_attempt(target, r) for r in batch])
        name = target.link.name
        progress = False
        for reading, err in zip(batch, results):
            if err is None:
                self.confirm(name, reading)
            elif isinstance(err, Refused):
                self.refuse(name, reading, err.args[0])
            else:
                raise err           # this one and those after it go again, in order
            progress = True
        return progress


async def _attempt(target, reading):
    try:
        await target.send(reading)
    except Exception as e:
        return e
    return None
