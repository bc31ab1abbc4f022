"""The reader's own page and JSON API: microdot, as one asyncio task
beside the meters and MQTT. The first-boot portal (portal.py) serves the same
page and settings with its own answers behind routes().

    GET  /                  the page (www/index.html on flash, streamed)
    GET  /api/status        the reader and each meter's state and diagnostics
    GET  /api/readings      each meter's identity and latest values, exact
    GET  /api/history       the readings kept on flash (history.py), streamed
    GET  /api/config        the configuration, every secret shown as "(set)"
    GET  /api/models        the meter catalogue, for the settings form
    POST /api/config        change settings (password), saved, then applied
    POST /api/read          read a meter now (within its budget)
    POST /api/echo-test     the head's self-test on a meter's line
    POST /api/update        an update bundle (password), staged by updater.py;
                            the reader then resets to try it

Auth: HTTP Basic on every change (README "The reader's page" argues it);
the user name is ignored. POSTs take JSON only, which a cross-site form
cannot send without a CORS preflight this server never approves.

Memory: the page is a file streamed in 1 KB pieces, never a string in RAM,
and /api/history streams its file. Bounds microdot does not set itself (an
endless line, endless headers, a client that never finishes, many clients)
are set here: HEAD_MAX + BODY_MAX bytes, REQUEST_MS, MAX_CONNECTIONS.
The update upload alone may be larger (UPDATE_MAX) and slower (UPDATE_MS):
its body is never in RAM, updater.py reads it 512 bytes at a time into flash.
"""

import binascii
import gc
import hashlib
import json
import os
import sys
import time

import asyncio
import flashfile
import hw
import log
import runtime
from metereye.decimal import parse_decimal
from metereye.ha import ha_unit, ha_value
from microdot import Microdot, Request, Response

HEAD_MAX = 3072          # request line + headers: Chromium sends ~700 B
BODY_MAX = 4096          # a whole configuration with four meters is ~1.5 KB
LINE_MAX = 1024
REQUEST_MS = 10000       # from accept to the last byte of the answer
MAX_CONNECTIONS = 4      # each costs ~1-2 KB of heap while open
FAIL_DELAY_MS = 1000     # after a wrong password: a guesser gets a few tries a second
RESTART_DELAY_MS = 300   # lets the answer leave before the app stops
ECHO_TIMEOUT_MS = 15000  # an echo test waits for a running session to end first
UPDATE_PATH = "/api/update"
UPDATE_MAX = 400 * 1024  # a bundle is ~150 KB today; room for growth, not for flooding flash
UPDATE_MS = 180000       # generous: ~150 KB into flash over a weak WiFi link (unmeasured on a board)
DISCARD_MS = 2000        # the most a refused upload's next piece is waited for
PAGE = "www/index.html"
KEY_FILE = "setup.key"   # 16 random bytes: with the chip id, the setup password

_JSON = "application/json"
_TEXT = 4                # the catalogues' flag: an identifier or date (metereye.obis.TEXT, meters.kamstrup.TEXT)
_SET = "(set)"
# 32 symbols, none mistaken for another (no 0/o, 1/l): 5 bits a character.
_SYMBOLS = "abcdefghijkmnpqrstuvwxyz23456789"
_BUSY = b"HTTP/1.0 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
# The page loads nothing from elsewhere (the reader may have no internet),
# and is never framed (a framed settings form invites clickjacking).
_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=UTF-8",
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def device_password():
    """The device's setup password: its access point's WPA2 key, and the page's
    password while web.password is empty. From the chip's id and 16 random
    bytes kept on flash: unique to the device, the same after a reboot, new
    after the flash is erased."""
    try:
        with flashfile.open_latest(KEY_FILE, "rb") as f:
            salt = f.read()
    except OSError:
        salt = b""
    if len(salt) != 16:
        salt = os.urandom(16)
        flashfile.write(KEY_FILE, salt)
    digest = hashlib.sha256(hw.unique_id().encode() + salt).digest()
    chars = "".join(_SYMBOLS[b & 31] for b in digest[:12])
    return chars[:4] + "-" + chars[4:8] + "-" + chars[8:]


