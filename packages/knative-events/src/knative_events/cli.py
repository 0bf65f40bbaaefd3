"""``knative-events <command>``: the runtime's command line (``send``, behind ``make send``).

Each command is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``,
as in ``knative-manifests``; the console script and ``python -m knative_events`` call
``main``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from . import send

PROG = "knative-events"
COMMANDS = {"send": send}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog=PROG, description="The knative-events runtime's tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns its exit status."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
