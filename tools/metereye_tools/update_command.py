"""`metereye update`: the firmware of this checkout to a reader over WiFi, as a
bundle signed with the reader's update key (saved by `metereye deploy`), or
written to a file to upload on the reader's page."""

import getpass
import os
import sys

from metereye_tools import bundle
from metereye_tools.cliutil import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, byte_count
from metereye_tools.update_keys import pick_key


def update_command(args):
    try:
        name, key = pick_key(args.reader, args.key_file)
        files = bundle.build_set(args.tree or bundle.ROOT)
        data = bundle.make_bundle(files, key, args.health_s)
    except (bundle.BundleError, OSError, ValueError) as e:
        raise CommandError(str(e))
    set_name = bundle.set_id(files)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(data)
        print("bundle for reader %r: set %s, %d files, %s, written to %s (upload it on the reader's page)"
              % (name, set_name, len(files), byte_count(len(data)), args.out))
        return EXIT_OK
    if not args.host:
        raise CommandError("give --host HOST[:PORT] (or --out FILE)", EXIT_USAGE)
    password = args.password or os.environ.get("METEREYE_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise CommandError("give the page's password (--password, METEREYE_PASSWORD)", EXIT_USAGE)
        password = getpass.getpass("the reader's page password: ")
    print("sending set %s (%d files, %s) to %s, signed with the key of reader %r"
          % (set_name, len(files), byte_count(len(data)), args.host, name))
    try:
        ok, message = bundle.push(args.host, password, data)
    except bundle.BundleError as e:
        raise CommandError(str(e))
    print(("accepted: %s" if ok else "refused: %s") % message)
    return EXIT_OK if ok else EXIT_FAILED
