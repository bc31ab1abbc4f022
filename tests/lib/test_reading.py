"""A reading written out exactly: the store's JSON (lib/metereye/reading.py) and
InfluxDB's line protocol (lib/metereye/influx.py). Runs on CPython and on unix
MicroPython."""

import json

from metereye.influx import line
from metereye.reading import Reading, from_json

VALUES = [("volume", "0831.403", "m\u00b3"), ("flow", "-0420", "l/h"), ("volume_reverse", "0.000", "m\u00b3"),
          ("clock", "22:01:12", "hh:mm:ss"), ("info", "+5", None)]


def test_line_protocol_keeps_every_digit_and_escapes_what_it_must():
    r = Reading("multical21_75749993", 1700000000, VALUES, 9)
    text = line(r, "multical21", [("meter", r.meter_id), ("reader", "kitchen reader,1")])
    assert text == ('multical21,meter=multical21_75749993,reader=kitchen\\ reader\\,1 '
                    'volume=831.403,flow=-420,volume_reverse=0.000,clock="22:01:12",info=5 1700000000\n')
    odd = Reading("m_1", None, [("text", 'say "hi" \\o/', None)])
    assert line(odd, "m", []) == 'm text="say \\"hi\\" \\\\o/"\n'        # no time: the server's


def test_the_store_json_reads_back_exactly():
    r = Reading("multical21_75749993", None, VALUES, 3)
    text = r.to_json(numbers=False)
    back = from_json(json.loads(text))
    # MicroPython's dicts keep no order: the values come back as a set of them.
    assert sorted(back.values) == sorted(VALUES) and back.t is None and back.seq == 3
    assert json.loads(r.to_json())["values"]["volume_reverse"] == 0.0     # numbers: for MQTT
