"""IecSession driven by scripted meters on a modelled line: no I/O, time passed in by hand.

The line model: every transmission has a speed; when the session's line is set
to another speed, the bytes arrive as garbage (what a UART makes of a wrong
baud rate), so a session that forgets to switch, or switches when the meter
does not, reads nothing.
"""

from testvectors import vectors, wire

from iechelp import xor as _xor
from metereye import iec, iec_json
from metereye.actions import Done, Receive, Send, SetLine, Sleep, wire_ms
from metereye.meters import details, find
from metereye.meters.iec_profiles import Hash1Session, ultraheat_model


def _block(lines):
    """STX lines "!" CR LF ETX BCC, the BCC computed here."""
    body = ("".join(line + "\r\n" for line in lines) + "!\r\n\x03").encode()
    return b"\x02" + body + bytes((_xor(body),))


LINES = [
    "F.F(00000000)",
    "C.1.0(06123456)",
    "1-0:1.8.0*255(0012345.678*kWh)",
    "1-0:2.8.0*255(0000001.250*kWh)",
    "1-0:32.7.0(231.2*V)1-0:52.7.0(230.8*V)1-0:72.7.0(229.9*V)",
    "1-0:16.7.0(-0.512*kW)",
]
OBJECTS = [
    ("F.F", [("00000000", None)]),
    ("C.1.0", [("06123456", None)]),
    ("1-0:1.8.0*255", [("0012345.678", "kWh")]),
    ("1-0:2.8.0*255", [("0000001.250", "kWh")]),
    ("1-0:32.7.0", [("231.2", "V")]),
    ("1-0:52.7.0", [("230.8", "V")]),
    ("1-0:72.7.0", [("229.9", "V")]),
    ("1-0:16.7.0", [("-0.512", "kW")]),
]


def _garbage(piece):
    # A 7E1 character at the wrong speed: framing errors, 0x00 and 0xFF mostly.
    return bytes(0xFF if i % 3 else 0x00 for i in range(len(piece)))


class Meter:
    """A scripted mode C (or A) meter answering a sign-on with an ident and a readout."""

    def __init__(self, ident, block, follows=True, address="", noise=b"", reaction_ms=250,
                 framing="7E1", wake=b""):
        self.ident = ident.encode() + b"\r\n"
        self.block = block
        self.follows = follows
        self.request = wake + iec.request(address)
        self.noise = noise
        self.reaction_ms = reaction_ms
        self.framing = framing
        self.acks = []
        self.signed_on = False

    def hear(self, data, baud, framing):
        if baud != 300 or framing != self.framing:
            return []
        if data == self.request:
            self.signed_on = True
            mode = iec.parse_identification(self.ident[1:-2].decode()).mode
            if mode == "A":
                return [(self.noise + self.ident + self.block, 300)]
            return [(self.noise + self.ident, 300)]
        if self.signed_on and data[:1] == b"\x06":
            self.acks.append(data)
            speed = iec.mode_c_baud(chr(data[2])) if self.follows else 300
            self.signed_on = False
            return [(self.block, speed)]
        return []


class ModeBMeter(Meter):
    """Switches to its own speed right after the identification, no ACK."""

    def __init__(self, ident, block, speed, **kw):
        Meter.__init__(self, ident, block, **kw)
        self.speed = speed

    def hear(self, data, baud, framing):
        if baud == 300 and framing == self.framing and data == self.request:
            return [(self.ident, 300), (self.block, self.speed)]
        return []


