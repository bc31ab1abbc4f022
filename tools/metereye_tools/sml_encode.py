"""A small SML encoder: what the simulator sends and the tests build telegrams with.

The decoder in lib/metereye/sml.py keeps only what a reading needs; this side
keeps a telegram's whole TLV tree, so a real frame can be parsed, given new
values and sent again with every CRC right (docs/sml.md §2-§4). Plain Python
that also runs under unix MicroPython (tests/lib/test_sml.py imports it).

A node is a list: ["o", bytes] octet string, ["u", width, int] unsigned,
["i", width, int] signed, ["b", bool], ["l", [nodes]] list, ["absent"] (01).
"""

from metereye.crc import crc16_kermit, crc16_x25

ESC4 = b"\x1b\x1b\x1b\x1b"
START = ESC4 + b"\x01\x01\x01\x01"

_TYPES = {0x00: "o", 0x40: "b", 0x50: "i", 0x60: "u", 0x70: "l"}
_CODES = {"o": 0x00, "b": 0x40, "i": 0x50, "u": 0x60, "l": 0x70}


# --- writing ----------------------------------------------------------------

def tl(kind, size):
    """The TL field of a `kind` element with `size` data bytes (or list elements)."""
    code = _CODES[kind]
    if kind == "l":
        total = size
        nibbles = 1
        while total >> (4 * nibbles):
            nibbles += 1
    else:
        # A scalar's length counts its own TL bytes: grow until it fits.
        nibbles = 1
        while (size + nibbles) >> (4 * nibbles):
            nibbles += 1
        total = size + nibbles
    out = bytearray()
    for k in range(nibbles - 1, -1, -1):
        out.append(((total >> (4 * k)) & 0x0F) | (0x80 if k else 0))
    out[0] |= code
    return bytes(out)


def width_of(value, signed):
    """The fewest bytes (1, 2, 3, 4, 5, 6, 7 or 8) that hold `value`."""
    for w in range(1, 9):
        if signed and -(1 << (8 * w - 1)) <= value < (1 << (8 * w - 1)):
            return w
        if not signed and 0 <= value < (1 << (8 * w)):
            return w
    raise ValueError(value)


def write(node):
    """The bytes of one node."""
    kind = node[0]
    if kind == "absent":
        return b"\x01"
    if kind == "o":
        return tl("o", len(node[1])) + bytes(node[1])
    if kind == "b":
        return tl("b", 1) + (b"\x01" if node[1] else b"\x00")
    if kind == "u" or kind == "i":
        width, value = node[1], node[2]
        if width < width_of(value, kind == "i"):
            width = width_of(value, kind == "i")
        if value < 0:
            value += 1 << (8 * width)
        return tl(kind, width) + bytes((value >> (8 * k)) & 0xFF for k in range(width - 1, -1, -1))
    if kind == "l":
        out = bytearray(tl("l", len(node[1])))
        for item in node[1]:
            out.extend(write(item))
        return bytes(out)
    raise ValueError(kind)


def message(body_tag, body, transaction_id=b"\x00", crc="x25"):
    """One SML message: a list of 6 whose CRC covers it up to the CRC field."""
    return write_message(["l", [["o", transaction_id], ["u", 1, 0], ["u", 1, 0],
                                ["l", [["u", 2, body_tag], body]], ["u", 2, 0]]], crc)


def write_message(node, crc="x25"):
    """A message node's bytes with its CRC (5th element) computed anew; the CRC
    keeps the width the node gives it when the value fits (MT175: 63 00 54)."""
    items = node[1]
    head = bytearray(tl("l", 6))
    for item in items[:4]:
        head.extend(write(item))
    if crc == "kermit":
        value = crc16_kermit(head)
    else:
        x = crc16_x25(head)
        value = ((x & 0xFF) << 8) | (x >> 8)    # X-25 low byte first
    width = items[4][1] if items[4][0] == "u" else 2
    head.extend(write(["u", width, value]))
    head.append(0)
    return bytes(head)


def transport(payload, crc="x25", pad=None):
    """Start, the payload with 1B1B1B1B doubled on the grid, padding, end, CRC.
    `pad` zeros (default: up to the grid) before the end mark."""
    out = bytearray(START)
    i = 0
    while i < len(payload):
        block = payload[i:i + 4]
        out.extend(block)
        if block == ESC4:
            out.extend(ESC4)
        i += 4
    if pad is None:
        pad = (4 - len(payload) % 4) % 4
    out.extend(b"\x00" * pad)
    out.extend(ESC4 + b"\x1a" + bytes((pad,)))
    value = crc16_kermit(out) if crc == "kermit" else crc16_x25(out)
    out.append(value & 0xFF)
    out.append(value >> 8)
    return bytes(out)