# --- bounds -----------------------------------------------------------------

class _Bounded:
    """The request stream as microdot reads it, within limits: asyncio's own
    readline() grows a line until a newline comes, however long, and microdot
    takes any number of header lines. Over a limit: ValueError, which microdot
    answers with 400; `cut` then says bytes of the request were left unread."""

    def __init__(self, stream):
        self._s = stream
        self._buf = b""
        self._head = 0
        self.cut = False
        self.upload = False
        self._error = None

    async def request_line(self):
        """Read the request line ahead, so that the server knows an upload
        (a longer deadline, a larger body) before microdot parses the request;
        readline() hands the line on as if unread."""
        try:
            line = await self.readline()
        except ValueError as e:
            self._error = e             # raised again to microdot, which answers 400
            return
        self._buf = line + self._buf
        self._head = 0
        self.upload = line.startswith(b"POST " + UPDATE_PATH.encode() + b" ")

    async def _more(self):
        data = await self._s.read(256)
        if data:
            self._buf += data
        return data

    def _over(self, why):
        self.cut = True
        return ValueError(why)

    async def readline(self):
        if self._error is not None:
            raise self._error
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i + 1], self._buf[i + 1:]
                self._head += len(line)
                if len(line) > LINE_MAX or self._head > HEAD_MAX:
                    raise self._over("request head too long")
                if line[:15].lower() == b"content-length:":
                    try:
                        # Over the limit, microdot answers 413 and leaves the body unread.
                        self.cut = int(line[15:]) > (UPDATE_MAX if self.upload else BODY_MAX)
                    except ValueError:
                        pass
                return line
            if len(self._buf) > LINE_MAX:
                raise self._over("request line too long")
            if not await self._more():
                line, self._buf = self._buf, b""      # the client closed: what there is
                return line

    async def readexactly(self, n):
        if n < 0 or n > BODY_MAX:
            raise self._over("bad Content-Length")
        while len(self._buf) < n:
            if not await self._more():
                raise EOFError
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    async def read(self, n=-1):
        """Up to n bytes (all there are for n < 0): what came in with the head first."""
        if self._buf:
            if n < 0 or n >= len(self._buf):
                data, self._buf = self._buf, b""
            else:
                data, self._buf = self._buf[:n], self._buf[n:]
            return data
        return await self._s.read(n)


class _Writer:
    """The answer's stream, whose closing the server does itself (see Server)."""

    def __init__(self, stream):
        self._s = stream

    def awrite(self, data):
        return self._s.awrite(data)

    async def aclose(self):
        pass

    def get_extra_info(self, name):
        return self._s.get_extra_info(name)


class Server(Microdot):
    """microdot with a cap on connections and a deadline on each."""

    DRAIN_MAX = 16384       # bytes of a refused request read and dropped
    DRAIN_MS = 500

    def __init__(self):
        super().__init__()
        self.open = 0

    async def handle_request(self, reader, writer):
        if self.open >= MAX_CONNECTIONS:
            try:
                await writer.awrite(_BUSY)
                await self._drain(reader)
                await writer.aclose()
            except OSError:
                pass
            return
        self.open += 1
        bounded = _Bounded(reader)
        try:
            await asyncio.wait_for_ms(bounded.request_line(), REQUEST_MS)
            await asyncio.wait_for_ms(Microdot.handle_request(self, bounded, _Writer(writer)),
                                      UPDATE_MS if bounded.upload else REQUEST_MS)
            if bounded.cut:
                await self._drain(reader)
        except (asyncio.TimeoutError, OSError):
            pass                        # a client too slow, or gone
        finally:
            self.open -= 1
            try:
                await writer.aclose()
            except OSError:
                pass

    async def dispatch_request(self, req):
        if req is not None and req.method == "POST" and req.path == UPDATE_PATH:
            req.max_content_length = UPDATE_MAX     # this request's own limit; the class's stays
        return await Microdot.dispatch_request(self, req)

    async def _drain(self, reader):
        # Closing a socket with unread bytes makes the kernel send a reset,
        # which can destroy our 4xx before the client reads it: read the rest first.
        left = self.DRAIN_MAX
        while left > 0:
            try:
                data = await asyncio.wait_for_ms(reader.read(512), self.DRAIN_MS)
            except asyncio.TimeoutError:
                return
            if not data:
                return
            left -= len(data)


