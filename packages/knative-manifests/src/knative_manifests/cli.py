"""`knative-manifests <command>`: the Knative manifest tooling of a service repository.

Each command is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``,
listed in ``COMMANDS``; adding a command is one import and one entry. The console script
and ``python -m knative_manifests`` both call ``main``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from . import constants as c
from . import contracts, image, promote, traffic, validate
from .versions import VERSIONS

PROG = "knative-manifests"


class Command(Protocol):
    """What a command module provides."""

    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


COMMANDS: dict[str, Command] = {
    "validate": validate,
    "traffic": traffic,
    "image": image,
    "promote": promote,
    "contracts": contracts,
}


def build_parser(commands: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    """The argument parser with one sub-command per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            f"Validate and edit a service's Knative ({', '.join(VERSIONS)}), Istio "
            f"{c.ISTIO_VERSION} and Argo CD {c.ARGOCD_VERSION} manifests."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in (commands or COMMANDS).items():
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments) and run the chosen command.

    Returns the command's exit status; argparse itself exits with 2 on a usage error.
    """
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
