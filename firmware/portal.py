"""First boot, with no config.json: the reader opens its own WiFi access point
and serves the settings page there; once a configuration is saved it closes
the access point and returns, and main() starts the reader, which joins the
configured network.

The access point is WPA2 with the device's setup password (web.device_password:
unique to the device, printed on the serial console), and saving the settings
asks for the same password again, so a phone that joined the access point
still cannot change anything without it (on the unix port, where the access
point is a stand-in on the loopback, that password is all that guards it).
Where the port has one (PORTAL_DNS_PORT), a tiny DNS responder answers every
name with the access point's address, so phones open the page by themselves
(a captive portal). Imported only on first boot (docs/style.md R13).
"""

import socket

import asyncio
import hw
import runtime

_POLL_MS = 50            # the DNS responder polls its socket (a portal has time)


def run():
    """Serve setup until a configuration is saved."""
    import web
    password = web.device_password()
    ssid = "metereye-" + hw.unique_id()
    address = hw.ap_open(ssid, password)
    # print, not log: the password must reach the console and nowhere else
    # (the log's recent lines are served by the page).
    print("metereye: setup: no configuration yet")
    print("metereye: setup: join WiFi", ssid, "with AP password", password)
    where = address if hw.PORTAL_PORT == 80 else "%s:%d" % (address, hw.PORTAL_PORT)
    print("metereye: setup: then open http://%s/ and save the settings with the same password" % where)
    try:
        asyncio.run(_serve(password, ssid, address))
    except KeyboardInterrupt:
        # Like the app's Ctrl-C: stop quietly (main() would open setup again).
        print("metereye: setup stopped")
        raise SystemExit(0)
    finally:
        hw.ap_close()
        asyncio.new_event_loop()
    print("metereye: setup: settings saved; leaving setup")


class _Setup:
    """What web.py's routes ask of the portal: no meters, the defaults, the setup password."""

    setup = True

    def __init__(self, password, reader_id):
        self._password = password
        self.reader_id = reader_id
        self.done = asyncio.Event()
        self._defaults = None

    def config(self):
        if self._defaults is None:
            from metereye.config import defaults
            self._defaults = defaults()
        return self._defaults

    def password(self):
        return self._password

    async def apply(self):
        import web
        await asyncio.sleep_ms(web.RESTART_DELAY_MS)
        self.done.set()

    def status(self):
        return {"setup": True, "reader": {"id": self.reader_id, "version": runtime.VERSION, "platform": hw.PLATFORM},
                "meters": [], "log": []}

    def readings(self):
        return {"reader": self.reader_id, "time": None, "meters": []}

    def history(self, meter):
        return {"entries": []}


def _server(password, reader_id, port, address):
    """The page's server with setup's answers: (Web, the _Setup whose .done says saved)."""
    import web
    from microdot import Response
    web.limits()
    setup = _Setup(password, reader_id)
    srv = web.Server()
    web.routes(srv, setup)

    @srv.route("/<path:path>")
    def elsewhere(req, path):
        # Phones probe a known address to find a captive portal; the DNS
        # answer brought them here, and a redirect opens the settings.
        return Response.redirect(("http://%s/" % address) if port == 80 else "/")

    return web.Web(srv, port).start(hw.LISTEN_HOST), setup


async def _serve(password, ssid, address):
    server, setup = _server(password, ssid, hw.PORTAL_PORT, address)
    stop: list = []
    if hw.PORTAL_DNS_PORT:
        asyncio.create_task(dns_responder(address, hw.PORTAL_DNS_PORT, stop))
    await setup.done.wait()
    stop.append(True)
    await server.stop()
    await asyncio.sleep_ms(2 * _POLL_MS)     # the responder sees `stop` and closes its socket


async def dns_responder(address, port, stop):
    """Answer every DNS query for an A record with `address`, others with no answer."""
    ip = bytes(int(x) for x in address.split("."))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(hw.LISTEN_HOST, port)[0][-1])
        s.setblocking(False)
        while not stop:
            try:
                query, peer = s.recvfrom(512)
            except OSError:            # nothing waiting (EAGAIN)
                await asyncio.sleep_ms(_POLL_MS)
                continue
            answer = dns_answer(query, ip)
            if answer:
                try:
                    s.sendto(answer, peer)
                except OSError:
                    pass
    finally:
        s.close()


def dns_answer(query, ip):
    """The reply to one DNS query (RFC 1035 4.1), or None for what is not a query."""
    if len(query) < 17 or query[2] & 0x80 or query[4:6] != b"\x00\x01":
        return None                     # a reply, or not exactly one question
    i = 12
    while i < len(query) and query[i]:
        if query[i] & 0xC0:
            return None                 # a pointer has no place in a question
        i += query[i] + 1
    end = i + 5                         # the zero byte, QTYPE, QCLASS
    if end > len(query):
        return None
    question = query[12:end]
    is_a = query[i + 1:i + 3] == b"\x00\x01"
    # ID, flags (a response, recursion desired and available), 1 question, 1 or 0 answers
    head = query[:2] + b"\x81\x80\x00\x01\x00" + (b"\x01" if is_a else b"\x00") + b"\x00\x00\x00\x00"
    if not is_a:
        return head + question          # AAAA and the rest: no answer, so clients use A
    # the name by pointer to offset 12, type A, class IN, TTL 60 s, 4 bytes of address
    return head + question + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + ip
