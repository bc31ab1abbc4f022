"""Real parts for the HTTP push tests: a small HTTP server that records what the
reader POSTs and answers as the test says, a TCP relay between the reader and
`metereye simulate --tcp` that keeps what the meter served, and a real
InfluxDB 1.x (Debian's influxd) on free ports in a temporary folder."""

import base64
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest

from metereye import kmp
from metereye.meters.kamstrup import register_info
from metereye_tools.broker import free_port


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request: (path, headers, body,
    the status it answered). `answer(body)` picks the status; 204 unless told."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.answer = lambda body: 204
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.answer(body)
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def taken(self):
        """The bodies answered with a 2xx, parsed as JSON, in arrival order."""
        with self.lock:
            return [json.loads(b) for _, _, b, s in self.requests if 200 <= s < 300]

    def count(self, status):
        with self.lock:
            return sum(1 for r in self.requests if r[3] == status)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Relay:
    """TCP between the reader (`"port": relay.spec`) and a simulator's TCP port,
    keeping every byte the meter sent, per connection."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.served = []            # one bytearray per connection: what the meter sent
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.spec = "tcp:127.0.0.1:%d" % self.listener.getsockname()[1]
        self._open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self._open:
            try:
                reader, _ = self.listener.accept()
            except OSError:
                return
            meter = socket.create_connection(("127.0.0.1", self.upstream))
            got = bytearray()
            with self.lock:
                self.served.append(got)
            threading.Thread(target=self._pump, args=(reader, meter, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(meter, reader, got), daemon=True).start()

    def _pump(self, src, dst, keep):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if keep is not None:
                    with self.lock:
                        keep.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def sessions(self):
        """What the meter answered, one dict per session it answered whole:
        {key: (value, unit)}, decoded from its frames by the PC's KMP decoder."""
        with self.lock:
            streams = [bytes(b) for b in self.served]
        out = []
        for wire in streams:
            current = {}
            for frame in kmp.decode_frames(wire):
                if getattr(frame, "direction", None) != "response" or frame.cid != kmp.GET_REGISTER:
                    continue            # our own echo, the ACKs
                regs = kmp.decode_registers(frame.data)
                if any(register_info(r.id)[1] in current for r in regs):
                    out.append(current)
                    current = {}
                for r in regs:
                    current[register_info(r.id)[1]] = (r.display if r.display is not None else r.value, r.unit)
            if current:
                out.append(current)
        whole = max((len(s) for s in out), default=0)
        return [s for s in out if len(s) == whole]

    def close(self):
        self._open = False
        self.listener.close()


def need_influxd():
    if shutil.which("influxd") is None:
        why = "influxd is not installed (tools/test.sh installs Debian's influxdb as root)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


class Influx:
    """Debian's influxd (1.x) on free loopback ports, its data, meta and WAL in a
    temporary folder, with authentication on and one admin user."""

    USER = "metereye"
    PASSWORD = "influx-secret-9Qw"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="metereye-influx-")
        self.port = free_port()
        conf = os.path.join(self.dir, "influxd.conf")
        with open(conf, "w") as f:
            f.write("""reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%s/meta"
[data]
  dir = "%s/data"
  wal-dir = "%s/wal"
  query-log-enabled = false
[coordinator]
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = true
  log-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
""" % (free_port(), self.dir, self.dir, self.dir, self.port))
        self.log = open(os.path.join(self.dir, "influxd.log"), "wb")
        self.proc = subprocess.Popen(["influxd", "-config", conf], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        end = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                    if r.status == 204:
                        break
            except OSError:
                pass
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError("influxd did not start:\n" + self.logtext()[-2000:])
            time.sleep(0.2)
        # With authentication on and no user yet, InfluxDB takes the first admin unauthenticated.
        self.query("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES" % (self.USER, self.PASSWORD),
                   auth=False, post=True)

    def query(self, q, db=None, auth=True, post=False):
        params = {"q": q, "epoch": "s"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params)
        if post:
            req = urllib.request.Request(self.url + "/query", data=data.encode(), method="POST")
        else:
            req = urllib.request.Request(self.url + "/query?" + data)
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(
                ("%s:%s" % (self.USER, self.PASSWORD)).encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as r:
            # Floats as the server writes them, read as exact decimals: no float on our side.
            from decimal import Decimal
            return json.loads(r.read(), parse_float=Decimal)

    def points(self, db, measurement):
        """[{column: value}] of every point of `measurement`, oldest first."""
        answer = self.query('SELECT * FROM "%s"' % measurement, db=db)
        series = answer["results"][0].get("series") or []
        out = []
        for s in series:
            for row in s["values"]:
                out.append(dict(zip(s["columns"], row)))
        return out

    def logtext(self):
        with open(os.path.join(self.dir, "influxd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