def _drive(session, meter, echo=True, chunk=7, cut=None):
    """Run the session to Done; returns (result, actions, line speeds seen)."""
    now = 0
    speed = None
    framing = None
    queue = []
    actions = []
    action = session.start(now)
    while not isinstance(action, Done):
        actions.append(action)
        assert len(actions) < 5000, "session does not end"
        if isinstance(action, Send):
            speed, framing = action.baud, action.framing
            now += wire_ms(len(action.data), action.baud, action.framing)
            if echo:
                queue.append([action.data, action.baud, 0])
            for data, baud in meter.hear(action.data, action.baud, action.framing):
                if cut is not None:
                    data = data[:cut]
                queue.append([data, baud, meter.reaction_ms])
            action = session.sent(now)
        elif isinstance(action, SetLine):
            speed, framing = action.baud, action.framing
            action = session.line_set(now)
        elif isinstance(action, Sleep):
            assert action.until_ms >= now
            now = action.until_ms
            action = session.woke(now)
        elif isinstance(action, Receive):
            deadline = action.deadline_ms
            assert deadline > now, (action, now)
            got = None
            while queue and got is None:
                item = queue[0]
                if now + item[2] > deadline:
                    break
                now += item[2]
                item[2] = 0
                piece = item[0][:chunk]
                item[0] = item[0][chunk:]
                if not item[0]:
                    queue.pop(0)
                now += wire_ms(len(piece), item[1], meter.framing)
                assert now <= deadline + wire_ms(chunk, item[1], meter.framing), "deadline passed in a chunk"
                got = session.received(piece if item[1] == speed else _garbage(piece), now)
            if got is None:
                now = max(now, deadline)
                got = session.received(b"", now)
            action = got
        else:
            raise AssertionError(action)
    return action.result, actions, now


def _pairs(result):
    return [(ds.obis, ds.values) for ds in result.objects]


def _kinds(actions):
    out = []
    for a in actions:
        name = type(a).__name__
        if isinstance(a, Receive) and out and out[-1] == "Receive":
            continue                        # renewed deadlines fold into one
        out.append(name)
    return out


def test_mode_c_switches_to_the_offered_speed_after_the_ack():
    meter = Meter("/EMH5LZQJC0014E", _block(LINES))
    result, actions, _ = _drive(iec.IecSession(), meter)
    assert result.outcome == "ok" and result.complete
    assert _kinds(actions) == ["Send", "Receive", "Sleep", "Send", "SetLine", "Receive"]
    assert actions[0].data == b"/?!\r\n" and (actions[0].baud, actions[0].framing) == (300, "7E1")
    assert actions[3].data == b"\x06050\r\n" and actions[3].baud == 300   # ACK at the old speed
    assert (actions[4].baud, actions[4].framing) == (9600, "7E1")
    assert meter.acks == [b"\x06050\r\n"]
    assert result.mode == "C" and result.baud == 9600 and result.baud_char == "5"
    assert result.identification.text == "LZQJC0014E"
    assert result.bcc_ok is True and result.check == "bcc" and not result.fallback
    assert _pairs(result) == OBJECTS and result.datasets == 8
    assert result.echo_seen and result.attempts == 1
    assert result.bytes_sent == 5 + 6 and result.bytes_received > len(meter.block)
    assert 0 < result.ident_ms < result.readout_ms
    out = iec_json.result(result, "iec")
    assert out["protocol"] == "iec" and out["outcome"] == "ok" and out["error"] is None
    assert out["identification"]["mode"] == "C" and out["bcc_ok"] is True
    assert out["objects"][2] == {"obis": "1-0:1.8.0*255",
                                 "values": [{"value": "0012345.678", "unit": "kWh", "number": 12345.678}]}


def test_the_ack_waits_the_meters_reaction_time():
    for ident, wait in (("/EMH5X", 200), ("/EMh5X", 20)):
        result, actions, _ = _drive(iec.IecSession(), Meter(ident, _block(LINES)))
        sleep = actions[2]
        assert isinstance(sleep, Sleep) and result.outcome == "ok"
        ident_at = result.ident_ms + wire_ms(5, 300, "7E1")     # request sent at t=0
        # Counted from the LF: the 7-byte chunks end this line at its CR.
        lf_at = ident_at + wire_ms(1, 300, "7E1")
        assert sleep.until_ms - lf_at <= wait and sleep.until_ms - lf_at >= wait, (ident, sleep)


