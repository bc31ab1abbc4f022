"""The MQTT supervisor: one task that keeps a umqtt.simple client connected and
drains the reading queue through it, in order, each reading removed from flash
only once the broker acknowledged it (QoS 1).

umqtt.simple blocks on its socket. Every failure ends in OSError, goes through
one reconnect path with a capped back-off, and the socket gets a short timeout
after connect (and again after each check_msg, which resets it), so a broker
outage never stalls the meters' tasks for more than about a second.
"""

import time

import asyncio
import hw
import log
from metereye import ha

SOCKET_TIMEOUT_S = 1
CONNECT_TIMEOUT_S = 3


class _TimedSockets:
    """The `socket` module as umqtt.simple sees it: each socket it makes has a
    timeout before connect() (it sets none, so a broker that accepts TCP but
    never answers would hang it), and the broker's address is looked up once
    (getaddrinfo blocks every task)."""

    def __init__(self):
        import socket
        self._socket = socket
        self._addresses = {}

    def socket(self, *args):
        s = self._socket.socket(*args)
        s.settimeout(CONNECT_TIMEOUT_S)
        if hw.TCP_NODELAY:
            # umqtt writes a packet in several small writes and waits for each PUBACK,
            # blocking every task: with Nagle's algorithm against the broker's delayed
            # ACK, each publish took ~40 ms, a first discovery ~1 s.
            try:
                s.setsockopt(hw.TCP_NODELAY[0], hw.TCP_NODELAY[1], 1)
            except OSError:
                pass                # slower, not broken
        return s

    def getaddrinfo(self, host, port, *args):
        key = (host, port)
        if key not in self._addresses:
            self._addresses[key] = self._socket.getaddrinfo(host, port, *args)
        return self._addresses[key]
DIAG_EVERY_MS = 60000
BACKOFF_FIRST_MS = 1000
BACKOFF_CAP_MS = 300000
# A reading taken before the clock was known waits this long (uptime) for NTP
# so it can be stamped; after that it goes out with "t": null.
CLOCK_WAIT_S = 600


