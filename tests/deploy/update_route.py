"""The update upload as the reader's page will serve it, until firmware/web.py has
the route: POST /api/update behind HTTP Basic auth, handing the body's stream to
updater.receive_bundle. Runs on the stand-in beside the firmware.

usage (cwd = the stand-in's flash folder, MICROPYPATH=.frozen:lib):
    micropython update_route.py PORT PASSWORD
"""

import sys

import startup

startup.boot()

from binascii import a2b_base64  # noqa: E402

from microdot import Microdot, Request  # noqa: E402

import updater  # noqa: E402

# A bundle is ~120 KB. Bodies above max_body_length are not read into RAM:
# the route reads them from req.stream.
Request.max_content_length = 512 * 1024
PORT = int(sys.argv[1])
PASSWORD = sys.argv[2]
app = Microdot()


def _password_ok(req):
    auth = req.headers.get("Authorization", "")
    if not auth.startswith("Basic "):
        return False
    try:
        given = a2b_base64(auth[6:]).decode()
    except ValueError:
        return False
    return given.partition(":")[2] == PASSWORD


@app.post("/api/update")
async def upload(req):
    if not _password_ok(req):
        return {"ok": False, "message": "the page's password is needed"}, 401, {
            "WWW-Authenticate": 'Basic realm="metereye"'}
    result = await updater.receive_bundle(req.stream, req.content_length)
    return result, 200 if result["ok"] else 400


print("update route on port", PORT)
app.run(host="127.0.0.1", port=PORT)