def test_an_extra_delay_before_the_switch_is_an_option():
    result, actions, _ = _drive(iec.IecSession(switch_delay_ms=400), Meter("/EMH5X", _block(LINES)))
    assert result.outcome == "ok"
    assert _kinds(actions) == ["Send", "Receive", "Sleep", "Send", "Sleep", "SetLine", "Receive"]


def test_the_offer_is_capped_by_our_head():
    meter = Meter("/Els6\\2EK280", _block(LINES))
    result, actions, _ = _drive(iec.IecSession(max_baud=4800), meter)
    assert meter.acks == [b"\x06040\r\n"] and result.baud == 4800 and result.outcome == "ok"
    assert result.identification.mode == "C or E" and result.mode == "C"


def test_a_meter_that_does_not_follow_its_offer_is_read_at_300():
    meter = Meter("/LGZ5ZMD310", _block(LINES), follows=False)
    result, actions, _ = _drive(iec.IecSession(), meter)
    assert result.outcome == "ok" and result.fallback
    assert meter.acks == [b"\x06050\r\n", b"\x06000\r\n"]
    assert result.attempts == 2 and result.baud == 300 and result.baud_char == "0"
    assert _pairs(result) == OBJECTS and result.bcc_ok is True
    speeds = [a.baud for a in actions if isinstance(a, SetLine)]
    assert speeds == [9600, 300]


def test_without_fallback_a_meter_that_does_not_follow_is_garbled():
    meter = Meter("/LGZ5ZMD310", _block(LINES), follows=False)
    result, _, _ = _drive(iec.IecSession(fallback=False), meter)
    assert result.outcome == "garbled" and result.attempts == 1 and not result.objects


def test_a_session_that_does_not_switch_reads_nothing():
    # The line model is not lenient: a meter at 9600 read at 300 is garbage.
    meter = Meter("/LGZ5ZMD310", _block(LINES))
    session = iec.IecSession()
    session.fallback = False
    original = session._switch

    def no_switch():
        action = original()
        return SetLine(300, action.framing)
    session._switch = no_switch
    result, _, _ = _drive(session, meter)
    assert result.outcome == "garbled" and not result.objects


def test_staying_at_300_proposes_zero():
    meter = Meter("/LGZ5ZMD310", _block(LINES))
    result, actions, _ = _drive(iec.IecSession(max_baud=300), meter)
    assert meter.acks == [b"\x06000\r\n"] and result.outcome == "ok"
    assert not [a for a in actions if isinstance(a, SetLine)]


def test_an_address_goes_into_the_request():
    meter = Meter("/EMH5X", _block(LINES), address="12345678")
    result, actions, _ = _drive(iec.IecSession(address="12345678"), meter)
    assert actions[0].data == b"/?12345678!\r\n" and result.outcome == "ok"


def test_noise_before_the_identification_and_no_echo():
    meter = Meter("/EMH5X", _block(LINES), noise=b"\x00\x7f\x7f\n\x00")
    result, _, _ = _drive(iec.IecSession(), meter, echo=False, chunk=3)
    assert result.outcome == "ok" and not result.echo_seen and _pairs(result) == OBJECTS


def test_ultraheat_mode_b_with_its_wake_up():
    wake = next(wire(v) for v in vectors("iec_vectors.json") if v["id"] == "ultraheat-wakeup-request")
    readout = next(wire(v) for v in vectors("iec_vectors.json") if v["id"] == "ultraheat-uh50-reconstructed")
    block = readout[readout.index(b"\x02"):]
    profile = details("ultraheat-uh50")
    assert find("ultraheat-uh50")[1] == "iec-b" and profile.protocol == "iec-b"
    meter = ModeBMeter("/LUGCUH50", block, 2400, framing="7E2", wake=profile.wake)
    result, actions, _ = _drive(profile.session(), meter)
    assert actions[0].data == wake and (actions[0].baud, actions[0].framing) == (300, "7E2")
    assert _kinds(actions) == ["Send", "Receive", "SetLine", "Receive"]
    assert (actions[2].baud, actions[2].framing) == (2400, "7E2")
    assert result.outcome == "ok" and result.mode == "B" and result.baud == 2400
    assert result.bcc_ok is True and result.datasets == 66
    kept = [ds.obis for ds in result.objects]
    assert kept[:3] == ["6.8", "6.26", "9.21"] and "6.8*01" in kept and "9.1" not in kept
    assert [ds.values for ds in result.objects if ds.obis == "9.4"] == [[("098.5", "C"), ("096.1", "C")]]


