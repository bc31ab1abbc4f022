"""A small MQTT 3.1.1 client on asyncio streams, so that no wait for the broker
ever holds up the meters or the page (umqtt.simple blocked every task in its
connect and in each QoS 1 PUBACK wait: a frozen broker stalled the page for
seconds).

What the reader needs of MQTT 3.1.1 (OASIS, mqtt-v3.1.1-os): CONNECT with a
clean session, a last will, user and password and a keep-alive (§3.1);
PUBLISH at QoS 0 or 1, a QoS 1 publish returning once the PUBACK with its
packet id is back (§3.3, §3.4); SUBSCRIBE at QoS 0 (§3.8); PINGREQ (§3.12);
DISCONNECT (§3.14). TLS through the port's ssl.SSLContext, as asyncio's own
open_connection does it. The broker's name is looked up at every connect, so
a broker that moved is found again (the lookup itself blocks: MicroPython has
no other; a literal address costs nothing).

One task reads the socket (_receive) and hands incoming messages to
on_message(topic, payload); the caller's task writes and waits for its
acknowledgements, each wait bounded. Every failure is raised as outbox.Down.
"""

import socket
import struct
import time
from errno import EINPROGRESS

import asyncio
import hw
from outbox import Down

CONNECT_MS = 5000       # TCP, TLS and CONNACK
ACK_MS = 10000          # a PUBACK or SUBACK
MAX_INCOMING = 1024     # bytes of one packet from the broker (we subscribe to one short topic)


