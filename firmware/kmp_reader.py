"""Kamstrup KMP meters on the reader: one session per scheduled read.

A protocol's device module (lib/metereye/protocols.py names it) has the same
small interface as iec_reader.py: read() for one session, describe() for the
page's shape of a value. reader.py imports it only where such a meter is
configured.
"""

import link
from metereye import kmp
from metereye.meters.kamstrup import decode_info, register_info, register_key

_INFO = 99          # the info register: flags such as leak and burst


def register_ids(reader):
    """The ids this meter is asked for: its model's, then the configured extra ones."""
    ids = list(reader.model.register_ids)
    for rid in reader.spec.get("extra_registers", ()):
        if rid not in ids:
            ids.append(rid)
    return ids


async def read(reader, uart, keep):
    """One scheduled read: (outcome, [(key, value, unit)], serial). `keep` sees the raw bytes."""
    model = reader.model
    ids = register_ids(reader)
    session = kmp.KmpSession(ids, want_serial=model.serial_register is None)
    result = await link.run_session(uart, session, keep)
    if result.outcome != "ok":
        return result.outcome, None, None
    serial = result.serial
    if serial is None and model.serial_register in result.registers:
        serial = result.registers[model.serial_register].raw
    values = []
    for rid in ids:
        reg = result.registers.get(rid)
        if reg is None:
            continue
        display = reg.display
        values.append((register_info(rid)[1], display if display is not None else reg.value, reg.unit))
    if _INFO in result.registers:
        reader.info_flags = ",".join(decode_info(result.registers[_INFO].raw, model.info_flags))
    return "ok", values, serial


def describe(reader, key):
    """What names a value like `metereye decode kmp --json`'s register: {"id": register id}."""
    ids = reader.memo
    if ids is None:
        ids = reader.memo = {register_key(rid): rid for rid in register_ids(reader)}
    return {"id": ids.get(key)}