def test_ultraheat_t550_blank_lines_then_mode_b_data():
    v = next(v for v in vectors("iec_vectors.json") if v["id"] == "ultraheat-t550-vpathuis-stripped")
    data = wire(v)
    want = [(o["obis"], [(x["value"], x["unit"]) for x in o["values"]]) for o in v["objects"]]
    profile = details("ultraheat-t550")
    assert profile.protocol == "iec-b" and find("ultraheat-t550")[1] == "iec-b"

    def t550(block):
        # The two blank lines where the UH50 sends /LUGCUH50, at 300 Bd; its data at 2400.
        meter = ModeBMeter("/LUGCUH50", block, 2400, framing="7E2", wake=profile.wake)
        meter.ident = data[:2]
        return meter

    # The published bytes: data lines, "!", no STX, ETX or BCC.
    result, actions, _ = _drive(profile.session(keep_all=True), t550(data[2:]))
    assert _kinds(actions) == ["Send", "Receive", "SetLine", "Receive"]
    assert (actions[2].baud, actions[2].framing) == (2400, "7E2")
    assert result.outcome == "ok" and result.mode == "B" and result.baud == 2400
    assert result.identification is None and result.blank_identification
    assert result.check is None and result.bcc_ok is None and not result.errors
    assert _pairs(result) == want
    out = iec_json.result(result, "iec")
    assert out["identification"] is None and out["warnings"] == ["no_identification"]
    assert out["error"] is None and out["mode"] == "B"
    # Framed as the standard has it (STX, "!" CR LF, ETX, BCC): the BCC checks out too.
    body = data[2:data.rindex(b"!")] + b"!\r\n\x03"
    result, _, _ = _drive(profile.session(), t550(b"\x02" + body + bytes((_xor(body),))))
    assert result.outcome == "ok" and result.bcc_ok is True and result.check == "bcc"
    assert [ds.obis for ds in result.objects][:3] == ["6.8", "6.26", "9.21"]       # the profile's filter
    # detect's one look names it; a session that knows no speed for such a meter
    # reads on at 300 and hears garbage: garbled, never "asleep".
    result, actions, _ = _drive(iec.IecSession(wake=profile.wake, framing="7E2", ident_only=True), t550(data[2:]))
    assert result.outcome == "ok" and ultraheat_model(result) == "ultraheat-t550" and len(actions) == 2
    result, _, _ = _drive(iec.IecSession(wake=profile.wake, framing="7E2"), t550(data[2:]))
    assert result.outcome == "garbled" and [e.token for e in result.errors] == ["truncated"]
    assert ultraheat_model(result) == "ultraheat-t550" and not result.objects
    assert ultraheat_model(iec.IecResult()) is None                 # nothing seen, nothing named


def test_multical66c_mode_a_readout_at_300():
    v = next(v for v in vectors("iec_vectors.json") if v["id"] == "kamstrup-mc66-jonkerj-readout")
    data = wire(v)
    block = data[data.index(b"\x02"):]
    body = block[1:-1]
    good_block = block[:-1] + bytes((_xor(body),))
    profile = details("multical66c")
    assert profile.protocol == "iec-a" and not profile.legacy_hash1
    result, actions, _ = _drive(profile.session(), Meter("/KAM MC", good_block))
    assert _kinds(actions) == ["Send", "Receive"] and result.mode == "A"
    assert result.outcome == "ok" and result.bcc_ok is True
    assert _pairs(result) == [("0.0", [("00005077354", None)]), ("6.8", [("00433.65", "GJ")]),
                              ("6.26", [("03052.95", "m3")]), ("6.31", [("0109868", "h")])]
    # The published block's BCC does not verify: objects stay listed, outcome garbled.
    result, _, _ = _drive(profile.session(), Meter("/KAM MC", block))
    assert result.outcome == "garbled" and result.bcc_ok is False and len(result.objects) == 4
    assert [e.token for e in result.errors] == ["bcc"]


