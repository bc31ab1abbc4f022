"""The reader's server under requests no browser sends: malformed, oversized,
slow, too many at once. Each gets a 4xx (or is cut off), never a crash, and
the server answers the next request."""

import base64
import json
import socket
import time

from webhelp import SECRETS

# (what, request bytes, the status expected)
BAD = (
    ("no method, path or version", b"hello\r\n\r\n", 400),
    ("request line 10 KB long", b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", 400),
    ("request line without an end", b"GET /" + b"b" * 3000, 400),
    ("400 header lines", b"GET / HTTP/1.1\r\n" + b"X-Filler: 0123456789\r\n" * 400 + b"\r\n", 400),
    ("a header without a colon", b"GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", 400),
    ("a body over the limit", b"POST /api/config HTTP/1.1\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 100000\r\n\r\n" + b"{" * 8000, 413),
    ("a negative Content-Length", b"POST /api/config HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    ("Content-Length not a number", b"POST /api/config HTTP/1.1\r\nContent-Length: many\r\n\r\n", 400),
    ("a bad %-escape in the query", b"GET /api/history?meter=%zz HTTP/1.1\r\n\r\n", 400),
    ("bytes that are not UTF-8", b"GET /\xff\xfe HTTP/1.1\r\n\r\n", 400),
    ("an unknown path", b"GET /etc/passwd HTTP/1.1\r\n\r\n", 404),
    ("a method the path does not take", b"DELETE /api/config HTTP/1.1\r\n\r\n", 405),
    ("an upload over its own, larger limit", b"POST /api/update HTTP/1.1\r\nContent-Type: application/octet-stream\r\n"
                                             b"Content-Length: 10000000\r\n\r\n" + b"\0" * 8000, 413),
    ("the update key (never served)", b"GET /update.key HTTP/1.1\r\n\r\n", 404),
    ("a body shorter than announced", b"POST /api/read HTTP/1.1\r\nContent-Type: application/json\r\n"
                                      b"Content-Length: 50\r\n\r\n{}", 400),
)


def _basic(password):
    return b"Basic " + base64.b64encode(b"any:" + password.encode())


def _raw(port, data, timeout=15.0):
    """Send bytes, end our side, read until the server closes; (status or None, seconds taken)."""
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    took = time.monotonic() - start
    if not out:
        return None, took
    return int(out.split(b" ", 2)[1]), took


def _still_serving(r):
    assert r.http.get("/api/status").status == 200
    assert r.rig.firmware.proc.poll() is None


def test_malformed_and_oversized_requests_get_a_4xx_and_the_server_keeps_serving(reader):
    r = reader()
    for what, data, want in BAD:
        status, took = _raw(r.port, data)
        assert status == want, (what, status)
        _still_serving(r)
    console = r.console()
    assert "MemoryError" not in console and "Task exception" not in console


def test_bad_json_and_wrong_content_type_are_refused_with_reasons(reader):
    r = reader()
    pw = SECRETS["web"]
    answer = r.http.request("POST", "/api/config", b"{not json", {"Content-Type": "application/json"}, pw)
    assert (answer.status, answer.json()["error"]) == (400, "the body is not valid JSON")
    answer = r.http.request("POST", "/api/config", b"[1, 2]", {"Content-Type": "application/json"}, pw)
    assert (answer.status, answer.json()["error"]) == (400, "the body must be a JSON object")
    # A form post (what a cross-site page can send without asking) is not JSON.
    answer = r.http.request("POST", "/api/config", b"mqtt.host=evil", {"Content-Type": "application/x-www-form-urlencoded"}, pw)
    assert answer.status == 415
    answer = r.http.post("/api/config", {"mqtt": {"port": 0}}, password=pw)
    assert answer.status == 400
    assert answer.json() == {"error": "invalid", "path": "mqtt.port", "message": "a whole number from 1 to 65535"}
    answer = r.http.post("/api/echo-test", {"meter": "no-such-meter"})
    assert answer.status == 404
    _still_serving(r)


def test_the_update_upload_refuses_with_reasons_and_reads_what_it_refuses(reader):
    """The route's own answers; staging is tested on a deployed reader (tests/deploy).
    Bodies of 200 KB, over the 4 KB other routes take: each refusal reaches the
    client as an answer, not as a connection reset from unread bytes."""
    r = reader()
    pw = SECRETS["web"]
    bundle = bytes(range(256)) * 800
    octets = {"Content-Type": "application/octet-stream"}
    answer = r.http.request("POST", "/api/update", bundle, octets)
    assert answer.status == 401 and "password" in answer.json()["error"]
    answer = r.http.request("POST", "/api/update", bundle, octets, password="not-the-password")
    assert answer.status == 401
    # A cross-site form can send text/plain or a multipart form without asking; not a bundle.
    answer = r.http.request("POST", "/api/update", bundle, {"Content-Type": "text/plain"}, pw)
    assert answer.status == 415 and "octet-stream" in answer.json()["error"]
    answer = r.http.request("POST", "/api/update", b"", octets, pw)
    assert (answer.status, answer.json()) == (400, {"ok": False, "message": "the request holds no bundle"})
    # This reader runs from the repo's tree, not from a deployed set: nothing to update.
    answer = r.http.request("POST", "/api/update", bundle, octets, pw)
    assert answer.status == 400 and answer.json()["ok"] is False
    assert "not installed with `metereye deploy`" in answer.json()["message"]
    # A client that stops sending half-way still gets the refusal, long before the upload's 180 s.
    with socket.create_connection(("127.0.0.1", r.port), timeout=30) as s:
        s.sendall(b"POST /api/update HTTP/1.1\r\nContent-Type: application/octet-stream\r\n"
                  b"Authorization: " + _basic(pw) + b"\r\nContent-Length: 100000\r\n\r\n" + bundle[:1000])
        answer = s.recv(4096)               # raises socket.timeout if the reader waits for the rest
    assert answer.startswith(b"HTTP/1.0 400"), answer[:60]
    # The other routes keep their 4 KB limit.
    answer = r.http.request("POST", "/api/config", b"{" + b" " * 6000 + b"}", {"Content-Type": "application/json"}, pw)
    assert answer.status == 413
    _still_serving(r)
    assert "Traceback" not in r.console()


def test_a_client_that_never_finishes_is_cut_off_and_others_are_served_meanwhile(reader):
    r = reader()
    slow = socket.create_connection(("127.0.0.1", r.port), timeout=20)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")          # and never the blank line
    start = time.monotonic()
    _still_serving(r)
    assert r.http.get("/api/readings").status == 200
    assert slow.recv(100) == b""                             # the server closed it
    took = time.monotonic() - start
    slow.close()
    assert 8 < took < 14, took                               # REQUEST_MS is 10 s
    _still_serving(r)


def test_more_connections_than_the_cap_get_503_until_one_ends(reader):
    r = reader()
    idle = []
    for _ in range(4):                                       # MAX_CONNECTIONS
        s = socket.create_connection(("127.0.0.1", r.port), timeout=15)
        s.sendall(b"GET /api/status HTTP/1.1\r\n")           # open, unfinished
        idle.append(s)
    time.sleep(0.5)
    status, _ = _raw(r.port, b"GET /api/status HTTP/1.1\r\n\r\n")
    assert status == 503
    for s in idle:
        s.close()
    time.sleep(0.5)
    _still_serving(r)


def test_answers_say_not_to_cache_and_the_page_loads_nothing_from_elsewhere(reader):
    r = reader()
    page = r.http.get("/")
    assert page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page.text
    status = r.http.get("/api/status")
    assert status.headers["Cache-Control"] == "no-store"
    assert json.loads(status.body)["reader"]["id"] == "test-reader"
