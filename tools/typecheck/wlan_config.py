"""mypy plugin: network.WLAN.config takes only the keywords its stub names.

The stubs' setter ends in `**kwargs: Any`, for keys some ports add, so a
misspelt or unknown key would pass the check; the firmware raises ValueError
("unknown config param") for it at run time. With the catch-all dropped, a key
must be one the stubs declare: mac, ssid, channel, hidden, security, key,
hostname, reconnects, txpower, pm.
"""

from mypy.nodes import ARG_STAR2
from mypy.plugin import Plugin

CHECKED = "network.WLAN.config"


def _declared_keywords_only(ctx):
    sig = ctx.default_signature
    keep = [i for i, kind in enumerate(sig.arg_kinds) if kind != ARG_STAR2]
    return sig.copy_modified(arg_types=[sig.arg_types[i] for i in keep],
                             arg_kinds=[sig.arg_kinds[i] for i in keep],
                             arg_names=[sig.arg_names[i] for i in keep])


class WlanConfigKeywords(Plugin):
    def get_method_signature_hook(self, fullname):
        return _declared_keywords_only if fullname == CHECKED else None


def plugin(version):
    return WlanConfigKeywords