def test_the_deadline_grows_with_a_long_300_baud_readout():
    lines = ["1.8.%d(%012d*kWh)" % (i % 10, i) for i in range(120)]      # ~2.7 KB: ~90 s at 300 Bd
    block = _block(lines)
    result, actions, now = _drive(iec.IecSession(), Meter("/ITZ0EMH-ITZ", block))
    assert result.outcome == "ok" and result.datasets == 120
    assert now > 85000 and result.readout_ms > 85000
    receives = [a for a in actions if isinstance(a, Receive)]
    assert len(receives) > 10                           # renewed as data came in
    assert len(receives) < 200                          # but not once per chunk


def test_a_readout_that_stops_midway_is_garbled_with_its_complete_lines():
    meter = Meter("/EMH5X", _block(LINES))
    result, _, _ = _drive(iec.IecSession(), meter, cut=60)
    assert result.outcome == "garbled" and result.bcc_ok is None
    assert [e.token for e in result.errors][-1] == "truncated"
    assert _pairs(result) == OBJECTS[:2]


def test_only_our_echo_means_asleep():
    class Silent(Meter):
        def hear(self, data, baud, framing):
            return []
    result, actions, _ = _drive(iec.IecSession(), Silent("/X", b""))
    assert result.outcome == "asleep" and result.attempts == 2     # one retry, no more
    result, _, _ = _drive(iec.IecSession(), Silent("/X", b""), echo=False)
    assert result.outcome == "no_echo"


def test_sml_on_the_line_ends_the_session():
    class Sml(Meter):
        def hear(self, data, baud, framing):
            return [(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01\x76\x05", 300)]
    result, _, _ = _drive(iec.IecSession(), Sml("/X", b""))
    assert [e.token for e in result.errors] == ["not_iec"] and result.outcome == "garbled"


def test_profiles_share_the_one_namespace():
    for name, protocol in (("ultraheat-uh50", "iec-b"), ("ultraheat-t550", "iec-b"), ("multical66c", "iec-a"),
                           ("iec-electricity", "iec-c"), ("iec-push", "iec-d"), ("dsmr-p1", "iec-d"),
                           ("dsmr3-p1", "iec-d")):
        row = find(name)
        assert row is not None and row[1] == protocol, name
        profile = details(name)
        assert profile.protocol == protocol and profile.publish and profile.interval_s > 0
    assert details("ultraheat-uh50").interval_s == 86400           # battery: once a day
    assert details("iec-electricity").interval_s == 900             # mains: every 15 min
    p1_profile = details("dsmr-p1")
    assert (p1_profile.line_baud, p1_profile.framing) == (115200, "8N1")
    assert p1_profile.listener().keep == p1_profile.publish
    assert find("multical403")[1] == "kmp"


def test_the_hash1_variant_is_off_unless_asked_for():
    profile = details("multical66c")
    assert isinstance(profile.session(), iec.IecSession)
    profile.legacy_hash1 = True
    session = profile.session()
    assert isinstance(session, Hash1Session)
    assert session.start(0).data == b"/#1"
    assert (session.sent(10).baud, session.sent(10).framing) == (1200, "7E1")
    session.line_set(20)
    session.received(b"/#1\r\n0012345 0067890\r\n", 500)
    result = session.received(b"", 3500).result
    assert result.fields == ["0012345", "0067890"] and result.echo_seen and result.outcome == "ok"