def limits():
    # Class attributes: microdot reads them per request (documented limits).
    Request.max_content_length = BODY_MAX
    Request.max_body_length = BODY_MAX
    Request.max_readline = LINE_MAX
    # The page leaves flash in pieces of this size: small blocks still fit
    # when the heap is fragmented, where a large one fails first.
    Response.send_file_buffer_size = 512


class Web:
    """The running server: App.close() and the portal stop it."""

    def __init__(self, server, port):
        self.server = server
        self.port = port
        self.closed = False

    async def _run(self, host):
        try:
            await self.server.start_server(host=host, port=self.port)
        except OSError as e:     # the port is taken or not ours: the meters read on
            log.error("web", "cannot serve on port", self.port, repr(e))
        self.closed = True

    def start(self, host):
        asyncio.create_task(self._run(host))
        return self

    def shutdown(self):
        """Close the listening socket; answers under way still finish."""
        if not self.closed and self.server.server is not None:
            self.server.shutdown()

    async def stop(self):
        """shutdown(), then wait until the server's task has closed its socket.
        That happens only while the loop runs: after App.run returns, the task
        never runs again and the port stays taken (EADDRINUSE at the restart)."""
        self.shutdown()
        for _ in range(100):
            if self.closed or self.server.server is None:
                return
            await asyncio.sleep_ms(10)


# --- pieces every route shares ----------------------------------------------

def _error(status, why, **extra):
    extra["error"] = why
    return extra, status


