"""The hardware seam: the only module that asks which board it runs on (docs/style.md R5)."""

import sys

if sys.platform == "esp32":
    from hw_esp32 import *  # noqa: F401,F403
else:  # the unix port: ptys or TCP stand in for the UART, files for pins
    from hw_unix import *  # noqa: F401,F403
