"""The ``macgen`` command line: parse, call the library, print.

Each subcommand lives in ``macgen/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function
``run(args) -> int``. Errors from bad input (``ValueError``, ``TypeError``,
``OSError``, :class:`macgen.commands.UsageError`) become one line on stderr and
exit code 2; a verification mismatch is exit code 1.
"""

from __future__ import annotations

import importlib
import sys

from . import __version__
from .commands import Parser, UsageError

#: Subcommands in the order ``--help`` lists them.
COMMANDS = ("plan", "generate", "verify", "area", "sweep", "flow")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="macgen",
        description="Size the accumulator of a low-precision floating-point MAC for a deep-learning "
                    "workload (Sakr et al., ICLR 2019), generate it in Amaranth HDL as Verilog, "
                    "verify it bit-exactly and measure its area.",
        epilog="Run 'macgen COMMAND --help' for each command's options.")
    parser.add_argument("--version", action="version", version=f"macgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:   # --help, --version, or a one-line usage error (Parser.error)
        return exc.code
    from .progress import set_quiet
    set_quiet(getattr(args, "quiet", False))
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, TypeError, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{_prog(args)}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_prog(args)}: interrupted", file=sys.stderr)
        return 130


def _prog(args) -> str:
    """``macgen generate mac``: the command as typed, as argparse's own errors name it."""
    return " ".join(["macgen", args.command] + ([args.kind] if getattr(args, "kind", None) else []))