class Publisher:
    def __init__(self, app):
        self.app = app
        m = app.cfg["mqtt"]
        self.cfg = m
        self.prefix = m["topic_prefix"]
        self.disco = m["discovery_prefix"]
        self.reader_id = app.reader_id
        self.client = None
        self.connected = False
        self.published = 0
        self.reconnects = 0
        self.errors = 0
        self._announced = set()      # meter ids whose discovery went out on this connection
        self._rediscover = False
        self._event = asyncio.Event()
        self._last_diag = None
        self._last_ping = time.ticks_ms()

    def wake(self, diagnostics=False):
        """Something to send: a reading queued, or (diagnostics) a meter's state changed."""
        if diagnostics:
            self._diag_due = True
        self._event.set()

    _diag_due = False

    # --- connection ---------------------------------------------------------
    def _timeouts(self):
        self.client.sock.settimeout(SOCKET_TIMEOUT_S)

    def _connect(self):
        import umqtt.simple
        if not isinstance(umqtt.simple.socket, _TimedSockets):
            # umqtt.simple's own module global, replaced on purpose (see _TimedSockets)
            umqtt.simple.socket = _TimedSockets()  # type: ignore[assignment]
        MQTTClient = umqtt.simple.MQTTClient
        m = self.cfg
        params = {}
        if m["tls"]:
            params = {"server_hostname": m["host"]}
        c = MQTTClient(self.reader_id, m["host"], port=m["port"], user=m["user"] or None,
                       password=m["password"] or None, keepalive=60, ssl=m["tls"],
                       ssl_params=params)
        c.set_last_will(ha.status_topic(self.prefix, self.reader_id), ha.OFFLINE, retain=True, qos=1)
        c.set_callback(self._on_message)
        self.client = c
        c.connect()
        self._timeouts()
        c.publish(ha.status_topic(self.prefix, self.reader_id), ha.ONLINE, retain=True, qos=1)
        c.subscribe(ha.ha_status_topic(self.disco))
        self._timeouts()
        self._announced = set()
        self.connected = True
        log.info("mqtt", "connected to", m["host"], m["port"])
        self.report_update()

    def report_update(self):
        """The last update's outcome (update.json), retained: a roll-back says why."""
        if self.app.update and self.client is not None:
            import json
            self._publish(ha.update_topic(self.prefix, self.reader_id), json.dumps(self.app.update),
                          retain=True)

    def close(self):
        """Leave cleanly (a restart to apply settings): no last will, just gone."""
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:
                pass
        self._drop()

    def _drop(self):
        self.connected = False
        if self.client is not None:
            try:
                self.client.sock.close()
            except Exception:
                pass
        self.client = None

    def _on_message(self, topic, msg):
        if msg == b"online":
            # Home Assistant restarted: it forgets entities whose config was not retained
            # and may have lost state; send everything again.
            self._rediscover = True

    # --- publishing ---------------------------------------------------------
    def _publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, retain=retain, qos=1)
        self._timeouts()

    def _announce(self, reader, reading):
        info = {"reader_id": self.reader_id, "address": self.app.address or "", "sw_version": self.app_version()}
        meter = {"meter_id": reader.meter_id, "manufacturer": reader.model.manufacturer,
                 "model": reader.model.description, "serial": reader.serial}
        for topic, payload in ha.discovery(self.disco, self.prefix, self.reader_id, info, meter,
                                           reading, reader.classes):
            self._publish(topic, payload, retain=True)
        self._announced.add(reader.meter_id)

    def app_version(self):
        import app
        return app.VERSION

    def _drain_queue(self):
        store = self.app.store
        while True:
            reading = store.peek()
            if reading is None:
                return
            extra = getattr(reading, "extra", {})
            if reading.t is None and extra.get("boot") == self.app.boot:
                if hw.clock_set():
                    # Read before the clock was known, in this boot: stamp it now.
                    reading.t = hw.unix_time() - (self.app.uptime_s() - extra.get("up", 0))
                elif self.app.uptime_s() < CLOCK_WAIT_S:
                    return          # keep it (and all after it, in order) until NTP answers
            latest = self.app.latest.get(reading.meter_id)
            reader = latest[0] if latest else self._reader_for(reading.meter_id)
            if reader is not None and reader.meter_id not in self._announced:
                self._announce(reader, latest[1] if latest else reading)
            classes = reader.classes if reader is not None else None
            self._publish(ha.state_topic(self.prefix, self.reader_id, reading.meter_id),
                          ha.state_payload(reading, classes), retain=True)
            store.pop()                     # only after the broker's PUBACK
            self.published += 1
            if self.published == 1:         # `metereye deploy --follow` waits for this line
                log.info("mqtt", "published the first reading since boot, of", reading.meter_id)

    def _reader_for(self, meter_id):
        for r in self.app.readers:
            if r.meter_id == meter_id:
                return r
        return None

    def _diagnostics(self):
        app = self.app
        store = app.store
        self._publish(ha.reader_diag_topic(self.prefix, self.reader_id),
                      ha.reader_diag_payload(hw.wifi_rssi(), hw.free_heap(), app.uptime_s(),
                                             store.pending, store.dropped), retain=True)
        for r in app.readers:
            s = r.schedule
            state = s.state if s.state in ha.METER_STATES else "waiting"
            self._publish(ha.meter_diag_topic(self.prefix, self.reader_id, r.meter_id),
                          ha.meter_diag_payload(state, s.sessions_today, s.budget, r.errors,
                                                r.info_flags, r.last_read_t), retain=True)

    # --- the task -----------------------------------------------------------
    async def run(self):
        backoff = BACKOFF_FIRST_MS
        while True:
            try:
                if not hw.wifi_connected():
                    raise OSError("wifi down")
                self._connect()
                backoff = BACKOFF_FIRST_MS
                self._last_diag = None
                while True:
                    self.client.check_msg()
                    self._timeouts()
                    if self._rediscover:
                        self._rediscover = False
                        self._announced = set()
                    for meter_id, (reader, reading) in self.app.latest.items():
                        if meter_id not in self._announced:
                            self._announce(reader, reading)
                    self._drain_queue()
                    now = time.ticks_ms()
                    if (self._diag_due or self._last_diag is None
                            or time.ticks_diff(now, self._last_diag) > DIAG_EVERY_MS):
                        self._diag_due = False
                        self._diagnostics()
                        self._last_diag = now
                    self._event.clear()
                    try:
                        await asyncio.wait_for_ms(self._event.wait(), 1000)
                    except asyncio.TimeoutError:
                        pass
                    self._ping_if_idle()
            except (OSError, IndexError, AttributeError, ValueError) as e:
                # umqtt raises OSError for socket trouble and MQTTException (an
                # Exception) or IndexError on a garbled packet: same remedy.
                self.errors += 1
                if self.connected:
                    log.warn("mqtt", "connection lost:", repr(e))
                    self.reconnects += 1
                else:
                    log.warn("mqtt", "cannot connect:", repr(e), "retry in", backoff // 1000, "s")
                self._drop()
            except Exception as e:   # MQTTException: refused (bad credentials, …)
                self.errors += 1
                log.warn("mqtt", "broker refused:", repr(e))
                self._drop()
            await asyncio.sleep_ms(backoff)
            backoff = min(backoff * 2, BACKOFF_CAP_MS)

    def _ping_if_idle(self):
        """A keep-alive within the 60 s umqtt.simple announces; it sends none itself."""
        now = time.ticks_ms()
        if time.ticks_diff(now, self._last_ping) > 30000:
            self.client.ping()
            self._last_ping = now
