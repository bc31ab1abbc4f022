"""The JSON answers as web.py streams them, on the unix MicroPython binary
(where it runs): the parts join to the same JSON, and no part is a whole
meter with its readings (in a fragmented heap that one large string is the
allocation that fails; tools/bench/web_heap.py measures it)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

# /api/readings of a Multical 21 as the reader answers it (its eleven values, each
# with what Home Assistant gets beside the meter's own).
SCRIPT = """
import json, web
values = [("volume", "831.449", "m\\u00b3", "831.449", "m\\u00b3", 0), ("flow", "420", "l/h", "0.420", "m\\u00b3/h", -3),
          ("volume_reverse", "0.000", "m\\u00b3", "0.000", "m\\u00b3", 0), ("temp_water", "20", "\\u00b0C", "20", "\\u00b0C", 0),
          ("temp_ambient", "21", "\\u00b0C", "21", "\\u00b0C", 0), ("info", "0", "number", "0", None, 0),
          ("hour_counter", "54888", "number", "54888", None, 0), ("serial_number", "75749993", "number", "75749993", None, 0),
          ("clock", "07:06:34", "hh:mm:ss", "07:06:34", None, 0), ("date", "22:11:25", "yy:mm:dd", "22:11:25", None, 0),
          ("battery_days_left", "5152", "days", "5152", "d", 0)]
readings = [{"id": 68 + i, "name": n, "value": v, "unit": u, "ha_value": hv, "ha_unit": hu, "ha_shift": s}
            for i, (n, v, u, hv, hu, s) in enumerate(values)]
meter = {"meter": "multical21_75749993", "model": "multical21", "manufacturer": "Kamstrup",
         "description": "Kamstrup Multical 21 water meter", "serial": 75749993, "protocol": "kmp",
         "state": "ok", "t": 1796682255, "age_s": 0, "readings": readings}
answer = {"reader": "test-reader", "time": 1796682255, "meters": [meter, dict(meter, readings=[])]}
parts = list(web._parts(answer))
print(json.dumps([len(json.dumps(meter)), max(len(p) for p in parts), "".join(parts), json.dumps(answer)]))
"""


def test_a_meters_readings_are_streamed_a_value_at_a_time(tmp_path):
    env = dict(os.environ, MICROPYPATH=":".join([".frozen", os.path.join(ROOT, "build", "deps"),
                                                  os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")]))
    run = subprocess.run([MICROPYTHON, "-c", SCRIPT], cwd=str(tmp_path), env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    whole_meter, largest_part, streamed, dumped = json.loads(run.stdout)
    assert json.loads(streamed) == json.loads(dumped)
    assert whole_meter > 1500
    # The largest part is one value or a meter's few plain fields, never the meter whole.
    assert largest_part < 300, largest_part
