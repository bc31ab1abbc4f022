"""MQTT, one of the outbox's targets: readings as retained QoS 1 state messages,
and what is MQTT's own: availability (a retained online/offline, the last
will), Home Assistant discovery, the diagnostics, the update's outcome.

Readings come from the outbox (outbox.py), which sends each again until the
broker's PUBACK came back; the client (mqtt_client.py) never blocks the
event loop. A PUBACK lost with the connection means the broker may deliver a
reading twice: every state message carries its "seq", by which a consumer
drops a repeat.
"""

import time

import hw
import log
import runtime
from metereye import ha
from mqtt_client import Client
from outbox import Down

DIAG_EVERY_MS = 60000
KEEPALIVE_S = 60            # announced in CONNECT: the broker drops us after 1.5 times this in silence
PING_IDLE_MS = 30000        # a PINGREQ after this long without a packet out
PING_ANSWER_MS = 10000      # and its PINGRESP within this, or the connection is taken for dead


class Mqtt:
    window = 1                  # one QoS 1 publish at a time: a resend keeps the order
    idle_ms = 1000              # tend() at least this often: diagnostics, pings, Home Assistant

    def __init__(self, app, outbox):
        self.app = app
        self.outbox = outbox
        self.link = outbox.link("mqtt")
        m = app.cfg["mqtt"]
        self.cfg = m
        self.prefix = m["topic_prefix"]
        self.disco = m["discovery_prefix"]
        self.reader_id = app.reader_id
        self.client = None
        self.reconnects = 0
        self._announced = set()      # meter ids whose discovery went out on this connection
        self._rediscover = False
        self._diag_due = False
        self._last_diag = None
        self._ping_ms = None         # when a PINGREQ went out that is not answered yet
        self._was_connected = False

    def wake(self, diagnostics=False):
        """A meter's state changed: its diagnostics go out soon."""
        if diagnostics:
            self._diag_due = True
        self.link.wake()

    # --- the outbox's target -----------------------------------------------------
    async def open(self):
        if not hw.wifi_connected():
            raise Down("wifi down", False)
        m = self.cfg
        status = ha.status_topic(self.prefix, self.reader_id)
        self.client = Client(self.reader_id, m["host"], m["port"], m["user"], m["password"],
                             KEEPALIVE_S, m["tls"], (status, ha.OFFLINE, True, 1), self._on_message)
        await self.client.connect()
        if self._was_connected:
            self.reconnects += 1
        self._was_connected = True
        self._ping_ms = None
        await self.client.publish(status, ha.ONLINE, retain=True)
        await self.client.subscribe(ha.ha_status_topic(self.disco))
        self._announced = set()
        self._last_diag = None
        self.link.connected = True
        log.info("mqtt", "connected to", m["host"], m["port"])
        await self.report_update()

    async def tend(self):
        c = self.client
        if self._rediscover:
            self._rediscover = False
            self._announced = set()
        for meter_id, (reader, reading) in self.app.latest.items():
            if meter_id not in self._announced:
                await self._announce(reader, reading)
        now = time.ticks_ms()
        if (self._diag_due or self._last_diag is None
                or time.ticks_diff(now, self._last_diag) > DIAG_EVERY_MS):
            self._diag_due = False
            await self._diagnostics()
            self._last_diag = now
        # The keep-alive: a frozen broker is noticed even when there is nothing to send.
        if self._ping_ms is not None:
            if time.ticks_diff(c.heard_ms, self._ping_ms) >= 0:
                self._ping_ms = None
            elif time.ticks_diff(now, self._ping_ms) > PING_ANSWER_MS:
                raise Down("no PINGRESP from the broker within %d s" % (PING_ANSWER_MS // 1000), True)
        elif time.ticks_diff(now, c.sent_ms) > PING_IDLE_MS:
            await c.ping()
            self._ping_ms = now

    async def send(self, reading):
        latest = self.app.latest.get(reading.meter_id)
        reader = latest[0] if latest else self.app.reader_of(reading.meter_id)
        if reader is not None and reader.meter_id not in self._announced:
            await self._announce(reader, latest[1] if latest else reading)
        classes = reader.classes if reader is not None else None
        await self.client.publish(ha.state_topic(self.prefix, self.reader_id, reading.meter_id),
                                  ha.state_payload(reading, classes), retain=True)

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    async def leave(self):
        """Leave cleanly (a restart to apply settings): no last will, just gone."""
        if self.client is not None:
            await self.client.disconnect()
            self.client = None

    # --- MQTT's own messages --------------------------------------------------------
    async def report_update(self):
        """The last update's outcome (update.json), retained: a roll-back says why."""
        if self.app.update and self.client is not None:
            import json
            await self.client.publish(ha.update_topic(self.prefix, self.reader_id),
                                      json.dumps(self.app.update), retain=True)

    def _on_message(self, topic, msg):
        if msg == b"online":
            # Home Assistant restarted: it forgets entities whose config was not retained
            # and may have lost state; send everything again.
            self._rediscover = True
            self.link.wake()

    async def _announce(self, reader, reading):
        # Discovery is loaded only while a meter is announced: ~5 KB of heap the
        # reader otherwise does without.
        from metereye.discovery import discovery
        info = {"reader_id": self.reader_id, "address": self.app.address or "", "sw_version": runtime.VERSION}
        meter = {"meter_id": reader.meter_id, "manufacturer": reader.model.manufacturer,
                 "model": reader.model.description, "serial": reader.serial}
        try:
            for topic, payload in discovery(self.disco, self.prefix, self.reader_id, info, meter,
                                            reading, reader.classes):
                await self.client.publish(topic, payload, retain=True)
        finally:
            del discovery
            runtime.forget("metereye.discovery")
        self._announced.add(reader.meter_id)

    async def _diagnostics(self):
        app = self.app
        store = self.outbox.store
        targets = [(name, self.outbox.status(name)) for name in self.outbox.links]
        await self.client.publish(ha.reader_diag_topic(self.prefix, self.reader_id),
                                  ha.reader_diag_payload(hw.wifi_rssi(), hw.free_heap(), runtime.uptime_s(),
                                                         store.pending, store.dropped, targets), retain=True)
        for r in app.readers:
            s = r.schedule
            state = s.state if s.state in ha.METER_STATES else "waiting"
            await self.client.publish(ha.meter_diag_topic(self.prefix, self.reader_id, r.meter_id),
                                      ha.meter_diag_payload(state, s.sessions_today, s.budget, r.errors,
                                                            r.info_flags, r.last_read_t), retain=True)

    def status(self):
        """What the page shows of MQTT."""
        out = self.outbox.status("mqtt")
        out["host"] = self.cfg["host"]
        out["published"] = self.link.sent
        out["reconnects"] = self.reconnects
        out["topic_prefix"] = self.prefix
        return out
