"""`metereye detect --port PORT`: find what the meter on the head speaks, and
print the exact `read` command for it (docs/decisions.md §17).

It runs the probes every protocol family offers (metereye_tools.detection),
cheapest for the meter first, and stops at the first meter found. When
nothing answers, the echo test (lib/metereye/echo.py) tells a silent meter
from a head whose light never comes back.

Exit status: 0 a meter was found; 1 nothing came back at all, or garbled
echoes (the head); 3 our light came back but no meter answered.
"""

import sys
import time

from metereye.meters import find
from metereye_tools import cliutil, detection
from metereye_tools.cliutil import EXIT_FAILED, EXIT_OK, EXIT_SILENT, EXIT_STOPPED
from metereye_tools.line import run_session

ADVICE_ECHO = ("No meter answered, but our own light came back, so the LED, the receiver and the wiring "
               "work. Check the magnet (is one needed? turn it 180°), its place, and the head's position "
               "and orientation on the meter's eye; then run detect again.")
ADVICE_DARK = ("Nothing came back at all, not even our own light: check the wiring (TX/RX swapped?), the "
               "head's supply, the LED (a phone camera shows it flash) and the receiver's sensitivity; a "
               "meter with a wired port (P1) needs its cable and data-request line instead.")


def model_description(name):
    row = find(name)
    return row[3] if row else name


def _echo(port):
    from metereye.echo import EchoTest
    line = cliutil.open_line(port, 1200, "8N2")
    try:
        return run_session(line, EchoTest(1200, "8N2"))
    finally:
        line.close()


def detect(args):
    """Try each probe once; print what answered and how to read it; the exit status."""
    port = args.port
    tried = []
    found = None
    probes = detection.all_probes(args.listen_s)
    progress = cliutil.Progress()
    try:
        for n, probe in enumerate(probes):
            if n:
                time.sleep(detection.PROBE_GAP_S)
            progress.show("detect: %d of %d: %s…" % (n + 1, len(probes), probe.label))
            found = probe.run(port, tried)
            if found is not None:
                break
        if found is None:
            progress.show("detect: no meter answered; echo test at 1200 Bd 8N2…")
            echo = _echo(port)
    except KeyboardInterrupt:
        progress.clear()
        done = "; ".join("%s: %s" % (t["probe"], t["outcome"]) for t in tried) or "nothing yet"
        print("metereye detect: stopped by Ctrl-C before a meter was found (tried %s)" % done, file=sys.stderr)
        return EXIT_STOPPED
    finally:
        progress.clear()

    out = {"port": port, "found": found is not None, "tried": tried}
    if found is not None:
        command = detection.read_command(port, found)
        out.update({"protocol": found.protocol, "baud": found.baud, "framing": found.framing,
                    "identity": found.identity, "meter": found.meter, "command": command})
        if found.note:
            out["note"] = found.note
        if args.json:
            cliutil.print_json(out)
            return EXIT_OK
        print("found: " + found.summary)
        if found.meter:
            print("model: %s (%s)" % (found.meter, model_description(found.meter)))
        if found.note:
            print("note: " + found.note)
        print("read it with:")
        print(command)
        return EXIT_OK

    from metereye.echo import ECHO_OK, GARBLED
    tried.append({"probe": "echo test at 1200 Bd 8N2", "outcome": echo.outcome})
    if echo.outcome == ECHO_OK:
        advice, status = ADVICE_ECHO, EXIT_SILENT
    elif echo.outcome == GARBLED:
        advice, status = echo.advice, EXIT_FAILED
    else:
        advice, status = ADVICE_DARK, EXIT_FAILED
    out.update({"echo": echo.outcome, "advice": advice})
    if args.json:
        cliutil.print_json(out)
    else:
        for t in tried:
            print("tried: %s: %s" % (t["probe"], t["outcome"]))
        print("no meter found. " + advice)
    return status
