"""A local MQTT broker on loopback for the main job and the tests.

A real Mosquitto when it is installed (what users run beside Home Assistant),
otherwise the broker of the `amqtt` package from .venv. Either
runs as a child process, so a test can kill it, bring it back on the same port
(`restart`) or freeze it (`pause`: the port still accepts, nothing answers).

    python -m metereye_tools.broker [--port N] [--amqtt] [--tls]   # until Ctrl-C
"""

import atexit
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"


class BrokerError(Exception):
    """The broker did not start, or did not answer an MQTT CONNECT in time."""


def mosquitto_path():
    """The mosquitto binary, or None. Debian installs it in /usr/sbin, often off a user's PATH."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def amqtt_path():
    return os.path.join(os.path.dirname(sys.executable), "amqtt")


def pick_kind():
    return "mosquitto" if mosquitto_path() else "amqtt"


def free_port():
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def mqtt_answers(host, port, timeout_s=1.0):
    """True when an MQTT 3.1.1 CONNECT on host:port gets a CONNACK, accepting or
    refusing (a broker that wants a password refuses this anonymous probe).

    A port that accepts TCP is not enough: a starting (or paused) broker's
    listen backlog takes the connection and says nothing.
    """
    client_id = b"metereye-probe-%d" % os.getpid()
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"     # protocol name, level 4, clean session, keep-alive 10 s
    body = variable + struct.pack("!H", len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(bytes((0x10, len(body))) + body)
            answer = b""
            while len(answer) < 4:
                chunk = s.recv(4 - len(answer))
                if not chunk:
                    return False
                answer += chunk
            s.sendall(b"\xe0\x00")                   # DISCONNECT: no will, no error in the log
            return answer[:2] == b"\x20\x02"
    except OSError:
        return False


class Broker:
    """One broker process on loopback; start/stop/restart keep the same ports."""

    host = HOST
    START_TIMEOUT_S = 20.0      # amqtt imports pydantic & co. before it listens: ~1-3 s here

    def __init__(self, kind, port=0, tls=False, persistent=False):
        if kind not in ("mosquitto", "amqtt"):
            raise ValueError(kind)
        if tls and kind != "mosquitto":
            raise ValueError("TLS needs mosquitto")
        self.kind = kind
        # Persistent: sessions, their subscriptions and queued QoS 1 messages
        # survive a stop/start, as on a real installation (Mosquitto only).
        self.persistent = persistent and kind == "mosquitto"
        self.port = port or free_port()
        self.tls_port = (free_port() if tls else None)
        self.dir = tempfile.mkdtemp(prefix="metereye-broker-")
        self.cafile = None          # PEM of the self-signed certificate (its own CA)
        self.proc = None
        self._log = None
        if tls:
            self._make_certificate()
        self._config = self._write_config()
        atexit.register(self.stop)

    # -- set-up ---------------------------------------------------------------
    def _make_certificate(self):
        """A throw-away P-256 certificate for localhost and 127.0.0.1 (openssl)."""
        self.cafile = os.path.join(self.dir, "cert.pem")
        self.keyfile = os.path.join(self.dir, "key.pem")
        run = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", self.keyfile, "-out", self.cafile, "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            capture_output=True, text=True)
        if run.returncode != 0:
            raise BrokerError("openssl could not make a certificate: " + run.stderr.strip())
        # Mosquitto started as root drops to its own user; it must still read these.
        os.chmod(self.dir, 0o755)
        os.chmod(self.keyfile, 0o644)

    @property
    def ca_der(self):
        """The certificate in DER, what MicroPython's ssl takes as `cadata`."""
        with open(self.cafile) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def _write_config(self):
        if self.kind == "mosquitto":
            path = os.path.join(self.dir, "mosquitto.conf")
            lines = ["listener %d %s" % (self.port, HOST),
                     "allow_anonymous true",
                     "log_dest stdout"]
            if self.persistent:
                os.chmod(self.dir, 0o777)        # mosquitto drops root and writes its db here
                lines += ["persistence true", "persistence_location %s/" % self.dir]
            else:
                lines += ["persistence false"]   # a restart is a fresh broker: retained messages gone
            if self.tls_port:
                lines += ["listener %d %s" % (self.tls_port, HOST),
                          "certfile " + self.cafile,
                          "keyfile " + self.keyfile]
        else:
            path = os.path.join(self.dir, "amqtt.yaml")
            lines = ["listeners:",
                     "  default:",
                     "    type: tcp",
                     "    bind: %s:%d" % (HOST, self.port),
                     "plugins:",
                     "  amqtt.plugins.authentication.AnonymousAuthPlugin:",
                     "    allow_anonymous: true"]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    # -- life cycle -----------------------------------------------------------
    def start(self):
        """Start the process and return once it answers MQTT; BrokerError otherwise."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self.kind == "mosquitto":
            cmd = [mosquitto_path(), "-c", self._config]
        else:
            cmd = [amqtt_path(), "-c", self._config]
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while True:
            self._log = open(os.path.join(self.dir, "broker.log"), "ab")
            self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            while time.monotonic() < deadline and self.proc.poll() is None:
                if mqtt_answers(HOST, self.port, 0.5):
                    return self
                time.sleep(0.05)
            self._kill()
            # The port just freed may not be bindable for a moment: try again until the deadline.
            if time.monotonic() >= deadline:
                raise BrokerError("%s on port %d did not start:\n%s" % (self.kind, self.port, self.log()[-2000:]))
            time.sleep(0.2)

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)    # a paused broker cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self):
        """Take the broker away: connections drop, the port refuses."""
        self._kill()

    def restart(self):
        """Stop, then start again on the same port(s)."""
        self._kill()
        return self.start()

    def pause(self):
        """Freeze the broker (SIGSTOP): TCP still connects, MQTT never answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def close(self):
        """Stop and remove the temporary folder."""
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(os.path.join(self.dir, "broker.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        tls = " tls:%d" % self.tls_port if self.tls_port else ""
        return "<%s broker %s:%d%s>" % (self.kind, self.host, self.port, tls)


def start_broker(port=0, tls=False, kind=None, persistent=False):
    """A running broker on loopback: Mosquitto when installed, else amqtt (or `kind`)."""
    return Broker(kind or pick_kind(), port, tls, persistent).start()


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m metereye_tools.broker", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--amqtt", action="store_true", help="use amqtt even when mosquitto is installed")
    ap.add_argument("--tls", action="store_true", help="add a TLS listener with a self-signed certificate")
    args = ap.parse_args(argv)

    def interrupted(signum, frame):
        raise KeyboardInterrupt     # SIGTERM too: never leave the broker process behind

    signal.signal(signal.SIGTERM, interrupted)
    with start_broker(args.port, args.tls, "amqtt" if args.amqtt else None) as broker:
        print("mqtt://%s:%d (%s)" % (broker.host, broker.port, broker.kind), flush=True)
        if broker.tls_port:
            print("mqtts://%s:%d (CA %s)" % (broker.host, broker.tls_port, broker.cafile), flush=True)
        try:
            while broker.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
