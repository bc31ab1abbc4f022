"""`metereye config`: flags and a JSON file in, a validated configuration file out,
secrets never printed."""

import json
import os
import stat

from deployhelp import metereye


def test_flags_make_a_valid_config_and_no_secret_is_printed(tmp_path):
    out_path = tmp_path / "reader.json"
    status, out, err = metereye(
        "config", "--no-input", "-o", str(out_path), "--reader-id", "kitchen",
        "--wifi-ssid", "home", "--wifi-password", "wifi-secret-123", "--mqtt-host", "192.168.1.2",
        "--mqtt-user", "reader", "--mqtt-password", "mqtt-secret-456", "--web-password", "page-secret-789",
        "--meter", "multical21:tx=17,rx=16,wake=25")
    assert status == 0, err
    for secret in ("wifi-secret-123", "mqtt-secret-456", "page-secret-789"):
        assert secret not in out + err
    assert '"(set)"' in out
    cfg = json.loads(out_path.read_text())
    assert cfg["wifi"] == {"ssid": "home", "password": "wifi-secret-123"}
    assert cfg["meters"] == [{"model": "multical21", "tx": 17, "rx": 16, "wake": {"pin": 25}}]
    assert stat.S_IMODE(os.stat(out_path).st_mode) == 0o600
    # What config writes, deploy accepts (the same validator).
    status, out, err = metereye("deploy", "--dry-run", "--config", str(out_path))
    assert status == 0 and "is valid" in out, out + err


def test_a_bad_value_is_named_and_nothing_is_written(tmp_path):
    source = tmp_path / "from.json"
    source.write_text(json.dumps({"mqtt": {"host": "broker", "port": 70000}}))
    out_path = tmp_path / "reader.json"
    status, out, err = metereye("config", "--no-input", "--from", str(source), "-o", str(out_path),
                                "--wifi-password", "sh0rt!")
    assert status == 2
    assert "wifi.password" in err and "nothing written" in err and "sh0rt!" not in out + err
    assert not out_path.exists()
    source.write_text(json.dumps({"mqtt": {"host": "broker", "port": 70000}}))
    status, out, err = metereye("config", "--no-input", "--from", str(source), "-o", str(out_path))
    assert status == 2 and "mqtt.port" in err and not out_path.exists()


def test_a_mistyped_meter_key_is_named_not_dropped(tmp_path):
    out_path = tmp_path / "reader.json"
    status, out, err = metereye("config", "--no-input", "-o", str(out_path), "--meter", "multical21:txx=17")
    assert status == 2 and not out_path.exists()
    assert err.startswith("metereye config: --meter multical21:txx=17: unknown key 'txx' "
                          "(a meter takes port, uart, tx,")
    status, _, err = metereye("config", "--no-input", "-o", str(out_path), "--meter", "multical21:tx17")
    assert status == 2 and "unknown key 'tx17'" in err


def test_a_config_that_reads_nothing_is_refused(tmp_path):
    out_path = tmp_path / "reader.json"
    status, out, err = metereye("config", "--no-input", "-o", str(out_path))
    assert status == 2 and not out_path.exists() and out == ""
    assert err.startswith("metereye config: meters: no meter, so the reader would read nothing")
    assert "nothing written" in err


def test_the_keys_config_takes_are_the_keys_the_validator_reads():
    """METER_KEYS and validate_meter are one idea in two places: they must agree."""
    import ast
    import inspect

    from metereye import config
    tree = ast.parse(inspect.getsource(config.validate_meter))
    read = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get" \
                and getattr(node.func.value, "id", None) == "m":
            read.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "m":
            read.add(node.slice.value)
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In) \
                and getattr(node.comparators[0], "id", None) == "m":
            read.add(node.left.value)
    assert read == set(config.METER_KEYS)