class Client:
    def __init__(self, client_id, host, port, user="", password="", keepalive_s=60, tls=False,
                 will=None, on_message=None):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive_s = keepalive_s
        self.tls = tls
        self.will = will                # (topic, payload, retain, qos) or None
        self.on_message = on_message
        self.sent_ms = time.ticks_ms()  # when we last wrote a packet
        self.heard_ms = self.sent_ms    # when the broker last sent one
        self._s = None
        self._task = None
        self._pid = 0
        self._waiting = None            # the packet id (or "connack") an ack is awaited for
        self._acked = False
        self._refused = None            # CONNACK's return code
        self._failed = None
        self._event = asyncio.Event()

    # --- the connection ---------------------------------------------------------
    async def connect(self):
        """Open the connection and wait for the broker's CONNACK; Down if not."""
        self.close()
        try:
            ai = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0]
        except OSError as e:
            raise Down("cannot look up %s: %r" % (self.host, e), False)
        s = socket.socket(ai[0], ai[1], ai[2])
        if hw.TCP_NODELAY:
            # Each packet goes out at once: with Nagle's algorithm against the broker's
            # delayed ACK, a publish waited ~40 ms for its segment to leave.
            try:
                s.setsockopt(hw.TCP_NODELAY[0], hw.TCP_NODELAY[1], 1)
            except OSError:
                pass                # slower, not broken
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.args[0] != EINPROGRESS:
                s.close()
                raise Down("cannot connect to %s:%d: %r" % (self.host, self.port, e), False)
        if self.tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            s = ctx.wrap_socket(s, server_hostname=self.host, do_handshake_on_connect=False)
            s.setblocking(False)
        self._s = asyncio.StreamWriter(s)
        self._failed = self._refused = None
        self._pid = 0
        self._expect("connack")
        try:
            self._write(self._connect_packet())
            await asyncio.wait_for_ms(self._s.drain(), CONNECT_MS)
        except (OSError, asyncio.TimeoutError) as e:
            self.close()
            raise Down("cannot connect to %s:%d: %r" % (self.host, self.port, e), False)
        self._task = asyncio.create_task(self._receive())
        await self._until("CONNACK", CONNECT_MS)
        if self._refused:
            code = self._refused
            self.close()
            raise Down("the broker refused the connection: %s" % _REFUSED.get(code, "code %d" % code), True)

    def _connect_packet(self):
        flags = 0x02                    # clean session
        payload = _string(self.client_id)
        if self.will:
            topic, message, retain, qos = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _string(topic) + _string(message)
        if self.user:
            flags |= 0x80
            payload += _string(self.user)
            if self.password:
                flags |= 0x40
                payload += _string(self.password)
        variable = b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", self.keepalive_s)
        return _fixed(0x10, len(variable) + len(payload)) + variable + payload

    def close(self):
        """Drop the connection at once (no DISCONNECT: the broker sends our last will)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._s is not None:
            try:
                self._s.close()
            except OSError:
                pass
            self._s = None

    async def disconnect(self):
        """Leave cleanly: DISCONNECT, so the broker discards our last will."""
        if self._s is not None:
            try:
                self._write(b"\xe0\x00")
                await asyncio.wait_for_ms(self._s.drain(), 1000)
            except (OSError, asyncio.TimeoutError):
                pass
        self.close()

    # --- packets out -------------------------------------------------------------
    async def publish(self, topic, payload, retain=False, qos=1):
        """Send one message; at QoS 1, return once the broker acknowledged it."""
        t = topic.encode() if isinstance(topic, str) else topic
        p = payload.encode() if isinstance(payload, str) else payload
        head = 0x30 | (qos << 1) | (1 if retain else 0)
        pid = b""
        if qos:
            pid = struct.pack("!H", self._expect(self._next_pid()))
        self._write(_fixed(head, 2 + len(t) + len(pid) + len(p)) + struct.pack("!H", len(t)) + t + pid)
        self._write(p)
        await self._drain()
        if qos:
            await self._until("PUBACK", ACK_MS)

    async def subscribe(self, topic):
        """Subscribe at QoS 0; returns once the broker acknowledged it."""
        t = topic.encode()
        pid = self._expect(self._next_pid())
        self._write(_fixed(0x82, 2 + 2 + len(t) + 1) + struct.pack("!HH", pid, len(t)) + t + b"\x00")
        await self._drain()
        await self._until("SUBACK", ACK_MS)

    async def ping(self):
        self._write(b"\xc0\x00")
        await self._drain()

    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _write(self, data):
        if self._s is None:
            raise Down("not connected", True)
        self._s.write(data)
        self.sent_ms = time.ticks_ms()

    async def _drain(self):
        try:
            await asyncio.wait_for_ms(self._s.drain(), ACK_MS)
        except asyncio.TimeoutError:
            raise Down("the broker takes nothing in (%d s)" % (ACK_MS // 1000), True)
        except OSError as e:
            raise Down("connection lost: %r" % e, True)

    def _expect(self, wanted):
        """Note the acknowledgement to wait for (a packet id, or "connack") before
        the packet leaves: the answer may come in before the sender looks."""
        self._waiting = wanted
        self._acked = False
        return wanted

    async def _until(self, what, ms):
        """Wait for the acknowledgement _expect() noted."""
        deadline = time.ticks_add(time.ticks_ms(), ms)
        try:
            while not self._acked:
                if self._failed is not None:
                    raise Down("connection lost: %r" % self._failed, True)
                left = time.ticks_diff(deadline, time.ticks_ms())
                if left <= 0:
                    raise Down("no %s from the broker within %d s" % (what, ms // 1000), True)
                self._event.clear()
                try:
                    await asyncio.wait_for_ms(self._event.wait(), left)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._waiting = None

    # --- packets in ----------------------------------------------------------------
    async def _receive(self):
        s = self._s
        try:
            while True:
                head = (await s.readexactly(1))[0]
                size = 0
                for shift in (0, 7, 14, 21):
                    b = (await s.readexactly(1))[0]
                    size |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                if size > MAX_INCOMING:
                    raise ValueError("a packet of %d bytes" % size)
                body = await s.readexactly(size) if size else b""
                self.heard_ms = time.ticks_ms()
                self._handle(head, body)
        except Exception as e:          # EOFError, OSError, a malformed packet: the connection is gone
            self._failed = e
            self._event.set()

    def _handle(self, head, body):
        kind = head >> 4
        if kind == 3:                               # PUBLISH
            n = struct.unpack("!H", body[:2])[0]
            start = 2 + n + (2 if head & 0x06 else 0)
            if head & 0x06:                         # QoS 1 though we asked for 0: acknowledge it
                self._write(b"\x40\x02" + body[2 + n:start])
            if self.on_message is not None:
                self.on_message(body[2:2 + n], body[start:])
            return
        if kind == 2 and self._waiting == "connack":
            self._refused = body[1]                 # CONNACK's return code
        elif not ((kind == 4 or kind == 9) and struct.unpack("!H", body[:2])[0] == self._waiting):
            return                                  # PINGRESP (heard_ms says enough), a stray ack
        self._acked = True                          # CONNACK, or the PUBACK or SUBACK awaited
        self._event.set()


def _string(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def _fixed(kind, size):
    """A fixed header: the packet type and flags, then the remaining length (§2.2.3)."""
    out = bytearray((kind,))
    while True:
        byte = size & 0x7F
        size >>= 7
        out.append(byte | 0x80 if size else byte)
        if not size:
            return out


_REFUSED = {1: "unacceptable protocol version", 2: "client id rejected", 3: "server unavailable",
            4: "bad user name or password", 5: "not authorised"}
