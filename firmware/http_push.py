"""HTTP push, one of the outbox's targets: each reading POSTed to a server.

The setting `http.format` says what the server takes:

    json        POST <url>, one reading a request, shaped like one entry of the
                page's GET /api/history (exact decimal strings, the meter's units):
                {"meter": "multical21_75749993", "t": 1795626124, "seq": 1,
                 "values": {"volume": "831.405", ...}, "units": {"volume": "m³", ...}}
                Authorization: Bearer <token> when a token is set, else Basic
                <user:password> when a user is set.
    influxdb2   POST <url>/api/v2/write?org=<org>&bucket=<bucket>&precision=s,
                Authorization: Token <token>; the body is one point of line
                protocol (metereye.influx.line): the model as the
                measurement, tags meter, reader and serial, a field per value.
    influxdb1   POST <url>/write?db=<database>&precision=s, the same body; with a
                user, Basic auth (InfluxDB 1.x takes its u/p that way too).

A 2xx confirms the reading (the outbox then lets it leave flash). 408, 429,
5xx and anything unexpected mean "not now": the outbox tries again, in order,
with its back-off. Any other 4xx means the server will never take this
reading: it is counted, logged and passed over (outbox.Refused), so one bad
reading never blocks the queue. At most `http.max_in_flight` requests are
under way at once, each on its own connection (HTTP/1.1, Connection: close),
each bounded in size (BODY_MAX) and time (REQUEST_MS). https uses the port's
ssl.SSLContext: the connection is encrypted, the server's certificate is not
checked (the same as mqtt.tls). The server's name is looked up again after
every failure.
"""

import socket
from binascii import b2a_base64
from errno import EINPROGRESS

import asyncio
import hw
import runtime
from metereye.url import query_value, split_url
from outbox import Down, Refused

BODY_MAX = 4096         # bytes of one request's body: a reading of 40 values is ~1.5 KB
REQUEST_MS = 15000      # from connect to the status line of the answer
STATUS_MAX = 256        # bytes read looking for the status line


class HttpPush:
    idle_ms = 60000             # nothing to tend between readings: a new one wakes it

    def __init__(self, app, outbox):
        c = app.cfg["http"]
        self.app = app
        self.link = outbox.link("http")
        self.window = c["max_in_flight"]
        self.format = c["format"]
        self.url = c["url"]
        self.tls, self.host, self.port, path = split_url(c["url"])
        base = path.rstrip("/")
        if self.format == "influxdb2":
            path = "%s/api/v2/write?org=%s&bucket=%s&precision=s" % (base, query_value(c["org"]), query_value(c["bucket"]))
        elif self.format == "influxdb1":
            path = "%s/write?db=%s&precision=s" % (base, query_value(c["database"]))
        self.path = path
        if self.format == "influxdb2" and c["token"]:
            auth = "Token " + c["token"]
        elif self.format == "json" and c["token"]:
            auth = "Bearer " + c["token"]
        elif c["user"]:
            auth = "Basic " + b2a_base64(("%s:%s" % (c["user"], c["password"])).encode()).decode().strip()
        else:
            auth = None
        self._head = ("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: metereye/%s\r\nContent-Type: %s\r\n%sConnection: close\r\n" % (
            self.path, self.host if self.port in (80, 443) else "%s:%d" % (self.host, self.port), runtime.VERSION,
            "application/json" if self.format == "json" else "text/plain; charset=utf-8",
            "Authorization: %s\r\n" % auth if auth else "")).encode()
        self._address = None

    # --- the outbox's target -----------------------------------------------------
    async def open(self):
        if not hw.wifi_connected():
            raise Down("wifi down", False)
        try:
            self._address = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0]
        except OSError as e:
            raise Down("cannot look up %s: %r" % (self.host, e), False)

    async def tend(self):
        pass

    async def send(self, reading):
        body = self.body(reading).encode()
        if len(body) > BODY_MAX:
            raise Refused("%d bytes, more than the %d a request may carry" % (len(body), BODY_MAX))
        status = await self._post(body)
        if 200 <= status < 300:
            self.link.connected = True      # "connected": the server takes readings
            return
        if 400 <= status < 500 and status not in (408, 429):
            self.link.connected = True
            raise Refused("HTTP %d" % status)
        raise Down("the server answered HTTP %d" % status, True)

    def close(self):
        self._address = None            # looked up again at the next open()

    def status(self):
        """What the page shows of HTTP push."""
        out = self.app.outbox.status("http")
        out["url"] = self.url
        out["format"] = self.format
        return out

    # --- what goes out -------------------------------------------------------------
    def body(self, reading):
        if self.format == "json":
            return reading.to_json(numbers=False)
        reader = self.app.reader_of(reading.meter_id)
        tags = [("meter", reading.meter_id), ("reader", self.app.reader_id)]
        if reader is not None and reader.serial is not None:
            tags.append(("serial", "%s" % reader.serial))
        from metereye.influx import line
        # The meter id starts with its configured model's name ("multical21_75749993").
        return line(reading, reading.meter_id.split("_")[0], tags)

    async def _post(self, body):
        """The status of one POST; Down when there is none."""
        reached = [False]
        s = None
        try:
            s = self._connect()
            stream = asyncio.StreamWriter(s)
            return await asyncio.wait_for_ms(self._exchange(stream, body, reached), REQUEST_MS)
        except asyncio.TimeoutError:
            raise Down("no answer within %d s" % (REQUEST_MS // 1000), reached[0])
        except OSError as e:
            raise Down(repr(e), reached[0])
        finally:
            if s is not None:
                s.close()

    def _connect(self):
        ai = self._address
        s = socket.socket(ai[0], ai[1], ai[2])
        if hw.TCP_NODELAY:
            try:
                s.setsockopt(hw.TCP_NODELAY[0], hw.TCP_NODELAY[1], 1)
            except OSError:
                pass
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.args[0] != EINPROGRESS:
                s.close()
                raise
        if self.tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            s = ctx.wrap_socket(s, server_hostname=self.host, do_handshake_on_connect=False)
            s.setblocking(False)
        return s

    async def _exchange(self, stream, body, reached):
        stream.write(self._head)
        stream.write(("Content-Length: %d\r\n\r\n" % len(body)).encode())
        await stream.drain()
        reached[0] = True               # the server took the head: it is there
        stream.write(body)
        await stream.drain()
        line = b""
        while b"\n" not in line and len(line) < STATUS_MAX:
            chunk = await stream.read(64)
            if not chunk:
                break
            line += chunk
        fields = line.split(b" ", 2)
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/"):
            raise OSError("not an HTTP answer: %r" % line[:40])
        try:
            return int(fields[1])
        except ValueError:
            raise OSError("not an HTTP answer: %r" % line[:40])
