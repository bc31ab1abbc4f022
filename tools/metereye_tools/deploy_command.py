"""`metereye deploy`: the firmware of this checkout onto a board by cable
(deploy_plan says what is written and in what order, deploy_board how the
board is reached), then, with --follow, its log until the first reading."""

import os
import sys

from metereye_tools.cliutil import EXIT_OK, EXIT_STOPPED, EXIT_USAGE, CommandError, is_device_path, missing_port
from metereye_tools.deploy_board import follow
from metereye_tools.deploy_plan import deploy


def deploy_command(args):
    if not args.port and not args.dry_run:
        raise CommandError("give --port PORT (or --dry-run); metereye ports lists this computer's serial ports",
                           EXIT_USAGE)
    if args.port and not args.dry_run and is_device_path(args.port) and not os.path.exists(args.port):
        raise missing_port(args.port)
    deploy(args.port, config=args.config, dry_run=args.dry_run, new_key=args.new_key,
           tree=args.tree, reset=not (args.no_reset or args.follow))
    if args.follow and not args.dry_run:
        sys.stdout.flush()
        try:
            return follow(args.port, args.follow_timeout)
        except KeyboardInterrupt:
            print("\nmetereye deploy: stopped following the board's log (Ctrl-C); the deploy itself is complete",
                  file=sys.stderr)
            return EXIT_STOPPED
    return EXIT_OK
