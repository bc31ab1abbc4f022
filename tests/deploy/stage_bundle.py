"""Hand a bundle file to the deployed updater, as the web route does; run on the stand-in.

usage (cwd = the stand-in's flash folder, MICROPYPATH=.frozen:lib):
    micropython stage_bundle.py BUNDLE [PACE_MS]
prints the updater's answer as one JSON line. PACE_MS waits before each read,
like a slow upload, so that a test can cut the power half-way.
"""

import json
import os
import sys

import startup

startup.boot()          # the sets, chosen as at a boot: the updater stages beside the running one

import asyncio  # noqa: E402
import updater  # noqa: E402


class FileStream:
    """A file with microdot's `await stream.read(n)`, which may return less than n."""

    def __init__(self, f, pace_ms):
        self.f = f
        self.pace_ms = pace_ms

    async def read(self, n):
        if self.pace_ms:
            await asyncio.sleep_ms(self.pace_ms)
        return self.f.read(min(n, 700))


def main():
    path = sys.argv[1]
    pace_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with open(path, "rb") as f:
        result = asyncio.run(updater.receive_bundle(FileStream(f, pace_ms), os.stat(path)[6]))
    print("@@" + json.dumps(result))


main()