def _password_ok(req, want):
    """Basic auth with any user name and `want` as the password."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Basic ") or not want:
        return False
    try:
        given = binascii.a2b_base64(header[6:].strip()).decode().partition(":")[2]
    except (ValueError, UnicodeError):
        return False
    # Compare every byte whatever the first difference: timing must not
    # tell a guesser how much of the password was right.
    a, b = given.encode(), want.encode()
    diff = len(a) ^ len(b)
    for i in range(len(a)):
        diff |= a[i] ^ b[i % len(b)]
    return diff == 0


async def _refused():
    await asyncio.sleep_ms(FAIL_DELAY_MS)
    return ({"error": "the reader's password is needed (HTTP Basic auth, any user name)"}, 401,
            {"WWW-Authenticate": 'Basic realm="metereye", charset="UTF-8"'})


def _streamed(obj):
    """A JSON answer written a part at a time (an item of a list, a key of an
    object): never the whole text at once, then again as bytes. In a heap cut
    up by the meters and MQTT, that large block is the allocation that fails."""
    return Response(body=_parts(obj), headers={"Content-Type": "application/json; charset=UTF-8"})


def _parts(obj):
    dumps = json.dumps
    if isinstance(obj, list):
        sep = "["
        for item in obj:
            if isinstance(item, dict) and _holds_list(item):
                yield sep               # a meter and its readings: a value at a time
                for part in _parts(item):
                    yield part
            else:
                yield sep + dumps(item)
            sep = ","
        yield "]" if sep == "," else "[]"
        return
    sep = "{"
    for key, value in obj.items():
        if isinstance(value, list) and value:
            yield sep + dumps(key) + ":"
            for part in _parts(value):
                yield part
        else:
            yield sep + dumps(key) + ":" + dumps(value)
        sep = ","
    yield "}" if sep == "," else "{}"


def _holds_list(obj):
    for value in obj.values():
        if isinstance(value, list) and value:
            return True
    return False


def _json_body(req):
    """(object, None) or (None, an error answer)."""
    kind = (req.content_type or "").split(";")[0].strip()
    if kind != _JSON:
        return None, _error(415, "send JSON (Content-Type: application/json)")
    try:
        data = json.loads(req.body.decode() if req.body else "{}")
    except (ValueError, UnicodeError):
        return None, _error(400, "the body is not valid JSON")
    if not isinstance(data, dict):
        return None, _error(400, "the body must be a JSON object")
    return data, None


def _send_page():
    for path in (PAGE, _here() + PAGE):    # on flash as deployed; else beside this module
        try:
            f = open(path, "rb")
        except OSError:
            continue
        return Response(body=f, headers=_PAGE_HEADERS)
    return _error(404, "the page is not on flash (www/index.html)")


def _here():
    path = __file__.rpartition("/")[0]
    return path + "/" if path else ""


def _models():
    from metereye.meters import MODELS
    return [{"name": m[0], "protocol": m[1], "description": m[3]} for m in MODELS]


def _redacted(cfg):
    from metereye.config import redacted
    out = redacted(cfg)
    _drop_config()
    return out


def _drop_config():
    # The validator is ~7 KB of heap the running reader needs only for a
    # moment; main() drops it after boot for the same reason. settings goes
    # with it: it holds the validator, and main() drops both together.
    runtime.forget(*runtime.BOOT_ONLY)


def _checked(current, changes, setup):
    """(configuration, None) after the change, validated; or (None, a 400 answer)."""
    from metereye.config import with_changes, validate
    from metereye.errors import ConfigError
    try:
        cfg = validate(with_changes(current, changes))
        if setup:
            # Setup's password stops working when setup ends: the page then needs its own,
            # and a reader that joins no network could not be reached again.
            if not cfg["web"]["password"]:
                raise ConfigError("web.password", "choose a password for the reader's page")
            if not cfg["wifi"]["ssid"]:
                raise ConfigError("wifi.ssid", "the network the reader joins")
    except ConfigError as e:
        return None, _error(400, "invalid", path=e.args[0], message=e.args[1])
    return cfg, None


def routes(srv, web):
    """The routes the page and the portal share; `web` answers the rest."""

    @srv.after_request
    def _no_store(req, res):
        res.headers["X-Content-Type-Options"] = "nosniff"
        if "Cache-Control" not in res.headers:
            res.headers["Cache-Control"] = "no-store"
        return res

    @srv.get("/")
    def page(req):
        return _send_page()

    @srv.get("/api/models")
    def models(req):
        return _streamed(_models())

    @srv.get("/api/status")
    def status(req):
        return _streamed(web.status())

    @srv.get("/api/readings")
    def readings(req):
        return _streamed(web.readings())

    @srv.get("/api/history")
    def history(req):
        return web.history(req.args.get("meter"))

    @srv.get("/api/config")
    def config(req):
        return _streamed(_redacted(web.config()))

    @srv.post("/api/config")
    async def change(req):
        if not _password_ok(req, web.password()):
            return await _refused()
        data, err = _json_body(req)
        if err:
            return err
        cfg, err = _checked(web.config(), data, web.setup)
        if err:
            return err
        import settings
        settings.save(cfg)
        log.info("web", "settings saved; applying them")
        asyncio.create_task(web.apply())
        return {"saved": True, "restarting": True, "config": _redacted(cfg)}


# --- the reader's page ------------------------------------------------------

class _Page:
    """What the routes ask of a running reader (App)."""

    setup = False

    def __init__(self, app):
        self.app = app
        self.web = None

    def config(self):
        return self.app.cfg

    def password(self):
        return self.app.cfg["web"]["password"] or device_password()

    async def apply(self):
        await asyncio.sleep_ms(RESTART_DELAY_MS)
        self.app.restart()          # App.run stops the server before it returns

    async def reboot(self, why):
        """Reset the reader once the answer has left: the boot tries the staged set."""
        await asyncio.sleep_ms(RESTART_DELAY_MS)
        await self.web.stop()
        hw.reset(why)

    def status(self):
        gc.collect()            # a quiet point: free heap then means what is really free
        app = self.app
        store = app.store
        reader = {
            "id": app.reader_id, "version": runtime.VERSION, "platform": hw.PLATFORM, "boot": runtime.boot,
            "uptime_s": runtime.uptime_s(), "clock_set": hw.clock_set(), "time": runtime.clock(),
            "address": app.address, "rssi": hw.wifi_rssi(), "free_heap": hw.free_heap(),
            "heap_used": gc.mem_alloc(), "heap_peak": app.heap_peak,
            "queued": store.pending if store else 0, "dropped": store.dropped if store else 0,
            # Each target the readings go to: connected, queued, sent, refused, last_seq, error.
            "mqtt": app.mqtt.status() if app.mqtt else {
                "host": app.cfg["mqtt"]["host"], "connected": False, "published": 0, "reconnects": 0,
                "topic_prefix": app.cfg["mqtt"]["topic_prefix"]},
            "http": app.http.status() if app.http else None,
            "history": app.history.lines if app.history else 0,
            "update": getattr(app, "update", None),     # the last firmware update's outcome
        }
        meters = []
        for r in app.readers:
            s = r.status()
            s["manufacturer"] = r.model.manufacturer
            s["description"] = r.model.description
            s["protocol"] = r.protocol
            s["interval_s"] = r.spec["interval_s"]
            s["wake_fitted"] = r.wake is not None
            s["echo"] = r.echo_result.outcome if r.echo_result is not None else None
            meters.append(s)
        # log_epoch: the year a log line's seconds count from (MicroPython's epoch
        # on this port: 2000 on the ESP32, 1970 on unix), so the page can show local time.
        return {"setup": False, "reader": reader, "meters": meters, "log": log.recent(),
                "log_epoch": time.gmtime(0)[0]}

    def readings(self):
        app = self.app
        out = []
        for r in app.readers:
            latest = app.latest.get(r.meter_id)
            reading = latest[1] if latest else None
            m = {"meter": r.meter_id, "model": r.spec["model"], "manufacturer": r.model.manufacturer,
                 "description": r.model.description, "serial": r.serial, "protocol": r.protocol,
                 "state": r.schedule.state, "t": None, "age_s": None, "readings": []}
            if reading is not None:
                m["t"] = reading.t
                m["age_s"] = self._age(reading)
                m["readings"] = [self._value(r, k, v, u) for k, v, u in reading.values]
            out.append(m)
        return {"reader": app.reader_id, "time": runtime.clock(), "meters": out}

    def _age(self, reading):
        if reading.t is not None and hw.clock_set():
            return max(0, runtime.clock() - reading.t)
        up = getattr(reading, "up", None)
        if up is not None and getattr(reading, "boot", None) == runtime.boot:
            return runtime.uptime_s() - up
        return None

    def _value(self, reader, key, value, unit):
        """One value shaped like `metereye decode`'s register (KMP) or data set (IEC)
        object (MeterReader.describe), and beside the meter's own, what Home Assistant
        gets (ha.state_payload and discovery.meter_discovery's rule), which the page shows;
        ha_value is value * 10**ha_shift."""
        out = reader.describe(key, value, unit)
        c = reader.classes(key)
        if (c is not None and c[2] & _TEXT) or parse_decimal(value) is None:
            out["ha_value"], out["ha_unit"], out["ha_shift"] = value, None, 0
        else:
            out["ha_value"], out["ha_unit"] = ha_value(value, unit)
            out["ha_shift"] = ha_unit(unit)[1]
        return out

    def history(self, meter):
        h = self.app.history
        if h is None:
            return {"entries": []}
        return Response(body=h.chunks(meter), headers={"Content-Type": "application/json; charset=UTF-8"})

    def reader(self, meter_id):
        readers = self.app.readers
        if meter_id is None and len(readers) == 1:
            return readers[0]
        for r in readers:
            if r.meter_id == meter_id:
                return r
        return None


def _page_routes(srv, page):
    """What only a running reader answers: reading now and the echo test."""

    @srv.post("/api/read")
    def read(req):
        data, err = _json_body(req)
        if err:
            return err
        want = data.get("meter")
        readers = page.app.readers if want is None else [page.reader(want)]
        if not readers or readers[0] is None:
            return _error(404, "no such meter", meter=want)
        out = []
        refused = 0
        for r in readers:
            if r.read_now():
                out.append({"meter": r.meter_id, "accepted": True})
                continue
            refused += 1
            s = r.schedule
            if s.sessions_today >= s.budget:
                why = "over_budget"
                text = "today's %d reads are used up; reading resumes tomorrow" % s.budget
            else:
                why = "lockout"
                text = "the meter seems locked out: reading now would only prolong it; wait"
            out.append({"meter": r.meter_id, "accepted": False, "why": why, "message": text})
        return {"meters": out}, 429 if refused else 202

    @srv.post("/api/echo-test")
    async def echo(req):
        data, err = _json_body(req)
        if err:
            return err
        r = page.reader(data.get("meter"))
        if r is None:
            return _error(404, "no such meter: name one ({\"meter\": id} from /api/status)",
                          meter=data.get("meter"))
        if r.pushes:
            return _error(409, "a pushing meter's line only listens: there is no LED to test")
        try:
            result = await asyncio.wait_for_ms(r.echo_test(), ECHO_TIMEOUT_MS)
        except asyncio.TimeoutError:
            return _error(503, "the line stayed busy; try again in a minute")
        except OSError as e:
            return _error(500, "the line could not be opened", detail=repr(e))
        return {"meter": r.meter_id, "outcome": result.outcome, "advice": result.advice,
                "received_hex": binascii.hexlify(result.received[:64], " ").decode().upper()}

    @srv.post(UPDATE_PATH)
    async def update(req):
        body = _Counted(req.stream, req.content_length)
        if not _password_ok(req, page.password()):
            await body.discard()        # read, so that the client gets our 401, not a reset
            return await _refused()
        kind = (req.content_type or "").split(";")[0].strip()
        if kind != "application/octet-stream":
            # Not a type a cross-site form can send: no upload rides on a cached password.
            await body.discard()
            return _error(415, "send the bundle as application/octet-stream "
                               "(`metereye update --host`, or the page's upload)")
        if not req.content_length:
            return {"ok": False, "message": "the request holds no bundle"}, 400
        loaded = "updater" in sys.modules
        import updater
        result = await updater.receive_bundle(body, req.content_length)
        await body.discard()            # a refused bundle's rest
        if not result["ok"]:
            if not loaded:
                runtime.forget("updater")
            return result, 400
        result["restarting"] = True
        asyncio.create_task(page.reboot("update staged"))
        return result


class _Counted:
    """The upload's body, counted as it is read: what the updater leaves
    unread of a refused bundle is read and dropped, up to Content-Length."""

    def __init__(self, stream, length):
        self._s = stream
        self.left = length

    async def read(self, n):
        data = await self._s.read(min(n, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data

    async def discard(self):
        while self.left > 0:
            try:
                # A client that stalls gets its answer now, not at the upload's deadline.
                if not await asyncio.wait_for_ms(self.read(512), DISCARD_MS):
                    return
            except asyncio.TimeoutError:
                return


def _counter_test(app):
    """Which values history.py keeps: counters a consumption chart needs."""

    def is_counter(meter_id, key):
        for r in app.readers:
            if r.meter_id == meter_id:
                c = r.classes(key)
                # (device_class, state_class, flags); flag 2: a diagnostic (hour counter, events)
                return c is not None and c[1] == "total_increasing" and not c[2] & 2
        return False
    return is_counter


def start_web(app):
    """Serve the page for a running App; the Web (App.close() shuts it down)."""
    from history import History
    limits()
    if app.history is None:
        app.history = History(is_counter=_counter_test(app))
    page = _Page(app)
    srv = Server()
    routes(srv, page)
    _page_routes(srv, page)
    port = app.cfg["web"]["port"]
    if not app.cfg["web"]["password"]:
        # Physical access (the console) is what the setup password already takes.
        print("metereye: web.password is empty: the page takes the setup password", device_password())
    log.info("web", "page on port", port)
    page.web = Web(srv, port).start(hw.LISTEN_HOST)
    return page.web
