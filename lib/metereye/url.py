"""The http:// and https:// URLs the reader posts readings to (firmware/http_push.py),
split once here for the validator and the firmware alike (RFC 3986 §3, the parts
a reader needs: no user info, no IPv6 literal)."""


def split_url(url):
    """(tls, host, port, path and query) of an http:// or https:// URL; ValueError if not one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError("an http:// or https:// URL")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise ValueError("no user or password in the URL: use the user, password or token settings")
    host, colon, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if not host or " " in url:
        raise ValueError("an http:// or https:// URL with a host")
    tls = scheme == "https"
    if colon:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("a port from 1 to 65535")
        number = int(port)
    else:
        number = 443 if tls else 80
    return tls, host, number, slash + path or "/"


def query_value(text):
    """`text` fit for a URL's query (RFC 3986 unreserved characters kept, the rest %XX)."""
    out = []
    for b in text.encode():
        ch = chr(b)
        if "a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "-._~":
            out.append(ch)
        else:
            out.append("%%%02X" % b)
    return "".join(out)
