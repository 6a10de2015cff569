"""``vallum``: the command line. Each command module adds its own sub-commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vallum.cli import audit_cmd, eval_cmd, gateway_commands, incidents_cmd, keys
from vallum.errors import VallumError

__all__ = ["main"]

# One line per command module; each has register(subparsers) and sets ``func`` on its parsers.
_COMMAND_MODULES = (gateway_commands, eval_cmd, keys, audit_cmd, incidents_cmd)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vallum", description="Security gateway for AI model APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except VallumError as error:
        print(f"vallum: {error.public_message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
