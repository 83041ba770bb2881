"""Subcommands of ``macgen`` and the option groups they share.

Every command that builds hardware takes the same MAC options, named after
:class:`macgen.config.MACConfig`'s fields; :func:`add_mac_options` adds them and
:func:`mac_config_from_args` turns them into a config.
"""

from __future__ import annotations

import argparse

from ..config import MAX_ACC_STAGES, MACConfig
from ..formats import PRESETS, ROUNDING_MODES


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


FORMAT_HELP = f"a preset ({', '.join(PRESETS)}) or text like e6m9, e2m3fn (finite), e4m3fnan (nan-only), e5m10_ftz; see docs/arithmetic.md"


def add_mac_options(parser: argparse.ArgumentParser, *, acc_required: bool = False,
                    acc_help: str | None = None) -> None:
    """Add the MAC configuration options (``--a-format`` ... ``--acc-stages``).

    ``acc_help`` replaces the accumulator's help text (e.g. where the command needs it
    but reports its absence itself, through :func:`mac_config_from_args`).
    """
    group = parser.add_argument_group("MAC configuration", f"formats: {FORMAT_HELP}")
    group.add_argument("--a-format", default="e5m2", metavar="FMT", help="multiplicand format (default: e5m2)")
    group.add_argument("--b-format", default="e5m2", metavar="FMT", help="multiplier format (default: e5m2)")
    group.add_argument("--acc-format", default=None, required=acc_required, metavar="FMT",
                       help=acc_help or ("accumulator format" + ("" if acc_required else
                                                                 " (default: chosen by the precision model)")))
    group.add_argument("--rounding", choices=ROUNDING_MODES, default="rne", help="rounding mode (default: rne)")
    group.add_argument("--product-man-bits", type=int, default=None, metavar="P",
                       help="round the product to P fraction bits (default: exact product)")
    group.add_argument("--chunk-size", type=int, default=None, metavar="L",
                       help="chunk length for chunk-based accumulation (0: none)")
    group.add_argument("--outer-format", default=None, metavar="FMT",
                       help="inter-chunk accumulator format (default: the accumulator's)")
    group.add_argument("--out-format", default=None, metavar="FMT",
                       help="result format (default: the outer accumulator's)")
    group.add_argument("--mul-stages", type=int, default=0, metavar="S",
                       help="pipeline registers in the multiplier path, 0-3 (default: 0)")
    group.add_argument("--acc-stages", type=int, default=1, metavar="K",
                       help=f"register stages of the accumulate loop, 1-{MAX_ACC_STAGES}: the MAC then "
                            "interleaves K dot products, beats K cycles apart belonging to the same "
                            "one; same results, K times the clock (default: 1)")


def mac_config_from_args(args, *, acc_fmt=None, chunk_size=None) -> MACConfig:
    """Build a :class:`MACConfig` from :func:`add_mac_options`' options.

    ``acc_fmt``/``chunk_size`` fill in what the user left out (e.g. the model's choice).
    """
    acc = args.acc_format if args.acc_format is not None else acc_fmt
    if acc is None:
        raise UsageError("--acc-format is required here")
    chunk = args.chunk_size if args.chunk_size is not None else (chunk_size or 0)
    return MACConfig(args.a_format, args.b_format, acc, rounding=args.rounding,
                     product_man_bits=args.product_man_bits, chunk_size=chunk,
                     outer_fmt=args.outer_format, out_fmt=args.out_format,
                     mul_stages=args.mul_stages, acc_stages=args.acc_stages)
