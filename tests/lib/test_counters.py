"""The floor under counters (lib/metereye/counters.py): a total_increasing value
is never published lower, unless the meter was replaced.

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py).
"""

import json

from test_ha import MC21, classes, mc21_reading

from metereye import ha
from metereye.counters import CounterFloor
from metereye.reading import Reading


def test_counter_floor_refuses_a_counter_going_down():
    g = CounterFloor()
    assert g.accept("m_1", "volume", "831.403")
    assert g.accept("m_1", "volume", "831.403")     # the same again: fine
    assert g.accept("m_1", "volume", "831.41")      # more, fewer decimals
    assert not g.accept("m_1", "volume", "831.409")
    assert not g.accept("m_1", "volume", "831.4")
    assert not g.accept("m_1", "volume", "83")
    assert g.accept("m_1", "volume", "832")
    assert g.accept("m_2", "volume", "1.5")         # other meters keep their own


def test_counter_floor_never_lets_a_drop_to_zero_empty_or_garbage_through():
    g = CounterFloor()
    for bad in ("", "-1.5", "NaN", "nan", "abc", "1e3"):
        assert not g.accept("m_1", "volume", bad), bad
    # A true 0 from a checked frame (a reverse volume that never moved) is a value;
    # a drop to 0 after a higher value is what breaks the Energy dashboard.
    assert g.accept("m_1", "volume_reverse", "0.000") and g.accept("m_1", "volume_reverse", "0.000")
    assert g.accept("m_1", "volume", "0.001")
    assert not g.accept("m_1", "volume", "0")


def test_counter_floor_lets_a_replaced_meter_start_lower():
    g = CounterFloor()
    assert g.accept("m_1", "volume", "831.403") and g.accept("m_1", "heat_energy", "55.648")
    assert not g.see_serial("m_1", 75749993)
    assert not g.see_serial("m_1", "75749993")
    assert not g.accept("m_1", "volume", "2.5")
    assert g.see_serial("m_1", 11112222)            # a new serial: counters forgotten
    assert g.accept("m_1", "volume", "2.5") and g.accept("m_1", "heat_energy", "0.1")
    g.accept("m_2", "volume", "9")
    g.meter_changed("m_1")
    assert g.accept("m_1", "volume", "1")
    assert not g.accept("m_2", "volume", "8")       # only m_1 was forgotten


def test_counter_floor_state_survives_a_reboot():
    g = CounterFloor()
    g.accept("multical21_75749993", "volume", "831.403")
    g.see_serial("multical21_75749993", "75749993")
    text = g.to_json()
    json.loads(text)
    again = CounterFloor.from_json(text)
    assert not again.accept("multical21_75749993", "volume", "831.402")
    assert again.accept("multical21_75749993", "volume", "831.404")
    assert again.see_serial("multical21_75749993", "1")
    assert CounterFloor.from_json("{}").accept("m_1", "volume", "1")


def test_counter_floor_checks_only_counters_of_a_reading_in_ha_units():
    g = CounterFloor()
    assert list(g.refused(mc21_reading(), classes)) == []       # 0.000 m³ reverse volume is real
    lower = Reading(MC21["meter_id"], 1, [("volume", "831.402", "m\u00b3"), ("flow", "0", "l/h"),
                                          ("temp_water", "2", "\u00b0C"), ("hour_counter", "54889", "number")])
    refused = g.refused(lower, classes)
    assert list(refused) == ["volume"]
    text = ha.state_payload(lower, classes, skip=refused)
    assert '"volume"' not in text and '"flow":0.000' in text and '"hour_counter":54889' in text
    # x10: 84 tens of m³ is 840 m³, above 831.403
    assert g.refused(Reading(MC21["meter_id"], 1, [("volume", "84", "m\u00b3 x10")]), classes) == ()
    assert list(g.refused(Reading(MC21["meter_id"], 1, [("volume", "839.999", "m\u00b3")]), classes)) == ["volume"]