def obis_bytes(text):
    """b"\\x01\\x00\\x01\\x08\\x00\\xff" for "1-0:1.8.0*255"."""
    a, rest = text.split("-", 1)
    b, rest = rest.split(":", 1)
    cde, f = rest.split("*", 1)
    c, d, e = cde.split(".")
    return bytes(int(x) for x in (a, b, c, d, e, f))


def list_entry(obis, value, unit=None, scaler=None, status=None, signed=None):
    """A valList entry node: value an int, bytes or a bool."""
    if isinstance(value, bool):
        v = ["b", value]
    elif isinstance(value, int):
        s = value < 0 if signed is None else signed
        v = ["i" if s else "u", width_of(value, s), value]
    else:
        v = ["o", bytes(value)]
    return ["l", [["o", obis_bytes(obis)],
                  ["u", width_of(status, False), status] if status is not None else ["absent"],
                  ["absent"],
                  ["u", 1, unit] if unit is not None else ["absent"],
                  ["i", 1, scaler] if scaler is not None else ["absent"],
                  v, ["absent"]]]


def telegram(server_id, entries, transaction=1, crc="x25"):
    """A whole push transmission: open, a GetList response of `entries` (list
    entry nodes), close; `transaction` numbers the three messages."""
    tid = bytes((transaction >> 24 & 0xFF, transaction >> 16 & 0xFF, transaction >> 8 & 0xFF,
                 transaction & 0xFF))
    opened = ["l", [["absent"], ["absent"], ["o", tid], ["o", server_id], ["absent"], ["absent"]]]
    got = ["l", [["absent"], ["o", server_id], ["o", b"\x01\x00\x62\x0a\xff\xff"], ["absent"],
                 ["l", entries], ["absent"], ["absent"]]]
    closed = ["l", [["absent"]]]
    payload = (message(0x0101, opened, tid + b"\x00", crc) + message(0x0701, got, tid + b"\x01", crc)
               + message(0x0201, closed, tid + b"\x02", crc))
    return transport(payload, crc)


# --- reading (the whole tree, for re-sending a real frame) ------------------

def _read(buf, i):
    b = buf[i]
    kind = _TYPES.get(b & 0x70)
    size = b & 0x0F
    k = i + 1
    while b & 0x80:
        b = buf[k]
        size = (size << 4) | (b & 0x0F)
        k += 1
    if kind is None:
        raise ValueError("TL type at %d" % i)
    if kind == "l":
        items = []
        for _ in range(size):
            node, k = _read(buf, k)
            items.append(node)
        return ["l", items], k
    size -= k - i
    if kind == "o":
        if size == 0:
            return ["absent"], k
        return ["o", bytes(buf[k:k + size])], k + size
    if kind == "b":
        return ["b", buf[k] != 0], k + size
    value = 0
    for j in range(k, k + size):
        value = (value << 8) | buf[j]
    if kind == "i" and buf[k] & 0x80:
        value -= 1 << (8 * size)
    return [kind, size, value], k + size


def payload_of(frame):
    """The messages of a transmission, escapes undone (its CRC is not checked)."""
    body = frame[8:]
    end = len(body) - 8
    out = bytearray()
    i = 0
    while i < end:
        block = body[i:i + 4]
        if block == ESC4:
            if body[i + 4:i + 8] == ESC4:
                out.extend(ESC4)
                i += 8
                continue
            break
        out.extend(block)
        i += 4
    return bytes(out[:len(out) - body[-3]] if body[-3] else out)


def messages(frame):
    """The message nodes of a transmission (lists of 6, end marks left out)."""
    data = payload_of(frame)
    out = []
    i = 0
    while i < len(data):
        if data[i] == 0:
            i += 1
            continue
        node, i = _read(data, i)
        i += 1                              # end of message (00)
        out.append(node)
    return out


def rebuild(msgs, crc="x25", pad=None):
    """A transmission of message nodes (values changed or not), every CRC computed anew."""
    payload = bytearray()
    for node in msgs:
        payload.extend(write_message(node, crc))
    return transport(bytes(payload), crc, pad)


def body(node):
    """(tag, body node) of a message node."""
    choice = node[1][3][1]
    return choice[0][2], choice[1]


def val_list(msgs):
    """The valList entry nodes of the GetList response (to change values in place)."""
    for node in msgs:
        tag, b = body(node)
        if tag == 0x0701:
            return b[1][4][1]
    return []


def entry_obis(node):
    o = node[1][0][1]
    return "%d-%d:%d.%d.%d*%d" % (o[0], o[1], o[2], o[3], o[4], o[5])
